"""Models of the template chapter: the learned threshold (a logistic regression on x, trained by
`train.fit`) and the majority guess it is compared with."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


class Threshold(nn.Module):
    """P(label 1 | x) = σ(w·x + b): predicts label 1 above x = −b / w (for w > 0)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logit of label 1 for each x (a 1-D tensor in, a 1-D tensor out)."""
        return self.linear(x[:, None]).squeeze(1)

    @property
    def threshold(self) -> float:
        """The x where the prediction changes: −b / w."""
        return float(-self.linear.bias.detach() / self.linear.weight.detach()[0, 0])


def build(seed: int) -> Threshold:
    """A freshly initialised model; its initial weights depend on `seed` only."""
    torch.manual_seed(seed)
    return Threshold()


def majority(labels) -> int:
    """The baseline: the more frequent label of the training half (0 on a tie)."""
    return int(round(float(np.mean(labels))))
