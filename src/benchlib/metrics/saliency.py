"""Salient-object-detection metrics with the conventions of lartpang/PySODMetrics.

Per image (:func:`image_scores`): prediction scaled to [0, 1], ground truth binarised; MAE; precision
and recall for the 256 thresholds ``t = 0..255`` on the prediction quantised to ``floor(255·pred)``
(positive = quantised pred ≥ t); F-measure with β² = 0.3; the adaptive-threshold precision / recall / F
(Achanta et al. 2009, threshold ``min(2·mean(pred), 1)`` on the unquantised prediction).

Over images (:func:`aggregate`): every per-image value and curve is averaged over images; ``max_f``
and ``mean_f`` are the max and the mean over thresholds of the image-averaged F curve (not the F of
the averaged P and R). An image with an empty ground truth has P = R = F = 0 at every threshold and
is still counted. Chapters that bootstrap over images resample the rows of
:meth:`SaliencyMeter.per_image` and call :func:`aggregate` with ``indices``.
"""

import numpy as np

from benchlib import BenchlibError
from benchlib.metrics import as_numpy

__all__ = ["BETA2", "prepare", "f_measure", "image_scores", "aggregate", "SaliencyMeter"]

BETA2 = 0.3  # β² of the F-measure, the saliency literature's weight on precision
NUM_THRESHOLDS = 256

_PER_IMAGE_KEYS = (
    "mae", "precision", "recall", "f",
    "adaptive_threshold", "adaptive_precision", "adaptive_recall", "adaptive_f",
)


def _mixed_encodings(gt) -> bool:
    """True when a mask holds exactly 0, 1 and 255: a 0/1 mask and a 0/255 mask mixed in one (an
    anti-aliased 0/255 mask holds many values between, so it is not mistaken for one)."""
    if not ((gt == 255).any() and (gt == 1).any()):   # cheap first: most masks stop here
        return False
    return set(np.unique(gt).tolist()) == {0, 1, 255}


def prepare(pred, gt, name=None):
    """Return ``(pred, gt)`` as (float64 in [0, 1], bool) arrays of the same H×W shape.

    pred: uint8 is divided by 255; float must lie in [0, 1] (NaN raises); bool becomes 0/1. Then
    per-image min–max to [0, 1] unless the map is constant.
    gt: uint8 is binarised ``> 128``, float ``> 0.5``, bool is kept. A uint8 ground truth holding
    only 0 and 1 raises: ``> 128`` would silently make it empty (pass ``gt.astype(bool)``). So does
    one that mixes the 0/1 and 0/255 encodings (values 0, 1 and 255: its 1-pixels would be read as
    background), and a float one with NaN or ±inf.
    name: the image's name (a file, an id), put at the head of every error.
    """
    where = f"{name}: " if name else ""
    try:
        return _prepare(as_numpy(pred), as_numpy(gt))
    except BenchlibError as e:
        raise BenchlibError(where + str(e)) from None


def _prepare(pred, gt):
    if pred.ndim != 2 or pred.shape != gt.shape:
        raise BenchlibError(f"pred and gt must be H×W arrays of the same shape, got {pred.shape} and {gt.shape}")
    if pred.size == 0:
        raise BenchlibError("saliency prediction is empty")

    if pred.dtype == np.uint8:
        pred = pred / 255.0
    elif pred.dtype == bool:
        pred = pred.astype(np.float64)
    elif pred.dtype.kind == "f":
        pred = pred.astype(np.float64)
        if np.isnan(pred).any():
            raise BenchlibError("saliency prediction contains NaN")
        if pred.min() < 0 or pred.max() > 1:
            raise BenchlibError(
                f"float saliency prediction must lie in [0, 1], got range [{pred.min()}, {pred.max()}]"
            )
    else:
        raise BenchlibError(f"saliency prediction must be uint8, bool or float, got dtype {pred.dtype}")
    lo, hi = pred.min(), pred.max()
    if hi > lo:
        pred = (pred - lo) / (hi - lo)

    if gt.dtype != bool and gt.dtype.kind in "uif" and _mixed_encodings(gt):
        n1, n255 = int(np.count_nonzero(gt == 1)), int(np.count_nonzero(gt == 255))
        raise BenchlibError(f"ground truth mixes the 0/1 and 0/255 encodings ({n1} pixel(s) of 1, {n255} of "
                            "255): its 1-pixels would be read as background; re-save it in one encoding")
    if gt.dtype == np.uint8:
        if gt.max() == 1:
            raise BenchlibError("uint8 ground truth holds only 0/1: expected 0/255 (pass a bool mask for 0/1)")
        gt = gt > 128
    elif gt.dtype == bool:
        pass
    elif gt.dtype.kind == "f":
        if np.isnan(gt).any():
            raise BenchlibError("saliency ground truth contains NaN")
        if np.isinf(gt).any():
            raise BenchlibError(f"saliency ground truth contains ±inf ({int(np.count_nonzero(np.isinf(gt)))} "
                                "pixel(s)): expected values in [0, 1] (or 0/255)")
        gt = gt > 0.5
    else:
        raise BenchlibError(f"saliency ground truth must be uint8, bool or float, got dtype {gt.dtype}")
    return pred, gt


def f_measure(precision, recall, beta2=BETA2):
    """``(1+β²)·P·R / (β²·P + R)`` element-wise, 0 where ``P·R = 0``."""
    precision = np.asarray(precision, dtype=np.float64)
    recall = np.asarray(recall, dtype=np.float64)
    num = (1 + beta2) * precision * recall
    den = np.where(num == 0, 1.0, beta2 * precision + recall)
    return num / den


def image_scores(pred, gt, name=None):
    """Scores of one image (see the module docstring). Returns a dict of floats and 256-long curves.

    Curves are indexed by threshold: ``precision[t]`` is the precision of ``floor(255·pred) ≥ t``.
    name: the image's name (a file, an id), named by any error.
    """
    pred, gt = prepare(pred, gt, name)
    n_fg = int(np.count_nonzero(gt))

    # One bincount gives the histogram of quantised values in foreground (upper half) and background.
    q = (pred * 255).astype(np.uint8).astype(np.int64)
    hist = np.bincount((q + NUM_THRESHOLDS * gt).ravel(), minlength=2 * NUM_THRESHOLDS)
    bg_hist, fg_hist = hist[:NUM_THRESHOLDS], hist[NUM_THRESHOLDS:]
    # Reverse cumulative sums: pixels with quantised value ≥ t, for every t at once.
    tp = np.cumsum(fg_hist[::-1])[::-1]
    predicted = tp + np.cumsum(bg_hist[::-1])[::-1]
    precision = tp / np.maximum(predicted, 1)  # tp = 0 whenever predicted = 0
    recall = tp / max(n_fg, 1)  # empty gt: tp = 0, so recall 0

    threshold = min(2.0 * float(pred.mean()), 1.0)
    binary = pred >= threshold
    inter = int(np.count_nonzero(binary & gt))
    if inter == 0:  # also covers an empty ground truth
        a_p = a_r = 0.0
    else:
        a_p = inter / int(np.count_nonzero(binary))
        a_r = inter / n_fg

    return {
        "mae": float(np.abs(pred - gt).mean()),
        "precision": precision,
        "recall": recall,
        "f": f_measure(precision, recall),
        "adaptive_threshold": threshold,
        "adaptive_precision": a_p,
        "adaptive_recall": a_r,
        "adaptive_f": float(f_measure(a_p, a_r)),
    }


def aggregate(per_image, indices=None):
    """Dataset scores from stacked per-image scores (the dict :meth:`SaliencyMeter.per_image` returns).

    ``indices`` (optional) selects / resamples images, e.g. a bootstrap sample drawn with replacement.
    """
    if indices is not None:
        n = len(per_image["mae"])
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise BenchlibError(f"saliency aggregate: indices must be a 1-D array of integer image indices, got "
                                f"shape {idx.shape} and dtype {idx.dtype}")
        bad = (idx < 0) | (idx >= n)
        if bad.any():
            # a negative index would silently wrap around to the last images
            raise BenchlibError(f"saliency aggregate: {int(bad.sum())} bootstrap index(es) outside 0..{n - 1} "
                                f"(the {n} images scored), e.g. {int(idx[bad][0])}")
        per_image = {k: np.asarray(v)[idx] for k, v in per_image.items()}
    if len(per_image["mae"]) == 0:
        raise BenchlibError("no saliency images to aggregate")
    f_curve = np.mean(per_image["f"], axis=0)
    return {
        "mae": float(np.mean(per_image["mae"])),
        "adaptive_f": float(np.mean(per_image["adaptive_f"])),
        "adaptive_precision": float(np.mean(per_image["adaptive_precision"])),
        "adaptive_recall": float(np.mean(per_image["adaptive_recall"])),
        "mean_f": float(f_curve.mean()),
        "max_f": float(f_curve.max()),
        "precision_curve": np.mean(per_image["precision"], axis=0),
        "recall_curve": np.mean(per_image["recall"], axis=0),
        "f_curve": f_curve,
    }


class SaliencyMeter:
    """``update(pred, gt)`` per image, ``compute()`` for the dataset (see the module docstring)."""

    def __init__(self):
        self._rows = []

    def __len__(self):
        return len(self._rows)

    def update(self, pred, gt, name=None):
        """Score one image; `name` (a file, an id) is named by any error."""
        self._rows.append(image_scores(pred, gt, name))
        return self

    def per_image(self):
        """Stacked per-image values: scalars as (n,) arrays, curves as (n, 256) arrays."""
        if not self._rows:
            return {k: np.zeros((0, NUM_THRESHOLDS) if k in ("precision", "recall", "f") else 0)
                    for k in _PER_IMAGE_KEYS}
        return {k: np.stack([np.asarray(r[k], dtype=np.float64) for r in self._rows]) for k in _PER_IMAGE_KEYS}

    def compute(self):
        """Dict ``mae, adaptive_f, adaptive_precision, adaptive_recall, mean_f, max_f,
        precision_curve, recall_curve, f_curve`` (curves indexed by threshold 0..255)."""
        return aggregate(self.per_image())
