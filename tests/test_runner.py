import json
from pathlib import Path

import nbformat
import pytest

from benchlib import cli, runner
from benchlib.book import render_toc
from benchlib.paths import project_root
from benchlib.profiles import CHAPTERS, PROFILE_NAMES, PROFILES

ROOT = project_root()


def _parameters_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "exactly one cell tagged 'parameters'"
    names = {}
    exec(cells[0].source, {}, names)
    return names


@pytest.mark.parametrize("chapter", list(CHAPTERS.values()), ids=list(CHAPTERS))
def test_notebooks_are_committed_without_outputs_and_accept_profile_parameters(chapter):
    nb = nbformat.read(ROOT / "notebooks" / chapter.notebook, as_version=4)
    with_outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not with_outputs, f"{chapter.notebook}: cells {with_outputs} carry outputs"
    names = _parameters_cell(nb)
    for injected in ("profile", "data_root", "results_root"):
        assert injected in names
    for prof in PROFILE_NAMES:
        unknown = set(PROFILES[prof].get(chapter.id, {})) - set(names)
        assert not unknown, f"profile {prof} sets parameters the notebook does not have: {unknown}"


def test_toc_matches_registry():
    assert (ROOT / "_toc.yml").read_text() == render_toc(list(CHAPTERS))


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


def test_a_hung_cell_fails_its_chapter_after_the_cell_timeout(tmp_path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "default"\ndata_root = ""\nresults_root = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import time\ntime.sleep(120)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "hang.ipynb"
    nbformat.write(nb, path)
    from benchlib.profiles import Chapter

    records = runner.run(profile="smoke", chapters=[Chapter("hang_demo", "hangs", str(path))],
                         results_root=tmp_path / "res", cell_timeout=3, echo=lambda *_: None)
    assert records[0]["status"] == "failed"
    assert "timed out" in records[0]["error"].lower() or "timeout" in records[0]["error"].lower()
    assert records[0]["runner_duration_s"] < 60
