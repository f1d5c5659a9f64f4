"""Helpers for the paper-table tests (tests/test_papers.py and tests/chapters/<id>/test_paper_tables.py):
values read from a chapter's transcribed tables, and the papers' text files in ``../shared/papers``
(re-parsed with code independent of the CSVs; tests skip, with the reason, when that folder is absent)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchlib.papers import load_table

PAPERS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "papers"
REFERENCE_MD = PAPERS_DIR.parent / "REFERENCE.md"


def value(chapter, table, method, metric, subset=""):
    df = load_table(chapter, table)
    hit = df[(df.method == method) & (df.metric == metric) & (df.subset == subset)]
    assert len(hit) == 1, (chapter, table, method, metric, subset, len(hit))
    return hit.value.iloc[0]


def paper_text(file_name: str) -> str:
    f = PAPERS_DIR / file_name
    if not f.is_file():
        pytest.skip(f"paper text {f} not available (the shared/papers folder sits beside the repo "
                    "in the authors' checkout only); text cross-checks skipped")
    return f.read_text(encoding="utf-8")


def lines_after(text: str, anchor: str) -> list[str]:
    lines = text.splitlines()
    idx = [i for i, ln in enumerate(lines) if ln.startswith(anchor)]
    assert idx, f"anchor {anchor!r} not found in the paper text"
    return lines[idx[0] + 1:]


def close(a, b, tol=1e-9):
    return math.isclose(float(a), float(b), abs_tol=tol)


def num(tok: str) -> float:
    return float(tok.replace("+", ""))


def check_table_inventory(chapter: str, expected_rows: dict, source_file: str, text_tables=()):
    """The chapter's transcribed tables: exactly `expected_rows` (table -> rows counted by hand from the
    paper's layout), each described in meta.json with that row count and the paper's text file."""
    from benchlib.papers import list_tables, paper_meta

    assert [t for _, t in list_tables(chapter)] == list(expected_rows)
    meta = paper_meta(chapter)
    assert meta["chapter"] == chapter and meta["title"] and meta["source_file"] == source_file
    for t, rows in expected_rows.items():
        assert len(load_table(chapter, t)) == rows, t
        assert meta["tables"][t]["rows"] == rows, t
        assert meta["tables"][t]["kind"] == ("text" if t in text_tables else "numeric"), t


def check_hand_values(hand: list, min_per_table: int = 3, skip=()):
    """Values read by hand from the paper, (chapter, table, method, metric, subset, value) each; at
    least `min_per_table` per numeric table of the chapter."""
    from benchlib.papers import list_tables

    counts = {}
    for chapter, table, method, metric, subset, expected in hand:
        assert close(value(chapter, table, method, metric, subset), expected), (table, method, metric, subset)
        counts[table] = counts.get(table, 0) + 1
    for _, t in list_tables(hand[0][0]):
        if t not in skip:
            assert counts.get(t, 0) >= min_per_table, t
