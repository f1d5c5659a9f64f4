import json
import math

import numpy as np
import pandas as pd
import pytest

from benchlib import BenchlibError
from benchlib import results as R


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    p = tmp_path / "x.csv"
    R.atomic_write_text(p, "old\n")

    def boom(f):
        f.write("half a fi")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        R._atomic_write(p, boom)
    assert p.read_text() == "old\n"
    assert [q.name for q in tmp_path.iterdir()] == ["x.csv"]  # no temporary file left behind


def test_rows_deltas_and_paper_lookup(tmp_path, monkeypatch):
    paper = pd.DataFrame({"method": ["Prop. 18", "U-Net (19)"], "metric": ["F1", "F1"],
                          "subset": ["D12", "D12"], "value": [80.0, 75.5]})
    import benchlib.papers as papers

    monkeypatch.setattr(papers, "load_table", lambda chapter, table: paper)
    res = R.ChapterResults("satellite_resnet", "smoke", tmp_path)
    res.add("2", "Prop-18", "F1", 71.25, dataset="synth, seed 0", subset="D12")
    res.add("2", "U-Net(19)", "F1", 70.0, dataset="synth, seed 0", subset="D12")
    res.add("2", "Prop-18", "F1", 60.0, dataset="synth, seed 0", subset="D19")  # no paper cell
    n = res.compare_with_paper("2", method_map={"Prop-18": "Prop. 18", "U-Net(19)": "U-Net (19)"})
    assert n == 2
    f = res.frame
    assert f.loc[0, "paper_value"] == 80.0 and f.loc[0, "delta"] == pytest.approx(-8.75)
    assert f.loc[1, "delta"] == pytest.approx(-5.5)
    assert math.isnan(f.loc[2, "paper_value"]) and math.isnan(f.loc[2, "delta"])
    res.add_paper_rows("2", methods=["U-Net (19)"])
    assert res.frame.iloc[-1]["dataset"] == "paper" and res.frame.iloc[-1]["paper_value"] == 75.5


def test_save_and_load_round_trip(tmp_path):
    res = R.ChapterResults("demo", "smoke", tmp_path, parameters={"seed": 3})
    res.add("1", "m", "mIoU", 0.5, dataset="synth-voc, seed 3", ci=(0.4, 0.6), n=10, seed=3)
    res.not_run("1", "big model", "mIoU", "no checkpoint")
    res.claim("c1", "m is good", "held", "0.5 > 0.4")
    d = res.save()
    assert sorted(p.name for p in d.iterdir()) == ["claims.csv", "results.csv", "run.json"]
    rows, claims, run = R.load_results("smoke", "demo", tmp_path)
    assert list(rows.columns) == R.RESULT_COLUMNS
    assert rows.loc[0, "ci_low"] == 0.4 and rows.loc[0, "n"] == 10
    assert rows.loc[1, "note"] == "not run: no checkpoint" and math.isnan(rows.loc[1, "value"])
    assert claims.loc[0, "verdict"] == "held"
    assert run["status"] == "ok" and run["parameters"] == {"seed": 3} and run["profile"] == "smoke"
    assert "numpy" in run["versions"]


def test_rows_must_name_their_data_and_verdicts_are_checked(tmp_path):
    res = R.ChapterResults("demo", "smoke", tmp_path)
    with pytest.raises(BenchlibError, match="dataset"):
        res.add("1", "m", "mIoU", 0.5, dataset="")
    with pytest.raises(BenchlibError, match="verdict"):
        res.claim("c", "s", "probably", "e")


def test_compare_paired_verdicts():
    a = np.array([0.8, 0.7, 0.9])
    b = np.array([0.6, 0.6, 0.7])
    verdict, ev = R.compare(a, b, label_a="A", label_b="B")
    assert verdict == "held"
    assert "difference +0.1667" in ev  # mean of (0.2, 0.1, 0.2)
    assert R.compare(b, a, label_a="B", label_b="A")[0] == "not held"
    # lower is better (MAE): A's smaller errors hold
    assert R.compare(b, a, label_a="B", label_b="A", higher_is_better=False)[0] == "held"
    # margin: a 0.1667 gain does not clear a 0.2 margin
    assert R.compare(a, b, label_a="A", label_b="B", margin=0.2)[0] == "not held"
    assert R.compare([], b, label_a="A", label_b="B")[0] == "not tested"


def test_bootstrap_ci_brackets_the_mean_and_is_degenerate_for_constants():
    lo, hi = R.bootstrap_ci([2.0, 2.0, 2.0])
    assert lo == hi == 2.0
    v = np.random.default_rng(1).normal(5, 1, 200)
    lo, hi = R.bootstrap_ci(v)
    assert lo < v.mean() < hi and hi - lo < 0.5
    assert all(math.isnan(x) for x in R.bootstrap_ci([1.0]))


def test_side_by_side_formats(tmp_path):
    res = R.ChapterResults("demo", "smoke", tmp_path)
    res.add("1", "m", "F1", 81.234, dataset="d", paper_value=80.0)
    t = R.side_by_side(res.frame, "1")
    assert t.loc[0, "ours"] == "81.23" and t.loc[0, "paper"] == "80" and t.loc[0, "Δ"] == "+1.23"
