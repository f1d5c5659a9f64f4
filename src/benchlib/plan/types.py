"""What a chapter's `plan.py` fills in (`ChapterPlan` and its parts) and what it receives (`PlanContext`)."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DataCheck:
    """One dataset a chapter reads. status: found | missing | invalid | not needed (the generic
    code turns `missing` into `twin` where the run would use a synthetic twin)."""

    name: str                    # e.g. "GeoTIFF image / mask folder (Inria layout)"
    parameter: str               # the parameter that points at it ("data_root", "sdcs_root")
    path: str                    # where it was looked for
    status: str
    counts: dict = field(default_factory=dict)   # e.g. {"train scenes": 6, "test scenes": 3}
    problems: list = field(default_factory=list)  # the loader's first error (file and problem)
    layout: str = ""             # the expected layout, shown when the data is missing
    notes: list = field(default_factory=list)    # how it was validated, what is used instead


@dataclass
class WeightCheck:
    """A weight / checkpoint file a parameter names. status: loads | not set | invalid."""

    parameter: str
    path: str
    status: str
    needed_for: str = ""         # what uses it (and what happens without it)
    detail: str = ""             # the loader's error, or what was checked


@dataclass
class RowStatus:
    row: str                     # a result row / table entry the chapter produces
    runs: bool
    reason: str = ""             # why it is marked not run


@dataclass
class Estimate:
    """Time of the whole chapter on this device, by part (seconds). `upper_bound`: training
    counted to its maximum number of epochs (early stopping usually ends sooner). `confidence`:
    the weakest of its calibrations (high | medium | low, see `timing.Calibration`); `load`: what
    the machine was doing while it was timed (`timing.load_seen`)."""

    seconds: float | None
    parts: dict = field(default_factory=dict)
    basis: list = field(default_factory=list)    # how each part was calibrated
    upper_bound: bool = False
    confidence: str = ""
    load: dict = field(default_factory=dict)


@dataclass
class ChapterPlan:
    chapter: str
    title: str = ""
    data: list = field(default_factory=list)       # [DataCheck]
    weights: list = field(default_factory=list)    # [WeightCheck]
    rows: list = field(default_factory=list)       # [RowStatus]
    estimate: Estimate | None = None
    checkpoints: list = field(default_factory=list)  # summaries of saved trainings (torchutil)
    notes: list = field(default_factory=list)
    error: str = ""              # the chapter's plan itself failed (shown, never hidden)
    plan_seconds: float = 0.0    # how long this chapter's plan took
    scratch: dict = field(default_factory=dict, repr=False)  # check → estimate hand-over (not shown)


@dataclass
class PlanContext:
    """What a chapter's `check(ctx)` / `estimate(ctx, plan)` receive."""

    chapter: str
    profile: str
    params: dict                 # every notebook parameter: defaults, the profile's, the user's
    data_root: Path
    results_root: Path
    device: object               # torch.device the chapter would run on
    threads: int                 # CPU threads the chapter runs with (the estimate is for that many)
    deadline: float | None = None  # time.perf_counter() by which the estimate should be done
    calibrations: list = field(default_factory=list)  # every Calibration made (for the confidence)

    def config(self, config_cls):
        """The chapter's Config built from the parameters (fields not in the notebook keep their
        default)."""
        names = {f.name for f in dataclasses.fields(config_cls)}
        return config_cls(**{k: v for k, v in self.params.items() if k in names})

    def remaining(self) -> float | None:
        """Seconds left of the chapter's time budget (None: no budget)."""
        return None if self.deadline is None else self.deadline - time.perf_counter()

    def calibrate(self, build, shapes: dict, multiple: int = 1, convnet: bool = False) -> dict:
        """{name: Calibration} of the network `build(shape)` for each (input shape, train) of
        `shapes` on the chapter's device (see `timing.calibrate`). With several networks, prefer
        `calibrate_many`: it shares the time budget and times two networks at once."""
        return self.calibrate_many({"_": (build, shapes, multiple, convnet)})["_"]

    def calibrate_many(self, jobs: dict) -> dict:
        """{key: {name: Calibration}} for jobs {key: (build, shapes, multiple, convnet)}, sharing
        what is left of the chapter's time budget (`timing.calibrate_many`)."""
        from . import timing

        out = timing.calibrate_many(jobs, self.device, threads=self.threads, deadline=self.deadline)
        self.calibrations += [c for d in out.values() for c in d.values()]
        return out
