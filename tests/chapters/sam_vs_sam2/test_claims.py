"""SAM vs SAM 2 claims: on-paper values worked out by hand from the published numbers, inconclusive
without an effect, not tested on a degenerate measurement or when the profile did not measure what a
claim needs (hand-built runs)."""
import numpy as np
import pandas as pd
import pytest

from benchlib.chapters.sam_vs_sam2 import SPEC
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


def _prompts(takes_text):
    """run.prompt_inputs with one SAM row per value of `takes_text` and one SAM 2 row."""
    rows = [{"variant": f"vit_{i}", "model": f"SAM ViT-{i}", "family": "SAM", "inputs": "points, boxes, masks",
             "text_input": bool(t), "text_modules": ""} for i, t in enumerate(takes_text)]
    rows.append({"variant": "hiera_t", "model": "SAM 2.1 Hiera-T", "family": "SAM 2", "inputs": "points, boxes, masks",
                 "text_input": False, "text_modules": ""})
    return pd.DataFrame(rows)


def _jf(values):
    """A j_and_f result whose per-frame (J + F) / 2 equals `values` (J = F)."""
    v = list(values)
    return {"J": v, "F": v, "J_mean": float(np.mean(v)), "F_mean": float(np.mean(v)), "JF": float(np.mean(v))}


def make_run(vit_b, hiera_bp, vit_h, mem_b, mem_bp, video, vit_b_composed=None, quality=None, jf=None,
             takes_text=(False, False, False), **video_parts):
    """vit_b_composed: ViT-B's composed times (default: equal to its whole times, an exact composition).
    quality: variant -> objects × clicks IoUs; jf: video run -> per-frame (J + F) / 2 (fractions)."""
    run = Run(Config(), device="cpu", threads=1, dataset="fake", video_data="fake video")
    run.quality = quality or {}
    run.jf = {k: _jf(v) for k, v in (jf or {}).items()}
    run.prompt_inputs = _prompts(takes_text)
    run.timing = {"vit_b": _timing("vit_b", vit_b, mem_b, weights=350.0),
                  "hiera_b+": _timing("hiera_b+", hiera_bp, mem_bp, weights=350.0),
                  "vit_h": _timing("vit_h", vit_h, how="composed"),
                  COMPOSITION_CHECK: _timing("vit_b", vit_b if vit_b_composed is None else vit_b_composed,
                                             how="composed")}
    run.video = _video(video, **video_parts)
    run.video.update(sam_key="vit_b", sam2_key="hiera_b+")
    return run


IOU_SAM = np.array([[0.60, 0.80, 0.85, 0.88, 0.90], [0.50, 0.70, 0.80, 0.85, 0.86],
                    [0.70, 0.85, 0.90, 0.92, 0.93], [0.55, 0.75, 0.82, 0.86, 0.88]])


def clear_effect_run():
    """SAM 2 faster, lighter, cheaper per frame; memory costlier than re-prompting; SAM 2 5 points
    more accurate after 1 click and 3 after 5 clicks; J&F 95 ± 1; no released SAM takes text."""
    return make_run(vit_b=2 * ROUNDS, hiera_bp=ROUNDS, vit_h=8 * ROUNDS, mem_b=[300] * 6, mem_bp=[100] * 6,
                    video={"SAM": [9, 2.0, 2.1, 1.9, 2.0], "SAM 2 (no memory)": [9, 1.0, 1.1, 0.9, 1.0],
                           "SAM 2": [9, 1.3, 1.4, 1.2, 1.3]},
                    quality={"vit_h": IOU_SAM, "hiera_b+": IOU_SAM + [0.05, 0.04, 0.04, 0.03, 0.03]},
                    jf={"SAM 2": [0.95, 0.96, 0.94, 0.95], "SAM": [0.80, 0.82, 0.78, 0.80]})


def no_effect_run():
    """Per-unit values permuted across the compared methods: nothing to find. "6×" is judged
    against 5.5, so there "no effect" means ViT-H at 5.5 × Hiera-B+ (permuted)."""
    return make_run(vit_b=ROUNDS, hiera_bp=SWAPPED, vit_h=5.5 * ROUNDS, mem_b=[100, 120, 90, 110, 100, 105],
                    mem_bp=[120, 100, 110, 90, 105, 100],
                    video={"SAM": [9, 1.0, 1.2, 0.9, 1.1], "SAM 2 (no memory)": [9, 1.2, 1.0, 1.1, 0.9],
                           "SAM 2": [9, 1.2, 1.0, 1.1, 0.9]},
                    memory=[0.5, 0.10, 0.12, 0.09, 0.11], prompt=[0.5, 0.12, 0.10, 0.11, 0.09],
                    # the two models' IoUs swapped between pairs of objects; J&F spread around 90; half the
                    # (fabricated) SAM variants take text
                    quality={"vit_h": IOU_SAM, "hiera_b+": IOU_SAM[[1, 0, 3, 2]]},
                    jf={"SAM 2": [0.80, 1.00, 0.85, 0.95]}, takes_text=(True, False, True, False))


def _verdicts(run):
    return evaluate(C.CLAIMS, run, None).set_index("claim_id")


def test_on_paper_values_and_verdicts_worked_out_by_hand():
    paper = PaperTables(SPEC.id)
    expected = {  # published numbers (SAM 2 paper): A100 image FPS, SA-23 mIoU, DAVIS 2017 val J&F
        "faster_encoder_like_for_like": (130.1 / 76.7, "held"),   # 1.70 > 1
        "six_times_faster": (130.1 / 21.7, "held"),               # 5.995 > 5.5
        # SA-1B-trained Hiera-B+ vs ViT-H: 1 click 58.9 − 58.1 = 0.8, 5 clicks 81.7 − 81.3 = 0.4
        "sam2_more_accurate": (81.7 - 81.3, "held"),
        "sam2_video_accuracy": (90.9, "held"),                    # 90.9 > 90
    }
    for c in C.CLAIMS:
        verdict, value = paper_verdict(c, paper)
        if c.id in expected:
            assert (verdict, value) == (expected[c.id][1], pytest.approx(expected[c.id][0])), c.id
        else:   # no published number: memory, the video cost, the prompt encoder's inputs
            assert verdict == "n/a", c.id
    assert [c.id for c in C.CLAIMS] == ["faster_encoder_like_for_like", "six_times_faster",
                                        "reduced_hardware_requirements", "video_cheaper_than_rerunning_sam",
                                        "sam2_more_accurate", "sam2_video_accuracy", "sam_clip_text_prompt"]
    for c in C.CLAIMS:
        assert c.margin == 0 or c.margin_source, c.id
        assert c.reference in (0.0, 1.0) or c.margin_source, c.id
    assert "oracle click" in C.CLAIMS[3].statement


def test_clear_effects_are_held_or_contradicted():
    v = _verdicts(clear_effect_run())
    assert v.loc["faster_encoder_like_for_like", "effect"] == pytest.approx(2.0)
    assert v.loc["six_times_faster", "effect"] == pytest.approx(8.0)
    assert v.loc["reduced_hardware_requirements", "effect"] == pytest.approx((350 + 300) / (350 + 100))
    assert v.loc["video_cheaper_than_rerunning_sam", "effect"] == pytest.approx(2.0 - 1.3)
    assert v.loc["sam2_more_accurate", "effect"] == pytest.approx(3.0)        # min(5, 3) points
    assert v.loc["sam2_video_accuracy", "effect"] == pytest.approx(95.0)
    assert v.loc["sam_clip_text_prompt", "effect"] == 0.0
    assert v["verdict"].to_dict() == {"faster_encoder_like_for_like": "held", "six_times_faster": "held",
                                      "reduced_hardware_requirements": "held",
                                      "video_cheaper_than_rerunning_sam": "held", "sam2_more_accurate": "held",
                                      "sam2_video_accuracy": "held", "sam_clip_text_prompt": "contradicted"}
    # frame 0 (loading + first prompt) is left out: 4 units per video claim, 6 rounds per timing claim
    assert v.loc["video_cheaper_than_rerunning_sam", "n_units"] == 4 and v.loc["six_times_faster", "n_units"] == 6
    assert v.loc["sam2_more_accurate", "n_units"] == 4 and v.loc["sam_clip_text_prompt", "n_units"] == 3
    assert "SAM J&F 80.0" in v.loc["sam2_video_accuracy", "evidence"]


def test_no_effect_is_inconclusive_for_every_claim():
    v = _verdicts(no_effect_run())
    assert (v["verdict"] == "inconclusive").all(), v[["verdict", "effect", "ci_low", "ci_high"]]


def test_degenerate_measurement_is_not_tested():
    run = clear_effect_run()
    run.timing["hiera_b+"]["times_s"] = np.full(6, 1e-5)   # a call that did not run the network
    run.video["frames"].loc[run.video["frames"]["run"] == "SAM 2", "seconds"] = 1e-5
    v = _verdicts(run).drop(["sam2_more_accurate", "sam2_video_accuracy", "sam_clip_text_prompt"])  # no timing
    assert (v["verdict"] == "not tested").all()
    assert v["evidence"].str.contains("degenerate").all()
    assert v["reason"].str.contains("ran the network").all()


def test_missing_rows_and_unfair_pairs_are_not_tested():
    run = clear_effect_run()
    del run.timing["vit_h"]
    run.timing["vit_b"]["times_s"] = run.timing["vit_b"]["times_s"][:2]   # too few rounds for a CI
    run.timing["hiera_b+"]["times_s"] = run.timing["hiera_b+"]["times_s"][:2]
    run.config = Config(video_sam2="hiera_t")   # ViT-B vs Hiera-T is not like for like
    run.video = None
    run.quality, run.jf = {"vit_b": IOU_SAM, "hiera_t": IOU_SAM}, {}   # no accuracy pair of the claim
    run.prompt_inputs = _prompts([False])                               # one SAM variant built
    v = _verdicts(run)
    assert (v["verdict"] == "not tested").all()
    assert "needs the interactive IoUs" in v.loc["sam2_more_accurate", "reason"]
    assert "no video run" in v.loc["sam2_video_accuracy", "reason"]
    assert "1 SAM variant(s) built" in v.loc["sam_clip_text_prompt", "reason"]
    assert "not timed" in v.loc["six_times_faster", "evidence"]
    # a model the run never timed leaves its guard nothing to check: said in words, no placeholder number
    assert "SAM ViT-H not measured in this run: nothing to guard" in v.loc["six_times_faster", "precondition"]
    assert "inf" not in v.loc["six_times_faster", "precondition"]
    assert "2 timing round(s)" in v.loc["faster_encoder_like_for_like", "evidence"]
    assert "like-for-like" in v.loc["video_cheaper_than_rerunning_sam", "evidence"]


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
    ck = run_checks(C.CHECKS, run).set_index("check_id")["passed"]
    assert ck["params_match_published"] == "yes" and ck["parts_partition_whole"] == "yes"
    assert ck["memory_attention_stride16"] == "n/a" and ck["fpn_fuses_16_32"] == "yes"
    assert "review_clip_text_prompt" not in ck   # now a claim: sam_clip_text_prompt
    run.totals.loc[0, "whole"] += 1   # parts no longer add up; a count 2 % off the published size
    run.totals.loc[1, "rel_diff_%"] = 2.0
    ck = run_checks(C.CHECKS, run).set_index("check_id")["passed"]
    assert ck["params_match_published"] == "NO" and ck["parts_partition_whole"] == "NO"


def test_clip_text_claim_follows_the_built_modules():
    # every SAM variant takes text: held (1 > ½); a text-encoder module alone counts too
    run = clear_effect_run()
    run.prompt_inputs = _prompts([True, True, True])
    assert _verdicts(run).loc["sam_clip_text_prompt", "verdict"] == "held"
    run.prompt_inputs = _prompts([False, False, False])
    run.prompt_inputs.loc[0, "text_modules"] = "text_encoder"
    row = _verdicts(run).loc["sam_clip_text_prompt"]
    assert row["effect"] == pytest.approx(1 / 3) and "text_encoder" in row["evidence"]


def test_accuracy_claim_prefers_the_six_x_pair_and_pairs_objects():
    run = clear_effect_run()
    run.quality["vit_b"] = IOU_SAM - 0.5     # a like-for-like pair is present too, but ViT-H comes first
    assert _verdicts(run).loc["sam2_more_accurate", "effect"] == pytest.approx(3.0)
    del run.quality["vit_h"]
    run.quality["hiera_b+"] = run.quality["hiera_b+"][:3]   # other objects than ViT-B's: no paired effect
    row = _verdicts(run).loc["sam2_more_accurate"]
    assert row["verdict"] == "not tested" and "different objects" in row["reason"]
