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
    """Set torch's (and OpenCV's) CPU threads: `n` > 0 as given (small models often run faster on one thread
    than on two competing ones), else the runner's budget for a chapter ($BENCHLIB_THREADS),
    else all cores. Returns the number set."""
    import torch

    if n is not None and n < 0:
        raise BenchlibError(f"threads must be 0 (the runner's budget) or a positive count, got {n}")
    if not n:
        n = int(os.environ.get("BENCHLIB_THREADS") or os.cpu_count() or 1)
    n = max(1, int(n))
    torch.set_num_threads(n)
    try:  # OpenCV starts a thread per core by default: keep it in the same budget
        import cv2

        cv2.setNumThreads(n)
    except ImportError:
        pass
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


# --------------------------------------------------------------------------- resumable training
CHECKPOINT_DIR = ".checkpoints"   # under the results root: <results>/.checkpoints/<profile>/<chapter>/


def checkpoint_folder(results_root, profile: str, chapter: str) -> Path:
    """Where a chapter's training checkpoints live: beside (not inside) its results folder, which a
    successful run replaces and a failed run must not touch."""
    return Path(results_root).expanduser() / CHECKPOINT_DIR / profile / chapter


def chapter_checkpoint_dir(config, chapter: str) -> Path:
    """A chapter's checkpoint folder from its Config's `checkpoint_dir` (the user's choice), else
    `checkpoint_folder` under its `results_root` (empty: the default results folder) and `profile`."""
    if config.checkpoint_dir:
        return Path(config.checkpoint_dir).expanduser()
    from .paths import default_results_root

    return checkpoint_folder(config.results_root or default_results_root(), config.profile, chapter)


def config_hash(*parts) -> str:
    """A short hash of everything a training depends on (JSON of the parts, keys sorted); a checkpoint
    is resumed only when its hash is the one of the training asked for."""
    import hashlib
    import json

    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def files_signature(root, patterns=("**/*",)) -> list:
    """(relative path, size, mtime) of the files under `root`: part of a checkpoint's hash, so a
    changed dataset is not resumed from a training on the old one (cheap: no file is read)."""
    root = Path(root)
    out = []
    for pattern in patterns:
        for p in sorted(root.glob(pattern)):
            if p.is_file():
                st = p.stat()
                out.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns))
    return out


def rng_state(generator: np.random.Generator | None = None) -> dict:
    """Every random state a training draws from: Python, NumPy's global one, torch (CPU and CUDA)
    and, when given, the training's own NumPy Generator. Stored as plain types and tensors so that
    `torch.load(weights_only=True)` reads it back."""
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out = {"python": random.getstate(), "torch": torch.get_rng_state(),
           "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                     "has_gauss": int(has_gauss), "cached": float(cached)}}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        out["generator"] = generator.bit_generator.state
    return out


def set_rng_state(state: dict, generator: np.random.Generator | None = None) -> None:
    """Restore what `rng_state` saved (the Generator's state into `generator`)."""
    import torch

    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "generator" in state:
        generator.bit_generator.state = state["generator"]


def training_state(generator: np.random.Generator | None = None, **parts) -> dict:
    """What a checkpoint needs to resume a training bit for bit: the state dicts of `parts` (models,
    optimizers, schedulers, by the names they are saved under) and every random state (`rng_state`)."""
    return {**{name: part.state_dict() for name, part in parts.items()}, "rng": rng_state(generator)}


def restore_training_state(saved: dict, generator: np.random.Generator | None = None, **parts) -> None:
    """Load what `training_state` saved into `parts` (the same names) and restore the random states."""
    for name, part in parts.items():
        part.load_state_dict(saved[name])
    set_rng_state(saved["rng"], generator)


class TrainingCheckpoint:
    """The training state of one model and one seed, saved atomically and resumed when it matches.

    `folder/<name>.pt` holds whatever the training passes to `save` (model, optimiser, scheduler,
    epoch, early-stopping state, `rng_state()`) together with `key`, the hash of everything the
    training depends on (`config_hash`); `folder/<name>.json` is a small readable summary (epoch,
    finished or not, key, time) that `benchlib plan` lists without loading tensors. `load()`
    returns the saved state only when its key is `key`: a checkpoint of other parameters or data
    is ignored (and overwritten by the next save), never resumed. `every` > 0 saves every that
    many epochs (`due(epoch)`); 0 switches checkpointing off (`load` finds nothing, `save` does
    nothing), which costs the training nothing.

    Writes are atomic (temporary file, fsync, rename), so an interruption during a save leaves the
    previous checkpoint intact. Finished trainings are kept (a re-run of an interrupted chapter
    skips them) until the chapter calls `remove_all(folder)` after its whole run succeeded."""

    def __init__(self, folder, name: str, key: str, every: int = 1):
        if every < 0:
            raise BenchlibError(f"checkpoint interval must be 0 (off) or a number of epochs, got {every}")
        self.folder, self.name, self.key, self.every = Path(folder), name, key, int(every)

    @property
    def enabled(self) -> bool:
        return self.every > 0

    @property
    def path(self) -> Path:
        return self.folder / f"{self.name}.pt"

    @property
    def summary_path(self) -> Path:
        return self.folder / f"{self.name}.json"

    def due(self, epoch: int, last: bool = False) -> bool:
        """Save after this (1-based) epoch? Every `every` epochs, and always after the last."""
        return self.enabled and (last or epoch % self.every == 0)

    def load(self) -> dict | None:
        if not self.enabled or not self.path.is_file():
            return None
        state = load_checkpoint(self.path)
        if not isinstance(state, dict) or state.get("key") != self.key:
            return None
        return state

    def save(self, state: dict, epoch: int, finished: bool = False) -> None:
        import json
        import uuid

        import torch

        if not self.enabled:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for target, write in ((self.path, lambda f: torch.save({**state, "key": self.key, "epoch": epoch,
                                                                  "finished": finished}, f)),
                              (self.summary_path, lambda f: f.write(json.dumps(
                                  {"name": self.name, "key": self.key, "epoch": epoch, "finished": finished,
                                   "saved": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1).encode()))):
            tmp = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:6]}.tmp")
            try:
                with open(tmp, "wb") as f:
                    write(f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
            finally:
                if tmp.exists():
                    tmp.unlink()

    @staticmethod
    def remove_all(folder) -> None:
        """Delete a chapter's checkpoints (its run finished: nothing is left to resume)."""
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def list_checkpoints(folder) -> list[dict]:
    """The summaries (`<name>.json`) of the checkpoints in `folder`, sorted by name."""
    import json

    out = []
    for p in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
        try:
            out.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            out.append({"name": p.stem, "unreadable": True})
    return out
