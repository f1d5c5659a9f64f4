"""The template paper's claims, declared for the claims engine (placeholders: quote the paper's)."""
from __future__ import annotations

import numpy as np

from benchlib.claims import Check, Claim, degenerate_guard, difference

from . import evaluate


def _accuracy_gain(run):
    c = run.correct
    return difference(evaluate.points(c["threshold"]), evaluate.points(c["majority"]),
                      detail=f"accuracy on the test half, {run.dataset}", names=("threshold", "majority"))


def _majority_is_the_test_share(run):
    """Per seed, the majority guess's accuracy against the test half's share of the training half's
    more frequent label, counted from the labels alone (not from the scored predictions): it fails
    when the baseline is fitted on, or scored against, the wrong half or samples."""
    gaps = []
    for (y_train, y_test), acc in zip(run.labels, evaluate.accuracies(run.correct["majority"]), strict=True):
        ones = int(np.sum(y_test))
        label_is_1 = 2 * int(np.sum(y_train)) > len(y_train)   # a tie guesses 0, as models.majority does
        share = 100 * (ones if label_is_1 else len(y_test) - ones) / len(y_test)
        gaps.append(abs(acc - share))
    return max(gaps) < 1e-9, f"largest gap {max(gaps):.2g} accuracy points over {len(gaps)} seed(s)"


CLAIMS = [
    Claim(id="threshold_beats_majority",
          statement="A learned threshold is more accurate than guessing the majority class.",
          source="§4, Table 1: 'the threshold classifier clearly outperforms the trivial baseline'",
          effect=_accuracy_gain, direction=+1, margin=5.0, unit="accuracy points", min_seeds=3,
          margin_source="placeholder: the paper's words or numbers that size 'clearly'",
          preconditions=(degenerate_guard("threshold", lambda run: evaluate.accuracies(run.correct["threshold"]),
                                          floor=50.0, what="accuracy %"),),
          on_paper=lambda paper: paper.value("1", "threshold", "accuracy") - paper.value("1", "majority", "accuracy")),
]

CHECKS = [
    Check("majority_is_test_share", "Per seed, the majority guess's accuracy equals the test half's share of the "
          "training half's more frequent label", _majority_is_the_test_share),
]
