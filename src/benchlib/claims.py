"""The claims engine: a paper's claims as data, three-state verdicts from CIs over seeds and units.

A `Claim` quotes the paper (statement + source), says which way the effect goes and by how
much (`direction`, `margin`, `unit`), and computes its effect from a chapter run as a
`Measurement`: per seed, one row per unit (image, block, query, repeat) of per-unit
quantities, plus `stat`, the function that turns the (seed-averaged) column means into the
effect. The same claim computed on the paper's own table numbers (`on_paper`) tells whether the
claim is the paper's at all.

Verdicts (`verdict_from_ci`), with e = direction × effect and its 95 % CI [lo, hi]:
*held* when lo > margin; *contradicted* when hi < −margin; *inconclusive* otherwise; *not tested*
when a precondition fails, a model it rests on is degenerate, or the rows were not run.
A claim that rests on training needs `min_seeds` seeds (3 by default) before it can be held or
contradicted; with fewer it is at most inconclusive, and says so.

The CI (`hierarchical_ci`) is a two-level bootstrap: resample seeds, then units within each
drawn seed, and recompute the effect; its standard error is then widened by Student's t with
(seeds − 1) degrees of freedom (and the √(S/(S−1)) bias of resampling S values), because with
three seeds the plain percentile interval is far too narrow. With one seed the interval is the
same over units (t with n − 1 degrees of freedom).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from . import BenchlibError

VERDICTS = ("held", "contradicted", "inconclusive", "not tested")
PAPER_VERDICTS = ("held", "contradicted", "n/a")
CLAIM_COLUMNS = ["claim_id", "statement", "source", "verdict", "effect", "ci_low", "ci_high", "unit",
                 "margin", "n_seeds", "n_units", "on_paper_numbers", "precondition", "evidence",
                 # after the design's columns: what a plot needs to orient and mark each claim
                 "direction", "reference", "paper_value"]
CHECK_COLUMNS = ["check_id", "statement", "passed", "detail"]


class NotTested(Exception):
    """Raised by an effect function when the rows it needs were not run."""


# --------------------------------------------------------------------------- measurements
@dataclass
class Measurement:
    """What a claim measured: per seed an (n_units, k) array; `stat(column_means) -> effect`.
    `batched=True` says `stat` also maps a (draws, k) array of column means to (draws,) effects
    in one call (the bootstrap then makes one call instead of one per draw; same values)."""

    per_seed: list
    stat: Callable[[np.ndarray], float]
    columns: Sequence[str] = ()
    detail: str = ""  # extra evidence text (what was compared, on which data)
    batched: bool = False

    def __post_init__(self):
        arrays = []
        for i, a in enumerate(self.per_seed):
            a = np.asarray(a, dtype=float)
            if a.ndim == 1:
                a = a[:, None]
            if a.ndim != 2 or a.shape[0] == 0:
                raise BenchlibError(f"measurement seed {i}: expected a non-empty (units, k) array, "
                                    f"got shape {a.shape}")
            if not np.isfinite(a).all():
                raise BenchlibError(f"measurement seed {i}: non-finite values")
            arrays.append(a)
        if not arrays:
            raise NotTested("no seed was measured")
        if len({a.shape[1] for a in arrays}) != 1:
            raise BenchlibError("measurement: every seed needs the same columns")
        self.per_seed = arrays

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed)

    @property
    def n_units(self) -> int:
        return int(sum(a.shape[0] for a in self.per_seed))

    def column_means(self) -> np.ndarray:
        return np.mean([a.mean(axis=0) for a in self.per_seed], axis=0)

    def effect(self) -> float:
        return float(self.stat(self.column_means()))


def difference(a_per_seed, b_per_seed, detail: str = "", names=("a", "b")) -> Measurement:
    """Effect = mean(a) − mean(b), units paired within each seed (same images / queries)."""
    per_seed = []
    for i, (a, b) in enumerate(zip(a_per_seed, b_per_seed)):
        a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
        if a.shape != b.shape:
            raise BenchlibError(f"paired difference, seed {i}: {a.size} vs {b.size} units")
        per_seed.append(np.stack([a, b], axis=1))
    return Measurement(per_seed, lambda m: m[0] - m[1], columns=names, detail=detail)


def ratio(a_per_seed, b_per_seed, detail: str = "", names=("a", "b")) -> Measurement:
    """Effect = mean(a) / mean(b) (e.g. a speed-up from paired timing repeats)."""
    m = difference(a_per_seed, b_per_seed, detail, names)
    m.stat = lambda v: v[0] / v[1]
    return m


def single(values_per_seed, detail: str = "", name="value") -> Measurement:
    """Effect = the mean of one per-unit quantity."""
    return Measurement([np.asarray(v, float).ravel() for v in values_per_seed], lambda m: m[0],
                       columns=(name,), detail=detail)


# --------------------------------------------------------------------------- statistics
def hierarchical_ci(m: Measurement, level: float = 0.95, n_boot: int = 2000, seed: int = 0):
    """(low, high) of the effect: two-level bootstrap (seeds, then units within a seed)."""
    rng = np.random.default_rng(seed)
    S = m.n_seeds
    # Per seed: n_boot × S independent unit-resampled column means (one per draw position).
    boot_means = []
    for a in m.per_seed:
        n, k = a.shape
        # Resampling units = multinomial weights times the data: a matrix product, fast even
        # for hundreds of columns, and bounded in memory.
        idx = rng.integers(0, n, size=(n_boot * S, n))
        w = np.bincount((np.arange(n_boot * S)[:, None] * n + idx).ravel(),
                        minlength=n_boot * S * n).reshape(n_boot * S, n) / n
        boot_means.append((w @ a).reshape(n_boot, S, k))  # (n_boot, S, k)
    boot_means = np.stack(boot_means)                     # (S_seeds, n_boot, S, k)
    pick = rng.integers(0, S, size=(n_boot, S))           # which seed fills each draw position
    b_idx = np.arange(n_boot)[:, None]
    j_idx = np.arange(S)[None, :]
    drawn = boot_means[pick, b_idx, j_idx]                # (n_boot, S, k)
    means = drawn.mean(axis=1)                            # (n_boot, k)
    stats = (np.asarray(m.stat(means), dtype=float).reshape(n_boot) if m.batched else
             np.array([m.stat(v) for v in means], dtype=float))
    stats = stats[np.isfinite(stats)]
    if stats.size < n_boot // 2:
        return (math.nan, math.nan)
    alpha = (1 - level) / 2
    from scipy import stats as st

    est = m.effect()
    if S == 1:
        # One seed: units only. Student's t on n − 1 degrees of freedom keeps 4-5 timing
        # repeats from giving the far-too-narrow interval a plain percentile bootstrap gives.
        n = m.per_seed[0].shape[0]
        if n < 2:
            return (math.nan, math.nan)
        half = float(st.t.ppf(1 - alpha, n - 1)) * float(stats.std(ddof=1)) * math.sqrt(n / (n - 1))
        return (est - half, est + half)
    se = float(stats.std(ddof=1)) * math.sqrt(S / (S - 1))
    half = float(st.t.ppf(1 - alpha, S - 1)) * se
    return (est - half, est + half)


def verdict_from_ci(lo: float, hi: float, direction: int, margin: float) -> str:
    if math.isnan(lo) or math.isnan(hi):
        return "inconclusive"
    lo, hi = sorted((direction * lo, direction * hi))
    if lo > margin:
        return "held"
    if hi < -margin:
        return "contradicted"
    return "inconclusive"


# --------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Precondition:
    """A fact about the run that a claim needs, e.g. "the baseline trained (F1 > 5)".
    `check(run) -> (ok, detail)`; `degenerate=True` marks a degenerate-model guard."""

    text: str
    check: Callable
    degenerate: bool = False


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str                 # the claim as the paper makes it
    source: str                    # where: section / table and a short quote
    effect: Callable               # run -> Measurement (raise NotTested when rows are missing)
    direction: int = +1            # +1: the paper says the effect is positive (beyond +margin)
    margin: float = 0.0
    unit: str = ""
    reference: float = 0.0         # the effect is judged as effect − reference (e.g. a ratio vs 1)
    preconditions: tuple = ()
    on_paper: Callable | None = None   # PaperTables -> effect on the paper's own numbers
    min_seeds: int = 1             # 3 for claims that rest on training


@dataclass(frozen=True)
class Check:
    """An identity or definitional fact: shown apart, never counted as a claim."""

    id: str
    statement: str
    check: Callable                # run -> (passed: bool, detail: str)


class PaperTables:
    """The paper's tables of one chapter, for `Claim.on_paper`."""

    def __init__(self, chapter: str, loader=None):
        from .papers import load_table

        self.chapter = chapter
        self._load = loader or (lambda t: load_table(chapter, t))

    def table(self, table) -> pd.DataFrame:
        return self._load(table)

    def value(self, table, method: str, metric: str, subset: str = "") -> float:
        df = self._load(table)
        hit = df[(df["method"] == method) & (df["metric"] == metric) & (df["subset"].astype(str) == subset)]
        if len(hit) != 1:
            raise BenchlibError(f"{self.chapter} table {table}: no single value for "
                                f"({method!r}, {metric!r}, {subset!r})")
        return float(hit["value"].iloc[0])


# --------------------------------------------------------------------------- evaluation
def paper_verdict(claim: Claim, paper: PaperTables | None) -> tuple[str, float]:
    if claim.on_paper is None or paper is None:
        return "n/a", math.nan
    value = float(claim.on_paper(paper))
    e = claim.direction * (value - claim.reference)
    return ("held" if e > claim.margin else "contradicted"), value


def _fmt(x: float) -> str:
    return "nan" if x is None or math.isnan(x) else f"{x:+.4g}"


def evaluate_claim(claim: Claim, run, paper: PaperTables | None = None, n_boot: int = 2000,
                   seed: int = 0) -> dict:
    """One claims.csv row."""
    on_paper, paper_value = paper_verdict(claim, paper)
    row = {"claim_id": claim.id, "statement": claim.statement, "source": claim.source,
           "verdict": "not tested", "effect": math.nan, "ci_low": math.nan, "ci_high": math.nan,
           "unit": claim.unit, "margin": claim.margin, "n_seeds": 0, "n_units": 0,
           "on_paper_numbers": on_paper, "precondition": "", "evidence": "",
           "direction": claim.direction, "reference": claim.reference, "paper_value": paper_value}
    paper_txt = "" if math.isnan(paper_value) else f"; on the paper's numbers: {paper_value:.4g}"
    # Preconditions first: a failed one means the claim was not tested on this run.
    pre_txt = []
    for p in claim.preconditions:
        try:
            ok, detail = p.check(run)
        except NotTested as e:
            ok, detail = False, str(e)
        pre_txt.append(f"{p.text}: {'ok' if ok else 'FAILED'} ({detail})")
        if not ok:
            kind = "degenerate model" if p.degenerate else "precondition failed"
            row.update(verdict="not tested", precondition="; ".join(pre_txt),
                       evidence=f"not tested: {kind}: {p.text} ({detail}){paper_txt}")
            return row
    row["precondition"] = "; ".join(pre_txt)
    try:
        m = claim.effect(run)
    except NotTested as e:
        row["evidence"] = f"not tested: {e}{paper_txt}"
        return row
    effect = m.effect()
    lo, hi = hierarchical_ci(m, n_boot=n_boot, seed=seed)
    verdict = verdict_from_ci(lo - claim.reference, hi - claim.reference, claim.direction, claim.margin)
    note = ""
    if m.n_seeds < claim.min_seeds and verdict != "inconclusive":
        note = f" ({verdict} on {m.n_seeds} seed(s), but a verdict needs ≥ {claim.min_seeds})"
        verdict = "inconclusive"
    cols = ", ".join(f"{c} {v:.4g}" for c, v in zip(m.columns, m.column_means())) if m.columns else ""
    evidence = (f"{cols + '; ' if cols else ''}effect {effect:.4g} {claim.unit}".rstrip()
                + f", 95% CI [{lo:.4g}, {hi:.4g}] over {m.n_seeds} seed(s) × {m.n_units} units"
                + (f"; margin {claim.margin:g}" if claim.margin else "")
                + (f"; reference {claim.reference:g}" if claim.reference else "")
                + note + (f"; {m.detail}" if m.detail else "") + paper_txt)
    row.update(verdict=verdict, effect=effect, ci_low=lo, ci_high=hi, n_seeds=m.n_seeds,
               n_units=m.n_units, evidence=evidence)
    return row


def evaluate(claims: Sequence[Claim], run, paper: PaperTables | None = None, n_boot: int = 2000,
             seed: int = 0) -> pd.DataFrame:
    """claims.csv for a run: one row per claim, in declaration order."""
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise BenchlibError(f"duplicate claim ids: {ids}")
    rows = [evaluate_claim(c, run, paper, n_boot=n_boot, seed=seed) for c in claims]
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def run_checks(checks: Sequence[Check], run) -> pd.DataFrame:
    """checks.csv for a run: identities and definitional facts, apart from the claims."""
    rows = []
    for c in checks:
        try:
            ok, detail = c.check(run)
        except NotTested as e:
            ok, detail = None, f"not run: {e}"
        rows.append({"check_id": c.id, "statement": c.statement,
                     "passed": "n/a" if ok is None else ("yes" if ok else "NO"), "detail": detail})
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def on_paper_table(claims: Sequence[Claim], paper: PaperTables) -> pd.DataFrame:
    """Every claim computed on the paper's own numbers (claim_id, value, verdict)."""
    rows = []
    for c in claims:
        v, value = paper_verdict(c, paper)
        rows.append({"claim_id": c.id, "on_paper_value": value, "on_paper_numbers": v})
    return pd.DataFrame(rows)


def counts(claims_frame: pd.DataFrame) -> dict:
    """Claims by verdict (for the summary's scoreboard)."""
    v = claims_frame["verdict"].astype(str) if len(claims_frame) else pd.Series([], dtype=str)
    return {k: int((v == k).sum()) for k in VERDICTS}


# --------------------------------------------------------------------------- helpers for chapters
def degenerate_guard(name: str, score: Callable, floor: float, what: str = "score") -> Precondition:
    """Precondition: the model `name` is not at the floor (`score(run)` per seed must all exceed
    `floor`), e.g. a trained network's F1 above 5 points."""

    def check(run):
        values = np.atleast_1d(np.asarray(score(run), dtype=float))
        ok = bool(values.size and np.all(values > floor))
        return ok, f"{name} {what} per seed {', '.join(f'{v:.3g}' for v in values)} vs floor {floor:g}"

    return Precondition(f"{name} is not degenerate ({what} > {floor:g})", check, degenerate=True)
