"""`benchlib plan`: what a run of a profile needs and how long it will take, before anything trains.

Per chapter: the datasets it reads and whether the data root holds them (checked with the chapter's
real loaders: counts found, the first problem named, the expected layout when absent), the weight
and checkpoint files its parameters name and whether they load, which result rows will run and
which will be marked not run (and why), training checkpoints already saved, and a time estimate
from a short calibration: a few training steps / forwards of the chapter's real networks on the
device at hand, multiplied by the profile's schedule. Timings hold under load: on a CPU they are
the timing thread's CPU time, fitted over three or more input sizes where the chapter's own size
is too big to time (`timing`); each estimate states its confidence and the load it saw, and the
whole plan answers within about a minute (a time budget per chapter).

A chapter takes part through an optional module `<chapter package>.plan` with two functions:
`check(ctx: PlanContext) -> ChapterPlan` (data, weights, rows: quick) and `estimate(ctx, plan) ->
Estimate` (the calibration; see CONTRIBUTING.md); a chapter without the module is listed as
"no plan". `benchlib run --profile paper` prints the plan first and refuses to start when a
dataset is missing (unless `--allow-twins`), a file a parameter names does not load, or the
estimate exceeds the CPU limit on a machine without a CUDA GPU (unless `--yes`).

Modules, one job each: `types` (what a chapter fills in and receives), `checks` (data and weight
checks), `timing` (the calibration engine), `whole` (the plan of a run), `refusal` (when a paper
run is refused), `output` (text and JSON). Every name is importable from `benchlib.plan`.
"""
from __future__ import annotations

from .checks import check_data, check_weight
from .output import fmt_seconds, format_plan, to_json
from .refusal import CPU_LIMIT_S, refusals
from .timing import (CPU_CALIBRATION_FLOPS, Calibration, calibrate, calibrate_convnet, calibrate_many,
                     count_flops, cpu_seconds, load_seen, thread_speedup)
from .types import ChapterPlan, DataCheck, Estimate, PlanContext, RowStatus, WeightCheck
from .whole import CHAPTER_BUDGET_S, PLAN_BUDGET_S, Plan, check_chapter, device_info, estimate_chapter, make_plan

__all__ = ["CHAPTER_BUDGET_S", "CPU_CALIBRATION_FLOPS", "CPU_LIMIT_S", "PLAN_BUDGET_S", "Calibration", "ChapterPlan",
           "DataCheck", "Estimate", "Plan", "PlanContext", "RowStatus", "WeightCheck", "calibrate",
           "calibrate_convnet", "calibrate_many", "check_chapter", "check_data", "check_weight", "count_flops", "cpu_seconds", "cpu_seconds",
           "device_info", "estimate_chapter", "fmt_seconds", "format_plan", "load_seen", "make_plan", "refusals",
           "thread_speedup", "to_json"]
