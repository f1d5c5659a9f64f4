"""Co-saliency chapter: the time estimate's parts, worked out by hand from fixed step and forward times."""
from types import SimpleNamespace

import pytest

from benchlib.chapters.cosaliency import SPEC, plan
from benchlib.plan.types import ChapterPlan, PlanContext, RowStatus


class FixedTimes(PlanContext):
    """A plan context whose calibration gives a training step 1 s and a forward 0.5 s (nothing is timed)."""

    def calibrate(self, build, shapes, multiple=1, convnet=False):
        return {"step": SimpleNamespace(seconds=1.0, describe=lambda: "fixed"),
                "forward": SimpleNamespace(seconds=0.5, describe=lambda: "fixed")}


def _estimate(control_images):
    params = {"n_images": 20, "n_sdcs": 10, "test_fraction": 0.5, "seed": 0, "n_seeds": 3, "epochs": 2,
              "batch_size": 4, "control_images": control_images, "control_epochs": 4}
    ctx = FixedTimes(SPEC.id, "smoke", params, data_root=None, results_root=None, device="cpu", threads=1)
    rows = [RowStatus(f"Table 1 column {i}", True) for i in range(5)] + [RowStatus("Table 1 not run", False)]
    return plan.estimate(ctx, ChapterPlan(SPEC.id, rows=rows))


def test_the_estimate_counts_every_training_and_the_controls_repair():
    # 20 images: 10 train, 10 test, 2 epochs × ⌈10 / 4⌉ = 6 steps; 10 SDCS images: 5 train, 5 test, 2 × 2 = 4 steps
    parts = _estimate(control_images=5).parts
    assert parts["training"] == pytest.approx(3 * (5 * 6 + 3 * 4) * 1.0)             # 126 s
    assert parts["prediction"] == pytest.approx(3 * (5 * 10 + 3 * 5) * 0.5)          # 97.5 s
    # 3 seeds × 4 control models × (single + paired) × 5 images forward; the repair 3 seeds × 6 steps; the
    # longer-trained model 4 epochs × 3 steps
    assert parts["RFM control"] == pytest.approx(3 * 4 * 2 * 5 * 0.5 + (3 * 6 + 4 * 3) * 1.0)   # 90 s
    assert _estimate(control_images=0).parts["RFM control"] == 0
