"""`benchlib compare`, `run --base-seed` and `benchlib reference`, on small result files written
here (no chapter is run). Expected counts are worked out by hand from the fixtures below."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from benchlib import BenchlibError, cli, compare, runner
from benchlib.claims import CLAIM_COLUMNS
from benchlib.results import RESULT_COLUMNS
from benchlib.summary import reference_section, summary_markdown


# --------------------------------------------------------------------------- fixtures
def _row(table, method, metric, value, dataset="synth twin, seed 0", subset="", ci=None, seed=None):
    return {"chapter": "demo", "table": table, "method": method, "dataset": dataset, "subset": subset,
            "metric": metric, "value": value, "paper_value": math.nan, "delta": math.nan,
            "ci_low": ci[0] if ci else math.nan, "ci_high": ci[1] if ci else math.nan, "n": 10,
            "seed": seed, "note": ""}


def _rows(base=0, f1=80.0, params=11.2, latency=3.0, per_seed=(79.0, 81.0, 80.0), index_gb=0.5):
    """Two interval rows, two deterministic rows (a parameter count; an index size on the seed's
    twin, deterministic only when both runs use the same seed), one timing row (ms), three
    per-seed rows and a paper row without a value of ours. The dataset (or, once, the subset)
    names the first seed."""
    ds = f"synth twin, seed {base}"
    return [
        _row("2", "Prop-18", "F1", f1, ds, "D12", ci=(78.0, 82.0)),
        _row("2", "U-Net", "F1", 70.0, "synth twin", f"D12, seed {base} image set", ci=(68.0, 72.0)),
        _row("1", "Prop-18", "params_M", params, "built module (no data)"),
        _row("speed", "Prop-18", "latency ms", latency, ds),
        _row("7", "BoW", "index_size_GB", index_gb, ds),                # a size, of the seed's twin
        *[_row("2", "Prop-18", "F1", v, ds, "D12", seed=base + i) for i, v in enumerate(per_seed)],
        _row("2", "Paper method", "F1", math.nan, "paper", "D12"),
    ]


def _claim(cid, verdict, effect=1.0, ci=(0.5, 1.5)):
    row = {c: "" for c in CLAIM_COLUMNS}
    row.update(claim_id=cid, statement=f"statement of {cid}", source="Table 2", verdict=verdict,
               effect=effect, ci_low=ci[0], ci_high=ci[1], unit="F1 points", margin=0.0, n_seeds=3,
               n_units=10, on_paper_numbers="held", direction=1, reference=0.0, paper_value=1.0)
    return row


CLAIMS = [("prop_beats_unet", "held"), ("deeper_is_better", "inconclusive"), ("refine_helps", "contradicted")]


def _write_chapter(d, rows=None, claims=None, seed=0, status="ok", source="runner", npz=True):
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows if rows is not None else _rows(seed), columns=RESULT_COLUMNS).to_csv(d / "results.csv", index=False)
    pd.DataFrame([_claim(c, v) for c, v in (claims or CLAIMS)], columns=CLAIM_COLUMNS).to_csv(
        d / "claims.csv", index=False)
    if npz:
        np.savez(d / "claims_data.npz", prop_beats_unet=np.ones((3, 10, 2)))
    (d / "run.json").write_text(json.dumps({"chapter": d.name, "status": status, "source": source,
                                            "parameters": {"seed": seed}}))
    (d / f"{d.name}.ipynb").write_text("{}")   # an executed notebook: never copied into a reference
    return d


@pytest.fixture
def two_runs(tmp_path):
    a, b = tmp_path / "a" / "default", tmp_path / "b" / "default"
    _write_chapter(a / "demo")
    _write_chapter(b / "demo")
    return a, b


def _cmp(capsys, *args):
    rc = cli.main(["compare", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


# --------------------------------------------------------------------------- agreement
def test_a_run_compared_with_itself_agrees_on_everything(two_runs, capsys):
    a, _ = two_runs
    rep = compare.compare(a, a)
    c = rep.chapters[0]
    assert rep.exit_code == 0 and c.same_verdict == 3 and c.changes == []
    # 2 interval rows inside, 2 deterministic equal, 3 per-seed and 1 timing row shown; the paper
    # row (no value in either run) is not compared
    assert (c.count("interval", "inside"), c.count("interval")) == (2, 2)
    assert (c.count("deterministic", "equal"), c.count("deterministic")) == (2, 2)
    assert (c.count("per-seed"), c.count("timing")) == (3, 1)
    assert c.rows_only_a == c.rows_only_b == []
    rc, out, _ = _cmp(capsys, a, a)
    assert rc == 0
    assert "claims 3 of 3 same verdict, 0 conflict(s), 0 move(s)" in out
    assert out.rstrip().endswith("agree (exit 0)")
    assert "1e-09 + 1e-06·max(|a|, |b|)" in out       # the tolerance is stated


def test_a_chapter_folder_is_a_run_too(two_runs, capsys):
    a, b = two_runs
    rc, out, _ = _cmp(capsys, a / "demo", b)
    assert rc == 0 and "== demo" in out


def test_seeds_are_matched_from_each_runs_first_seed(tmp_path):
    # --base-seed 100: the dataset or subset says "seed 100" and the per-seed rows are seeds 100-102
    a = _write_chapter(tmp_path / "a" / "demo", seed=0)
    b = _write_chapter(tmp_path / "b" / "demo", rows=_rows(base=100, per_seed=(77.0, 83.0, 80.5), index_gb=0.6),
                       seed=100)
    c = compare.compare(a, b).chapters[0]
    assert c.rows_only_a == c.rows_only_b == []
    # another seed's twin: its index size is not judged; the parameter count still is
    assert [n.metric for n in c.numbers if n.kind == "deterministic"] == ["params_M"]
    assert [n.value_b for n in c.numbers if n.metric == "index_size_GB"] == [0.6]
    per_seed = sorted((n.value_a, n.value_b) for n in c.numbers if n.kind == "per-seed")
    assert per_seed == [(0.5, 0.6), (79.0, 77.0), (80.0, 80.5), (81.0, 83.0)]   # seed +0 with +0, +1 with +1, ...
    assert compare.compare(a, b).exit_code == 0


def test_a_seed_dependent_number_that_does_not_name_its_seed_differs_with_a_hint(tmp_path, capsys):
    rows_a, rows_b = _rows(), _rows(base=100)
    for rows, v in ((rows_a, 70.0), (rows_b, 71.0)):   # e.g. a control on synthetic pairs drawn with the seed
        rows.append(_row("control", "CAM 1", "mIoU", v, "synthetic CAM pairs on 30 train images"))
    a = _write_chapter(tmp_path / "a" / "demo", rows=rows_a)
    b = _write_chapter(tmp_path / "b" / "demo", rows=rows_b, seed=100)
    rc, out, _ = _cmp(capsys, a, b)
    assert rc == 1 and "DIFFERS  Table control · CAM 1 · mIoU" in out and "should name it in its dataset" in out


def test_a_dataset_count_is_not_read_as_a_seed():
    assert compare._relative_seeds("synth, seed 100, 140 images", 100) == "synth, seed +0, 140 images"
    assert compare._relative_seeds("synth, seeds 100, 101, 102", 100) == "synth, seeds +0, +1, +2"
    assert compare._relative_seeds("synth, seeds 3–5", 3) == "synth, seeds +0–+2"
    assert compare._relative_seeds("built module (no data)", 7) == "built module (no data)"


@pytest.mark.parametrize("table,metric", [
    ("1", "image encoder s"), ("1", "image encoder CPU s (calling thread), 320²"), ("1", "box prompt→mask ms"),
    ("1", "video s/frame (frames 1…N-1)"), ("published", "FPS"), ("timing", "seconds per Mpx"),
    ("7", "query_latency_ms"), ("speed", "fps"), ("1", "peak memory MiB (above baseline)"),
    ("1", "memory to encode one image MiB (weights + peak)")])
def test_timing_rows(table, metric):
    assert compare.is_timing(table, metric)


@pytest.mark.parametrize("table,metric", [
    ("1", "params_M: memory encoder"), ("1", "weights MiB"), ("7", "index_size_GB"), ("2", "F1"),
    ("premise", "precision − best single"), ("published", "mIoU_5click"), ("1", "feature_maps")])
def test_rows_that_are_not_timing(table, metric):
    assert not compare.is_timing(table, metric)


# --------------------------------------------------------------------------- disagreement
def test_a_planted_flip_and_an_out_of_interval_number_are_named(tmp_path, capsys):
    a = _write_chapter(tmp_path / "a" / "demo")
    flipped = [("prop_beats_unet", "contradicted"), ("deeper_is_better", "held"), ("refine_helps", "contradicted")]
    b = _write_chapter(tmp_path / "b" / "demo", rows=_rows(f1=83.5, latency=9.0), claims=flipped)
    rep = compare.compare(a, b)
    c = rep.chapters[0]
    assert [(x.claim_id, x.kind) for x in c.changes] == [("prop_beats_unet", "conflict"), ("deeper_is_better", "move")]
    assert [(n.method, n.metric, n.value_b) for n in c.outside] == [("Prop-18", "F1", 83.5)]
    assert c.differs == [] and rep.exit_code == 1
    rc, out, _ = _cmp(capsys, a, b)
    assert rc == 1
    assert "CONFLICT prop_beats_unet: held → contradicted (effect A 1 [0.5, 1.5], B 1 [0.5, 1.5] F1 points)" in out
    assert "move     deeper_is_better: inconclusive → held" in out
    assert "outside  Table 2 · Prop-18 · F1 · D12 · synth twin, seed 0: B 83.5 not in A's [78, 82]" in out
    assert "latency ms" in out and "B/A 3" in out                  # timing shown apart, not a conflict
    assert "1 conflict(s), 1 move(s)" in out and "DISAGREE (exit 1)" in out


def test_moves_and_outside_numbers_alone_exit_0(tmp_path, capsys):
    # a rerun with other seeds moves verdicts and lands outside intervals by chance: reported, exit 0
    a = _write_chapter(tmp_path / "a" / "demo")
    moved = [("prop_beats_unet", "inconclusive"), ("deeper_is_better", "inconclusive"),
             ("refine_helps", "not tested")]
    b = _write_chapter(tmp_path / "b" / "demo", rows=_rows(f1=77.9), claims=moved)
    rc, out, _ = _cmp(capsys, a, b)
    assert rc == 0
    assert "prop_beats_unet: held → inconclusive" in out and "refine_helps: contradicted → not tested" in out
    assert "B 77.9 not in A's [78, 82]" in out


def test_a_deterministic_number_must_be_equal_within_the_stated_tolerance(tmp_path, capsys):
    a = _write_chapter(tmp_path / "a" / "demo")
    close = _write_chapter(tmp_path / "close" / "demo", rows=_rows(params=11.2 * (1 + 5e-7)))
    assert compare.compare(a, close).exit_code == 0            # 5.6e-6 ≤ 1e-9 + 1e-6 × 11.2
    far = _write_chapter(tmp_path / "far" / "demo", rows=_rows(params=11.2 * (1 + 2e-6)))
    rc, out, _ = _cmp(capsys, a, far)
    assert rc == 1
    assert "DIFFERS  Table 1 · Prop-18 · params_M · built module (no data): A 11.2, B 11.2" in out


def test_a_size_on_the_same_seeds_twin_must_be_equal(tmp_path, capsys):
    a = _write_chapter(tmp_path / "a" / "demo")
    b = _write_chapter(tmp_path / "b" / "demo", rows=_rows(index_gb=0.6))
    rc, out, _ = _cmp(capsys, a, b)
    assert rc == 1 and "DIFFERS  Table 7 · BoW · index_size_GB · synth twin, seed 0: A 0.5, B 0.6" in out


def test_a_number_missing_in_b_differs(tmp_path):
    a = _write_chapter(tmp_path / "a" / "demo")
    b = _write_chapter(tmp_path / "b" / "demo", rows=_rows(params=math.nan))
    assert [n.metric for n in compare.compare(a, b).chapters[0].differs] == ["params_M"]


def test_a_failed_chapter_run_is_named_and_exits_1(tmp_path, capsys):
    a = _write_chapter(tmp_path / "a" / "demo")
    b = tmp_path / "b" / "demo"
    b.mkdir(parents=True)
    (b / "run.json").write_text(json.dumps({"status": "failed", "error": "boom"}))
    rc, out, _ = _cmp(capsys, a, b)
    assert rc == 1 and "FAILED: demo (run B)" in out


def test_json_output(two_runs, tmp_path, capsys):
    a, _ = two_runs
    b = _write_chapter(tmp_path / "c" / "default" / "demo",
                       claims=[("prop_beats_unet", "contradicted"), *CLAIMS[1:]])
    rc = cli.main(["compare", str(a), str(b.parent), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == doc["exit_code"] == 1
    assert doc["conflicts"] == 1 and doc["same_verdict"] == 2
    assert doc["chapters"][0]["conflicts"][0]["claim_id"] == "prop_beats_unet"
    assert doc["tolerance"] == {"rtol": 1e-6, "atol": 1e-9, "rule": compare.TOLERANCE_TEXT}


def test_only_restricts_the_chapters(two_runs, capsys):
    a, b = two_runs
    _write_chapter(a / "other", claims=[("x", "held")])
    _write_chapter(b / "other", claims=[("x", "contradicted")])
    assert _cmp(capsys, a, b)[0] == 1
    assert _cmp(capsys, a, b, "--only", "demo")[0] == 0


# --------------------------------------------------------------------------- bad input: exit 2, named
def _bad(capsys, a, b, *extra):
    rc, out, err = _cmp(capsys, a, b, *extra)
    assert rc == 2 and out == ""
    return err


def test_missing_folder(two_runs, tmp_path, capsys):
    a, _ = two_runs
    assert f"{tmp_path / 'nowhere'}: no such folder" in _bad(capsys, a, tmp_path / "nowhere")


def test_no_chapter_in_common(two_runs, tmp_path, capsys):
    a, _ = two_runs
    _write_chapter(tmp_path / "x" / "default" / "elsewhere")
    assert "no chapter in common" in _bad(capsys, a, tmp_path / "x" / "default")
    (tmp_path / "empty").mkdir()
    assert "holds no chapter results" in _bad(capsys, a, tmp_path / "empty")
    assert "--only nope: not in RUN_A" in _bad(capsys, a, a, "--only", "nope")


def test_unreadable_csv(two_runs, capsys):
    a, b = two_runs
    text = (b / "demo" / "results.csv").read_text()
    (b / "demo" / "results.csv").write_text(text + "demo,2,x,y,z" + ",1" * 20 + "\n")   # a row too long
    assert f"{b / 'demo' / 'results.csv'}: cannot be read as CSV" in _bad(capsys, a, b)
    (b / "demo" / "results.csv").write_bytes(b"\xff\xfe\x00binary")
    assert f"{b / 'demo' / 'results.csv'}: cannot be read as CSV" in _bad(capsys, a, b)


def test_missing_column(two_runs, capsys):
    a, b = two_runs
    df = pd.read_csv(b / "demo" / "results.csv").drop(columns=["ci_high"])
    df.to_csv(b / "demo" / "results.csv", index=False)
    assert f"{b / 'demo' / 'results.csv'}: missing column(s) ci_high" in _bad(capsys, a, b)


def test_non_numeric_value_and_unknown_verdict(two_runs, capsys):
    a, b = two_runs
    df = pd.read_csv(b / "demo" / "results.csv", dtype=str)
    df.loc[0, "value"] = "eighty"
    df.to_csv(b / "demo" / "results.csv", index=False)
    assert f"{b / 'demo' / 'results.csv'}: column value is not numeric" in _bad(capsys, a, b)
    _write_chapter(b / "demo", claims=[("prop_beats_unet", "maybe")])
    assert f"{b / 'demo' / 'claims.csv'}: unknown verdict(s) maybe" in _bad(capsys, a, b)


def test_missing_claims_file_and_broken_npz(two_runs, capsys):
    a, b = two_runs
    (b / "demo" / "claims_data.npz").write_bytes(b"PK\x03\x04 not a zip")
    assert f"{b / 'demo' / 'claims_data.npz'}: cannot be read as .npz" in _bad(capsys, a, b)
    _write_chapter(b / "demo")
    (b / "demo" / "claims.csv").unlink()
    assert f"{b / 'demo' / 'claims.csv'}: missing" in _bad(capsys, a, b)


def test_broken_run_json(two_runs, capsys):
    a, b = two_runs
    (b / "demo" / "run.json").write_text("{not json")
    assert f"{b / 'demo' / 'run.json'}: not valid JSON" in _bad(capsys, a, b)


# --------------------------------------------------------------------------- the summary page's block
def test_summary_shows_this_run_against_the_reference(tmp_path):
    ref, res = tmp_path / "reference", tmp_path / "results"
    _write_chapter(ref / "default" / "demo")
    moved = [("prop_beats_unet", "contradicted"), ("deeper_is_better", "held"), ("refine_helps", "contradicted")]
    _write_chapter(res / "default" / "demo", rows=_rows(params=12.0), claims=moved)
    block = reference_section("default", res, ref)
    assert block.startswith("## This run against the reference")
    # per chapter: 1 of 3 same verdict, 1 conflict, 1 move, 2/2 inside, 1/2 deterministic equal
    assert "| demo | 1/3 | 1 | 1 | 2/2 | 1/2 | 1 |" in block
    conflicts = block.split("### Conflicts")[1].split("###")[0]
    assert "demo: prop_beats_unet: held → contradicted" in conflicts
    assert "A conflict marks a **fragile** claim" in block   # the page says what a conflict means
    assert "demo: deeper_is_better: inconclusive → held" in block.split("### Moves")[1].split("###")[0]
    assert "params_M" in block.split("### Deterministic numbers that differ")[1]
    page_dir = tmp_path / "page"
    page_dir.mkdir()
    page = summary_markdown("default", ["demo"], {"demo": "Demo"}, res, page_dir, reference_root=ref)
    assert block in page and page.index(block) < page.index("## Downloads")
    # no reference for the profile: no block
    assert reference_section("smoke", res, ref) == ""
    _write_chapter(res / "default" / "demo")                  # the same verdicts: no fragility paragraph
    assert "fragile" not in reference_section("default", res, ref)
    assert "against the reference" not in summary_markdown("default", ["demo"], {}, res, page_dir,
                                                           reference_root=tmp_path / "none")


def test_summary_says_when_the_comparison_cannot_be_made(tmp_path):
    ref, res = tmp_path / "reference", tmp_path / "results"
    _write_chapter(ref / "default" / "demo")
    _write_chapter(res / "default" / "demo")
    (res / "default" / "demo" / "results.csv").write_text("")
    block = reference_section("default", res, ref)
    assert "could not be made" in block and "results.csv" in block


# --------------------------------------------------------------------------- run --base-seed
def test_base_seed_shifts_the_seed_and_the_cache_key(tmp_path, monkeypatch):
    from tests._chapters import add_chapter

    add_chapter(tmp_path, monkeypatch, "seeded_demo", "seeded", ["x = 1"], params="seed = 3\n")
    add_chapter(tmp_path, monkeypatch, "unseeded_demo", "no seed", ["x = 1"])
    jobs = []

    def fake_execute(job):   # what the runner would run, without starting a kernel
        jobs.append(job)
        return {"chapter": job["id"], "status": "ok"}

    monkeypatch.setattr(runner, "execute_chapter", fake_execute)
    kw = dict(profile="smoke", only=["seeded_demo"], results_root=tmp_path / "res", echo=lambda *_: None)
    runner.run(**kw)
    runner.run(**kw, base_seed=100)
    runner.run(**kw, base_seed=100, overrides={"seeded_demo": {"seed": 5}})
    assert [j["params"]["seed"] if "seed" in j["params"] else None for j in jobs] == [None, 103, 105]
    assert len({j["key"] for j in jobs}) == 3
    with pytest.raises(BenchlibError, match="unseeded_demo: --base-seed needs an integer `seed`"):
        runner.run(**dict(kw, only=["unseeded_demo"]), base_seed=1)
    with pytest.raises(BenchlibError, match="makes its seed -1"):
        runner.run(**kw, base_seed=-4)


def test_cli_passes_base_seed(monkeypatch):
    seen = {}
    monkeypatch.setattr(runner, "run", lambda **kw: seen.update(kw) or [])
    assert cli.main(["run", "--profile", "smoke", "--base-seed", "100", "--results-root", "/tmp/unused"]) == 0
    assert seen["base_seed"] == 100


# --------------------------------------------------------------------------- benchlib reference
def test_reference_copies_the_result_files_and_nothing_else(tmp_path):
    res, ref = tmp_path / "results", tmp_path / "reference"
    for cid in ("demo", "other"):
        _write_chapter(res / "default" / cid)
    (res / "default" / "demo" / "run.log").write_text("log")
    lines = compare.refresh_reference("default", res, ref, chapters=["demo", "other"])
    assert len(lines) == 2
    assert sorted(p.name for p in (ref / "default" / "demo").iterdir()) == sorted(compare.REFERENCE_FILES)
    assert compare.compare(ref / "default", res / "default").exit_code == 0
    assert [p.name for p in ref.iterdir()] == ["default"]        # no staging folder left behind


def test_reference_run_json_names_the_machine_folders(tmp_path):
    res, ref = tmp_path / "results", tmp_path / "reference"
    d = _write_chapter(res / "default" / "demo")
    run = json.loads((d / "run.json").read_text())
    run["parameters"].update(results_root=str(res), data_root="/tmp/fresh-book.4LerAa/home/.cache/benchlib/data")
    run["log"] = str(d / "run.log")
    (d / "run.json").write_text(json.dumps(run))
    compare.refresh_reference("default", res, ref, chapters=["demo"])
    copied = json.loads((ref / "default" / "demo" / "run.json").read_text())
    assert "/tmp" not in json.dumps(copied) and str(tmp_path) not in json.dumps(copied)
    assert copied["parameters"]["results_root"] == "[results]" and copied["parameters"]["seed"] == 0
    assert copied["parameters"]["data_root"] == "[tmp]/fresh-book.4LerAa/home/.cache/benchlib/data"
    assert copied["log"] == "[results]/default/demo/run.log"


def test_reference_only_keeps_the_other_chapters(tmp_path):
    res, ref = tmp_path / "results", tmp_path / "reference"
    _write_chapter(res / "default" / "demo")
    _write_chapter(res / "default" / "other", claims=[("x", "held")])
    compare.refresh_reference("default", res, ref, chapters=["demo", "other"])
    _write_chapter(res / "default" / "other", claims=[("x", "contradicted")])
    compare.refresh_reference("default", res, ref, only=["other"], chapters=["demo", "other"])
    assert pd.read_csv(ref / "default" / "other" / "claims.csv")["verdict"].tolist() == ["contradicted"]
    assert (ref / "default" / "demo" / "results.csv").is_file()


def test_reference_refuses_failed_notebook_made_or_malformed_runs_and_keeps_the_old_one(tmp_path):
    res, ref = tmp_path / "results", tmp_path / "reference"
    _write_chapter(res / "default" / "demo")
    compare.refresh_reference("default", res, ref, chapters=["demo"])
    before = (ref / "default" / "demo" / "results.csv").read_bytes()
    _write_chapter(res / "default" / "demo", status="failed")
    with pytest.raises(BenchlibError, match="demo: its last run failed"):
        compare.refresh_reference("default", res, ref, chapters=["demo"])
    _write_chapter(res / "default" / "demo", source="notebook")
    with pytest.raises(BenchlibError, match="saved from a notebook session"):
        compare.refresh_reference("default", res, ref, chapters=["demo"])
    _write_chapter(res / "default" / "demo", rows=_rows(f1=1.0))
    (res / "default" / "demo" / "claims_data.npz").write_bytes(b"garbage")
    with pytest.raises(BenchlibError, match="claims_data.npz: cannot be read"):
        compare.refresh_reference("default", res, ref, chapters=["demo"])
    assert (ref / "default" / "demo" / "results.csv").read_bytes() == before
    assert [p.name for p in ref.iterdir()] == ["default"]
    with pytest.raises(BenchlibError, match="not run"):
        compare.refresh_reference("default", res, ref, chapters=["demo", "missing"])


def test_rows_without_a_partner_are_listed(tmp_path, capsys):
    a = _write_chapter(tmp_path / "a" / "demo")
    b = _write_chapter(tmp_path / "b" / "demo", rows=[r for r in _rows() if r["method"] != "U-Net"])
    c = compare.compare(a, b).chapters[0]
    assert c.rows_only_a == ["2 · U-Net · F1 · D12, seed 0 image set · synth twin"] and c.rows_only_b == []
    rc, out, _ = _cmp(capsys, a, b)
    assert rc == 0 and "rows only in A: 1, only in B: 0" in out


def test_reference_command(tmp_path, monkeypatch, capsys):
    from tests._chapters import add_chapter

    add_chapter(tmp_path, monkeypatch, "ref_demo", "for the reference", ["x = 1"])
    res, ref = tmp_path / "results", tmp_path / "reference"
    _write_chapter(res / "default" / "ref_demo")
    args = ["reference", "--profile", "default", "--only", "ref_demo", "--results-root", str(res),
            "--reference-root", str(ref)]
    assert cli.main(args) == 0
    assert f"{ref / 'default' / 'ref_demo'}: results.csv, claims.csv, claims_data.npz, run.json" in capsys.readouterr().out
    assert cli.main([*args[:4], "nope", *args[5:]]) == 2
    assert "unknown chapter(s) nope" in capsys.readouterr().err
