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
