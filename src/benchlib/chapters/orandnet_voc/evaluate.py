"""Evaluation of the ORANDNet chapter: CAM → pseudo-mask, pooled confusion matrices and their
scores (21-class paper convention or the released code's 20×20), threshold sweeps, and the named
statistics the claims engine recomputes them with."""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchlib.metrics.segmentation import confusion_matrix, segmentation_scores

from . import models as M

THRESHOLDS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8)


def pseudo_masks(cams, classes, threshold: float) -> np.ndarray:
    return np.stack([M.cams_to_mask(c, cl, threshold) for c, cl in zip(cams, classes)])


def eval_scores(cm: np.ndarray, n_eval_classes: int) -> dict:
    """Scores of a 21-class matrix; n_eval_classes = 20 models the released code's 20×20 matrix
    (tvmonitor, class 20, removed from both axes — the metrics appendix's convention)."""
    return segmentation_scores(cm[:n_eval_classes, :n_eval_classes])


def per_image_cms(preds: np.ndarray, gts: np.ndarray) -> np.ndarray:
    return np.stack([confusion_matrix(p, g, 21) for p, g in zip(preds, gts)])


def sweep(cams, classes, gts, n_eval_classes: int, thresholds=THRESHOLDS) -> pd.DataFrame:
    """Pooled mIoU / precision / recall of the pseudo-masks at each background threshold."""
    rows = []
    for t in thresholds:
        s = eval_scores(confusion_matrix(pseudo_masks(cams, classes, t), gts, 21), n_eval_classes)
        rows.append({"threshold": t, "mIoU": s["miou"], "precision": s["mprecision"], "recall": s["mrecall"]})
    return pd.DataFrame(rows)


KEYS = {"mIoU": "miou", "precision": "mprecision", "recall": "mrecall"}


def count_columns(cms: np.ndarray, n_eval_classes: int) -> np.ndarray:
    """Per image, the counts every pooled score is built from: N×21×21 matrices → N×3C array
    [true positives, ground-truth pixels, predicted pixels] of the C evaluated classes. Summing
    (or averaging) rows and then `scores_from_counts` equals scoring the pooled matrix, so the
    claims engine can resample images and recompute pooled mIoU / precision / recall."""
    c = np.asarray(cms, np.float64)[:, :n_eval_classes, :n_eval_classes]
    return np.concatenate([np.einsum("nii->ni", c), c.sum(2), c.sum(1)], axis=1)


def scores_from_counts(v: np.ndarray, n_eval_classes: int, keep: dict | None = None) -> dict:
    """mIoU / precision / recall (fractions) from summed `count_columns` (same NaN rule as
    `segmentation_scores`: a class with a zero denominator is left out of the mean). `v` is one
    3C vector (→ floats) or a stack of them (… × 3C → arrays over the leading axes). `keep`
    ({"miou" | "mprecision" | "mrecall": class indices}, from `present_classes`) fixes the classes
    averaged instead: then every score is a smooth function of the counts (the claims engine
    differentiates it; a class whose count is exactly 0 would otherwise enter the mean under the
    smallest nudge)."""
    n = n_eval_classes
    v = np.asarray(v, np.float64)
    tp, row, col = v[..., :n], v[..., n:2 * n], v[..., 2 * n:3 * n]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = {"miou": np.where(row + col - tp > 0, tp / (row + col - tp), np.nan),
                  "mprecision": np.where(col > 0, tp / col, np.nan),
                  "mrecall": np.where(row > 0, tp / row, np.nan)}

    def mean(key):
        a = ratios[key]
        if keep is not None:
            idx = np.asarray(keep[key], int)
            m = a[..., idx].mean(-1) if idx.size else np.full(a.shape[:-1], np.nan)
        else:
            ok = np.isfinite(a)
            m = np.where(ok, a, 0).sum(-1) / np.maximum(ok.sum(-1), 1)
            m = np.where(ok.any(-1), m, np.nan)
        return float(m) if np.ndim(m) == 0 else m

    return {k: mean(k) for k in ratios}


def present_classes(v: np.ndarray, n_eval_classes: int, n_blocks: int = 1) -> list[dict]:
    """Per block of `n_blocks` concatenated `count_columns` sums, the classes each pooled score
    averages over (non-zero denominator, as `segmentation_scores`), as JSON lists for `keep`."""
    n, out = n_eval_classes, []
    v = np.asarray(v, np.float64)
    for b in range(n_blocks):
        tp, row, col = (v[3 * n * b + i * n:3 * n * b + (i + 1) * n] for i in range(3))
        out.append({"miou": np.flatnonzero(row + col - tp > 0).tolist(),
                    "mprecision": np.flatnonzero(col > 0).tolist(), "mrecall": np.flatnonzero(row > 0).tolist()})
    return out


def block_scores(v: np.ndarray, n_eval_classes: int, keep: list) -> list[dict]:
    """The pooled scores of each block of concatenated count columns (one block per method)."""
    k = 3 * n_eval_classes
    return [scores_from_counts(v[..., i * k:(i + 1) * k], n_eval_classes, kp) for i, kp in enumerate(keep)]


# Named statistics for the claims engine (`benchlib.claims.Stat`): module-level, JSON parameters, so a
# claim's effect can be recomputed from its saved evidence. `v` = column means of per-image count
# columns, one block per method (`count_columns`), `keep` = `present_classes` of those means.
def score_stat(v, n_eval, key, keep):
    """100 × one pooled score (`key`) of the single block."""
    return 100 * block_scores(v, n_eval, keep)[0][key]


def gain_stat(v, n_eval, keys, keep):
    """100 × the smallest gain of block 0 over every other block, in every score of `keys` (> 0: block 0
    beats each other block in each of those scores)."""
    s = block_scores(v, n_eval, keep)
    return 100 * min(s[0][k] - o[k] for o in s[1:] for k in keys)


def pearson(x, y) -> float:
    """Pearson correlation (NaN when either side is constant)."""
    x, y = np.asarray(x, float) - np.mean(x), np.asarray(y, float) - np.mean(y)
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else float("nan")


def correlation_gap_stat(v, n_eval, n_sources, keep):
    """corr(final mIoU, pseudo-mask precision) − corr(final mIoU, pseudo-mask mIoU) over the sources:
    the first `n_sources` blocks are the pseudo-masks' counts, the next `n_sources` the second stages'.
    Pearson, not Spearman: a rank correlation is flat in the counts, so the engine's delta-method
    interval of it would have zero width."""
    s = block_scores(v, n_eval, keep)
    pm, final = s[:n_sources], [b["miou"] for b in s[n_sources:]]
    return pearson(final, [b["mprecision"] for b in pm]) - pearson(final, [b["miou"] for b in pm])


def spearman(x, y) -> float:
    """Spearman rank correlation (NaN when either side is constant)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def overlaps(pm1: np.ndarray, pm2: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """Where two pseudo-mask sets agree on their errors and on their hits, per image: N×4 counts
    |F1∩F2|, |F1∪F2|, |T1∩T2|, |T1∪T2|, with F_k the pixels source k gives an object class the
    ground truth does not have there (false activations) and T_k those it gives the right class
    (void skipped). Summed over images: Jaccard of false vs of true activations — the paper's
    premise is two classifiers whose false activations overlap less than their true ones."""
    valid = gts != 255
    f1, f2 = (pm1 > 0) & (pm1 != gts) & valid, (pm2 > 0) & (pm2 != gts) & valid
    t1, t2 = (pm1 > 0) & (pm1 == gts), (pm2 > 0) & (pm2 == gts)
    flat = lambda a: a.reshape(len(a), -1).sum(1)  # noqa: E731
    return np.stack([flat(f1 & f2), flat(f1 | f2), flat(t1 & t2), flat(t1 | t2)], axis=1).astype(np.float64)
