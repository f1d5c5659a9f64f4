"""forb_retrieval: the paper's tables as transcribed (paper/): inventory, values read by hand, the paper's own
consistency, and cross-checks against the paper's text (re-parsed here, independently of the CSVs)."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from benchlib.papers import load_table
from tests._papers import check_hand_values, check_table_inventory, lines_after, paper_text, value

CHAPTER = "forb_retrieval"
SOURCE = "forb_supplementary.txt"
EXPECTED_ROWS = {"1": 12 * 8, "2": 12 * 8 * 2, "3": 12 * 8, "4": 12 * 8, "5": 12 * 8 * 2, "6": 12 * 8 * 2, "7": 10}
FORB_METHODS = ["BoW", "BoW (+ rerank)", "FIRe", "DELG", "DELG (+ rerank)", "CLIP", "SLIP", "BLIP",
                "BLIP2", "DINO", "DINOv2", "DiHT"]
FORB_TYPES = ["animated_cards", "photorealistic_cards", "bookcovers", "paintings", "currency",
              "logos", "packaged_goods", "movie_posters"]

HAND = [
    ("forb_retrieval", "1", "FIRe", "mAP@1", "overall", 86.57),
    ("forb_retrieval", "1", "CLIP", "mAP@1", "hard", 65.64),
    ("forb_retrieval", "1", "SLIP", "t-mAP@1", "hard", 6.47),
    ("forb_retrieval", "1", "DiHT", "t-mAP@1", "overall", 57.90),
    ("forb_retrieval", "2", "BoW", "mAP@1", "logos", 25.73),
    ("forb_retrieval", "2", "DINOv2", "t-mAP@1", "logos", 1.18),
    ("forb_retrieval", "2", "CLIP", "mAP@1", "bookcovers", 98.63),
    ("forb_retrieval", "2", "FIRe", "t-mAP@1", "movie_posters", 70.21),
    ("forb_retrieval", "3", "FIRe", "mAP@5", "overall", 90.22),
    ("forb_retrieval", "3", "CLIP", "mAP@5", "hard", 72.51),
    ("forb_retrieval", "3", "DINO", "t-mAP@5", "easy", 74.51),
    ("forb_retrieval", "4", "BoW (+ rerank)", "mAP@1", "overall", 82.04),
    ("forb_retrieval", "4", "DELG", "t-mAP@1", "hard", 15.59),
    ("forb_retrieval", "4", "DiHT", "mAP@1", "easy", 95.69),
    ("forb_retrieval", "5", "CLIP", "mAP@5", "bookcovers", 99.38),
    ("forb_retrieval", "5", "BLIP", "t-mAP@5", "logos", 25.35),
    ("forb_retrieval", "5", "DELG (+ rerank)", "mAP@5", "paintings", 46.96),
    ("forb_retrieval", "6", "FIRe", "mAP@1", "animated_cards", 92.43),
    ("forb_retrieval", "6", "SLIP", "t-mAP@1", "animated_cards", 22.36),
    ("forb_retrieval", "6", "DINOv2", "mAP@1", "logos", 5.15),
    ("forb_retrieval", "7", "BoW (+ rerank)", "index_size_GB", "", 22.141),
    ("forb_retrieval", "7", "FIRe", "index_size_GB", "", 0.563),
    ("forb_retrieval", "7", "BLIP2", "index_size_GB", "", 0.054),
    ("forb_retrieval", "7", "DiHT", "index_size_GB", "", 0.160),
]


def test_inventory_and_meta():
    check_table_inventory(CHAPTER, EXPECTED_ROWS, SOURCE, text_tables=())


def test_metric_and_subset_vocabulary():
    for t, k in [(1, 1), (3, 5), (4, 1)]:
        df = load_table(CHAPTER, t)
        assert set(df.subset) == {"overall", "easy", "medium", "hard"}
        assert set(df.metric) == {f"mAP@{k}", f"t-mAP@{k}"}
        assert list(dict.fromkeys(df.method)) == FORB_METHODS
    for t, k in [(2, 1), (5, 5), (6, 1)]:
        df = load_table(CHAPTER, t)
        assert set(df.subset) == set(FORB_TYPES)
        assert set(df.metric) == {f"mAP@{k}", f"t-mAP@{k}"}
    pd.testing.assert_frame_equal(load_table(CHAPTER, "VII"), load_table(CHAPTER, 7))


def test_hand_read_values():
    check_hand_values(HAND)


def test_forb_dagger_column():
    t1, t3 = load_table("forb_retrieval", 1), load_table("forb_retrieval", 3)
    assert set(t1[t1.dagger].method) == {"CLIP", "BLIP", "BLIP2", "DiHT"}
    assert set(t3[t3.dagger].method) == {"CLIP"}
    assert set(t1.dataset) == {"FORB"} and set(t3.dataset) == {"reduced FORB"}


def test_forb_sanity():
    for t in (1, 3, 4):
        df = load_table("forb_retrieval", t)
        for (m, met), g in df.groupby(["method", "metric"]):
            s = g.set_index("subset").value
            assert s.easy >= s.medium >= s.hard, (t, m, met)
            assert min(s.easy, s.hard) <= s.overall <= max(s.easy, s.hard), (t, m, met)
    for t in range(1, 7):
        df = load_table("forb_retrieval", t)
        wide = df.pivot_table(index=["method", "subset"], columns="metric", values="value")
        k = "5" if t in (3, 5) else "1"
        assert (wide[f"t-mAP@{k}"] <= wide[f"mAP@{k}"]).all(), t
        assert df.value.between(0, 100).all()


FORB_ROW = re.compile(r"^(?P<name>.+?)\s*(?P<dagger>\[†\]\s*)?\[\d+\]\s+(?P<rest>.*)$")


@pytest.mark.parametrize("table", [1, 2, 3, 4, 5, 6])
def test_text_forb_tables(table):
    text = paper_text(SOURCE)
    k = "5" if table in (3, 5) else "1"
    found = []
    for ln in lines_after(text, f"Table {table}:"):
        m = FORB_ROW.match(ln)
        if m and m.group("name") in FORB_METHODS:
            found.append(m)
        if len(found) == 12:
            break
    assert [m.group("name") for m in found] == FORB_METHODS
    for m in found:
        name = m.group("name")
        nums = [float(x) for x in re.findall(r"\d+\.\d+", m.group("rest"))]
        assert value("forb_retrieval", table, name, f"mAP@{k}", "overall" if table in (1, 3, 4) else "animated_cards") \
            == nums[0]
        if table in (1, 3, 4):
            assert len(nums) == 8
            for j, v in enumerate(nums):
                metric = f"mAP@{k}" if j < 4 else f"t-mAP@{k}"
                assert value("forb_retrieval", table, name, metric,
                             ["overall", "easy", "medium", "hard"][j % 4]) == v
        else:
            assert len(nums) == 16
            for j, v in enumerate(nums):
                metric = f"mAP@{k}" if j % 2 == 0 else f"t-mAP@{k}"
                assert value("forb_retrieval", table, name, metric, FORB_TYPES[j // 2]) == v
        df = load_table("forb_retrieval", table)
        assert set(df[df.method == name].dagger) == {bool(m.group("dagger"))}


def test_text_forb_table7():
    text = paper_text(SOURCE)
    lines = lines_after(text, "Table 7:")[:5]
    sizes = []
    for ln in lines:
        if ln.startswith("Method\t"):
            names = [re.sub(r"\s*\[\d+\]$", "", c) for c in ln.split("\t")[1:]]
        elif ln.startswith("Index file size\t"):
            sizes += list(zip(names, [float(c.replace(" GB", "")) for c in ln.split("\t")[1:]]))
    assert len(sizes) == 10
    for name, gb in sizes:
        assert value("forb_retrieval", 7, name, "index_size_GB") == gb
