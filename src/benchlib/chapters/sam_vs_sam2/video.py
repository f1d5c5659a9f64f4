"""Per-frame cost of video segmentation: SAM re-run on every frame, SAM 2 re-run on every frame
without its memory, and SAM 2 prompted once and propagating with its memory bank.

The three runs go frame by frame in one loop (frame t of each, then frame t + 1 of each), so a
change in machine load hits all three alike and the per-frame times are paired. The SAM 2 runs
use the same model (same weights, same size), so "with memory" minus "re-prompted without memory"
is the memory path's own cost; SAM vs SAM 2 at like-for-like sizes is the model-level comparison.
"""
from __future__ import annotations

import contextlib
import time
import warnings

import numpy as np
import pandas as pd

from benchlib import BenchlibError
from benchlib.torchutil import synchronize

from . import models as S
from .measure import ModuleTimer
from .evaluate import prompt_point

PARTS = ("encoder", "memory attention", "memory encoder", "prompt→mask")
RUNS = {"SAM": "re-prompted each frame", "SAM 2 (no memory)": "re-prompted each frame, no memory",
        "SAM 2": "one click, memory"}


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


def _click(masks, t):
    """The user's click on frame t: inside the target where it is visible, else frame 0's click."""
    return prompt_point(masks[t] == 1) if (masks[t] == 1).any() else prompt_point(masks[0] == 1)


class Reprompted:
    """An image predictor run on every frame: set_image, then one click from that frame's mask."""

    def __init__(self, model, device):
        self.pred, self.device = S.predictor(model), device
        self.timer = ModuleTimer({"encoder": model.image_encoder}, device)

    def frame(self, image, click) -> tuple[dict, np.ndarray]:
        self.timer.take()  # the SAM 2 runs share one encoder: drop what the other run left
        synchronize(self.device)
        t0 = time.perf_counter()
        self.pred.set_image(image)
        synchronize(self.device)
        t1 = time.perf_counter()
        m, sc, _ = self.pred.predict(point_coords=np.array([click]), point_labels=np.array([1]),
                                     multimask_output=True)
        synchronize(self.device)
        t2 = time.perf_counter()
        enc = self.timer.take()["encoder"]
        return {"seconds": t2 - t0, "encoder": enc, "memory attention": 0.0, "memory encoder": 0.0,
                "prompt→mask": t2 - t1}, m[int(np.argmax(sc))]


def measure_video(sam_key: str, sam2_key: str, frames_dir, frames: list, masks: list, n_frames: int,
                  resolution: int, device, checkpoints=None) -> dict:
    """Per-frame cost of the three runs on the same N frames (see the module docstring), split
    into encoder / memory attention / memory encoder / prompt→mask / rest; the masks; and the
    token shape the memory attention received."""
    n = min(n_frames, len(frames))
    if n < 2:
        raise BenchlibError(f"{frames_dir}: need at least 2 frames for the video comparison, got {n}")
    sam = S.build(sam_key, checkpoint=S.checkpoint_path(checkpoints, sam_key), device=device, image_size=resolution)
    with quiet():
        vp = S.build(sam2_key, checkpoint=S.checkpoint_path(checkpoints, sam2_key), device=device,
                     image_size=resolution, video=True)
    runs = {"SAM": Reprompted(sam, device), "SAM 2 (no memory)": Reprompted(vp, device)}
    labels = {"SAM": S.variant(sam_key).label, "SAM 2 (no memory)": S.variant(sam2_key).label,
              "SAM 2": S.variant(sam2_key).label}
    mem_shapes: dict = {}

    def record(m, args, kwargs, out):
        cur = kwargs.get("curr", args[0] if args else None)
        if "curr" not in mem_shapes and cur is not None:
            cur = cur[0] if isinstance(cur, (list, tuple)) else cur
            mem_shapes["curr"] = tuple(cur.shape)

    hook = vp.memory_attention.register_forward_hook(record, with_kwargs=True)
    timer = ModuleTimer({"encoder": vp.image_encoder, "memory attention": vp.memory_attention,
                         "memory encoder": vp.memory_encoder}, device)
    rows, pred_masks = [], {k: [] for k in RUNS}
    with S.inference(device), quiet():
        t0 = time.perf_counter()
        state = vp.init_state(video_path=str(frames_dir))
        vp.add_new_points_or_box(state, frame_idx=0, obj_id=1, points=np.array([_click(masks, 0)], np.float32),
                                 labels=np.array([1], np.int32))
        synchronize(device)
        first = time.perf_counter() - t0  # loading the frames + encoding frame 0 + the prompt
        first_parts = timer.take()
        propagate = vp.propagate_in_video(state, max_frame_num_to_track=n - 1)
        for t in range(n):
            for fam, run in runs.items():
                row, mask = run.frame(frames[t], _click(masks, t))
                rows.append({"run": fam, "frame": t, **row})
                pred_masks[fam].append(mask)
            timer.take()  # the re-prompted SAM 2 run shares this encoder: not this run's time
            synchronize(device)
            t0 = time.perf_counter()
            fidx, _ids, logits = next(propagate)
            synchronize(device)
            parts = timer.take()
            if t == 0:
                parts = {k: v + first_parts[k] for k, v in parts.items()}
            rows.append({"run": "SAM 2", "frame": fidx, "seconds": time.perf_counter() - t0 + (first if t == 0 else 0.0),
                         **parts, "prompt→mask": 0.0})
            pred_masks["SAM 2"].append((logits[0, 0] > 0).cpu().numpy())
        propagate.close()
    hook.remove()
    timer.close()
    for r in runs.values():
        r.timer.close()
    df = pd.DataFrame(rows)
    df["model"] = [f"{labels[r]} ({RUNS[r]})" for r in df["run"]]
    df["family"] = ["SAM" if r == "SAM" else "SAM 2" for r in df["run"]]
    df["rest"] = df["seconds"] - df[list(PARTS)].sum(axis=1)
    cols = ["run", "model", "family", "frame", "seconds", *PARTS, "rest"]
    return {"frames": df[cols].sort_values(["run", "frame"], kind="stable").reset_index(drop=True),
            "masks": pred_masks, "n_frames": n, "resolution": resolution,
            "memory_attention_input": mem_shapes.get("curr"), "sam_key": sam_key, "sam2_key": sam2_key}


def per_frame(video: dict, run: str, column: str = "seconds") -> np.ndarray:
    """One run's per-frame values over frames 1…N−1 (frame 0 also loads the video and takes the
    first prompt), in frame order — paired across runs."""
    f = video["frames"]
    g = f[(f["run"] == run) & (f["frame"] > 0)].sort_values("frame")
    return g[column].to_numpy(float)


def video_growth(frames: pd.DataFrame) -> pd.DataFrame:
    """Cumulative cost after N frames and mean cost per frame, per run."""
    out = []
    for (run, model), g in frames.sort_values("frame").groupby(["run", "model"], sort=False):
        cum = g["seconds"].cumsum().to_numpy()
        for i, c in enumerate(cum, start=1):
            out.append({"run": run, "model": model, "N": i, "total_s": c, "per_frame_s": c / i})
    return pd.DataFrame(out)


def per_frame_slope(frames: pd.DataFrame, run: str) -> float:
    """Least-squares slope of the per-frame time against the frame index (s per frame), frame 0 left out."""
    g = frames[(frames["run"] == run) & (frames["frame"] > 0)]
    if len(g) < 2:
        return float("nan")
    return float(np.polyfit(g["frame"], g["seconds"], 1)[0])
