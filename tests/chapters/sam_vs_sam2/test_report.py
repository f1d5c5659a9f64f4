"""SAM vs SAM 2 report: result rows from a hand-built run, ratios with their spread, Table 1."""
import numpy as np
import pandas as pd
import pytest

from benchlib.chapters.sam_vs_sam2 import report as R
from benchlib.chapters.sam_vs_sam2.pipeline import COMPOSITION_CHECK, composition_factor, paired_ratio
from benchlib.chapters.sam_vs_sam2.video import per_frame, per_frame_slope
from benchlib.results import ChapterResults

from .test_claims import ROUNDS, _timing, clear_effect_run


@pytest.fixture
def run():
    r = clear_effect_run()
    r.timing[COMPOSITION_CHECK] = _timing("vit_b", ROUNDS * 1.6, how="composed")
    r.prompts = {k: {"point": [0.05, 0.04, 0.06], "box": [0.03, 0.03, 0.03]} for k in ("vit_b", "hiera_b+")}
    r.params = pd.DataFrame({"variant": ["vit_b", "vit_b", "hiera_b+"], "model": ["SAM ViT-B", "SAM ViT-B", "SAM 2.1 Hiera-B+"],
                             "family": ["SAM", "SAM", "SAM 2"], "component": ["image encoder", "prompt encoder",
                                                                               "image encoder"],
                             "params": [90_000_000, 6220, 70_000_000], "whole": [90_006_220, 90_006_220, 70_000_000]})
    r.totals = pd.DataFrame({"variant": ["vit_b", "hiera_b+"], "model": ["SAM ViT-B", "SAM 2.1 Hiera-B+"],
                             "family": ["SAM", "SAM 2"], "params": [90_006_220, 70_000_000],
                             "whole": [90_006_220, 70_000_000], "params_M": [90.00622, 70.0],
                             "published_M": [93.74, 80.85], "rel_diff_%": [-4.0, -13.4]})
    r.prompt_inputs = pd.DataFrame({"family": ["SAM", "SAM 2"], "inputs": ["points, boxes, masks"] * 2,
                                    "text_input": [False, False]})
    return r


def test_per_frame_leaves_out_frame_0_and_keeps_order(run):
    assert per_frame(run.video, "SAM 2").tolist() == [1.3, 1.4, 1.2, 1.3]
    assert per_frame(run.video, "SAM 2", "memory attention") == pytest.approx([0.1] * 4)
    # slope of 2.0, 2.1, 1.9, 2.0 over frames 1..4: least squares by hand = -0.02
    assert per_frame_slope(run.video["frames"], "SAM") == pytest.approx(-0.02)


def test_ratios_are_paired_by_round(run):
    assert paired_ratio(run, "vit_h", "hiera_b+") == pytest.approx(np.full(6, 8.0))
    assert composition_factor(run) == pytest.approx(2 / 1.6)


def test_record_rows(run):
    res = ChapterResults("sam_vs_sam2", "default", "/nonexistent", parameters={})
    R.record(res, run)
    f = res.frame.set_index(["table", "method", "metric"])
    assert f.loc[("1", "SAM ViT-B", "image encoder s"), "value"] == pytest.approx(np.median(2 * ROUNDS))
    assert f.loc[("1", "SAM ViT-B", "weights MiB"), "value"] == 350.0
    assert f.loc[("1", "SAM ViT-B", "peak memory MiB (above baseline)"), "value"] == 300.0
    assert f.loc[("1", "SAM 2.1 Hiera-B+", "memory to encode one image MiB (weights + peak)"), "value"] == 450.0
    assert f.loc[("1", "SAM ViT-B", "1-point prompt→mask ms"), "value"] == pytest.approx(50.0)
    speed = f.loc[("published", "SAM 2.1 Hiera-B+ / SAM ViT-H", "encoder speed ratio")]
    assert speed["value"] == pytest.approx(8.0) and speed["paper_value"] == pytest.approx(130.1 / 21.7)
    assert "spread 8.00–8.00 (IQR 8.00–8.00)" in speed["note"] and "composed" in speed["note"]
    assert np.isnan(speed["ci_low"])  # the CI is the claim's (geometric mean), not this row's
    assert f.loc[("published", "SAM 2.1 Hiera-B+ / SAM ViT-B", "encoder speed ratio"), "paper_value"] == \
        pytest.approx(130.1 / 76.7)
    assert f.loc[("1", "SAM ViT-B", "measured whole / composed from blocks"), "value"] == pytest.approx(1.25)
    assert f.loc[("1", "SAM", "video s/frame (frames 1…N-1)"), "value"] == pytest.approx(2.0)
    assert f.loc[("1", "SAM 2.1 Hiera-B+", "video memory attention + memory encoder s/frame"), "value"] == \
        pytest.approx(0.15)
    # the composed ViT-H gets no memory or prompt rows; variants never timed say why
    assert ("1", "SAM ViT-H", "weights MiB") not in f.index
    not_run = res.frame[res.frame["note"].str.startswith("not run")]
    assert set(not_run["metric"]) >= {"image encoder s", "mIoU_1click", "J&F"}
    assert f.loc[("published", "SAM ViT-B", "params_M"), "paper_value"] == 93.74


def test_table1_keeps_review_text_and_adds_measured_column(run):
    t = R.table1(run)
    assert len(t) == 10 and list(t.columns) == ["Feature", "SAM (review)", "SAM 2 (review)", "measured here"]
    t = t.set_index("Feature")
    assert t.loc["Computational Efficiency", "SAM 2 (review)"].startswith("Likely optimized")
    assert "Hiera-B+ 70.0 M vs SAM ViT-B 90.0 M params" in t.loc["Computational Efficiency", "measured here"]
    assert "SAM ViT-B 650 MiB" in t.loc["Computational Efficiency", "measured here"]  # weights 350 + peak 300
    assert "no text input" in t.loc["Prompt Encoder", "measured here"]
    assert t.loc["Objective", "measured here"].startswith("—")
