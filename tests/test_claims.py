"""The claims engine: verdict rule, crossed / nested intervals worked by hand, bounds, coverage,
reasons, saved evidence and recompute, preconditions, paper numbers."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from benchlib import BenchlibError
from benchlib.claims import (BY_CONSTRUCTION, Check, Claim, Measurement, NotTested, PaperTables, Stat,
                             analyse, counts, degenerate_guard, difference, evaluate, evaluate_claim,
                             interval, linear, load_evidence, min_linear, mde, ratio, recompute,
                             run_checks, single, verdict_from_ci)
from benchlib.results import ChapterResults

T975 = lambda df: st.t.ppf(0.975, df)   # noqa: E731


def test_verdict_rule_by_hand():
    assert verdict_from_ci(1.0, 3.0, +1, 0.5) == "held"
    assert verdict_from_ci(0.2, 3.0, +1, 0.5) == "inconclusive"       # reaches across the claimed 0.5
    assert verdict_from_ci(-3.0, -1.0, +1, 0.5) == "contradicted"
    assert verdict_from_ci(-3.0, -0.2, +1, 0.5) == "contradicted"     # wholly below the claimed size
    assert verdict_from_ci(0.1, 0.4, +1, 0.5) == "contradicted"       # positive, but smaller than claimed
    assert verdict_from_ci(0.4, 0.6, +1, 0.5) == "inconclusive"
    assert verdict_from_ci(-3.0, -1.0, -1, 0.5) == "held"             # claimed decrease
    assert verdict_from_ci(math.nan, 1.0, +1, 0.0) == "inconclusive"


def test_measurement_effects_by_hand():
    m = difference([[3, 5], [4, 6]], [[1, 1], [2, 2]])                 # seeds: (4-1), (5-2)
    assert m.effect() == pytest.approx(3.0)
    assert (m.n_seeds, m.n_units, m.design) == (2, 2, "2 seeds × 2 units, crossed")
    assert ratio([[2, 4]], [[1, 1]]).effect() == pytest.approx(3.0)
    assert single([[1, 2, 3]]).effect() == pytest.approx(2.0)
    assert min_linear(np.array([1.0, 4.0, 2.0]), w=[[1, -1, 0], [0, 1, -1]]) == pytest.approx(-3.0)
    with pytest.raises(BenchlibError, match="non-finite"):
        single([[1, np.nan]])
    with pytest.raises(BenchlibError, match="units"):
        difference([[1, 2]], [[1]])
    with pytest.raises(BenchlibError, match="shared_units"):
        single([[1, 2, 3], [1, 2]])                                    # crossed needs the same units
    assert single([[1, 2, 3], [1, 2]], shared_units=False).n_units == 5
    with pytest.raises(BenchlibError, match="module-level"):
        Stat(lambda v: v[0])


def test_crossed_interval_worked_by_hand():
    # z (seeds × units) = [[1, 2, 6], [3, 5, 7]]: grand mean 4, seed means 3, 5, unit means 2, 3.5, 6.5
    # MS_seed = 3·(1 + 1)/1 = 6, MS_unit = 2·(4 + 0.25 + 6.25)/2 = 10.5; terms /(S·N = 6): 1 (1 d.f.), 1.75 (2 d.f.)
    lo, hi = interval(single([[1, 2, 6], [3, 5, 7]]))
    half = math.sqrt(T975(1) ** 2 * 1.0 + T975(2) ** 2 * 1.75)
    assert (lo, hi) == pytest.approx((4 - half, 4 + half))
    a = analyse(single([[1, 2, 6], [3, 5, 7]]))
    assert a.se == pytest.approx(math.sqrt(2.75))
    assert a.df == pytest.approx(2.75 ** 2 / (1 / 1 + 1.75 ** 2 / 2))   # Satterthwaite


def test_nested_and_one_seed_intervals_worked_by_hand():
    # nested: seed means 2 and 6, their variance 8, /S → 4 on 1 d.f.
    lo, hi = interval(single([[1, 3], [4, 6, 8]], shared_units=False))
    assert (lo, hi) == pytest.approx((4 - T975(1) * 2, 4 + T975(1) * 2))
    # one seed: var(1, 2, 6) = 7 → 7/3 on 2 d.f.
    lo, hi = interval(single([[1, 2, 6]]))
    assert (lo, hi) == pytest.approx((3 - T975(2) * math.sqrt(7 / 3), 3 + T975(2) * math.sqrt(7 / 3)))


def test_crossed_units_counted_once_not_per_seed():
    """Ten seeds scoring the same 30 units, unit noise only: the interval must be as wide as the
    units' spread / √30, not √10 narrower (what resampling units within each seed gave)."""
    rng = np.random.default_rng(0)
    units = rng.normal(0, 1, 30)
    m = single([units + rng.normal(0, 0.01, 30) for _ in range(10)])
    lo, hi = interval(m)
    assert (hi - lo) / 2 == pytest.approx(T975(29) * units.std(ddof=1) / math.sqrt(30), rel=0.05)


def test_bounded_interval_on_the_logit_scale_by_hand():
    v = np.array([0.90, 0.99, 0.95])
    p, se = v.mean(), v.std(ddof=1) / math.sqrt(3)
    lo, hi = interval(single([v], bounds=(0, 1)))
    logit = math.log(p / (1 - p))
    h = T975(2) * se / (p * (1 - p))          # delta method: d logit/dp = 1/(p(1 − p))
    expit = lambda u: 1 / (1 + math.exp(-u))   # noqa: E731
    assert (lo, hi) == pytest.approx((expit(logit - h), expit(logit + h)), rel=1e-5)
    assert 0 < lo < p < hi < 1
    unbounded = interval(single([v]))
    assert unbounded[1] > 1                     # what the bounds prevent
    r = ratio([[2.0, 0.1, 3.0]], [[1.0, 1.0, 1.0]])   # ratios stay above 0
    assert interval(r)[0] > 0 > interval(single([[1.0, -0.9, 2.0]]))[0]


def test_coverage_and_false_held_fast_study():
    """A small version of benchmarks/claims_coverage.py: crossed designs where the old rule failed."""
    from benchlib.chapters.metrics_appendix.engine_demo import study_cell

    for cell in [(3, 10, "seed-dominated", True), (10, 70, "unit-dominated", True), (5, 30, "balanced", False)]:
        d = study_cell(*cell, reps=300, seed=1)
        assert d["coverage"] >= 0.92, d            # nominal 95 % (300 reps: ±2.5 % at 2 SE)
        assert d["false_held"] <= 0.05, d
        assert d["power_3se"] > d["power_2se"] > d["false_held"], d


class _Run:
    def __init__(self, a, b, score=(80, 81, 79)):
        self.a, self.b, self.score = a, b, score


def _diff(run):
    return difference(run.a, run.b)


def _claim(**kw):
    base = dict(id="a_beats_b", statement="A beats B", source="§1: 'A beats B'", effect=_diff,
                margin=1.0, margin_source="§1: 'by at least a point'", unit="points", min_seeds=3)
    base.update(kw)
    return Claim(**base)


def test_clear_effect_held_no_effect_inconclusive_reverse_contradicted():
    rng = np.random.default_rng(2)
    units = rng.normal(0, 1, 40)
    a = [units + 10 + rng.normal(0, 0.3, 40) + o for o in (0.1, -0.1, 0.0)]
    b = [units + 5 + rng.normal(0, 0.3, 40) + o for o in (0.1, -0.1, 0.0)]
    held = evaluate_claim(_claim(), _Run(a, b))
    assert held["verdict"] == "held" and held["reason"].startswith("held: 95 % interval")
    assert held["design"] == "3 seeds × 40 units, crossed"
    assert evaluate_claim(_claim(), _Run(b, a))["verdict"] == "contradicted"
    both = [np.stack([x, y], 1) for x, y in zip(a, b)]
    perm = [rng.permuted(x, axis=1) for x in both]
    row = evaluate_claim(_claim(margin=0.0, margin_source=""), _Run([x[:, 0] for x in perm], [x[:, 1] for x in perm]))
    assert row["verdict"] == "inconclusive" and "seed SD" in row["reason"] and "unit SD" in row["reason"]


def test_mde_by_hand_and_seeds_needed_in_the_reason():
    m = single([[1.0, 2.0, 6.0]])                       # one seed: one term, 7/3 on 2 d.f.
    se = math.sqrt(7 / 3)
    assert mde(analyse(m), 0.5) == pytest.approx(0.5 + (T975(2) + st.t.ppf(0.8, 2)) * se)
    rng = np.random.default_rng(4)
    units = rng.normal(0, 0.2, 30)
    a = [units + 1.0 + o + rng.normal(0, 0.1, 30) for o in (1.5, -1.0, 0.2)]   # seeds disagree
    table = pd.DataFrame({"method": ["A"], "metric": ["gap"], "subset": [""], "value": [1.0]})
    paper = PaperTables("demo", loader=lambda t: table)
    c = _claim(effect=lambda run: single(run.a), margin=0.0, margin_source="",
               on_paper=lambda p: p.value("1", "A", "gap"))
    row = evaluate_claim(c, _Run(a, a), paper)
    assert row["verdict"] == "inconclusive" and row["paper_effect"] == 1.0
    assert "seeds would decide an effect of the paper's size (1)" in row["reason"], row["reason"]
    assert row["mde"] > 1.0


def test_fewer_seeds_than_required_caps_at_inconclusive():
    a, b = [np.full(20, 10.0) + np.arange(20) * 0.01], [np.full(20, 1.0)]
    row = evaluate_claim(_claim(), _Run(a, b))
    assert row["verdict"] == "inconclusive" and "needs ≥ 3 seeds" in row["reason"]
    assert evaluate_claim(_claim(min_seeds=1), _Run(a, b))["verdict"] == "held"


def test_not_tested_reasons_say_what_failed_without_contradiction():
    a = [np.full(5, 10.0)] * 3
    guard = degenerate_guard("B", lambda run: run.score, floor=5.0, what="F1")
    row = evaluate_claim(_claim(preconditions=(guard,)), _Run(a, a, score=(0.0, 30.0, 31.0)))
    assert row["verdict"] == "not tested"
    assert row["reason"] == ("not tested: the model is degenerate: B trained (F1 above 5 on every seed) — not met "
                             "(B F1 per seed 0, 30, 31 vs floor 5)")
    assert "is not degenerate" not in row["reason"]

    def missing(run):
        raise NotTested("U-Net(35) rows not run on this profile")

    row = evaluate_claim(_claim(effect=missing), _Run(a, a))
    assert row["reason"] == "not tested: U-Net(35) rows not run on this profile"


def test_on_paper_numbers_use_the_run_rule():
    table = pd.DataFrame({"method": ["A", "B"], "metric": ["F1", "F1"], "subset": ["", ""], "value": [70.0, 69.5]})
    paper = PaperTables("demo", loader=lambda t: table)
    a = [np.full(5, 1.0)] * 3
    gap = lambda p: p.value("1", "A", "F1") - p.value("1", "B", "F1")   # noqa: E731  70 − 69.5 = 0.5
    assert evaluate_claim(_claim(on_paper=gap, margin=0.0), _Run(a, a), paper)["on_paper_numbers"] == "held"
    # claimed size 1: 0.5 is on the wrong side of it → contradicted, the rule of the run's verdict
    assert evaluate_claim(_claim(on_paper=gap), _Run(a, a), paper)["on_paper_numbers"] == "contradicted"
    assert evaluate_claim(_claim(on_paper=gap, margin=0.5), _Run(a, a), paper)["on_paper_numbers"] == "inconclusive"
    assert evaluate_claim(_claim(), _Run(a, a), paper)["on_paper_numbers"] == "n/a"


def test_sensitivity_by_construction_and_counts():
    a = [np.full(5, 1.6) + np.arange(5) * 0.01] * 3
    b = [np.zeros(5)] * 3
    row = evaluate_claim(_claim(), _Run(a, b))                       # effect ≈ 1.62, interval tight
    assert (row["verdict"], row["verdict_half_margin"], row["verdict_double_margin"]) == \
        ("held", "held", "contradicted")
    df = evaluate([_claim(), _claim(id="twin", by_construction="the generator grows distortion with difficulty")],
                  _Run(a, b))
    assert df.loc[1, "reason"].startswith("held by construction on the twin (the generator")
    assert counts(df) == {"held": 1, "contradicted": 0, "inconclusive": 0, "not tested": 0, BY_CONSTRUCTION: 1}


def test_evaluate_frame_and_checks():
    a = [np.arange(5.0)] * 3
    df = evaluate([_claim(), _claim(id="other")], _Run(a, a))
    assert list(df["claim_id"]) == ["a_beats_b", "other"]
    with pytest.raises(BenchlibError, match="duplicate"):
        evaluate([_claim(), _claim()], _Run(a, a))
    checks = run_checks([Check("one", "1 == 1", lambda run: (True, "")),
                         Check("two", "fails", lambda run: (False, "x"))], _Run(a, a))
    assert list(checks["passed"]) == ["yes", "NO"]


# --------------------------------------------------------------------------- saved evidence
def _weakest(v, n):
    return min(v[i] - v[n + i] for i in range(n))


def _weakest_gain(run):
    cols = [np.stack([*run.a, *run.b], axis=0)]  # noqa: F841 - shape documentation
    per_seed = [np.stack([x, x * 0.5, y, y], axis=1) for x, y in zip(run.a, run.b)]
    return Measurement(per_seed, Stat(_weakest, n=2), columns=("a", "a/2", "b", "b'"), units="images")


def _nested(run):
    return single([run.a[0][:3], run.a[1], run.a[2][:4]], shared_units=False, bounds=(0, None), units="repeats")


def _saved(tmp_path, claims, run):
    res = ChapterResults("demo_chapter", "smoke", tmp_path)
    res.add("1", "A", "F1", 50.0, dataset="synthetic", ci=(40.0, 60.0))
    res.judge(claims, run, paper=False)
    return res, res.save()


def test_recompute_equals_claims_csv(tmp_path):
    rng = np.random.default_rng(5)
    run = _Run([rng.normal(5, 1, 8) + 3 for _ in range(3)], [rng.normal(2, 1, 8) for _ in range(3)])

    def gone(run):
        raise NotTested("not run on this profile")

    claims = [_claim(), _claim(id="weakest", effect=_weakest_gain, margin=0.0, margin_source=""),
              _claim(id="nested", effect=_nested, margin=0.0, margin_source=""), _claim(id="gone", effect=gone)]
    res, d = _saved(tmp_path, claims, run)
    saved = pd.read_csv(d / "claims.csv")
    again = recompute(d, claims=claims, paper=False)
    assert list(again["verdict"]) == list(saved["verdict"])
    cols = ["effect", "ci_low", "ci_high", "mde"]
    np.testing.assert_allclose(again[cols].astype(float), saved[cols].astype(float), rtol=1e-12, equal_nan=True)
    ev = load_evidence(d / "claims_data.npz")
    assert ev["a_beats_b"][0].per_seed[0].shape == (8, 2) and ev["a_beats_b"][0].shared_units
    assert not ev["nested"][0].shared_units and [a.shape[0] for a in ev["nested"][0].per_seed] == [3, 8, 4]
    assert ev["gone"][0] is None and ev["gone"][2] == "not run on this profile"
    with np.load(d / "claims_data.npz", allow_pickle=False) as z:    # no pickles in the file
        assert "meta" in z.files


def test_recompute_refuses_mismatches_and_bad_files(tmp_path):
    rng = np.random.default_rng(6)
    run = _Run([rng.normal(5, 1, 8) for _ in range(3)], [rng.normal(2, 1, 8) for _ in range(3)])
    _, d = _saved(tmp_path, [_claim()], run)
    with pytest.raises(BenchlibError, match="does not match the declarations.*missing \\['extra'\\]"):
        recompute(d, claims=[_claim(), _claim(id="extra")], paper=False)
    (d / "claims_data.npz").write_bytes(b"not a zip")
    with pytest.raises(BenchlibError, match="claims_data.npz: not a readable"):
        recompute(d, claims=[_claim()], paper=False)
    with pytest.raises(BenchlibError, match="no such results folder"):
        recompute(tmp_path / "nowhere")


def test_a_lambda_statistic_is_refused_before_anything_is_written(tmp_path):
    run = _Run([np.arange(4.0)] * 3, [np.zeros(4)] * 3)
    bad = _claim(effect=lambda r: Measurement([np.ones((3, 1))] * 3, lambda v: v[0]))
    res = ChapterResults("demo_chapter", "smoke", tmp_path)
    res.add("1", "A", "F1", 50.0, dataset="synthetic")
    res.judge([bad], run, paper=False)
    with pytest.raises(BenchlibError, match="not a named Stat"):
        res.save()
    assert not (tmp_path / "smoke" / "demo_chapter").exists()


def test_interval_outside_the_quantity_range_is_refused(tmp_path):
    res = ChapterResults("demo_chapter", "smoke", tmp_path)
    res.add("2", "Prop-18", "accuracy", 80.0, dataset="synthetic", ci=(33.1, 120.1))
    with pytest.raises(BenchlibError, match=r"\[33.1, 120.1\] of Prop-18 accuracy"):
        res.save()
    assert not (tmp_path / "smoke" / "demo_chapter").exists()


def test_power_table_says_what_the_design_could_decide():
    rng = np.random.default_rng(4)
    units = rng.normal(0, 0.2, 30)
    noisy = [units + 1.0 + o + rng.normal(0, 0.1, 30) for o in (1.5, -1.0, 0.2)]
    tight = [units + 1.0 + o + rng.normal(0, 0.1, 30) for o in (0.01, -0.01, 0.0)]
    table = pd.DataFrame({"method": ["A"], "metric": ["gap"], "subset": [""], "value": [1.0]})
    paper = PaperTables("demo", loader=lambda t: table)
    c = dict(effect=lambda run: single(run.a), margin=0.0, margin_source="", on_paper=lambda p: p.value("1", "A", "gap"))
    df = pd.concat([evaluate([_claim(id="noisy", **c)], _Run(noisy, noisy), paper),
                    evaluate([_claim(id="tight", **c)], _Run(tight, tight), paper)], ignore_index=True)
    from benchlib.claims import power_table
    pt = power_table(df).set_index("claim")
    assert pt.loc["tight", "can decide the paper's effect"] == "yes"
    assert pt.loc["noisy", "can decide the paper's effect"] == "no"
    assert int(pt.loc["noisy", "seeds for 80 % power"]) > 3
    assert pt.loc["noisy", "design"] == "3 seeds × 30 units, crossed"


def _rank_gap(v):
    return float(np.sign(v[0] - v[1]))


def test_a_flat_statistic_of_varying_data_gets_no_interval():
    """A rank-like statistic has a zero gradient: the delta method would give a zero-width interval
    and a false 'held'; the engine gives no interval (inconclusive) instead."""
    m = Measurement([np.array([[1.0, 0.0], [2.0, 0.5], [3.0, 0.2]])] * 2 + [np.array([[0.0, 3.0], [0.0, 2.0], [0.1, 4.0]])],
                    Stat(_rank_gap))
    lo, hi = interval(m)
    assert math.isnan(lo) and math.isnan(hi)
    row = evaluate_claim(_claim(effect=lambda run: m, margin=0.0, margin_source=""), _Run([], []))
    assert row["verdict"] == "inconclusive" and "no interval" in row["reason"]
    # the same statistic equal on every part of the data (each seed, each half of the units): a
    # zero-width interval is what any resampling gives, and is kept
    same = Measurement([np.array([[1.0, 0.0], [2.0, 0.5], [3.0, 0.2]])] * 3, Stat(_rank_gap))
    assert interval(same) == (1.0, 1.0)


def test_a_one_seed_guard_does_not_say_per_seed():
    guard = degenerate_guard("SAM", lambda run: [0.5], floor=0.001, what="median encoder s")
    assert guard.check(None) == (True, "SAM median encoder s 0.5 vs floor 0.001")


def test_a_guard_on_an_unmeasured_score_guards_nothing_and_says_so():
    guard = degenerate_guard("SAM", lambda run: None, floor=0.001, what="median encoder s",
                             text="SAM's encoder ran the network")
    assert guard.text == "SAM's encoder ran the network" and guard.degenerate
    assert guard.check(None) == (True, "SAM not measured in this run: nothing to guard (the effect says why)")
