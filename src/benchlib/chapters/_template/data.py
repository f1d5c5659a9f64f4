"""Data of the template chapter: a loader of the published layout (one CSV `samples.csv` with
columns x, label) and a seeded twin written in that same layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchlib import BenchlibError
from benchlib.datasets import Dataset, resolve

TWIN_VERSION = 1  # bump when the generator changes: the cached twin is then rewritten


def load(root) -> pd.DataFrame:
    """Read `<root>/samples.csv`; a clear error names the file and the problem."""
    path = Path(root) / "samples.csv"
    if not path.is_file():
        raise BenchlibError(f"{path}: missing (expected a CSV with columns x, label)")
    df = pd.read_csv(path)
    if list(df.columns) != ["x", "label"]:
        raise BenchlibError(f"{path}: columns must be x, label; found {', '.join(df.columns)}")
    if not df["label"].isin([0, 1]).all():
        raise BenchlibError(f"{path}: label must be 0 or 1")
    if not np.isfinite(df["x"].to_numpy(float)).all():
        raise BenchlibError(f"{path}: x holds NaN or infinite values")
    return df


def halves(df: pd.DataFrame):
    """((x, label) of the training half, (x, label) of the test half): the file's first and second
    half, as float and int arrays."""
    x, y = df["x"].to_numpy(float), df["label"].to_numpy(int)
    half = len(x) // 2
    return (x[:half], y[:half]), (x[half:], y[half:])


def write_twin(folder: Path, n_samples: int, noise: float, seed: int) -> None:
    """Two classes whose x differ by 1 on average, blurred by `noise` (the task's difficulty)."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n_samples)
    x = label + rng.normal(0, noise, n_samples)
    pd.DataFrame({"x": x, "label": label}).to_csv(folder / "samples.csv", index=False)


def dataset(data_root, n_samples: int, noise: float, seed: int) -> Dataset:
    return resolve(data_root, find_real=lambda p: p if (p / "samples.csv").is_file() else None,
                   real_name="samples.csv", twin_name="synth-template", twin_version=TWIN_VERSION,
                   twin_settings={"n_samples": n_samples, "noise": noise, "seed": seed},
                   write_twin=lambda f: write_twin(f, n_samples, noise, seed), seed=seed)
