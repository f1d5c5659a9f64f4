"""End to end: every chapter notebook on the smoke profile, a deliberately broken chapter,
and the HTML book built from the results (no re-execution)."""
import json

import pandas as pd
import pytest

from benchlib import cli
from benchlib.chapters import all_specs
from tests._chapters import add_chapter

CHAPTERS = [s.id for s in all_specs()]

BROKEN = "broken_demo"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, monkeypatch_module):
    tmp = tmp_path_factory.mktemp("pipeline")
    add_chapter(tmp, monkeypatch_module, BROKEN, "A deliberately broken chapter",
                ["x = 1", "raise ValueError('deliberately broken')"])
    monkeypatch_module.setenv("BENCHLIB_DATA", str(tmp / "data"))
    results, out = tmp / "results", tmp / "book"
    # The README's main command: run every chapter, then render the book even though one failed.
    code = cli.main(["run", "--profile", "smoke", "--results-root", str(results), "--jobs", "2",
                     "--book", "--out", str(out)])
    return {"code": code, "results": results / "smoke", "html": out / "html", "out": out}


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_run_exit_code_reports_the_broken_chapter(smoke_run):
    assert smoke_run["code"] == 1


@pytest.mark.parametrize("chapter", list(CHAPTERS), ids=list(CHAPTERS))
def test_every_chapter_runs_on_smoke_and_writes_results(smoke_run, chapter):
    d = smoke_run["results"] / chapter
    run = json.loads((d / "run.json").read_text())
    assert run["status"] == "ok", run.get("error")
    rows = pd.read_csv(d / "results.csv")
    assert len(rows) > 0 and rows["dataset"].notna().all()
    claims = pd.read_csv(d / "claims.csv")
    assert set(claims["verdict"]) <= {"held", "contradicted", "inconclusive", "not tested"}
    assert (d / "checks.csv").is_file()
    assert (d / f"{chapter}.ipynb").is_file()
    assert not (smoke_run["results"].parent / ".staging").exists() or not any(
        (smoke_run["results"].parent / ".staging").iterdir())


def test_broken_chapter_is_recorded_with_its_failing_cell(smoke_run):
    d = smoke_run["results"] / BROKEN
    run = json.loads((d / "run.json").read_text())
    assert run["status"] == "failed"
    # index in the executed notebook: parameters, injected-parameters, x = 1, raise
    assert run["failed_cell"] == 3 and "deliberately broken" in run["error"]
    assert not (d / "results.csv").exists()  # no partial results


def test_book_has_every_page_and_shows_the_failure(smoke_run):
    html = smoke_run["html"]
    assert (html / "index.html").is_file()
    for page in ["book/intro", "book/how_to_run", "book/summary",
                 *[f"book/chapters/{c}" for c in CHAPTERS], f"book/chapters/{BROKEN}"]:
        assert (html / f"{page}.html").is_file(), page
    summary = (html / "book" / "summary.html").read_text()
    assert "FAILED" in summary and "deliberately broken" in summary
    # numbers on the summary page come from the results files
    rows = pd.read_csv(smoke_run["results"] / "metrics_appendix" / "results.csv")
    miou = rows[(rows.table == "A1") & (rows.metric == "miou")]["value"].iloc[0]
    assert f"{miou:.4g}" in summary


def test_same_profile_and_seed_give_the_same_tables(smoke_run, tmp_path):
    again = tmp_path / "again"
    assert cli.main(["run", "--profile", "smoke", "--only", "metrics_appendix",
                     "--results-root", str(again), "--force"]) == 0
    first = pd.read_csv(smoke_run["results"] / "metrics_appendix" / "results.csv")
    second = pd.read_csv(again / "smoke" / "metrics_appendix" / "results.csv")
    pd.testing.assert_frame_equal(first, second)


def test_unchanged_chapter_is_skipped_by_the_cache(smoke_run, capsys):
    results_root = smoke_run["results"].parent
    before = json.loads((smoke_run["results"] / "metrics_appendix" / "run.json").read_text())
    assert cli.main(["run", "--profile", "smoke", "--only", "metrics_appendix",
                     "--results-root", str(results_root)]) == 0
    assert "skipped" in capsys.readouterr().out
    after = json.loads((smoke_run["results"] / "metrics_appendix" / "run.json").read_text())
    assert after["started"] == before["started"]  # not re-executed


def test_book_command_renders_without_re_executing(smoke_run, capsys):
    nb = smoke_run["results"] / "metrics_appendix" / "metrics_appendix.ipynb"
    mtime = nb.stat().st_mtime
    assert cli.main(["book", "--profile", "smoke", "--results-root", str(smoke_run["results"].parent),
                     "--out", str(smoke_run["out"])]) == 0
    assert str(smoke_run["html"] / "index.html") in capsys.readouterr().out
    assert nb.stat().st_mtime == mtime
