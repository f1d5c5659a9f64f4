"""Honest timing and memory of the SAM / SAM 2 image encoders: interleaved repeats, peak memory
per call, prompt-to-mask latency, and ViT encoders assembled from per-block timings.

Timing rules (the pitfalls users report): models are built before the clock starts; `warmup`
untimed rounds come first; CUDA is synchronised around every timed call; eager and compiled
numbers are never mixed in one comparison. The variants are timed *interleaved*: one call of
each variant per round, the order rotated every round, so a change in machine load hits every
variant alike and the per-round ratios between two variants are paired. (`torch.utils.benchmark`
was considered: its `Timer.timeit` runs two extra warm-up calls before every measurement, which
triples the cost of a 10-second encoder call, so the loop is written here.)

Peak memory per call: on CUDA the allocator's peak above the level before the call; on the CPU
the peak resident set size (RSS) above the level before the call, after glibc's `malloc_trim` has
returned freed heap memory to the system (so the call has to fault its working memory in again and
the rise does not depend on what ran before). On Linux the kernel's own high-water mark is used:
writing 5 to /proc/self/clear_refs resets VmHWM to the current RSS, and VmHWM after the call is
the exact peak, at no cost during the call. Where that is not allowed, RSS is sampled every 2 ms
from /proc/self/statm by a thread (misses spikes shorter than 2 ms, and costs ~15 % of a core
while it runs, measured here — why it is only the fallback). Both include allocator slack.

Besides the wall time, each whole-encoder call records the CPU time of the calling thread
(`time.thread_time`). With one torch thread all of the network's work runs in that thread, so on
a shared machine this is the call's own compute, without the time the thread waited for a core
(wall time is what a user sees, and what the published FPS are; CPU time is what survives
another process's load).
"""
from __future__ import annotations

import ctypes
import math
import os
import threading
import time

import numpy as np

from benchlib.torchutil import synchronize

from . import models as S


# ----------------------------------------------------------------------------- memory
def _malloc_trim() -> None:
    """Give freed heap memory back to the OS (glibc only; elsewhere a no-op)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


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

    @staticmethod
    def _reset_hwm() -> bool:
        """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where not allowed."""
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    @staticmethod
    def _hwm() -> int | None:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return None

    def __enter__(self):
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        _malloc_trim()
        self._base = self._rss()
        self._max = self._base
        self._thread = None
        self._use_hwm = self._base is not None and self._reset_hwm() and self._hwm() is not None
        if self._use_hwm:
            return self
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
        elif self._use_hwm:
            self.peak_mb = (max(self._hwm() or 0, self._base) - self._base) / 2**20
        elif self._base is not None:
            self._stop.set()
            self._thread.join()
            self._max = max(self._max, self._rss() or 0)
            self.peak_mb = (self._max - self._base) / 2**20
        return False


def weights_mb(module) -> float:
    """Memory the model's parameters and buffers occupy (MiB)."""
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()]) / 2**20


# ----------------------------------------------------------------------------- timing helpers
def timed(fn, device) -> float:
    """Wall time of one call of fn(), CUDA synchronised before and after."""
    synchronize(device)
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - t0


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
    enc = model.image_encoder
    if hasattr(model, "sam_mask_decoder"):
        return [_first_shapes(enc.trunk, store, "trunk"), _first_shapes(enc.neck, store, "fpn neck"),
                _first_shapes(enc, store, "encoder output")]
    hooks = [_first_shapes(enc.patch_embed, store, "patch embed"), _first_shapes(enc, store, "encoder output")]
    hooks += [_first_shapes(b, store, f"block {i}") for i, b in enumerate(enc.blocks)]
    return hooks


def test_image(resolution: int, seed: int = 0) -> np.ndarray:
    """A fixed uint8 image (content does not change the cost of these dense networks)."""
    return (np.random.default_rng(seed).random((resolution, resolution, 3)) * 255).astype(np.uint8)


def strides(shapes: list, resolution: int, channels_last: bool = False) -> list[int]:
    """Stride of each recorded feature map: input size / map size."""
    return [int(round(resolution / (s[1] if channels_last else s[-2]))) for s in shapes]


# ----------------------------------------------------------------------------- what is timed
class WholeEncoder:
    """One variant timed whole: `step()` runs the predictor's `set_image` (resize, normalise,
    image encoder; for SAM 2 also the projection of its high-resolution features) once and
    returns (seconds, peak MiB above the level before the call); `last_cpu_s` is the calling
    thread's CPU time of that call."""

    how = "measured"
    last_cpu_s = math.nan

    def __init__(self, model, key: str, image: np.ndarray, device, compile_encoder: bool = False):
        import torch

        if compile_encoder:
            model.image_encoder = torch.compile(model.image_encoder)
        self.key, self.model, self.image, self.device = key, model, image, device
        self.predictor = S.predictor(model)
        self.shapes: dict = {}
        self._hooks = _shape_hooks(model, self.shapes)
        self.weights_mb = weights_mb(model)

    def step(self) -> tuple[float, float | None]:
        with PeakMemory(self.device) as pm:
            c0 = time.thread_time()
            t = timed(lambda: self.predictor.set_image(self.image), self.device)
            self.last_cpu_s = time.thread_time() - c0
        for h in self._hooks:  # shapes are recorded on the first call only
            h.remove()
        self._hooks = []
        return t, pm.peak_mb


class ComposedViT:
    """A SAM ViT encoder timed from its parts, for when the whole ViT-H (or L) does not fit the
    time budget: `step()` times the patch embedding, one windowed block, one global block and
    the neck once each, on inputs of their real shapes, and returns patch + n_windowed ·
    windowed + n_global · global + neck. The blocks of a kind are identical in structure and run
    one after the other, so the sum is the encoder's cost up to the position-embedding add and
    memory effects; ViT-B, timed both ways, checks the composition."""

    how = "composed"

    def __init__(self, key: str, resolution: int, device, seed: int = 0):
        import torch

        model = S.build(key, meta=True, image_size=resolution)
        enc = model.image_encoder
        self.key, self.device = key, device
        self.n_windowed = sum(1 for b in enc.blocks if b.window_size > 0)
        self.n_global = len(enc.blocks) - self.n_windowed
        w = next(b for b in enc.blocks if b.window_size > 0)
        g = next(b for b in enc.blocks if b.window_size == 0)
        self.parts = {"patch embed": enc.patch_embed, "windowed block": w, "global block": g, "neck": enc.neck}
        gen = torch.Generator().manual_seed(seed)
        for m in self.parts.values():
            m.to_empty(device=device)
            with torch.no_grad():
                for p in m.parameters():  # small random weights (timing does not depend on values)
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            m.eval()
        grid, dim = resolution // 16, enc.patch_embed.proj.out_channels
        self.inputs = {"patch embed": torch.randn(1, 3, resolution, resolution, generator=gen),
                       "windowed block": torch.randn(1, grid, grid, dim, generator=gen),
                       "global block": torch.randn(1, grid, grid, dim, generator=gen),
                       "neck": torch.randn(1, dim, grid, grid, generator=gen)}
        self.inputs = {k: v.to(device) for k, v in self.inputs.items()}
        self.parts_s: dict = {k: [] for k in self.parts}
        self.shapes: dict = {}
        self.weights_mb = math.nan  # the whole model is never materialised
        self.predictor = None

    def step(self) -> tuple[float, None]:
        t = {name: timed(lambda: m(self.inputs[name]), self.device) for name, m in self.parts.items()}
        for name, v in t.items():
            self.parts_s[name].append(v)
        total = (t["patch embed"] + self.n_windowed * t["windowed block"]
                 + self.n_global * t["global block"] + t["neck"])
        return total, None


def interleaved(timers: dict, rounds: int, warmup: int, device) -> dict:
    """Run `warmup` untimed rounds, then `rounds` timed rounds; in each round every timer's
    `step()` runs once, the order rotated by one position per round (no variant always runs
    first, or always after the same neighbour). Returns {key: {"times_s": [...], "peak_mb": [...],
    "cpu_s": [...]}} with entry i of every key from round i (paired across variants); `cpu_s` is
    the timer's `last_cpu_s` (NaN for timers without one, e.g. composed ones)."""
    keys = list(timers)
    out = {k: {"times_s": [], "peak_mb": [], "cpu_s": []} for k in keys}
    with S.inference(device):
        for r in range(warmup + max(1, rounds)):
            shift = r % len(keys)
            for k in keys[shift:] + keys[:shift]:
                t, mem = timers[k].step()
                if r >= warmup:
                    out[k]["times_s"].append(t)
                    out[k]["peak_mb"].append(math.nan if mem is None else mem)
                    out[k]["cpu_s"].append(getattr(timers[k], "last_cpu_s", math.nan))
    return out


def prompt_latency(predictor, resolution: int, device, repeats: int = 5) -> dict:
    """Seconds per `predict` for one point and for one box, given the stored embedding (the part
    that runs on every click), after one untimed call each."""
    c = resolution / 2
    point = dict(point_coords=np.array([[c, c]]), point_labels=np.array([1]), multimask_output=True)
    box = dict(box=np.array([c / 2, c / 2, 3 * c / 2, 3 * c / 2]), multimask_output=False)
    out = {}
    with S.inference(device):
        for name, kw in (("point", point), ("box", box)):
            predictor.predict(**kw)
            out[name] = [timed(lambda: predictor.predict(**kw), device) for _ in range(max(1, repeats))]
    return out
