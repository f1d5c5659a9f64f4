"""The book's chapters: each is a package under `benchlib.chapters` whose `SPEC` describes it.

Chapters are discovered, never listed: every sub-package of `benchlib.chapters` (names not
starting with `_`) with a `SPEC`, plus the modules named in `$BENCHLIB_CHAPTERS`
(comma-separated, importable) and those registered under the `benchlib.chapters` entry-point
group. A new chapter therefore edits no shared file.

One protocol for every chapter (the same names in each package):

- `pipeline.Config` (a dataclass: the notebook's parameters) and `pipeline.run(config) -> Run`;
- `claims.CLAIMS` / `claims.CHECKS` for the claims engine (`benchlib.claims`);
- `report.record(results, run)` (result rows), `report.tables(...)`, figures, `report.explorer(run)`.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import BenchlibError

ENV_EXTRA = "BENCHLIB_CHAPTERS"
ENTRY_POINT_GROUP = "benchlib.chapters"
# Parameters every chapter notebook receives from the runner; not part of a chapter's Config.
INJECTED = ("profile", "data_root", "results_root")


@dataclass(frozen=True)
class ChapterSpec:
    """What the runner and the book need to know about one chapter."""

    id: str
    title: str
    order: int                      # position in the book (small first)
    profiles: dict = field(default_factory=dict)   # profile -> {parameter: value} overrides
    citation: str = ""              # the paper, one line
    summary: str = ""               # one sentence for the intro's chapter table
    package: str = ""               # filled by discovery: the module that holds SPEC

    @property
    def directory(self) -> Path:
        mod = importlib.import_module(self.package)
        return Path(mod.__file__).resolve().parent

    @property
    def paper_dir(self) -> Path:
        return self.directory / "paper"

    def notebook_path(self, root: Path | None = None) -> Path:
        """`notebooks/<id>.ipynb` of the project, else `<id>.ipynb` inside the chapter package
        (a chapter that lives outside this repository carries its own notebook)."""
        from ..paths import project_root

        candidates = [Path(root or project_root()) / "notebooks" / f"{self.id}.ipynb",
                      self.directory / f"{self.id}.ipynb"]
        return next((p for p in candidates if p.is_file()), candidates[0])

    def parameters(self, profile: str) -> dict:
        """The overrides this profile makes to the notebook's defaults."""
        return dict(self.profiles.get(profile, {}))

    def plan_module(self):
        """The chapter's optional `plan` module (`benchlib plan`), imported only when asked for:
        discovery stays light. None when the chapter has none."""
        import importlib.util

        name = f"{self.package}.plan"
        try:
            found = importlib.util.find_spec(name)
        except ImportError:
            found = None
        return importlib.import_module(name) if found is not None else None


def _spec_of(module_name: str) -> ChapterSpec | None:
    try:
        mod = importlib.import_module(module_name)
    except ImportError as e:
        raise BenchlibError(f"chapter module {module_name!r} cannot be imported: {e}") from e
    spec = getattr(mod, "SPEC", None)
    if spec is None:
        return None
    if not isinstance(spec, ChapterSpec):
        raise BenchlibError(f"{module_name}.SPEC must be a benchlib.chapters.ChapterSpec")
    return dataclasses.replace(spec, package=module_name)


def _candidate_modules() -> list[str]:
    names = [f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__)
             if m.ispkg and not m.name.startswith("_")]
    names += [n.strip() for n in os.environ.get(ENV_EXTRA, "").split(",") if n.strip()]
    try:
        from importlib.metadata import entry_points

        names += [ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)]
    except Exception:  # noqa: BLE001 - broken metadata of another package must not hide ours
        pass
    return list(dict.fromkeys(names))


@lru_cache(maxsize=8)
def _discover(extra: str) -> tuple[ChapterSpec, ...]:
    specs: dict[str, ChapterSpec] = {}
    for name in _candidate_modules():
        spec = _spec_of(name)
        if spec is None:
            continue
        if spec.id in specs:
            raise BenchlibError(f"two chapters share the id {spec.id!r}: "
                                f"{specs[spec.id].package} and {spec.package}")
        specs[spec.id] = spec
    return tuple(sorted(specs.values(), key=lambda s: (s.order, s.id)))


def all_specs() -> list[ChapterSpec]:
    """Every discovered chapter, in book order."""
    return list(_discover(os.environ.get(ENV_EXTRA, "")))


def get(chapter_id: str) -> ChapterSpec:
    for s in all_specs():
        if s.id == chapter_id:
            return s
    raise BenchlibError(f"unknown chapter {chapter_id!r}; known chapters: "
                        f"{', '.join(s.id for s in all_specs())}")


def config_from(config_cls, namespace: dict):
    """Build a chapter's Config from the notebook's globals (its parameters cell): every field
    of the dataclass must be defined there, so notebook and library cannot drift apart."""
    names = [f.name for f in dataclasses.fields(config_cls)]
    missing = [n for n in names if n not in namespace]
    if missing:
        raise BenchlibError(f"{config_cls.__module__}.{config_cls.__name__}: the notebook defines no "
                            f"parameter {', '.join(missing)}")
    return config_cls(**{n: namespace[n] for n in names})
