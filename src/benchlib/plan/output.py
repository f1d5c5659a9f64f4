"""The plan as text (`benchlib plan`) and as JSON (`--json`)."""
from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from .types import DataCheck

if TYPE_CHECKING:
    from .whole import Plan


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


def _how_sure(e) -> str:
    """How far to trust an estimate: its confidence and what the machine was doing meanwhile."""
    txt = f"confidence {e.confidence or 'unknown'}"
    load = e.load or {}
    if load.get("busy") is not None:
        busy = load["busy"]
        txt += (f"; load average {load.get('loadavg_1min_before')} → {load.get('loadavg_1min_after')} on "
                f"{load.get('cores')} cores, the timed calls got {1 / max(busy, 1):.0%} of a core")
        if busy > 1.3:
            txt += (" (timed by thread CPU time: the estimate is for a quiet machine, and a run beside this "
                    "load takes longer)")
    return txt


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
            if e.confidence or e.load:
                out.append(f"           {_how_sure(e)}")
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
        txt += f" ({est.confidence})" if est and est.confidence else ""
        out.append(f"{c.chapter:<20}{data[:25]:<26}{weights[:21]:<22}{notrun:<14}{txt}")
    out.append(f"{'total':<82}{fmt_seconds(plan.total_seconds)} on this device, chapters one after another")
    load = plan.load or {}
    seen = [v.get("loadavg_1min") for v in (load.get("before") or {}, load.get("after") or {})]
    out.append(f"(plan made in {plan.seconds:.0f} s" + (f"; 1-minute load average {seen[0]} → {seen[1]} on "
                                                          f"{plan.device.get('cpu_cores')} cores"
                                                          if None not in seen else "") + ")")
    return "\n".join(out)


def to_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=1, default=str)
