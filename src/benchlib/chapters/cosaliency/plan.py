"""`benchlib plan` for the co-saliency chapter: the two saliency folders (checked with the chapter's
loader), the ImageNet VGG-16 file, the Table 1 columns that run, and the time of training them from
a few timed steps of the VGG-16-sized network."""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from benchlib.plan import ChapterPlan, Estimate, RowStatus, check_data, check_weight

from . import SPEC
from . import data as D
from . import models as Mo
from .control import METHODS as CONTROL_METHODS
from .models import ABLATION, VGG16Encoder, load_imagenet_vgg16
from .pipeline import TABLE2_METHODS, Config

LAYOUT = """<folder>/Image/<id>.jpg|png        images (DUTS / ECSSD / HKU-IS style)
<folder>/GT/<id>.png               ground truth, 0/255
<folder>/Instances/<id>.json       optional: {"objects": [{"box": [x0, y0, x1, y1], "class": ..., "cosalient": true}]}
<folder>/Salient/<id>.png          optional: every salient object"""
# Above this many images the plan validates a sample (the first ones, linked into a temporary
# folder) with the chapter's loader instead of decoding every image.
SAMPLE = 40


def _validate(root: Path):
    images = sorted(p for p in (root / D.IMAGE_DIR).iterdir() if p.suffix.lower() in D.IMAGE_EXTS)
    gts = list((root / D.GT_DIR).glob("*.png"))
    if len(images) <= SAMPLE:
        D.load_saliency_folder(root)
        how = "every image read with the chapter's loader"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            stems = {p.stem for p in images[:SAMPLE]}
            for sub in (D.IMAGE_DIR, D.GT_DIR, D.INSTANCE_DIR, D.SALIENT_DIR):
                if (root / sub).is_dir():
                    (Path(tmp) / sub).mkdir()
                    for p in (root / sub).iterdir():
                        if p.stem in stems:
                            os.symlink(p, Path(tmp) / sub / p.name)
            D.load_saliency_folder(tmp)
        how = f"the first {SAMPLE} images read with the chapter's loader (the run reads them all)"
    return {"images": len(images), "ground truths": len(gts),
            "instance files": "yes" if (root / D.INSTANCE_DIR).is_dir() else "no"}, [how]


def check(ctx) -> ChapterPlan:
    c = ctx.config(Config)
    find = lambda base: base if D.is_saliency_folder(base) else None  # noqa: E731
    data = [check_data("data_root", ctx.data_root, name="co-saliency folder (the paper's dataset)", layout=LAYOUT,
                       find=find, validate=_validate)]
    sdcs = c.sdcs_root or ""
    data.append(check_data("sdcs_root", sdcs or ctx.data_root, name="SDCS-like folder", layout=LAYOUT,
                           find=(find if sdcs else lambda base: None), validate=_validate))
    if not sdcs:
        data[-1].notes.append("sdcs_root is empty: the chapter reads SDCS only from sdcs_root")
    weights = [check_weight("vgg_weights", c.vgg_weights,
                            lambda p: load_imagenet_vgg16(VGG16Encoder(1), p) or "loads into VGG-16",
                            "the paper's ImageNet VGG-16 encoder (not set: EfficientNet-Lite0, a stated departure)")]
    rows = [RowStatus(f"Table 1 {v.name}", v.name in c.ablation or v.name in TABLE2_METHODS.values(),
                      "not in `ablation`") for v in ABLATION]
    rows += [RowStatus(f"Table 2 {k} (both datasets)", True) for k in TABLE2_METHODS]
    rows.append(RowStatus("speed of the full-width network", c.full_width_fps != "none", "full_width_fps = 'none'"))
    return ChapterPlan(SPEC.id, data=data, weights=weights, rows=rows)


def estimate(ctx, plan: ChapterPlan) -> Estimate:
    c = ctx.config(Config)
    n = {d.parameter: d.counts.get("images") for d in plan.data if d.status == "found"}
    n_cosal = n.get("data_root") or c.n_images
    n_sdcs = n.get("sdcs_root") or c.n_sdcs
    train = lambda k: len(D.split_indices(k, c.test_fraction, c.seed)[0])  # noqa: E731 - the run's split
    s, b = c.train_size, c.batch_size
    encoder = (lambda shape: VGG16Encoder(1)) if c.vgg_weights else (lambda shape: Mo.LiteEncoder())
    cal = ctx.calibrate(encoder, {"step": ((b, 3, s, s), True), "forward": ((1, 3, s, s), False)}, multiple=16,
                        convnet=True)
    variants = sum(r.runs for r in plan.rows if r.row.startswith("Table 1"))
    steps = lambda k: c.epochs * math.ceil(train(k) / b)  # noqa: E731
    parts = {"training": c.n_seeds * (variants * steps(n_cosal) + len(TABLE2_METHODS) * steps(n_sdcs))
             * cal["step"].seconds,
             "prediction": c.n_seeds * (variants * (n_cosal - train(n_cosal)) + len(TABLE2_METHODS)
                                        * (n_sdcs - train(n_sdcs))) * cal["forward"].seconds,
             # the RFM control: its images (single and paired) under each control model and seed; the training
             # of the repair (every seed, like a Table 1 column) and of the optional longer-trained online model
             "RFM control": (c.n_seeds * len(CONTROL_METHODS) * 2 * c.control_images * cal["forward"].seconds
                             + ((c.n_seeds * steps(n_cosal) + c.control_epochs * math.ceil(train(n_cosal) / b))
                                * cal["step"].seconds if c.control_images else 0))}
    name = "VGG-16" if c.vgg_weights else "EfficientNet-Lite0"
    basis = [f"{c.n_seeds} seed(s); {variants} Table 1 column(s) on {n_cosal} images, {len(TABLE2_METHODS)} methods on "
             f"{n_sdcs} SDCS images; {1 - c.test_fraction:.0%} trained for {c.epochs} epoch(s) at {s} px, batch {b}",
             f"one training step taken as a forward + backward of the frozen {name} encoder (the heads are "
             "smaller, and the chapter caches the frozen encoder's features where it can: this errs long)",
             f"step {cal['step'].seconds:.3g} s ({cal['step'].describe()}); forward {cal['forward'].seconds:.3g} s "
             f"({cal['forward'].describe()})", f"on {ctx.device} with {ctx.threads} thread(s)"]
    return Estimate(sum(parts.values()), parts, basis, upper_bound=True)
