"""Toy data for the appendix's worked examples: random blob images with a noisy predictor."""
from __future__ import annotations

import numpy as np


def random_blobs(n: int, size: int = 48, seed: int = 0):
    """n (prediction, ground truth) uint8 pairs: an elliptic object as ground truth and a
    blurred, noisy, slightly shifted copy of it as the prediction."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    preds, gts = [], []
    for _ in range(n):
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        ry, rx = rng.uniform(0.12, 0.3, 2) * size
        d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        gts.append(np.where(d <= 1, 255, 0).astype(np.uint8))
        dy, dx = rng.normal(0, 0.06 * size, 2)
        d2 = ((yy - cy - dy) / ry) ** 2 + ((xx - cx - dx) / rx) ** 2
        soft = 1 / (1 + np.exp(4 * (d2 - 1))) + rng.normal(0, 0.15, (size, size))
        preds.append((np.clip(soft, 0, 1) * 255).astype(np.uint8))
    return preds, gts
