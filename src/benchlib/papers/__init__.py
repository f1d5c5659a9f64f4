"""Loader of the papers' published tables (the files live with their chapters).

Every numeric table of a chapter's paper is transcribed once into a tidy CSV under
``benchlib/chapters/<chapter>/paper/table_<n>.csv`` (plus named tables such as
``sam_vs_sam2/paper/published.csv``) with the columns ``method, metric, subset, value``
(in that order, extra columns after them), and described in ``paper/meta.json``
(title, captions, units, how the paper's layout maps onto the rows, doubts about garbled cells).

>>> from benchlib.papers import load_table
>>> t = load_table("satellite_resnet", "II")          # same as "2" or 2
>>> float(t.query("method == 'Prop-152' and metric == 'F1' and subset == 'D12'").value.iloc[0])
67.72

Chapters are discovered (:mod:`benchlib.chapters`), so a new chapter's ``paper/`` folder is
found without editing this module.
"""

from __future__ import annotations

import copy
import io
import json
import re
from functools import lru_cache
from pathlib import Path
from numbers import Integral

import pandas as pd

from benchlib import BenchlibError

__all__ = [
    "REQUIRED_COLUMNS",
    "chapters",
    "list_tables",
    "load_table",
    "normalize_table_id",
    "paper_meta",
    "paper_value",
    "roman_to_int",
]

#: The first four columns of every table file, in this order.
REQUIRED_COLUMNS = ("method", "metric", "subset", "value")

_ROMAN_RE = re.compile(r"^M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})$")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_TABLE_FILE_RE = re.compile(r"^table_(\d+)\.csv$")
_NAMED_FILE_RE = re.compile(r"^([a-z][a-z0-9_]*)\.csv$")
_INT_RE = re.compile(r"^[+-]?\d+$")


def roman_to_int(numeral: str) -> int:
    """Convert a Roman numeral (``"II"``, ``"iv"``, ``"XIV"``) to an int; BenchlibError if invalid."""
    if not isinstance(numeral, str):
        raise BenchlibError(f"not a Roman numeral: {numeral!r}")
    s = numeral.strip().upper()
    if not s or not _ROMAN_RE.match(s):
        raise BenchlibError(f"not a valid Roman numeral: {numeral!r}")
    total = 0
    for ch, nxt in zip(s, s[1:] + " "):
        v = _ROMAN_VALUES[ch]
        total += -v if nxt != " " and _ROMAN_VALUES[nxt] > v else v
    return total


def normalize_table_id(table) -> str:
    """The table id as stored: ``2``, ``"2"``, ``"II"``, ``"Table II"`` -> ``"2"``.

    Non-numeric ids (``"published"``) are returned lower-cased. Raises BenchlibError for
    anything else (bools, floats, empty strings, invalid numerals).
    """
    if isinstance(table, bool):
        raise BenchlibError(f"table id must be a number or a string, got {table!r}")
    if isinstance(table, Integral):
        if int(table) < 1:
            raise BenchlibError(f"table number must be >= 1, got {table!r}")
        return str(int(table))
    if not isinstance(table, str):
        raise BenchlibError(
            f"table id must be an int or a string such as '2' or 'II', got {type(table).__name__} {table!r}"
        )
    s = table.strip()
    s = re.sub(r"^table[\s_]*", "", s, flags=re.IGNORECASE).strip()
    if not s:
        raise BenchlibError(f"empty table id: {table!r}")
    if re.fullmatch(r"[0-9]+", s):   # ASCII digits only: "²".isdigit() is True but int("²") fails
        if int(s) < 1:
            raise BenchlibError(f"table number must be >= 1, got {table!r}")
        return str(int(s))
    if _ROMAN_RE.match(s.upper()):
        return str(roman_to_int(s))
    if not re.fullmatch(r"[a-z][a-z0-9_]*", s.lower()):
        raise BenchlibError(f"not a table id: {table!r} (use a number, a Roman numeral or a table name)")
    return s.lower()


def _paper_dirs() -> dict[str, Path]:
    """chapter id -> its paper/ folder, in book order (chapters without one are left out)."""
    from benchlib.chapters import all_specs

    return {s.id: s.paper_dir for s in all_specs() if s.paper_dir.is_dir()}


def _sort_key(table_id: str):
    return (0, int(table_id), "") if table_id.isdigit() else (1, 0, table_id)


def _files() -> dict[str, dict[str, str]]:
    """chapter -> {table id -> file name}; ``table_<n>.csv`` is table n, ``<name>.csv`` is table name."""
    found: dict[str, dict[str, str]] = {}
    for chapter, entry in _paper_dirs().items():
        tables: dict[str, str] = {}
        for f in entry.iterdir():
            if not f.is_file():
                continue
            m = _TABLE_FILE_RE.match(f.name)
            if m:
                tables[str(int(m.group(1)))] = f.name
            elif _NAMED_FILE_RE.match(f.name) and not f.name.startswith("table_"):
                tables[f.name[:-len(".csv")]] = f.name
        if tables:
            found[chapter] = {t: tables[t] for t in sorted(tables, key=_sort_key)}
    return found


def _discover() -> dict[str, tuple[str, ...]]:
    return {c: tuple(ts) for c, ts in _files().items()}


def chapters() -> list[str]:
    """Chapter ids that have at least one table file, in book order."""
    return list(_discover())


def _check_chapter(chapter) -> str:
    available = _discover()
    if not isinstance(chapter, str) or chapter not in available:
        raise BenchlibError(
            f"unknown chapter {chapter!r}; available chapters: {', '.join(available)}"
        )
    return chapter


def list_tables(chapter: str | None = None) -> list[tuple[str, str]]:
    """Available ``(chapter, table)`` pairs, for one chapter or for all."""
    available = _discover()
    if chapter is not None:
        _check_chapter(chapter)
        return [(chapter, t) for t in available[chapter]]
    return [(c, t) for c, ts in available.items() for t in ts]


@lru_cache(maxsize=None)
def _meta(chapter: str) -> dict:
    f = _paper_dirs()[chapter] / "meta.json"
    if not f.is_file():
        return {"chapter": chapter, "tables": {}}
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchlibError(f"{chapter}/meta.json is not valid JSON: {exc}") from exc


def paper_meta(chapter: str) -> dict:
    """The chapter's ``meta.json`` (title, authors, per-table caption / unit / layout / doubts)."""
    _check_chapter(chapter)
    return copy.deepcopy(_meta(chapter))


def _convert_extra(col: pd.Series) -> pd.Series:
    values = set(col)
    if values and values <= {"True", "False"}:
        return col.map({"True": True, "False": False}).astype(bool)
    if values and all(_INT_RE.match(v) for v in values):
        return col.astype("int64")
    return col


@lru_cache(maxsize=None)
def _load(chapter: str, table_id: str) -> pd.DataFrame:
    fname = _files()[chapter][table_id]
    name = f"{chapter}/paper/{fname}"
    text = (_paper_dirs()[chapter] / fname).read_text(encoding="utf-8")
    df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if tuple(df.columns[:4]) != REQUIRED_COLUMNS:
        raise BenchlibError(
            f"{name}: the first columns must be {', '.join(REQUIRED_COLUMNS)}, found {', '.join(df.columns[:4])}"
        )
    info = _meta(chapter).get("tables", {}).get(table_id, {})
    kind = info.get("kind", "numeric")
    if kind == "numeric":
        try:
            df["value"] = pd.to_numeric(df["value"], errors="raise").astype("float64")
        except (ValueError, TypeError) as exc:
            raise BenchlibError(f"{name}: non-numeric entry in column 'value': {exc}") from exc
    for col in df.columns[4:]:
        df[col] = _convert_extra(df[col])
    if df.duplicated(list(REQUIRED_COLUMNS[:3])).any():
        dup = df[df.duplicated(list(REQUIRED_COLUMNS[:3]), keep=False)].iloc[0]
        raise BenchlibError(
            f"{name}: duplicate (method, metric, subset) = ({dup.method!r}, {dup.metric!r}, {dup.subset!r})"
        )
    df.attrs = {
        "chapter": chapter,
        "table": table_id,
        "caption": info.get("caption"),
        "unit": info.get("unit"),
        "kind": kind,
    }
    return df


def load_table(chapter: str, table) -> pd.DataFrame:
    """One published table as a tidy DataFrame.

    Columns ``method, metric, subset, value`` first (``value`` float for numeric tables, str for
    the qualitative SAM vs SAM 2 Table 1), then the table's extra columns. ``table`` is the
    paper's table number: ``2``, ``"2"`` or ``"II"`` (Roman numerals converted); non-numbered
    tables by name (``"published"`` in ``sam_vs_sam2``). ``df.attrs`` carries chapter, table,
    caption, unit and kind. Unknown chapter or table -> BenchlibError listing what exists.
    """
    _check_chapter(chapter)
    available = _discover()[chapter]
    if isinstance(table, str) and table.strip().lower() in available:
        table_id = table.strip().lower()  # a named table wins over a Roman-numeral reading
    else:
        table_id = normalize_table_id(table)
    if table_id not in available:
        raise BenchlibError(
            f"chapter {chapter!r} has no table {table!r} (normalised to {table_id!r}); "
            f"available tables: {', '.join(available)}"
        )
    df = _load(chapter, table_id).copy()
    df.attrs = copy.deepcopy(_load(chapter, table_id).attrs)
    return df


def paper_value(chapter: str, table, method: str, metric: str, subset: str = "") -> float | str:
    """The single published value for (method, metric, subset); BenchlibError if absent."""
    df = load_table(chapter, table)
    hit = df[(df["method"] == method) & (df["metric"] == metric) & (df["subset"] == subset)]
    if len(hit) != 1:
        raise BenchlibError(
            f"{chapter} table {normalize_table_id(table)}: no value for method={method!r}, "
            f"metric={metric!r}, subset={subset!r}"
        )
    v = hit["value"].iloc[0]
    return float(v) if df.attrs.get("kind") == "numeric" else str(v)
