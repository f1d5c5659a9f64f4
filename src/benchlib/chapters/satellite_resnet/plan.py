"""`benchlib plan` for the satellite chapter: the GeoTIFF folder (checked with the chapter's loader),
the rows each model list gives, and the time of training / evaluating / refining every network for
every seed, from a few timed steps of the real networks."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from benchlib.plan import ChapterPlan, Estimate, RowStatus, check_data

from . import SPEC, data as D
from .evaluate import tile_windows
from .models import DISPLAY_NAMES, MODEL_NAMES, build_model
from .pipeline import Config
from .train import SampleConfig, split_train_val

LAYOUT = """<data_root>/train/images/<area>.tif   multi-band GeoTIFF (e.g. Inria Aerial: RGB; the paper: B, G, R, NIR)
<data_root>/train/gt/<area>.tif       one band, same size: 0 = ground, 1 or 255 = building
<data_root>/test/images/<area>.tif    test areas (evaluated whole, never trained on)
<data_root>/test/gt/<area>.tif
(Inria's own test masks are not public: move a few training cities to test/.)"""
# Above this many bytes of GeoTIFFs the plan reads every file's tags (sizes, bands) and decodes one
# image / mask pair per split instead of every pixel (a full Inria tree is ~ 20 GB).
FULL_LOAD_BYTES = 300 * 2**20


def _shapes_from_tags(root: Path) -> dict:
    """{split: [(name, H, W, bands)]} after the loader's pairing checks, from the TIFF tags, plus one
    pair per split decoded and validated by the loader."""
    import tifffile

    out = {}
    for split in ("train", "test"):
        pairs = D._pairs(root / split)   # the loader's own pairing: duplicates, orphans, missing masks
        rows = []
        for img, _msk in pairs:
            with tifffile.TiffFile(img) as tif:
                axes, shape = tif.series[0].axes.replace("C", "S"), tif.series[0].shape
            h, w = shape[axes.index("Y")], shape[axes.index("X")]
            rows.append((img.stem, h, w, shape[axes.index("S")] if "S" in axes else 1))
        D.load_scene(*pairs[0])
        out[split] = rows
    return out


def _validate(root: Path, shapes_out: dict):
    size = sum(p.stat().st_size for p in root.glob("*/*/*") if p.suffix.lower() in (".tif", ".tiff"))
    if size <= FULL_LOAD_BYTES:
        ds = D.load_dataset(root)
        shapes = {k: [(s.name, *s.mask.shape, s.bands) for s in v] for k, v in ds.items()}
        how = "validated with the chapter's loader (every pixel read)"
    else:
        shapes = _shapes_from_tags(root)
        how = (f"{size / 2**30:.1f} GiB: pairing and tags of every file checked, one image / mask pair per "
               "split decoded with the chapter's loader")
    bands = {b for rows in shapes.values() for *_, b in rows}
    counts = {"train scenes": len(shapes["train"]), "test scenes": len(shapes["test"]),
              "bands": "/".join(map(str, sorted(bands))),
              "train megapixels": round(sum(h * w for _, h, w, _ in shapes["train"]) / 1e6, 1),
              "test megapixels": round(sum(h * w for _, h, w, _ in shapes["test"]) / 1e6, 1)}
    shapes_out.update(shapes)
    return counts, [how]


def _rows(c: Config) -> list[RowStatus]:
    rows = [RowStatus("Table I (counted from the full-width modules)", True)]
    for n in MODEL_NAMES:
        label = DISPLAY_NAMES[n]
        rows.append(RowStatus(f"Table II {label}", n in c.models, "" if n in c.models else "not in `models`"))
    for n in c.refine_models:
        label = DISPLAY_NAMES.get(n, n)
        ok = n in c.models
        rows.append(RowStatus(f"Table III {label}", ok, "" if ok else f"{label} is not among the trained models"))
    return rows


def check(ctx) -> ChapterPlan:
    c = ctx.config(Config)
    shapes = {}
    data = check_data("data_root", ctx.data_root, name="GeoTIFF image / mask folder", layout=LAYOUT,
                      find=lambda base: base if D.is_dataset(base) else None,
                      validate=lambda root: _validate(root, shapes))
    notes = [] if c.checkpoint_every else \
        ["checkpoint_every = 0: an interrupted training starts over (the paper profile saves every epoch)"]
    return ChapterPlan(SPEC.id, data=[data], rows=_rows(c), notes=notes, scratch={"shapes": shapes})


def estimate(ctx, plan: ChapterPlan) -> Estimate:
    c = ctx.config(Config)
    shapes = plan.scratch.get("shapes")
    if plan.data[0].status == "found" and shapes:
        where = "the scenes found"
    else:
        sizes = D.twin_sizes(c.scene_scale, c.train_size)
        shapes = {"train": [(a, *sizes[a], 4) for a in D.TRAIN_AREAS],
                  "test": [(a, *sizes[a], 4) for a in D.TEST_AREAS]}
        where = f"the twin's scenes (scene_scale {c.scene_scale:g}, train_size {c.train_size})"
    est = _estimate(ctx, c, shapes)
    est.basis.insert(0, f"schedule counted on {where}")
    return est


def _estimate(ctx, c: Config, shapes: dict) -> Estimate:
    bands = shapes["train"][0][3]
    scfg = SampleConfig(tile=c.tile, stride=c.stride, crop=c.crop)
    n_train = n_val = 0
    for _, h, w, _ in shapes["train"]:
        # split_train_val looks only at the mask's shape: a zero-stride view costs no memory
        t, v = split_train_val(D.Scene("", np.empty((0, 0, 0)), np.broadcast_to(np.uint8(0), (h, w))), scfg)
        n_train, n_val = n_train + len(t), n_val + len(v)
    test_tiles = sum(len(tile_windows(h, w, c.infer_tile, c.infer_stride)) for _, h, w, _ in shapes["test"])
    # fit's bound: the step schedule may add up to max_epochs plateau epochs; one cycle runs max_epochs
    epochs = 2 * c.max_epochs if c.monitor == "f1" and c.schedule == "step" else c.max_epochs
    steps = math.ceil(n_train / c.batch)
    val_batches = math.ceil(n_val / c.batch)
    parts = {"training": 0.0, "evaluation": 0.0, "refinement": 0.0}
    basis = [f"{len(c.models)} network(s) × {c.n_seeds} seed(s) × ≤ {epochs} epochs × {steps} steps of batch "
             f"{c.batch} at {c.crop} px ({n_train} training tiles, {n_val} validation crops); "
             f"{test_tiles} test tiles of {c.infer_tile} px per evaluation"]
    names = list(dict.fromkeys([*c.models, *[n for n in c.refine_models if n in c.models]]))
    jobs = {}
    for name in names:
        with torch.device("meta"):   # no memory: only the input-side multiple is read
            mult = getattr(build_model(name, in_channels=bands, width=c.width), "multiple", 1)
        side = c.infer_tile + (-c.infer_tile) % mult
        shapes_ = {"train": ((c.batch, bands, c.crop, c.crop), True),
                   "val": ((c.batch, bands, c.crop, c.crop), False),
                   "infer": ((4, bands, side, side), False)}
        if name in c.refine_models:
            shapes_["refine"] = ((c.batch, bands, c.refine_crop, c.refine_crop), True)
        jobs[name] = (lambda shape, n=name: build_model(n, in_channels=bands, width=c.width), shapes_, mult, True)
    cals = ctx.calibrate_many(jobs)   # the networks share the chapter's time budget
    for name in names:
        cal = cals[name]
        evaluation = math.ceil(test_tiles / 4) * cal["infer"].seconds
        if name in c.models:
            parts["training"] += c.n_seeds * epochs * (steps * cal["train"].seconds + val_batches * cal["val"].seconds)
            parts["evaluation"] += c.n_seeds * evaluation
        if name in c.refine_models:
            # both sizes × every test area (the small part's steps in proportion to its area, as in
            # refine_and_evaluate), each refined model then evaluated on its area (the unrefined
            # base re-scores Table II's predictions)
            small, large = sorted((c.refine_small, c.refine_large))
            steps_both = c.refine_steps + max(1, round(c.refine_steps * small / large))
            parts["refinement"] += c.n_seeds * (len(shapes["test"]) * steps_both * cal["refine"].seconds
                                                + 2 * evaluation)
        basis.append(f"{DISPLAY_NAMES[name]}: training step {cal['train'].seconds:.3g} s "
                     f"({cal['train'].describe()}); forward of 4 test tiles {cal['infer'].seconds:.3g} s")
    basis.append(f"on {ctx.device} with {ctx.threads} thread(s); data loading and intervals not counted")
    return Estimate(sum(parts.values()), parts, basis, upper_bound=True)
