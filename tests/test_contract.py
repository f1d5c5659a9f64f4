"""The chapter contract (CONTRIBUTING.md, "The contract"): the same stage names and signatures in
every chapter package, the template included, checked on the code, not by hasattr alone."""
import ast
import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

from benchlib.chapters import ChapterConfig, ChapterSpec, all_specs

TEMPLATE = ChapterSpec("_template", "the template", order=0, package="benchlib.chapters._template")
PAPER = [s for s in all_specs() if s.kind == "paper"] + [TEMPLATE]
MODULES = ("data", "models", "pipeline", "evaluate", "claims", "report", "plan")


def _mod(spec, name):
    return importlib.import_module(f"{spec.package}.{name}")


def _params(fn):
    """(positional-or-keyword names, keyword-only names, required positional count)."""
    sig = inspect.signature(fn)
    pos = [p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    kw = [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]
    required = [p.name for p in sig.parameters.values() if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return pos, kw, required


def _exact(fn, names, where):
    pos, kw, required = _params(fn)
    assert pos[:len(names)] == list(names) and required == list(names), \
        f"{where}{inspect.signature(fn)} — the contract is {where}({', '.join(names)})"


def test_every_paper_chapter_is_checked():
    ids = {s.id for s in PAPER}
    assert {"sam_vs_sam2", "orandnet_voc", "satellite_resnet", "cosaliency", "forb_retrieval", "_template"} <= ids
    assert all(s.kind in ("paper", "appendix") for s in all_specs())


@pytest.mark.parametrize("spec", PAPER, ids=lambda s: s.id)
def test_stage_modules_exist_with_docstrings(spec):
    for name in MODULES + (("train",) if spec.trains else ()):
        mod = _mod(spec, name)
        assert (mod.__doc__ or "").strip(), f"{spec.id}.{name} has no module docstring"


@pytest.mark.parametrize("spec", PAPER, ids=lambda s: s.id)
def test_config_extends_chapter_config(spec):
    pipe = _mod(spec, "pipeline")
    assert dataclasses.is_dataclass(pipe.Config) and issubclass(pipe.Config, ChapterConfig), \
        f"{spec.id}: pipeline.Config must be a dataclass extending benchlib.chapters.ChapterConfig"
    assert pipe.Config.chapter_id() == spec.id
    # the shared names are not redefined as something else (torch_threads, n_boot, seed lists …)
    fields = {f.name for f in dataclasses.fields(pipe.Config)}
    for old in ("torch_threads", "n_boot", "seed_list", "checkpoint_folder"):
        assert old not in fields, f"{spec.id}: Config.{old} — use ChapterConfig's name"
    assert "seeds" not in vars(pipe.Config), f"{spec.id}: Config redefines seeds (ChapterConfig has it)"


@pytest.mark.parametrize("spec", PAPER, ids=lambda s: s.id)
def test_stage_signatures(spec):
    pipe, report, claims, plan = (_mod(spec, n) for n in ("pipeline", "report", "claims", "plan"))
    _exact(pipe.run, ("config",), f"{spec.id}.pipeline.run")
    _exact(report.record, ("res", "run"), f"{spec.id}.report.record")
    _exact(report.tables, ("res", "run"), f"{spec.id}.report.tables")
    _exact(report.not_claimed, (), f"{spec.id}.report.not_claimed")
    _exact(report.explorer, ("run",), f"{spec.id}.report.explorer")
    _exact(plan.check, ("ctx",), f"{spec.id}.plan.check")
    _exact(plan.estimate, ("ctx", "plan"), f"{spec.id}.plan.estimate")
    assert isinstance(claims.CLAIMS, (list, tuple)) and isinstance(claims.CHECKS, (list, tuple)) and claims.CLAIMS
    for c in claims.CLAIMS:
        assert c.statement and c.source and c.unit is not None, f"{spec.id}: claim {c.id} lacks statement, source or unit"
    rows = report.not_claimed()
    assert isinstance(rows, list) and all({"statement", "source", "reason"} <= set(r) for r in rows), \
        f"{spec.id}: report.not_claimed() returns a list of dicts with statement, source, reason"
    if spec.trains:
        pos, kw, _ = _params(_mod(spec, "train").fit)
        assert pos[:3] == ["model", "data", "cfg"] and {"seed", "device", "checkpoint"} <= set(kw), \
            f"{spec.id}.train.fit{inspect.signature(_mod(spec, 'train').fit)} — the contract is " \
            "fit(model, data, cfg, *, seed, device, checkpoint=None)"


def _source(spec) -> dict:
    d = Path(importlib.import_module(spec.package).__file__).parent
    return {p: p.read_text(encoding="utf-8") for p in d.glob("*.py")}


@pytest.mark.parametrize("spec", PAPER, ids=lambda s: s.id)
def test_chapter_id_is_read_from_spec_not_typed(spec):
    """The id appears as a string literal only in SPEC itself (`__init__.py`)."""
    for path, text in _source(spec).items():
        if path.name == "__init__.py":
            continue
        literals = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Constant) and n.value == spec.id]
        assert not literals, f"{path.name} types the chapter id {spec.id!r} (read it from SPEC.id / Config.chapter_id())"


@pytest.mark.parametrize("spec", PAPER, ids=lambda s: s.id)
def test_tables_are_laid_out_by_the_shared_function(spec):
    """The paper-shaped tables come from `benchlib.results.paper_table`, the one layout function."""
    text = _source(spec)[Path(_mod(spec, "report").__file__)]
    assert "paper_table" in text, f"{spec.id}.report does not use benchlib.results.paper_table"
