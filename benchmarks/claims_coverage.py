"""Coverage and power of the claims engine's interval, by simulation (issue: crossed designs).

    python3 benchmarks/claims_coverage.py [--reps 1000] [--old-reps 300] [--out benchmarks/claims_coverage.csv]

Grid: seeds S ∈ {3, 5, 10} × units N ∈ {10, 30, 70, 300} × three variance regimes
(`engine_demo.REGIMES`) × crossed / nested designs. Per cell: coverage of the truth by the 95 %
interval, the rate of false "held" when the true effect is 0, and power (held) at true effects of 2
and 3 standard errors of the design. Targets: coverage ≥ 93 % and false held ≤ 3.5 % in every cell.
The same is run for the rule the engine used before (a two-level bootstrap widened by t(S − 1)),
fewer replications (it is slow), so the two can be read side by side.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchlib.chapters.metrics_appendix.engine_demo import coverage_study


def old_rule(m, n_boot: int = 400, seed: int = 0):
    """The previous engine's interval (for comparison only): resample seeds, then units independently
    within each drawn seed, and widen the bootstrap SE by t(S − 1)·√(S/(S − 1))."""
    from scipy import stats as st

    rng = np.random.default_rng(seed)
    S = m.n_seeds
    A = np.stack(m.per_seed)                                  # (S, n, k): the study's seeds have equal n
    n = A.shape[1]
    pick = rng.integers(0, S, (n_boot, S))
    idx = rng.integers(0, n, (n_boot, S, n))
    means = A[pick[:, :, None], idx].mean(axis=2).mean(axis=1)   # (n_boot, k)
    draws = np.asarray(m.stat(means), float)                  # the study's stat is linear: batched
    se = float(np.std(draws, ddof=1)) * math.sqrt(S / (S - 1))
    half = float(st.t.ppf(0.975, S - 1)) * se
    est = m.effect()
    return est - half, est + half


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--old-reps", type=int, default=300, help="replications for the old rule (0: skip)")
    ap.add_argument("--out", default=str(Path(__file__).with_name("claims_coverage.csv")))
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    new = coverage_study(reps=a.reps).assign(rule="engine (crossed/nested ANOVA, per-term t)")
    t_new = time.perf_counter() - t0
    frames = [new]
    if a.old_reps:
        t1 = time.perf_counter()
        frames.append(coverage_study(reps=a.old_reps, rule=old_rule).assign(rule="before (two-level bootstrap, t(S−1))"))
        print(f"old rule: {time.perf_counter() - t1:.0f} s", file=sys.stderr)
    out = pd.concat(frames, ignore_index=True)
    out.to_csv(a.out, index=False)
    ok_cov = (new["coverage"] >= 0.93).all()
    ok_fh = (new["false_held"] <= 0.035).all()
    print(f"engine: {len(new)} cells × {a.reps} reps in {t_new:.0f} s; min coverage {new['coverage'].min():.3f}, "
          f"max false held {new['false_held'].max():.3f} → targets {'met' if ok_cov and ok_fh else 'NOT met'}")
    if a.old_reps:
        old = frames[1]
        print(f"before: min coverage {old['coverage'].min():.3f}, max false held {old['false_held'].max():.3f}")
        merged = new.merge(old, on=["seeds", "units", "regime", "design"], suffixes=("", "_before"))
        print(merged.groupby(["design", "seeds"])[["coverage", "coverage_before", "power_3se", "power_3se_before"]]
              .mean().round(3).to_string())
    print(f"written {a.out}")
    return 0 if ok_cov and ok_fh else 1


if __name__ == "__main__":
    sys.exit(main())
