from tests._chapters import add_chapter

from benchlib import cli, runner
from benchlib.book import chapter_table, render_toc
from benchlib.chapters import all_specs
from benchlib.paths import project_root

ROOT = project_root()


def test_toc_and_intro_table_come_from_the_specs():
    ids = [s.id for s in all_specs()]
    toc = render_toc(ids)
    assert [ln.split("book/chapters/")[1] for ln in toc.splitlines() if "book/chapters/" in ln] == ids
    table = chapter_table(all_specs())
    for s in all_specs():
        assert f"[{s.title}](chapters/{s.id})" in table


def test_cache_key_changes_with_notebook_parameters_and_library(tmp_path):
    nb = tmp_path / "a.ipynb"
    nb.write_text("{}")
    k = runner.cache_key(nb, {"seed": 0}, "lib1")
    assert k == runner.cache_key(nb, {"seed": 0}, "lib1")
    assert k != runner.cache_key(nb, {"seed": 1}, "lib1")
    assert k != runner.cache_key(nb, {"seed": 0}, "lib2")
    nb.write_text("{ }")
    assert k != runner.cache_key(nb, {"seed": 0}, "lib1")


def test_library_fingerprint_is_stable():
    assert runner.library_fingerprint() == runner.library_fingerprint()


def test_cli_rejects_unknown_chapter(capsys):
    assert cli.main(["run", "--only", "no_such_chapter", "--results-root", "/tmp/unused"]) == 2
    assert "unknown chapter" in capsys.readouterr().err


def test_a_hung_cell_fails_its_chapter_after_the_cell_timeout(tmp_path, monkeypatch):
    add_chapter(tmp_path, monkeypatch, "hang_demo", "hangs", ["import time\ntime.sleep(120)"])
    records = runner.run(profile="smoke", only=["hang_demo"], results_root=tmp_path / "res", cell_timeout=3,
                         echo=lambda *_: None)
    assert records[0]["status"] == "failed"
    assert "timed out" in records[0]["error"].lower() or "timeout" in records[0]["error"].lower()
    assert records[0]["runner_duration_s"] < 60


def test_p_for_an_unknown_chapter_is_refused(capsys):
    assert cli.main(["run", "--only", "metrics_appendix", "-p", "no_such", "x", "1",
                     "--results-root", "/tmp/unused"]) == 2
    assert "unknown chapter" in capsys.readouterr().err


def test_the_record_counts_the_kernels_cpu_time(tmp_path, monkeypatch):
    # 3 s of CPU burnt inside the kernel must show in the record: the runner's own process alone
    # (papermill import, waiting on the kernel) uses well under that.
    burn = "import time\nt0 = time.process_time()\nwhile time.process_time() - t0 < 3.0:\n    pass"
    add_chapter(tmp_path, monkeypatch, "burn_demo", "burns CPU", [burn])
    rec = runner.run(profile="smoke", only=["burn_demo"], results_root=tmp_path / "res", echo=lambda *_: None)[0]
    assert rec["cpu_user_s"] + rec["cpu_sys_s"] >= 3.0
    assert rec["cpu_user_s"] + rec["cpu_sys_s"] <= rec["runner_duration_s"] * rec["threads"] + 1.0
    assert rec["load_average_start"] is None or rec["load_average_start"] >= 0


def test_p_for_a_parameter_the_runner_sets_is_refused(capsys):
    # -p metrics_appendix data_root X would be replaced by --data-root without a word
    assert cli.main(["run", "--only", "metrics_appendix", "-p", "metrics_appendix", "data_root", "/x",
                     "--results-root", "/tmp/unused"]) == 2
    assert "--data-root" in capsys.readouterr().err
