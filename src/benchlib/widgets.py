"""Shared ipywidgets explorers that work in a live kernel and in the static HTML book.

In JupyterLab an explorer redraws its figure on every change. In a batch run (the runner sets
$BENCHLIB_STAGING_ROOT) there will be no kernel behind the page, so the same call precomputes the
figures of a modest grid of control values and stacks them; the controls are linked to the stacks
in the browser (`jslink`), so moving a slider in the static book shows another precomputed image.

Figures are rendered to PNG in an `Image` widget rather than captured with `with Output():` —
under papermill, Output capture with clear_output occasionally left the execution waiting forever.
"""
from __future__ import annotations

import html
import io
import math
import os

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from . import plots

STATIC_ENV = "BENCHLIB_STAGING_ROOT"  # set by the runner for batch runs
MAX_STATES = 16                       # precomputed figures per explorer (a modest grid: each costs a figure)
MAX_SLIDER_POSITIONS = 5


def figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _candidates(control) -> list:
    """The values a control can take: a dropdown's options, a slider's steps."""
    if isinstance(control, (widgets.IntSlider, widgets.FloatSlider)):
        n = int(math.floor((control.max - control.min) / control.step + 1e-9)) + 1
        vals = [control.min + i * control.step for i in range(n)]
        return [int(v) if isinstance(control, widgets.IntSlider) else round(float(v), 10) for v in vals]
    if hasattr(control, "options"):
        return [v for _, v in _labelled(control)]
    raise TypeError(f"explorer control {type(control).__name__} is not supported (use a slider or a dropdown)")


def _labelled(control) -> list[tuple[str, object]]:
    opts = list(control.options)
    return [o if isinstance(o, tuple) else (str(o), o) for o in opts]


def _pick(values: list, k: int, keep) -> list:
    """k evenly spaced values, always including `keep` (the control's initial value)."""
    if k >= len(values):
        return list(values)
    idx = set(np.linspace(0, len(values) - 1, k).round().astype(int).tolist())
    if keep in values:
        ki = values.index(keep)
        if ki not in idx:
            idx.remove(min(idx, key=lambda i: abs(i - ki)))
            idx.add(ki)
    return [values[i] for i in sorted(idx)]


def static_mode() -> bool:
    """True in a batch run for the static book (no kernel behind the page)."""
    return bool(os.environ.get(STATIC_ENV))


def grid(controls: dict, max_states: int = MAX_STATES, max_positions: int | dict = MAX_SLIDER_POSITIONS) -> dict:
    """name -> the values precomputed for that control; sliders are thinned first (to at most
    `max_positions` each — a number, or one per control name — then the slider with the most
    positions, one at a time, until the product fits `max_states`)."""
    full = {n: _candidates(c) for n, c in controls.items()}
    cap = max_positions if isinstance(max_positions, dict) else {}
    default = MAX_SLIDER_POSITIONS if isinstance(max_positions, dict) else max_positions
    counts = {n: min(len(v), cap.get(n, default)) if isinstance(controls[n], (widgets.IntSlider, widgets.FloatSlider))
              else len(v) for n, v in full.items()}
    while math.prod(counts.values()) > max_states:
        sliders = [n for n in counts if isinstance(controls[n], (widgets.IntSlider, widgets.FloatSlider))
                   and counts[n] > 2]
        pool = sliders or [n for n in counts if counts[n] > 1]
        if not pool:
            break
        biggest = max(pool, key=lambda n: counts[n])
        counts[biggest] -= 1
    return {n: _pick(full[n], counts[n], controls[n].value) for n in full}


def _static_control(name: str, control, values: list):
    """A control whose `index` selects among the precomputed values (linkable in the browser)."""
    if isinstance(control, (widgets.IntSlider, widgets.FloatSlider)):
        fmt = (lambda v: str(v)) if isinstance(control, widgets.IntSlider) else (lambda v: f"{v:g}")
        # wide enough that every precomputed position can be picked with the mouse
        return widgets.SelectionSlider(options=[(fmt(v), v) for v in values], value=control.value
                                       if control.value in values else values[0],
                                       description=control.description or name, continuous_update=True,
                                       layout=widgets.Layout(width=f"{min(520, 200 + 14 * len(values))}px"))
    labels = dict((v, lab) for lab, v in _labelled(control))
    return widgets.Dropdown(options=[(labels[v], v) for v in values],
                            value=control.value if control.value in values else values[0],
                            description=control.description or name)


def precomputed_note(controls: dict, values: dict) -> str:
    """What the static page holds, said plainly: "image: 12 of 40 · threshold: 8 of 96 ..."."""
    parts, thinned = [], False
    for name, c in controls.items():
        n_all = len(_candidates(c))
        thinned |= len(values[name]) < n_all
        parts.append(f"{c.description or name}: {len(values[name])}" + (f" of {n_all}" if len(values[name]) < n_all else ""))
    states = math.prod(len(v) for v in values.values())
    return (f"Precomputed on this page: {states} states ({' × '.join(parts)})"
            + ("; in Jupyter every value is drawn live." if thinned else "."))


def static_explorer(controls: dict, draw, max_states: int = MAX_STATES, max_positions: int | dict = MAX_SLIDER_POSITIONS,
                    note: str | None = None) -> widgets.VBox:
    """Precompute `draw(**values)` over a grid of control values; nested Stack widgets, one level
    per control, each linked client-side to its control's index. A line under the figure says what
    was precomputed (`note` adds to it)."""
    values = grid(controls, max_states, max_positions)
    names = list(controls)
    # one layout for every frame: never wider than the page's column (a wide figure scales down
    # instead of scrolling), and one model on the page instead of one per frame
    frame_layout = widgets.Layout(max_width="100%", height="auto")
    shown = {n: _static_control(n, controls[n], values[n]) for n in names}
    links = []

    def build(level: int, fixed: dict):
        if level == len(names):
            return widgets.Image(value=figure_png(draw(**fixed)), format="png", layout=frame_layout)
        name = names[level]
        stack = widgets.Stack([build(level + 1, {**fixed, name: v}) for v in values[name]],
                              selected_index=shown[name].index)
        links.append(widgets.jslink((shown[name], "index"), (stack, "selected_index")))
        return stack

    body = build(0, {})
    said = precomputed_note(controls, values) + (f" {note}" if note else "")
    box = widgets.VBox([widgets.HBox(list(shown.values()), layout=widgets.Layout(flex_flow="row wrap")), body,
                        widgets.HTML(f"<small>{html.escape(said)}</small>")])
    box._links = links  # keep the links alive with the panel
    return box


def live_explorer(controls: dict, draw) -> widgets.VBox:
    """A panel of controls above an image re-rendered by `draw(**values)` on every change."""
    image = widgets.Image(format="png")

    def refresh(_=None):
        image.value = figure_png(draw(**{name: c.value for name, c in controls.items()}))

    for c in controls.values():
        c.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox(list(controls.values())), image])


def redraw_on_change(controls: dict, draw, max_states: int = MAX_STATES, max_positions: int | dict = MAX_SLIDER_POSITIONS,
                     note: str | None = None) -> widgets.VBox:
    """The chapters' explorer: live in a kernel, precomputed for the static book in batch runs
    (`max_states` figures at most, sliders thinned to `max_positions`; each figure weighs on the
    page: keep them small)."""
    if static_mode():
        return static_explorer(controls, draw, max_states, max_positions, note)
    return live_explorer(controls, draw)


def threshold_explorer(curves: dict, pred, gt, threshold: int = 128) -> widgets.VBox:
    """Slide a binarisation threshold; the binarised map and its point on the PR and F
    curves move together (curves: a SaliencyMeter.compute() result)."""
    slider = widgets.IntSlider(value=threshold, min=0, max=255, step=16, description="threshold",
                               continuous_update=False)
    return redraw_on_change({"threshold": slider},
                            lambda threshold: plots.pr_threshold_figure(curves, pred, gt, threshold))


__all__ = ["figure_png", "grid", "live_explorer", "precomputed_note", "redraw_on_change", "static_explorer",
           "static_mode", "threshold_explorer"]
