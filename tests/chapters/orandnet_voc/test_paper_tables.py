"""orandnet_voc: the paper's tables as transcribed (paper/): inventory, values read by hand, the paper's own
consistency, and cross-checks against the paper's text (re-parsed here, independently of the CSVs)."""
from __future__ import annotations

import re

from benchlib.papers import load_table, paper_meta
from tests._papers import check_hand_values, check_table_inventory, close, lines_after, num, paper_text, value

CHAPTER = "orandnet_voc"
SOURCE = "orandnet_wsss_voc.txt"
EXPECTED_ROWS = {"1": 9 * 3 + 9,  # 9 methods x 3 metrics + 9 printed increments
                 "2": 14 * 2 + 6}  # 14 methods x (val, test) + 2 'Relative to' rows (3 refs x 2)

HAND = [
    ("orandnet_voc", "1", "ViT", "mIoU", "", 53.4),
    ("orandnet_voc", "1", "Ours", "precision", "", 71.0),
    ("orandnet_voc", "1", "Naive ensemble", "recall", "", 72.2),
    ("orandnet_voc", "1", "Ours* w/IRN", "recall", "", 84.3),
    ("orandnet_voc", "1", "Ours vs Naive ensemble", "mIoU_delta", "", 5.0),
    ("orandnet_voc", "1", "Ours* vs MCTformer", "recall_delta", "", -0.9),
    ("orandnet_voc", "2", "BECO", "mIoU", "val", 73.7),
    ("orandnet_voc", "2", "IRN", "mIoU", "test", 64.8),
    ("orandnet_voc", "2", "SANCE", "mIoU", "val", 72.0),
    ("orandnet_voc", "2", "Ours*", "mIoU", "test", 72.9),
    ("orandnet_voc", "2", "Ours* vs AMN", "mIoU_delta", "val", 1.5),
]


def test_inventory_and_meta():
    check_table_inventory(CHAPTER, EXPECTED_ROWS, SOURCE, text_tables=())


def test_metric_and_subset_vocabulary():
    assert set(load_table(CHAPTER, 1).metric) == {
        "mIoU", "precision", "recall", "mIoU_delta", "precision_delta", "recall_delta"}
    assert set(load_table(CHAPTER, 2).subset) == {"val", "test"}


def test_hand_read_values():
    check_hand_values(HAND)


def test_orandnet_increments_agree_except_documented():
    bad = set()
    for t in (1, 2):
        df = load_table("orandnet_voc", t)
        for _, r in df[df.metric.str.endswith("_delta")].iterrows():
            m, ref = r.method.split(" vs ")
            base_metric = r.metric[:-len("_delta")]
            diff = value("orandnet_voc", t, m, base_metric, r.subset) - \
                value("orandnet_voc", t, ref, base_metric, r.subset)
            if abs(diff - r.value) > 0.051:
                bad.add((t, r.method, r.metric))
    assert bad == {(1, "Ours vs Naive ensemble", "mIoU_delta")}
    assert "5.3" in " ".join(paper_meta(CHAPTER)["tables"]["1"]["doubts"])


def test_text_orandnet_tables():
    text = paper_text(SOURCE)
    t1 = {ln.split("\t")[0]: ln.split("\t")[1:] for ln in lines_after(text, "Method\tmIoU\tPrecision")[:9]}
    assert len(t1) == 9
    for method, cells in t1.items():
        for metric, cell in zip(["mIoU", "precision", "recall"], cells):
            assert close(value("orandnet_voc", 1, method, metric), num(cell.split()[0]))
    assert "(+5.0)" in t1["Ours"][0] and "(+1.5, +2.2)" in t1["Ours*"][0]
    n = 0
    for ln in lines_after(text, "Method\tStg\tSup.\tVal\tTest")[:16]:
        cells = ln.split("\t")
        if cells[0].startswith("Relative"):
            continue
        name = re.sub(r"\s*\(.*\)$", "", cells[0])
        sub = load_table("orandnet_voc", 2).query("method == @name")
        assert set(sub.stage) == {cells[1]} and set(sub.supervision) == {cells[2]}
        assert close(value("orandnet_voc", 2, name, "mIoU", "val"), num(cells[3]))
        assert close(value("orandnet_voc", 2, name, "mIoU", "test"), num(cells[4]))
        n += 1
    assert n == 14
