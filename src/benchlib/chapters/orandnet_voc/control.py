"""Mechanism control: synthetic CAM pairs made from the true masks with known error processes, run
through Eq. 1, ORANDNet and the naive ensemble, to show what the method needs and that the pipeline
detects its effect when the effect is there.

Both synthetic "classifiers" see every labelled object with the same kind of smooth, uneven
activation (matched quality), and each adds one false activation: a blob, as large as a fraction of
the object, away from it, whose strength overlaps the object's own (so no single threshold
separates them) but is weaker on average, as false activations are. The two regimes differ only in where the blobs are:

- complementary: the two blobs are in different places (the paper's premise: "two distinct
  classifiers having clearly different characteristics"); AND keeps the object, drops both blobs;
- correlated: both maps put their blob in the same place (the premise broken); AND keeps it.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from . import data, models as M, train as T
from .runs import AND_, NAIVE, OR_, ORAND, RESNET, VIT, Run, SeedRun, score_cams, trivial_floors

REGIMES = ("complementary", "correlated")
# In the control the two inputs stand where the trained pipeline has its two backbones.
CAM_1, CAM_2 = RESNET, VIT
FALSE_AREA = 0.6   # area of each false blob / area of the object
SMOOTH = 1.5       # Gaussian blur (pixels) of every activation: CAMs are smooth
NOISE = 0.04       # independent per-pixel noise of each map
OBJECT, FALSE = (0.6, 1.0), (0.4, 0.9)  # ranges of activation strength on the object and on a false blob


def _blob_centre(far_from: np.ndarray, r: float, rng, avoid: np.ndarray | None = None):
    """A pixel at least r away from `far_from` (and from `avoid`), else the farthest one."""
    dist = ndimage.distance_transform_edt(~far_from)
    if avoid is not None:
        dist = np.minimum(dist, ndimage.distance_transform_edt(~avoid) / 2)
    ok = np.argwhere(dist > r)
    if len(ok):
        return ok[rng.integers(len(ok))]
    return np.unravel_index(np.argmax(dist), dist.shape)


def _disk(shape, centre, r):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= r * r


def _smooth_field(shape, rng, lo=0.6, hi=1.0):
    """An uneven activation strength in [lo, hi] varying smoothly over the image."""
    f = ndimage.gaussian_filter(rng.random(shape), 3.0)
    f = (f - f.min()) / (np.ptp(f) + 1e-9)
    return lo + (hi - lo) * f


def synthetic_pair(mask: np.ndarray, classes, regime: str, rng) -> tuple[np.ndarray, np.ndarray]:
    """Two k×H×W CAMs (k = labelled classes) of matched quality for one image, with complementary
    or correlated false activations (see the module docstring)."""
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
    maps = ([], [])
    for c in classes:
        obj = mask == c
        r = max(1.5, np.sqrt(FALSE_AREA * max(int(obj.sum()), 1) / np.pi))
        b1 = _disk(mask.shape, _blob_centre(obj, r, rng), r)
        b2 = b1 if regime == "correlated" else _disk(mask.shape, _blob_centre(obj, r, rng, avoid=b1), r)
        for out, blob in zip(maps, (b1, b2)):
            act = np.maximum(obj * _smooth_field(mask.shape, rng, *OBJECT), blob * _smooth_field(mask.shape, rng, *FALSE))
            act = ndimage.gaussian_filter(act.astype(np.float64), SMOOTH) + np.abs(rng.normal(0, NOISE, mask.shape))
            out.append(act)
    return tuple(M._max_normalise(np.asarray(m, np.float32).reshape(len(classes), *mask.shape)) for m in maps)


def control_run(split: data.Split, regime: str, cfg, log=print) -> Run:
    """The control on `split`'s true masks, one synthetic pair and one trained ORANDNet per seed;
    thresholds and scores exactly as in the trained pipeline (`runs.score_cams`)."""
    seeds = []
    for seed in cfg.seeds:
        rng = np.random.default_rng([seed, REGIMES.index(regime)])
        r = SeedRun(seed)
        pairs = [synthetic_pair(m, cl, regime, rng) for m, cl in zip(split.masks, split.classes)]
        c1, c2 = [p[0] for p in pairs], [p[1] for p in pairs]
        r.cams[CAM_1], r.cams[CAM_2] = c1, c2
        r.cams[NAIVE] = [M.naive_ensemble(a, b) for a, b in zip(c1, c2)]
        r.cams[OR_] = [M.prob_or(a, b) for a, b in zip(c1, c2)]
        r.cams[AND_] = [M.prob_and(a, b) for a, b in zip(c1, c2)]
        net = T.train_orandnet(r.cams[OR_], r.cams[AND_], cfg, seed)
        r.cams[ORAND] = T.apply_orandnet(net, r.cams[OR_], cfg.device)
        score_cams(r, split, cfg)
        seeds.append(r)
    log(f"  mechanism control ({regime}): {len(split.ids)} images × {cfg.n_seeds} seeds")
    floors, _ = trivial_floors(split, split)
    # the pairs are drawn per seed: the rows name them, so a rerun on other seeds is not read as equal data
    names = ", ".join(str(s.seed) for s in seeds)
    return Run(cfg, f"synthetic CAM pairs ({regime} errors) on the true masks of {len(split.ids)} train images, "
                    f"seed{'s' if len(seeds) > 1 else ''} {names}",
               split, split, seeds, floors)
