"""Worked examples of the claims engine for the appendix: verdicts on synthetic effects, and how
often the 95 % interval covers a known truth."""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchlib.claims import Claim, evaluate, hierarchical_ci, single


def simulate(rng, truth: float, sd_seed: float, sd_unit: float, n_seeds: int, n_units: int) -> list:
    """Per seed, per-unit effects: the truth + a seed offset (training noise) + unit noise."""
    return [truth + rng.normal(0, sd_seed) + rng.normal(0, sd_unit, n_units) for _ in range(n_seeds)]


def verdict_examples(seed: int = 0) -> pd.DataFrame:
    """One claim ("the effect is positive, margin 1") judged on five synthetic runs."""
    rng = np.random.default_rng(seed)
    cases = {"clear gain, 3 seeds": (3.0, 0.5, 2.0, 3), "no effect, 3 seeds": (0.0, 0.5, 2.0, 3),
             "clear loss, 3 seeds": (-3.0, 0.5, 2.0, 3), "gain but seeds disagree": (2.0, 3.0, 2.0, 3),
             "clear gain, 1 seed": (3.0, 0.0, 2.0, 1)}
    runs = {name: simulate(rng, t, ss, su, n, 40) for name, (t, ss, su, n) in cases.items()}
    claim = Claim("demo", "the effect is positive", "appendix", effect=lambda run: single(run),
                  margin=1.0, unit="points", min_seeds=3)
    rows = []
    for name, run in runs.items():
        r = evaluate([claim], run).iloc[0]
        rows.append({"case": name, "effect": r.effect, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "seeds": r.n_seeds, "verdict": r.verdict})
    return pd.DataFrame(rows)


def coverage(n_trials: int = 200, n_boot: int = 400, seed: int = 0) -> pd.DataFrame:
    """Share of intervals that contain the truth, for seed-dominated and unit-dominated noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, sd_seed, sd_unit, n_seeds in [("seed noise dominates, 3 seeds", 1.0, 0.3, 3),
                                             ("unit noise dominates, 3 seeds", 0.2, 1.0, 3),
                                             ("one seed, units only", 0.0, 1.0, 1),
                                             ("both, 5 seeds", 1.0, 1.0, 5)]:
        hits = 0
        for t in range(n_trials):
            lo, hi = hierarchical_ci(single(simulate(rng, 2.0, sd_seed, sd_unit, n_seeds, 30)), n_boot=n_boot, seed=t)
            hits += lo <= 2.0 <= hi
        rows.append({"noise": label, "trials": n_trials, "coverage of the 95 % CI": hits / n_trials})
    return pd.DataFrame(rows)
