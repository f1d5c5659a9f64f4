"""Explorers: the static grid (precomputed states linked in the browser) and the live panel."""
import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchlib.widgets import grid, live_explorer, redraw_on_change, static_explorer  # noqa: E402


def _draw(**values):
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.set_title(repr(sorted(values.items())))
    return fig


def test_grid_thins_sliders_first_and_keeps_the_initial_value():
    controls = {"method": widgets.Dropdown(options=["a", "b", "c"], value="b"),
                "t": widgets.IntSlider(value=128, min=0, max=255, step=1)}
    g = grid(controls, max_states=12)
    assert g["method"] == ["a", "b", "c"]           # dropdowns keep every option when they can
    assert len(g["t"]) == 4 and 128 in g["t"] and g["t"][0] == 0 and g["t"][-1] == 255
    g = grid({"x": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.25)}, max_states=36)
    assert g["x"] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_static_explorer_precomputes_every_state_and_links_it():
    calls = []

    def draw(**v):
        calls.append(v)
        return _draw(**v)

    controls = {"m": widgets.Dropdown(options=[("first", 1), ("second", 2)], value=2),
                "t": widgets.IntSlider(value=3, min=0, max=4)}
    box = static_explorer(controls, draw, max_states=6)
    shown_m, shown_t = box.children[0].children
    assert isinstance(shown_t, widgets.SelectionSlider) and shown_t.value == 3
    assert len(calls) == 2 * 3 and {"m": 2, "t": 3} in calls
    outer = box.children[1]
    assert isinstance(outer, widgets.Stack) and len(outer.children) == 2
    assert outer.selected_index == 1                 # "second" is the initial choice
    assert all(isinstance(s, widgets.Stack) and len(s.children) == 3 for s in outer.children)
    assert len(box._links) == 1 + 2                  # one link per stack
    png = outer.children[0].children[0].value
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_redraw_on_change_is_live_in_a_kernel_and_static_in_a_batch_run(monkeypatch):
    slider = widgets.IntSlider(value=1, min=0, max=2)
    monkeypatch.delenv("BENCHLIB_STAGING_ROOT", raising=False)
    live = redraw_on_change({"t": slider}, _draw)
    before = live.children[1].value
    slider.value = 2
    assert live.children[1].value != before          # redrawn on change
    monkeypatch.setenv("BENCHLIB_STAGING_ROOT", "/tmp/x")
    static = redraw_on_change({"t": widgets.IntSlider(value=1, min=0, max=2)}, _draw)
    assert isinstance(static.children[1], widgets.Stack)
    assert isinstance(live_explorer({"t": widgets.IntSlider()}, _draw), widgets.VBox)


def test_static_explorer_says_what_it_precomputed_and_can_hold_more_positions():
    controls = {"image": widgets.IntSlider(value=0, min=0, max=39, description="image"),
                "t": widgets.FloatSlider(value=0.5, min=0.0, max=0.95, step=0.05, description="threshold")}
    g = grid(controls, max_states=96, max_positions={"image": 12, "t": 8})
    assert g["image"] == [0, 4, 7, 11, 14, 18, 21, 25, 28, 32, 35, 39]     # evenly spaced, ends kept
    assert len(g["t"]) == 8 and 0.5 in g["t"] and g["t"][0] == 0.0 and g["t"][-1] == 0.95
    g = grid(controls, max_states=96, max_positions=12)  # 12 × 12 > 96: the sliders are thinned in turn
    assert (len(g["image"]), len(g["t"])) in ((9, 10), (10, 9))
    box = static_explorer(controls, _draw, max_states=96, max_positions={"image": 12, "t": 8}, note="(seed 0)")
    note = box.children[2].value
    assert note == ("<small>Precomputed on this page: 96 states (image: 12 of 40 × threshold: 8 of 20); "
                    "in Jupyter every value is drawn live. (seed 0)</small>")
    assert len(box.children[1].children) == 12 and len(box.children[1].children[0].children) == 8
    every = static_explorer({"m": widgets.Dropdown(options=["a", "b"])}, _draw)
    assert every.children[2].value == "<small>Precomputed on this page: 2 states (m: 2).</small>"
