"""`benchlib plan` for the appendix: no dataset, no weights, no training (worked examples only)."""
from __future__ import annotations

from benchlib.plan import ChapterPlan, DataCheck, Estimate


def check(ctx) -> ChapterPlan:
    return ChapterPlan("metrics_appendix",
                       data=[DataCheck("worked examples", "-", "", "not needed",
                                       notes=["hand-made arrays and seeded random blobs, generated in the run"])])


def estimate(ctx, plan: ChapterPlan) -> Estimate:
    return Estimate(None, basis=["no network and no training: not calibrated (the run is metric arithmetic)"])
