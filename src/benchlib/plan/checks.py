"""The data and weight checks of a chapter's `check(ctx)`: each through the chapter's own loader."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .. import BenchlibError
from .types import DataCheck, WeightCheck


def check_data(parameter: str, base, *, name: str, layout: str, find: Callable, validate: Callable) -> DataCheck:
    """`find(base)` → the folder the chapter would read, or None; `validate(folder)` → (counts,
    notes), through the chapter's real loaders (a BenchlibError there is the problem shown)."""
    base = Path(base).expanduser()
    try:
        folder = find(base) if base.is_dir() else None
    except BenchlibError as e:
        return DataCheck(name, parameter, str(base), "invalid", problems=[str(e)], layout=layout)
    if folder is None:
        return DataCheck(name, parameter, str(base), "missing", layout=layout)
    try:
        counts, notes = validate(Path(folder))
    except BenchlibError as e:
        return DataCheck(name, parameter, str(folder), "invalid", problems=[str(e)], layout=layout)
    return DataCheck(name, parameter, str(folder), "found", dict(counts), layout=layout, notes=list(notes))


def check_weight(parameter: str, value, load: Callable, needed_for: str = "") -> WeightCheck:
    """`value` empty → "not set"; else `load(path)` (the chapter's own loader, which raises a
    BenchlibError naming the problem) decides between "loads" and "invalid"."""
    if not value:
        return WeightCheck(parameter, "", "not set", needed_for)
    try:
        detail = load(value) or ""
    except BenchlibError as e:
        return WeightCheck(parameter, str(value), "invalid", needed_for, str(e))
    return WeightCheck(parameter, str(value), "loads", needed_for, str(detail))
