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


VERDICT_COLOURS = {"held": "#1a7f37", "contradicted": "#cf222e", "inconclusive": "#9a6700", "not tested": "#8c959f"}


def forest_plot(claims, max_rows_per_column: int = 18):
    """Every claim on its own scale: the 95 % CI and the effect in the claimed direction (right
    is for the claim), the zero line, the margin (dashed) and the paper's own value (◇), coloured
    by verdict. `claims`: claims.csv rows with an added `chapter` column."""
    import math

    rows = list(claims.itertuples())
    ncols = 1 if len(rows) <= max_rows_per_column else 2
    per_col = math.ceil(len(rows) / ncols) if rows else 1
    height = 0.2 * per_col + 0.7
    fig = plt.figure(figsize=(7.5 * ncols, height))
    for c in range(ncols):
        # per column: labels | bars | verdict text, laid out by hand so columns never overlap
        ax = fig.add_axes([(c + 0.38) / ncols, 0.45 / height, 0.27 / ncols, 1 - 0.75 / height])
        chunk = rows[c * per_col:(c + 1) * per_col]
        for i, r in enumerate(chunk):
            y = len(chunk) - 1 - i
            colour = VERDICT_COLOURS.get(r.verdict, "#57606a")
            label = f"{r.chapter} · {r.claim_id}"
            ax.text(-0.03, y, label[:44], ha="right", va="center", fontsize=7.5)
            if r.verdict == "not tested" or not np.isfinite(r.effect):
                ax.text(0.5, y, "not tested", ha="center", va="center", fontsize=7.5, color=colour, style="italic")
                continue
            d = float(getattr(r, "direction", 1) or 1)
            ref = float(getattr(r, "reference", 0) or 0)
            e = d * (r.effect - ref)
            lo, hi = sorted((d * (r.ci_low - ref), d * (r.ci_high - ref)))
            m = abs(float(r.margin or 0))
            paper = float(getattr(r, "paper_effect", float("nan")))
            paper = d * (paper - ref) if np.isfinite(paper) else float("nan")
            pts = [v for v in (lo, hi, e, 0.0, m, paper) if np.isfinite(v)]
            a, b = min(pts), max(pts)
            pad = 0.08 * (b - a or 1.0)
            a, b = a - pad, b + pad
            x = lambda v: (v - a) / (b - a)  # noqa: E731 - per-row scale
            ax.plot([x(0), x(0)], [y - 0.35, y + 0.35], color="#24292f", lw=0.8)
            if m:   # the claimed size: held needs the interval beyond it, contradicted short of it
                ax.plot([x(m), x(m)], [y - 0.3, y + 0.3], color="#57606a", lw=0.8, ls="--")
            if np.isfinite(lo):
                ax.plot([x(lo), x(hi)], [y, y], color=colour, lw=2.2, solid_capstyle="butt")
            ax.plot([x(e)], [y], "o", color=colour, ms=4)
            if np.isfinite(paper):
                ax.plot([x(paper)], [y], "D", mfc="none", mec="#0969da", ms=5)
            ax.text(1.03, y, f"{r.verdict}: {r.effect:.3g} [{r.ci_low:.3g}, {r.ci_high:.3g}] {r.unit or ''}"[:40],
                    ha="left", va="center", fontsize=7, color=colour)
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.8, max(len(chunk), 1) - 0.2)
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
        ax.set_title("← against the claim · for the claim →  (each row on its own scale)", fontsize=8)
    handles = [plt.Line2D([], [], color=v, lw=2.2, label=k) for k, v in VERDICT_COLOURS.items()]
    handles += [plt.Line2D([], [], color="#57606a", ls="--", label="claimed size"),
                plt.Line2D([], [], marker="D", mfc="none", mec="#0969da", ls="", label="paper's own numbers")]
    fig.legend(handles=handles, loc="lower center", ncol=6, fontsize=7.5, frameon=False)
    return fig
