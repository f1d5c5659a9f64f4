"""Scoring FORB's searches against the ground truth: per query, AP@k and t-AP@k (the mean of AP@k
over FORB's 11 thresholds), under both AP divisors, for every run of every method; and the query
subsets that the paper's tables pool (overall, per difficulty, per object type)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchlib.metrics.retrieval import average_precisions, t_map_curve

from .data import DIFFICULTIES, OBJECT_TYPES

KS = (1, 5)
DIVISORS = ("min", "all")   # AP@k ÷ min(m_q, k) (the paper's Eq. 1) or ÷ m_q (its released code)


@dataclass
class Scores:
    ap: np.ndarray      # (Q,) AP@k
    tap: np.ndarray     # (Q,) per-query AP@k averaged over the 11 thresholds (mean = t-mAP@k)
    curve: dict         # t_map_curve output (fpr, thresholds, map per level)


def score_runs(runs: dict, queries, ks=KS, divisors=DIVISORS) -> dict:
    """(method, k, divisor) → [Scores] (one per run of the method). One global set of thresholds
    per run, from all queries' distractor-only searches (REFERENCE.md §1)."""
    pos = queries["positives"].tolist()
    out = {}
    for name, per_seed in runs.items():
        for k in ks:
            for d in divisors:
                out[name, k, d] = []
                for r in per_seed:
                    ap = average_precisions(r.ids, pos, k, d)
                    c = t_map_curve(r.ids, r.scores, pos, r.distractor_top, k, divisor=d)
                    out[name, k, d].append(Scores(ap, c["ap"].mean(0), c))
    return out


def subsets(queries: pd.DataFrame, breakdown: str) -> dict:
    """Subset name → boolean mask over queries (the paper pools queries: 'overall' is not a mean of
    per-type numbers)."""
    if breakdown == "difficulty":
        out = {"overall": np.ones(len(queries), bool)}
        out.update({d: (queries["difficulty"] == d).to_numpy() for d in DIFFICULTIES})
    else:
        out = {t: (queries["object_type"] == t).to_numpy() for t in OBJECT_TYPES}
    return {k: v for k, v in out.items() if v.any()}
