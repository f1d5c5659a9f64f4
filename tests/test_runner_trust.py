"""A runner you can trust: the cache never lies, failures keep the last good results, parameters
are checked before any kernel starts, and a Dask LocalCluster gives the local run's results."""
import json
import os
import stat

import pandas as pd
import pytest

from benchlib import cli, datasets, runner
from benchlib import results as R
from tests._chapters import add_chapter

TINY_CELLS = [
    "import numpy as np\nfrom benchlib.results import ChapterResults\nprint('tiny chapter says hello')\n"
    "assert not fail, 'asked to fail'\n"
    "res = ChapterResults('tiny', profile, results_root or None, parameters={'scale': scale})\n"
    "res.add('1', 'm', 'x', float(np.random.default_rng(seed).normal()) * scale, dataset='random, seed 0')\n"
    "res.save()",
]
TINY_PARAMS = "seed = 0\nscale = 1.0  # multiplies the number\nfail = False\n"


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    nb = add_chapter(tmp_path, monkeypatch, "tiny", "A tiny chapter", TINY_CELLS, params=TINY_PARAMS)
    return {"nb": nb, "results": tmp_path / "results", "data": tmp_path / "data"}


def _run(t, *extra):
    return cli.main(["run", "--profile", "smoke", "--only", "tiny", "--results-root", str(t["results"]),
                     "--data-root", str(t["data"]), "--make-twins", *extra])


def _value(t):
    return pd.read_csv(t["results"] / "smoke" / "tiny" / "results.csv")["value"].iloc[0]


def test_notebook_parameters_read_names_defaults_and_help(tiny):
    p = runner.notebook_parameters(tiny["nb"])
    assert p["scale"] == {"default": 1.0, "help": "multiplies the number"}
    assert p["fail"]["default"] is False and p["seed"]["help"] == ""


@pytest.mark.parametrize("args,needle", [
    (["-p", "tiny", "scael", "2"], "unknown parameter 'scael'"),
    (["-p", "tiny", "scale", '"2"'], "parameter 'scale' must be float"),
    (["-p", "tiny", "fail", "1"], "parameter 'fail' must be bool"),
    (["-p", "nope", "scale", "2"], "unknown chapter"),
])
def test_bad_parameters_exit_2_before_any_kernel(tiny, capsys, args, needle):
    assert _run(tiny, *args) == 2
    assert needle in capsys.readouterr().err
    assert not (tiny["results"] / "smoke" / "tiny").exists()


def test_missing_data_root_exits_2(tmp_path, capsys):
    assert cli.main(["run", "--only", "metrics_appendix", "--data-root", str(tmp_path / "typo"),
                     "--results-root", str(tmp_path / "r")]) == 2
    assert "no such folder" in capsys.readouterr().err and not (tmp_path / "typo").exists()
    assert cli.main(["run", "--jobs", "-1", "--only", "metrics_appendix", "--results-root", str(tmp_path)]) == 2


def test_cache_failures_interactive_saves_and_broken_files(tiny, capsys):
    assert _run(tiny) == 0
    d = tiny["results"] / "smoke" / "tiny"
    first = _value(tiny)
    run = json.loads((d / "run.json").read_text())
    assert run["source"] == "runner" and "tiny chapter says hello" in (d / "run.log").read_text()
    assert stat.S_IMODE(os.stat(d / "results.csv").st_mode) == 0o666 & ~_umask()
    assert _run(tiny) == 0 and "skipped" in capsys.readouterr().out

    # A failed re-run keeps the last good results and records the failure beside them.
    assert _run(tiny, "-p", "tiny", "fail", "true") == 1
    out = capsys.readouterr().out
    assert _value(tiny) == first and json.loads((d / "run.json").read_text())["status"] == "ok"
    failure = json.loads((d / runner.FAILURE_DIR / "run.json").read_text())
    assert failure["status"] == "failed" and "asked to fail" in failure["error"]
    assert str(d / runner.FAILURE_DIR / "run.log") in out

    # An interactive session that saves with another parameter must not be mistaken for the runner's run.
    env = dict(os.environ)
    R.ChapterResults("tiny", "smoke", tiny["results"], parameters={"scale": 5.0}).save()
    assert os.environ == env
    assert _run(tiny) == 0
    assert "interactive session" in capsys.readouterr().out
    assert not (d / runner.FAILURE_DIR).exists()

    # A truncated results.csv is re-run, naming the file.
    (d / "results.csv").write_text('chapter,table\n"tiny')
    assert _run(tiny) == 0
    assert "results.csv" in capsys.readouterr().out and _value(tiny) == first


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_stale_staging_and_twin_temps_are_cleaned(tiny, tmp_path):
    stale = tiny["results"] / ".staging" / "999999999-dead"
    stale.mkdir(parents=True)
    final = datasets.twin_folder(tmp_path / "d", "synth-x", 1, {"n": 1})
    half = final.with_name(f".{final.name}.999999999-abcdef.tmp")
    half.mkdir(parents=True)
    assert _run(tiny) == 0 and not stale.exists()
    calls = []
    datasets.ensure_twin(tmp_path / "d", "synth-x", 1, {"n": 1}, lambda f: calls.append(f))
    assert not half.exists() and len(calls) == 1


def test_generator_version_bump_recreates_the_twin(tmp_path):
    calls = []

    def write(folder):
        calls.append(folder)
        (folder / "data.txt").write_text("v")

    a = datasets.ensure_twin(tmp_path, "synth-x", 1, {"n": 3}, write)
    assert datasets.ensure_twin(tmp_path, "synth-x", 1, {"n": 3}, write) == a and len(calls) == 1
    b = datasets.ensure_twin(tmp_path, "synth-x", 2, {"n": 3}, write)
    assert b != a and len(calls) == 2 and (b / datasets.MARKER).is_file()


def test_cache_key_covers_package_versions(tmp_path):
    nb = tmp_path / "a.ipynb"
    nb.write_text("{}")
    assert runner.cache_key(nb, {}, "h", {"torch": "2.11"}) != runner.cache_key(nb, {}, "h", {"torch": "2.14"})


@pytest.mark.slow
def test_dask_local_cluster_gives_the_local_results(tiny, tmp_path):
    pytest.importorskip("distributed")
    local, dask = tmp_path / "local", tmp_path / "dask"
    common = ["--profile", "smoke", "--only", "tiny", "metrics_appendix", "--data-root", str(tiny["data"]),
              "--make-twins"]
    assert cli.main(["run", *common, "--results-root", str(local)]) == 0
    assert cli.main(["run", *common, "--results-root", str(dask), "--dask", "local:2"]) == 0
    for chapter in ("tiny", "metrics_appendix"):
        a = pd.read_csv(local / "smoke" / chapter / "results.csv")
        b = pd.read_csv(dask / "smoke" / chapter / "results.csv")
        pd.testing.assert_frame_equal(a, b)
        assert json.loads((dask / "smoke" / chapter / "run.json").read_text())["status"] == "ok"
