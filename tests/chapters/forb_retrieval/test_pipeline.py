"""The chapter's bookkeeping on a fabricated search result whose numbers are worked out by hand."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from benchlib.data.forb import ForbData
from benchlib.experiments import forb_retrieval as X
from benchlib.results import ChapterResults


def _experiment():
    """4 queries: logos easy (positives 0, 1), logos hard (2), bookcovers easy (5), bookcovers hard (6).
    Distractors: 3, 4, 7. Rankings (top 3) and scores chosen by hand."""
    db = pd.DataFrame({"db_id": range(8), "object_type": ["logos"] * 5 + ["bookcovers"] * 3,
                       "image": [f"/x/{i}.jpg" for i in range(8)],
                       "distractor": [False, False, False, True, True, False, False, True]})
    q = pd.DataFrame({"query_id": [1, 2, 1, 2], "object_type": ["logos", "logos", "bookcovers", "bookcovers"],
                      "image": [f"/q/{i}.jpg" for i in range(4)], "difficulty": ["easy", "hard", "easy", "hard"],
                      "positives": [[0, 1], [2], [5], [6]]})
    data = ForbData(root=None, database=db, queries=q)
    exp = X.Experiment(data, "hand-made, seed 0", True)
    # BoW: q0 [0, 3, 1] → AP@1 = 1 (÷min 1) or 1/2 (÷2); AP@5 = (1 + 2/3)/2 = 5/6 under both divisors
    #      q1 [3, 2, 4] → AP@1 = 0, AP@5 = 1/2;  q2 [5, 7, 6] → 1, 1;  q3 [7, 6, 4] → 0, 1/2
    bow_ids = np.array([[0, 3, 1], [3, 2, 4], [5, 7, 6], [7, 6, 4]])
    bow_s = np.array([[0.9, 0.5, 0.4], [0.6, 0.55, 0.1], [0.8, 0.3, 0.2], [0.7, 0.6, 0.5]])
    exp.runs["BoW"] = X.MethodRun("BoW", "local", bow_ids, bow_s, np.array([0.5, 0.6, 0.3, 0.7]), 10_000_000, 5.0)
    # a perfect global method
    g_ids = np.array([[0, 1, 3], [2, 3, 4], [5, 7, 4], [6, 7, 4]])
    g_s = np.array([[0.9, 0.8, 0.1], [0.7, 0.2, 0.1], [0.6, 0.5, 0.4], [0.95, 0.3, 0.2]])
    exp.runs["glob"] = X.MethodRun("glob", "global", g_ids, g_s, np.array([0.8, 0.2, 0.5, 0.3]), 1_000, 1.0)
    return exp


def test_evaluate_per_query_ap_by_hand():
    exp = _experiment()
    s = X.evaluate(exp)
    np.testing.assert_allclose(s["BoW", 1, "min"].ap, [1, 0, 1, 0])
    np.testing.assert_allclose(s["BoW", 1, "all"].ap, [0.5, 0, 1, 0])
    np.testing.assert_allclose(s["BoW", 5, "min"].ap, [5 / 6, 1 / 2, 1, 1 / 2])
    np.testing.assert_allclose(s["glob", 5, "min"].ap, [1, 1, 1, 1])
    # t-mAP of the perfect method: distractor tops sorted S = [0.2, 0.3, 0.5, 0.8], N = 4.
    # f = 0 → t = S[3] = 0.8: kept q0 [0 (0.9), 1 (0.8)] → 1; q1 (0.7) nothing → 0; q2 0; q3 [6] → 1 → 0.5
    c = s["glob", 5, "min"].curve
    assert c["thresholds"][0] == 0.8 and c["map"][0] == pytest.approx(0.5)
    assert c["map"][-1] == pytest.approx(1.0) and c["thresholds"][-1] == -1
    np.testing.assert_allclose(s["glob", 5, "min"].tap.mean(), c["t_map"])


def test_result_rows_sit_beside_the_paper_and_layout():
    exp = _experiment()
    s = X.evaluate(exp)
    res = ChapterResults("forb_retrieval", "smoke", None)
    X.add_result_rows(res, exp, s, n_boot=200)
    f = res.frame
    row = f[(f.table == "1") & (f.method == "BoW") & (f.metric == "mAP@1") & (f.subset == "easy")].iloc[0]
    assert row.value == pytest.approx(100.0) and row.paper_value == pytest.approx(87.35)
    assert row.delta == pytest.approx(100 - 87.35) and row.n == 2
    code = f[(f.table == "2") & (f.method == "BoW") & (f.metric == "mAP@1 (code divisor)") & (f.subset == "logos")].iloc[0]
    assert code.value == pytest.approx(25.0) and code.paper_value == pytest.approx(25.73)  # (1/2 + 0)/2
    ours_glob = f[(f.method == "glob") & (f.dataset != "paper")]
    assert ours_glob["paper_value"].isna().all()  # no counterpart in the paper
    clip = f[(f.table == "3") & (f.method == "CLIP")]
    assert len(clip) == 8 and (clip.dataset == "paper").all() and clip.value.isna().all()
    wide = X.paper_layout(f, "1")
    assert wide.loc["BoW", ("mAP@1", "easy")] == "100.0 (87.3)" or wide.loc["BoW", ("mAP@1", "easy")] == "100.0 (87.4)"
    assert wide.loc["CLIP", ("mAP@1", "overall")] == "— (84.3)" or wide.loc["CLIP", ("mAP@1", "overall")] == "— (84.4)"
    assert X.paper_layout(f, "2", divisor="all").loc["BoW", ("mAP@1", "logos")].startswith("25.0")
    d = X.divisor_table(s, exp, k=1)
    assert d.loc["BoW", "logos, paper"] == pytest.approx(50.0) and d.loc["BoW", "logos, code"] == pytest.approx(25.0)


def test_index_rows_and_claims():
    exp = _experiment()
    s = X.evaluate(exp)
    res = ChapterResults("forb_retrieval", "smoke", None)
    X.add_index_rows(res, exp)
    exp.runs["BoW (+ rerank)"] = exp.runs["BoW"]
    X.add_claims(res, exp, s | {("BoW (+ rerank)", k, d): v for (m, k, d), v in s.items() if m == "BoW"})
    f = res.frame
    kb = f[(f.method == "BoW") & (f.metric == "index_KB_per_image")].iloc[0]
    assert kb.value == pytest.approx(10_000_000 / 1e3 / 8)
    cl = res.claims.set_index("claim_id")["verdict"]
    assert cl["degrades_with_difficulty"] == "not held"  # the perfect method does not degrade
    assert cl["rerank_helps_bow"] == "not held"  # identical runs: difference 0
    assert cl["bow_index_orders_larger"] == "held"  # 10 MB vs 1 kB
    assert cl["logos_hardest_for_bow"] == "held"  # logos (5/6 + 1/2)/2 = 66.7 < bookcovers (1 + 1/2)/2 = 75
    assert cl["tmap_below_map"] == "held"
    # By hand (11 thresholds; BoW's from S = [.3 .5 .6 .7], glob's from [.2 .3 .5 .8]):
    # BoW per-query t-AP@5 = [6.5/11, 3/11, 1, 4/11], drops [.2424, .2273, 0, .1364], mean .1515;
    # glob t-AP@5 = [1, 8/11, 8/11, 1], drops [0, 3/11, 3/11, 0], mean .1364 < .1515.
    np.testing.assert_allclose(s["BoW", 5, "min"].tap, [6.5 / 11, 3 / 11, 1, 4 / 11])
    np.testing.assert_allclose(s["glob", 5, "min"].tap, [1, 8 / 11, 8 / 11, 1])
    assert cl["tmap_drop_larger_for_global"] == "not held"
    assert set(cl.values) <= {"held", "not held", "not tested"} and len(cl) == 6


def test_figures_and_explorer_build(monkeypatch):
    exp = _experiment()
    s = X.evaluate(exp)
    monkeypatch.setattr(X, "images", lambda paths, size: [np.zeros((8, 8, 3), np.uint8) for _ in paths])
    assert X.gallery_figure(exp, ["BoW"], [0, 1]).axes
    assert X.tmap_curve_figure(s, ["BoW", "glob"]).axes
    assert X.explorer_figure(exp, "glob", "hard", "logos").axes
    assert X.explorer_figure(exp, "glob", "medium").axes  # empty selection is shown, not an error
    box = X.explorer(exp, s)
    assert len(box.children) == 3
