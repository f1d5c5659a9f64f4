"""Evaluation of the ORANDNet chapter: CAM → pseudo-mask, pooled confusion matrices and their
scores (21-class paper convention or the released code's 20×20), threshold sweeps, bootstrap."""
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


def bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """n_boot × n resampling counts (each row: how often each image is drawn)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def boot_metric(cms: np.ndarray, weights: np.ndarray, n_eval_classes: int, key: str) -> np.ndarray:
    """`key` of the pooled matrix for every bootstrap draw; cms: seeds × images × 21 × 21, the
    statistic is the mean over seeds of each seed's pooled score (images resampled jointly).
    Pooled matrices are scored through their counts, all draws at once (a loop over draws made
    the chapter's report step take 15 s)."""
    vals = [scores_from_counts(weights @ count_columns(c, n_eval_classes), n_eval_classes)[key] for c in cms]
    return np.mean(vals, axis=0)


KEYS = {"mIoU": "miou", "precision": "mprecision", "recall": "mrecall"}


def count_columns(cms: np.ndarray, n_eval_classes: int) -> np.ndarray:
    """Per image, the counts every pooled score is built from: N×21×21 matrices → N×3C array
    [true positives, ground-truth pixels, predicted pixels] of the C evaluated classes. Summing
    (or averaging) rows and then `scores_from_counts` equals scoring the pooled matrix, so the
    claims engine can resample images and recompute pooled mIoU / precision / recall."""
    c = np.asarray(cms, np.float64)[:, :n_eval_classes, :n_eval_classes]
    return np.concatenate([np.einsum("nii->ni", c), c.sum(2), c.sum(1)], axis=1)


def scores_from_counts(v: np.ndarray, n_eval_classes: int) -> dict:
    """mIoU / precision / recall (fractions) from summed `count_columns` (same NaN rule as
    `segmentation_scores`: a class with a zero denominator is left out of the mean). `v` is one
    3C vector (→ floats) or a stack of them (… × 3C → arrays over the leading axes)."""
    n = n_eval_classes
    v = np.asarray(v, np.float64)
    tp, row, col = v[..., :n], v[..., n:2 * n], v[..., 2 * n:3 * n]
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(row + col - tp > 0, tp / (row + col - tp), np.nan)
        prec = np.where(col > 0, tp / col, np.nan)
        rec = np.where(row > 0, tp / row, np.nan)

    def mean(a):
        ok = np.isfinite(a)
        m = np.where(ok, a, 0).sum(-1) / np.maximum(ok.sum(-1), 1)
        m = np.where(ok.any(-1), m, np.nan)
        return float(m) if m.ndim == 0 else m

    return {"miou": mean(iou), "mprecision": mean(prec), "mrecall": mean(rec)}


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
