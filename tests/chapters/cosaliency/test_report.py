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
    report.record(res, small_run())
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
    assert report.tables(res)["selectivity"].shape[0] == 1 + 3 + 2
    run = small_run(n_seeds=3)
    run.selectivity["cosal"]["U-Net + DA + FS + RFM (online)"] = run.selectivity["cosal"]["U-Net"]
    res = ChapterResults("cosaliency", "smoke")
    report.record(res, run)
    assert "No trained model is selective beyond noise" in report.selectivity_summary(res)
