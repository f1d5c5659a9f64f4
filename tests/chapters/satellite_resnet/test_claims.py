"""Satellite chapter's claims under the claims engine: held on the paper's own numbers, inconclusive
without an effect, not tested on a degenerate network, held with a real effect over three seeds.
Fake runs are built by hand from block counts (no training)."""
from types import SimpleNamespace

import numpy as np
import pytest

from benchlib.chapters.satellite_resnet import claims as sc
from benchlib.chapters.satellite_resnet.evaluate import Evaluation
from benchlib.chapters.satellite_resnet.models import DISPLAY_NAMES, MODEL_NAMES
from benchlib.chapters.satellite_resnet.refine import Refinement
from benchlib.claims import PaperTables, evaluate, on_paper_table, paper_verdict

AREAS = ["D12", "D19", "D22"]
LABELS = [DISPLAY_NAMES[n] for n in MODEL_NAMES]
BLOCK_PX = 16 * 16


def _block_rows(rng, n_blocks, recall, fpr):
    """(n_blocks, 4) TP, FP, FN, TN of blocks of BLOCK_PX pixels, ~25 % buildings."""
    pos = rng.binomial(BLOCK_PX, 0.25, n_blocks)
    tp = rng.binomial(pos, recall)
    fp = rng.binomial(BLOCK_PX - pos, fpr)
    return np.column_stack([tp, fp, pos - tp, BLOCK_PX - pos - fp])


def _fake_run(quality, n_seeds=3, n_blocks=40, seed=0, permute=False, params=None):
    """A run whose networks (display label -> (recall, false-positive rate)) have block counts on
    every test area; refinement of Prop-34 and U-Net(19) with tuned rows of their own quality
    (keys '<label> tuned (small)' etc.). `permute`: per block, the rows of all networks are
    shuffled among them (no network is better than another)."""
    rng = np.random.default_rng(seed)
    names = list(quality)
    evals = {k: [] for k in names}
    for _ in range(n_seeds):
        per = {k: {} for k in names}
        for a in AREAS:
            rows = np.stack([_block_rows(rng, n_blocks, *quality[k]) for k in names])   # (models, blocks, 4)
            if permute:
                for b in range(n_blocks):
                    rows[:, b] = rows[rng.permutation(len(names)), b]
            for i, k in enumerate(names):
                per[k][a] = rows[i]
        for k in names:
            evals[k].append(Evaluation({}, {}, per[k]))
    refinements = {}
    for label in ("Prop-34", "U-Net(19)"):
        if label in names and f"{label} tuned (small)" in names:
            refinements[label] = [Refinement(evals[label][s], {z: evals[f"{label} tuned ({z})"][s] for z in sc.SIZES}, {})
                                  for s in range(n_seeds)]
    trained = {k: v for k, v in evals.items() if " tuned " not in k}
    counts = {n: 1_000_000 for n in MODEL_NAMES} if params is None else params
    return SimpleNamespace(areas=AREAS, evals=trained, refinements=refinements, parameters=counts,
                           dataset="fake", test=[])


def _all(recall=0.7, fpr=0.05, tuned=True):
    q = {k: (recall, fpr) for k in LABELS}
    if tuned:
        q.update({f"{k} tuned ({z})": (recall, fpr) for k in ("Prop-34", "U-Net(19)") for z in sc.SIZES})
    return q


def _verdicts(run):
    return evaluate(sc.CLAIMS, run).set_index("claim_id")


def test_each_claim_on_the_papers_numbers_worked_by_hand():
    """Every claim's value and verdict on the paper's Tables II / III, worked out by hand (mean F1)."""
    table = on_paper_table(sc.CLAIMS, PaperTables("satellite_resnet")).set_index("claim_id")
    by_hand = {
        "prop_beats_unet_18": 62.80 - 61.25,
        "prop_beats_unet_34": 64.97 - 62.21,
        "depth_improves_34": 64.97 - 62.80,
        "depth_improves_50": 64.11 - 62.80,
        "depth_improves_101": 67.62 - 62.80,
        "depth_improves_152": 69.55 - 62.80,
        # direction −1, margin 0: held because Prop-200 is below Prop-152
        "no_gain_beyond_152": 68.80 - 69.55,
        # the smaller of the two gains of the refined Prop-152 / U-Net(19)
        "refinement_improves_prop": min(72.48 - 69.55, 75.11 - 69.55),
        "refinement_improves_unet": min(67.02 - 61.25, 72.72 - 61.25),
        "unet_gains_more": min((67.02 - 61.25) - (72.48 - 69.55), (72.72 - 61.25) - (75.11 - 69.55)),
    }
    for cid, value in by_hand.items():
        assert table.loc[cid, "on_paper_value"] == pytest.approx(value), cid
        assert table.loc[cid, "on_paper_numbers"] == "held", cid
    # the paper prints no parameter count
    assert table.loc["satellite_fewer_parameters", "on_paper_numbers"] == "n/a"
    assert set(table.index) == set(by_hand) | {"satellite_fewer_parameters"}


def test_every_nonzero_margin_cites_the_paper():
    assert all(c.margin == 0 or c.margin_source for c in sc.CLAIMS)
    # no tolerance of its own: "not any further" is judged against 0, with a note saying so
    c = next(c for c in sc.CLAIMS if c.id == "no_gain_beyond_152")
    assert c.margin == 0 and c.reference == 0 and "no size" in c.margin_source


def test_no_effect_gives_inconclusive_for_every_claim():
    # networks of different quality, but per block their counts are permuted among them: no
    # network is better than another on average
    q = _all(recall=0.5, fpr=0.08)
    q.update({"Prop-18": (0.8, 0.03), "Prop-200": (0.3, 0.1), "U-Net(19) tuned (large)": (0.9, 0.02)})
    run = _fake_run(q, permute=True, n_blocks=12)
    v = _verdicts(run)
    # each 95 % interval misses the true 0 about one time in 20: at most one of the ten claims on the
    # trained networks may be decided by chance on this (seeded, so repeatable) run
    decided = v[v["verdict"] != "inconclusive"]
    assert len(decided) <= 1 and "satellite_fewer_parameters" not in decided.index, decided
    assert (v["n_seeds"] == [3] * 10 + [1]).all()
    # equal counts (U-Net(19) = every Prop): effect 0 with no width, neither held nor contradicted
    assert v.loc["satellite_fewer_parameters", "effect"] == 0


def test_no_gain_beyond_152_against_zero():
    # identical networks: effect exactly 0, and with margin 0 "not above" cannot be told from "equal":
    # inconclusive, as every claim of a difference
    run = _fake_run(_all())
    for k in ("Prop-200", "U-Net(35)", "Prop-101"):
        run.evals[k] = run.evals["Prop-152"]
    run.evals["Prop-18"] = run.evals["U-Net(19)"] = run.evals["Prop-34"] = run.evals["Prop-50"] = run.evals["Prop-152"]
    v = _verdicts(run)
    for cid in ("no_gain_beyond_152", "prop_beats_unet_18", "prop_beats_unet_34", "depth_improves_50",
                "depth_improves_152"):
        assert v.loc[cid, "verdict"] == "inconclusive" and v.loc[cid, "effect"] == 0
    # Prop-200 clearly worse: held; clearly better: contradicted
    worse = _fake_run({"Prop-152": (0.9, 0.02), "Prop-200": (0.5, 0.1)})
    assert _verdicts(worse).loc["no_gain_beyond_152", "verdict"] == "held"
    better = _fake_run({"Prop-152": (0.5, 0.1), "Prop-200": (0.9, 0.02)})
    assert _verdicts(better).loc["no_gain_beyond_152", "verdict"] == "contradicted"


def test_a_real_effect_over_three_seeds_is_held_and_one_seed_is_not_enough():
    q = _all(recall=0.55, fpr=0.08)
    q.update({"Prop-18": (0.75, 0.04), "Prop-34": (0.8, 0.03), "Prop-50": (0.85, 0.03)})
    v = _verdicts(_fake_run(q))
    for cid in ("prop_beats_unet_18", "prop_beats_unet_34", "depth_improves_34", "depth_improves_50"):
        assert v.loc[cid, "verdict"] == "held", cid
        assert v.loc[cid, "ci_low"] > 0
    one = _verdicts(_fake_run(q, n_seeds=1))
    assert one.loc["prop_beats_unet_18", "verdict"] == "inconclusive"
    assert "needs ≥ 3 seeds" in one.loc["prop_beats_unet_18", "reason"]


def test_refinement_claims_with_gains():
    q = _all(recall=0.5, fpr=0.08)
    q.update({"Prop-34 tuned (small)": (0.6, 0.06), "Prop-34 tuned (large)": (0.65, 0.05),
              "U-Net(19) tuned (small)": (0.75, 0.04), "U-Net(19) tuned (large)": (0.85, 0.03)})
    v = _verdicts(_fake_run(q))
    assert v.loc["refinement_improves_prop", "verdict"] == "held"
    assert v.loc["refinement_improves_unet", "verdict"] == "held"
    assert v.loc["unet_gains_more", "verdict"] == "held"
    # Prop gains more than U-Net: the claim is contradicted
    q.update({"U-Net(19) tuned (small)": (0.52, 0.08), "U-Net(19) tuned (large)": (0.53, 0.08)})
    assert _verdicts(_fake_run(q)).loc["unet_gains_more", "verdict"] == "contradicted"


@pytest.mark.parametrize("collapse", [(0.0, 0.0), (1.0, 1.0)], ids=["predicts nothing", "predicts all building"])
def test_degenerate_network_makes_its_claims_not_tested(collapse):
    q = _all(recall=0.55, fpr=0.08)
    q["Prop-34"] = (0.8, 0.03)
    q["U-Net(35)"] = collapse
    run = _fake_run(q)
    v = _verdicts(run)
    row = v.loc["prop_beats_unet_34"]
    assert row["verdict"] == "not tested"
    assert row["reason"].startswith("not tested: the model is degenerate: U-Net(35) trained")
    assert set(sc.degenerate_models(run)) == {"U-Net(35)"}
    # the other claims do not rest on U-Net(35)
    assert v.loc["prop_beats_unet_18", "verdict"] != "not tested"


def test_refined_degenerate_network_and_missing_rows_are_not_tested():
    q = _all()
    q["U-Net(19)"] = (0.0, 0.0)
    v = _verdicts(_fake_run(q))
    for cid in ("refinement_improves_unet", "unet_gains_more", "prop_beats_unet_18"):
        assert v.loc[cid, "verdict"] == "not tested" and "degenerate" in v.loc[cid, "reason"], cid
    # networks not trained and no refinement: not tested, saying why
    small = _fake_run({"Prop-18": (0.7, 0.05), "U-Net(19)": (0.6, 0.06)})
    v = _verdicts(small)
    assert v.loc["depth_improves_101", "verdict"] == "not tested"
    assert "Prop-101 was not trained in this run" in v.loc["depth_improves_101", "reason"]
    assert "no Prop network refined" in v.loc["refinement_improves_prop", "evidence"]


def test_one_parameter_claim_against_the_papers_u_net():
    from benchlib.chapters.satellite_resnet.models import parameter_count

    counts = {n: parameter_count(n) for n in MODEL_NAMES}
    assert counts["unet19"] == 31_038_274 and counts["prop200"] == 117_815_810
    row = _verdicts(_fake_run(_all(), params=counts)).loc["satellite_fewer_parameters"]
    # the smallest of U-Net(19) − Prop-d is at Prop-200 (the deepest, widest decoder): an exact count,
    # so the interval has no width, and the claim is contradicted
    assert row["effect"] == pytest.approx((31_038_274 - 117_815_810) / 1e6)
    assert row["ci_low"] == row["ci_high"] == pytest.approx(row["effect"])
    assert row["verdict"] == "contradicted"
    # the evidence gives each depth: fewer up to Prop-34, more from Prop-50 on
    assert "Prop-18 14.85, Prop-34 24.96, Prop-50 78.7" in row["evidence"]
    assert "more than U-Net(19): Prop-50, Prop-101, Prop-152, Prop-200" in row["evidence"]
    # every Prop below U-Net(19): held, at the smallest margin (Prop-34's)
    fewer = dict(counts, **{f"prop{d}": 20_000_000 for d in (50, 101, 152, 200)})
    row = _verdicts(_fake_run(_all(), params=fewer)).loc["satellite_fewer_parameters"]
    assert row["verdict"] == "held" and row["effect"] == pytest.approx((31_038_274 - 24_961_666) / 1e6)
    # no counts: not tested
    assert _verdicts(_fake_run(_all(), params={})).loc["satellite_fewer_parameters", "verdict"] == "not tested"


def test_table_rows_lie_inside_their_own_interval_and_flag_degenerate_networks():
    from benchlib.chapters.satellite_resnet import report
    from benchlib.chapters.satellite_resnet.data import Scene
    from benchlib.results import ChapterResults

    q = _all(recall=0.6, fpr=0.06)
    q["U-Net(35)"] = (0.0, 0.0)
    run = _fake_run(q, n_blocks=10)
    for evs in [*run.evals.values(), *(r.tuned[s] for refs in run.refinements.values() for r in refs for s in sc.SIZES)]:
        for e in (evs if isinstance(evs, list) else [evs]):
            e.seconds = {a: 0.5 for a in AREAS}
    run.test = [Scene(a, np.zeros((4, 4, 4), np.float32), np.zeros((4, 4), np.uint8)) for a in AREAS]
    run.config = SimpleNamespace(width=8, n_seeds=3, seed=0)
    run.device, run.not_refined = "cpu", {}
    res = ChapterResults("satellite_resnet", "default")
    report.record(res, run)
    f = res.frame
    mean_rows = f["seed"].isna()
    scored = f[f["table"].isin(["2", "3"]) & f["value"].notna() & f["metric"].isin(["F1", "accuracy"]) & mean_rows]
    assert len(scored) == 8 * 8 + 2 * 3 * 8     # Table II: 8 networks × 8 cells; III: 2 networks × 3 rows × 8
    assert ((scored["ci_low"] <= scored["value"]) & (scored["value"] <= scored["ci_high"])).all()
    # every score's interval inside [0, 100] (also the collapsed U-Net(35) at F1 0), every gain's in [−100, 100]
    assert ((scored["ci_low"] >= 0) & (scored["ci_high"] <= 100)).all()
    deltas = f[f["metric"].str.endswith("_delta") & f["ci_low"].notna()]
    assert len(deltas) and ((deltas["ci_low"] >= -100) & (deltas["ci_high"] <= 100)).all()
    # per-seed rows: each network's mean F1 over the areas, seed by seed, without the paper's value
    seeded = f[~mean_rows]
    assert len(seeded) == 8 * 3 + 2 * 3 * 3 and set(seeded["metric"]) == {"F1"} and set(seeded["subset"]) == {"mean"}
    assert seeded["paper_value"].isna().all()
    p18 = seeded[(seeded["table"] == "2") & (seeded["method"] == "Prop-18")]
    assert list(p18["seed"]) == [0, 1, 2]
    for s_, e in enumerate(run.evals["Prop-18"]):   # by hand: 2TP / (2TP + FP + FN) per area, then the mean
        tp, fp, fn, _ = np.array([e.counts[a].sum(0) for a in AREAS]).T
        assert p18["value"].iloc[s_] == pytest.approx(100 * np.mean(2 * tp / (2 * tp + fp + fn)))
    t2 = report.tables(res, run)["2"]
    assert "alone" not in " ".join(t2.index.get_level_values(0))
    assert len(t2) == 8 * 4   # ours, CI, paper, Δ per network: no per-seed rows
    u35 = f[(f["table"] == "2") & (f["method"] == "U-Net(35)")]
    assert u35["note"].str.contains("DEGENERATE").all()
    assert not f[(f["table"] == "2") & (f["method"] == "U-Net(19)")]["note"].str.contains("DEGENERATE").any()
    # Table III like for like: U-Net(19) rows carry the paper's numbers, Prop-34 rows none, and the
    # paper's Prop-152 rows stand apart as not run
    t3 = f[(f["table"] == "3") & mean_rows]
    assert t3[t3["method"].str.startswith("U-Net(19)")]["paper_value"].notna().all()
    assert t3[t3["method"].str.startswith("Prop-34")]["paper_value"].isna().all()
    p152 = t3[t3["method"].str.startswith("Prop-152")]
    assert len(p152) and p152["value"].isna().all() and p152["note"].str.startswith("not run").all()


def test_not_claimed_lists_statement_source_and_reason():
    from benchlib.chapters.satellite_resnet import report

    rows = report.not_claimed()
    assert len(rows) >= 5 and all(set(r) == {"statement", "source", "reason"} and all(r.values()) for r in rows)
    # the batch-size argument rests on the counted parameters: it points at the one parameter claim
    assert any("satellite_fewer_parameters" in r["reason"] for r in rows)


def test_seed_spread_worked_by_hand():
    """Per-seed rows of Table II -> mean / SD / extremes per network and per claimed pair (a − b)."""
    from benchlib.chapters.satellite_resnet import report
    from benchlib.results import ChapterResults

    res = ChapterResults("satellite_resnet", "smoke")
    for seed, (u, p) in enumerate([(50.0, 60.0), (54.0, 61.0), (52.0, 65.0)]):
        res.add("2", "U-Net(19)", "F1", u, dataset="twin", subset="mean", seed=seed)
        res.add("2", "Prop-18", "F1", p, dataset="twin", subset="mean", seed=seed)
    res.add("2", "Prop-18", "F1", 99.0, dataset="twin", subset="mean")          # the mean row: not a seed
    t = report.seed_spread(res)
    assert list(t.index) == ["U-Net(19)", "Prop-18", "Prop-18 − U-Net(19) (prop_beats_unet_18)"]
    assert t.loc["U-Net(19)", "mean"] == 52.0 and t.loc["U-Net(19)", "SD across seeds"] == 2.0
    assert t.loc["Prop-18", "lowest"] == 60.0 and t.loc["Prop-18", "highest"] == 65.0
    diff = t.loc["Prop-18 − U-Net(19) (prop_beats_unet_18)"]          # 10, 7, 13: mean 10, SD 3
    assert diff["mean"] == 10.0 and diff["SD across seeds"] == 3.0 and diff["seeds"] == 3
