"""SAM vs SAM 2 claims: held on the published numbers, inconclusive without an effect, not tested
on a degenerate measurement or when the profile did not measure what a claim needs (hand-built runs)."""
import numpy as np
import pandas as pd
import pytest

from benchlib.chapters.sam_vs_sam2 import claims as C
from benchlib.chapters.sam_vs_sam2 import models as S
from benchlib.chapters.sam_vs_sam2.pipeline import COMPOSITION_CHECK, Config, Run
from benchlib.claims import PaperTables, evaluate, paper_verdict, run_checks

ROUNDS = np.array([1.0, 1.2, 0.9, 1.1, 1.0, 1.05])
SWAPPED = np.array([1.2, 1.0, 1.1, 0.9, 1.05, 1.0])  # the same values, swapped within pairs of rounds


def _timing(key, times, peak=None, weights=100.0, how="measured", resolution=384, warmup=1):
    v = S.variant(key)
    times = np.asarray(times, float)
    return {"variant": key, "model": v.label, "family": v.family, "how": how, "resolution": resolution,
            "rounds": len(times), "warmup": warmup, "times_s": times,
            "cpu_s": times * 0.9 if how == "measured" else np.full(len(times), np.nan),
            "peak_mb": np.full(len(times), np.nan) if peak is None else np.asarray(peak, float),
            "weights_mb": weights, "shapes": {}, "parts_s": None, "blocks": None}


def _video(per_run: dict, memory=(0.15,) * 5, prompt=(0.03,) * 5):
    """Frames 0…4 of the three runs; the memory run's memory path (split 2:1 between memory
    attention and memory encoder) and the re-prompted runs' prompt→mask per frame as given."""
    rows = []
    for run, secs in per_run.items():
        for t, s in enumerate(secs):
            mem = memory[t] if run == "SAM 2" else 0.0
            rows.append({"run": run, "model": run, "family": "SAM" if run == "SAM" else "SAM 2", "frame": t,
                         "seconds": s, "encoder": s / 2, "memory attention": 2 * mem / 3, "memory encoder": mem / 3,
                         "prompt→mask": 0.0 if run == "SAM 2" else prompt[t], "rest": 0.0})
    n = len(next(iter(per_run.values())))
    return {"frames": pd.DataFrame(rows), "n_frames": n, "resolution": 256}


def make_run(vit_b, hiera_bp, vit_h, mem_b, mem_bp, video, vit_b_composed=None, **video_parts):
    """vit_b_composed: ViT-B's composed times (default: equal to its whole times, an exact composition)."""
    run = Run(Config(), device="cpu", threads=1, dataset="fake", video_data="fake video")
    run.timing = {"vit_b": _timing("vit_b", vit_b, mem_b, weights=350.0),
                  "hiera_b+": _timing("hiera_b+", hiera_bp, mem_bp, weights=350.0),
                  "vit_h": _timing("vit_h", vit_h, how="composed"),
                  COMPOSITION_CHECK: _timing("vit_b", vit_b if vit_b_composed is None else vit_b_composed,
                                             how="composed")}
    run.video = _video(video, **video_parts)
    run.video.update(sam_key="vit_b", sam2_key="hiera_b+")
    return run


def clear_effect_run():
    """SAM 2 faster, lighter, cheaper per frame; memory costlier than re-prompting."""
    return make_run(vit_b=2 * ROUNDS, hiera_bp=ROUNDS, vit_h=8 * ROUNDS, mem_b=[300] * 6, mem_bp=[100] * 6,
                    video={"SAM": [9, 2.0, 2.1, 1.9, 2.0], "SAM 2 (no memory)": [9, 1.0, 1.1, 0.9, 1.0],
                           "SAM 2": [9, 1.3, 1.4, 1.2, 1.3]})


def no_effect_run():
    """Per-unit values permuted across the compared methods: nothing to find. "6×" is judged
    against 5.5, so there "no effect" means ViT-H at 5.5 × Hiera-B+ (permuted)."""
    return make_run(vit_b=ROUNDS, hiera_bp=SWAPPED, vit_h=5.5 * ROUNDS, mem_b=[100, 120, 90, 110, 100, 105],
                    mem_bp=[120, 100, 110, 90, 105, 100],
                    video={"SAM": [9, 1.0, 1.2, 0.9, 1.1], "SAM 2 (no memory)": [9, 1.2, 1.0, 1.1, 0.9],
                           "SAM 2": [9, 1.2, 1.0, 1.1, 0.9]},
                    memory=[0.5, 0.10, 0.12, 0.09, 0.11], prompt=[0.5, 0.12, 0.10, 0.11, 0.09])


def _verdicts(run):
    return evaluate(C.CLAIMS, run, None, n_boot=500).set_index("claim_id")


def test_every_claim_with_paper_numbers_holds_on_them():
    paper = PaperTables("sam_vs_sam2")
    with_paper = [c for c in C.CLAIMS if c.on_paper is not None]
    assert {c.id for c in with_paper} == {"faster_encoder_like_for_like", "six_times_faster"}
    values = {c.id: paper_verdict(c, paper) for c in with_paper}
    assert values["faster_encoder_like_for_like"] == ("held", pytest.approx(130.1 / 76.7))
    assert values["six_times_faster"] == ("held", pytest.approx(130.1 / 21.7))


def test_clear_effects_are_held_or_contradicted():
    v = _verdicts(clear_effect_run())
    assert v.loc["faster_encoder_like_for_like", "effect"] == pytest.approx(2.0)
    assert v.loc["six_times_faster", "effect"] == pytest.approx(8.0)
    assert v.loc["reduced_hardware_requirements", "effect"] == pytest.approx((350 + 300) / (350 + 100))
    assert v.loc["video_cheaper_than_rerunning_sam", "effect"] == pytest.approx(2.0 - 1.3)
    assert v.loc["memory_makes_video_cheaper", "effect"] == pytest.approx(0.03 - 0.15)
    assert v["verdict"].to_dict() == {"faster_encoder_like_for_like": "held", "six_times_faster": "held",
                                      "reduced_hardware_requirements": "held",
                                      "video_cheaper_than_rerunning_sam": "held",
                                      "memory_makes_video_cheaper": "contradicted"}
    # frame 0 (loading + first prompt) is left out: 4 units per video claim, 6 rounds per timing claim
    assert v.loc["memory_makes_video_cheaper", "n_units"] == 4 and v.loc["six_times_faster", "n_units"] == 6


def test_no_effect_is_inconclusive_for_every_claim():
    v = _verdicts(no_effect_run())
    assert (v["verdict"] == "inconclusive").all(), v[["verdict", "effect", "ci_low", "ci_high"]]


def test_degenerate_measurement_is_not_tested():
    run = clear_effect_run()
    run.timing["hiera_b+"]["times_s"] = np.full(6, 1e-5)   # a call that did not run the network
    run.video["frames"].loc[run.video["frames"]["run"] == "SAM 2", "seconds"] = 1e-5
    v = _verdicts(run)
    assert (v["verdict"] == "not tested").all()
    assert v["evidence"].str.contains("degenerate").all()


def test_missing_rows_and_unfair_pairs_are_not_tested():
    run = clear_effect_run()
    del run.timing["vit_h"]
    run.timing["vit_b"]["times_s"] = run.timing["vit_b"]["times_s"][:2]   # too few rounds for a CI
    run.timing["hiera_b+"]["times_s"] = run.timing["hiera_b+"]["times_s"][:2]
    run.config = Config(video_sam2="hiera_t")   # ViT-B vs Hiera-T is not like for like
    run.video = None
    v = _verdicts(run)
    assert (v["verdict"] == "not tested").all()
    assert "not timed" in v.loc["six_times_faster", "evidence"]
    assert "2 timing round(s)" in v.loc["faster_encoder_like_for_like", "evidence"]
    assert "like-for-like" in v.loc["video_cheaper_than_rerunning_sam", "evidence"]
    assert "no video run" in v.loc["memory_makes_video_cheaper", "evidence"]


def test_six_x_is_chained_through_vit_b_like_for_like():
    # ViT-B whole = 2 × composed (the composition underestimates by 2): the raw composed ViT-H /
    # whole Hiera-B+ = 8, but like for like (ViT-H composed / ViT-B composed) × (ViT-B whole /
    # Hiera-B+ whole) = (8 / 1) × (2 / 1) = 16.
    run = clear_effect_run()
    run.timing[COMPOSITION_CHECK] = _timing("vit_b", ROUNDS, how="composed")
    v = _verdicts(run).loc["six_times_faster"]
    assert v["effect"] == pytest.approx(16.0)
    assert "measured whole / composed = 2.00" in v["evidence"] and "chained through ViT-B" in v["evidence"]
    # without ViT-B timed both ways there is no like-for-like ratio: not tested, not the raw ratio
    del run.timing[COMPOSITION_CHECK]
    v = _verdicts(run).loc["six_times_faster"]
    assert v["verdict"] == "not tested" and "no like-for-like ratio" in v["evidence"]


def test_native_size_round_is_reported_beside_the_claim_not_in_it():
    run = clear_effect_run()
    before = _verdicts(run)
    # one round at 1024²: ViT-B 3 × Hiera-B+, composed ViT-H 12 × composed ViT-B (exact composition)
    run.native = {"vit_b": _timing("vit_b", [30.0], [2000.0], weights=350.0, resolution=1024, warmup=0),
                  "hiera_b+": _timing("hiera_b+", [10.0], [500.0], weights=350.0, resolution=1024, warmup=0),
                  "vit_h": _timing("vit_h", [360.0], how="composed", resolution=1024, warmup=0),
                  COMPOSITION_CHECK: _timing("vit_b", [30.0], how="composed", resolution=1024, warmup=0)}
    after = _verdicts(run)
    assert after[["verdict", "effect", "ci_low", "ci_high"]].equals(before[["verdict", "effect", "ci_low", "ci_high"]])
    assert "at the native 1024²: 3× (one interleaved round, no spread" in after.loc["faster_encoder_like_for_like", "evidence"]
    assert "at the native 1024²: 36× (one interleaved round" in after.loc["six_times_faster", "evidence"]
    assert "2350 vs 850 MiB = 2.76×" in after.loc["reduced_hardware_requirements", "evidence"]


def test_checks_compare_the_review_with_the_code():
    run = clear_effect_run()
    run.totals = pd.DataFrame({"model": ["SAM ViT-B", "SAM 2.1 Hiera-T"], "params": [93_735_472, 38_962_498],
                               "whole": [93_735_472, 38_962_498], "params_M": [93.735472, 38.962498],
                               "published_M": [93.74, 38.96]})
    run.totals["rel_diff_%"] = 100 * (run.totals["params_M"] - run.totals["published_M"]) / run.totals["published_M"]
    run.arch = pd.DataFrame([{"id": k, "statement": k, "held": None if k == "memory_attention_stride16" else True,
                              "evidence": "ok"} for k in C.ARCH_STATEMENTS])
    run.prompt_inputs = pd.DataFrame({"family": ["SAM", "SAM 2"], "inputs": ["points, boxes, masks"] * 2,
                                      "text_input": [False, False]})
    ck = run_checks(C.CHECKS, run).set_index("check_id")["passed"]
    assert ck["params_match_published"] == "yes" and ck["parts_partition_whole"] == "yes"
    assert ck["memory_attention_stride16"] == "n/a" and ck["fpn_fuses_16_32"] == "yes"
    assert ck["review_clip_text_prompt"] == "NO"  # the review's Table 1 row does not match the code
    run.totals.loc[0, "whole"] += 1   # parts no longer add up; a count 2 % off the published size
    run.totals.loc[1, "rel_diff_%"] = 2.0
    ck = run_checks(C.CHECKS, run).set_index("check_id")["passed"]
    assert ck["params_match_published"] == "NO" and ck["parts_partition_whole"] == "NO"
