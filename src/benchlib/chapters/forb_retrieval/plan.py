"""`benchlib plan` for the FORB chapter: the FORB tree (read with the chapter's loader), the backbone
weight files, and the time of describing every image with every method and of the self-supervised
training, from a few timed calls."""
from __future__ import annotations

import numpy as np

from benchlib.plan import ChapterPlan, Estimate, RowStatus, check_data, check_weight, cpu_seconds

from . import SPEC
from . import data as D
from . import models as M
from .pipeline import Config

LAYOUT = """<data_root>/metadata/<type>_query.ndjson, <type>_database.ndjson, <type>_gt.ndjson
<data_root>/metadata/all_database_images.txt, oods_database_images.txt
<data_root>/<type>/{query,database}/<uuid>.jpg      (pxiangwu/FORB's release; also under FORB/ or forb/)"""


def _validate(root):
    forb = D.load_forb(root)
    return ({"database images": len(forb.database), "distractors": int(forb.database["distractor"].sum()),
             "queries": len(forb.queries), "object types": forb.database["object_type"].nunique()},
            ["metadata, ground truth and image paths validated with the chapter's loader"])


def check(ctx) -> ChapterPlan:
    c = ctx.config(Config)
    data = check_data("data_root", ctx.data_root, name="FORB", layout=LAYOUT, find=D.find_forb_root,
                      validate=_validate)
    weights = [check_weight("cnn_weights", c.cnn_weights, lambda p: M.build_backbone(c.cnn_arch, p) and
                            f"loads into {c.cnn_arch}", f"{c.cnn_arch} global embedding (not set: random init)"),
               check_weight("vit_weights", c.vit_weights,
                            lambda p: M.build_backbone(c.vit_arch, p, c.global_size) and f"loads into {c.vit_arch}",
                            f"{c.vit_arch} global embedding (not set: random init)")]
    rows = [RowStatus("BoW", True), RowStatus("BoW (+ rerank)", True),
            RowStatus(f"{c.cnn_arch} global", True), RowStatus(f"{c.vit_arch} global", True),
            RowStatus("EfficientNet-Lite0 (ImageNet)", bool(c.pretrained), "pretrained = false"),
            RowStatus("SimCLR (self-supervised)", c.ssl_steps > 0, "ssl_steps = 0")]
    rows += [RowStatus(f"user embedder {k}", True) for k in c.user_embedders]
    return ChapterPlan(SPEC.id, data=[data], weights=weights, rows=rows)


def estimate(ctx, plan: ChapterPlan) -> Estimate:
    c = ctx.config(Config)
    counts = plan.data[0].counts if plan.data[0].status == "found" else {}
    n_types = counts.get("object types", len(D.OBJECT_TYPES))
    n_db = counts.get("database images", n_types * (c.n_index + c.n_distractors))
    n_q = counts.get("queries", n_types * c.n_queries)
    g = c.global_size
    # the network SimCLR trains: the scratch CNN, or EfficientNet-Lite0's last stage (ssl_init)
    ssl_net = (lambda s: M.imagenet_embed_net()) if c.ssl_init == "imagenet" else (lambda s: M.small_embed_net())
    cal = ctx.calibrate_many({
        "cnn": (lambda s: M.build_backbone(c.cnn_arch), {"fwd": ((32, 3, g, g), False)}, 32, False),
        "vit": (lambda s: M.build_backbone(c.vit_arch, image_size=s[-1]), {"fwd": ((32, 3, g, g), False)}, 16, False),
        "ssl": (ssl_net, {"step": ((2 * c.ssl_batch, 3, c.ssl_size, c.ssl_size), True)}, 16, True)})
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (c.image_size, c.image_size, 3), np.uint8) for _ in range(2)]
    sift = cpu_seconds(lambda: M.rootsift(imgs, c.max_features)) / 2
    n = n_db + n_q
    parts = {"RootSIFT": n * sift,
             "global embeddings": n * len(c.scales) / 32 * (cal["cnn"]["fwd"].seconds + cal["vit"]["fwd"].seconds)}
    if c.ssl_steps > 0:
        parts["SimCLR training"] = c.n_seeds * c.ssl_steps * cal["ssl"]["step"].seconds
    basis = [f"{n_db} database images and {n_q} queries ({'found' if counts else 'the twin'}), "
             f"{len(c.scales)} scale(s) at {g} px; RootSIFT timed on random {c.image_size}-px images",
             "not counted: the BoW vocabulary, reranking, EfficientNet-Lite0, reading the images, scoring"]
    basis += [f"{net} {k}: {v.seconds:.3g} s ({v.describe()})" for net, d in cal.items() for k, v in d.items()]
    basis.append(f"on {ctx.device} with {ctx.threads} thread(s)")
    return Estimate(sum(parts.values()), parts, basis)
