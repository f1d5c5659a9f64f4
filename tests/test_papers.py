"""Generic tests of benchlib.papers: every chapter's transcribed tables (shapes, columns, meta) and the
loader's API (ids, Roman numerals, errors). Per paper: tests/chapters/<id>/test_paper_tables.py."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import benchlib
import benchlib.papers as papers
from benchlib import BenchlibError
from benchlib.chapters import get
from benchlib.papers import list_tables, load_table, normalize_table_id, paper_meta, roman_to_int


def test_every_chapter_table_file_is_listed():
    for chapter in papers.chapters():
        files = sorted(p.stem.removeprefix("table_") for p in get(chapter).paper_dir.glob("*.csv"))
        ids = [t for _, t in list_tables(chapter)]
        assert sorted(normalize_table_id(f) if f[0].isdigit() else f for f in files) == sorted(ids), chapter


@pytest.mark.parametrize("chapter,table", list_tables())
def test_table_shape_columns_and_dtypes(chapter, table):
    df = load_table(chapter, table)
    assert list(df.columns[:4]) == ["method", "metric", "subset", "value"]
    assert not df.duplicated(["method", "metric", "subset"]).any()
    for col in ("method", "metric", "subset"):
        assert all(isinstance(v, str) for v in df[col]), col
    assert (df.method != "").all() and (df.metric != "").all()
    kind = paper_meta(chapter)["tables"].get(table, {}).get("kind", "numeric")
    if kind == "text":
        assert all(isinstance(v, str) and v for v in df.value)
    else:
        assert df.value.dtype == "float64" and df.value.notna().all()
    # no bold / underline / citation markers left in the labels
    for label in set(df.method) | set(df.metric) | set(df.subset):
        assert "**" not in label and "<u>" not in label and not re.search(r"\[\d+\]", label), label
    assert df.attrs["chapter"] == chapter and df.attrs["table"] == table


@pytest.mark.parametrize("chapter", papers.chapters())
def test_meta_describes_every_table(chapter):
    meta = paper_meta(chapter)
    assert meta["chapter"] == chapter and meta["title"]
    assert set(meta["tables"]) == {t for _, t in list_tables(chapter)}
    for t, info in meta["tables"].items():
        assert info["caption"] and info["layout"] and "unit" in info and "doubts" in info
        assert info["rows"] == len(load_table(chapter, t))
        assert (get(chapter).paper_dir / info["file"]).is_file()


def test_meta_and_tables_are_copies():
    chapter, table = list_tables()[0]
    m = paper_meta(chapter)
    m["tables"][table]["caption"] = "changed"
    assert paper_meta(chapter)["tables"][table]["caption"] != "changed"
    df = load_table(chapter, table)
    df.loc[0, "method"] = "changed"
    assert load_table(chapter, table).loc[0, "method"] != "changed"


@pytest.mark.parametrize("numeral,expected", [
    ("I", 1), ("II", 2), ("III", 3), ("IV", 4), ("V", 5), ("VI", 6), ("VII", 7), ("IX", 9),
    ("X", 10), ("XIV", 14), ("XL", 40), ("XCIX", 99), ("MCMXCIV", 1994), ("ii", 2), (" iii ", 3),
])
def test_roman_to_int(numeral, expected):
    assert roman_to_int(numeral) == expected


@pytest.mark.parametrize("bad", ["", "IIII", "VV", "IC", "ABC", "2", None])
def test_roman_to_int_rejects_invalid(bad):
    with pytest.raises(BenchlibError):
        roman_to_int(bad)


@pytest.mark.parametrize("given,expected", [
    (2, "2"), ("2", "2"), ("II", "2"), ("ii", "2"), ("Table II", "2"), ("table 3", "3"),
    ("III", "3"), (" 7 ", "7"), ("02", "2"), ("published", "published"), ("Published", "published"),
])
def test_normalize_table_id(given, expected):
    assert normalize_table_id(given) == expected


@pytest.mark.parametrize("bad", [True, 2.0, None, "", 0, -1, "0", ["2"]])
def test_normalize_table_id_rejects(bad):
    with pytest.raises(BenchlibError):
        normalize_table_id(bad)


def test_errors_name_what_exists():
    assert papers.BenchlibError is benchlib.BenchlibError
    with pytest.raises(BenchlibError) as err:
        load_table("no_such_chapter", 1)
    assert "no_such_chapter" in str(err.value) and all(c in str(err.value) for c in papers.chapters())
    for fn in (lambda: list_tables("nope"), lambda: paper_meta("nope"), lambda: load_table(None, 1)):
        with pytest.raises(BenchlibError):
            fn()
    chapter, _ = list_tables()[0]
    with pytest.raises(BenchlibError, match="no table 99.*available tables: " + re.escape(", ".join(
            t for _, t in list_tables(chapter)))):
        load_table(chapter, 99)
    with pytest.raises(BenchlibError):
        load_table(chapter, 1.0)


@pytest.fixture
def fake_papers(tmp_path, monkeypatch):
    """Point the loader at a temporary folder of chapters (caches cleared before and after)."""
    clear = lambda: [fn.cache_clear() for fn in (papers._meta, papers._load)]
    clear()
    (tmp_path / "demo").mkdir()
    monkeypatch.setattr(papers, "_paper_dirs", lambda: {"demo": tmp_path / "demo"})
    yield tmp_path
    monkeypatch.undo()
    clear()


def test_malformed_files_give_clear_errors(fake_papers):
    ch = fake_papers / "demo"
    (ch / "table_1.csv").write_text("method,metric,value,subset\nA,F1,1.0,\n", encoding="utf-8")
    (ch / "table_2.csv").write_text("method,metric,subset,value\nA,F1,,n/a\n", encoding="utf-8")
    (ch / "table_3.csv").write_text("method,metric,subset,value\nA,F1,,1\nA,F1,,2\n", encoding="utf-8")
    (ch / "table_4.csv").write_text("method,metric,subset,value\nA,F1,,1\n", encoding="utf-8")
    assert list_tables() == [("demo", "1"), ("demo", "2"), ("demo", "3"), ("demo", "4")]
    with pytest.raises(BenchlibError, match=r"demo/paper/table_1\.csv.*first columns"):
        load_table("demo", 1)
    with pytest.raises(BenchlibError, match=r"demo/paper/table_2\.csv.*non-numeric"):
        load_table("demo", "II")
    with pytest.raises(BenchlibError, match=r"demo/paper/table_3\.csv.*duplicate"):
        load_table("demo", "III")
    assert load_table("demo", "IV").value.tolist() == [1.0]
    assert paper_meta("demo") == {"chapter": "demo", "tables": {}}
    (ch / "meta.json").write_text("{not json", encoding="utf-8")
    papers._meta.cache_clear()
    with pytest.raises(BenchlibError, match="meta.json"):
        paper_meta("demo")


def test_roman_and_arabic_ids_load_the_same_table(fake_papers):
    (fake_papers / "demo" / "table_2.csv").write_text("method,metric,subset,value\nA,F1,,1\n", encoding="utf-8")
    a = load_table("demo", "II")
    for other in ("2", 2, "Table II", "ii"):
        pd.testing.assert_frame_equal(a, load_table("demo", other))
    assert a.attrs["table"] == "2"
    assert papers.paper_value("demo", "II", "A", "F1") == 1.0
    with pytest.raises(BenchlibError):
        papers.paper_value("demo", 2, "B", "F1")
