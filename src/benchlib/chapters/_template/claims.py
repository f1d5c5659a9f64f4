"""The template paper's claims, declared for the claims engine (placeholders: quote the paper's)."""
from __future__ import annotations

import numpy as np

from benchlib.claims import Check, Claim, degenerate_guard, difference


def _accuracy_gain(run):
    c = run.correct
    return difference([100 * a for a in c["threshold"]], [100 * b for b in c["majority"]],
                      detail=f"accuracy on the test half, {run.dataset}", names=("threshold", "majority"))


CLAIMS = [
    Claim(id="threshold_beats_majority",
          statement="A learned threshold is more accurate than guessing the majority class.",
          source="§4, Table 1: 'the threshold classifier clearly outperforms the trivial baseline'",
          effect=_accuracy_gain, direction=+1, margin=5.0, unit="accuracy points", min_seeds=3,
          margin_source="placeholder: the paper's words or numbers that size 'clearly'",
          preconditions=(degenerate_guard("threshold", lambda run: [100 * np.mean(a) for a in run.correct["threshold"]],
                                          floor=50.0, what="accuracy %"),),
          on_paper=lambda paper: paper.value("1", "threshold", "accuracy") - paper.value("1", "majority", "accuracy")),
]

CHECKS = [
    Check("accuracy_in_range", "Accuracies lie in [0, 100] %",
          lambda run: (all(0 <= 100 * np.mean(a) <= 100 for v in run.correct.values() for a in v), "per seed")),
]
