"""`benchlib plan`: what a run of a profile needs and how long it will take, before anything trains.

Per chapter: the datasets it reads and whether the data root holds them (checked with the chapter's
real loaders: counts found, the first problem named, the expected layout when absent), the weight
and checkpoint files its parameters name and whether they load, which result rows will run and
which will be marked not run (and why), training checkpoints already saved, and a time estimate
from a short calibration: a few training steps / forwards of the chapter's real networks on the
device at hand, multiplied by the profile's schedule. Where a network is too big to time at full
size on a CPU within the plan's budget, it is timed at a reduced input and scaled by the ratio of
floating-point operations (counted on the meta device, no memory used); the estimate says so.

A chapter takes part through an optional module `<chapter package>.plan` with two functions:
`check(ctx: PlanContext) -> ChapterPlan` (data, weights, rows: quick) and `estimate(ctx, plan) ->
Estimate` (the calibration; see CONTRIBUTING.md); a chapter without the module is listed as
"no plan". `benchlib run --profile paper` prints the plan first and refuses to start when a
dataset is missing (unless `--allow-twins`), a file a parameter names does not load, or the
estimate exceeds the CPU limit on a machine without a CUDA GPU (unless `--yes`).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import BenchlibError

# A paper-profile run on a machine without a CUDA GPU is refused above this estimate (unless --yes).
CPU_LIMIT_S = 2 * 3600
# A CPU calibration of a network whose cost is not proportional to its pixels times one sample of
# at most about this many FLOPs (its sides shrunk when needed) and scales by the FLOP ratio.
CPU_CALIBRATION_FLOPS = 1e10
# A warm-up call longer than 4 × this is followed by one timed call (else the median of two).
TARGET_S = 0.25


# =========================================================================== what a chapter reports
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
    counted to its maximum number of epochs (early stopping usually ends sooner)."""

    seconds: float | None
    parts: dict = field(default_factory=dict)
    basis: list = field(default_factory=list)    # how each part was calibrated
    upper_bound: bool = False


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
    """What a chapter's `plan(ctx)` receives."""

    chapter: str
    profile: str
    params: dict                 # every notebook parameter: defaults, the profile's, the user's
    data_root: Path
    results_root: Path
    device: object               # torch.device the chapter would run on
    threads: int                 # CPU threads the calibration uses (the chapter's own setting)

    def config(self, config_cls):
        """The chapter's Config built from the parameters (fields not in the notebook keep their
        default)."""
        names = {f.name for f in dataclasses.fields(config_cls)}
        return config_cls(**{k: v for k, v in self.params.items() if k in names})

    def calibrate(self, build, shapes: dict, multiple: int = 1, convnet: bool = False) -> dict:
        """{name: Calibration} of `build(shape)` on the chapter's device for each (shape, train) of
        `shapes`; `convnet=True`: scaled by pixels from one small input (see `calibrate_convnet`)."""
        fn = calibrate_convnet if convnet else calibrate
        return fn(build, shapes, self.device, multiple=multiple)


# =========================================================================== helpers for chapters
def check_data(parameter: str, base, *, name: str, layout: str, find: Callable, validate: Callable) -> DataCheck:
    """`find(base)` → the folder the chapter would read, or None; `validate(folder)` → (counts,
    notes), through the chapter's real loaders (a BenchlibError there is the problem shown)."""
    base = Path(base).expanduser()
    try:
        folder = find(base) if base.is_dir() else None
    except BenchlibError as e:
        return DataCheck(name, parameter, str(base), "invalid", problems=[str(e)], layout=layout)
    if folder is None:
        return DataCheck(name, parameter, str(base), "missing", layout=layout)
    try:
        counts, notes = validate(Path(folder))
    except BenchlibError as e:
        return DataCheck(name, parameter, str(folder), "invalid", problems=[str(e)], layout=layout)
    return DataCheck(name, parameter, str(folder), "found", dict(counts), layout=layout, notes=list(notes))


def check_weight(parameter: str, value, load: Callable, needed_for: str = "") -> WeightCheck:
    """`value` empty → "not set"; else `load(path)` (the chapter's own loader, which raises a
    BenchlibError naming the problem) decides between "loads" and "invalid"."""
    if not value:
        return WeightCheck(parameter, "", "not set", needed_for)
    try:
        detail = load(value) or ""
    except BenchlibError as e:
        return WeightCheck(parameter, str(value), "invalid", needed_for, str(e))
    return WeightCheck(parameter, str(value), "loads", needed_for, str(detail))


@dataclass
class Calibration:
    """Seconds of one call (a training step or a forward) at `shape` on the device."""

    seconds: float
    shape: tuple
    measured_shape: tuple
    flops: float | None          # of one call at `shape` (training: 3 × the forward's)
    scale: float = 1.0           # seconds / the measured call's seconds (1: measured as is)
    how: str = "FLOPs"           # how the measured time was carried to `shape`

    def describe(self) -> str:
        if tuple(self.measured_shape) == tuple(self.shape):
            return f"timed at {_shape(self.shape)}"
        return (f"timed at {_shape(self.measured_shape)}, scaled ×{self.scale:.3g} by {self.how} to "
                f"{_shape(self.shape)}")


def _shape(s) -> str:
    return "×".join(str(int(v)) for v in s)


def _loss(out):
    """A scalar from a model's output (tensor, tuple / list / dict of tensors) for backward()."""
    import torch

    if isinstance(out, torch.Tensor):
        return out.float().mean() if out.is_floating_point() else None
    items = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else []
    parts = [p for p in (_loss(o) for o in items) if p is not None]
    return sum(parts) if parts else None


def _on_meta(build, shape):
    import torch

    try:
        # builders that load weight files copy them into meta parameters (a no-op torch warns about
        # once per tensor); the values do not matter for counting or timing
        with torch.device("meta"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*meta parameter.*", category=UserWarning)
            return build(tuple(shape))
    except Exception:  # noqa: BLE001 - some builders compute values while building: build, then move
        return build(tuple(shape)).to("meta")


def count_flops(build: Callable, shape: tuple, train: bool = False) -> float | None:
    """FLOPs of one forward at `shape` (× 3 when `train`: the backward pass costs about twice the
    forward), counted on the meta device (nothing computed or allocated). None when the network
    cannot run on meta tensors."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    try:
        model = _on_meta(build, shape).eval()
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model(torch.empty(tuple(shape), device="meta"))
        return float(fc.get_total_flops()) * (3 if train else 1)
    except Exception:  # noqa: BLE001 - a network that does not run on meta tensors is timed as is
        return None


def _materialise(build, shape, device):
    """The network on `device` with random values, without its (slow, for 60 M parameters)
    initialisation: built on meta, allocated, filled. Timing does not depend on the values."""
    import torch

    try:
        model = _on_meta(build, shape).to_empty(device=device)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.02)
            for b in model.buffers():   # BatchNorm statistics: finite, variance 1
                b.fill_(1) if b.is_floating_point() else b.zero_()
        return model
    except Exception:  # noqa: BLE001 - fall back to the builder's own initialisation
        torch.manual_seed(0)
        return build(tuple(shape)).to(device)


def _time_calls(model, shapes: dict, device, repeats: int) -> dict:
    """{name: seconds} of one call per (shape, train) in `shapes`, after a warm-up call: one timed
    call when the warm-up lasted over 4 × TARGET_S (timed well enough once; the plan stays short
    with the largest networks), else the median of at least two."""
    import torch

    from .torchutil import autocast, synchronize, time_call

    out = {}
    for name, (shape, train) in shapes.items():
        model.train(train)
        x = torch.randn(shape, device=device)
        opt = torch.optim.SGD(model.parameters(), lr=1e-9) if train else None

        def step(x=x, opt=opt, train=train):
            with autocast(device):
                if train:
                    opt.zero_grad(set_to_none=True)
                    loss = _loss(model(x))
                    if loss is not None:
                        loss.backward()
                    opt.step()
                else:
                    with torch.no_grad():
                        model(x)

        synchronize(device)
        t0 = time.perf_counter()
        step()   # the warm-up call: first calls pay for lazy initialisation, never timed
        synchronize(device)
        long = time.perf_counter() - t0 > 4 * TARGET_S
        out[name] = time_call(step, device, warmup=0, repeats=1 if long else max(2, repeats))["median_s"]
    return out


def _grow(shape: tuple, full: tuple, multiple: int) -> tuple:
    """The next, larger input on the way to `full`: spatial sides doubled first, then the batch."""
    b, c, *sp = shape
    B, _, *SP = full
    if list(sp) != list(SP):
        return (b, c, *[min(F, max(multiple, 2 * v // multiple * multiple)) for v, F in zip(sp, SP)])
    return (min(B, 2 * b), c, *sp)


def _fit_two_sizes(build, start: tuple, full: tuple, device, train: bool, multiple: int, repeats: int,
                   same_network: bool, work) -> tuple[tuple, float, float]:
    """Time one call at `start` and at the next larger input on the way to `full` (spatial sides
    doubled, else the batch), and fit time = fixed + rate × work (`work(shape)`: pixels, or FLOPs).
    Small inputs are dominated by fixed per-call costs (Python, kernel launches, tiny layers), which
    a plain ratio would multiply; the fit keeps them fixed. Returns (larger input, its seconds,
    seconds per unit of work). At `full` itself one size is timed (rate = seconds / work)."""
    small = tuple(start)
    model = _materialise(build, small, device)
    t1 = _time_calls(model, {"x": (small, train)}, device, repeats)["x"]
    if small == tuple(full):
        return small, t1, t1 / work(small)
    large = _grow(small, full, multiple)
    if not same_network and large[1:] != small[1:]:
        model = _materialise(build, large, device)
    t2 = _time_calls(model, {"x": (large, train)}, device, repeats)["x"]
    w1, w2 = work(small), work(large)
    rate = (t2 - t1) / (w2 - w1) if w2 > w1 else 0.0
    if rate <= 0:   # timing noise larger than the difference: fall back to the plain ratio
        rate = t2 / w2
    return large, t2, rate


def calibrate_convnet(build: Callable, shapes: dict, device, multiple: int = 1, repeats: int = 1) -> dict:
    """Like `calibrate`, for a fully convolutional network, whose work grows with batch × pixels.
    On a CPU a training step is timed at two small inputs (one sample, two and four `multiple`s a
    side), time = fixed + rate × pixels is fitted, every shape of `shapes` (name → (input shape,
    train)) is extrapolated from the larger one, and a forward is taken as a third of a training
    step (the backward pass costs about twice the forward): the plan stays short with
    60-million-parameter networks. On CUDA both are timed at the largest input."""
    import torch

    device = torch.device(device)
    channels = next(iter(shapes.values()))[0][1]
    largest = max((tuple(int(v) for v in st[0]) for st in shapes.values()), key=lambda sh: sh[0] * math.prod(sh[2:]))
    pixels = lambda sh: sh[0] * math.prod(sh[2:])  # noqa: E731
    if device.type == "cpu":
        start = (1, channels, *[min(v, 2 * multiple) for v in largest[2:]])
        measured, t_train, rate = _fit_two_sizes(build, start, largest, device, True, multiple, repeats, True, pixels)
        t = {"train": (t_train, rate), "forward": (t_train / 3, rate / 3)}
        forward_how = "a fit of fixed + per-pixel cost (a forward taken as ⅓ of a training step)"
    else:
        measured = largest
        got = _time_calls(_materialise(build, measured, device),
                          {"train": (measured, True), "forward": (measured, False)}, device, repeats)
        t = {k: (v, v / pixels(measured)) for k, v in got.items()}
        forward_how = "pixels"
    out = {}
    for name, (shape, train) in shapes.items():
        shape = tuple(int(v) for v in shape)
        t0, rate = t["train" if train else "forward"]
        seconds = t0 + rate * (pixels(shape) - pixels(measured))
        out[name] = Calibration(seconds, shape, measured, None, seconds / t0,
                                "a fit of fixed + per-pixel cost" if train and device.type == "cpu"
                                else "pixels" if train else forward_how)
    return out


def _reduced(shape: tuple, flops: float, limit: float, multiple: int) -> tuple:
    """One sample, its spatial sides shrunk (multiples of `multiple`) to about `limit` FLOPs."""
    b, c, *spatial = shape
    per = flops / b
    s = min(1.0, math.sqrt(limit / per))
    return (1, c, *[min(v, max(multiple, int(round(v * s / multiple)) * multiple)) for v in spatial])


def calibrate(build: Callable, shapes: dict, device, multiple: int = 1, repeats: int = 1,
              max_flops: float | None = None) -> dict:
    """Time the network `build(shape)` on `device` for each entry of `shapes` (name → (input shape,
    train: bool)) and return {name: Calibration}. A training call is forward + backward + an SGD
    step; a forward runs under no_grad. On a CPU one sample is timed, its sides shrunk to about
    `max_flops` FLOPs when it is more, and the time is scaled by the FLOP ratio (for networks whose
    cost is not proportional to the pixels, e.g. with global attention; convolutional networks:
    `calibrate_convnet`, cheaper). A call of that size lasts about a second on a small CPU, long
    enough for per-call costs to weigh little; two-size fits proved too noisy for transformers.
    On CUDA the full size is timed (bf16 autocast, like the chapters)."""
    import torch

    device = torch.device(device)
    limit = max_flops or CPU_CALIBRATION_FLOPS
    out = {}
    for name, (shape, train) in shapes.items():
        shape = tuple(int(v) for v in shape)
        if device.type != "cpu":
            t = _time_calls(_materialise(build, shape, device), {"x": (shape, train)}, device, repeats)["x"]
            out[name] = Calibration(t, shape, shape, None)
            continue
        flops = count_flops(build, shape, train)
        measured = _reduced(shape, flops, limit, multiple) if flops else shape
        t = _time_calls(_materialise(build, measured, device), {"x": (measured, train)}, device, repeats)["x"]
        small = count_flops(build, measured, train) if measured != shape else flops
        scale = flops / small if flops and small else 1.0
        out[name] = Calibration(t * scale, shape, measured, flops, scale, "FLOPs")
    return out


# =========================================================================== the plan of a run
def device_info() -> dict:
    import torch

    info = {"cuda": torch.cuda.is_available(), "cpu_cores": os.cpu_count() or 1, "torch": torch.__version__}
    if info["cuda"]:
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["description"] = f"CUDA: {', '.join(info['gpus'])}"
    else:
        info["description"] = f"CPU only: {info['cpu_cores']} cores, no CUDA GPU"
    return info


@dataclass
class Plan:
    profile: str
    data_root: str
    results_root: str
    device: dict
    chapters: list = field(default_factory=list)     # [ChapterPlan]
    twins: str = ""           # how a missing dataset is treated: "used" | "refused"
    seconds: float = 0.0      # how long the plan took

    @property
    def total_seconds(self) -> float | None:
        ests = [c.estimate.seconds for c in self.chapters if c.estimate and c.estimate.seconds is not None]
        return sum(ests) if ests else None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for c in d["chapters"]:
            c.pop("scratch", None)
        d["total_estimate_s"] = self.total_seconds
        return d


def _threads(params: dict) -> int:
    n = next((params[k] for k in ("threads", "torch_threads") if isinstance(params.get(k), int)), 0)
    return n if n > 0 else int(os.environ.get("BENCHLIB_THREADS") or os.cpu_count() or 1)


def _context(spec, profile: str, params: dict, data_root: Path, results_root: Path) -> PlanContext:
    from .torchutil import pick_device

    return PlanContext(spec.id, profile, params, data_root, results_root,
                       pick_device(params.get("device", "auto")), _threads(params))


def _guarded(out: ChapterPlan, what: str, fn, *args):
    """fn(*args). A BenchlibError (the chapter's own verdict: bad parameters, a device it cannot
    have) goes to `out.error`, which refuses a paper run; any other failure is a defect of the plan
    code, shown as a note and never a reason to refuse a run (the run itself may well work)."""
    try:
        return fn(*args)
    except BenchlibError as e:
        if what == "check":
            out.error = str(e)
        else:
            out.notes.append(f"{what} failed: {e}")
    except Exception as e:  # noqa: BLE001 - a broken chapter plan is shown, the others still planned
        out.notes.append(f"the chapter's plan.py failed in {what} ({type(e).__name__}: {e}): requirements "
                         "or time shown incompletely; this does not stop a run")
    return None


def check_chapter(spec, profile: str, params: dict, data_root: Path, results_root: Path) -> ChapterPlan:
    """Phase 1 of a chapter's plan (data, weights, rows, checkpoints found): quick, no calibration."""
    from types import SimpleNamespace

    from .torchutil import chapter_checkpoint_dir, list_checkpoints

    t0 = time.perf_counter()
    module = spec.plan_module()
    out = ChapterPlan(spec.id, spec.title)
    if module is None:
        out.notes.append("this chapter declares no plan (no plan.py): requirements and time unknown")
    else:
        got = _guarded(out, "check",
                       lambda: module.check(_context(spec, profile, params, data_root, results_root)))
        if got is not None:
            out = dataclasses.replace(got, chapter=spec.id, title=spec.title, notes=[*got.notes, *out.notes])
    # the folder the run itself will use: the chapter's `checkpoint_dir` parameter when given
    where = SimpleNamespace(checkpoint_dir=params.get("checkpoint_dir", ""), results_root=str(results_root),
                            profile=profile)
    out.checkpoints = list_checkpoints(chapter_checkpoint_dir(where, spec.id))
    out.plan_seconds = time.perf_counter() - t0
    return out


def estimate_chapter(spec, cp: ChapterPlan, profile: str, params: dict, data_root: Path,
                     results_root: Path) -> None:
    """Phase 2: the chapter's calibrated estimate into `cp.estimate` (at the chapter's own CPU threads)."""
    import torch

    module = spec.plan_module()
    if module is None or cp.error or not hasattr(module, "estimate"):
        return
    t0 = time.perf_counter()
    ctx = _context(spec, profile, params, data_root, results_root)
    old = torch.get_num_threads()
    torch.set_num_threads(ctx.threads)
    try:
        cp.estimate = _guarded(cp, "estimate", module.estimate, ctx, cp)
    finally:
        torch.set_num_threads(old)
    cp.plan_seconds += time.perf_counter() - t0


def make_plan(profile: str = "paper", only=None, data_root=None, results_root=None, overrides=None,
              allow_twins: bool = False, chapters=None, estimate: bool | str = True) -> Plan:
    """The plan of `benchlib run` with the same arguments (no training, nothing written).
    `estimate`: True calibrates every chapter; "unless-refused" skips the calibration when the
    data or weight checks already refuse the run (the refusal then comes within seconds)."""
    from .chapters import all_specs
    from .paths import default_data_root, default_results_root
    from .profiles import check_profile
    from .runner import notebook_parameters, resolve_parameters, select_chapters, validate_parameters

    t0 = time.perf_counter()
    check_profile(profile)
    data_root = Path(data_root).expanduser().resolve() if data_root else default_data_root()
    results_root = Path(results_root).expanduser().resolve() if results_root else default_results_root()
    todo = select_chapters(list(chapters) if chapters is not None else all_specs(), only, overrides)
    twins = "used" if (profile != "paper" or allow_twins) else "refused"
    plan = Plan(profile, str(data_root), str(results_root), device_info(), twins=twins)
    jobs = []
    for spec in todo:
        nb = spec.notebook_path()
        params = {k: v["default"] for k, v in notebook_parameters(nb).items()}
        given = resolve_parameters(spec, profile, data_root, results_root, (overrides or {}).get(spec.id))
        validate_parameters(spec.id, nb, given)
        params.update(given)
        cp = check_chapter(spec, profile, params, data_root, results_root)
        for d in cp.data:
            if d.status == "missing" and twins == "used":
                d.status = "twin"
                d.notes.append("not found: the run writes and uses a synthetic twin in this layout")
        plan.chapters.append(cp)
        jobs.append((spec, cp, params))
    if estimate == "unless-refused" and refusals(plan, allow_twins=allow_twins, yes=True):
        for cp in plan.chapters:
            cp.notes.append("estimate not made: the run is refused for the reasons below")
    elif estimate:
        for spec, cp, params in jobs:
            estimate_chapter(spec, cp, profile, params, data_root, results_root)
    plan.seconds = time.perf_counter() - t0
    return plan


# =========================================================================== refusal
def refusals(plan: Plan, allow_twins: bool = False, yes: bool = False, cpu_limit_s: float = CPU_LIMIT_S,
             command: str = "benchlib run --profile paper") -> list[str]:
    """Why a paper-profile run should not start, each with the command that would fix it."""
    out = []
    for c in plan.chapters:
        for d in c.data:
            if d.status == "missing" and not allow_twins:
                fix = (f"`{command} --only {c.chapter} --data-root YOUR_DATA`" if d.parameter == "data_root"
                       else f"`-p {c.chapter} {d.parameter} PATH`")
                out.append(f"{c.chapter}: {d.name} not found at {d.path} ({d.parameter}; expected layout "
                           f"in the plan above). Fix: {fix} with your data, or add --allow-twins to run on "
                           f"a synthetic twin at paper size")
            elif d.status == "invalid":
                out.append(f"{c.chapter}: {d.name} at {d.path} does not load: {d.problems[0]}. Fix the data "
                           f"(the loader names the file), or point {d.parameter} elsewhere")
        for w in c.weights:
            if w.status == "invalid":
                out.append(f"{c.chapter}: {w.parameter} = {w.path} does not load: {w.detail}. Fix: "
                           f"`-p {c.chapter} {w.parameter} PATH` with a valid file, or `-p {c.chapter} "
                           f"{w.parameter} '\"\"'` to run without it")
        if c.error:
            out.append(f"{c.chapter}: its plan failed: {c.error}")
    total = plan.total_seconds
    if not plan.device.get("cuda") and total is not None and total > cpu_limit_s and not yes:
        out.append(f"the estimate, {fmt_seconds(total)}, exceeds {fmt_seconds(cpu_limit_s)} on this machine "
                   f"without a CUDA GPU ({plan.device['description']}). Fix: run on a machine with a GPU, "
                   f"shrink the schedule with -p (see `benchlib chapters`), or add --yes to run anyway")
    return out


# =========================================================================== output
def fmt_seconds(s: float | None) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "unknown"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def _data_line(d: DataCheck) -> list[str]:
    counts = ", ".join(f"{v} {k}" for k, v in d.counts.items())
    head = {"found": f"FOUND at {d.path}" + (f": {counts}" if counts else ""),
            "missing": f"MISSING at {d.path}",
            "twin": f"synthetic twin (no {d.name} at {d.path})",
            "invalid": f"INVALID at {d.path}",
            "not needed": "none needed"}.get(d.status, d.status)
    lines = [f"{d.parameter}: {d.name}: {head}"]
    lines += [f"    problem: {p}" for p in d.problems[:1]]
    lines += [f"    {n}" for n in d.notes]
    if d.status in ("missing", "invalid") and d.layout:
        lines.append("    expected layout:")
        lines += [f"      {ln}" for ln in d.layout.strip("\n").splitlines()]
    return lines


def format_plan(plan: Plan) -> str:
    """The plan as readable text: one block per chapter, then a summary table."""
    out = [f"benchlib plan — profile '{plan.profile}'",
           f"device: {plan.device['description']} (torch {plan.device['torch']})",
           f"data root: {plan.data_root}", f"results root: {plan.results_root}",
           "missing datasets: " + ("replaced by synthetic twins" if plan.twins == "used"
                                   else "refused (add --allow-twins to use synthetic twins)"), ""]
    for c in plan.chapters:
        out.append(f"== {c.chapter} — {c.title}")
        if c.error:
            out.append(f"  PLAN FAILED: {c.error}")
        for d in c.data:
            out += ["  data     " + ln if i == 0 else "         " + ln for i, ln in enumerate(_data_line(d))]
        if not c.data and not c.error:
            out.append("  data     none needed")
        for w in c.weights:
            txt = {"loads": f"{w.path}: loads", "not set": "not set", "invalid": f"{w.path}: INVALID"}[w.status]
            out.append(f"  weights  {w.parameter}: {txt}" + (f" — {w.needed_for}" if w.needed_for else ""))
            if w.detail and w.status != "not set":
                out.append(f"           {w.detail}")
        runs = [r.row for r in c.rows if r.runs]
        if runs:
            out.append(f"  rows     run: {', '.join(runs)}")
        for r in c.rows:
            if not r.runs:
                out.append(f"  rows     not run: {r.row} — {r.reason}")
        e = c.estimate
        if e is not None:
            bound = "" if e.seconds is None else "≤ " if e.upper_bound else "≈ "
            out.append(f"  estimate {bound}{fmt_seconds(e.seconds) if e.seconds is not None else 'not calibrated'}"
                       + (" (" + ", ".join(f"{k} {fmt_seconds(v)}" for k, v in e.parts.items()) + ")"
                          if e.parts else ""))
            out += [f"           {b}" for b in e.basis]
        for ck in c.checkpoints:
            state = "finished" if ck.get("finished") else f"epoch {ck.get('epoch')}"
            out.append(f"  done     checkpoint {ck.get('name')}: {state} (saved {ck.get('saved', '?')}); "
                       "resumed when its parameters and data match")
        out += [f"  note     {n}" for n in c.notes]
        out.append(f"  (planned in {c.plan_seconds:.1f} s)")
        out.append("")
    out.append(f"{'chapter':<20}{'data':<26}{'weights':<22}{'rows not run':<14}estimate")
    for c in plan.chapters:
        data = ", ".join(d.status for d in c.data) or ("plan failed" if c.error else "none needed")
        weights = ", ".join(f"{w.status}" for w in c.weights) or "-"
        notrun = sum(not r.runs for r in c.rows)
        est = c.estimate
        txt = ("≤ " if est and est.upper_bound else "") + fmt_seconds(est.seconds if est else None)
        out.append(f"{c.chapter:<20}{data[:25]:<26}{weights[:21]:<22}{notrun:<14}{txt}")
    out.append(f"{'total':<82}{fmt_seconds(plan.total_seconds)} on this device, chapters one after another")
    out.append(f"(plan made in {plan.seconds:.0f} s)")
    return "\n".join(out)


def to_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=1, default=str)
