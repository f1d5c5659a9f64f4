"""The book's chapters: each is a package under `benchlib.chapters` whose `SPEC` describes it.

Chapters are discovered, never listed: every sub-package of `benchlib.chapters` (names not
starting with `_`) with a `SPEC`, plus the modules named in `$BENCHLIB_CHAPTERS`
(comma-separated, importable) and those registered under the `benchlib.chapters` entry-point
group. A new chapter therefore edits no shared file.

One contract for every chapter (the same names and signatures in each package, enforced by
`tests/test_contract.py`; CONTRIBUTING.md lists them): `pipeline.Config` extends `ChapterConfig`,
`pipeline.run(config) -> Run`, `train.fit(model, data, cfg, *, seed, device, checkpoint)` where
the chapter trains, `evaluate.py` (scores against ground truth), `claims.CLAIMS` / `claims.CHECKS`,
`report.record(res, run)`, `report.tables(res, run) -> {paper table id: DataFrame}` (laid out by
`benchlib.results.paper_table`), `report.not_claimed()`, `report.explorer(run)`, `plan.check(ctx)` /
`plan.estimate(ctx, plan)`.
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
    kind: str = "paper"             # "paper": the full chapter contract; "appendix": SPEC, claims, plan
    trains: bool = True             # a paper chapter that trains has train.fit (the contract test checks)

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


@dataclass
class ChapterConfig:
    """The parameters every chapter shares. A chapter's `pipeline.Config` extends it (a field it
    redeclares keeps its place and takes the new default, e.g. `n_seeds: int = 5`), and its
    notebook's parameters cell lists every field, these included."""

    seed: int = 0                  # the twin's seed and the first training seed
    n_seeds: int = 3               # seeds seed, seed+1, … (≥ 3 where a claim rests on training)
    device: str = "auto"           # "auto": CUDA when present, else the CPU
    threads: int = 0               # torch CPU threads (0: the runner's budget)
    data_root: str = ""            # the real dataset in its published layout; empty: the twin
    checkpoint_every: int = 0      # save training state every N epochs (or steps) and resume it (0: off)
    checkpoint_dir: str = ""       # empty: <results_root>/.checkpoints/<profile>/<chapter id>
    profile: str = "default"       # injected by the runner (names the checkpoint folder)
    results_root: str = ""         # injected by the runner (empty: the default results folder)

    @property
    def seeds(self) -> list[int]:
        """The training seeds: seed, seed+1, …, seed+n_seeds−1."""
        return [self.seed + i for i in range(self.n_seeds)]

    @classmethod
    def chapter_id(cls) -> str:
        """The id in the SPEC of the package this Config belongs to (never typed out again)."""
        package = cls.__module__.rpartition(".")[0]
        spec = getattr(importlib.import_module(package), "SPEC", None)
        if spec is None:
            raise BenchlibError(f"{cls.__module__}.{cls.__name__}: package {package!r} has no SPEC")
        return spec.id

    def checkpoint_folder(self) -> Path:
        """Where this chapter's training checkpoints live: `checkpoint_dir` if given, else beside
        the results (`torchutil.checkpoint_folder(results_root, profile, chapter id)`)."""
        from ..torchutil import chapter_checkpoint_dir

        return chapter_checkpoint_dir(self, self.chapter_id())


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
