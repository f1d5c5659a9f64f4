"""The refusal rules of `benchlib run --profile paper`: what must hold before a paper run starts."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .output import fmt_seconds

if TYPE_CHECKING:
    from .whole import Plan

# A paper-profile run on a machine without a CUDA GPU is refused above this estimate (unless --yes).
CPU_LIMIT_S = 2 * 3600


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


