"""The review's claims about SAM vs SAM 2 (and the SAM 2 paper's "6× faster"), declared for the
claims engine, and the checks of its architecture statements and of the counts against code.

Units of the timing claims are the interleaved timing rounds (paired across the two models);
units of the video claims are the frames after the prompted one (paired across the runs); units of
the accuracy claims are the objects of the image set (the same objects for both models) and the
frames of the video. Nothing here is trained, so the claims rest on one session of measurements
(`min_seeds` 1); their guard against a meaningless measurement is a timing floor: a call that takes
less than a millisecond did not run the network. Accuracy needs the released checkpoints: without
them the accuracy claims are not tested and judged on the published numbers only.
"""
from __future__ import annotations

import numpy as np

from benchlib.claims import (Check, Claim, Measurement, NotTested, Precondition, Stat, degenerate_guard, difference,
                             min_linear, single)

from . import models as S
from .pipeline import LIKE_FOR_LIKE, SPEEDUP_PAIR, composition_factor, like_for_like_times
from .evaluate import per_frame_j_and_f
from .video import per_frame

TIMING_FLOOR_S = 1e-3
MIN_UNITS = 3                    # fewer rounds / frames give no interval worth the name
PAIR = LIKE_FOR_LIKE[0]          # (vit_b, hiera_b+): 94 M vs 81 M parameters
SIX_X_REFERENCE = 5.5            # "6×" as printed: 130.1 / 21.7 = 5.995, so anything that rounds to 6
# (SAM, SAM 2) pairs for the accuracy claim: the SAM 2 paper's "6× faster" pair first, then like for like.
ACCURACY_PAIRS = [SPEEDUP_PAIR, *LIKE_FOR_LIKE]
# §2.0.1: masks with "an IoU greater than 90%" illustrate "high quality": the review's own bar for accurate.
ACCURATE_J_AND_F = 90.0


def exp_first(v):
    """exp of the first column mean: the geometric mean of per-round ratios from their mean log."""
    return np.exp(np.asarray(v, float)[..., 0])


def _timing(run, key):
    t = run.timing.get(key)
    if t is None or not len(t["times_s"]):
        raise NotTested(f"{S.variant(key).label} not timed in this profile (latency_variants / composed_variants)")
    if len(t["times_s"]) < MIN_UNITS:
        raise NotTested(f"{len(t['times_s'])} timing round(s); a CI needs at least {MIN_UNITS} (set repeats)")
    return t


def _ran(text, name, score, what):
    """A guard against a meaningless measurement, stated as its requirement (`score(run)` is None when
    the run did not measure it: nothing to guard)."""
    return degenerate_guard(name, score, floor=TIMING_FLOOR_S, what=what, text=text)


def _median_time(key):
    def score(run):
        t = run.timing.get(key)
        return [np.median(t["times_s"])] if t is not None and len(t["times_s"]) else None
    return score


def _timed_guard(key):
    label = S.variant(key).label
    return _ran(f"{label}'s encoder ran the network (median time above 1 ms)", label, _median_time(key),
                "median encoder s")


def _frames_guard(name):
    def score(run):
        if run.video is None:
            return None
        return [np.median(per_frame(run.video, name))]
    return _ran(f"the video run '{name}' ran the networks (median time per frame above 1 ms)", f"video run '{name}'",
                score, "median s/frame")


def _paired_ratio(a, b, names, detail="") -> Measurement:
    """Effect = the geometric mean of the per-round ratios a_i / b_i (rounds paired by the
    interleaving, so a load change that slows both cancels in each ratio; the log makes
    "2× slower" and "2× faster" symmetric)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return Measurement([np.log(a / b)], Stat(exp_first), columns=("mean log ratio",), bounds=(0, None), units="rounds",
                       detail=f"per-round ratio {names[0]} / {names[1]}: median {np.median(a / b):.3g}, "
                              f"spread {np.min(a / b):.3g}–{np.max(a / b):.3g}; medians {np.median(a):.4g} vs "
                              f"{np.median(b):.4g}; {detail}")


def _native_note(run, slow, fast) -> str:
    """The same ratio at the native size (few rounds, so beside the claim's rounds, not in its CI)."""
    lf = like_for_like_times(run, slow, fast, native=True)
    if lf is None:
        return ""
    a, b, how = lf
    r = a / b
    t = run.native[fast]
    rounds = ("one interleaved round, no spread" if len(r) == 1 else
              f"median of {len(r)} interleaved rounds, spread {r.min():.3g}–{r.max():.3g}")
    return f"; at the native {t['resolution']}²: {np.median(r):.3g}× ({rounds}; {how})"


def _encoder_ratio(slow, fast):
    def effect(run):
        a, b = _timing(run, slow), _timing(run, fast)
        lf = like_for_like_times(run, slow, fast)
        if lf is None:
            raise NotTested(f"{a['model']} is composed from per-block timings but ViT-B was not timed both whole and "
                            f"composed in the same rounds: no like-for-like ratio (set latency_variants / composed_variants)")
        ta, tb, how = lf
        m = _paired_ratio(ta, tb, names=(f"{a['model']} s", f"{b['model']} s"),
                          detail=(f"image encoder at {a['resolution']}², {run.mode}, {run.hardware}; {how}; "
                                  f"{len(ta)} interleaved rounds after {a['warmup']} warm-up"))
        m.detail += _native_note(run, slow, fast)
        return m
    return effect


def _six_x(run):
    m = _encoder_ratio(*SPEEDUP_PAIR)(run)
    f = composition_factor(run)
    if run.timing[SPEEDUP_PAIR[0]]["how"] == "composed" and np.isfinite(f):
        m.detail += (f"; ViT-B measured whole / composed = {f:.2f} here (the composition's own bias, cancelled "
                     f"by the chain when ViT-H shares it)")
    return m


def _memory(run):
    a, b = _timing(run, PAIR[0]), _timing(run, PAIR[1])
    if not (np.isfinite(a["peak_mb"]).all() and np.isfinite(b["peak_mb"]).all()):
        raise NotTested("peak memory not measured for both models")
    m = _paired_ratio(a["weights_mb"] + a["peak_mb"], b["weights_mb"] + b["peak_mb"],
                      names=(f"{a['model']} MiB", f"{b['model']} MiB"),
                      detail=(f"weights {a['weights_mb']:.0f} vs {b['weights_mb']:.0f} MiB + peak rise while "
                              f"encoding one {a['resolution']}² image, per round, {run.device}"))
    na, nb = run.native.get(PAIR[0]), run.native.get(PAIR[1])
    if na is not None and nb is not None and np.isfinite(na["peak_mb"]).all() and np.isfinite(nb["peak_mb"]).all():
        ma, mb = np.median(na["weights_mb"] + na["peak_mb"]), np.median(nb["weights_mb"] + nb["peak_mb"])
        m.detail += (f"; at the native {na['resolution']}² ({len(na['peak_mb'])} round(s)): {ma:.0f} vs {mb:.0f} MiB "
                     f"= {ma / mb:.3g}×")
    return m


def _video_frames(run, a, b, what):
    if run.video is None:
        raise NotTested("no video run (no DAVIS-layout data)")
    x, y = per_frame(run.video, a), per_frame(run.video, b)
    if len(x) < MIN_UNITS:
        raise NotTested(f"{len(x)} frame(s) after the prompted one; a CI needs at least {MIN_UNITS} (set video_frames)")
    f = run.video["frames"]
    names = (f[f["run"] == a]["model"].iloc[0], f[f["run"] == b]["model"].iloc[0])
    return difference([x], [y], names=(f"{names[0]} s/frame", f"{names[1]} s/frame"), units="frames",
                      detail=f"{what}; frames 1…{run.video['n_frames'] - 1} at {run.video['resolution']}², "
                             f"{run.video_data}, {run.hardware}")


def _sam_vs_sam2_video(run):
    return _video_frames(run, "SAM", "SAM 2", "SAM re-run per frame with an oracle click vs SAM 2 with memory")


def _video_like_for_like(run):
    keys = (run.config.video_sam, run.config.video_sam2)
    return (keys in LIKE_FOR_LIKE, f"{S.variant(keys[0]).label} vs {S.variant(keys[1]).label}"
            + ("" if keys in LIKE_FOR_LIKE else f"; like-for-like pairs are {LIKE_FOR_LIKE}"))


def _accuracy(run):
    """Per object (the same objects for both models): IoU (%) after 1 click and after n clicks of SAM 2
    and of SAM; the effect is the smaller of the two gains (weakest link)."""
    pair = next(((a, b) for a, b in ACCURACY_PAIRS if a in run.quality and b in run.quality), None)
    if pair is None:
        raise NotTested("needs the interactive IoUs of SAM ViT-H and SAM 2 Hiera-B+ (or a like-for-like pair: "
                        f"{LIKE_FOR_LIKE}), which the quality step measures only with their checkpoints "
                        "(checkpoints, quality_variants) and an image set with masks")
    sam, sam2 = (np.asarray(run.quality[k], float) for k in pair)
    if sam.shape != sam2.shape:
        raise NotTested(f"the two models were scored on different objects ({sam.shape} vs {sam2.shape})")
    if len(sam) < MIN_UNITS:
        raise NotTested(f"{len(sam)} object(s); an interval needs at least {MIN_UNITS} (set n_images)")
    n = sam.shape[1]
    a, b = S.variant(pair[1]).label, S.variant(pair[0]).label
    cols = np.stack([sam2[:, 0], sam[:, 0], sam2[:, n - 1], sam[:, n - 1]], axis=1) * 100
    return Measurement([cols], Stat(min_linear, w=[[1, -1, 0, 0], [0, 0, 1, -1]]), bounds=(-100, 100),
                       columns=(f"{a} 1-click IoU %", f"{b} 1-click IoU %", f"{a} {n}-click IoU %",
                                f"{b} {n}-click IoU %"), units="objects",
                       detail=f"{run.dataset} image set, simulated clicks; the weaker of the 1- and {n}-click gains")


def _video_accuracy(run):
    if "SAM 2" not in run.jf:
        raise NotTested("no J&F: the quality step scores the video only with the SAM 2 checkpoint "
                        "(checkpoints) and a DAVIS-layout video" if run.video is not None else "no video run")
    x = per_frame_j_and_f(run.jf["SAM 2"])
    if len(x) < MIN_UNITS:
        raise NotTested(f"{len(x)} frame(s) after the prompted one; an interval needs at least {MIN_UNITS}")
    beside = "; ".join(f"{name} J&F {100 * run.jf[name]['JF']:.1f}" for name in ("SAM 2 (no memory)", "SAM")
                       if name in run.jf)
    return single([x], name="SAM 2 (J + F) / 2 %", bounds=(0, 100), units="frames",
                  detail=(f"{S.variant(run.config.video_sam2).label}, one click on frame 0 then its memory, frames "
                          f"1…{len(x)}, {run.video_data}" + (f"; beside it, clicked on every frame: {beside}"
                                                             if beside else "")))


def _clip_text(run):
    """Per released SAM variant built here: 1 if its prompt encoder takes text (a forward argument
    or a text-encoder module), else 0."""
    p = run.prompt_inputs
    if p is None or "variant" not in p:
        raise NotTested("the prompt encoders were not inspected")
    sam = p[p["family"] == "SAM"]
    if len(sam) < 2:
        raise NotTested(f"{len(sam)} SAM variant(s) built (param_variants); an interval needs two")
    takes = (sam["text_input"].astype(bool) | (sam["text_modules"].astype(str) != "")).astype(float)
    return single([takes.to_numpy()], name="takes text", bounds=(0, 1), units="SAM variants",
                  detail="; ".join(f"{r.model}: PromptEncoder.forward({r.inputs}); text modules: "
                                   f"{r.text_modules or 'none'}" for r in sam.itertuples()))


def _paper_fps_ratio(fast, slow):
    return lambda paper: (paper.value("published", fast, "FPS", "image, A100")
                          / paper.value("published", slow, "FPS", "image, A100"))


CLAIMS = [
    Claim(id="faster_encoder_like_for_like",
          statement="SAM 2 improves computational speed over SAM: its image encoder is faster at a like-for-like "
                    "size (SAM 2.1 Hiera-B+, 81 M parameters, vs SAM ViT-B, 94 M)",
          source="§4: 'SAM 2 is expected to be optimized for better computational efficiency by reducing hardware "
                 "requirements and improving computational speed'; published A100 FPS (SAM 2 paper) 130.1 vs 76.7",
          effect=_encoder_ratio(*PAIR), direction=+1, margin=0.0, reference=1.0,
          unit="× (ViT-B time / Hiera-B+ time)",
          preconditions=(_timed_guard(PAIR[0]), _timed_guard(PAIR[1])),
          on_paper=_paper_fps_ratio("SAM 2 Hiera-B+ (SA-1B)", "SAM ViT-B")),
    Claim(id="six_times_faster",
          statement="SAM 2 is 6× faster than SAM on images (SAM 2 Hiera-B+ vs SAM ViT-H)",
          source="SAM 2 paper (Ravi et al. 2024, the review's ref. [13]), abstract: 'more accurate and 6× faster "
                 "than the Segment Anything Model (SAM)'; its image table: 130.1 vs 21.7 FPS",
          effect=_six_x, direction=+1, margin=0.0, reference=SIX_X_REFERENCE,
          margin_source="the reference 5.5: '6×' as printed rounds 130.1 / 21.7 = 5.995, so a ratio that rounds to 6",
          unit="× (ViT-H time / Hiera-B+ time)",
          preconditions=(_timed_guard(SPEEDUP_PAIR[0]), _timed_guard(SPEEDUP_PAIR[1])),
          on_paper=_paper_fps_ratio("SAM 2 Hiera-B+ (SA-1B)", "SAM ViT-H")),
    Claim(id="reduced_hardware_requirements",
          statement="SAM 2 reduces hardware requirements: less memory to encode an image at a like-for-like size "
                    "(Hiera-B+ vs ViT-B; weights plus the peak working memory of one encoder call)",
          source="§4: 'optimized for better computational efficiency by reducing hardware requirements'; Table 1, "
                 "Computational Efficiency: 'Likely optimized for better efficiency, reducing hardware requirements'",
          effect=_memory, direction=+1, margin=0.0, reference=1.0, unit="× (ViT-B MiB / Hiera-B+ MiB)",
          preconditions=(_timed_guard(PAIR[0]), _timed_guard(PAIR[1]))),
    Claim(id="video_cheaper_than_rerunning_sam",
          statement="On video, SAM 2 (one click on frame 0, then tracking with its memory) costs less per frame than "
                    "SAM re-run on every frame, at like-for-like model sizes — with SAM given its prompt for free: an "
                    "oracle click taken from each frame's ground-truth mask stands in for the object detector the "
                    "review says SAM needs on video, whose own cost is not counted (this favours SAM)",
          source="§2.5: SAM 'performed well in the segmentation of an image but not well with video data. To segment "
                 "video frames, it needs to be combined with other deep learning models like object detection, which "
                 "could cause delays'; Abstract: SAM 2 'leveraging memory … enabling near real-time performance'",
          effect=_sam_vs_sam2_video,
          direction=+1, margin=0.0, unit="s/frame (SAM − SAM 2)",
          preconditions=(Precondition("the video models are of like-for-like size", _video_like_for_like),
                         _frames_guard("SAM"), _frames_guard("SAM 2"))),
    Claim(id="sam2_more_accurate",
          statement="In image segmentation SAM 2 is more accurate than SAM: higher mIoU after 1 click and after 5 "
                    "clicks, SAM 2 Hiera-B+ against SAM ViT-H (on the run: the released SAM 2.1 Hiera-B+, trained on "
                    "the SAM 2 data mix, against SAM ViT-H, or a like-for-like pair, on the same objects)",
          source="SAM 2 paper (Ravi et al. 2024, the review's ref. [13]), abstract: 'In image segmentation, our model "
                 "is more accurate and 6× faster than the Segment Anything Model (SAM)'; SA-23 mIoU, SAM 2 Hiera-B+ "
                 "trained on SA-1B 58.9 / 81.7 vs SAM ViT-H 58.1 / 81.3 (1 / 5 clicks)",
          effect=_accuracy, direction=+1, margin=0.0, unit="mIoU points (SAM 2 − SAM, weaker of 1 and 5 clicks)",
          on_paper=lambda p: min(p.value("published", "SAM 2 Hiera-B+ (SA-1B)", m, "SA-23")
                                 - p.value("published", "SAM ViT-H", m, "SA-23") for m in ("mIoU_1click", "mIoU_5click"))),
    Claim(id="sam2_video_accuracy",
          statement="SAM 2, leveraging its memory, generates accurate segmentation across entire videos: from one "
                    "click on the first frame, J&F over the following frames of at least 90 (the review's own bar "
                    "for a high-quality mask)",
          source="Abstract: 'SAM 2 expands this functionality to video, leveraging memory from preceding and "
                 "subsequent frames to generate accurate segmentation across entire videos'; published: SAM 2 "
                 "Hiera-B+ J&F 90.9 on DAVIS 2017 val (SAM 2 paper)",
          effect=_video_accuracy, direction=+1, margin=0.0, reference=ACCURATE_J_AND_F,
          unit="J&F (%, frames after the prompted one)",
          margin_source="the reference 90 is §2.0.1's 'IoU greater than 90%, illustrating high quality' — the review's "
                        "bar for an accurate mask (J&F averages region IoU and boundary F)",
          on_paper=lambda p: p.value("published", "SAM 2 Hiera-B+", "J&F", "DAVIS 2017 val")),
    Claim(id="sam_clip_text_prompt",
          statement="SAM's prompt encoder handles sparse prompts (points, boxes) and dense prompts (masks) using "
                    "positional encodings and a CLIP text encoder: the released SAM takes a text prompt",
          source="Table 1, Prompt Encoder (SAM): 'Handles sparse prompts (points, boxes) and dense prompts (masks) "
                 "using positional encodings and a CLIP text encoder'; §2.1.2: '… and a CLIP text encoder [8], "
                 "processing … tokens for text'",
          effect=_clip_text, direction=+1, margin=0.0, reference=0.5,
          unit="share of the released SAM variants whose prompt encoder takes text (review: all)",
          margin_source="the reference ½ separates 'every released SAM takes text' (1, the review's statement) from "
                        "'none does' (0); the review gives no share"),
]


# ----------------------------------------------------------------------------- checks
def _params_match(run):
    t = run.totals
    worst = t.loc[t["rel_diff_%"].abs().idxmax()]
    ok = bool(t["published_M"].notna().all() and (t["rel_diff_%"].abs() < 1).all())
    return ok, (f"{len(t)} variants; largest difference {worst['model']} {worst['params_M']:.3f} M vs "
                f"{worst['published_M']:.2f} M ({worst['rel_diff_%']:+.3f} %)")


def _parts_partition(run):
    t = run.totals
    bad = t[t["params"] != t["whole"]]
    return bad.empty, ("components sum to the whole model for " + ", ".join(t["model"]) if bad.empty
                       else "parts ≠ whole for " + ", ".join(bad["model"]))


def _arch(id_):
    def check(run):
        if run.arch is None:
            raise NotTested("no SAM 2 variant timed whole")
        row = run.arch.set_index("id").loc[id_]
        if row["held"] is None:
            raise NotTested(row["evidence"])
        return bool(row["held"]), row["evidence"]
    return check


ARCH_STATEMENTS = {
    "hiera_multiscale": "§3.2.1: Hiera produces multi-scale features (strides 4, 8, 16, 32)",
    "fpn_fuses_16_32": "§3.2.1: 'a feature pyramid network … to fuse the stride 16 and 32 features'",
    "high_res_to_decoder": "§3.2.1: stride 4 and 8 features are incorporated 'into the mask decoder's upsampling layers'",
    "memory_attention_stride16": "§3.2.1: 'the memory attention mechanism does not include the stride 4 and 8 features'",
    "sam_vit_single_stride": "§2.1.1: SAM's image encoder is a (plain, single-stride) Vision Transformer",
}

CHECKS = [
    Check("params_match_published", "Whole-model parameter counts of the built modules are within 1 % of the "
          "published sizes (REFERENCE §3)", _params_match),
    Check("parts_partition_whole", "The components (image encoder, prompt encoder, mask decoder, memory "
          "attention, memory encoder, rest) add up to the whole model", _parts_partition),
    *[Check(k, f"Review vs code — {v}", _arch(k)) for k, v in ARCH_STATEMENTS.items()],
]
