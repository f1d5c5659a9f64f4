"""cosaliency: the paper's tables as transcribed (paper/): inventory, values read by hand, the paper's own
consistency, and cross-checks against the paper's text (re-parsed here, independently of the CSVs)."""
from __future__ import annotations

from benchlib.papers import load_table
from tests._papers import check_hand_values, check_table_inventory, close, lines_after, paper_text, value

CHAPTER = "cosaliency"
SOURCE = "cosaliency_single_image.txt"
EXPECTED_ROWS = {"1": 7, "2": 9 * 8}

HAND = [
    ("cosaliency", "1", "U-Net", "F-measure", "", 82.4),
    ("cosaliency", "1", "U-Net + DA", "F-measure", "", 83.2),
    ("cosaliency", "1", "U-Net + FS + RFM (offline)", "F-measure", "", 88.1),
    ("cosaliency", "1", "U-Net + DA + FS + RFM (online)", "F-measure", "", 90.4),
    ("cosaliency", "2", "FT", "F-measure", "our_dataset", 0.536),
    ("cosaliency", "2", "Ours (online)", "F-measure", "SDCS", 0.911),
    ("cosaliency", "2", "DCL", "MAE", "our_dataset", 0.059),
    ("cosaliency", "2", "LFM", "recall", "SDCS", 0.85),
    ("cosaliency", "2", "PiCANet", "precision", "our_dataset", 0.83),
]


def test_inventory_and_meta():
    check_table_inventory(CHAPTER, EXPECTED_ROWS, SOURCE, text_tables=())


def test_metric_and_subset_vocabulary():
    assert set(load_table(CHAPTER, 2).metric) == {"F-measure", "recall", "precision", "MAE"}
    assert set(load_table(CHAPTER, 2).subset) == {"our_dataset", "SDCS"}


def test_hand_read_values():
    check_hand_values(HAND)


def test_cosaliency_ablation_agrees_with_table2():
    t1 = load_table("cosaliency", 1)
    assert close(value("cosaliency", 1, "U-Net", "F-measure") / 100,
                 value("cosaliency", 2, "U-Net", "F-measure", "our_dataset"))
    assert close(value("cosaliency", 1, "U-Net + DA + FS + RFM (offline)", "F-measure") / 100,
                 value("cosaliency", 2, "Ours (offline)", "F-measure", "our_dataset"))
    assert close(value("cosaliency", 1, "U-Net + DA + FS + RFM (online)", "F-measure") / 100,
                 value("cosaliency", 2, "Ours (online)", "F-measure", "our_dataset"))
    # reconstructed check-mark counts: DA 4, FS 5, offline 2, online 1
    assert t1.data_augmentation.sum() == 4 and t1.feature_sensitive_block.sum() == 5
    assert (t1.rfm_training == "offline").sum() == 2 and (t1.rfm_training == "online").sum() == 1
    assert list(t1.column) == list(range(1, 8))
    # "U-net improves 0.8% when training it with data augmentation"
    assert close(value("cosaliency", 1, "U-Net + DA", "F-measure") - value("cosaliency", 1, "U-Net", "F-measure"),
                 0.8, 1e-9)


def test_text_cosaliency_tables():
    text = paper_text(SOURCE)
    fm = [ln for ln in text.splitlines() if ln.startswith("F-measure (%)")]
    assert len(fm) == 1
    digits = fm[0].split()[2:]
    df1 = load_table("cosaliency", 1).sort_values("column")
    assert [int(round(v * 10)) for v in df1.value] == [int(d) for d in digits]
    rows = lines_after(text, "Method Our Dataset")[1:10]
    cols = [("our_dataset", "F-measure"), ("our_dataset", "recall"), ("our_dataset", "precision"),
            ("our_dataset", "MAE"), ("SDCS", "F-measure"), ("SDCS", "recall"), ("SDCS", "precision"),
            ("SDCS", "MAE")]
    methods = list(dict.fromkeys(load_table("cosaliency", 2).method))
    assert len(rows) == len(methods) == 9
    for ln, method in zip(rows, methods):
        assert ln.startswith(method + " ")
        toks = ln.split()[-8:]
        for (s, m), tok in zip(cols, toks):
            expected = 0.911 if tok == "0911" else float(tok)  # decimal point lost in extraction
            assert close(value("cosaliency", 2, method, m, s), expected), (method, m, s)
