"""Report of the template chapter: result rows beside the paper's, the table, a figure, an explorer."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from benchlib.results import bootstrap_ci


def record(res, run) -> None:
    for method, per_seed in run.correct.items():
        acc = np.array([100 * np.mean(a) for a in per_seed])
        res.add("1", method, "accuracy", acc.mean(), dataset=run.dataset, n=len(acc),
                ci=bootstrap_ci(acc) if len(acc) > 1 else None, seed=run.config.seed)
    res.compare_with_paper("1")


def tables(res):
    return res.table("1")


def figure(run):
    fig, ax = plt.subplots(figsize=(4, 2.5))
    for method, per_seed in run.correct.items():
        ax.bar(method, 100 * np.mean([np.mean(a) for a in per_seed]))
    ax.set_ylabel("accuracy (%)")
    return fig


def explorer(run):
    from benchlib.widgets import redraw_on_change
    import ipywidgets as w

    seeds = w.IntSlider(value=0, min=0, max=len(run.correct["threshold"]) - 1, description="seed")

    def draw(seed):
        fig, ax = plt.subplots(figsize=(4, 2.5))
        for method, per_seed in run.correct.items():
            ax.bar(method, 100 * np.mean(per_seed[seed]))
        ax.set_ylabel(f"accuracy, seed index {seed} (%)")
        return fig

    return redraw_on_change({"seed": seeds}, draw)
