"""The claims engine: verdict rule, CI coverage, preconditions, degenerate guard, paper numbers."""
import math

import numpy as np
import pandas as pd
import pytest

from benchlib import BenchlibError
from benchlib.claims import (Check, Claim, NotTested, PaperTables, degenerate_guard,
                             difference, evaluate, evaluate_claim, hierarchical_ci, ratio, run_checks,
                             single, verdict_from_ci)


def test_verdict_rule_by_hand():
    assert verdict_from_ci(1.0, 3.0, +1, 0.5) == "held"
    assert verdict_from_ci(0.2, 3.0, +1, 0.5) == "inconclusive"       # crosses the margin
    assert verdict_from_ci(-3.0, -1.0, +1, 0.5) == "contradicted"
    assert verdict_from_ci(-3.0, -0.2, +1, 0.5) == "inconclusive"     # below 0 but not beyond −margin
    assert verdict_from_ci(-3.0, -1.0, -1, 0.5) == "held"             # claimed decrease
    assert verdict_from_ci(math.nan, 1.0, +1, 0.0) == "inconclusive"


def test_measurement_effects_by_hand():
    m = difference([[3, 5], [4, 6]], [[1, 1], [2, 2]])                 # seeds: (4-1), (5-2)
    assert m.effect() == pytest.approx(3.0)
    assert (m.n_seeds, m.n_units) == (2, 4)
    r = ratio([[2, 4]], [[1, 1]])
    assert r.effect() == pytest.approx(3.0)
    assert single([[1, 2, 3]]).effect() == pytest.approx(2.0)
    with pytest.raises(BenchlibError, match="non-finite"):
        single([[1, np.nan]])
    with pytest.raises(BenchlibError, match="units"):
        difference([[1, 2]], [[1]])


def _simulate(rng, truth, sd_seed, sd_unit, n_seeds, n_units):
    offsets = rng.normal(0, sd_seed, n_seeds)
    return [truth + o + rng.normal(0, sd_unit, n_units) for o in offsets]


@pytest.mark.parametrize("sd_seed,sd_unit,n_seeds", [(1.0, 0.3, 3), (0.2, 1.0, 3), (0.0, 1.0, 1), (1.0, 1.0, 5)])
def test_ci_covers_truth_at_about_nominal_rate(sd_seed, sd_unit, n_seeds):
    rng = np.random.default_rng(0)
    hits, n_trials = 0, 300
    for t in range(n_trials):
        m = single(_simulate(rng, 2.0, sd_seed, sd_unit, n_seeds, 30))
        lo, hi = hierarchical_ci(m, n_boot=400, seed=t)
        hits += lo <= 2.0 <= hi
    rate = hits / n_trials
    # nominal 95 %: the t-widened interval may be conservative when unit noise dominates
    assert 0.90 <= rate <= 1.0, rate


def test_ci_seed_noise_widens_interval():
    rng = np.random.default_rng(1)
    tight = single(_simulate(rng, 0.0, 0.0, 1.0, 3, 50))
    loose = single(_simulate(rng, 0.0, 3.0, 1.0, 3, 50))
    w = lambda m: np.subtract(*hierarchical_ci(m, n_boot=500)[::-1])
    assert w(loose) > 2 * w(tight)


class _Run:
    def __init__(self, a, b, score=(80, 81, 79)):
        self.a, self.b, self.score = a, b, score


def _claim(**kw):
    base = dict(id="a_beats_b", statement="A beats B", source="§1: 'A beats B'",
                effect=lambda run: difference(run.a, run.b), margin=1.0, unit="points", min_seeds=3)
    base.update(kw)
    return Claim(**base)


def test_clear_effect_held_no_effect_inconclusive_reverse_contradicted():
    rng = np.random.default_rng(2)
    a = [rng.normal(10, 1, 40) + o for o in (0.1, -0.1, 0.0)]
    b = [rng.normal(5, 1, 40) + o for o in (0.1, -0.1, 0.0)]
    assert evaluate_claim(_claim(), _Run(a, b))["verdict"] == "held"
    assert evaluate_claim(_claim(), _Run(b, a))["verdict"] == "contradicted"
    # no effect: labels permuted across methods within each unit
    both = [np.stack([x, y], 1) for x, y in zip(a, b)]
    perm = [rng.permuted(x, axis=1) for x in both]
    same = [x[:, 0] for x in perm], [x[:, 1] for x in perm]
    row = evaluate_claim(_claim(), _Run(*same))
    assert row["verdict"] == "inconclusive", row


def test_fewer_seeds_than_required_caps_at_inconclusive():
    a, b = [np.full(20, 10.0) + np.arange(20) * 0.01], [np.full(20, 1.0)]
    row = evaluate_claim(_claim(), _Run(a, b))
    assert row["verdict"] == "inconclusive" and "needs ≥ 3" in row["evidence"]
    assert evaluate_claim(_claim(min_seeds=1), _Run(a, b))["verdict"] == "held"


def test_degenerate_model_and_missing_rows_are_not_tested():
    a = [np.full(5, 10.0)] * 3
    guard = degenerate_guard("B", lambda run: run.score, floor=5.0, what="F1")
    row = evaluate_claim(_claim(preconditions=(guard,)), _Run(a, a, score=(0.0, 30.0, 31.0)))
    assert row["verdict"] == "not tested" and "degenerate" in row["evidence"] and "B" in row["evidence"]

    def missing(run):
        raise NotTested("U-Net(35) rows not run on this profile")

    row = evaluate_claim(_claim(effect=missing), _Run(a, a))
    assert row["verdict"] == "not tested" and "not run" in row["evidence"]


def test_on_paper_numbers():
    table = pd.DataFrame({"method": ["A", "B"], "metric": ["F1", "F1"], "subset": ["", ""], "value": [70.0, 60.0]})
    paper = PaperTables("demo", loader=lambda t: table)
    good = _claim(on_paper=lambda p: p.value("1", "A", "F1") - p.value("1", "B", "F1"))
    bad = _claim(on_paper=lambda p: p.value("1", "B", "F1") - p.value("1", "A", "F1"))
    a = [np.full(5, 1.0)] * 3
    assert evaluate_claim(good, _Run(a, a), paper)["on_paper_numbers"] == "held"
    assert evaluate_claim(bad, _Run(a, a), paper)["on_paper_numbers"] == "contradicted"
    assert evaluate_claim(_claim(), _Run(a, a), paper)["on_paper_numbers"] == "n/a"


def test_evaluate_frame_and_checks():
    a = [np.arange(5.0)] * 3
    df = evaluate([_claim(), _claim(id="other")], _Run(a, a))
    assert list(df["claim_id"]) == ["a_beats_b", "other"]
    with pytest.raises(BenchlibError, match="duplicate"):
        evaluate([_claim(), _claim()], _Run(a, a))
    checks = run_checks([Check("one", "1 == 1", lambda run: (True, "")),
                         Check("two", "fails", lambda run: (False, "x"))], _Run(a, a))
    assert list(checks["passed"]) == ["yes", "NO"]


def test_batched_stat_gives_the_same_interval_as_one_call_per_draw():
    """A Measurement whose stat scores all bootstrap draws at once must give the interval of
    the per-draw loop exactly (same draws, same statistic)."""
    rng = np.random.default_rng(3)
    per_seed = [rng.normal(size=(25, 3)) + i for i in range(3)]

    def stat(v):   # a non-linear statistic of three columns, written to work on (k,) and (draws, k)
        v = np.asarray(v)
        return np.minimum(v[..., 0] - v[..., 1], v[..., 2] ** 2 / (1 + np.abs(v[..., 1])))
    from benchlib.claims import Measurement
    loop = Measurement(per_seed, lambda v: float(stat(v)))
    batched = Measurement(per_seed, stat, batched=True)
    assert hierarchical_ci(batched, n_boot=300, seed=5) == hierarchical_ci(loop, n_boot=300, seed=5)
    assert batched.effect() == loop.effect()
