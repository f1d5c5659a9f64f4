"""FORB's claims through the claims engine: each on-paper value worked out by hand from the
supplementary's tables, inconclusive when there is no effect, not tested on a degenerate or missing
model, held / contradicted on clear effects."""
import numpy as np
import pytest

from benchlib.claims import BY_CONSTRUCTION, PaperTables, counts, evaluate, paper_verdict, run_checks
from benchlib.chapters.forb_retrieval import claims as C
from benchlib.chapters.forb_retrieval import evaluate as E
from benchlib.chapters.forb_retrieval import pipeline as P
from benchlib.chapters.forb_retrieval.pipeline import PRETRAINED as PRE
from benchlib.chapters.forb_retrieval.pipeline import SSL

from ._fake import balanced_queries, scored_run, tiny_run

METHODS = ("BoW", "BoW (+ rerank)", "resnet18 (random init)", SSL, PRE)


def test_on_paper_values_and_verdicts_worked_out_by_hand():
    paper = PaperTables("forb_retrieval")
    # shifts of Overall mAP@1, Table 1 (FORB) → Table 4 (reduced FORB); dagger: CLIP, BLIP, BLIP2, DiHT
    others = [77.69 - 74.69, 82.04 - 78.88, 88.81 - 86.57, 47.36 - 44.88, 61.90 - 58.33, 34.78 - 32.61,
              54.87 - 51.79, 68.64 - 65.19]           # BoW, BoW (+ rerank), FIRe, DELG, DELG (+ rr), SLIP, DINO, DINOv2
    dagger = [85.40 - 84.35, 69.03 - 68.04, 76.91 - 75.28, 81.05 - 79.70]
    expected = {  # (value, verdict), from the supplementary's tables
        "local_degrade_with_difficulty": (98.18 - 91.97, "held"),   # FIRe easy − medium, Table 3 (the smallest drop)
        "global_degrade_with_difficulty": (98.55 - 90.14, "held"),  # CLIP easy − medium (smallest among top-only)
        "ssl_degrades_with_difficulty": (98.55 - 90.14, "held"),    # CLIP easy − medium (smallest among top-only)
        "rerank_helps_bow": (83.35 - 81.20, "held"),                # Table 3 mAP@5 (Table 1's mAP@1 gain is 4.19)
        "logos_hardest_for_local_features": (68.78 - 30.22, "held"),  # BoW: paintings − logos, Table 5
        # BoW (+ rerank) vs BLIP / DINOv2, Table 7: 103×, 2.01 orders > the margin of 1 (and of 2)
        "bow_index_far_larger": (np.log10(22.141 / 0.214), "held"),
        # Table 1 Overall: mAP@1 FIRe 86.57 − CLIP 84.35 = 2.22; t-mAP@1 76.70 − BoW (+ rerank) 66.65 = 10.05
        "forb_fire_best_overall": (86.57 - 84.35, "held"),
        # the others gain 2.89 on average, the dagger methods 1.26: 1.64 < FIRe's 2.22-point lead
        "forb_reduced_similar": (np.mean(others) - np.mean(dagger), "held"),
        # FIRe 0.563 GB vs the largest top-only index 0.214 GB (BLIP, DINOv2): 2.6×, 0.42 orders < 1
        "forb_fire_index_like_top_only": (np.log10(0.563 / 0.214), "held"),
    }
    assert [c.id for c in C.CLAIMS] == list(expected)
    for c in C.CLAIMS:
        verdict, value = paper_verdict(c, paper)
        assert value == pytest.approx(expected[c.id][0], abs=1e-9), c.id
        assert verdict == expected[c.id][1], c.id
    assert np.mean(others) == pytest.approx(2.89375) and np.mean(dagger) == pytest.approx(1.255)
    assert C.FIRE_LEAD == pytest.approx(2.22)
    # the same margin read literally ("orders": 2) still holds for BoW, though not for DELG's 71× (1.85)
    assert np.log10(22.141 / 0.214) > 2 > np.log10(15.222 / 0.214)


def test_margins_cite_their_source_and_by_construction_claims_say_why():
    for c in C.CLAIMS:
        assert c.margin == 0 or c.margin_source, c.id
        assert c.reference in (0.0, 1.0) or c.margin_source, c.id   # a claimed level other than 0 / 1 is cited
    built = {c.id for c in C.CLAIMS if c.by_construction}
    assert built == {"local_degrade_with_difficulty", "global_degrade_with_difficulty", "ssl_degrades_with_difficulty"}
    assert "orders of magnitude" in C.CLAIMS[5].margin_source and "1.85" in C.CLAIMS[5].margin_source


def test_paper_only_claims_are_not_tested_on_the_run_with_their_reason():
    out = evaluate(C.CLAIMS, _no_effect_run(), PaperTables("forb_retrieval")).set_index("claim_id")
    for cid, words in (("forb_fire_best_overall", "FIRe does not run here"),
                       ("forb_reduced_similar", "shares no image with LAION-5B"),
                       ("forb_fire_index_like_top_only", "FIRe does not run here")):
        assert out.loc[cid, "verdict"] == "not tested"
        assert words in out.loc[cid, "reason"] and out.loc[cid, "on_paper_numbers"] == "held"


def test_statistics_by_hand():
    # columns AP·1[a], 1[a], AP·1[b], 1[b] (means over all queries): group means 0.6 / 0.5 and 0.3 / 0.5
    assert C.group_gap(np.array([0.6, 0.5, 0.3, 0.5])) == pytest.approx(1.2 - 0.6)
    assert C.log10_first_over_max(np.array([5000.0, 10.0, 50.0])) == pytest.approx(2.0)


def _no_effect_run(n_seeds=3, seed=0):
    """Every difficulty and every object type holds the same multiset of AP values (a, a, a, b, b, b
    per type, so {a, b} per difficulty); BoW (+ rerank) holds BoW's values permuted across the
    queries of each (type, difficulty) cell (a ↔ b); BoW's index is as large as the global one's."""
    q = balanced_queries()
    rng = np.random.default_rng(seed)

    def balanced(lo, hi):
        a, b = rng.uniform(lo, hi, 2)
        v = np.tile(np.repeat([a, b], 3), 8)
        return np.stack([v, np.minimum(1, v + 0.1)])

    bow = balanced(0.3, 0.9)
    cell_swap = np.arange(len(q)) // 6 * 6 + (np.arange(len(q)) % 6 + 3) % 6  # query j ↔ j + 3 of its type
    rerank = bow[:, cell_swap]
    ap = {"BoW": [bow], "BoW (+ rerank)": [rerank], "resnet18 (random init)": [np.full((2, len(q)), 0.01)],
          SSL: [balanced(0.2, 0.6) for _ in range(n_seeds)], PRE: [balanced(0.2, 0.6)]}
    size = np.full(4, 2048.0)
    return scored_run(ap, q, {m: size for m in METHODS})


def test_no_effect_gives_inconclusive_for_every_claim():
    out = evaluate(C.CLAIMS, _no_effect_run()).set_index("claim_id")
    measured = out[out["verdict"] != "not tested"]
    assert set(out.index) - set(measured.index) == {"forb_fire_best_overall", "forb_reduced_similar",
                                                    "forb_fire_index_like_top_only"}
    # "orders of magnitude" claims at least one order: an index no larger (0 orders, no spread) is
    # wholly below the claimed size, so it is contradicted, not inconclusive
    assert measured.loc["bow_index_far_larger", "verdict"] == "contradicted"
    assert measured.loc["bow_index_far_larger", "effect"] == 0.0
    rest = measured.drop("bow_index_far_larger")
    assert (rest["verdict"] == "inconclusive").all(), rest[["verdict", "effect", "ci_low", "ci_high"]]
    assert out.loc["ssl_degrades_with_difficulty", "n_seeds"] == 3
    assert out.loc["local_degrade_with_difficulty", "n_units"] == 48


def test_degenerate_or_missing_models_are_not_tested():
    run = _no_effect_run()
    for s in run.scores[SSL, 5, "min"]:  # the SimCLR CNN at the random-init floor in one seed
        s.ap[:] = 0.01
    run.scores[PRE, 5, "min"][0].ap[:] = 0.005  # the ImageNet embedding below the floor
    out = evaluate(C.CLAIMS, run).set_index("claim_id")
    for cid in ("ssl_degrades_with_difficulty", "global_degrade_with_difficulty"):
        assert out.loc[cid, "verdict"] == "not tested"
        assert "the model is degenerate" in out.loc[cid, "evidence"]
        assert "random-init floor" in out.loc[cid, "reason"]
    assert out.loc["local_degrade_with_difficulty", "verdict"] == "inconclusive"  # BoW is not degenerate
    q = balanced_queries()
    only_global = scored_run({"glob": [np.full((2, len(q)), 0.5)]}, q)
    out = evaluate(C.CLAIMS, only_global).set_index("claim_id")
    assert (out.drop("global_degrade_with_difficulty")["verdict"] == "not tested").all()
    assert "not run" in out.loc["ssl_degrades_with_difficulty", "evidence"]


def test_clear_effects_are_held_and_reversed_ones_contradicted():
    q = balanced_queries()
    level = q["difficulty"].map({"easy": 0.9, "medium": 0.6, "hard": 0.3}).to_numpy()
    logos = (q["object_type"] == "logos").to_numpy()
    rng = np.random.default_rng(1)
    noisy = lambda v: np.clip(v + rng.normal(0, 0.03, len(v)), 0, 1)
    bow = np.where(logos, 0.1, level)
    ap = {"BoW": [np.stack([noisy(bow), noisy(bow)])],
          "BoW (+ rerank)": [np.stack([noisy(np.minimum(bow + 0.2, 1)), noisy(np.minimum(bow + 0.2, 1))])],
          "resnet18 (random init)": [np.full((2, len(q)), 0.01)],
          SSL: [np.stack([noisy(level), noisy(level)]) for _ in range(3)],
          PRE: [np.stack([noisy(level), noisy(level)])]}
    sizes = {"BoW (+ rerank)": np.full(4, 64_000.0), "resnet18 (random init)": np.full(4, 2048.0),
             SSL: np.full(4, 512.0)}
    out = evaluate(C.CLAIMS, scored_run(ap, q, sizes)).set_index("claim_id")
    for cid in ("local_degrade_with_difficulty", "global_degrade_with_difficulty", "ssl_degrades_with_difficulty", "rerank_helps_bow", "logos_hardest_for_local_features",
                "bow_index_far_larger"):
        assert out.loc[cid, "verdict"] == "held", (cid, out.loc[cid, "evidence"])
    assert out.loc["bow_index_far_larger", "effect"] == pytest.approx(np.log10(64_000 / 2048))
    # the three difficulty claims hold by construction on the twin: counted apart from held
    tally = counts(out.reset_index())
    assert tally[BY_CONSTRUCTION] == 3 and tally["held"] == 3
    assert "by construction" in out.loc["local_degrade_with_difficulty", "reason"]
    # one more global embedding evaluated as is, which does not degrade: "every" is no longer held
    flat = noisy(np.full(len(q), 0.5))
    out = evaluate(C.CLAIMS, scored_run({**ap, "flat embedding": [np.stack([flat, flat])]}, q, sizes),
).set_index("claim_id")
    assert out.loc["global_degrade_with_difficulty", "verdict"] == "inconclusive"
    assert "weakest drop (mAP@5 points, fake twin, seed 0): flat embedding" in out.loc["global_degrade_with_difficulty", "evidence"]
    # reversed: re-ranking lowers BoW's mAP by 0.2 everywhere
    ap["BoW (+ rerank)"], ap["BoW"] = ap["BoW"], ap["BoW (+ rerank)"]
    out = evaluate(C.CLAIMS, scored_run(ap, q, sizes)).set_index("claim_id")
    assert out.loc["rerank_helps_bow", "verdict"] == "contradicted"


def test_one_seed_of_the_trained_model_is_at_most_inconclusive():
    q = balanced_queries()
    level = q["difficulty"].map({"easy": 0.9, "medium": 0.6, "hard": 0.3}).to_numpy()
    run = scored_run({"resnet18 (random init)": [np.full((2, len(q)), 0.01)], SSL: [np.stack([level, level])]}, q)
    row = evaluate(C.CLAIMS, run).set_index("claim_id").loc["ssl_degrades_with_difficulty"]
    assert row["verdict"] == "inconclusive" and "needs ≥ 3 seeds" in row["reason"]


def test_checks_on_the_hand_made_run():
    run = tiny_run()
    out = run_checks(C.CHECKS, run).set_index("check_id")
    assert out.loc["tmap_at_most_map", "passed"] == "yes"  # BoW 0.5568 ≤ 0.7083, glob 0.8636 ≤ 1
    assert out.loc["divisors_agree_up_to_k", "passed"] == "yes"
    assert "k=1: 1 queries with more than k positives" in out.loc["divisors_agree_up_to_k", "detail"]
    assert out.loc["index_bytes_add_up", "passed"] == "yes"
    run.runs["glob"][0].bytes_per_image = np.full(8, 1e6)  # far more than the serialised 1,000 bytes
    assert run_checks(C.CHECKS, run).set_index("check_id").loc["index_bytes_add_up", "passed"] == "NO"


def test_the_colour_histogram_is_neither_floor_nor_subject():
    """A trivial baseline above every network must not raise the random-init floor (which would
    make the ImageNet row 'degenerate'), and takes part in no claim."""
    run = _no_effect_run()
    floor = C._floor(run)
    q = run.data.queries
    hist = P.MethodRun(P.HISTOGRAM, "global", np.zeros((len(q), 1), int), np.zeros((len(q), 1)), np.zeros(len(q)),
                       4, 1.0, meaningful=False, baseline=True, bytes_per_image=np.full(4, 1e9))
    run.runs[P.HISTOGRAM] = [hist]
    for k in (1, 5):
        for d in E.DIVISORS:
            run.scores[P.HISTOGRAM, k, d] = [E.Scores(np.ones(len(q)), np.ones(len(q)), {})]
    assert C._floor(run) == floor < 100
    assert P.HISTOGRAM not in C._evaluated_as_is("global")(run)
    before = evaluate(C.CLAIMS, _no_effect_run())["verdict"].tolist()
    assert evaluate(C.CLAIMS, run)["verdict"].tolist() == before
