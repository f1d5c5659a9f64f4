"""Worked examples of the claims engine for the appendix: one verdict of each kind with its reason,
and a coverage / power study of the interval on simulated crossed and nested designs.

The simulation: y[seed, unit] = truth + seed offset + unit effect + residual, each normal. Crossed:
the same unit effects under every seed (the chapters score the same test images under each training
seed); nested: fresh units under each seed. `benchmarks/claims_coverage.py` runs the full grid."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchlib.claims import Claim, NotTested, Precondition, analyse, evaluate, single, verdict_from_ci

# Variance regimes, as SDs (seed, unit, residual) of one per-unit effect. Ratios as measured in the
# chapters' own claims (claims_data.npz of the default run; `variance_components` reads them):
# seed-dominated like satellite's paired F1 gaps, unit-dominated like co-saliency's FT gains,
# balanced in between.
REGIMES = {"seed-dominated": (1.0, 0.5, 0.5), "balanced": (0.3, 1.0, 0.7), "unit-dominated": (0.05, 1.0, 0.5)}


def simulate(rng, truth: float, sd_seed: float, sd_unit: float, n_seeds: int, n_units: int,
             sd_res: float = 0.0, crossed: bool = True) -> list:
    """Per seed, per-unit effects: the truth + a seed offset + unit effects (shared by every seed when
    crossed) + residual noise."""
    shared = rng.normal(0, sd_unit, n_units)
    return [truth + rng.normal(0, sd_seed) + (shared if crossed else rng.normal(0, sd_unit, n_units))
            + rng.normal(0, sd_res, n_units) for _ in range(n_seeds)]


def true_se(sd_seed, sd_unit, sd_res, n_seeds, n_units, crossed=True) -> float:
    """The standard error of the grand mean under the simulated design (worked out, not estimated)."""
    if crossed:
        return math.sqrt(sd_seed ** 2 / n_seeds + sd_unit ** 2 / n_units + sd_res ** 2 / (n_seeds * n_units))
    return math.sqrt(sd_seed ** 2 / n_seeds + (sd_unit ** 2 + sd_res ** 2) / (n_seeds * n_units))


def study_cell(n_seeds: int, n_units: int, regime: str, crossed: bool, reps: int, seed: int = 0,
               rule=None) -> dict:
    """Coverage of the truth, false 'held' at a true effect of 0, and power at true effects of 2 and 3
    standard errors, for one design. `rule(measurement) -> (low, high)`; default: the engine's."""
    rule = rule or (lambda m: (lambda a: (a.low, a.high))(analyse(m)))
    sd = REGIMES[regime]
    se = true_se(*sd, n_seeds, n_units, crossed)
    rng = np.random.default_rng([seed, n_seeds, n_units, int(crossed), list(REGIMES).index(regime)])
    cover = false_held = 0
    power = {2: 0, 3: 0}
    for _ in range(reps):
        base = simulate(rng, 0.0, *sd[:2], n_seeds, n_units, sd_res=sd[2], crossed=crossed)
        lo, hi = rule(single(base, shared_units=crossed))
        cover += lo <= 0.0 <= hi
        false_held += verdict_from_ci(lo, hi, +1, 0.0) == "held"
        for k in power:   # the same noise shifted by k true SEs: power at that effect
            shifted = single([b + k * se for b in base], shared_units=crossed)
            power[k] += verdict_from_ci(*rule(shifted), +1, 0.0) == "held"
    return {"seeds": n_seeds, "units": n_units, "regime": regime, "design": "crossed" if crossed else "nested",
            "reps": reps, "coverage": cover / reps, "false_held": false_held / reps,
            "power_2se": power[2] / reps, "power_3se": power[3] / reps}


def coverage_study(seeds=(3, 5, 10), units=(10, 30, 70, 300), regimes=tuple(REGIMES),
                   designs=(True, False), reps: int = 1000, seed: int = 0, rule=None, progress=None) -> pd.DataFrame:
    cells = [(s, n, r, c) for s in seeds for n in units for r in regimes for c in designs]
    rows = []
    for cell in (progress(cells) if progress else cells):
        rows.append(study_cell(*cell, reps=reps, seed=seed, rule=rule))
    return pd.DataFrame(rows)


def verdict_examples(seed: int = 0) -> pd.DataFrame:
    """One claim ("the effect is positive, margin 1") judged on synthetic runs: one verdict of each
    kind, with the engine's reason."""
    rng = np.random.default_rng(seed)
    cases = {"clear gain, 3 seeds": (3.0, 0.3, 2.0, 3), "gain but seeds disagree": (2.0, 3.0, 2.0, 3),
             "clear loss, 3 seeds": (-1.0, 0.3, 2.0, 3), "clear gain, 1 seed": (3.0, 0.0, 2.0, 1),
             "baseline did not train": (3.0, 0.3, 2.0, 3)}
    rows = []
    for name, (t, ss, su, n) in cases.items():
        run = simulate(rng, t, ss, su, n, 40, sd_res=0.5)
        pre = (Precondition("the baseline trained (F1 above 5 on every seed)",
                            lambda r: (False, "F1 per seed 0.0, 0.0, 0.0")),) if "not train" in name else ()
        claim = Claim("demo", "the effect is positive", "appendix", effect=single, margin=1.0,
                      margin_source="demo: a gain of at least 1 point", unit="points", min_seeds=3,
                      preconditions=pre)
        r = evaluate([claim], run).iloc[0]
        rows.append({"case": name, "verdict": r.verdict, "effect": r.effect, "ci_low": r.ci_low,
                     "ci_high": r.ci_high, "mde": r.mde, "design": r.design, "reason": r.reason})
    return pd.DataFrame(rows)


def variance_components(claims_data: dict) -> pd.DataFrame:
    """Seed, unit and residual SDs of each measured claim (from `benchlib.claims.load_evidence`)."""
    rows = []
    for cid, (m, _, _) in claims_data.items():
        if m is None:
            continue
        a = analyse(m)
        rows.append({"claim_id": cid, "design": m.design, "sd_seed": a.sd_seed, "sd_unit": a.sd_unit,
                     "sd_res": a.sd_res})
    if not rows:
        raise NotTested("no measured claim")
    return pd.DataFrame(rows)


def published_study(path=None) -> pd.DataFrame:
    """The full study's summary per rule, design and number of seeds, from the file
    `benchmarks/claims_coverage.py` writes (worst cell for coverage and false held, mean power)."""
    from benchlib import BenchlibError
    from benchlib.paths import project_root

    path = path or project_root() / "benchmarks" / "claims_coverage.csv"
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError) as e:
        raise BenchlibError(f"{path}: the coverage study's results cannot be read ({e}); "
                            "run python3 benchmarks/claims_coverage.py") from None
    g = df.groupby(["rule", "design", "seeds"], sort=False)
    return g.agg(cells=("coverage", "size"), reps=("reps", "min"), min_coverage=("coverage", "min"),
                 max_false_held=("false_held", "max"), power_2se=("power_2se", "mean"),
                 power_3se=("power_3se", "mean")).reset_index()
