"""Real data if the user has it, else a seeded synthetic twin written once in the same format.

Every chapter resolves its data through `resolve()` and writes its twin through
`ensure_twin()`, so the rules are the same everywhere: a twin folder is named after its
generator, version and settings; it is written into a temporary sibling and renamed into
place (a crash or a concurrent writer never leaves half a twin); a finished twin carries a
marker file with its settings and is reused afterwards.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import BenchlibError

MARKER = "benchlib-twin.json"


@dataclass(frozen=True)
class Dataset:
    """A resolved dataset: the folder a loader reads, and the name result rows carry."""

    root: Path
    name: str
    is_twin: bool


def twin_folder(base, name: str, version, settings: dict) -> Path:
    """`<base>/<name>-<hash of version and settings>`: profiles never share or overwrite a twin,
    and a new generator version gets a new folder."""
    blob = json.dumps({"version": version, **settings}, sort_keys=True, default=str)
    return Path(base).expanduser() / f"{name}-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"


def ensure_twin(base, name: str, version, settings: dict, write: Callable[[Path], None]) -> Path:
    """The twin's folder, written on first use by `write(folder)` and reused afterwards."""
    final = twin_folder(base, name, version, settings)
    if (final / MARKER).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(final)
    tmp = final.with_name(f".{final.name}.{os.getpid()}-{uuid.uuid4().hex[:6]}.tmp")
    try:
        tmp.mkdir()
        write(tmp)
        (tmp / MARKER).write_text(json.dumps({"generator": name, "version": version, **settings},
                                             indent=1, sort_keys=True, default=str), encoding="utf-8")
        if final.exists() and not (final / MARKER).is_file():
            shutil.rmtree(final)  # a leftover without the marker is not a twin
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / MARKER).is_file():  # lost a race against a complete twin: use it
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def clean_stale_temps(final: Path) -> list[Path]:
    """Remove half-written twins `.<name>.<pid>-<hex>.tmp` of processes that are gone."""
    removed = []
    for p in final.parent.glob(f".{final.name}.*.tmp"):
        pid = p.name[len(final.name) + 2:].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resolve(data_root, *, find_real: Callable[[Path], Path | None], real_name: str,
            twin_name: str, twin_version, twin_settings: dict, write_twin: Callable[[Path], None],
            seed: int | None = None) -> Dataset:
    """The real dataset when `find_real(data_root)` finds its layout there (it returns the folder
    the loader reads), else the twin written under `data_root` (default: the benchlib data cache).

    `real_name` names real rows (e.g. "PASCAL VOC 2012"); twin rows say "<twin_name> twin, seed N".
    """
    from .paths import default_data_root

    base = Path(data_root).expanduser() if data_root else default_data_root()
    if data_root:
        real = find_real(base)
        if real is not None:
            return Dataset(Path(real), f"{real_name} at {base}", False)
    folder = ensure_twin(base, twin_name, twin_version, twin_settings, write_twin)
    label = f"{twin_name} twin" + (f", seed {seed}" if seed is not None else "")
    return Dataset(folder, label, True)


def describe(datasets) -> str:
    """One name for the data of several seeds: "synth-x twin, seeds 0, 1, 2" (twins of one
    generator), or the distinct names joined."""
    names = list(dict.fromkeys(d.name for d in datasets))
    if len(names) > 1 and all(d.is_twin for d in datasets):
        stems = {n.rsplit(", seed ", 1)[0] for n in names}
        if len(stems) == 1:
            return f"{stems.pop()}, seeds {', '.join(n.rsplit(', seed ', 1)[1] for n in names)}"
    return "; ".join(names)


def require(condition: bool, path, problem: str) -> None:
    """Raise the standard loader error: the file and what is wrong with it."""
    if not condition:
        raise BenchlibError(f"{path}: {problem}")
