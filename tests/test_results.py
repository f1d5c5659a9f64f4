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
    from benchlib.claims import Check, Claim, single

    claim = Claim("c1", "m is good", "demo", effect=lambda run: single([run]), margin=0.1, unit="points")
    res.judge([claim], [0.5, 0.6, 0.55, 0.52], [Check("k1", "1 = 1", lambda run: (True, "trivially"))], paper=False)
    d = res.save()
    assert sorted(p.name for p in d.iterdir()) == ["checks.csv", "claims.csv", "claims_data.npz", "results.csv", "run.json"]
    rows, claims, checks, run = R.load_results("smoke", "demo", tmp_path)
    assert list(rows.columns) == R.RESULT_COLUMNS
    assert rows.loc[0, "ci_low"] == 0.4 and rows.loc[0, "n"] == 10
    assert rows.loc[1, "note"] == "not run: no checkpoint" and math.isnan(rows.loc[1, "value"])
    assert claims.loc[0, "verdict"] == "held" and claims.loc[0, "n_units"] == 4
    assert list(claims.columns)[:4] == ["claim_id", "statement", "source", "verdict"]
    assert checks.loc[0, "passed"] == "yes"
    assert run["status"] == "ok" and run["parameters"] == {"seed": 3} and run["profile"] == "smoke"
    assert "numpy" in run["versions"]


def test_rows_must_name_their_data(tmp_path):
    res = R.ChapterResults("demo", "smoke", tmp_path)
    with pytest.raises(BenchlibError, match="dataset"):
        res.add("1", "m", "mIoU", 0.5, dataset="")


def test_unreadable_results_file_names_the_file(tmp_path):
    d = R.chapter_dir("smoke", "demo", tmp_path)
    d.mkdir(parents=True)
    (d / "results.csv").write_bytes(b'a,b\n"unterminated\n1,2,3,4\n')
    with pytest.raises(BenchlibError, match="results.csv"):
        R.load_results("smoke", "demo", tmp_path)


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


def test_bootstrap_ci_of_the_mean_equals_one_np_mean_per_resample():
    """The vectorised path for np.mean (row means, in chunks) gives the bits of the plain loop
    (a lambda is not np.mean, so it takes the loop); 40 000 values make it use two chunks."""
    from benchlib.results import bootstrap_ci

    rng = np.random.default_rng(0)
    for n, n_boot in ((2, 300), (157, 300), (40_000, 250)):
        v = rng.random(n) * rng.integers(0, 2, n)
        assert bootstrap_ci(v, n_boot=n_boot, seed=4) == bootstrap_ci(v, stat=lambda a: np.mean(a), n_boot=n_boot,
                                                                      seed=4)


def _rows():
    res = R.ChapterResults("demo", "smoke")
    res.add("2", "A", "F1", 61.25, dataset="twin", subset="D12", paper_value=58.2, ci=(50.0, 70.5))
    res.add("2", "A", "F1", 60.0, dataset="twin", subset="D12", seed=0)        # per-seed: left out
    res.add("2", "A", "accuracy", 0.9126, dataset="twin", subset="D12")
    res.add("2", "B", "F1", 40.0, dataset="twin", subset="D19")
    res.not_run("2", "C", "F1", "not run: no weights", subset="D12")
    res.add("3", "A", "F1", 1.0, dataset="twin")
    res.add("3", "B", "F1", 0.517, dataset="twin", paper_value=70.3)     # a percent near 0
    return res


def test_paper_table_cells_worked_by_hand():
    t = R.paper_table(_rows().frame, "2")
    assert list(t.index) == ["A", "B", "C"]                                  # order recorded
    assert list(t.columns) == [("D12", "F1"), ("D12", "accuracy"), ("D19", "F1")]
    assert t.loc["A", ("D12", "F1")] == "61.2 (58.2)"                       # ours (paper), 1 decimal above 2
    assert t.loc["A", ("D12", "accuracy")] == "0.913"                       # 3 decimals below 2, no paper
    assert t.loc["B", ("D12", "F1")] == "" and t.loc["C", ("D12", "F1")] == "not run"
    full = R.paper_table(_rows().frame, "2", show=("ours", "ci", "paper", "delta"), metrics=["F1"])
    assert full.loc["A", ("D12", "F1")] == "61.2 [50.0, 70.5] (58.2) +3.0"
    stacked = R.paper_table(_rows().frame, "2", show=("ours", "delta"), stacked=True, subset="D12", digits=2)
    assert list(stacked.index) == [("A", "ours"), ("A", "Δ"), ("C", "ours"), ("C", "Δ")]
    assert stacked.loc[("A", "Δ"), ("D12", "F1")] == "+3.05"
    flat = R.paper_table(_rows().frame, "2", flat=True, columns=("metric", "subset"))
    assert list(flat.columns) == ["F1 D12", "accuracy D12", "F1 D19"]
    assert R.paper_table(_rows().frame, "3").loc["B", ("", "F1")] == "0.5 (70.3)"
    assert R.paper_table(_rows().frame, "9").empty
    with pytest.raises(BenchlibError, match="unknown part"):
        R.paper_table(_rows().frame, "2", show=("ours", "median"))


def test_check_tables_wants_table_ids_and_frames():
    res = _rows()
    ok = {"2": pd.DataFrame(), "3": pd.DataFrame()}
    assert R.check_tables(res, ok) is ok
    with pytest.raises(BenchlibError, match=r"demo: report.tables keys \['Table 2'\]"):
        R.check_tables(res, {"Table 2": pd.DataFrame()})
    with pytest.raises(BenchlibError, match="not DataFrames"):
        R.check_tables(res, {"2": "a string"})
    with pytest.raises(BenchlibError, match="must return a dict"):
        R.check_tables(res, [pd.DataFrame()])
