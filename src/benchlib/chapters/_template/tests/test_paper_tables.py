"""The template paper's tables as transcribed (paper/): inventory and meta, and values read by hand
from the paper, not from the CSV (placeholders here, like the table). A real chapter adds
cross-checks against the paper's text, re-parsed independently of the CSVs (`tests._papers.paper_text`,
`lines_after`; see tests/chapters/forb_retrieval/test_paper_tables.py)."""
from benchlib.chapters._template import SPEC
from tests._papers import check_hand_values, check_table_inventory

SOURCE = "template.txt"      # the paper's text file in shared/papers
EXPECTED_ROWS = {"1": 2}     # Table 1: 2 methods × 1 column (accuracy)
HAND = [
    (SPEC.id, "1", "threshold", "accuracy", "", 84.1),
    (SPEC.id, "1", "majority", "accuracy", "", 50.2),
]


def test_template_inventory_and_meta(discovered):
    check_table_inventory(SPEC.id, EXPECTED_ROWS, SOURCE)


def test_template_values_read_by_hand(discovered):
    check_hand_values(HAND, min_per_table=2)   # Table 1 has 2 values: both read
