"""Evaluation of a trained network on whole test scenes: tiled, stitched inference (overlaps
averaged), per-block TP / FP / FN / TN counts, and the pooled F1 / accuracy measured from them."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from benchlib import BenchlibError
from benchlib.claims import Measurement, Stat
from benchlib.torchutil import autocast, synchronize

from .data import Normaliser, Scene


# =========================================================================== tiles
def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering [0, length) with windows of `tile` (the last one shifted back to end
    at the border); one window of the whole length when it is shorter than a tile."""
    if tile < 1 or stride < 1:
        raise BenchlibError(f"tile and stride must be positive, got {tile}, {stride}")
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def tile_windows(height: int, width: int, tile: int, stride: int) -> list[tuple[int, int, int, int]]:
    """(y, x, h, w) windows covering the whole image; all of the same size."""
    h, w = min(tile, height), min(tile, width)
    return [(y, x, h, w) for y in tile_starts(height, tile, stride) for x in tile_starts(width, tile, stride)]


# =========================================================================== stitched inference
def predict_scene(fn, image: torch.Tensor, tile: int, stride: int, multiple: int = 1, batch: int = 4) -> torch.Tensor:
    """Run `fn` (B × C × h × w → B × K × h × w) over `tile`-sized windows of a C × H × W image and
    stitch the outputs; where windows overlap the outputs are averaged. Windows are padded (edge
    replication) to a multiple of `multiple` and the padding cropped off again. Accumulation is in
    float64, so averaging k identical values gives that value back exactly. Returns K × H × W float32."""
    C, H, W = image.shape
    wins = tile_windows(H, W, tile, stride)
    wh, ww = wins[0][2], wins[0][3]
    ph, pw = (-wh) % multiple, (-ww) % multiple
    acc = None
    cnt = torch.zeros(H, W, dtype=torch.float64)
    for i in range(0, len(wins), batch):
        group = wins[i:i + batch]
        x = torch.stack([image[:, y:y + h, x_:x_ + w] for y, x_, h, w in group])
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        out = fn(x)[:, :, :wh, :ww].double().cpu()
        if acc is None:
            acc = torch.zeros(out.shape[1], H, W, dtype=torch.float64)
        for (y, x_, h, w), o in zip(group, out):
            acc[:, y:y + h, x_:x_ + w] += o
            cnt[y:y + h, x_:x_ + w] += 1
    return (acc / cnt).float()


def model_fn(model, device):
    """Softmax probabilities of a trained model, under the chapter's autocast."""
    def fn(x):
        with torch.no_grad(), autocast(device):
            return model(x.to(device)).float().softmax(1)
    return fn


def predict_area(model, scene: Scene, norm: Normaliser, tile: int, stride: int, device, batch: int = 4):
    """(building probability H × W float32, seconds for the whole scene: normalisation, tiling,
    network and stitching; CUDA synchronised)."""
    synchronize(device)
    t0 = time.perf_counter()
    img = torch.from_numpy(norm(scene.image)).permute(2, 0, 1)
    prob = predict_scene(model_fn(model, device), img, tile, stride, getattr(model, "multiple", 1), batch)[1]
    synchronize(device)
    return prob.numpy(), time.perf_counter() - t0


# =========================================================================== scores
def block_counts(pred: np.ndarray, mask: np.ndarray, block: int, valid: np.ndarray | None = None) -> np.ndarray:
    """TP, FP, FN, TN per block × block cell (the units of the claims' intervals); pixels outside `valid`
    are not counted. Returns n_blocks × 4 int64."""
    p, t = pred.astype(bool), mask.astype(bool)
    v = np.ones_like(p) if valid is None else valid.astype(bool)
    H, W = p.shape
    rows = []
    for y in range(0, H, block):
        for x in range(0, W, block):
            sl = (slice(y, y + block), slice(x, x + block))
            pp, tt, vv = p[sl], t[sl], v[sl]
            rows.append([np.sum(pp & tt & vv), np.sum(pp & ~tt & vv), np.sum(~pp & tt & vv), np.sum(~pp & ~tt & vv)])
    return np.asarray(rows, np.int64)


# =========================================================================== evaluation of a model
@dataclass
class Evaluation:
    """One model (one seed) on the test areas: probabilities, seconds per scene, block counts."""
    probs: dict[str, np.ndarray]
    seconds: dict[str, float]
    counts: dict[str, np.ndarray] = field(default_factory=dict)


def evaluate(model, scenes: list[Scene], norm: Normaliser, tile: int, stride: int, device, block: int,
             valid: dict[str, np.ndarray] | None = None, threshold: float = 0.5) -> Evaluation:
    ev = Evaluation({}, {})
    for s in scenes:
        ev.probs[s.name], ev.seconds[s.name] = predict_area(model, s, norm, tile, stride, device)
    return rescore(ev, scenes, block, valid, threshold)


def rescore(ev: Evaluation, scenes: list[Scene], block: int, valid: dict[str, np.ndarray] | None = None,
            threshold: float = 0.5) -> Evaluation:
    """The block counts of `ev`'s probabilities, counting only the pixels in `valid` (per area;
    None: all): the same model scored on other pixels without predicting the scenes again."""
    counts = {s.name: block_counts(ev.probs[s.name] > threshold, s.mask, block,
                                   None if valid is None else valid[s.name]) for s in scenes}
    return Evaluation(ev.probs, ev.seconds, counts)


# =========================================================================== scores and their measurements
METRICS = ("F1", "accuracy")


def area_units(counts_by_area: dict[str, np.ndarray], areas) -> np.ndarray:
    """Blocks of several areas as the units of an interval: one row per block, columns (TP, FP, FN, TN) of
    area 1, then of area 2, …; a block fills only its own area's four columns, so column sums (or
    means) keep the areas apart and every area's score is pooled over its own blocks."""
    blocks = [np.asarray(counts_by_area[a], np.float64) for a in areas]
    out = np.zeros((sum(len(b) for b in blocks), 4 * len(blocks)))
    row = 0
    for i, b in enumerate(blocks):
        out[row:row + len(b), 4 * i:4 * i + 4] = b
        row += len(b)
    return out


def mean_score(totals: np.ndarray, metric: str):
    """Mean over areas of the pooled F1 or accuracy (percent) from per-area (TP, FP, FN, TN) totals
    laid out as `area_units` columns. Sums and means give the same value (both are ratios).
    A (..., 4 × areas) array gives one score per row (many count sets at once)."""
    t = np.asarray(totals, np.float64)
    tp, fp, fn, tn = np.moveaxis(t.reshape(*t.shape[:-1], -1, 4), -1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "F1":   # 2PR / (P + R) = 2TP / (2TP + FP + FN); 0 without true positives
            vals = np.where(tp > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        elif metric == "accuracy":
            total = tp + fp + fn + tn
            vals = np.where(total > 0, (tp + tn) / np.where(total > 0, total, 1), 0.0)
        else:
            raise BenchlibError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    out = 100 * vals.mean(-1)
    return float(out) if out.ndim == 0 else out


def pooled_score(evals: list[Evaluation], areas, metric: str) -> float:
    """A model's score with the block counts of all its seeds pooled (the point estimate whose
    interval `score_measurement` gives)."""
    return mean_score(sum(area_units(e.counts, areas).sum(0) for e in evals), metric)


def scores_stat(v, k: int, metric: str, w) -> float:
    """The claims' statistic on block counts: `v` holds the column means of several results' counts
    side by side (k = 4 × areas columns each); each result's mean-over-areas score is computed from
    its own k columns, and the effect is the smallest row of W · scores (`w`: a list of rows, e.g.
    [[1, -1]] for a difference, [[-1, 1, 0], [-1, 0, 1]] for the smaller of two gains). A module-level
    function with JSON parameters, so `benchlib.claims.recompute` can re-import it by name."""
    v = np.asarray(v, np.float64)
    scores = np.stack([np.asarray(mean_score(v[..., i:i + k], metric)) for i in range(0, v.shape[-1], k)], -1)
    out = (scores @ np.atleast_2d(np.asarray(w, np.float64)).T).min(-1)
    return float(out) if out.ndim == 0 else out


def counts_measurement(count_sets_per_seed, areas, w=((1.0,),), metric: str = "F1", detail: str = "",
                       bounds=(0.0, 100.0)) -> Measurement:
    """Measurement of min over rows of W · [score of result 1, score of result 2, …] where each seed
    holds several results measured on the same blocks (`count_sets_per_seed`: per seed, a list of
    {area: block counts}). Every seed scores the same blocks of the same test areas: a crossed design
    (`shared_units`). `bounds`: the range of the effect ((0, 100) for one score in percent, (−100, 100)
    for a difference of two)."""
    per_seed = [np.hstack([area_units(c, areas) for c in sets]) for sets in count_sets_per_seed]
    w = [[float(x) for x in row] for row in np.atleast_2d(np.asarray(w, np.float64))]
    stat = Stat(scores_stat, k=4 * len(list(areas)), metric=metric, w=w)
    return Measurement(per_seed, stat, detail=detail, batched=True, shared_units=True, bounds=tuple(bounds),
                       units="test blocks")


def pooled_value(m: Measurement) -> float:
    """The measured effect on block counts summed over seeds and blocks. Equal to `m.effect()` (the
    scores are ratios of counts, and every seed has the same blocks) but exact in floating point:
    integer counts sum exactly."""
    return float(m.stat(np.sum([a.sum(0) for a in m.per_seed], axis=0)))


def seed_scores(evals: list[Evaluation], areas, metric: str = "F1") -> list[float]:
    """A model's mean-over-areas score of each seed on its own (the per-seed rows of the tables)."""
    return [mean_score(area_units(e.counts, areas).sum(0), metric) for e in evals]


def score_measurement(evals: list[Evaluation], areas, metric: str) -> Measurement:
    """One model's mean-over-areas score, per seed and block (its Table II / III interval, in [0, 100])."""
    return counts_measurement([[e.counts] for e in evals], areas, [[1.0]], metric, bounds=(0.0, 100.0))
