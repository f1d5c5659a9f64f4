"""FORB's claims through the claims engine: held on the paper's own numbers, inconclusive when
there is no effect, not tested on a degenerate or missing model, held / contradicted on clear effects."""
import numpy as np
import pytest

from benchlib.claims import PaperTables, evaluate, paper_verdict, run_checks
from benchlib.chapters.forb_retrieval import claims as C
from benchlib.chapters.forb_retrieval import pipeline as P
from benchlib.chapters.forb_retrieval.pipeline import PRETRAINED as PRE
from benchlib.chapters.forb_retrieval.pipeline import SSL

from ._fake import balanced_queries, scored_run, tiny_run

METHODS = ("BoW", "BoW (+ rerank)", "resnet18 (random init)", SSL, PRE)


def test_every_claim_is_held_on_the_papers_own_numbers():
    paper = PaperTables("forb_retrieval")
    expected = {  # worked out from the supplementary's tables
        "local_degrade_with_difficulty": 98.18 - 91.97,   # FIRe easy − medium, Table 3 (the smallest drop)
        "global_degrade_with_difficulty": 98.55 - 90.14,  # CLIP easy − medium (smallest among top-only)
        "ssl_degrades_with_difficulty": 98.55 - 90.14,    # CLIP easy − medium (smallest among top-only)
        "rerank_helps_bow": 83.35 - 81.20,                # Table 3 mAP@5 (Table 1's mAP@1 gain is 4.19)
        "logos_hardest_for_local_features": 68.78 - 30.22,  # BoW: paintings − logos, Table 5
        "bow_index_far_larger": np.log10(22.141 / 0.214),   # BoW (+ rerank) vs BLIP / DINOv2, Table 7
    }
    assert {c.id for c in C.CLAIMS} == set(expected)
    for c in C.CLAIMS:
        verdict, value = paper_verdict(c, paper)
        assert verdict == "held", c.id
        assert value == pytest.approx(expected[c.id], abs=1e-9), c.id


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
    out = evaluate(C.CLAIMS, _no_effect_run(), n_boot=400).set_index("claim_id")
    assert (out["verdict"] == "inconclusive").all(), out[["verdict", "effect", "ci_low", "ci_high"]]
    assert out.loc["ssl_degrades_with_difficulty", "n_seeds"] == 3
    assert out.loc["local_degrade_with_difficulty", "n_units"] == 48


def test_degenerate_or_missing_models_are_not_tested():
    run = _no_effect_run()
    for s in run.scores[SSL, 5, "min"]:  # the SimCLR CNN at the random-init floor in one seed
        s.ap[:] = 0.01
    run.scores[PRE, 5, "min"][0].ap[:] = 0.005  # the ImageNet embedding below the floor
    out = evaluate(C.CLAIMS, run, n_boot=200).set_index("claim_id")
    for cid in ("ssl_degrades_with_difficulty", "global_degrade_with_difficulty"):
        assert out.loc[cid, "verdict"] == "not tested"
        assert "degenerate model" in out.loc[cid, "evidence"]
    assert out.loc["local_degrade_with_difficulty", "verdict"] == "inconclusive"  # BoW is not degenerate
    q = balanced_queries()
    only_global = scored_run({"glob": [np.full((2, len(q)), 0.5)]}, q)
    out = evaluate(C.CLAIMS, only_global, n_boot=200).set_index("claim_id")
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
    out = evaluate(C.CLAIMS, scored_run(ap, q, sizes), n_boot=400).set_index("claim_id")
    for cid in ("local_degrade_with_difficulty", "global_degrade_with_difficulty", "ssl_degrades_with_difficulty", "rerank_helps_bow", "logos_hardest_for_local_features",
                "bow_index_far_larger"):
        assert out.loc[cid, "verdict"] == "held", (cid, out.loc[cid, "evidence"])
    assert out.loc["bow_index_far_larger", "effect"] == pytest.approx(np.log10(64_000 / 2048))
    # one more global embedding evaluated as is, which does not degrade: "every" is no longer held
    flat = noisy(np.full(len(q), 0.5))
    out = evaluate(C.CLAIMS, scored_run({**ap, "flat embedding": [np.stack([flat, flat])]}, q, sizes),
                   n_boot=400).set_index("claim_id")
    assert out.loc["global_degrade_with_difficulty", "verdict"] == "inconclusive"
    assert "weakest drop (mAP@5 points, fake twin, seed 0): flat embedding" in out.loc["global_degrade_with_difficulty", "evidence"]
    # reversed: re-ranking lowers BoW's mAP by 0.2 everywhere
    ap["BoW (+ rerank)"], ap["BoW"] = ap["BoW"], ap["BoW (+ rerank)"]
    out = evaluate(C.CLAIMS, scored_run(ap, q, sizes), n_boot=400).set_index("claim_id")
    assert out.loc["rerank_helps_bow", "verdict"] == "contradicted"


def test_one_seed_of_the_trained_model_is_at_most_inconclusive():
    q = balanced_queries()
    level = q["difficulty"].map({"easy": 0.9, "medium": 0.6, "hard": 0.3}).to_numpy()
    run = scored_run({"resnet18 (random init)": [np.full((2, len(q)), 0.01)], SSL: [np.stack([level, level])]}, q)
    row = evaluate(C.CLAIMS, run, n_boot=200).set_index("claim_id").loc["ssl_degrades_with_difficulty"]
    assert row["verdict"] == "inconclusive" and "needs ≥ 3" in row["evidence"]


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
        for d in P.DIVISORS:
            run.scores[P.HISTOGRAM, k, d] = [P.Scores(np.ones(len(q)), np.ones(len(q)), {})]
    assert C._floor(run) == floor < 100
    assert P.HISTOGRAM not in C._evaluated_as_is("global")(run)
    before = evaluate(C.CLAIMS, _no_effect_run(), n_boot=200)["verdict"].tolist()
    assert evaluate(C.CLAIMS, run, n_boot=200)["verdict"].tolist() == before
