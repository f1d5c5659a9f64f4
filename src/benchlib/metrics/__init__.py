"""Metrics used by the chapters: pure numpy functions plus small accumulating meters.

Submodules (imported on first attribute access, so ``import benchlib.metrics`` stays cheap):

- :mod:`benchlib.metrics.segmentation`: confusion matrix, mIoU / precision / recall, binary F1.
- :mod:`benchlib.metrics.saliency`: MAE, PR curves, adaptive / mean / max F-measure (PySODMetrics rules).
- :mod:`benchlib.metrics.retrieval`: AP@k, mAP@k and FORB's thresholded t-mAP@k.
"""

import importlib

import numpy as np

__all__ = ["segmentation", "saliency", "retrieval", "as_numpy"]


def as_numpy(x):
    """Return ``x`` as a numpy array; torch tensors are detached and moved to the CPU.

    torch is never imported here: a tensor is recognised by its ``detach`` method.
    """
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def __getattr__(name):
    if name in ("segmentation", "saliency", "retrieval"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
