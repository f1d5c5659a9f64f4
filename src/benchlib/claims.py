"""The claims engine: a paper's claims as data, three-state verdicts from intervals over seeds and units.

A `Claim` quotes the paper (statement + source), says which way the effect goes and by how much
(`direction`, `reference`, `margin`, with `margin_source` citing where a non-zero margin comes from),
and computes its effect from a chapter run as a `Measurement`: per seed, one row per unit (image, tile,
query, repeat) of per-unit quantities, plus `stat`, a named function (`Stat`) that turns the column
means into the effect. The same claim computed on the paper's own table numbers (`on_paper`) tells
whether the claim is the paper's at all.

Verdicts, with e = direction × (effect − reference) and its 95 % interval [lo, hi]: *held* when
lo > margin; *contradicted* when hi < margin (the whole interval on the wrong side of the claimed size);
*inconclusive* otherwise; *not tested* when a precondition fails or the rows were not run. The on-paper
verdict applies the same rule to the paper's point value. A claim that rests on training needs
`min_seeds` seeds (3) before it can be decided.

The interval (`interval`) is analytic and deterministic, so anyone can recompute it from the saved
evidence (`claims_data.npz`, `recompute`). The statistic is linearised at the column means (delta
method: per unit, z = ∇stat · y); the variance of the mean of z comes from the design actually run:
- crossed (the same units under every seed, `shared_units=True`): two-way ANOVA without replication,
  Var = σ²_seed/S + σ²_unit/N + σ²_res/(SN), estimated by (MS_seed + MS_unit)/(SN) (which adds
  σ²_res/(SN): slightly conservative, never negative); degrees of freedom by Satterthwaite;
- nested (other units under each seed): the variance of the S seed means / S, with S − 1 d.f.;
- one seed: the units' variance / N, N − 1 d.f. (conditional on that seed: min_seeds guards claims
  that rest on training).
The interval is Student's t on those d.f. A bounded effect (`bounds`) is done on the logit (two
bounds) or log (one bound) scale and mapped back, so it never leaves its range.
`benchmarks/claims_coverage.py` checks coverage and false-held rates of this rule by simulation.
"""
from __future__ import annotations

import importlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from . import BenchlibError

VERDICTS = ("held", "contradicted", "inconclusive", "not tested")
BY_CONSTRUCTION = "by construction"   # scoreboard bucket: held, but only because of how the twin is made
PAPER_VERDICTS = ("held", "contradicted", "inconclusive", "n/a")
CLAIM_COLUMNS = ["claim_id", "statement", "source", "verdict", "effect", "ci_low", "ci_high", "unit",
                 "margin", "n_seeds", "n_units", "on_paper_numbers", "precondition", "evidence",
                 "reason", "mde", "paper_effect", "design",
                 # what a plot or a reader needs to orient, mark and weigh each claim
                 "direction", "reference", "margin_source", "by_construction",
                 "verdict_half_margin", "verdict_double_margin", "seeds_needed"]
CHECK_COLUMNS = ["check_id", "statement", "passed", "detail"]
EVIDENCE_FILE = "claims_data.npz"
POWER = 0.80


class NotTested(Exception):
    """Raised by an effect function when the rows it needs were not run."""


# --------------------------------------------------------------------------- named statistics
class Stat:
    """`fn(column_means, **params) -> effect`, saved by name so that `recompute` can re-import it:
    `fn` must be a module-level function and `params` JSON values."""

    def __init__(self, fn: Callable, **params):
        qual = getattr(fn, "__qualname__", "")
        if not callable(fn) or "<" in qual or not getattr(fn, "__module__", None):
            raise BenchlibError(f"Stat needs a module-level function, got {fn!r} (a lambda or closure "
                                "cannot be re-imported by recompute)")
        try:
            self.params = json.loads(json.dumps(params))
        except TypeError as e:
            raise BenchlibError(f"Stat {qual}: parameters must be JSON values ({e})") from None
        self.fn = fn
        self.name = f"{fn.__module__}:{qual}"

    def __call__(self, v):
        return self.fn(np.asarray(v, dtype=float), **self.params)

    def spec(self) -> dict:
        return {"fn": self.name, "params": self.params}

    @classmethod
    def from_spec(cls, spec: dict) -> "Stat":
        try:
            module, qual = spec["fn"].split(":")
            obj = importlib.import_module(module)
            for part in qual.split("."):
                obj = getattr(obj, part)
        except (KeyError, ValueError, ImportError, AttributeError) as e:
            raise BenchlibError(f"statistic {spec.get('fn')!r} cannot be imported ({e})") from None
        return cls(obj, **spec.get("params", {}))

    def __repr__(self):
        return f"Stat({self.name}, {self.params})"


def linear(v, w):
    """w · v (w = [1, −1]: a difference of two columns; [1]: one column's mean)."""
    return np.asarray(v, float) @ np.asarray(w, float)


def min_linear(v, w, b=None):
    """The smallest of several linear effects: min over rows of W v + b (e.g. the weakest of gains)."""
    out = np.asarray(v, float) @ np.asarray(w, float).T
    if b is not None:
        out = out + np.asarray(b, float)
    return out.min(axis=-1)


def ratio_of(v, i=0, j=1):
    v = np.asarray(v, float)
    return v[..., i] / v[..., j]


# --------------------------------------------------------------------------- measurements
@dataclass
class Measurement:
    """What a claim measured: per seed an (n_units, k) array; `stat(column_means) -> effect`.
    `shared_units=True`: the same units, in the same order, under every seed (crossed design);
    False: other units under each seed (nested). `bounds`: the effect's range (None = open).
    `batched=True` says `stat` also maps a (m, k) array to (m,) effects in one call."""

    per_seed: list
    stat: Callable[[np.ndarray], float]
    columns: Sequence[str] = ()
    detail: str = ""
    batched: bool = False
    shared_units: bool = True
    bounds: tuple = (None, None)
    units: str = "units"            # what a unit is, for the design line ("images", "queries")
    seeds: Sequence | None = None   # the seeds' labels, when the claim knows them

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
        if self.shared_units and len({a.shape[0] for a in arrays}) != 1:
            raise BenchlibError("measurement: shared_units=True (the same units under every seed) but the "
                                f"seeds have {sorted({a.shape[0] for a in arrays})} units")
        lo, hi = (tuple(self.bounds) + (None, None))[:2]
        self.bounds = (None if lo is None else float(lo), None if hi is None else float(hi))
        self.per_seed = arrays

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed)

    @property
    def n_units(self) -> int:
        """Distinct units: per seed when crossed, all together when nested."""
        if self.shared_units:
            return int(self.per_seed[0].shape[0])
        return int(sum(a.shape[0] for a in self.per_seed))

    @property
    def design(self) -> str:
        if self.n_seeds == 1:
            return f"1 seed × {self.n_units} {self.units}"
        kind = "crossed" if self.shared_units else "nested"
        per = self.n_units if self.shared_units else f"{self.n_units} (in all)"
        return f"{self.n_seeds} seeds × {per} {self.units}, {kind}"

    def column_means(self) -> np.ndarray:
        return np.mean([a.mean(axis=0) for a in self.per_seed], axis=0)

    def effect(self) -> float:
        return float(self.stat(self.column_means()))


def _pair(a_per_seed, b_per_seed):
    per_seed = []
    for i, (a, b) in enumerate(zip(a_per_seed, b_per_seed, strict=True)):
        a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
        if a.shape != b.shape:
            raise BenchlibError(f"paired measurement, seed {i}: {a.size} vs {b.size} units")
        per_seed.append(np.stack([a, b], axis=1))
    return per_seed


def difference(a_per_seed, b_per_seed, detail: str = "", names=("a", "b"), shared_units: bool = True,
               bounds=(None, None), units: str = "units") -> Measurement:
    """Effect = mean(a) − mean(b), units paired within each seed (same images / queries)."""
    return Measurement(_pair(a_per_seed, b_per_seed), Stat(linear, w=[1.0, -1.0]), columns=names,
                       detail=detail, shared_units=shared_units, bounds=bounds, units=units)


def ratio(a_per_seed, b_per_seed, detail: str = "", names=("a", "b"), shared_units: bool = True,
          units: str = "units") -> Measurement:
    """Effect = mean(a) / mean(b) of positive quantities (e.g. a speed-up from paired timing repeats)."""
    return Measurement(_pair(a_per_seed, b_per_seed), Stat(ratio_of), columns=names, detail=detail,
                       shared_units=shared_units, bounds=(0.0, None), units=units)


def single(values_per_seed, detail: str = "", name="value", shared_units: bool = True,
           bounds=(None, None), units: str = "units") -> Measurement:
    """Effect = the mean of one per-unit quantity."""
    return Measurement([np.asarray(v, float).ravel() for v in values_per_seed], Stat(linear, w=[1.0]),
                       columns=(name,), detail=detail, shared_units=shared_units, bounds=bounds, units=units)


# --------------------------------------------------------------------------- the interval
def _transform(bounds, x):
    """(forward, inverse) maps of the scale on which a bounded effect's interval is made."""
    lo, hi = bounds
    if lo is not None and hi is not None and hi > lo:
        f = lambda t: np.log((t - lo) / (hi - t))                         # noqa: E731
        g = lambda u: lo + (hi - lo) / (1 + np.exp(-u))                   # noqa: E731
    elif lo is not None and hi is None:
        f, g = (lambda t: np.log(t - lo)), (lambda u: lo + np.exp(u))    # noqa: E731
    elif hi is not None and lo is None:
        f, g = (lambda t: np.log(hi - t)), (lambda u: hi - np.exp(u))    # noqa: E731
    else:
        return None
    with np.errstate(all="ignore"):
        return (f, g) if np.isfinite(f(np.float64(x))) else None   # at a bound: identity scale, then clipped


def _gradient(fun, x, batched: bool):
    """Central differences of a scalar function of the column means."""
    k = x.size
    h = 1e-6 * (np.abs(x) + 1e-3 * (np.abs(x).max() + 1e-12)) + 1e-12
    steps = np.eye(k) * h
    pts = np.concatenate([x + steps, x - steps])
    vals = fun(pts) if batched else np.array([fun(p) for p in pts])
    vals = np.asarray(vals, float).reshape(2 * k)
    return (vals[:k] - vals[k:]) / (2 * h)


@dataclass
class Analysis:
    """The effect, its interval and what the design could detect."""

    effect: float
    low: float
    high: float
    se: float             # standard error on the claim's own scale (delta method)
    df: float
    sd_seed: float        # SDs of the linearised per-unit effect: between seeds, between units, residual
    sd_unit: float
    sd_res: float
    n_seeds: int
    n_units: int
    shared: bool

    terms: list = field(default_factory=list)   # [(variance, d.f.)] of the estimate

    def terms_with(self, n_seeds: int) -> list:
        """The variance terms the same design would have with `n_seeds` seeds (expected mean squares
        from this run's components)."""
        S = n_seeds
        vs, vu, vr = self.sd_seed ** 2, self.sd_unit ** 2, self.sd_res ** 2
        if self.shared:
            N = max(self.n_units, 1)
            if S == 1:
                return [((vu + vr) / N, N - 1.0)]
            return [((vr + N * vs) / (S * N), S - 1.0), ((vr + S * vu) / (S * N), max(N - 1.0, 1.0))]
        N = max(self.n_units // max(self.n_seeds, 1), 1)
        return [((vs + vu / N) / S, max(S - 1.0, 1.0))]


def _components(z, shared: bool):
    """Variance terms [(v, d.f.)] of the grand mean of the linearised values z (their sum is its
    variance), and the SDs (seed, unit, residual) of one value."""
    if shared:
        z = np.asarray(z, float)                      # (S, N)
        S, N = z.shape
        if S == 1 or N == 1:
            flat = z.ravel()
            n = flat.size
            if n < 2:
                return [], 0.0, 0.0, 0.0
            v = float(flat.var(ddof=1))
            return [(v / n, n - 1.0)], (math.sqrt(v) if N == 1 else 0.0), (math.sqrt(v) if S == 1 else 0.0), 0.0
        g = z.mean()
        r, c = z.mean(axis=1), z.mean(axis=0)
        ms_s = N * float(((r - g) ** 2).sum()) / (S - 1)
        ms_u = S * float(((c - g) ** 2).sum()) / (N - 1)
        ms_r = float(((z - r[:, None] - c[None, :] + g) ** 2).sum()) / ((S - 1) * (N - 1))
        # E[MS_seed] = σ²_r + Nσ²_s and E[MS_unit] = σ²_r + Sσ²_u, so (MS_seed + MS_unit)/(SN) is the
        # variance of the grand mean plus σ²_r/(SN): a little conservative and never negative
        # (subtracting MS_res would be unbiased but undercovers: benchmarks/claims_coverage.py)
        terms = [(ms_s / (S * N), S - 1.0), (ms_u / (S * N), N - 1.0)]
        return (terms, math.sqrt(max(ms_s - ms_r, 0.0) / N), math.sqrt(max(ms_u - ms_r, 0.0) / S),
                math.sqrt(ms_r))
    seeds = [np.asarray(a, float) for a in z]
    S = len(seeds)
    if S == 1:
        return _components(seeds[0][None, :], True)
    means = np.array([a.mean() for a in seeds])
    within = np.mean([a.var(ddof=1) if a.size > 1 else 0.0 for a in seeds])
    n_bar = np.mean([a.size for a in seeds])
    v = float(means.var(ddof=1))
    return [(v / S, S - 1.0)], math.sqrt(max(v - within / n_bar, 0.0)), math.sqrt(within), 0.0


def _half_width(terms, level: float) -> float:
    """Each variance term widened by its own Student quantile (Banerjee's conservative rule for a sum
    of independent variance estimates): exact t when one term dominates, never narrower than
    Satterthwaite's, whose estimated d.f. undercover with 3 seeds (simulated: 92 %)."""
    from scipy import stats as st

    q = st.t.ppf(0.5 + level / 2, [d for _, d in terms])
    return math.sqrt(sum(qi * qi * v for qi, (v, _) in zip(q, terms)))


def _satterthwaite(terms) -> float:
    var = sum(v for v, _ in terms)
    den = sum(v * v / d for v, d in terms if v > 0)
    return var * var / den if den > 0 else math.inf


def _varies(m: Measurement, est: float) -> bool:
    """Whether the statistic takes another value on parts of the data (each seed alone, each half of
    the units); when it does not (e.g. an F1 of 0 with no true positive anywhere), a zero-width
    interval is what any resampling would give too."""
    parts = [a.mean(axis=0) for a in m.per_seed]
    for half in (slice(0, None, 2), slice(1, None, 2)):
        if all(a[half].shape[0] for a in m.per_seed):
            parts.append(np.mean([a[half].mean(axis=0) for a in m.per_seed], axis=0))
    vals = np.asarray(m.stat(np.stack(parts)) if m.batched else [m.stat(p) for p in parts], float)
    return not np.allclose(vals, est, rtol=1e-12, atol=1e-12)


def analyse(m: Measurement, level: float = 0.95) -> Analysis:
    """Effect, interval, standard error and variance components of a measurement (see the module)."""
    x = m.column_means()
    est = m.effect()
    nan = Analysis(est, math.nan, math.nan, math.nan, math.nan, 0.0, 0.0, 0.0, m.n_seeds, m.n_units,
                   m.shared_units, [])
    if not math.isfinite(est):
        return nan
    lo_b, hi_b = m.bounds
    tr = _transform(m.bounds, est)

    def lin(fun):
        g = _gradient(fun, x, m.batched)
        if not np.isfinite(g).all():
            return None
        z = [a @ g for a in m.per_seed]
        return _components(np.stack(z) if m.shared_units else z, m.shared_units)

    plain = lin(m.stat)
    if plain is None or not plain[0]:
        return nan
    if all(v == 0 for v, _ in plain[0]) and _varies(m, est):
        # flat at the means (a rank, a threshold) yet different on parts of the data: the
        # linearisation says nothing about its spread, so no interval rather than a falsely exact one
        return nan
    terms, sd_s, sd_u, sd_r = plain
    se = math.sqrt(sum(v for v, _ in terms))
    h = _half_width(terms, level)
    low, high = est - h, est + h
    if tr is not None:
        f, g = tr
        on_scale = lin(lambda v: f(m.stat(v)))
        if on_scale is not None and on_scale[0]:
            ft, ht = float(f(est)), _half_width(on_scale[0], level)
            low, high = sorted((float(g(ft - ht)), float(g(ft + ht))))
    if lo_b is not None:
        low, high = max(low, lo_b), max(high, lo_b)
    if hi_b is not None:
        low, high = min(low, hi_b), min(high, hi_b)
    return Analysis(est, low, high, se, _satterthwaite(terms), sd_s, sd_u, sd_r, m.n_seeds, m.n_units,
                    m.shared_units, terms)


def interval(measurement: Measurement, level: float = 0.95, n_boot=None, seed=None) -> tuple[float, float]:
    """(low, high) of the effect, right for crossed and nested designs and inside the effect's bounds.
    Analytic and deterministic (`n_boot` and `seed` are accepted for old callers and not used)."""
    a = analyse(measurement, level)
    return (a.low, a.high)


def verdict_from_ci(lo: float, hi: float, direction: int, margin: float) -> str:
    """held: the interval (of effect − reference) is clear of the claimed size in the claimed direction;
    contradicted: wholly on the other side of it; inconclusive otherwise."""
    if math.isnan(lo) or math.isnan(hi):
        return "inconclusive"
    lo, hi = sorted((direction * lo, direction * hi))
    if lo > margin:
        return "held"
    if hi < margin:
        return "contradicted"
    return "inconclusive"


def mde(a: Analysis, margin: float = 0.0, level: float = 0.95, n_seeds: int | None = None) -> float:
    """The smallest true effect (beyond the reference, in the claimed direction) that the design detects
    with 80 % power: margin + (t_{1−α/2} + t_{power}) · SE."""
    from scipy import stats as st

    terms = a.terms if n_seeds is None else a.terms_with(n_seeds)
    if not terms:
        return math.nan
    se = math.sqrt(sum(v for v, _ in terms))
    df = _satterthwaite(terms)
    if not (math.isfinite(se) and df > 0):
        return math.nan
    return margin + _half_width(terms, level) + float(st.t.ppf(POWER, df)) * se


def seeds_needed(a: Analysis, target: float, margin: float = 0.0, limit: int = 1000) -> int | None:
    """Fewest seeds whose MDE reaches `target` (None: not within `limit`, more units are needed)."""
    if not (math.isfinite(target) and target > margin):
        return None
    for s in range(max(a.n_seeds, 2), limit + 1):
        if mde(a, margin, n_seeds=s) <= target:
            return s
    return None


# --------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Precondition:
    """A fact about the run that a claim needs, stated as a requirement in plain words ("the baseline
    trained: F1 above 5"). `check(run) -> (ok, detail)`; `degenerate=True` marks a degenerate-model guard."""

    text: str
    check: Callable
    degenerate: bool = False


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str                 # the claim as the paper makes it
    source: str                    # where: section / table and a short quote
    effect: Callable               # run -> Measurement (raise NotTested when rows are missing)
    direction: int = +1            # +1: the paper says effect − reference is beyond +margin
    margin: float = 0.0            # the claimed size (0: "better"); cite it in margin_source
    unit: str = ""
    reference: float = 0.0         # the effect is judged as effect − reference (e.g. a ratio vs 1)
    preconditions: tuple = ()
    on_paper: Callable | None = None   # PaperTables -> effect on the paper's own numbers
    min_seeds: int = 1             # 3 for claims that rest on training
    margin_source: str = ""        # the paper's words or numbers the margin comes from
    by_construction: str = ""      # why the claim holds by construction on the twin (counted apart)


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
    """The claim on the paper's own numbers, by the run's rule applied to a point value."""
    if claim.on_paper is None or paper is None:
        return "n/a", math.nan
    value = float(claim.on_paper(paper))
    return verdict_from_ci(value - claim.reference, value - claim.reference, claim.direction,
                           claim.margin), value


def _g(x: float) -> str:
    return "nan" if x is None or not math.isfinite(x) else f"{x:.3g}"


def _claimed(claim: Claim) -> str:
    """The value the interval must clear, in the effect's own terms."""
    target = claim.reference + claim.direction * claim.margin
    side = "above" if claim.direction > 0 else "below"
    return f"{side} {target:g}"


def _seeds_of(run, n: int):
    cfg = getattr(run, "config", None)
    seed = getattr(cfg, "seed", None)
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(n)]
    return list(range(n))


def judge(claim: Claim, m: Measurement, paper: PaperTables | None = None, precondition: str = "",
          level: float = 0.95) -> dict:
    """One claims.csv row from a claim and its measurement (what `evaluate` and `recompute` share)."""
    row = _blank_row(claim, paper)
    a = analyse(m, level)
    lo, hi = a.low, a.high
    verdict = verdict_from_ci(lo - claim.reference, hi - claim.reference, claim.direction, claim.margin)
    the_mde = mde(a, claim.margin, level)
    p_eff = row["paper_effect"]
    p_e = claim.direction * (p_eff - claim.reference) if math.isfinite(p_eff) else math.nan
    half = q_half = (hi - lo) / 2 if math.isfinite(hi - lo) else math.nan
    # seeds this design would need to detect an effect of the paper's size with 80 % power
    need = seeds_needed(a, p_e, claim.margin) if math.isfinite(p_e) and p_e > claim.margin else None
    comp = (f"seed SD {_g(a.sd_seed)}, unit SD {_g(a.sd_unit)}" if a.n_seeds > 1
            else f"unit SD {_g(a.sd_unit)}, one seed")
    ci_txt = f"95 % interval [{_g(lo)}, {_g(hi)}]"
    if verdict == "held":
        reason = f"held: {ci_txt} {claim.unit} lies wholly {_claimed(claim)}".replace("  ", " ")
    elif verdict == "contradicted":
        reason = (f"contradicted: {ci_txt} lies wholly on the wrong side of the claimed size "
                  f"({_claimed(claim)})")
    else:
        if not math.isfinite(half):
            reason = ("inconclusive: no interval could be computed (fewer than two values, or a statistic that is "
                      "flat in the data, such as a rank)")
        else:
            reason = f"inconclusive: the interval ±{_g(q_half)} reaches across {_claimed(claim).split(' ', 1)[1]}; {comp}"
            if math.isfinite(p_e) and p_e > claim.margin:
                if the_mde <= p_e:
                    reason += (f"; this design detects an effect of the paper's size ({_g(p_e)}) with 80 % power, "
                               "so the effect here is smaller than the paper's")
                else:
                    reason += (f"; about {need} seeds would decide an effect of the paper's size ({_g(p_e)})" if need
                               else f"; more seeds alone would not decide an effect of the paper's size "
                                    f"({_g(p_e)}): the units' spread needs more test units")
            else:
                reason += f"; it detects a true effect ≥ {_g(the_mde)} with 80 % power"
    if m.n_seeds < claim.min_seeds and verdict != "inconclusive":
        reason = (f"inconclusive: {verdict} on {m.n_seeds} seed(s) ({ci_txt}), but a claim that rests on "
                  f"training needs ≥ {claim.min_seeds} seeds")
        verdict = "inconclusive"
    if claim.by_construction and verdict == "held":
        reason = f"held by construction on the twin ({claim.by_construction}): {reason[len('held: '):]}"
    cols = ", ".join(f"{c} {v:.4g}" for c, v in zip(m.columns, m.column_means())) if m.columns else ""
    evidence = (f"{cols + '; ' if cols else ''}effect {a.effect:.4g} {claim.unit}".rstrip()
                + f", {ci_txt} over {m.design}"
                + (f"; margin {claim.margin:g} ({claim.margin_source})" if claim.margin else "")
                + (f"; reference {claim.reference:g}" if claim.reference else "")
                + (f"; {m.detail}" if m.detail else "")
                + ("" if not math.isfinite(p_eff) else f"; on the paper's numbers: {p_eff:.4g}"))
    sens = {}
    if claim.margin:
        for col, f in (("verdict_half_margin", 0.5), ("verdict_double_margin", 2.0)):
            sens[col] = verdict_from_ci(lo - claim.reference, hi - claim.reference, claim.direction,
                                        claim.margin * f)
    row.update(verdict=verdict, effect=a.effect, ci_low=lo, ci_high=hi, n_seeds=m.n_seeds,
               n_units=m.n_units, evidence=evidence, reason=reason, mde=the_mde, design=m.design,
               precondition=precondition, seeds_needed=math.nan if need is None else need, **sens)
    return row


def _blank_row(claim: Claim, paper: PaperTables | None) -> dict:
    on_paper, paper_value = paper_verdict(claim, paper)
    return {"claim_id": claim.id, "statement": claim.statement, "source": claim.source,
            "verdict": "not tested", "effect": math.nan, "ci_low": math.nan, "ci_high": math.nan,
            "unit": claim.unit, "margin": claim.margin, "n_seeds": 0, "n_units": 0,
            "on_paper_numbers": on_paper, "precondition": "", "evidence": "", "reason": "",
            "mde": math.nan, "paper_effect": paper_value, "design": "",
            "direction": claim.direction, "reference": claim.reference,
            "margin_source": claim.margin_source, "by_construction": claim.by_construction,
            "verdict_half_margin": "", "verdict_double_margin": "", "seeds_needed": math.nan}


def _not_tested_row(claim: Claim, paper, reason: str, precondition: str = "") -> dict:
    row = _blank_row(claim, paper)
    p = row["paper_effect"]
    row.update(reason=f"not tested: {reason}", precondition=precondition,
               evidence=f"not tested: {reason}" + ("" if not math.isfinite(p) else f"; on the paper's numbers: {p:.4g}"))
    return row


def measure(claim: Claim, run):
    """(Measurement or None, precondition text, not-tested reason)."""
    pre_txt = []
    for p in claim.preconditions:
        try:
            ok, detail = p.check(run)
        except NotTested as e:
            ok, detail = False, str(e)
        pre_txt.append(f"{p.text}: {'met' if ok else 'NOT MET'} ({detail})")
        if not ok:
            kind = "the model is degenerate" if p.degenerate else "a precondition is not met"
            return None, "; ".join(pre_txt), f"{kind}: {p.text} — not met ({detail})"
    try:
        m = claim.effect(run)
    except NotTested as e:
        return None, "; ".join(pre_txt), str(e)
    except BenchlibError as e:
        raise BenchlibError(f"claim {claim.id}: {e}") from None
    if m.seeds is None:
        m.seeds = _seeds_of(run, m.n_seeds)
    return m, "; ".join(pre_txt), ""


def evaluate_claim(claim: Claim, run, paper: PaperTables | None = None, n_boot=None, seed=None,
                   evidence: dict | None = None) -> dict:
    """One claims.csv row (and, when `evidence` is a dict, the claim's saved evidence in it)."""
    m, pre, reason = measure(claim, run)
    if evidence is not None:
        evidence[claim.id] = (m, pre, reason)
    if m is None:
        return _not_tested_row(claim, paper, reason, pre)
    return judge(claim, m, paper, pre)


def evaluate(claims: Sequence[Claim], run, paper: PaperTables | None = None, n_boot=None, seed=None,
             evidence: dict | None = None) -> pd.DataFrame:
    """claims.csv for a run: one row per claim, in declaration order."""
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise BenchlibError(f"duplicate claim ids: {ids}")
    rows = [evaluate_claim(c, run, paper, evidence=evidence) for c in claims]
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


# --------------------------------------------------------------------------- saved evidence
def evidence_bytes(evidence: dict) -> bytes:
    """claims_data.npz: per claim its per-seed × per-unit values (an (S, N, k) array when crossed; the
    rows of all seeds with a `seed_index` when nested), and one JSON `meta` with the columns, seeds,
    design, statistic, bounds, and the not-tested reasons. No pickles: loads with allow_pickle=False."""
    arrays, meta = {}, {}
    for cid, (m, pre, reason) in evidence.items():
        if m is None:
            meta[cid] = {"status": "not tested", "reason": reason, "precondition": pre}
            continue
        if not isinstance(m.stat, Stat):
            raise BenchlibError(f"claim {cid}: its statistic {m.stat!r} is not a named Stat, so the claim "
                                "could not be recomputed from the saved evidence")
        if m.shared_units:
            arrays[f"{cid}.values"] = np.stack(m.per_seed)
        else:
            arrays[f"{cid}.values"] = np.concatenate(m.per_seed)
            arrays[f"{cid}.seed_index"] = np.repeat(np.arange(m.n_seeds), [a.shape[0] for a in m.per_seed])
        meta[cid] = {"status": "measured", "columns": list(map(str, m.columns)), "shared_units": m.shared_units,
                     "seeds": [s if isinstance(s, (int, str)) else int(s) for s in m.seeds or range(m.n_seeds)],
                     "stat": m.stat.spec(), "bounds": list(m.bounds), "batched": m.batched,
                     "units": m.units, "detail": m.detail, "precondition": pre}
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.array(json.dumps(meta)), **arrays)
    return buf.getvalue()


def load_evidence(path) -> dict:
    """{claim_id: (Measurement | None, precondition, not-tested reason)} from a claims_data.npz."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data.pop("meta")))
    except FileNotFoundError:
        raise BenchlibError(f"{path}: no saved evidence (the chapter was run before claims_data.npz existed?)") from None
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        raise BenchlibError(f"{path}: not a readable claims_data.npz ({e})") from None
    out = {}
    for cid, info in meta.items():
        if info.get("status") != "measured":
            out[cid] = (None, info.get("precondition", ""), info.get("reason", ""))
            continue
        try:
            values = data[f"{cid}.values"]
            if info["shared_units"]:
                if values.ndim != 3:
                    raise ValueError(f"values of shape {values.shape}, expected (seeds, units, columns)")
                per_seed = list(values)
            else:
                idx = data[f"{cid}.seed_index"]
                per_seed = [values[idx == s] for s in range(int(idx.max()) + 1)]
            m = Measurement(per_seed, Stat.from_spec(info["stat"]), columns=info["columns"], detail=info["detail"],
                            batched=info["batched"], shared_units=info["shared_units"], bounds=tuple(info["bounds"]),
                            units=info["units"], seeds=info["seeds"])
        except (KeyError, ValueError, BenchlibError) as e:
            raise BenchlibError(f"{path}: claim {cid}: {e}") from None
        out[cid] = (m, info.get("precondition", ""), "")
    return out


def recompute(chapter_results_dir, claims: Sequence[Claim] | None = None, paper: bool = True) -> pd.DataFrame:
    """The claims table rebuilt from `claims_data.npz` and the chapter's declarations (its `CLAIMS`
    unless `claims` is given): the same verdicts, effects and intervals as the saved claims.csv."""
    d = Path(chapter_results_dir)
    if not d.is_dir():
        raise BenchlibError(f"{d}: no such results folder")
    evidence = load_evidence(d / EVIDENCE_FILE)
    chapter = d.name
    run_json = d / "run.json"
    if run_json.is_file():
        try:
            chapter = json.loads(run_json.read_text(encoding="utf-8")).get("chapter", chapter)
        except json.JSONDecodeError as e:
            raise BenchlibError(f"{run_json}: not valid JSON ({e})") from None
    if claims is None:
        try:
            claims = importlib.import_module(f"benchlib.chapters.{chapter}.claims").CLAIMS
        except (ImportError, AttributeError) as e:
            raise BenchlibError(f"{d}: chapter {chapter!r} has no claims declarations ({e})") from None
    declared = [c.id for c in claims]
    if sorted(declared) != sorted(evidence):
        missing, extra = set(declared) - set(evidence), set(evidence) - set(declared)
        raise BenchlibError(f"{d / EVIDENCE_FILE} does not match the declarations of {chapter}: "
                            f"missing {sorted(missing)}, not declared {sorted(extra)}")
    tables = PaperTables(chapter) if paper else None
    rows = []
    for c in claims:
        m, pre, reason = evidence[c.id]
        rows.append(_not_tested_row(c, tables, reason, pre) if m is None else judge(c, m, tables, pre))
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


# --------------------------------------------------------------------------- checks and counts
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
    """Claims by verdict for the scoreboard; held claims that hold by construction on the twin are
    counted under BY_CONSTRUCTION, not under held."""
    if not len(claims_frame):
        return {k: 0 for k in (*VERDICTS, BY_CONSTRUCTION)}
    v = claims_frame["verdict"].astype(str)
    bc = (claims_frame["by_construction"].astype(object).fillna("").astype(str).str.len() > 0
          if "by_construction" in claims_frame else pd.Series(False, index=claims_frame.index))
    out = {k: int((v == k).sum()) for k in VERDICTS}
    out[BY_CONSTRUCTION] = int(((v == "held") & bc).sum())
    out["held"] -= out[BY_CONSTRUCTION]
    return out


def power_table(claims_frame: pd.DataFrame, min_seeds: int = 3) -> pd.DataFrame:
    """What each tested claim's design could detect: its seeds × units, the MDE (80 % power), the
    paper's effect in the claimed direction, whether the run can decide an effect of that size, and
    how many seeds would. Claims on fewer than `min_seeds` seeds, or not tested, are left out unless
    `min_seeds` is 1 (then every tested claim is shown)."""
    rows = []
    for r in claims_frame.itertuples():
        if r.verdict == "not tested" or not isinstance(r.design, str) or not r.design:
            continue
        if int(r.n_seeds) < min_seeds:
            continue
        p = float(r.paper_effect)
        p_e = r.direction * (p - r.reference) if math.isfinite(p) else math.nan
        can = ("n/a (no paper effect)" if not math.isfinite(p_e) else
               "no (the paper's effect is not beyond the claimed size)" if p_e <= r.margin else
               "yes" if r.mde <= p_e else "no")
        need = getattr(r, "seeds_needed", math.nan)
        rows.append({"claim": r.claim_id, "design": r.design, "mde": r.mde, "unit": r.unit,
                     "paper effect": p_e, "can decide the paper's effect": can,
                     "seeds for 80 % power": ("" if can != "no" or not math.isfinite(p_e) or p_e <= r.margin
                                              else (f"{int(need)}" if isinstance(need, (int, float)) and
                                                    math.isfinite(need) else "more than 1000 (needs more units)")),
                     "verdict": r.verdict})
    return pd.DataFrame(rows, columns=["claim", "design", "mde", "unit", "paper effect",
                                       "can decide the paper's effect", "seeds for 80 % power", "verdict"])


# --------------------------------------------------------------------------- helpers for chapters
def not_claimed_rows(entries) -> list[dict]:
    """A chapter's `report.not_claimed()` from (statement, source, reason) triples: the paper's
    statements the chapter does not judge, where they are, and why not."""
    return [{"statement": st, "source": src, "reason": why} for st, src, why in entries]



def degenerate_guard(name: str, score: Callable, floor: float, what: str = "score",
                     text: str | None = None) -> Precondition:
    """Precondition: the model `name` is not at the floor (`score(run)` per seed must all exceed
    `floor`), e.g. a trained network's F1 above 5 points. `text`: the requirement in the chapter's
    words (default "NAME trained (WHAT above FLOOR on every seed)"). A `score(run)` of None means the
    run did not measure it at all: nothing to guard, and the detail says so instead of a number
    (the claim's effect says why it is not tested)."""

    def check(run):
        raw = score(run)
        if raw is None:
            return True, f"{name} not measured in this run: nothing to guard (the effect says why)"
        values = np.atleast_1d(np.asarray(raw, dtype=float))
        ok = bool(values.size and np.all(values > floor))
        per = " per seed" if values.size > 1 else ""   # a one-seed chapter (SAM's timing) has one value
        return ok, f"{name} {what}{per} {', '.join(f'{v:.3g}' for v in values)} vs floor {floor:g}"

    return Precondition(text or f"{name} trained ({what} above {floor:g} on every seed)", check, degenerate=True)
