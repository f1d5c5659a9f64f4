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
    counts = params or {n: 1_000_000 for n in MODEL_NAMES}
    return SimpleNamespace(areas=AREAS, evals=trained, refinements=refinements, parameters=counts,
                           dataset="fake", test=[])


def _all(recall=0.7, fpr=0.05, tuned=True):
    q = {k: (recall, fpr) for k in LABELS}
    if tuned:
        q.update({f"{k} tuned ({z})": (recall, fpr) for k in ("Prop-34", "U-Net(19)") for z in sc.SIZES})
    return q


def _verdicts(run):
    return evaluate(sc.CLAIMS, run, n_boot=400).set_index("claim_id")


def test_every_claim_with_paper_numbers_holds_on_them():
    paper = PaperTables("satellite_resnet")
    table = on_paper_table(sc.CLAIMS, paper).set_index("claim_id")
    expressible = [c for c in sc.CLAIMS if c.on_paper is not None]
    assert len(expressible) == 10
    for c in expressible:
        assert table.loc[c.id, "on_paper_numbers"] == "held", c.id
    # worked by hand from Tables II / III: Prop-34 − U-Net(35) = 64.97 − 62.21; smallest Prop-152
    # gain = 72.48 − 69.55; U-Net gains more: min(67.02 − 61.25 − 2.93, 72.72 − 61.25 − 5.56)
    by_id = {c.id: c for c in sc.CLAIMS}
    assert paper_verdict(by_id["prop_beats_unet_34"], paper)[1] == pytest.approx(2.76)
    assert paper_verdict(by_id["refinement_improves_prop"], paper)[1] == pytest.approx(2.93)
    assert paper_verdict(by_id["unet_gains_more"], paper)[1] == pytest.approx(min(5.77 - 2.93, 11.47 - 5.56))
    assert paper_verdict(by_id["no_gain_beyond_152"], paper)[1] == pytest.approx(68.80 - 69.55)


def test_no_effect_gives_inconclusive_for_every_claim():
    # networks of different quality, but per block their counts are permuted among them: no
    # network is better than another on average
    q = _all(recall=0.5, fpr=0.08)
    q.update({"Prop-18": (0.8, 0.03), "Prop-200": (0.3, 0.1), "U-Net(19) tuned (large)": (0.9, 0.02)})
    run = _fake_run(q, permute=True, n_blocks=12)
    v = _verdicts(run)
    assert (v["verdict"] == "inconclusive").all(), v[["verdict", "effect", "ci_low", "ci_high"]]
    assert (v["n_seeds"] == [3] * 10 + [1] * 6).all()


def test_no_gain_beyond_152_is_a_non_superiority_claim():
    # identical networks measured precisely: "Prop-200 not better than Prop-152 by > 1 point" holds,
    # every claim of a difference stays inconclusive (effect exactly 0)
    run = _fake_run(_all())
    for k in ("Prop-200", "U-Net(35)", "Prop-101"):
        run.evals[k] = run.evals["Prop-152"]
    run.evals["Prop-18"] = run.evals["U-Net(19)"] = run.evals["Prop-34"] = run.evals["Prop-50"] = run.evals["Prop-152"]
    v = _verdicts(run)
    assert v.loc["no_gain_beyond_152", "verdict"] == "held"
    for cid in ("prop_beats_unet_18", "prop_beats_unet_34", "depth_improves_50", "depth_improves_152"):
        assert v.loc[cid, "verdict"] == "inconclusive" and v.loc[cid, "effect"] == 0
    # Prop-200 clearly better: contradicted
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
    assert "needs ≥ 3" in one.loc["prop_beats_unet_18", "evidence"]


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
    assert "degenerate model" in row["evidence"] and "U-Net(35)" in row["evidence"]
    assert set(sc.degenerate_models(run)) == {"U-Net(35)"}
    # the other claims do not rest on U-Net(35)
    assert v.loc["prop_beats_unet_18", "verdict"] != "not tested"


def test_refined_degenerate_network_and_missing_rows_are_not_tested():
    q = _all()
    q["U-Net(19)"] = (0.0, 0.0)
    v = _verdicts(_fake_run(q))
    for cid in ("refinement_improves_unet", "unet_gains_more", "prop_beats_unet_18"):
        assert v.loc[cid, "verdict"] == "not tested" and "degenerate" in v.loc[cid, "evidence"], cid
    # networks not trained and no refinement: not tested, saying why
    small = _fake_run({"Prop-18": (0.7, 0.05), "U-Net(19)": (0.6, 0.06)})
    v = _verdicts(small)
    assert v.loc["depth_improves_101", "verdict"] == "not tested"
    assert "Prop-101 not trained" in v.loc["depth_improves_101", "evidence"]
    assert "no Prop network refined" in v.loc["refinement_improves_prop", "evidence"]


def test_parameter_claims_from_counts():
    from benchlib.chapters.satellite_resnet.models import parameter_count

    counts = {n: parameter_count(n) for n in MODEL_NAMES}
    v = _verdicts(_fake_run(_all(), params=counts))
    assert v.loc["fewer_parameters_18", "verdict"] == "held"
    assert v.loc["fewer_parameters_18", "effect"] == pytest.approx((31_038_274 - 14_853_506) / 1e6)
    # true up to Prop-34, false from Prop-50 on (the Bottleneck decoders are wide)
    assert v.loc["fewer_parameters_34", "verdict"] == "held"
    for d in (50, 101, 152, 200):
        assert v.loc[f"fewer_parameters_{d}", "verdict"] == "contradicted", d
    # counts the other way round: contradicted
    swapped = dict(counts, prop34=counts["unet35"] + 1)
    assert _verdicts(_fake_run(_all(), params=swapped)).loc["fewer_parameters_34", "verdict"] == "contradicted"


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
    run.config = SimpleNamespace(width=8, n_seeds=3, seed=0, n_boot=200)
    run.device, run.not_refined = "cpu", {}
    res = ChapterResults("satellite_resnet", "default")
    report.record(res, run)
    f = res.frame
    scored = f[f["table"].isin(["2", "3"]) & f["value"].notna() & f["metric"].isin(["F1", "accuracy"])]
    assert len(scored) == 8 * 8 + 2 * 3 * 8     # Table II: 8 networks × 8 cells; III: 2 networks × 3 rows × 8
    assert ((scored["ci_low"] <= scored["value"]) & (scored["value"] <= scored["ci_high"])).all()
    u35 = f[(f["table"] == "2") & (f["method"] == "U-Net(35)")]
    assert u35["note"].str.contains("DEGENERATE").all()
    assert not f[(f["table"] == "2") & (f["method"] == "U-Net(19)")]["note"].str.contains("DEGENERATE").any()
    # Table III like for like: U-Net(19) rows carry the paper's numbers, Prop-34 rows none, and the
    # paper's Prop-152 rows stand apart as not run
    t3 = f[f["table"] == "3"]
    assert t3[t3["method"].str.startswith("U-Net(19)")]["paper_value"].notna().all()
    assert t3[t3["method"].str.startswith("Prop-34")]["paper_value"].isna().all()
    p152 = t3[t3["method"].str.startswith("Prop-152")]
    assert len(p152) and p152["value"].isna().all() and p152["note"].str.startswith("not run").all()
