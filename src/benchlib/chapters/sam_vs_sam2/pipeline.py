"""SAM vs SAM 2, measured: parameters per component, image-encoder latency and peak memory,
prompt-to-mask latency, video cost per frame, feature shapes, the review's architecture
statements checked on the built modules, the review's Table 1 with a "measured here" column,
claims, figures and the explorer.

Timing rules (the pitfalls users report): models are built before the clock starts; every
timed call comes after `warmup` untimed calls; CUDA is synchronised around each call
(`torchutil.time_call`); the median of the repeats is reported; eager and compiled numbers are
never mixed in one comparison. Peak memory: on CUDA the peak allocated memory above the level
before the call; on the CPU the peak resident set size (RSS) above the level before the call,
sampled every 2 ms by a thread reading /proc/self/statm — this includes allocator slack and is
a lower bound for spikes shorter than 2 ms (no tracemalloc: it does not see torch's allocations).
"""
from __future__ import annotations

import contextlib
import inspect
import math
import os
import threading
import time
import warnings

import numpy as np
import pandas as pd

from .. import BenchlibError
from ..models import sam as S
from ..torchutil import synchronize, time_call

CHAPTER = "sam_vs_sam2"
# Like-for-like sizes: SAM 2's base and large models against SAM's.
LIKE_FOR_LIKE = [("vit_b", "hiera_b+"), ("vit_l", "hiera_l")]
SPEEDUP_PAIR = ("vit_h", "hiera_b+")  # the SAM 2 paper's "6x faster"


# ----------------------------------------------------------------------------- parameters
def parameter_table(keys) -> pd.DataFrame:
    """Parameters per component for each variant, counted on the built modules. SAM is built on
    the meta device (structure without memory); SAM 2 is built for real (small enough, and Hiera
    cannot be built on meta)."""
    rows = []
    for k in keys:
        v = S.variant(k)
        model = S.build(k, meta=(v.family == "SAM"))
        for comp, n in S.components(model).items():
            rows.append({"variant": k, "model": v.label, "family": v.family, "component": comp, "params": n})
        del model
    return pd.DataFrame(rows)


def totals(params: pd.DataFrame) -> pd.DataFrame:
    """Whole-model counts beside the published ones (REFERENCE §3), with the relative difference."""
    from ..papers import load_table

    pub = load_table(CHAPTER, "published").query("metric == 'params_M' and subset == 'counted'")
    pub = dict(zip(pub["method"], pub["value"]))
    t = params.groupby(["variant", "model", "family"], sort=False)["params"].sum().reset_index()
    t["params_M"] = t["params"] / 1e6
    t["published_M"] = t["model"].map(pub)
    t["rel_diff_%"] = 100 * (t["params_M"] - t["published_M"]) / t["published_M"]
    return t


# ----------------------------------------------------------------------------- measuring helpers
class PeakMemory:
    """Peak memory above the level at entry, in MiB (see the module docstring for the method)."""

    def __init__(self, device):
        import torch

        self.device = torch.device(device)
        self.peak_mb = None

    @staticmethod
    def _rss() -> int | None:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self):
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self._base = self._rss()
        self._max = self._base
        self._stop = threading.Event()
        if self._base is not None:
            def sample():
                while not self._stop.wait(0.002):
                    self._max = max(self._max, self._rss() or 0)
            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
        elif self._base is not None:
            self._stop.set()
            self._thread.join()
            self._max = max(self._max, self._rss() or 0)
            self.peak_mb = (self._max - self._base) / 2**20
        return False


class ModuleTimer:
    """Wall time spent inside given submodules (forward hooks, CUDA synchronised), accumulated
    until `take()`; used to split a video frame's cost into encoder / memory / rest."""

    def __init__(self, modules: dict, device):
        self.device, self.acc, self._t0, self._handles = device, {k: 0.0 for k in modules}, {}, []
        for name, m in modules.items():
            self._handles.append(m.register_forward_pre_hook(self._pre(name)))
            self._handles.append(m.register_forward_hook(self._post(name)))

    def _pre(self, name):
        def hook(module, args):
            synchronize(self.device)
            self._t0[name] = time.perf_counter()
        return hook

    def _post(self, name):
        def hook(module, args, out):
            synchronize(self.device)
            self.acc[name] += time.perf_counter() - self._t0[name]
        return hook

    def take(self) -> dict:
        out, self.acc = self.acc, {k: 0.0 for k in self.acc}
        return out

    def close(self):
        for h in self._handles:
            h.remove()


def _first_shapes(module, store: dict, name: str):
    """Forward hook that records the output shapes of the first call under `name`."""
    def hook(m, args, out):
        if name in store:
            return
        if isinstance(out, dict):
            out = out.get("backbone_fpn", out)
        if isinstance(out, (list, tuple)) and out and isinstance(out[0], (list, tuple)):
            out = out[0]  # FPN neck returns (features, positions)
        outs = out if isinstance(out, (list, tuple)) else [out]
        store[name] = [tuple(o.shape) for o in outs if hasattr(o, "shape")]
    return module.register_forward_hook(hook)


def _shape_hooks(model, store: dict):
    if hasattr(model, "sam_mask_decoder"):
        enc = model.image_encoder
        return [_first_shapes(enc.trunk, store, "trunk"), _first_shapes(enc.neck, store, "fpn neck"),
                _first_shapes(enc, store, "encoder output")]
    enc = model.image_encoder
    hooks = [_first_shapes(enc.patch_embed, store, "patch embed"), _first_shapes(enc, store, "encoder output")]
    hooks += [_first_shapes(b, store, f"block {i}") for i, b in enumerate(enc.blocks)]
    return hooks


def test_image(resolution: int, seed: int = 0) -> np.ndarray:
    """A fixed uint8 image (content does not change the cost of these dense networks)."""
    return (np.random.default_rng(seed).random((resolution, resolution, 3)) * 255).astype(np.uint8)


def strides(shapes: list, resolution: int, channels_last: bool = False) -> list[int]:
    """Stride of each recorded feature map: input size / map size."""
    return [int(round(resolution / (s[1] if channels_last else s[-2]))) for s in shapes]


# ----------------------------------------------------------------------------- image latency
def measure_image(model, key: str, resolution: int, device, warmup: int = 1, repeats: int = 3,
                  prompt_repeats: int = 5, compile_encoder: bool = False) -> dict:
    """Encoder latency (`set_image`: resize, normalise, image encoder; for SAM 2 also the
    high-resolution feature projections), its peak memory, prompt-to-mask latency for one point
    and one box given the embedding, and the feature shapes the encoder produced.
    Returns a dict and leaves the predictor with the image set (for the explorer / checks)."""
    import torch

    v = S.variant(key)
    if compile_encoder:
        model.image_encoder = torch.compile(model.image_encoder)
    pred = S.predictor(model)
    img = test_image(resolution)
    shapes: dict = {}
    hooks = _shape_hooks(model, shapes)
    peaks = []

    def encode():
        with PeakMemory(device) as pm:
            pred.set_image(img)
        peaks.append(pm.peak_mb)

    with S.inference(device):
        enc = time_call(encode, device, warmup=warmup, repeats=repeats)
        for h in hooks:
            h.remove()
        c = resolution / 2
        point = dict(point_coords=np.array([[c, c]]), point_labels=np.array([1]), multimask_output=True)
        box = dict(box=np.array([c / 2, c / 2, 3 * c / 2, 3 * c / 2]), multimask_output=False)
        t_point = time_call(lambda: pred.predict(**point), device, warmup=1, repeats=prompt_repeats)
        t_box = time_call(lambda: pred.predict(**box), device, warmup=1, repeats=prompt_repeats)
    timed_peaks = [p for p in peaks if p is not None]
    return {
        "variant": key, "model": v.label, "family": v.family, "resolution": resolution,
        "compiled": bool(compile_encoder), "encoder_s": enc["median_s"], "encoder_times_s": enc["times_s"],
        "peak_mem_mb": max(timed_peaks) if timed_peaks else math.nan,
        "point_s": t_point["median_s"], "box_s": t_box["median_s"],
        "point_times_s": t_point["times_s"], "box_times_s": t_box["times_s"],
        "shapes": shapes, "predictor": pred,
    }


def composed_vit_latency(key: str, resolution: int, device, warmup: int = 1, repeats: int = 1) -> dict:
    """ViT encoder latency composed from its parts, for when the whole SAM ViT-H (or L) does not
    fit the time budget: time the patch embedding, one windowed block, one global block and the
    neck on inputs of their real shapes, then total = patch + n_windowed · windowed +
    n_global · global + neck. The blocks of a kind are identical in structure and run one after
    the other, so the sum is the encoder's cost up to the position-embedding add and memory
    effects; the notebook checks the composition against a full measurement of ViT-B."""
    import torch

    model = S.build(key, meta=True, image_size=resolution)
    enc = model.image_encoder
    kinds = {"windowed": [i for i, b in enumerate(enc.blocks) if b.window_size > 0],
             "global": [i for i, b in enumerate(enc.blocks) if b.window_size == 0]}
    parts = {"patch embed": enc.patch_embed, "windowed block": enc.blocks[kinds["windowed"][0]],
             "global block": enc.blocks[kinds["global"][0]], "neck": enc.neck}
    g = torch.Generator().manual_seed(0)
    for m in parts.values():
        m.to_empty(device=device)
        with torch.no_grad():
            for p in m.parameters():  # small random weights (timing does not depend on values)
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
        m.eval()
    grid, dim = resolution // 16, enc.patch_embed.proj.out_channels
    inputs = {"patch embed": torch.randn(1, 3, resolution, resolution, generator=g),
              "windowed block": torch.randn(1, grid, grid, dim, generator=g),
              "global block": torch.randn(1, grid, grid, dim, generator=g),
              "neck": torch.randn(1, dim, grid, grid, generator=g)}
    times = {}
    with S.inference(device):
        for name, m in parts.items():
            x = inputs[name].to(device)
            times[name] = time_call(lambda: m(x), device, warmup=warmup, repeats=repeats)["median_s"]
    total = (times["patch embed"] + len(kinds["windowed"]) * times["windowed block"]
             + len(kinds["global"]) * times["global block"] + times["neck"])
    return {"variant": key, "resolution": resolution, "encoder_s": total, "parts_s": times,
            "n_windowed": len(kinds["windowed"]), "n_global": len(kinds["global"])}


# ----------------------------------------------------------------------------- video
@contextlib.contextmanager
def quiet():
    """Silence the SAM 2 package's progress bars and its known harmless warning (no compiled `_C`
    extension: hole filling in the masks is skipped), so the page shows results, not noise.
    The bars are switched off in the two package modules that create them (no stream swapping:
    that deadlocked the notebook kernel's output threads)."""
    from functools import partial
    from unittest import mock

    import sam2.sam2_video_predictor as vp_mod
    import sam2.utils.misc as misc_mod
    from tqdm import tqdm

    off = partial(tqdm, disable=True)
    with mock.patch.object(vp_mod, "tqdm", off), mock.patch.object(misc_mod, "tqdm", off), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"cannot import name '_C'")
        yield


def prompt_point(mask: np.ndarray) -> tuple[int, int]:
    """The click a careful user makes: the object pixel farthest from its boundary, (x, y)."""
    import cv2

    m = np.pad(mask.astype(np.uint8), 1)
    d = cv2.distanceTransform(m, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(x), int(y)


def measure_video(sam_key: str, sam2_key: str, frames_dir, frames: list, masks: list, n_frames: int,
                  resolution: int, device, checkpoints=None) -> dict:
    """Per-frame cost on the same N frames: SAM re-encodes and is re-prompted on every frame (a
    click on the object in each frame, from its ground-truth mask), SAM 2 is prompted once on
    frame 0 and propagates with its memory bank. Returns per-frame times and their split into
    encoder / memory attention / memory encoder / rest, the masks, and the token shape the memory
    attention received."""
    n = min(n_frames, len(frames))
    if n < 2:
        raise BenchlibError(f"{frames_dir}: need at least 2 frames for the video comparison, got {n}")
    rows, pred_masks = [], {"SAM": [], "SAM 2": []}
    # --- SAM: encode + prompt every frame
    sam = S.build(sam_key, checkpoint=S.checkpoint_path(checkpoints, sam_key), device=device, image_size=resolution)
    pred = S.predictor(sam)
    timer = ModuleTimer({"encoder": sam.image_encoder}, device)
    with S.inference(device):
        for t in range(n):
            x, y = prompt_point(masks[t] == 1) if (masks[t] == 1).any() else prompt_point(masks[0] == 1)
            synchronize(device)
            t0 = time.perf_counter()
            pred.set_image(frames[t])
            m, sc, _ = pred.predict(point_coords=np.array([[x, y]]), point_labels=np.array([1]), multimask_output=True)
            synchronize(device)
            total = time.perf_counter() - t0
            parts = timer.take()
            rows.append({"model": f"{S.variant(sam_key).label} (re-prompted each frame)", "family": "SAM",
                         "frame": t, "seconds": total, "encoder": parts["encoder"],
                         "memory attention": 0.0, "memory encoder": 0.0})
            pred_masks["SAM"].append(m[int(np.argmax(sc))])
    timer.close()
    del sam, pred
    # --- SAM 2: one click on frame 0, then propagation with the memory bank
    with quiet():
        vp = S.build(sam2_key, checkpoint=S.checkpoint_path(checkpoints, sam2_key), device=device,
                     image_size=resolution, video=True)
    mem_shapes: dict = {}

    def record(m, args, kwargs, out):
        cur = kwargs.get("curr", args[0] if args else None)
        if "curr" not in mem_shapes and cur is not None:
            cur = cur[0] if isinstance(cur, (list, tuple)) else cur
            mem_shapes["curr"] = tuple(cur.shape)
    hook = vp.memory_attention.register_forward_hook(record, with_kwargs=True)
    timer = ModuleTimer({"encoder": vp.image_encoder, "memory attention": vp.memory_attention,
                         "memory encoder": vp.memory_encoder}, device)
    x, y = prompt_point(masks[0] == 1)
    with S.inference(device), quiet():
        t0 = time.perf_counter()
        state = vp.init_state(video_path=str(frames_dir))
        vp.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=np.array([[x, y]], np.float32),
                                 labels=np.array([1], np.int32))
        synchronize(device)
        first = time.perf_counter() - t0  # loading the frames + encoding frame 0 + the prompt
        last = time.perf_counter()
        for fidx, _ids, logits in vp.propagate_in_video(state, max_frame_num_to_track=n - 1):
            synchronize(device)
            now = time.perf_counter()
            parts = timer.take()
            rows.append({"model": f"{S.variant(sam2_key).label} (one click, memory)", "family": "SAM 2",
                         "frame": fidx, "seconds": (now - last) + (first if fidx == 0 else 0.0), **parts})
            pred_masks["SAM 2"].append((logits[0, 0] > 0).cpu().numpy())
            last = time.perf_counter()
    hook.remove()
    timer.close()
    df = pd.DataFrame(rows)
    df["rest"] = df["seconds"] - df["encoder"] - df["memory attention"] - df["memory encoder"]
    return {"frames": df, "masks": pred_masks, "n_frames": n, "resolution": resolution,
            "memory_attention_input": mem_shapes.get("curr"), "sam_key": sam_key, "sam2_key": sam2_key}


def video_growth(frames: pd.DataFrame) -> pd.DataFrame:
    """Cumulative cost after N frames and mean cost per frame, per model."""
    out = []
    for (model, fam), g in frames.sort_values("frame").groupby(["model", "family"], sort=False):
        cum = g["seconds"].cumsum().to_numpy()
        for i, c in enumerate(cum, start=1):
            out.append({"model": model, "family": fam, "N": i, "total_s": c, "per_frame_s": c / i})
    return pd.DataFrame(out)


def per_frame_slope(frames: pd.DataFrame, family: str) -> float:
    """Least-squares slope of the per-frame time against the frame index (s per frame), frame 0 left out."""
    g = frames[(frames["family"] == family) & (frames["frame"] > 0)]
    if len(g) < 2:
        return math.nan
    return float(np.polyfit(g["frame"], g["seconds"], 1)[0])


# ----------------------------------------------------------------------------- architecture checks
def architecture_checks(sam2_model, sam2_meas: dict, sam_meas: dict | None, video: dict | None, seed: int = 0) -> pd.DataFrame:
    """The review's architecture statements, each checked on the built modules."""
    import torch

    rows = []
    res = sam2_meas["resolution"]
    trunk = sam2_meas["shapes"].get("trunk", [])
    st = strides(trunk, res)
    rows.append({"statement": "Hiera produces multi-scale features (strides 4, 8, 16, 32)",
                 "held": st == [4, 8, 16, 32],
                 "evidence": f"{sam2_meas['model']} trunk outputs {trunk} at {res}² -> strides {st}"})

    # FPN: change the stride-32 input and see which outputs move.
    neck = sam2_model.image_encoder.neck
    g = torch.Generator().manual_seed(seed)
    chans = [s[1] for s in trunk]
    xs = [torch.randn(s, generator=g) for s in trunk]
    with torch.inference_mode():
        base, _ = neck([x.clone() for x in xs])
        xs2 = [x.clone() for x in xs]
        xs2[3] = torch.randn(xs[3].shape, generator=g)
        pert, _ = neck(xs2)
    moved = [bool((a - b).abs().max() > 0) for a, b in zip(base, pert)]
    rows.append({"statement": "An FPN fuses the stride-16 and stride-32 features (strides 4 and 8 are not fused)",
                 "held": moved == [False, False, True, True],
                 "evidence": f"perturbing the stride-32 input (channels {chans}) changes the neck outputs at "
                             f"strides {[s for s, m in zip(st, moved) if m]} and leaves {[s for s, m in zip(st, moved) if not m]}; "
                             f"fpn_top_down_levels={list(neck.fpn_top_down_levels)}; scalp={sam2_model.image_encoder.scalp} "
                             f"drops stride 32 from the outputs"})

    # High-resolution features reach the mask decoder: perturb them, the mask changes.
    pred = sam2_meas["predictor"]
    c = res / 2
    with torch.inference_mode():
        _, _, low_a = pred.predict(point_coords=np.array([[c, c]]), point_labels=np.array([1]), multimask_output=False)
        saved = pred._features["high_res_feats"]
        pred._features["high_res_feats"] = [f + torch.randn(f.shape, generator=g).to(f) for f in saved]
        _, _, low_b = pred.predict(point_coords=np.array([[c, c]]), point_labels=np.array([1]), multimask_output=False)
        pred._features["high_res_feats"] = saved
    hr_shapes = [tuple(f.shape) for f in saved]
    changed = float(np.abs(low_a - low_b).max())
    rows.append({"statement": "Stride-4 and stride-8 features reach the mask decoder's upsampling (high-resolution skip)",
                 "held": bool(sam2_model.use_high_res_features_in_sam and changed > 0),
                 "evidence": f"use_high_res_features_in_sam={sam2_model.use_high_res_features_in_sam}; decoder gets "
                             f"{hr_shapes}; perturbing them changes the mask logits by up to {changed:.3g}"})

    if video and video.get("memory_attention_input"):
        shp = video["memory_attention_input"]
        tokens, vres = shp[0], video["resolution"]
        stride = int(round(vres / math.sqrt(tokens)))
        rows.append({"statement": "Memory attention uses only the stride-16 features (not strides 4 and 8)",
                     "held": stride == 16,
                     "evidence": f"memory attention input {shp} (tokens × batch × channels) at {vres}² -> stride {stride}"})
    else:
        rows.append({"statement": "Memory attention uses only the stride-16 features (not strides 4 and 8)",
                     "held": None, "evidence": "no video run"})

    if sam_meas is not None:
        blocks = [v for k, v in sam_meas["shapes"].items() if k.startswith("block") or k == "patch embed"]
        sst = sorted({s for b in blocks for s in strides(b, sam_meas["resolution"], channels_last=True)})
        out = sam_meas["shapes"].get("encoder output", [])
        rows.append({"statement": "SAM's ViT works at a single stride, 16",
                     "held": sst == [16] and strides(out, sam_meas["resolution"]) == [16],
                     "evidence": f"{sam_meas['model']}: patch embedding and all {len(blocks) - 1} blocks at strides {sst}; "
                                 f"output {out}"})
    return pd.DataFrame(rows)


def prompt_inputs() -> pd.DataFrame:
    """What the released prompt encoders accept (the review says SAM's takes text via CLIP)."""
    from sam2.modeling.sam.prompt_encoder import PromptEncoder as P2
    from segment_anything.modeling import PromptEncoder as P1

    rows = []
    for fam, cls in (("SAM", P1), ("SAM 2", P2)):
        args = [a for a in inspect.signature(cls.forward).parameters if a != "self"]
        rows.append({"family": fam, "inputs": ", ".join(args), "text_input": any("text" in a for a in args)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- claims
def claim_efficiency(totals_df: pd.DataFrame, lat: dict) -> tuple[str, str]:
    """SAM 2 vs SAM at like-for-like sizes: fewer parameters and a faster encoder."""
    from ..results import compare

    p = dict(zip(totals_df["variant"], totals_df["params_M"]))
    parts, verdicts = [], []
    for a, b in LIKE_FOR_LIKE:
        if a in p and b in p:
            ok = p[b] < p[a]
            verdicts.append(ok)
            parts.append(f"params {S.variant(b).label} {p[b]:.1f} M vs {S.variant(a).label} {p[a]:.1f} M ({'fewer' if ok else 'not fewer'})")
    lat_tested = False
    for a, b in LIKE_FOR_LIKE:
        if a in lat and b in lat:
            lat_tested = True
            v, ev = compare(lat[b]["encoder_times_s"], lat[a]["encoder_times_s"], label_a=f"{S.variant(b).label} s",
                            label_b=f"{S.variant(a).label} s", paired=False, higher_is_better=False)
            verdicts.append(v == "held")
            parts.append(f"encoder at {lat[b]['resolution']}²: {ev}")
    if not verdicts:
        return "not tested", "no like-for-like pair measured"
    if not lat_tested:
        parts.append("encoder latency of a like-for-like pair not measured in this profile")
        return "not tested", "; ".join(parts)
    return ("held" if all(verdicts) else "not held"), "; ".join(parts)


def claim_speedup(lat: dict, composed: dict | None, published_ratio: float, threshold: float = 5.5) -> tuple[str, str, float]:
    """The measured SAM ViT-H / SAM 2 B+ encoder-time ratio; held when ≥ threshold (6× rounded)."""
    a, b = SPEEDUP_PAIR
    if b not in lat or (a not in lat and not composed):
        return "not tested", f"{S.variant(a).label} or {S.variant(b).label} not timed in this profile", math.nan
    if a in lat:
        ta, how = lat[a]["encoder_s"], "measured whole"
    else:
        ta, how = composed["encoder_s"], (f"composed from per-block timings ({composed['n_windowed']} windowed + "
                                           f"{composed['n_global']} global blocks)")
    ratio = ta / lat[b]["encoder_s"]
    res = lat[b]["resolution"]
    ev = (f"{S.variant(a).label} {ta:.3g} s ({how}) / {S.variant(b).label} {lat[b]['encoder_s']:.3g} s at {res}², "
          f"{'compiled' if lat[b]['compiled'] else 'eager'} = {ratio:.2f}× (published {published_ratio:.2f}× on an A100, "
          f"bf16, compiled, batch 10); held if ≥ {threshold}")
    return ("held" if ratio >= threshold else "not held"), ev, ratio


def claim_video(video: dict) -> tuple[str, str]:
    """SAM 2 propagating with memory costs less per frame than SAM re-run on every frame."""
    from ..results import compare

    f = video["frames"]
    a = f[(f["family"] == "SAM 2") & (f["frame"] > 0)]
    b = f[(f["family"] == "SAM") & (f["frame"] > 0)]
    v, ev = compare(a["seconds"], b["seconds"], label_a="SAM 2 s/frame", label_b="SAM s/frame",
                    paired=False, higher_is_better=False)
    mem = (a["memory attention"] + a["memory encoder"]).mean()
    ev += (f" (frames 1–{video['n_frames'] - 1}, {video['resolution']}², {S.variant(video['sam2_key']).label} vs "
           f"{S.variant(video['sam_key']).label}); of SAM 2's frame, encoder {a['encoder'].mean():.3g} s, memory "
           f"attention + encoder {mem:.3g} s: the saving comes from the lighter image encoder, the memory itself "
           f"adds cost, and it replaces a user prompt on every frame")
    return v, ev


# ----------------------------------------------------------------------------- tables for the page
TABLE1_MEASURABLE = {
    "Computational Efficiency": "params", "Image Encoder": "shapes", "Prompt Encoder": "prompt",
    "Mask Decoder": "decoder", "Capabilities": "video", "User Interaction": "interaction",
}


def table1_measured(measured: dict) -> pd.DataFrame:
    """The review's Table 1 row by row, with what this chapter measured for that row."""
    from ..papers import load_table

    t1 = load_table(CHAPTER, "1")
    wide = t1.pivot_table(index="metric", columns="method", values="value", aggfunc="first", sort=False)
    order = list(dict.fromkeys(t1["metric"]))
    wide = wide.reindex(order)
    out = pd.DataFrame({"Feature": order, "SAM (review)": wide["SAM"].to_numpy(),
                        "SAM 2 (review)": wide["SAM 2"].to_numpy()})
    out["measured here"] = [measured.get(f, "— (not measurable: a statement about intent or the data engine)")
                            for f in order]
    return out


def published_beside_ours(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model: the published numbers (A100, SA-23, DAVIS) beside what we measured here."""
    from ..papers import load_table

    pub = load_table(CHAPTER, "published")
    pub = pub.assign(col=pub["metric"] + " · " + pub["subset"])
    wide = pub.pivot_table(index="method", columns="col", values="value", aggfunc="first")
    ours = frame[frame["table"] == "published"]
    mine = {}
    for r in ours.itertuples():
        label = "not run" if (isinstance(r.note, str) and r.note.startswith("not run")) else r.value
        mine.setdefault(r.method, {})[f"{r.metric} · {r.subset} (ours)"] = label
    our = pd.DataFrame.from_dict(mine, orient="index")
    both = wide.join(our, how="outer").rename_axis("model").reset_index()
    return both.astype(object).where(both.notna(), "")  # blank, not NaN, where a source has no number


# ----------------------------------------------------------------------------- figures
def plot_latency_vs_params(lat_df: pd.DataFrame, ax=None):
    """Encoder latency against whole-model parameters, one point per variant and family."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    for fam, mk in (("SAM", "s"), ("SAM 2", "o")):
        g = lat_df[lat_df["family"] == fam]
        ax.scatter(g["params_M"], g["encoder_s"], marker=mk, s=50, label=fam)
        for r in g.itertuples():
            ax.annotate(r.model.replace("SAM 2.1 ", "").replace("SAM ", "") + (" *" if r.how != "measured" else ""),
                        (r.params_M, r.encoder_s), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set(xscale="log", yscale="log", xlabel="parameters (M, whole model)", ylabel="image encoder time (s)",
           title="Encoder latency vs size (* composed from per-block timings)")
    ax.legend()
    return ax


def plot_video_cost(video: dict):
    """Per-frame time against the frame index, and mean time per frame after N frames."""
    import matplotlib.pyplot as plt

    f = video["frames"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for model, g in f.groupby("model", sort=False):
        axes[0].plot(g["frame"], g["seconds"], "o-", label=model)
    axes[0].set(xlabel="frame index", ylabel="seconds for this frame", title="Per-frame cost (frame 0: load + prompt)")
    for model, g in video_growth(f).groupby("model", sort=False):
        axes[1].plot(g["N"], g["per_frame_s"], "o-", label=model)
    axes[1].set(xlabel="N frames", ylabel="mean seconds per frame", title="Cost per frame for an N-frame video")
    s2 = f[(f["family"] == "SAM 2") & (f["frame"] > 0)]
    bottom = np.zeros(len(s2))
    for part in ("encoder", "memory attention", "memory encoder", "rest"):
        axes[2].bar(s2["frame"], s2[part], bottom=bottom, label=part)
        bottom += s2[part].to_numpy()
    axes[2].set(xlabel="frame index", ylabel="seconds", title="SAM 2 frame cost, split")
    for a in axes:
        a.legend(fontsize=7)
    fig.tight_layout()
    return fig


def breakdown_figure(lat_row: dict | pd.Series, image=None, click=None, mask=None):
    """The explorer's view of one variant: the image with the click (and the mask, when a
    checkpoint gives one), and the latency / memory breakdown."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 1.4]})
    if image is not None:
        axes[0].imshow(image)
        if mask is not None:
            axes[0].imshow(np.ma.masked_where(~mask, mask), alpha=0.5, cmap="autumn")
        if click is not None:
            axes[0].plot(*click, "*", color="yellow", markersize=15, markeredgecolor="k")
        axes[0].set_title("mask" if mask is not None else "click (no checkpoint: no meaningful mask)", fontsize=9)
    axes[0].axis("off")
    parts = {"image encoder": lat_row["encoder_s"], "1-point prompt → mask": lat_row["point_s"],
             "box prompt → mask": lat_row["box_s"]}
    names = list(parts)
    vals = [parts[k] for k in names]
    axes[1].barh(names, vals, color=["C0", "C1", "C2"])
    for i, v in enumerate(vals):
        axes[1].text(v, i, f" {v * 1000:.0f} ms" if v < 1 else f" {v:.2f} s", va="center", fontsize=8)
    mem = lat_row.get("peak_mem_mb", math.nan)
    axes[1].set(xscale="log", xlabel="seconds (log)",
                title=f"{lat_row['model']} at {lat_row['resolution']}²; peak memory +{mem:.0f} MiB")
    fig.tight_layout()
    return fig


def explorer(lat_df: pd.DataFrame, image: np.ndarray, predictors: dict | None = None):
    """ipywidgets: pick a variant and a click position; shows the mask when that variant was
    loaded from a checkpoint (`predictors`: variant -> predictor with `image` set), otherwise the
    latency / memory breakdown. Returns the widget."""
    import ipywidgets as widgets
    from IPython.display import display

    from ..widgets import figure_png

    predictors = predictors or {}
    h, w = image.shape[:2]
    pick = widgets.Dropdown(options=[(r.model, r.variant) for r in lat_df.itertuples()], description="variant")
    xs = widgets.IntSlider(value=w // 2, min=0, max=w - 1, description="click x", continuous_update=False)
    ys = widgets.IntSlider(value=h // 2, min=0, max=h - 1, description="click y", continuous_update=False)
    out = widgets.Image(format="png")  # not an Output widget: capturing into one can hang papermill

    def draw(*_):
        row = lat_df.set_index("variant").loc[pick.value].to_dict() | {"variant": pick.value}
        mask = None
        if pick.value in predictors:
            m, sc, _ = predictors[pick.value].predict(point_coords=np.array([[xs.value, ys.value]]),
                                                      point_labels=np.array([1]), multimask_output=True)
            mask = m[int(np.argmax(sc))].astype(bool)
        out.value = figure_png(breakdown_figure(row, image, (xs.value, ys.value), mask))

    for wdg in (pick, xs, ys):
        wdg.observe(draw, names="value")
    draw()
    box = widgets.VBox([widgets.HBox([pick, xs, ys]), out])
    display(box)
    return box


def checkpoint_status(checkpoints, keys) -> pd.DataFrame:
    """Which variants have a checkpoint file (and which file name is expected)."""
    rows = []
    for k in keys:
        p = S.checkpoint_path(checkpoints, k)
        rows.append({"variant": k, "model": S.variant(k).label, "expected file": S.CHECKPOINT_FILES[k],
                     "checkpoint": str(p) if p else "none (random weights)"})
    return pd.DataFrame(rows)


def dataset_facts() -> pd.DataFrame:
    """SA-1B vs SA-V, from the review's text (meta.json of the paper tables)."""
    from ..papers import paper_meta

    t = paper_meta(CHAPTER)["text_numbers"]
    a, v = t["SA-1B"], t["SA-V"]
    return pd.DataFrame([
        {"dataset": "SA-1B (SAM)", "media": f"{a['images_million']} M images",
         "annotations": f"{a['masks_billion']} B masks", "automatic": f"{a['automatic_mask_percent']} % of masks",
         "note": f"{a['masks_with_IoU_over_90_percent']} % of checked masks IoU > 90 %"},
        {"dataset": "SA-V (SAM 2)", "media": f"{v['videos_thousand']} K videos, {v['hours_of_footage']} h",
         "annotations": f"{v['masklets_thousand']} K masklets, {v['masks_million']} M masks",
         "automatic": f"{v['automatic_masklets_thousand']} K of {v['masklets_thousand']} K masklets",
         "note": f"{v['manual_masklets_thousand']} K manual masklets"},
    ])


# ----------------------------------------------------------------------------- run plumbing
def pick_threads(threads: int = 0) -> int:
    """Threads for torch. `threads` > 0 is used as given; 0 means the runner's budget
    ($BENCHLIB_THREADS, else all cores) capped by the cores the 1-minute load average leaves
    free (at least one). Why: on a shared CPU, OpenMP threads that wait for a descheduled
    sibling make small operations many times slower (measured here: a 1-point prompt 0.05 s with
    1 thread vs 2 s with 2 threads under a load of 9 on 2 cores), which would time the
    neighbours, not SAM. The choice is printed and stored with the run's parameters."""
    from ..torchutil import set_threads

    if threads and threads > 0:
        return set_threads(threads)
    budget = set_threads()
    cores = os.cpu_count() or 1
    free = cores - int(round(os.getloadavg()[0])) if hasattr(os, "getloadavg") else cores
    return set_threads(min(budget, free))


def latency_frame(lat: dict, composed: dict, tot: pd.DataFrame) -> pd.DataFrame:
    """One row per timed variant (measured whole or composed) with its parameter count."""
    p = dict(zip(tot["variant"], tot["params_M"]))
    rows = []
    for k, r in lat.items():
        rows.append({"variant": k, "model": r["model"], "family": r["family"], "resolution": r["resolution"],
                     "how": "measured", "encoder_s": r["encoder_s"], "peak_mem_mb": r["peak_mem_mb"],
                     "point_s": r["point_s"], "box_s": r["box_s"], "params_M": p.get(k, math.nan)})
    for k, c in composed.items():
        if k in lat:
            continue
        v = S.variant(k)
        rows.append({"variant": k, "model": v.label, "family": v.family, "resolution": c["resolution"],
                     "how": "composed", "encoder_s": c["encoder_s"], "peak_mem_mb": math.nan,
                     "point_s": math.nan, "box_s": math.nan, "params_M": p.get(k, math.nan)})
    return pd.DataFrame(rows)
