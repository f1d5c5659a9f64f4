"""`benchlib plan` for the template chapter: is `samples.csv` there, and how long the run takes.

`check(ctx)` must be quick (no training): the dataset through the chapter's own loader, the weight
files the parameters name, the rows that will or will not run. `estimate(ctx, plan)` times a little
of the real work on this device and multiplies it by the profile's schedule (`ctx.calibrate_many`
times networks: training steps / forwards at growing inputs, fitted and carried to the profile's
sizes within the chapter's time budget)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from benchlib.plan import ChapterPlan, Estimate, RowStatus, check_data, cpu_seconds

from . import SPEC, data, models, train
from .pipeline import Config


def check(ctx) -> ChapterPlan:
    c = ctx.config(Config)
    found = check_data("data_root", ctx.data_root, name="samples.csv",
                       layout="<data_root>/samples.csv (columns x, label)",
                       find=lambda p: p if (p / "samples.csv").is_file() else None,
                       validate=lambda p: ({"samples": len(data.load(p))}, ["read with the chapter's loader"]))
    return ChapterPlan(SPEC.id, data=[found],
                       rows=[RowStatus("threshold", True), RowStatus("majority", True)],
                       notes=[f"{c.n_seeds} seed(s), {c.epochs} epochs each"])


def estimate(ctx, plan: ChapterPlan) -> Estimate:
    c = ctx.config(Config)
    n = plan.data[0].counts.get("samples", c.n_samples) // 2
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=n), rng.integers(0, 2, n)
    one_epoch = replace(c.train_config(), epochs=1)
    # CPU time, not the wall clock: other work on the machine must not lengthen the estimate
    t = cpu_seconds(lambda: train.fit(models.build(0), (x, y), one_epoch, seed=0, device="cpu"), repeats=3)
    total = c.n_seeds * c.epochs * t
    return Estimate(total, {"train": total},
                    [f"one epoch of train.fit timed on {n} samples (CPU) × {c.epochs} epochs × {c.n_seeds} seeds"])
