"""SAM vs SAM 2 report: result rows from a hand-built run, ratios with their spread, Table 1."""
import numpy as np
import pandas as pd
import pytest

from benchlib.chapters.sam_vs_sam2 import SPEC
from benchlib.chapters.sam_vs_sam2 import report as R
from benchlib.chapters.sam_vs_sam2.pipeline import COMPOSITION_CHECK, composition_factor, paired_ratio
from benchlib.chapters.sam_vs_sam2.video import per_frame, per_frame_slope
from benchlib.results import ChapterResults, check_tables

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
    res = ChapterResults(SPEC.id, "default", "/nonexistent", parameters={})
    R.record(res, run)
    f = res.frame.set_index(["table", "method", "metric"])
    assert f.loc[("1", "SAM ViT-B", "image encoder s"), "value"] == pytest.approx(np.median(2 * ROUNDS))
    assert f.loc[("1", "SAM ViT-B", "weights MiB"), "value"] == 350.0
    assert f.loc[("1", "SAM ViT-B", "peak memory MiB (above baseline)"), "value"] == 300.0
    assert f.loc[("1", "SAM 2.1 Hiera-B+", "memory to encode one image MiB (weights + peak)"), "value"] == 450.0
    assert f.loc[("1", "SAM ViT-B", "1-point prompt→mask ms"), "value"] == pytest.approx(50.0)
    speed = f.loc[("published", "SAM 2.1 Hiera-B+ / SAM ViT-H", "encoder speed ratio")]
    # like for like through ViT-B: (8 / 1.6) × (2 / 1) = 10
    assert speed["value"] == pytest.approx(10.0) and speed["paper_value"] == pytest.approx(130.1 / 21.7)
    assert "spread 10.00–10.00 (IQR 10.00–10.00)" in speed["note"] and "composed" in speed["note"]
    assert np.isnan(speed["ci_low"])  # the CI is the claim's (geometric mean), not this row's
    assert f.loc[("published", "SAM 2.1 Hiera-B+ / SAM ViT-B", "encoder speed ratio"), "paper_value"] == \
        pytest.approx(130.1 / 76.7)
    assert f.loc[("1", "SAM ViT-B", "time measured whole / composed from blocks"), "value"] == pytest.approx(1.25)
    assert f.loc[("1", "SAM", "video s/frame (frames 1…N-1)"), "value"] == pytest.approx(2.0)
    assert f.loc[("1", "SAM 2.1 Hiera-B+", "video memory attention + memory encoder s/frame"), "value"] == \
        pytest.approx(0.15)
    # the composed ViT-H gets no memory or prompt rows; variants never timed say why
    assert ("1", "SAM ViT-H", "weights MiB") not in f.index
    not_run = res.frame[res.frame["note"].str.startswith("not run")]
    assert set(not_run["metric"]) >= {"image encoder s", "mIoU_1click", "J&F"}
    assert f.loc[("published", "SAM ViT-B", "params_M"), "paper_value"] == 93.74


def test_tables_are_the_paper_tables_by_id(run):
    res = ChapterResults(SPEC.id, "default", "/nonexistent", parameters={})
    R.record(res, run)
    t = check_tables(res, R.tables(res, run))
    assert list(t) == ["1", "published"]
    pub = t["published"]
    # ours with the paper's number in parentheses; only the paper's: "—"; not run: says so
    assert pub.loc["SAM ViT-B", ("counted", "params_M")] == "90.0 (93.7)"
    assert pub.loc["SAM 2.1 Hiera-B+ / SAM ViT-H", ("384², this machine", "encoder speed ratio")] == "10.0 (6.0)"
    assert pub.loc["SAM 2 Hiera-B+ (SA-1B)", ("image, A100", "FPS")] == "— (130.1)"
    assert pub.loc["SAM ViT-H", ("SA-23", "mIoU_1click")] == "— (58.1)"
    assert "not run" in pub.loc["SAM ViT-B", [c for c in pub.columns if c[1] == "mIoU_1click"]].tolist()
    comp = R.component_table(res)
    assert comp.loc["SAM ViT-B", "image encoder"] == "90.000" and comp.loc["SAM ViT-B", "prompt encoder"] == "0.006"
    assert comp.loc["SAM 2.1 Hiera-B+", "prompt encoder"] == ""


def test_table1_keeps_review_text_and_adds_measured_column(run):
    t = R.table1(run)
    assert len(t) == 10 and list(t.columns) == ["Feature", "SAM (review)", "SAM 2 (review)", "measured here"]
    t = t.set_index("Feature")
    assert t.loc["Computational Efficiency", "SAM 2 (review)"].startswith("Likely optimized")
    assert "Hiera-B+ 70.0 M vs SAM ViT-B 90.0 M params" in t.loc["Computational Efficiency", "measured here"]
    assert "SAM ViT-B 650 MiB" in t.loc["Computational Efficiency", "measured here"]  # weights 350 + peak 300
    assert "SAM: PromptEncoder.forward(points, boxes, masks), no text input in 3 built variant(s)" in \
        t.loc["Prompt Encoder", "measured here"]
    assert t.loc["Objective", "measured here"].startswith("—")


def test_native_round_rows_and_protocol(run):
    # one round at 1024²: ViT-B 3 × Hiera-B+; composed ViT-H 12 × composed ViT-B, ViT-B whole 1.5 × composed
    run.native = {"vit_b": _timing("vit_b", [30.0], [2000.0], weights=350.0, resolution=1024, warmup=0),
                  "hiera_b+": _timing("hiera_b+", [10.0], [500.0], weights=350.0, resolution=1024, warmup=0),
                  "vit_h": _timing("vit_h", [240.0], how="composed", resolution=1024, warmup=0),
                  COMPOSITION_CHECK: _timing("vit_b", [20.0], how="composed", resolution=1024, warmup=0)}
    res = ChapterResults(SPEC.id, "default", "/nonexistent", parameters={})
    R.record(res, run)
    f = res.frame.set_index(["table", "method", "metric"])
    row = f.loc[("1", "SAM ViT-B", "image encoder s, 1024²")]
    assert row["value"] == 30.0 and row["n"] == 1 and "1 interleaved round, no warm-up round" in row["note"]
    assert f.loc[("1", "SAM ViT-B", "image encoder CPU s (calling thread), 1024²"), "value"] == pytest.approx(27.0)
    assert f.loc[("1", "SAM 2.1 Hiera-B+", "memory to encode one image MiB (weights + peak), 1024²"), "value"] == 850.0
    assert ("1", "SAM ViT-B", "1-point prompt→mask ms, 1024²") not in f.index  # prompts: repeated size only
    ratios = res.frame[res.frame["metric"] == "encoder speed ratio"].set_index(["method", "subset"])["value"]
    # (240 / 20) × (30 / 10) = 36 like for like; the repeated rounds' ratio stays 10
    assert ratios[("SAM 2.1 Hiera-B+ / SAM ViT-H", "1024², this machine")] == pytest.approx(36.0)
    assert ratios[("SAM 2.1 Hiera-B+ / SAM ViT-H", "384², this machine")] == pytest.approx(10.0)
    assert ratios[("SAM 2.1 Hiera-B+ / SAM ViT-B", "1024², this machine")] == pytest.approx(3.0)
    run.native["vit_b"]["cpu_s"] = np.array([24.0])   # CPU 24 s vs 9 s (0.9 × 10): ratio 8/3, only whole pairs
    res = ChapterResults(SPEC.id, "default", "/nonexistent", parameters={})
    R.record(res, run)
    cpu = res.frame[res.frame["metric"] == "encoder CPU-time ratio (calling thread)"].set_index(["method", "subset"])
    assert cpu.loc[("SAM 2.1 Hiera-B+ / SAM ViT-B", "1024², this machine"), "value"] == pytest.approx(24 / 9)
    assert ("SAM 2.1 Hiera-B+ / SAM ViT-H", "1024², this machine") not in cpu.index  # composed: no CPU time
    assert f.loc[("1", "SAM ViT-B", "time measured whole / composed from blocks, 1024²"), "value"] == pytest.approx(1.5)
    p = R.timing_protocol(run).set_index("size")
    assert p.loc["1024²", "timed rounds"] == 1 and p.loc["1024²", "warm-up rounds"] == 0
    assert p.loc["384²", "timed rounds"] == 6 and "ViT-B also" in p.loc["1024²", "composed from per-block timings"]
    lat = R.latency_table(run)
    assert sorted(lat["resolution"].unique()) == [384, 1024] and lat["point_s"][lat["resolution"] == 1024].isna().all()
    assert "encoder at 1024² (median of 1 round(s)): SAM ViT-B 30.00 s" in \
        R.table1(run).set_index("Feature").loc["Computational Efficiency", "measured here"]


def test_quality_rows_and_their_intervals(run):
    """mIoU and J&F rows when checkpoints gave them: means by hand, intervals inside [0, 100]."""
    run.config.quality_variants = ["vit_h", "hiera_b+"]
    run.jf["SAM 2 (no memory)"] = {"J": [0.5, 1.0, 0.5, 1.0], "F": [0.5, 1.0, 0.5, 1.0], "JF": 0.75}
    res = ChapterResults(SPEC.id, "default", "/nonexistent", parameters={})
    R.record(res, run)
    f = res.frame.set_index(["method", "metric"])
    one = f.loc[("SAM ViT-H", "mIoU_1click")]
    assert one["value"] == pytest.approx(100 * np.mean([0.60, 0.50, 0.70, 0.55])) and one["n"] == 4
    assert 0 <= one["ci_low"] < one["value"] < one["ci_high"] <= 100
    assert f.loc[("SAM 2.1 Hiera-B+", "mIoU_5click"), "value"] == pytest.approx(100 * np.mean([0.93, 0.89, 0.96, 0.91]))
    jf = f.loc[("SAM 2.1 Hiera-B+", "J&F")]
    assert jf["value"] == pytest.approx(95.0) and "one click on frame 0" in jf["note"]
    nm = f.loc[("SAM 2.1 Hiera-B+ (no memory)", "J&F")]
    assert nm["value"] == 75.0 and 0 <= nm["ci_low"] and nm["ci_high"] <= 100 and "oracle click" in nm["note"]
    q = res.frame.dropna(subset=["ci_low"])
    assert (q["ci_low"] <= q["ci_high"]).all()


def test_not_claimed_lists_statements_with_source_and_reason():
    nc = R.not_claimed()
    assert len(nc) >= 5 and all(set(d) == {"statement", "source", "reason"} and all(d.values()) for d in nc)
    assert any("consistency and accuracy" in d["reason"] for d in nc)   # the dropped memory-cost claim


def test_a_row_of_another_table_hides_no_published_number():
    # only rows of the "published" table stand in for the paper's: a same-named row elsewhere does not
    res = ChapterResults(SPEC.id, "smoke")
    res.add("timing", "SAM ViT-B", "FPS", 3.0, dataset="random image", subset="image, A100")
    out = R.published_table(res)
    assert out.loc["SAM ViT-B", ("image, A100", "FPS")] == "— (76.7)"   # ours: none; the paper: 76.7
