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

from benchlib.torchutil import pick_device, seed_everything, set_threads

from . import data as D
from . import models as S
from . import quality as Q
from .architecture import architecture_checks, prompt_inputs
from .measure import ComposedViT, WholeEncoder, interleaved, prompt_latency, test_image
from .video import measure_video

CHAPTER = "sam_vs_sam2"
# Like-for-like sizes: SAM 2's base and large models against SAM's.
LIKE_FOR_LIKE = [("vit_b", "hiera_b+"), ("vit_l", "hiera_l")]
SPEEDUP_PAIR = ("vit_h", "hiera_b+")  # the SAM 2 paper's "6x faster"
COMPOSITION_CHECK = "vit_b (composed)"  # ViT-B timed from its parts too, to check the composition


@dataclass
class Config:
    """The notebook's parameters (same names, same defaults as its parameters cell)."""

    data_root: str = ""
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    param_variants: list = field(default_factory=lambda: ["vit_b", "vit_l", "vit_h", "hiera_t", "hiera_s",
                                                          "hiera_b+", "hiera_l"])
    latency_variants: list = field(default_factory=lambda: ["hiera_t", "hiera_b+", "vit_b"])
    composed_variants: list = field(default_factory=lambda: ["vit_h"])
    resolution: int = 512
    warmup: int = 1
    repeats: int = 5
    prompt_repeats: int = 5
    compile_encoder: bool = False
    video_frames: int = 5
    video_resolution: int = 256
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
    prompts: dict = field(default_factory=dict)  # variant -> {"point": [...s], "box": [...s]}
    arch: pd.DataFrame = None         # the review's architecture statements, checked
    prompt_inputs: pd.DataFrame = None
    video: dict | None = None
    video_data: str = ""
    frames: list = field(default_factory=list)   # the video's frames (explorer)
    quality: dict = field(default_factory=dict)  # variant -> objects × clicks IoUs
    jf: dict = field(default_factory=dict)       # "SAM" / "SAM 2" -> j_and_f result
    predictors: dict = field(default_factory=dict)  # variant -> predictor (checkpointed variants only)

    @property
    def mode(self) -> str:
        return "compiled" if self.config.compile_encoder else "eager"

    @property
    def hardware(self) -> str:
        return f"{self.device}, {self.threads} thread(s)"


# ----------------------------------------------------------------------------- parameters
def parameter_table(keys) -> pd.DataFrame:
    """Parameters per component for each variant, counted on the built modules, plus the
    whole-model count (column `whole`). SAM is built on the meta device (structure without
    memory); SAM 2 is built for real (small enough, and Hiera cannot be built on meta)."""
    rows = []
    for k in keys:
        v = S.variant(k)
        model = S.build(k, meta=(v.family == "SAM"))
        whole = sum(p.numel() for p in model.parameters())
        for comp, n in S.components(model).items():
            rows.append({"variant": k, "model": v.label, "family": v.family, "component": comp, "params": n,
                         "whole": whole})
        del model
    return pd.DataFrame(rows)


def totals(params: pd.DataFrame) -> pd.DataFrame:
    """Whole-model counts (sum of the parts) beside the published ones (REFERENCE §3)."""
    from benchlib.papers import load_table

    pub = load_table(CHAPTER, "published").query("metric == 'params_M' and subset == 'counted'")
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
def time_encoders(config: Config, device) -> tuple[dict, dict]:
    """Every variant of `latency_variants` timed whole and every one of `composed_variants`
    from its parts, interleaved (see `measure.interleaved`); ViT-B is also composed when both
    kinds run, to check the composition. Returns ({key: timing dict}, {key: WholeEncoder})."""
    image = test_image(config.resolution, config.seed)
    timers = {}
    for k in config.latency_variants:
        model = S.build(k, checkpoint=S.checkpoint_path(config.checkpoints, k), device=device,
                        image_size=config.resolution)
        timers[k] = WholeEncoder(model, k, image, device, compile_encoder=config.compile_encoder)
    for k in config.composed_variants:
        if k not in timers:
            timers[k] = ComposedViT(k, config.resolution, device, seed=config.seed)
    if config.composed_variants and "vit_b" in config.latency_variants:
        timers[COMPOSITION_CHECK] = ComposedViT("vit_b", config.resolution, device, seed=config.seed)
    raw = interleaved(timers, config.repeats, config.warmup, device)
    timing = {}
    for k, t in timers.items():
        v = S.variant(k.split(" ")[0])
        timing[k] = {"variant": v.key, "model": v.label, "family": v.family, "how": t.how,
                     "resolution": config.resolution, "times_s": np.array(raw[k]["times_s"]),
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
                run.quality[k] = Q.interactive_miou(S.predictor(model), D.load_image_set(run.image_root),
                                                    config.n_clicks)
    if run.video is None:
        return
    n = run.video["n_frames"]
    for fam, key in (("SAM 2", config.video_sam2), ("SAM", config.video_sam)):
        if S.checkpoint_path(config.checkpoints, key) is not None:
            run.jf[fam] = Q.j_and_f(run.video["masks"][fam], [m == 1 for m in gt_masks[:n]])


def run(config: Config) -> Run:
    """Everything the chapter measures, on one device, in one process."""
    device = pick_device(config.device)
    out = Run(config, device=str(device), threads=pick_threads(config.threads))
    seed_everything(config.seed)
    ds = D.dataset(config.data_root, config.seed, config.n_images, max(8, config.video_frames))
    out.dataset = ds.name
    out.image_root, out.davis_root = D.layouts(ds)

    out.params = parameter_table(config.param_variants)
    out.totals = totals(out.params)

    out.timing, whole = time_encoders(config, device)
    for k, enc in whole.items():
        out.prompts[k] = prompt_latency(enc.predictor, config.resolution, device, config.prompt_repeats)

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
    out.prompt_inputs = prompt_inputs()
    out.predictors = {k: w.predictor for k, w in whole.items()
                      if S.checkpoint_path(config.checkpoints, k) is not None}
    run_quality(config, out, device, gt_masks)
    return out


# ----------------------------------------------------------------------------- derived numbers
def paired_ratio(run: Run, a: str, b: str) -> np.ndarray:
    """Per round: encoder time of `a` / encoder time of `b` (paired by the interleaving)."""
    ta, tb = run.timing[a]["times_s"], run.timing[b]["times_s"]
    return ta / tb


def composition_factor(run: Run) -> float:
    """ViT-B measured whole / ViT-B composed from its parts (median of the per-round ratios)."""
    if "vit_b" in run.timing and COMPOSITION_CHECK in run.timing:
        return float(np.median(paired_ratio(run, "vit_b", COMPOSITION_CHECK)))
    return math.nan
