"""Shared figures."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

BETA2 = 0.3


def f_curve(precision, recall, beta2: float = BETA2):
    p, r = np.asarray(precision, float), np.asarray(recall, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (1 + beta2) * p * r / (beta2 * p + r)
    return np.nan_to_num(f)


def pr_curves(curves_by_method: dict, ax=None, title: str = "Precision-recall"):
    """PR curves like the saliency papers' figures: one line per method.
    `curves_by_method`: name -> SaliencyMeter.compute() dict."""
    ax = ax or plt.subplots(figsize=(4.5, 4))[1]
    for name, c in curves_by_method.items():
        ax.plot(c["recall_curve"], c["precision_curve"], label=f"{name} (max F {c['max_f']:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.legend(fontsize=8, loc="lower left")
    return ax


def pr_threshold_figure(curves: dict, pred, gt, threshold: int):
    """Binarised prediction at `threshold`, and where that threshold sits on the PR and F curves."""
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
    pred = np.asarray(pred)
    axes[0].imshow(pred, cmap="gray"); axes[0].set_title("prediction")
    axes[1].imshow(pred >= threshold, cmap="gray"); axes[1].set_title(f"binarised at {threshold}")
    for a in axes[:2]:
        a.contour(np.asarray(gt) > 128, levels=[0.5], colors="lime", linewidths=1)
        a.axis("off")
    p, r = curves["precision_curve"], curves["recall_curve"]
    f = f_curve(p, r)
    axes[2].plot(r, p); axes[2].plot(r[threshold], p[threshold], "o", color="C3")
    axes[2].set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="PR curve")
    axes[3].plot(np.arange(256), f); axes[3].axvline(threshold, color="C3")
    axes[3].set(xlabel="threshold", ylabel="F (β²=0.3)", ylim=(0, 1.02),
                title=f"F = {f[threshold]:.3f} (max {f.max():.3f})")
    fig.tight_layout()
    return fig
