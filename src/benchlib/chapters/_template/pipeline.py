"""Pipeline of the template chapter: per seed, fit a threshold on a training half and score it
and the majority guess on the test half (no plotting, no result writing here)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchlib.datasets import describe

from . import data


@dataclass
class Config:
    """The notebook's parameters (same names, same defaults as its parameters cell)."""

    seed: int = 0
    n_seeds: int = 3
    n_samples: int = 200
    noise: float = 1.0
    data_root: str = ""


@dataclass
class Run:
    config: Config
    dataset: str
    # per seed: per test sample, 1 where the method was right
    correct: dict = field(default_factory=dict)   # method -> list (one array per seed)


def fit_threshold(x: np.ndarray, y: np.ndarray) -> float:
    """The threshold (midway between the class means) used to predict label 1 above it."""
    return float((x[y == 0].mean() + x[y == 1].mean()) / 2)


def run(config: Config) -> Run:
    out = Run(config, dataset="")
    out.correct = {"threshold": [], "majority": []}
    used = []
    for s in range(config.seed, config.seed + config.n_seeds):
        ds = data.dataset(config.data_root, config.n_samples, config.noise, s)
        used.append(ds)
        df = data.load(ds.root)
        x, y = df["x"].to_numpy(float), df["label"].to_numpy(int)
        half = len(x) // 2
        t = fit_threshold(x[:half], y[:half])
        majority = int(round(y[:half].mean()))
        out.correct["threshold"].append((x[half:] > t).astype(int) == y[half:])
        out.correct["majority"].append(np.full(len(x) - half, majority) == y[half:])
    out.dataset = describe(used)
    return out
