"""`benchlib plan` for the template chapter: is `samples.csv` there, and how long the run takes.

`check(ctx)` must be quick (no training): the dataset through the chapter's own loader, the weight
files the parameters name, the rows that will or will not run. `estimate(ctx, plan)` times a little
of the real work on this device and multiplies it by the profile's schedule (`ctx.calibrate_many`
times networks: training steps / forwards at growing inputs, fitted and carried to the profile's
sizes within the chapter's time budget)."""
from __future__ import annotations

import numpy as np

from benchlib.plan import ChapterPlan, Estimate, RowStatus, check_data, cpu_seconds

from . import data
from .pipeline import Config, fit_threshold


def check(ctx) -> ChapterPlan:
    c = ctx.config(Config)
    found = check_data("data_root", ctx.data_root, name="samples.csv",
                       layout="<data_root>/samples.csv (columns x, label)",
                       find=lambda p: p if (p / "samples.csv").is_file() else None,
                       validate=lambda p: ({"samples": len(data.load(p))}, ["read with the chapter's loader"]))
    return ChapterPlan("_template", data=[found],
                       rows=[RowStatus("threshold", True), RowStatus("majority", True)],
                       notes=[f"{c.n_seeds} seed(s)"])


def estimate(ctx, plan: ChapterPlan) -> Estimate:
    c = ctx.config(Config)
    n = plan.data[0].counts.get("samples", c.n_samples)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=n), rng.integers(0, 2, n)
    # CPU time, not the wall clock: other work on the machine must not lengthen the estimate
    t = cpu_seconds(lambda: fit_threshold(x, y), repeats=3)
    return Estimate(c.n_seeds * t, {"fit": c.n_seeds * t}, [f"fit_threshold timed on {n} samples × {c.n_seeds} seeds"])
