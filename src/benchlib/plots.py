"""Shared figures."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .claimsview import interval_text

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


VERDICT_COLOURS = {"held": "#1a7f37", "contradicted": "#cf222e", "inconclusive": "#9a6700", "not tested": "#6e7781"}
PAPER_COLOUR = "#0969da"
BY_CONSTRUCTION_COLOUR = "#8250df"
FOREST_WIDTH_PX = 770       # the summary's text column at 1400 px (772 px): shown at its natural size there
FOREST_FONT_PT = 8.6        # 11.5 px at natural size (1 pt = 4/3 px)
ROW_PX = 19
RELATIVE_LIMITS = (-2.0, 3.0)   # effect ÷ the paper's effect: wider intervals are clipped (arrow)


def _short_unit(unit) -> str:
    u = str(unit or "").split(" (")[0].strip()
    return u if len(u) <= 14 else ""


def _aligned(r):
    """direction × (value − reference): right is for the claim, 0 = no effect."""
    d = float(getattr(r, "direction", 1) or 1)
    ref = float(getattr(r, "reference", 0) or 0)
    if not np.isfinite(ref):
        ref = 0.0
    return lambda v: d * (float(v) - ref) if v is not None and np.isfinite(float(v)) else float("nan")


def forest_rows(claims):
    """The plotted rows: (chapter, claim_id, verdict, by_construction, e, lo, hi, margin, paper, scale,
    text); `scale` is the paper's effect (in the claimed direction) when the paper's numbers support the
    claim — those rows share the axis effect ÷ paper's effect — else None (the row keeps its own unit)."""
    out = []
    for r in claims.itertuples():
        if r.verdict == "not tested" or not np.isfinite(float(r.effect)):
            continue
        al = _aligned(r)
        e = al(r.effect)
        lo, hi = sorted((al(r.ci_low), al(r.ci_high)))
        paper = al(getattr(r, "paper_effect", float("nan")))
        m = abs(float(getattr(r, "margin", 0) or 0))
        bc = bool(str(getattr(r, "by_construction", "") or "").strip()) and str(getattr(r, "by_construction", "")) != "nan"
        scale = paper if np.isfinite(paper) and paper > 0 else None
        verdict = "by construction" if bc and r.verdict == "held" else r.verdict
        text = f"{verdict}  {interval_text(r.effect, r.ci_low, r.ci_high)}"
        out.append(dict(chapter=getattr(r, "chapter", ""), claim=r.claim_id, verdict=r.verdict, bc=bc, e=e,
                        lo=lo, hi=hi, margin=m, paper=paper, scale=scale, text=text))
    return out


def forest_plot(claims, width_px: int = FOREST_WIDTH_PX):
    """Every tested claim, readable at its natural size in the book (text ≥ 11 px), in two panels:
    - claims the paper's own numbers support share one axis, effect ÷ the paper's effect (0 = no
      effect, 1 = the paper's size, marked ◇; the dashed tick is the claimed size);
    - the others, each on its own axis in its own unit (its ends labelled), the paper's value ◇ if any.
    Effects are in the claimed direction (right is for the claim), bars are 95 % intervals coloured
    by verdict; the numbers as measured are written on the right. `claims`: claims.csv rows with an
    added `chapter` column."""
    import matplotlib.pyplot as plt

    rows = forest_rows(claims)
    panels = [("effect ÷ the paper's effect (0 = no effect, 1 = the paper's size)",
               [r for r in rows if r["scale"] is not None]),
              ("no paper effect in the claim's direction: each row on its own axis, in its unit",
               [r for r in rows if r["scale"] is None])]
    panels = [(t, p) for t, p in panels if p]

    def lines(p):   # rows plus one heading per chapter
        return len(p) + len({r["chapter"] for r in p})

    fs = FOREST_FONT_PT
    head_px, axis_px, legend_px = 26, 34, 40
    heights = [lines(p) * ROW_PX + head_px + axis_px for _, p in panels] or [60]
    total = sum(heights) + legend_px
    fig = plt.figure(figsize=(width_px / 96, total / 96))
    left, right = 234 / width_px, 1 - 220 / width_px
    top = total
    for (title, prow), h in zip(panels, heights):
        n = lines(prow)
        ax = fig.add_axes([left, (top - head_px - n * ROW_PX) / total, right - left, n * ROW_PX / total])
        top -= h
        rel = prow[0]["scale"] is not None
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_title(title, fontsize=fs, loc="left", x=(4 / width_px - left) / (right - left), pad=6,
                     fontweight="bold")
        if rel:
            lo_lim, hi_lim = RELATIVE_LIMITS
            ax.set_xlim(lo_lim, hi_lim)
            ax.axvline(0, color="#24292f", lw=0.8)
            ax.axvline(1, color=PAPER_COLOUR, lw=0.6, ls=":")
            ax.tick_params(axis="x", labelsize=fs)
            ax.set_xlabel("← against the claim · for the claim →", fontsize=fs, labelpad=2)
        else:
            ax.set_xlim(0, 1)
            ax.set_xticks([])
            ax.set_xlabel("← against the claim · for the claim →  (each row: its own scale, ends labelled)",
                          fontsize=fs, labelpad=2)
        ax.set_yticks([])
        for s in ("left", "right", "top"):
            ax.spines[s].set_visible(False)
        y, chapter = -1, None
        for r in prow:
            if r["chapter"] != chapter:
                chapter = r["chapter"]
                y += 1
                ax.text(-0.015, y, str(chapter), transform=ax.get_yaxis_transform(), ha="right", va="center",
                        fontsize=fs, fontweight="bold")
            y += 1
            colour = BY_CONSTRUCTION_COLOUR if r["bc"] and r["verdict"] == "held" else VERDICT_COLOURS.get(r["verdict"], "#57606a")
            ax.text(-0.015, y, "  " + r["claim"], transform=ax.get_yaxis_transform(), ha="right", va="center",
                    fontsize=fs)
            ax.text(1.015, y, r["text"], transform=ax.get_yaxis_transform(), ha="left", va="center",
                    fontsize=fs, color=colour)
            if rel:
                s = r["scale"]
                x = lambda v: v / s  # noqa: E731
                a, b = lo_lim, hi_lim
            else:
                pts = [v for v in (r["lo"], r["hi"], r["e"], 0.0, r["margin"], r["paper"]) if np.isfinite(v)]
                a, b = min(pts), max(pts)
                pad = 0.08 * ((b - a) or 1.0)
                a, b = a - pad, b + pad
                # the row's range fills the middle; its two ends are labelled in the margins beside it
                x = lambda v, a=a, b=b: 0.14 + 0.72 * (v - a) / (b - a)  # noqa: E731
                ax.plot([x(0), x(0)], [y - 0.4, y + 0.4], color="#24292f", lw=0.8)
                for xv, v, ha in ((0.0, a, "left"), (1.0, b, "right")):
                    ax.text(xv, y, f"{v:.2g}", ha=ha, va="center", fontsize=fs, color="#57606a")
                a, b = x(a), x(b)
            if r["margin"]:
                ax.plot([x(r["margin"])] * 2, [y - 0.35, y + 0.35], color="#57606a", lw=0.9, ls="--")
            if np.isfinite(r["lo"]):
                lo_x, hi_x = np.clip([x(r["lo"]), x(r["hi"])], a, b)
                ax.plot([lo_x, hi_x], [y, y], color=colour, lw=2.4, solid_capstyle="butt")
                for raw, clipped, mk in ((x(r["lo"]), lo_x, "<"), (x(r["hi"]), hi_x, ">")):
                    if raw != clipped:
                        ax.plot([clipped], [y], mk, color=colour, ms=6)
            ex = x(r["e"])
            if a <= ex <= b:
                ax.plot([ex], [y], "o", color=colour, ms=5)
            if np.isfinite(r["paper"]) and a <= x(r["paper"]) <= b:
                ax.plot([x(r["paper"])], [y], "D", mfc="none", mec=PAPER_COLOUR, ms=6, mew=1.2)
    handles = [plt.Line2D([], [], color=v, lw=2.4, label=k) for k, v in VERDICT_COLOURS.items() if k != "not tested"]
    handles += [plt.Line2D([], [], color=BY_CONSTRUCTION_COLOUR, lw=2.4, label="by construction"),
                plt.Line2D([], [], color="#57606a", ls="--", label="claimed size"),
                plt.Line2D([], [], marker="D", mfc="none", mec=PAPER_COLOUR, ls="", label="paper's value")]
    fig.legend(handles=handles, loc="lower center", ncol=6, fontsize=fs, frameon=False,
               bbox_to_anchor=(0.5, 2 / total), handlelength=1.4, columnspacing=0.9, handletextpad=0.4)
    return fig
