"""SAM vs SAM 2, measured: parameters per component, interleaved encoder timing and peak memory,
prompt-to-mask latency, per-frame video cost with and without memory, the review's architecture
statements checked on the modules, and quality rows when checkpoints are given (no plotting,
no result writing here)."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchlib.chapters import ChapterConfig
from benchlib.torchutil import pick_device, seed_everything, set_threads

from . import SPEC
from . import data as D
from . import models as S
from . import evaluate
from .architecture import architecture_checks, prompt_inputs
from .measure import ComposedViT, WholeEncoder, interleaved, prompt_latency, test_image
from .video import measure_video

# Like-for-like sizes: SAM 2's base and large models against SAM's.
LIKE_FOR_LIKE = [("vit_b", "hiera_b+"), ("vit_l", "hiera_l")]
SPEEDUP_PAIR = ("vit_h", "hiera_b+")  # the SAM 2 paper's "6x faster"
COMPOSITION_CHECK = "vit_b (composed)"  # ViT-B timed from its parts too, to check the composition


@dataclass
class Config(ChapterConfig):
    """The notebook's parameters (same names, same defaults as its parameters cell)."""

    n_seeds: int = 1   # one measurement session: nothing is trained, the units are timing rounds and frames
    param_variants: list = field(default_factory=lambda: ["vit_b", "vit_l", "vit_h", "hiera_t", "hiera_s",
                                                          "hiera_b+", "hiera_l"])
    latency_variants: list = field(default_factory=lambda: ["hiera_b+", "vit_b"])
    composed_variants: list = field(default_factory=lambda: ["vit_h"])
    resolution: int = 384
    warmup: int = 1
    repeats: int = 5
    native_resolution: int = 1024
    native_variants: list = field(default_factory=lambda: ["hiera_t", "hiera_b+", "vit_b"])
    native_composed: list = field(default_factory=list)
    native_rounds: int = 1
    prompt_repeats: int = 5
    compile_encoder: bool = False
    video_frames: int = 5
    video_resolution: int = 224
    video_sam: str = "vit_b"
    video_sam2: str = "hiera_b+"
    checkpoints: str = ""
    quality_variants: list = field(default_factory=lambda: ["vit_b", "hiera_t"])
    n_images: int = 6
    n_clicks: int = 5


@dataclass
class Run:
    config: Config
    device: str = "cpu"
    threads: int = 1
    dataset: str = ""                 # the data's name (twin or real)
    image_root: object = None         # image set with masks (None when absent)
    davis_root: object = None
    params: pd.DataFrame = None       # variant × component parameter counts
    totals: pd.DataFrame = None       # whole-model counts beside the published ones
    timing: dict = field(default_factory=dict)   # key -> encoder timing (paired rounds), see `time_encoders`
    native: dict = field(default_factory=dict)   # the same at the models' native size (few rounds)
    prompts: dict = field(default_factory=dict)  # variant -> {"point": [...s], "box": [...s]}
    arch: pd.DataFrame = None         # the review's architecture statements, checked
    prompt_inputs: pd.DataFrame = None   # per built variant: what its prompt encoder accepts
    video: dict | None = None
    video_data: str = ""
    frames: list = field(default_factory=list)   # the video's frames (explorer)
    quality: dict = field(default_factory=dict)  # variant -> objects × clicks IoUs
    jf: dict = field(default_factory=dict)       # video run ("SAM", "SAM 2 (no memory)", "SAM 2") -> j_and_f
    predictors: dict = field(default_factory=dict)  # variant -> predictor (checkpointed variants only)

    @property
    def mode(self) -> str:
        return "compiled" if self.config.compile_encoder else "eager"

    @property
    def hardware(self) -> str:
        return f"{self.device}, {self.threads} thread(s)"


# ----------------------------------------------------------------------------- parameters
def build_tables(keys) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per variant, from one structure-only build each (`models.build(meta=True)`: SAM on the meta
    device, SAM 2 with its weight initialisers skipped): parameters per component plus the whole-model
    count (column `whole`), and what its prompt encoder accepts (`architecture.prompt_inputs`)."""
    rows, prompts = [], []
    for k in keys:
        v = S.variant(k)
        model = S.build(k, meta=True)
        whole = sum(p.numel() for p in model.parameters())
        for comp, n in S.components(model).items():
            rows.append({"variant": k, "model": v.label, "family": v.family, "component": comp, "params": n,
                         "whole": whole})
        prompts.append(prompt_inputs([(k, v.label, v.family, model)]))
        del model
    return pd.DataFrame(rows), (pd.concat(prompts, ignore_index=True) if prompts else prompt_inputs([]))


def parameter_table(keys) -> pd.DataFrame:
    """Parameters per component for each variant, counted on the built modules (see `build_tables`)."""
    return build_tables(keys)[0]


def totals(params: pd.DataFrame) -> pd.DataFrame:
    """Whole-model counts (sum of the parts) beside the published ones (REFERENCE §3)."""
    from benchlib.papers import load_table

    pub = load_table(SPEC.id, "published").query("metric == 'params_M' and subset == 'counted'")
    pub = dict(zip(pub["method"], pub["value"]))
    t = params.groupby(["variant", "model", "family"], sort=False).agg(params=("params", "sum"),
                                                                       whole=("whole", "first")).reset_index()
    t["params_M"] = t["params"] / 1e6
    t["published_M"] = t["model"].map(pub)
    t["rel_diff_%"] = 100 * (t["params_M"] - t["published_M"]) / t["published_M"]
    return t


# ----------------------------------------------------------------------------- threads
def pick_threads(threads: int = 0) -> int:
    """Threads for torch. `threads` > 0 is used as given; 0 means the runner's budget
    ($BENCHLIB_THREADS, else all cores) capped by the cores the 1-minute load average leaves
    free (at least one). Why: on a shared CPU, OpenMP threads that wait for a descheduled
    sibling make small operations many times slower (measured here: a 1-point prompt 0.05 s with
    1 thread vs 2 s with 2 threads under a load of 9 on 2 cores), which would time the
    neighbours, not SAM. The choice is stored with the run."""
    if threads and threads > 0:
        return set_threads(threads)
    budget = set_threads()
    cores = os.cpu_count() or 1
    free = cores - int(round(os.getloadavg()[0])) if hasattr(os, "getloadavg") else cores
    return set_threads(max(1, min(budget, free)))  # set_threads(≤ 0) would mean all cores


# ----------------------------------------------------------------------------- stages
def time_encoders(config: Config, device, native: bool = False) -> tuple[dict, dict]:
    """The repeated rounds (native=False): every variant of `latency_variants` timed whole and
    every one of `composed_variants` from its parts, at `resolution`, `warmup` + `repeats`
    interleaved rounds (see `measure.interleaved`). native=True: `native_variants` whole and
    `native_composed` from parts at `native_resolution`, `native_rounds` rounds without a warm-up
    round of their own (they run after the repeated rounds, whose warm-up has paid the one-time
    costs; on a CPU one native call costs several whole rounds at the small size). ViT-B is also composed
    when both kinds run, to check the composition. Returns ({key: timing dict}, {key: WholeEncoder})."""
    if native:
        res, whole_keys, composed, rounds, warmup = (config.native_resolution, config.native_variants,
                                                     config.native_composed, config.native_rounds, 0)
    else:
        res, whole_keys, composed, rounds, warmup = (config.resolution, config.latency_variants,
                                                     config.composed_variants, config.repeats, config.warmup)
    image = test_image(res, config.seed)
    timers = {}
    for k in whole_keys:
        model = S.build(k, checkpoint=S.checkpoint_path(config.checkpoints, k), device=device, image_size=res)
        timers[k] = WholeEncoder(model, k, image, device, compile_encoder=config.compile_encoder)
    for k in composed:
        if k not in timers:
            timers[k] = ComposedViT(k, res, device, seed=config.seed)
    if composed and "vit_b" in whole_keys:
        timers[COMPOSITION_CHECK] = ComposedViT("vit_b", res, device, seed=config.seed)
    if not timers:
        return {}, {}
    raw = interleaved(timers, rounds, warmup, device)
    timing = {}
    for k, t in timers.items():
        v = S.variant(k.split(" ")[0])
        timing[k] = {"variant": v.key, "model": v.label, "family": v.family, "how": t.how,
                     "resolution": res, "rounds": len(raw[k]["times_s"]), "warmup": warmup,
                     "times_s": np.array(raw[k]["times_s"]), "cpu_s": np.array(raw[k]["cpu_s"], float),
                     "peak_mb": np.array(raw[k]["peak_mb"]), "weights_mb": t.weights_mb,
                     "shapes": t.shapes, "parts_s": getattr(t, "parts_s", None),
                     "blocks": (t.n_windowed, t.n_global) if t.how == "composed" else None}
    return timing, {k: t for k, t in timers.items() if t.how == "measured"}


def run_quality(config: Config, run: Run, device, gt_masks) -> None:
    """mIoU after 1 and n clicks, and J&F of the video runs, for the variants with a checkpoint."""
    if run.image_root is not None:
        for k in config.quality_variants:
            ck = S.checkpoint_path(config.checkpoints, k)
            if ck is not None:
                model = S.build(k, checkpoint=ck, device=device)
                run.quality[k] = evaluate.interactive_miou(S.predictor(model), D.load_image_set(run.image_root),
                                                           config.n_clicks)
    if run.video is None:
        return
    n = run.video["n_frames"]
    for name, key in (("SAM 2", config.video_sam2), ("SAM 2 (no memory)", config.video_sam2),
                      ("SAM", config.video_sam)):
        if S.checkpoint_path(config.checkpoints, key) is not None:
            run.jf[name] = evaluate.j_and_f(run.video["masks"][name], [m == 1 for m in gt_masks[:n]])


def run(config: Config) -> Run:
    """Everything the chapter measures, on one device, in one process."""
    device = pick_device(config.device)
    out = Run(config, device=str(device), threads=pick_threads(config.threads))
    seed_everything(config.seed)
    ds = D.dataset(config.data_root, config.seed, config.n_images, max(8, config.video_frames))
    out.dataset = ds.name
    out.image_root, out.davis_root = D.layouts(ds)

    out.params, out.prompt_inputs = build_tables(config.param_variants)
    out.totals = totals(out.params)

    out.timing, whole = time_encoders(config, device)
    for k, enc in whole.items():
        out.prompts[k] = prompt_latency(enc.predictor, config.resolution, device, config.prompt_repeats)
    # The native-size models are dropped right after their round (only their timings are kept).
    out.native = time_encoders(config, device, native=True)[0]

    gt_masks = []
    if out.davis_root is not None:
        seq = D.davis_sequences(out.davis_root)[0]
        out.frames, gt_masks = D.load_davis_sequence(out.davis_root, seq, config.video_frames)
        out.video_data = f"{ds.name}, sequence {seq}"
        out.video = measure_video(config.video_sam, config.video_sam2, D.davis_frames_dir(out.davis_root, seq),
                                  out.frames, gt_masks, config.video_frames, config.video_resolution, device,
                                  checkpoints=config.checkpoints)

    sam2_key = next((k for k in whole if S.variant(k).family == "SAM 2"), None)
    sam_key = next((k for k in whole if S.variant(k).family == "SAM"), None)
    if sam2_key is not None:
        out.arch = architecture_checks(whole[sam2_key].model, whole[sam2_key].shapes, whole[sam2_key].predictor,
                                       config.resolution, whole[sam_key].shapes if sam_key else None,
                                       S.variant(sam_key).label if sam_key else "SAM", out.video, seed=config.seed)
    out.predictors = {k: w.predictor for k, w in whole.items()
                      if S.checkpoint_path(config.checkpoints, k) is not None}
    run_quality(config, out, device, gt_masks)
    return out


# ----------------------------------------------------------------------------- derived numbers
def paired_ratio(run: Run, a: str, b: str, native: bool = False) -> np.ndarray:
    """Per round: encoder time of `a` / encoder time of `b` (paired by the interleaving)."""
    timing = run.native if native else run.timing
    return timing[a]["times_s"] / timing[b]["times_s"]


def composition_factor(run: Run, native: bool = False) -> float:
    """ViT-B measured whole / ViT-B composed from its parts (median of the per-round ratios)."""
    timing = run.native if native else run.timing
    if "vit_b" in timing and COMPOSITION_CHECK in timing:
        return float(np.median(paired_ratio(run, "vit_b", COMPOSITION_CHECK, native)))
    return math.nan


def like_for_like_times(run: Run, slow: str, fast: str, native: bool = False):
    """Paired per-round times (a, b) whose ratio a_i / b_i compares `slow` with `fast` like for like,
    and how; None when it cannot be formed. Both timed whole: their own times. `slow` composed from
    per-block timings (a ViT too slow to time whole) and `fast` timed whole: composed / whole would
    mix two methods (composition leaves out what happens between the blocks), so the ratio is
    chained through ViT-B, timed both ways in the same rounds:
        slow / fast = (slow composed / ViT-B composed) × (ViT-B whole / fast whole),
    each factor measured one way on both sides, so a bias of the composition common to the two
    ViTs cancels (same block code, ViT-H only wider and deeper: the one assumption, said on the page)."""
    timing = run.native if native else run.timing
    if slow not in timing or fast not in timing or timing[fast]["how"] != "measured":
        return None
    if timing[slow]["how"] == "measured":
        return timing[slow]["times_s"], timing[fast]["times_s"], "both timed whole"
    if "vit_b" not in timing or COMPOSITION_CHECK not in timing:
        return None
    a = timing[slow]["times_s"] * timing["vit_b"]["times_s"]
    b = timing[COMPOSITION_CHECK]["times_s"] * timing[fast]["times_s"]
    s_, f_ = timing[slow]["model"], timing[fast]["model"]
    return a, b, (f"{s_} composed from per-block timings, chained through ViT-B timed whole and composed: "
                  f"({s_} composed / SAM ViT-B composed) × (SAM ViT-B whole / {f_} whole)")
