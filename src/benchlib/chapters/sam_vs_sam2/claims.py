"""The review's claims about SAM vs SAM 2 (and the SAM 2 paper's "6× faster"), declared for the
claims engine, and the checks of its architecture statements and of the counts against code.

Units of the timing claims are the interleaved timing rounds (paired across the two models);
units of the video claims are the frames after the prompted one (paired across the runs).
Nothing here is trained, so the claims rest on one session of measurements (`min_seeds` 1);
their guard against a meaningless measurement is a timing floor: a call that takes less than a
millisecond did not run the network.
"""
from __future__ import annotations

import numpy as np

from benchlib.claims import Check, Claim, Measurement, NotTested, Precondition, degenerate_guard, difference

from . import models as S
from .pipeline import LIKE_FOR_LIKE, SPEEDUP_PAIR, composition_factor, like_for_like_times
from .video import per_frame

TIMING_FLOOR_S = 1e-3
MIN_UNITS = 3                    # fewer rounds / frames give no interval worth the name
PAIR = LIKE_FOR_LIKE[0]          # (vit_b, hiera_b+): 94 M vs 81 M parameters
SIX_X_REFERENCE = 5.5            # "6×" as printed: 130.1 / 21.7 = 5.995, so anything that rounds to 6


def _timing(run, key):
    t = run.timing.get(key)
    if t is None or not len(t["times_s"]):
        raise NotTested(f"{S.variant(key).label} not timed in this profile (latency_variants / composed_variants)")
    if len(t["times_s"]) < MIN_UNITS:
        raise NotTested(f"{len(t['times_s'])} timing round(s); a CI needs at least {MIN_UNITS} (set repeats)")
    return t


def _median_time(key):
    def score(run):
        t = run.timing.get(key)
        # Not timed at all: the effect says so (not tested: not run), not this guard.
        return [np.median(t["times_s"])] if t is not None and len(t["times_s"]) else [np.inf]
    return score


def _timed_guard(key):
    return degenerate_guard(S.variant(key).label, _median_time(key), floor=TIMING_FLOOR_S, what="median encoder s")


def _frames_guard(name):
    def score(run):
        if run.video is None:
            return [np.inf]  # no video run: the effect says so
        return [np.median(per_frame(run.video, name))]
    return degenerate_guard(f"video run '{name}'", score, floor=TIMING_FLOOR_S, what="median s/frame")


def _paired_ratio(a, b, names, detail="") -> Measurement:
    """Effect = the geometric mean of the per-round ratios a_i / b_i (rounds paired by the
    interleaving, so a load change that slows both cancels in each ratio; the log makes
    "2× slower" and "2× faster" symmetric)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return Measurement([np.log(a / b)], lambda m: float(np.exp(m[0])), columns=("mean log ratio",),
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
    return difference([x], [y], names=(f"{names[0]} s/frame", f"{names[1]} s/frame"),
                      detail=f"{what}; frames 1…{run.video['n_frames'] - 1} at {run.video['resolution']}², "
                             f"{run.video_data}, {run.hardware}")


def _video_like_for_like(run):
    keys = (run.config.video_sam, run.config.video_sam2)
    return (keys in LIKE_FOR_LIKE, f"{S.variant(keys[0]).label} vs {S.variant(keys[1]).label}"
            + ("" if keys in LIKE_FOR_LIKE else f"; like-for-like pairs are {LIKE_FOR_LIKE}"))


def _memory_path(run):
    """Per frame (paired): what re-prompting costs (`predict`: prompt encoder + mask decoder, the
    same SAM 2 model without memory) minus what the memory path costs (memory attention + memory
    encoder). The image encoder runs in both runs and is left out. The mask decoder runs in both
    too but is counted on the re-prompt side only (memory path vs re-running prompt/decoder, as
    the comparison is framed), which favours the memory path."""
    if run.video is None:
        raise NotTested("no video run (no DAVIS-layout data)")
    prompt = per_frame(run.video, "SAM 2 (no memory)", "prompt→mask")
    mem = per_frame(run.video, "SAM 2", "memory attention") + per_frame(run.video, "SAM 2", "memory encoder")
    if len(mem) < MIN_UNITS:
        raise NotTested(f"{len(mem)} frame(s) after the prompted one; a CI needs at least {MIN_UNITS} (set video_frames)")
    total = per_frame(run.video, "SAM 2 (no memory)") - per_frame(run.video, "SAM 2")
    return difference([prompt], [mem], names=("re-prompt s/frame", "memory path s/frame"),
                      detail=(f"{S.variant(run.video['sam2_key']).label}, frames 1…{run.video['n_frames'] - 1} at "
                              f"{run.video['resolution']}², {run.video_data}, {run.hardware}; whole frame, "
                              f"re-prompted − with memory: {total.mean():.3g} s/frame (encoder noise included)"))


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
          statement="On video, SAM 2 (one click, then tracking with its memory) costs less per frame than SAM "
                    "re-run and re-prompted on every frame, at like-for-like model sizes",
          source="§2.5: SAM 'performed well in the segmentation of an image but not well with video data … could "
                 "cause delays'; Abstract: SAM 2 'leveraging memory … enabling near real-time performance'",
          effect=lambda run: _video_frames(run, "SAM", "SAM 2", "SAM re-run per frame vs SAM 2 with memory"),
          direction=+1, margin=0.0, unit="s/frame (SAM − SAM 2)",
          preconditions=(Precondition("the video models are of like-for-like size", _video_like_for_like),
                         _frames_guard("SAM"), _frames_guard("SAM 2"))),
    Claim(id="memory_makes_video_cheaper",
          statement="SAM 2's memory mechanism is what makes video efficient: per frame, the memory path (memory "
                    "attention + memory encoder) costs less than re-running the prompt encoder and mask decoder "
                    "with a new prompt, on the same SAM 2 model",
          source="§1: 'The efficiency of SAM had been further enhanced with the development of SAM2, which "
                 "permeates the model's capabilities to video segmentation … incorporating a memory mechanism'",
          effect=_memory_path, direction=+1, margin=0.0, unit="s/frame (re-prompt − memory path)",
          preconditions=(_frames_guard("SAM 2 (no memory)"), _frames_guard("SAM 2"))),
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


def _clip_text(run):
    p = run.prompt_inputs
    return bool(p["text_input"].any()), "; ".join(f"{r.family} PromptEncoder.forward({r.inputs})" for r in p.itertuples())


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
    Check("review_clip_text_prompt", "Review vs code — Table 1, Prompt Encoder: SAM handles prompts 'using positional "
          "encodings and a CLIP text encoder' (does a released prompt encoder take text?)", _clip_text),
]
