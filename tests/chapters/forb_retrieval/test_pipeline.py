"""The chapter's bookkeeping on a fabricated search result whose numbers are worked out by hand."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from benchlib.chapters.forb_retrieval import SPEC
from benchlib.chapters.forb_retrieval import evaluate as E
from benchlib.chapters.forb_retrieval import pipeline as P
from benchlib.chapters.forb_retrieval import report as R
from benchlib.results import ChapterResults, check_tables

from ._fake import tiny_run


def test_evaluate_per_query_ap_by_hand():
    run = tiny_run()
    s = {key: v[0] for key, v in run.scores.items()}
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
    # By hand (11 thresholds; BoW's from S = [.3 .5 .6 .7], glob's from [.2 .3 .5 .8]):
    np.testing.assert_allclose(s["BoW", 5, "min"].tap, [6.5 / 11, 3 / 11, 1, 4 / 11])
    np.testing.assert_allclose(s["glob", 5, "min"].tap, [1, 8 / 11, 8 / 11, 1])


def test_result_rows_sit_beside_the_paper_and_layout():
    run = tiny_run()
    res = ChapterResults(SPEC.id, "smoke", None)
    R.record(res, run)
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
    tables = R.tables(res, run)
    wide = tables["1"]
    assert wide.loc["BoW", ("mAP@1", "easy")] in ("100.0 (87.3)", "100.0 (87.4)")
    assert wide.loc["CLIP", ("mAP@1", "overall")] in ("— (84.3)", "— (84.4)")
    assert R.code_divisor_tables(res, run)["2"].loc["BoW", ("mAP@1", "logos")].startswith("25.0")
    assert list(tables) == ["1", "2", "3", "4", "5", "6", "7"] and check_tables(res, tables) is tables
    assert tables["7"].loc["BoW", "index_KB_per_image"] == "1250.0000"
    d = R.divisor_table(res, k=1)   # read back from the recorded rows
    assert d.loc["BoW", "logos, paper"] == pytest.approx(50.0) and d.loc["BoW", "logos, code"] == pytest.approx(25.0)
    assert d.loc["BoW", "mAP@1 paper (÷min(m,k))"] == pytest.approx(row_overall(f, "1", "BoW", "mAP@1"))
    assert list(d.index) == ["BoW", "glob"] and list(d.columns) == [
        "mAP@1 paper (÷min(m,k))", "mAP@1 code (÷m)", "logos, paper", "logos, code"]
    kb = f[(f.method == "BoW") & (f.metric == "index_KB_per_image")].iloc[0]
    assert kb.value == pytest.approx(10_000_000 / 1e3 / 8)
    ix = R.index_table(res)
    assert ix.loc["BoW", "KB / image"] == pytest.approx(10_000_000 / 1e3 / 8)
    assert ix.loc["BoW", "index MB"] == pytest.approx(10.0) and np.isnan(ix.loc["BoW", "paper KB / image"])


def row_overall(f, table, method, metric):
    return f[(f.table == table) & (f.method == method) & (f.metric == metric) & (f.subset == "overall")
             & (f.dataset != "paper")].iloc[0].value


def test_rows_of_a_trained_method_average_its_seeds():
    """Two seeds of one method: the row is the mean over seeds, its interval over seeds and queries
    (inside [0, 100]); the headline (Overall mAP@k) is also stored once per seed, and the paper
    layouts show the mean row only."""
    run = tiny_run()
    second = P.MethodRun("glob", "global", run.runs["BoW"][0].ids, run.runs["BoW"][0].scores,
                         run.runs["BoW"][0].distractor_top, 1_000, 1.0, trained=True, seed=1)
    run.runs["glob"][0].trained, run.runs["glob"][0].seed = True, 0
    run.runs["glob"].append(second)
    run.scores = E.score_runs(run.runs, run.data.queries)
    res = ChapterResults(SPEC.id, "smoke", None)
    R.record(res, run)
    f = res.frame
    row = f[(f.table == "3") & (f.method == "glob") & (f.metric == "mAP@5") & (f.subset == "overall")].iloc[0]
    # seed 0 perfect (100), seed 1 = BoW's mAP@5 (5/6 + 1/2 + 1 + 1/2)/4 = 70.83
    assert row.value == pytest.approx((100 + 100 * (5 / 6 + 1 / 2 + 1 + 1 / 2) / 4) / 2)
    assert row.ci_low < row.value < row.ci_high <= 100 and "mean of 2 training seeds" in row.note
    seeds = f[(f.method == "glob") & f.seed.notna()]
    assert sorted(zip(seeds.table, seeds.metric, seeds.seed)) == [("1", "mAP@1", 0), ("1", "mAP@1", 1),
                                                                  ("3", "mAP@5", 0), ("3", "mAP@5", 1)]
    by_seed = seeds[seeds.table == "3"].set_index("seed")
    assert by_seed.loc[0, "value"] == pytest.approx(100.0) and by_seed.loc[1, "value"] == pytest.approx(70.833333)
    # seed 0 is perfect on every query: no spread, the interval is the point and stays inside [0, 100]
    assert (by_seed.loc[0, "ci_low"], by_seed.loc[0, "ci_high"]) == (100.0, 100.0)
    assert (f.ci_low.dropna() >= 0).all() and (f.ci_high.dropna() <= 100).all()
    assert R.tables(res, run)["3"].loc["glob", ("mAP@5", "overall")] == f"{row.value:.1f}"   # the mean row
    assert R.global_rows_table(res, run).loc["glob", "mAP@5 overall"] == round(row.value, 1)


def test_figures_and_explorer_build(monkeypatch):
    run = tiny_run()
    monkeypatch.setattr(R, "images", lambda paths, size: [np.zeros((8, 8, 3), np.uint8) for _ in paths])
    assert R.gallery_figure(run, ["BoW"], [0, 1]).axes
    assert R.tmap_curve_figure(run, ["BoW", "glob"]).axes
    assert R.explorer_figure(run, "glob", "hard", "logos").axes
    assert R.explorer_figure(run, "glob", "medium").axes  # empty selection is shown, not an error
    assert len(R.explorer(run).children) == 2
    assert list(R.methods_table(run)["method"]) == ["BoW", "glob"]
    nc = R.not_claimed()
    assert len(nc) >= 5 and all(set(d) == {"statement", "source", "reason"} and all(d.values()) for d in nc)


def test_histogram_and_random_init_rows_on_a_tiny_twin(tmp_path):
    """Through run_methods on a written twin: the colour histogram is a trivial baseline (neither
    a claim's subject nor the floor), the random-init CNN the floor, and the histogram's ranking
    is numpy's cosine ranking of the histograms."""
    import torch

    from benchlib.chapters.forb_retrieval import models as M
    from benchlib.chapters.forb_retrieval.data import dataset, load_forb

    torch.set_num_threads(1)
    root = dataset(tmp_path, seed=0, n_index=2, n_queries=3, n_distractors=3, size=48, query_size=64,
                   object_types=("paintings", "logos")).root
    data = load_forb(root)
    cfg = P.Config(image_size=48, query_size=64, global_size=32, vit_arch="")
    runs, _, _ = P.run_methods(data, cfg, methods={P.HISTOGRAM, "resnet18 (random init)"})
    assert set(runs) == {P.HISTOGRAM, "resnet18 (random init)"}
    (h,), (r,) = runs[P.HISTOGRAM], runs["resnet18 (random init)"]
    assert (h.baseline, h.meaningful, r.baseline, r.meaningful) == (True, False, False, False)
    assert r.note.startswith("random init") and "trivial baseline" in h.note
    emb = lambda paths, side: M.l2_normalise(M.colour_histogram(P.images(paths, side)))  # noqa: E731
    sim = emb(data.queries["image"], 64) @ emb(data.database["image"], 48).T
    k = min(P.TOPK, sim.shape[1])
    np.testing.assert_allclose(h.scores[:, :k], -np.sort(-sim, axis=1)[:, :k], rtol=1e-5)


def test_keep_freed_memory_is_harmless_and_says_whether_it_applied():
    import platform

    assert P.keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


def test_global_rows_against_the_floor_by_hand():
    """tiny_run: 'glob' is perfect (AP@5 = 1 for every query); a random-init row with BoW's rankings
    has AP@5 = 5/6, 1/2, 1, 1/2 (queries easy, hard, easy, hard) → 70.8 overall, 91.7 easy, 50 hard.
    Local rows are not listed; the floor is the random-init row, so 'glob' lies 29.2 above it."""
    run = tiny_run()
    b = run.first("BoW")
    run.runs["rand"] = [P.MethodRun("rand", "global", b.ids, b.scores, b.distractor_top, 1, 1.0, meaningful=False)]
    run.scores = E.score_runs(run.runs, run.data.queries)
    res = ChapterResults(SPEC.id, "smoke", None)
    R.record(res, run)
    t = R.global_rows_table(res, run)   # read back from the recorded Table 3 rows
    assert list(t.index) == ["glob", "rand"]
    assert t.loc["rand", "mAP@5 overall"] == 70.8 and t.loc["rand", "easy"] == 91.7 and t.loc["rand", "hard"] == 50.0
    assert t.loc["glob", "mAP@5 overall"] == 100.0 and t.loc["glob", "overall − random-init floor"] == 29.2
    assert t.loc["rand", "role"] == "floor reference (random init)" and t.loc["glob", "role"] == "evaluated as is"


def test_an_unknown_ssl_init_is_refused(tmp_path):
    from benchlib import BenchlibError
    from benchlib.chapters.forb_retrieval.data import dataset, load_forb

    root = dataset(tmp_path, seed=0, n_index=2, n_queries=3, n_distractors=3, size=48, query_size=64,
                   object_types=("paintings",)).root
    with pytest.raises(BenchlibError, match="ssl_init must be one of scratch, imagenet, got 'imagenet21k'"):
        P.run_methods(load_forb(root), P.Config(image_size=48, query_size=64, ssl_init="imagenet21k"), methods={P.SSL})


def test_the_pipeline_itself_sets_the_threads(monkeypatch):
    # not only the notebook: pipeline.run(config) from a script must honour config.threads
    import benchlib.torchutil as tu

    class Stop(Exception):
        pass

    seen = []

    def fake(n=0):
        seen.append(n)
        raise Stop

    monkeypatch.setattr(tu, "set_threads", fake)
    with pytest.raises(Stop):
        P.run(P.Config(threads=3, data_root="/nonexistent"))
    assert seen == [3]
