"""Shared ipywidgets explorers. They need a live kernel; the static book shows their initial
state, so callers display a plain figure first.

Figures are rendered to PNG and shown in an `Image` widget rather than captured with
`with Output():` — under papermill, Output capture with clear_output occasionally left the
execution waiting forever."""
from __future__ import annotations

import io

import ipywidgets as widgets
import matplotlib.pyplot as plt

from . import plots


def figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def redraw_on_change(controls: dict, draw) -> widgets.VBox:
    """A panel of controls above an image; `draw(**values)` returns a matplotlib figure that
    is re-rendered on every change."""
    image = widgets.Image(format="png")

    def refresh(_=None):
        image.value = figure_png(draw(**{name: c.value for name, c in controls.items()}))

    for c in controls.values():
        c.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox(list(controls.values())), image])


def threshold_explorer(curves: dict, pred, gt, threshold: int = 128) -> widgets.VBox:
    """Slide a binarisation threshold; the binarised map and its point on the PR and F
    curves move together (curves: a SaliencyMeter.compute() result)."""
    slider = widgets.IntSlider(value=threshold, min=0, max=255, description="threshold",
                               continuous_update=False)
    return redraw_on_change({"threshold": slider},
                            lambda threshold: plots.pr_threshold_figure(curves, pred, gt, threshold))
