"""Scoring of the template chapter against the ground truth: the model's predictions on the test
half, right or wrong per sample, and per seed the accuracy in percent."""
from __future__ import annotations

import numpy as np
import torch


def predict(model, x, device="cpu") -> np.ndarray:
    """Label 1 where the model's logit is positive, else 0 (an int array, one per x)."""
    with torch.no_grad():
        logits = model(torch.tensor(np.asarray(x), dtype=torch.float32, device=device))
    return (logits > 0).to(torch.int64).cpu().numpy()


def correct(predicted, truth) -> np.ndarray:
    """Per sample, True where the prediction is the true label (the claims' unit)."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    return predicted.astype(int) == truth.astype(int)


def points(per_seed) -> list[np.ndarray]:
    """Per seed, per test sample: 100 where right, else 0 (the unit of the claims and of Table 1's
    interval; their mean is the accuracy in %). `per_seed`: one `correct` array per seed."""
    return [100 * np.asarray(c, float) for c in per_seed]


def accuracies(per_seed) -> list[float]:
    """Per seed, the percent of its test samples predicted right."""
    return [float(np.mean(p)) for p in points(per_seed)]
