"""Co-saliency chapter: result rows of a small hand-made run (paper values beside ours, rows not run,
the headroom and selectivity rows) and the computed selectivity sentence."""
import numpy as np
import pytest

from benchlib.chapters.cosaliency import report
from benchlib.chapters.cosaliency.data import SaliencyItem, SaliencySet
from benchlib.chapters.cosaliency.evaluate import oracle_maps, score_maps, selectivity
from benchlib.chapters.cosaliency.pipeline import TABLE2_METHODS, Config, Run, Split
from benchlib.results import ChapterResults


def _items(n=6):
    items = []
    for i in range(n):
        gt = np.zeros((16, 16), np.uint8)
        gt[1:5, 1:5] = gt[1:5, 10:14] = 255
        sal = gt > 0
        sal[10:14, 1:5] = True  # the distractor
        boxes = np.array([[1, 1, 5, 5], [10, 1, 14, 5], [1, 10, 5, 14]], np.float32)
        items.append(SaliencyItem(f"im{i}", np.zeros((16, 16, 3), np.uint8), gt, boxes, ["a", "a", "b"],
                                  np.array([True, True, False]), sal))
    return SaliencySet(None, items, "instance files")


def small_run(n_seeds=1):
    test = _items()
    splits = {k: Split(k, {"cosal": "our_dataset", "sdcs": "SDCS"}[k], f"fake {k}", test, test) for k in ("cosal", "sdcs")}
    generic = [it.salient.astype(np.float32) for it in test.items]       # marks the distractor too
    selective = [(it.gt > 0).astype(np.float32) for it in test.items]    # marks only the co-salient objects
    trained = list(dict.fromkeys(TABLE2_METHODS.values()))
    maps, scores, select = {}, {}, {}
    for k in splits:
        maps[k] = {"FT": generic, **{m: (selective if "online" in m else generic) for m in trained}}
        scores[k] = {m: [score_maps(v, test)] * (1 if m == "FT" else n_seeds) for m, v in maps[k].items()}
        select[k] = {m: [selectivity(v, test)] * (1 if m == "FT" else n_seeds) for m, v in maps[k].items()}
        for name, m in oracle_maps(test).items():
            scores[k][name], select[k][name] = [score_maps(m, test)], [selectivity(m, test)]
    methods = {k: ["FT", *trained] for k in splits}
    fps = [{"width": 450, "height": 256, "fps": 2.0, "times_s": [0.5]}]
    return Run(Config(), "cpu", splits, None, list(range(n_seeds)), methods, maps, scores, select, {}, [], fps, {})


def test_rows_beside_the_papers_and_rows_not_run():
    res = ChapterResults("cosaliency", "smoke")
    assert report.record(res, small_run()).empty   # no RFM control in this run: no control verdicts
    f = res.frame
    t2 = f[f.table == "2"]
    row = t2[(t2.method == "Ours (online)") & (t2.metric == "F-measure") & (t2.subset == "SDCS")].iloc[0]
    assert row.value == pytest.approx(1.0) and row.paper_value == 0.911 and row.delta == pytest.approx(1 - 0.911)
    assert t2[t2.method == "LFM"].value.isna().all() and len(t2[t2.method == "LFM"]) == 8
    t1 = f[f.table == "1"]
    assert t1[t1.method == "U-Net + FS"].note.iloc[0].startswith("not run")
    assert t1[t1.method == "U-Net"].paper_value.iloc[0] == 82.4
    # headroom: the all-salient oracle has precision 32/48, recall 1; 16 of 256 pixels wrong
    head = f[(f.table == "headroom") & (f.subset == "our_dataset")].set_index(["method", "metric"]).value
    f_all = 1.3 * (2 / 3) / (0.3 * 2 / 3 + 1)
    assert head[("oracle: all salient objects", "F-measure")] == pytest.approx(f_all)
    assert head[("headroom (co-salient oracle's gain)", "F-measure")] == pytest.approx(1 - f_all)
    assert head[("headroom (co-salient oracle's gain)", "MAE")] == pytest.approx(16 / 256)  # MAE lower by this
    sel = f[f.table == "selectivity"].set_index(["method", "metric"]).value
    assert sel[("U-Net", "selectivity")] == 0 and sel[("U-Net + DA + FS + RFM (online)", "selectivity")] == 1
    speed = f[f.table == "speed"].iloc[0]
    assert speed.value == 2.0 and speed.paper_value == 28.0
    # gain over FT (FT marks every salient object, F = f_all): U-Net does the same (0), online marks only the
    # co-salient objects (F 1): 1 − f_all; one row per learned model and dataset
    gain = f[f.table == "gain over FT"].set_index(["method", "subset"]).value
    assert len(gain) == 6 and gain[("U-Net", "SDCS")] == pytest.approx(0)
    assert gain[("Ours (online)", "our_dataset")] == pytest.approx(1 - f_all)


def test_selectivity_sentence_is_computed_from_the_rows():
    res = ChapterResults("cosaliency", "smoke")
    report.record(res, small_run(n_seeds=3))
    text = report.selectivity_summary(res)
    assert "U-Net + DA + FS + RFM (online) +1.000" in text and "U-Net +0.000" in text
    assert text.endswith("Selective beyond noise (CI above 0): U-Net + DA + FS + RFM (online). "
                         "Not selective beyond noise: U-Net, U-Net + DA + FS + RFM (offline).")
    assert report.tables(res, None)["selectivity"].shape[0] == 1 + 3 + 2
    run = small_run(n_seeds=3)
    run.selectivity["cosal"]["U-Net + DA + FS + RFM (online)"] = run.selectivity["cosal"]["U-Net"]
    res = ChapterResults("cosaliency", "smoke")
    report.record(res, run)
    assert "No trained model is selective beyond noise" in report.selectivity_summary(res)


def test_per_seed_rows_beside_the_mean_rows_and_left_out_of_the_paper_layout():
    res = ChapterResults("cosaliency", "smoke")
    report.record(res, small_run(n_seeds=3))
    f = res.frame
    seeded = f[f.seed.notna()]
    # one row per seed for every trained model's F: Table 1 (3 trained columns), Table 2 (3 rows × 2 datasets)
    assert len(seeded[seeded.table == "1"]) == 3 * 3 and len(seeded[seeded.table == "2"]) == 3 * 2 * 3
    assert set(seeded.metric) == {"F-measure"} and seeded.paper_value.isna().all()
    online = seeded[(seeded.table == "1") & (seeded.method == "U-Net + DA + FS + RFM (online)")]
    assert list(online.seed) == [0, 1, 2] and (online.value == 100.0).all()  # marks only the co-salient objects
    f_all = 1.3 * (2 / 3) / (0.3 * 2 / 3 + 1)
    unet = seeded[(seeded.table == "2") & (seeded.method == "U-Net") & (seeded.subset == "SDCS")]
    assert unet.value.tolist() == pytest.approx([f_all] * 3)
    # the paper layout shows the mean rows only: one cell per method
    assert report.tables(res, None)["1"].shape[0] == 7
    assert not res.table("2")["note"].str.contains("alone").any()
    # every interval of a score lies inside [0, 1] (Table 2) or [0, 100] (Table 1)
    t2 = f[(f.table == "2") & f.ci_low.notna()]
    assert ((t2.ci_low >= 0) & (t2.ci_high <= 1)).all()


def test_not_claimed_lists_statement_source_and_reason():
    rows = report.not_claimed()
    assert len(rows) >= 5 and all(set(r) == {"statement", "source", "reason"} and all(r.values()) for r in rows)
    assert any("recall" in r["statement"] for r in rows)


def test_every_row_interval_is_the_claims_engines_also_with_one_seed():
    # one interval per number: a one-seed row (FT, the oracles) takes the engine's interval over test
    # images, as the multi-seed rows and the verdicts do (it was a bootstrap, whose ends differ)
    from benchlib.claims import interval, single

    run = small_run()
    vals = [np.array([0.2, 0.5, 0.9, 0.4, 0.7, 0.6])]
    run.per_seed = lambda key, method, metric: vals
    lo, hi = report._ci(run, "cosal", "FT", "adaptive_f", 100)
    elo, ehi = interval(single(vals, bounds=(0.0, 1.0), units="test images"))
    assert (lo, hi) == pytest.approx((100 * elo, 100 * ehi))
    assert 0 < lo < 55 < hi < 100   # around the mean 0.55, inside the score's range
