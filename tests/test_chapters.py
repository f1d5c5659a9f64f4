"""The one-folder-per-chapter layout: discovery, the template, thin notebooks, the import rule."""
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchlib import BenchlibError
from benchlib.chapters import all_specs, config_from, get
from benchlib.chapters.template import new_chapter

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "benchlib"
PAPERS = ["sam_vs_sam2", "orandnet_voc", "satellite_resnet", "cosaliency", "forb_retrieval"]


def test_discovered_chapters_in_book_order():
    ids = [s.id for s in all_specs()]
    assert ids[:5] == PAPERS and ids[-1] == "metrics_appendix"
    assert "_template" not in ids
    for s in all_specs():
        assert s.notebook_path().is_file(), s
        assert s.package == f"benchlib.chapters.{s.id}"
    with pytest.raises(BenchlibError, match="unknown chapter"):
        get("nope")


def _code_cells(nb_path):
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("spec", all_specs(), ids=lambda s: s.id)
def test_notebooks_are_thin(spec):
    """≤ 60 code lines outside the parameters cell, no function or lambda, no stored outputs."""
    lines = 0
    for cell in _code_cells(spec.notebook_path()):
        assert not cell.get("outputs"), f"{spec.id}: notebooks are committed without outputs"
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        src = "".join(cell["source"])
        lines += sum(1 for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#"))
        tree = ast.parse("\n".join(ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))))
        bad = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda, ast.ClassDef))]
        assert not bad, f"{spec.id}: the notebook defines {type(bad[0]).__name__} (logic belongs in the library)"
    if spec.kind == "paper":  # the appendix keeps worked examples
        assert lines <= 60, f"{spec.id}: {lines} code lines outside the parameters cell"


@pytest.mark.parametrize("spec", [s for s in all_specs() if s.kind == "paper"], ids=lambda s: s.id)
def test_notebook_defaults_equal_library_defaults(spec):
    """The parameters cell and the chapter's pipeline.Config agree (names and default values)."""
    import dataclasses
    import importlib

    cell = next(c for c in _code_cells(spec.notebook_path()) if "parameters" in c["metadata"].get("tags", []))
    ns: dict = {}
    exec("".join(cell["source"]), ns)
    cfg_cls = importlib.import_module(f"{spec.package}.pipeline").Config
    for f in dataclasses.fields(cfg_cls):
        assert f.name in ns, f"{spec.id}: Config.{f.name} missing from the parameters cell"
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert ns[f.name] == default, f"{spec.id}: {f.name} notebook {ns[f.name]!r} vs library {default!r}"
    for profile, overrides in spec.profiles.items():
        unknown = set(overrides) - set(ns)
        assert not unknown, f"{spec.id}: profile {profile} sets unknown parameters {unknown}"


def test_no_module_outside_chapters_imports_a_chapter_and_chapters_stay_apart():
    ids = [s.id for s in all_specs()]
    pat = re.compile(r"benchlib\.chapters\.(\w+)|from \.\.(\w+) import|from \.\. import (\w+)")
    for py in SRC.rglob("*.py"):
        rel = py.relative_to(SRC)
        text = py.read_text(encoding="utf-8")
        named = {g for m in pat.finditer(text) for g in m.groups() if g} & set(ids)
        if rel.parts[0] != "chapters":
            assert not named, f"{rel} imports chapter(s) {named}"
        elif len(rel.parts) > 2:
            own = rel.parts[1]
            assert named <= {own}, f"{rel} imports another chapter: {named - {own}}"


def test_config_from_names_missing_parameters():
    import dataclasses

    @dataclasses.dataclass
    class Config:
        seed: int = 0
        width: int = 8

    assert config_from(Config, {"seed": 3, "width": 2, "other": 1}) == Config(3, 2)
    with pytest.raises(BenchlibError, match="width"):
        config_from(Config, {"seed": 3})


@pytest.mark.slow
def test_throwaway_chapter_from_template_runs_and_gets_a_page(tmp_path):
    """A new chapter made from the template, outside this repository: listed, run on smoke, and
    in the built book, with no file outside its own folder edited."""
    pkgs = tmp_path / "pkgs"
    written = new_chapter("throwaway", "A throw-away chapter", dest=pkgs / "throwaway",
                          notebook=pkgs / "throwaway" / "throwaway.ipynb", package="throwaway")
    assert all(str(p).startswith(str(pkgs)) for p in written)
    before = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    env = dict(os.environ, BENCHLIB_CHAPTERS="throwaway",
               PYTHONPATH=os.pathsep.join([str(pkgs), os.environ.get("PYTHONPATH", "")]))
    run = lambda *a: subprocess.run([sys.executable, "-m", "benchlib", *a], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=600)
    listed = run("chapters")
    assert listed.returncode == 0 and "throwaway" in listed.stdout and "A throw-away chapter" in listed.stdout
    results, out = tmp_path / "results", tmp_path / "build"
    done = run("run", "--profile", "smoke", "--only", "throwaway", "--results-root", str(results),
               "--data-root", str(tmp_path / "data"), "--make-twins", "--book", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    claims = (results / "smoke" / "throwaway" / "claims.csv").read_text()
    assert "threshold_beats_majority" in claims
    page = out / "html" / "book" / "chapters" / "throwaway.html"
    assert page.is_file() and "A throw-away chapter" in page.read_text(encoding="utf-8")
    assert "A throw-away chapter" in (out / "html" / "book" / "intro.html").read_text(encoding="utf-8")
    after = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    assert after == before, "making and running a chapter must not edit files of the repository"


def test_template_notebook_is_thin_and_lists_every_config_field():
    """The template's notebook passes the checks every chapter notebook passes."""
    from types import SimpleNamespace

    from benchlib.chapters import template
    from benchlib.chapters._template import SPEC

    spec = SimpleNamespace(id=SPEC.id, kind=SPEC.kind, package=template.PACKAGE, profiles=SPEC.profiles,
                           notebook_path=lambda: template.TEMPLATE / template.NOTEBOOK)
    test_notebooks_are_thin(spec)
    test_notebook_defaults_equal_library_defaults(spec)


def _template_words(paths) -> dict:
    """{file name: the "template" words (case-insensitive) left in it, with some context}."""
    found = {p.name: re.findall(r".{0,30}template.{0,30}", p.read_text(encoding="utf-8"), flags=re.IGNORECASE)
             for p in paths}
    return {name: hits for name, hits in found.items() if hits}


def test_new_chapter_writes_package_notebook_and_tests_where_an_in_repo_chapter_lives(tmp_path, monkeypatch):
    """Without `dest`: chapters/<id>/, notebooks/<id>.ipynb and tests/chapters/<id>/ (with its
    __init__.py) of the project; every "template" word renamed; no other file touched."""
    import shutil

    from benchlib.chapters import template

    shutil.copytree(template.TEMPLATE, tmp_path / "chapters" / "_template",
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(template, "TEMPLATE", tmp_path / "chapters" / "_template")
    monkeypatch.setenv("BENCHLIB_ROOT", str(tmp_path))
    written = new_chapter("my_paper", "My paper: what it claims")
    rel = {str(p.relative_to(tmp_path)) for p in written}
    assert {"chapters/my_paper/__init__.py", "chapters/my_paper/train.py", "chapters/my_paper/paper/table_1.csv",
            "notebooks/my_paper.ipynb", "tests/chapters/my_paper/__init__.py",
            "tests/chapters/my_paper/test_chapter.py"} <= rel
    assert not any(r.startswith("chapters/my_paper/tests") for r in rel)
    assert not _template_words(written)
    test_text = (tmp_path / "tests/chapters/my_paper/test_chapter.py").read_text()
    assert "from benchlib.chapters.my_paper import SPEC" in test_text and "def test_my_paper_" in test_text
    assert 'id="my_paper"' in (tmp_path / "chapters/my_paper/__init__.py").read_text()
    assert "# My paper: what it claims" in (tmp_path / "notebooks/my_paper.ipynb").read_text()
    with pytest.raises(BenchlibError, match="already exists"):
        new_chapter("my_paper")


@pytest.mark.slow   # ~30 s of CPU (two pytest runs in subprocesses), longer on a busy machine
def test_new_chapter_renames_every_template_word_and_its_own_tests_pass(tmp_path):
    """A chapter made outside this repository carries its tests beside the package
    (`<dest>_tests/`): they pass as written (run by pytest in a subprocess), so do the project's
    generic tests on it (paper tables, contract, notebook), and no "template" word is left in
    anything written."""
    pkgs = tmp_path / "pkgs"
    written = new_chapter("demo_paper", dest=pkgs / "demo_paper", notebook=pkgs / "demo_paper" / "demo_paper.ipynb",
                          package="demo_paper")
    tests = pkgs / "demo_paper_tests"
    assert {tests / "__init__.py", tests / "test_chapter.py", tests / "test_paper_tables.py",
            pkgs / "demo_paper" / "models.py"} <= set(written)
    assert not _template_words(written)
    assert 'twin_name="synth-demo_paper"' in (pkgs / "demo_paper" / "data.py").read_text()
    # ROOT: the copy's test_paper_tables imports tests._papers, as a chapter in tests/chapters/ does
    env = dict(os.environ, BENCHLIB_CHAPTERS="demo_paper",
               PYTHONPATH=os.pathsep.join([str(pkgs), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytest_v = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"]
    done = subprocess.run([*pytest_v, str(tests)], cwd=pkgs, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "test_demo_paper_resumed_training_equals_an_uninterrupted_one PASSED" in done.stdout
    assert "test_demo_paper_values_read_by_hand PASSED" in done.stdout
    assert not re.search(r"\b(failed|skipped|error)", done.stdout.splitlines()[-1])
    # the generic tests, only their cases for the copy (the other chapters' run in this session)
    generic = subprocess.run([*pytest_v, "-k", "demo_paper", "tests/test_papers.py", "tests/test_contract.py",
                              "tests/test_chapters.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert generic.returncode == 0, generic.stdout[-4000:] + generic.stderr[-2000:]
    for case in ("test_meta_describes_every_table[demo_paper]", "test_table_shape_columns_and_dtypes[demo_paper-1]",
                 "test_stage_signatures[demo_paper]", "test_notebooks_are_thin[demo_paper]"):
        assert f"{case} PASSED" in generic.stdout, case
    assert not re.search(r"\b(failed|skipped|error)", generic.stdout.splitlines()[-1])


def _module_level_imports(path: Path, module: str) -> set[str]:
    """benchlib modules imported at module level (imports inside functions are deliberate late
    imports and cannot form a circle at import time)."""
    pkg = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        nodes = [node] + (list(ast.walk(node)) if isinstance(node, (ast.If, ast.Try)) else [])
        for n in nodes:
            if isinstance(n, ast.Import):
                out |= {a.name for a in n.names if a.name.startswith("benchlib")}
            elif isinstance(n, ast.ImportFrom):
                base = n.module or ""
                if n.level:
                    parts = pkg.split(".")
                    base = ".".join(parts[:len(parts) - n.level + 1] + ([n.module] if n.module else []))
                if base.startswith("benchlib"):
                    out.add(base)
                    out |= {f"{base}.{a.name}" for a in n.names}
    return out


def test_no_import_circle_inside_benchlib():
    mods = {}
    for py in SRC.rglob("*.py"):
        rel = py.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        mods[name] = py
    graph = {m: {d for d in _module_level_imports(p, m) if d in mods and d != m} for m, p in mods.items()}
    # a package's __init__ importing its own submodules is not a circle through them
    for m in graph:
        graph[m] = {d for d in graph[m] if not (m.startswith(d + ".") and mods[d].name == "__init__.py")}
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
