"""Shared torch plumbing for the chapters: device choice, seeding, threads, mixed precision,
honest timing (warm-up, CUDA synchronisation, median of repeats), parameter counts."""
from __future__ import annotations

import contextlib
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np

from . import BenchlibError


def set_threads(n: int = 0) -> int:
    """Set torch's CPU threads: `n` > 0 as given (small models often run faster on one thread
    than on two competing ones), else the runner's budget for a chapter ($BENCHLIB_THREADS),
    else all cores. Returns the number set."""
    import torch

    if n is not None and n < 0:
        raise BenchlibError(f"threads must be 0 (the runner's budget) or a positive count, got {n}")
    if not n:
        n = int(os.environ.get("BENCHLIB_THREADS") or os.cpu_count() or 1)
    n = max(1, int(n))
    torch.set_num_threads(n)
    return n


def pick_device(device: str = "auto"):
    """'auto' → CUDA when present, else CPU; an explicit device that is absent is an error."""
    import torch

    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BenchlibError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def autocast(device, enabled: bool = True):
    """bf16 autocast on CUDA (mixed precision where it helps); a no-op on the CPU."""
    import torch

    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def synchronize(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn, device="cpu", warmup: int = 1, repeats: int = 3) -> dict:
    """Median wall time of fn() after warm-up, with CUDA synchronised around each call.
    Returns {'median_s', 'min_s', 'times_s', 'peak_mem_mb' (CUDA only, else None)}."""
    import torch

    device = torch.device(device)
    for _ in range(warmup):
        fn()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(max(1, repeats)):
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": times, "peak_mem_mb": peak}


def count_parameters(module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def load_checkpoint(path, map_location="cpu"):
    """torch.load with weights_only=True and clear errors for missing / corrupt files."""
    import torch

    p = Path(path).expanduser()
    if not p.is_file():
        raise BenchlibError(f"{p}: checkpoint file not found")
    try:
        obj = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with the file named
        raise BenchlibError(f"{p}: cannot load checkpoint ({type(e).__name__}: {e})") from None
    bad = [k for k, v in _tensors(obj) if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise BenchlibError(f"{p}: {len(bad)} tensor(s) hold NaN or infinite values (first: {', '.join(bad[:3])})")
    return obj


def _tensors(obj, prefix=""):
    """(name, tensor) pairs of a (nested) checkpoint."""
    import torch

    if isinstance(obj, torch.Tensor):
        yield prefix or "tensor", obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}[{i}]")
