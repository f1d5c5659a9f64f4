"""Report of the template chapter: result rows beside the paper's, Table 1 in the paper's layout,
a figure, the statements not judged, an explorer."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from benchlib.claims import interval, not_claimed_rows, single
from benchlib.results import paper_table


def record(res, run) -> None:
    for method, per_seed in run.correct.items():
        # each seed draws its own twin, so its test samples differ: a nested design (the engine's interval)
        per_unit = [100 * np.asarray(a, float) for a in per_seed]
        m = single(per_unit, shared_units=False, bounds=(0.0, 100.0), units="test samples")
        res.add("1", method, "accuracy", float(np.mean([u.mean() for u in per_unit])), dataset=run.dataset,
                n=len(per_unit), ci=interval(m))
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
        ax.bar(method, 100 * np.mean([np.mean(a) for a in per_seed]))
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
            ax.bar(method, 100 * np.mean(per_seed[seed]))
        ax.set_ylabel(f"accuracy, seed index {seed} (%)")
        return fig

    return redraw_on_change({"seed": seeds}, draw)
