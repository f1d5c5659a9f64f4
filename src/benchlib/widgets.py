"""Shared ipywidgets explorers. They need a live kernel; the static book shows their initial
state, so callers display a plain figure first."""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt

from . import plots


def redraw_on_change(controls: dict, draw) -> widgets.VBox:
    """A panel of controls above an output area; `draw(**values)` re-renders on every change."""
    out = widgets.Output()

    def refresh(_=None):
        with out:
            out.clear_output(wait=True)
            draw(**{name: c.value for name, c in controls.items()})
            plt.show()

    for c in controls.values():
        c.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox(list(controls.values())), out])


def threshold_explorer(curves: dict, pred, gt, threshold: int = 128) -> widgets.VBox:
    """Slide a binarisation threshold; the binarised map and its point on the PR and F
    curves move together (curves: a SaliencyMeter.compute() result)."""
    slider = widgets.IntSlider(value=threshold, min=0, max=255, description="threshold",
                               continuous_update=False)
    return redraw_on_change({"threshold": slider},
                            lambda threshold: plots.pr_threshold_figure(curves, pred, gt, threshold))
