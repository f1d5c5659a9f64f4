"""sam_vs_sam2: the paper's tables as transcribed (paper/): inventory, values read by hand, the paper's own
consistency, and cross-checks against the paper's text (re-parsed here, independently of the CSVs)."""
from __future__ import annotations

import re

import pytest

from benchlib.papers import load_table, paper_meta
from tests._papers import REFERENCE_MD, check_hand_values, check_table_inventory, lines_after, paper_text, value

CHAPTER = "sam_vs_sam2"
SOURCE = "sam_vs_sam2.txt"
EXPECTED_ROWS = {"1": 10 * 2,  # 10 aspects x (SAM, SAM 2)
                 "published": 41}

HAND = [
    ("sam_vs_sam2", "published", "SAM ViT-H", "FPS", "image, A100", 21.7),
    ("sam_vs_sam2", "published", "SAM 2 Hiera-B+ (SA-1B)", "FPS", "image, A100", 130.1),
    ("sam_vs_sam2", "published", "SAM ViT-B", "mIoU_1click", "SA-23", 55.9),
    ("sam_vs_sam2", "published", "SAM 2 Hiera-L", "mIoU_5click", "SA-23", 83.5),
    ("sam_vs_sam2", "published", "SAM 2 Hiera-L", "J&F", "DAVIS 2017 val", 91.6),
    ("sam_vs_sam2", "published", "SAM 2.1 Hiera-L", "J&F", "SA-V test", 79.5),
    ("sam_vs_sam2", "published", "SAM 2.1 Hiera-T", "FPS", "A100, SAM 2.1 README", 91.2),
    ("sam_vs_sam2", "published", "SAM ViT-B", "params_M", "counted", 93.74),
    ("sam_vs_sam2", "published", "SAM 2.1 Hiera-B+", "params_M", "SAM 2.1 README", 80.8),
]


def test_inventory_and_meta():
    check_table_inventory(CHAPTER, EXPECTED_ROWS, SOURCE, text_tables=("1",))


def test_published_table_file_and_text_kind():
    meta = paper_meta(CHAPTER)
    assert meta["tables"]["published"]["file"] == "published.csv" and meta["tables"]["1"]["kind"] == "text"


def test_hand_read_values():
    check_hand_values(HAND, skip=("1",))


def test_sam_table1_hand_read_cells():
    assert value("sam_vs_sam2", "1", "SAM", "Objective") == "General-purpose image segmentation"
    assert value("sam_vs_sam2", "1", "SAM 2", "Computational Efficiency") == (
        "Likely optimized for better efficiency, reducing hardware requirements")
    assert value("sam_vs_sam2", "1", "SAM", "Limitations") == (
        "May struggle with very fine details or highly complex scenes; computationally intensive")
    df = load_table("sam_vs_sam2", "1")
    assert list(dict.fromkeys(df.metric)) == [
        "Objective", "User Interaction", "Applications", "Computational Efficiency", "Capabilities",
        "Image Encoder", "Prompt Encoder", "Mask Decoder", "Data Engine", "Limitations"]
    assert set(df.method) == {"SAM", "SAM 2"} and (df.subset == "").all()


def test_text_sam_table1_cells_verbatim():
    text = paper_text(SOURCE)
    rows = {ln.split("\t")[0]: ln.split("\t")[1:] for ln in lines_after(text, "Feature\tSAM (Segment")[:10]}
    df = load_table("sam_vs_sam2", 1)
    assert set(df.metric) == set(rows)
    for _, r in df.iterrows():
        assert r.value == rows[r.metric][0 if r.method == "SAM" else 1]


def test_text_published_numbers_come_from_reference_md():
    if not REFERENCE_MD.is_file():
        pytest.skip(f"{REFERENCE_MD} not available; published-number cross-check skipped")
    text = REFERENCE_MD.read_text(encoding="utf-8")
    sec3 = text[text.index("## 3. SAM and SAM 2"):text.index("## 4.")]
    printed = set(re.findall(r"\d+(?:\.\d+)?", sec3))
    df = load_table("sam_vs_sam2", "published")
    for _, r in df.iterrows():
        s = f"{r.value:g}"
        assert s in printed, (r.method, r.metric, r.subset, s)
