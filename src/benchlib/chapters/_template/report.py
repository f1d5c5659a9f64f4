"""Report of the template chapter: result rows beside the paper's, Table 1 in the paper's layout,
a figure, the statements not judged, an explorer."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from benchlib.claims import interval, not_claimed_rows, single
from benchlib.results import paper_table

from . import evaluate


def record(res, run) -> None:
    for method, per_seed in run.correct.items():
        # each seed draws its own twin, so its test samples differ: a nested design (the engine's interval)
        m = single(evaluate.points(per_seed), shared_units=False, bounds=(0.0, 100.0), units="test samples")
        # value and interval from the one measurement
        res.add("1", method, "accuracy", m.effect(), dataset=run.dataset, n=m.n_seeds, ci=interval(m))
    res.compare_with_paper("1")


def tables(res, run) -> dict:
    """The paper's tables by their id: ours [95 % CI] (paper)."""
    return {"1": paper_table(res.frame, "1", show=("ours", "ci", "paper"))}


def not_claimed() -> list[dict]:
    """The paper's statements this chapter does not judge, where they are, and why not."""
    return not_claimed_rows([
        ("The threshold carries over to other datasets.", "§5",
         "placeholder: one dataset is re-run here"),
    ])


def figure(run):
    fig, ax = plt.subplots(figsize=(4, 2.5))
    for method, per_seed in run.correct.items():
        ax.bar(method, np.mean(evaluate.accuracies(per_seed)))
    ax.set_ylabel("accuracy (%)")
    return fig


def training_curves(run):
    fig, ax = plt.subplots(figsize=(4, 2.5))
    for s, hist in zip(run.config.seeds, run.history):
        ax.plot(hist["epoch"], hist["train_loss"], label=f"seed {s}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=7)
    return fig


def explorer(run):
    from benchlib.widgets import redraw_on_change
    import ipywidgets as w

    seeds = w.IntSlider(value=0, min=0, max=len(run.correct["threshold"]) - 1, description="seed")

    def draw(seed):
        fig, ax = plt.subplots(figsize=(4, 2.5))
        for method, per_seed in run.correct.items():
            ax.bar(method, evaluate.accuracies(per_seed)[seed])
        ax.set_ylabel(f"accuracy, seed index {seed} (%)")
        return fig

    return redraw_on_change({"seed": seeds}, draw)
