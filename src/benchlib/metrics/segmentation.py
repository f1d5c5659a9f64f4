"""Semantic-segmentation metrics: pooled confusion matrix, mIoU / precision / recall, binary F1.

Conventions follow jiwoon-ahn/irn and naver-ai/w-ood ``step/eval_cam.py``: one confusion matrix
pooled over all pixels of the evaluated set (not averaged per image), rows = ground truth, columns =
prediction, void pixels (255) skipped, macro means over classes with ``nanmean``, background included.
"""

import numpy as np

from benchlib import BenchlibError
from benchlib.metrics import as_numpy

__all__ = ["confusion_matrix", "segmentation_scores", "binary_scores", "ConfusionMeter"]


def _integer_array(x, name):
    x = as_numpy(x)
    # bool is accepted as {0, 1}; floats are refused rather than silently truncated.
    if x.dtype.kind not in "biu":
        raise BenchlibError(f"{name} must be an integer (class index) array, got dtype {x.dtype}")
    return x


# The C×C int64 matrix (and bincount's C² counters) must fit in memory: 4,096 classes take 128 MiB,
# far beyond any segmentation benchmark (ADE20K 150, COCO-Stuff 182, LVIS 1,203); a million would
# take 8 TB and exhaust memory instead of failing.
MAX_CLASSES = 4096


def _check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise BenchlibError(f"num_classes must be a positive integer, got {num_classes!r}")
    if num_classes > MAX_CLASSES:
        need = 8 * int(num_classes) ** 2
        size = f"{need / 2**30:,.0f} GiB" if need >= 2**30 else f"{need / 2**20:,.0f} MiB"
        raise BenchlibError(f"num_classes = {int(num_classes):,}: too many classes for a confusion matrix (its "
                            f"{int(num_classes):,}² counts would take {size}; at most {MAX_CLASSES:,} classes)")
    return int(num_classes)


def _describe(values, limit=10):
    values = np.unique(values)
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f", ... ({values.size} distinct values)" if values.size > limit else "")


def confusion_matrix(pred, target, num_classes, ignore_index=255):
    """C×C int64 confusion matrix, rows = ground truth, columns = prediction.

    ``pred`` and ``target`` are integer arrays (numpy or torch) of equal shape. Pixels with
    ``target == ignore_index`` are skipped (``ignore_index=None`` keeps every pixel). Every
    prediction, void pixels included, must lie in ``[0, num_classes)``: a value outside is a bug
    upstream (e.g. a 255 left in a pseudo-mask) and raises instead of being dropped. Target labels
    other than ``ignore_index`` must lie in ``[0, num_classes)`` too.
    """
    num_classes = _check_num_classes(num_classes)
    pred = _integer_array(pred, "pred")
    target = _integer_array(target, "target")
    if pred.shape != target.shape:
        raise BenchlibError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    # int64 before any comparison: uint8 - 1 or 255 == -1 would wrap around otherwise.
    pred = pred.astype(np.int64, copy=False).ravel()
    target = target.astype(np.int64, copy=False).ravel()

    bad = (pred < 0) | (pred >= num_classes)
    if bad.any():
        raise BenchlibError(
            f"predictions outside [0, {num_classes}): values {_describe(pred[bad])} "
            f"at {int(bad.sum())} pixel(s)"
        )
    valid = np.ones_like(target, dtype=bool) if ignore_index is None else target != ignore_index
    target, pred = target[valid], pred[valid]
    bad = (target < 0) | (target >= num_classes)
    if bad.any():
        raise BenchlibError(
            f"target labels outside [0, {num_classes}) and not ignore_index={ignore_index}: "
            f"values {_describe(target[bad])} at {int(bad.sum())} pixel(s)"
        )
    counts = np.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64, copy=False)


def segmentation_scores(cm):
    """Per-class and macro scores from a (pooled) confusion matrix, rows = ground truth.

    Per class c, with N = cm, row_c = Σ_j N[c, j] (ground-truth pixels), col_c = Σ_i N[i, c]
    (predicted pixels):

    - ``iou[c] = N[c,c] / (row_c + col_c − N[c,c])``; NaN when the class is absent from both
      ground truth and prediction (denominator 0).
    - ``precision[c] = N[c,c] / col_c``; NaN when the class is never predicted (0/0), even if it is
      present in the ground truth — its miss is still counted by recall and IoU (which are 0).
    - ``recall[c] = N[c,c] / row_c``; NaN when the class is absent from the ground truth, even if it
      is predicted — the false positives still pull its precision and IoU to 0.

    ``miou``, ``mprecision``, ``mrecall`` are ``nanmean`` over classes (background included), as in
    IRN / w-ood ``eval_cam.py``; ``pixel_accuracy = trace / total``.
    """
    cm = as_numpy(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise BenchlibError(f"confusion matrix must be square C×C, got shape {cm.shape}")
    if cm.dtype.kind not in "biuf":
        raise BenchlibError(f"confusion matrix must be numeric, got dtype {cm.dtype}")
    cm = cm.astype(np.float64)
    if not np.isfinite(cm).all() or (cm < 0).any():
        raise BenchlibError("confusion matrix must hold finite, non-negative counts")
    if (cm != np.round(cm)).any():
        # a row-normalised matrix silently gives another mIoU: refuse it
        raise BenchlibError("confusion matrix must hold pixel counts (whole numbers), not fractions; "
                            "pass the pooled counts, not a normalised matrix")
    total = cm.sum()
    if total == 0:
        raise BenchlibError("confusion matrix is empty (no evaluated pixels)")

    tp = np.diag(cm)
    row = cm.sum(axis=1)  # ground-truth pixels per class
    col = cm.sum(axis=0)  # predicted pixels per class
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(row + col - tp > 0, tp / (row + col - tp), np.nan)
        precision = np.where(col > 0, tp / col, np.nan)
        recall = np.where(row > 0, tp / row, np.nan)

    def _nanmean(a):
        return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")

    return {
        "miou": _nanmean(iou),
        "mprecision": _nanmean(precision),
        "mrecall": _nanmean(recall),
        "pixel_accuracy": float(tp.sum() / total),
        "iou": iou,
        "precision": precision,
        "recall": recall,
    }


class ConfusionMeter:
    """Accumulates the pooled confusion matrix over images: ``update`` per image, ``compute`` at the end."""

    def __init__(self, num_classes, ignore_index=255):
        self.num_classes = _check_num_classes(num_classes)
        self.ignore_index = ignore_index
        self.reset()

    def reset(self):
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred, target):
        self.matrix += confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        return self

    def compute(self):
        """:func:`segmentation_scores` of the accumulated matrix."""
        return segmentation_scores(self.matrix)


def binary_scores(pred, target):
    """F1 / accuracy / precision / recall of class 1 for binary maps (values 0 and 1, or bool).

    ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``, each 0 when its denominator is 0;
    ``f1 = 2PR / (P + R)`` and 0 when ``P + R = 0``; ``accuracy`` = correct pixels / all pixels.
    """
    pred = _integer_array(pred, "pred")
    target = _integer_array(target, "target")
    if pred.shape != target.shape:
        raise BenchlibError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    if pred.size == 0:
        raise BenchlibError("binary_scores got empty arrays")
    for name, x in (("pred", pred), ("target", target)):
        if x.dtype != bool and ((x < 0) | (x > 1)).any():
            raise BenchlibError(f"{name} must be binary (0/1), found values {_describe(x[(x < 0) | (x > 1)])}")
    p = pred.astype(bool)
    t = target.astype(bool)
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = float(np.count_nonzero(p == t)) / p.size
    return {"f1": f1, "accuracy": accuracy, "precision": precision, "recall": recall}
