"""The plan of a whole run: every chapter's checks, then its estimate within its time budget."""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import BenchlibError
from .timing import load_seen, weakest
from .types import ChapterPlan, PlanContext

# The whole plan answers within a minute on 2 cores, quiet or beside a CPU-bound process: each
# chapter's estimate gets at most CHAPTER_BUDGET_S of wall time, and all of them together
# PLAN_BUDGET_S (the checks and imports take the rest; a chapter overruns its budget by the calls
# every network needs, ~3-5 s for the SAM encoders beside a burner). A calibration that would
# overrun times fewer sizes and says so.
CHAPTER_BUDGET_S = 10.0
PLAN_BUDGET_S = 44.0
# kept for each chapter still to be estimated (most need far less than their share)
MIN_CHAPTER_S = 4.0


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
    load: dict = field(default_factory=dict)         # load_seen() when the plan started and ended

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
    from ..torchutil import pick_device

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

    from ..torchutil import chapter_checkpoint_dir, list_checkpoints

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
                     results_root: Path, budget_s: float = CHAPTER_BUDGET_S) -> None:
    """Phase 2: the chapter's calibrated estimate into `cp.estimate`, made within about `budget_s`
    seconds of wall time (the calibrations share it), with the confidence of its weakest
    calibration and the load seen."""
    import torch

    module = spec.plan_module()
    if module is None or cp.error or not hasattr(module, "estimate"):
        return
    t0 = time.perf_counter()
    ctx = _context(spec, profile, params, data_root, results_root)
    ctx.deadline = t0 + budget_s
    before = load_seen()
    old = torch.get_num_threads()
    torch.set_num_threads(ctx.threads)
    try:
        cp.estimate = _guarded(cp, "estimate", module.estimate, ctx, cp)
    finally:
        torch.set_num_threads(old)
    cp.plan_seconds += time.perf_counter() - t0
    if cp.estimate is not None and ctx.calibrations:
        cals = ctx.calibrations
        cp.estimate.confidence = cp.estimate.confidence or weakest(c.confidence for c in cals)
        busy = max(c.busy for c in cals)
        cp.estimate.load = {"loadavg_1min_before": before.get("loadavg_1min"),
                            "loadavg_1min_after": load_seen().get("loadavg_1min"),
                            "busy": round(busy, 2), "cores": before.get("cores"),
                            "calibration_seconds": round(time.perf_counter() - t0, 1)}


def make_plan(profile: str = "paper", only=None, data_root=None, results_root=None, overrides=None,
              allow_twins: bool = False, chapters=None, estimate: bool | str = True) -> Plan:
    """The plan of `benchlib run` with the same arguments (no training, nothing written).
    `estimate`: True calibrates every chapter; "unless-refused" skips the calibration when the
    data or weight checks already refuse the run (the refusal then comes within seconds)."""
    from ..chapters import all_specs
    from ..paths import default_data_root, default_results_root
    from ..profiles import check_profile
    from ..runner import notebook_parameters, resolve_parameters, select_chapters, validate_parameters
    from .refusal import refusals

    t0 = time.perf_counter()
    check_profile(profile)
    data_root = Path(data_root).expanduser().resolve() if data_root else default_data_root()
    results_root = Path(results_root).expanduser().resolve() if results_root else default_results_root()
    todo = select_chapters(list(chapters) if chapters is not None else all_specs(), only, overrides)
    twins = "used" if (profile != "paper" or allow_twins) else "refused"
    plan = Plan(profile, str(data_root), str(results_root), device_info(), twins=twins,
                load={"before": load_seen()})
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
        end = time.perf_counter() + PLAN_BUDGET_S
        for i, (spec, cp, params) in enumerate(jobs):
            left = end - time.perf_counter() - MIN_CHAPTER_S * (len(jobs) - 1 - i)
            estimate_chapter(spec, cp, profile, params, data_root, results_root,
                             max(1.0, min(CHAPTER_BUDGET_S, left)))
    plan.load["after"] = load_seen()
    plan.seconds = time.perf_counter() - t0
    return plan
