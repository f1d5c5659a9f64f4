import math
from fractions import Fraction

import numpy as np
import pytest

from benchlib import BenchlibError
from benchlib.metrics.retrieval import (
    average_precision_at_k,
    average_precisions,
    map_at_k,
    t_map_at_k,
    t_map_curve,
    tmap_thresholds,
)
from tests._fakes import FakeTensor


# --- FORB divisor cases (REFERENCE.md §1) -------------------------------------------------------

def test_two_positives_ranking_1_5_2():
    # positives {1, 2}, ranking [1, 5, 2]: hits at ranks 1 and 3.
    # AP@1: P(1) = 1 -> sum 1; "all" divides by 2 -> 0.5, "min" by min(2, 1) = 1 -> 1.0
    assert average_precision_at_k([1, 5, 2], {1, 2}, 1, divisor="all") == pytest.approx(0.5)
    assert average_precision_at_k([1, 5, 2], {1, 2}, 1, divisor="min") == pytest.approx(1.0)
    # AP@5: (1/1 + 2/3)/2 = 5/6 for both divisors (min(2, 5) = 2)
    assert average_precision_at_k([1, 5, 2], {1, 2}, 5, divisor="all") == pytest.approx(5 / 6)
    assert average_precision_at_k([1, 5, 2], {1, 2}, 5, divisor="min") == pytest.approx(5 / 6)


def test_six_positives_all_in_top_5():
    # every P(j) = 1 for j = 1..5 -> sum 5; "all": 5/6 = 0.8333, "min": 5/min(6, 5) = 1
    ranking, pos = [11, 12, 13, 14, 15], {11, 12, 13, 14, 15, 16}
    assert average_precision_at_k(ranking, pos, 5, divisor="all") == pytest.approx(5 / 6)
    assert average_precision_at_k(ranking, pos, 5, divisor="min") == pytest.approx(1.0)
    assert average_precision_at_k(ranking, pos, 5) == pytest.approx(1.0)  # default is the paper's "min"


def test_single_positive_at_rank_3():
    # P(3) = 1/3 -> AP@5 = 1/3 ; AP@1 sees only rank 1 -> 0
    for d in ("min", "all"):
        assert average_precision_at_k([7, 8, 1], [1], 5, divisor=d) == pytest.approx(1 / 3)
        assert average_precision_at_k([7, 8, 1], [1], 1, divisor=d) == 0.0


def test_duplicates_count_once():
    # [1, 1, 1] with positives {1, 2}: the repeats are dropped -> [1]: P(1) = 1 -> 1/2
    # (counting the repeats as hits would give (1 + 1/2 + 1/3)/2 = 0.9167)
    assert average_precision_at_k([1, 1, 1], {1, 2}, 3) == pytest.approx(0.5)
    # [3, 1, 1, 2] -> [3, 1, 2]: P(2) = 1/2, P(3) = 2/3 -> (1/2 + 2/3)/2 = 7/12
    assert average_precision_at_k([3, 1, 1, 2], {1, 2}, 5) == pytest.approx(7 / 12)
    # repeated positives count once too: {1, 2} == [1, 1, 2]
    assert average_precision_at_k([1, 5, 2], [1, 1, 2], 1, divisor="all") == pytest.approx(0.5)


def test_empty_ranking_is_zero_and_string_ids_work():
    assert average_precision_at_k([], {1}, 5) == 0.0
    assert average_precision_at_k(["a", "b"], ["b"], 5) == pytest.approx(0.5)


def test_map_is_plain_mean_over_queries():
    # AP 1.0 and 1/3 -> mean 2/3
    assert map_at_k([[1, 2], [7, 8, 1]], [{1}, {1}], 5) == pytest.approx(2 / 3)
    np.testing.assert_allclose(average_precisions([[1, 2], [7, 8, 1]], [{1}, {1}], 5), [1.0, 1 / 3])


def _naive_ap(ranking, positives, k, divisor):
    seen, hits, total, rank = set(), 0, 0.0, 0
    for x in ranking:
        if x in seen:
            continue
        seen.add(x)
        rank += 1
        if rank > k:
            break
        if x in positives:
            hits += 1
            total += hits / rank
    pos = set(positives)
    return total / (min(len(pos), k) if divisor == "min" else len(pos))


def test_map_matches_naive_loop_on_random_rankings():
    rng = np.random.default_rng(0)
    rankings, positives = [], []
    for _ in range(200):
        rankings.append(rng.integers(0, 30, size=rng.integers(0, 15)).tolist())  # repeats included
        positives.append(set(rng.integers(0, 30, size=rng.integers(1, 7)).tolist()))
    for k in (1, 5, 10):
        for d in ("min", "all"):
            expect = np.mean([_naive_ap(r, p, k, d) for r, p in zip(rankings, positives)])
            assert map_at_k(rankings, positives, k, divisor=d) == pytest.approx(expect)


def _forb_released_map(groundtruths, candidate_ids, k):
    """mAP@k as FORB's released evaluation defines it (pxiangwu/FORB, metric_helper/metrics.py,
    get_map_at_k), restated: at each rank i < k, every query adds precision@(i+1) — the count of
    distinct ground-truth ids among its first i+1 candidates over i+1 — times the relevance of its
    candidate i; the sum is divided by max(1, #ground truth, the sum itself)."""
    total = np.zeros(len(candidate_ids))
    for i in range(k):
        for r, (gt, cand) in enumerate(zip(groundtruths, candidate_ids)):
            precision = len(np.intersect1d(gt, cand[: i + 1])) / (i + 1)
            relevant = len(cand) > i and cand[i] in gt
            total[r] += precision * relevant
    return float(np.mean(total / np.maximum(1.0, np.maximum([len(g) for g in groundtruths], total))))


@pytest.mark.parametrize("k", [1, 5, 100])
def test_map_equals_forbs_released_definition(k):
    """divisor="all" is FORB's released code, on rankings as a search returns them (no repeated id),
    of varying length (empty, shorter and longer than k) and with up to 12 positives (more than k)."""
    rng = np.random.default_rng(k)
    rankings, positives = [], []
    for _ in range(300):
        rankings.append(rng.choice(200, size=int(rng.integers(0, 120)), replace=False).tolist())
        hits = rng.choice(rankings[-1], size=min(len(rankings[-1]), int(rng.integers(0, 4))), replace=False)
        positives.append(sorted(set(hits.tolist()) | set(rng.integers(0, 200, int(rng.integers(1, 10))).tolist())))
    expect = _forb_released_map(positives, rankings, k)
    assert map_at_k(rankings, positives, k, divisor="all") == pytest.approx(expect, abs=1e-12)
    top = np.array([r[:100] + list(range(1000, 1100 - len(r[:100]))) for r in rankings])  # (Q, 100) matrix
    assert map_at_k(top, positives, k, divisor="all") == pytest.approx(
        _forb_released_map(positives, top.tolist(), k), abs=1e-12)


def test_array_and_tensor_inputs():
    # a (Q, L) top-k matrix, as a search returns it: AP 5/6 ("all") and 1/3 -> mean 7/12
    ranks = np.array([[1, 5, 2], [7, 8, 1]])
    pos = [np.array([1, 2]), [1]]
    assert map_at_k(ranks, pos, 5, divisor="all") == pytest.approx(7 / 12)
    assert map_at_k(FakeTensor(ranks), pos, 5, divisor="all") == pytest.approx(7 / 12)
    assert map_at_k(list(ranks), pos, 5, divisor="all") == pytest.approx(7 / 12)


# --- t-mAP ---------------------------------------------------------------------------------------

RANKINGS = [[10, 11, 12], [20, 21, 22], [30, 31]]
SCORES = [[0.9, 0.5, 0.4], [0.6, 0.5, 0.2], [0.3, 0.25]]
POSITIVES = [{10}, {21, 22, 23}, {31}]
DISTRACTOR_TOP = [0.3, 0.8, 0.5, 0.5, 0.28]


def test_t_map_by_hand():
    # S = [0.28, 0.3, 0.5, 0.5, 0.8], N = 5; t_f = S[ceil((10−i)·5/10) − 1]:
    #   i=0: ceil(5)=5 -> 0.8   i=1: ceil(4.5)=5 -> 0.8   i=2: 4 -> 0.5   i=3: ceil(3.5)=4 -> 0.5
    #   i=4: 3 -> 0.5 (tie)     i=5: ceil(2.5)=3 -> 0.5   i=6: 2 -> 0.3   i=7: ceil(1.5)=2 -> 0.3
    #   i=8: 1 -> 0.28          i=9: ceil(0.5)=1 -> 0.28  i=10 (f=1): -1 by rule (not S[-1] = 0.8)
    # k = 2. Q1 positives {10} (divisor 1); Q2 {21,22,23} ("min": 2, "all": 3); Q3 {31} (1).
    #   t=0.8 : Q1 [10] -> 1;  Q2 [] -> 0;  Q3 [] -> 0                         sum 1
    #   t=0.5 : Q1 [10,11] -> 1;  Q2 [20,21] (0.5 >= 0.5 kept) hit at 2: 1/2 -> 1/4 (min), 1/6 (all)
    #           Q3 [] -> 0                                                     sum 1.25 | 7/6
    #   t=0.3 : Q1 top2 [10,11] -> 1; Q2 [20,21] -> 1/4 | 1/6; Q3 [30] (tie kept, not positive) -> 0
    #   t=0.28: same lists as t=0.3                                            sum 1.25 | 7/6
    #   t=-1  : Q1 1; Q2 top2 [20,21] -> 1/4 | 1/6 (22 is at rank 3 > k); Q3 [30,31]: 1/2 -> 1/2
    #                                                                          sum 1.75 | 5/3
    curve = t_map_curve(RANKINGS, SCORES, POSITIVES, DISTRACTOR_TOP, k=2)
    np.testing.assert_allclose(curve["thresholds"], [0.8, 0.8, 0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.28, 0.28, -1])
    np.testing.assert_allclose(curve["fpr"], np.arange(11) / 10)
    np.testing.assert_allclose(curve["map"], np.array([1, 1] + [1.25] * 8 + [1.75]) / 3)
    assert curve["ap"].shape == (11, 3)
    # "min": (2·1 + 8·1.25 + 1.75)/3/11 = 13.75/33 = 5/12
    assert curve["t_map"] == pytest.approx(5 / 12)
    assert t_map_at_k(RANKINGS, SCORES, POSITIVES, DISTRACTOR_TOP, k=2) == pytest.approx(5 / 12)
    # "all": (2·1 + 8·7/6 + 5/3)/3/11 = (78/6)/33 = 13/33
    assert t_map_at_k(RANKINGS, SCORES, POSITIVES, DISTRACTOR_TOP, k=2, divisor="all") == pytest.approx(13 / 33)


def test_t_map_last_level_keeps_everything():
    # f = 1 uses threshold -1: the t-mAP curve ends at the plain mAP@k
    curve = t_map_curve(RANKINGS, SCORES, POSITIVES, DISTRACTOR_TOP, k=2)
    assert curve["map"][-1] == pytest.approx(map_at_k(RANKINGS, POSITIVES, 2))


def test_threshold_index_uses_exact_ceil():
    # S = 0, 1, ..., N−1 so that the threshold equals its index; compare with exact rationals.
    for n in range(1, 301):
        _, thr = tmap_thresholds(np.arange(n, dtype=float)[::-1])
        for i in range(10):
            assert thr[i] == math.ceil(Fraction(10 - i, 10) * n) - 1, (n, i)
        assert thr[10] == -1


def test_t_map_matches_naive_loop_on_random_data():
    rng = np.random.default_rng(1)
    rankings, scores, positives = [], [], []
    for _ in range(60):
        n = int(rng.integers(0, 10))
        rankings.append(rng.integers(0, 40, size=n).tolist())
        scores.append(np.sort(rng.random(n))[::-1].round(2).tolist())  # rounded: ties happen
        positives.append(set(rng.integers(0, 40, size=rng.integers(1, 5)).tolist()))
    distractor = rng.random(37).round(2).tolist() + [-1]
    s = sorted(distractor)
    thresholds = [s[math.ceil(Fraction(10 - i, 10) * len(s)) - 1] for i in range(10)] + [-1]
    for k, d in ((1, "min"), (5, "all"), (5, "min")):
        per_level = []
        for t in thresholds:
            kept = [[x for x, sc in zip(r, ss) if sc >= t] for r, ss in zip(rankings, scores)]
            per_level.append(np.mean([_naive_ap(r, p, k, d) for r, p in zip(kept, positives)]))
        curve = t_map_curve(rankings, scores, positives, distractor, k, divisor=d)
        np.testing.assert_allclose(curve["thresholds"], thresholds)
        np.testing.assert_allclose(curve["map"], per_level)
        assert curve["t_map"] == pytest.approx(np.mean(per_level))


# --- errors --------------------------------------------------------------------------------------

def test_bad_arguments_raise():
    with pytest.raises(BenchlibError, match="divisor"):
        average_precision_at_k([1], {1}, 1, divisor="paper")
    for k in (0, -1, 1.5, True):
        with pytest.raises(BenchlibError, match="k must be"):
            average_precision_at_k([1], {1}, k)
    with pytest.raises(BenchlibError, match="integer or string ids"):
        average_precision_at_k([1.0, 2.0], {1}, 1)
    with pytest.raises(BenchlibError, match="no positives"):
        map_at_k([[1], [2]], [{1}, set()], 1)
    with pytest.raises(BenchlibError, match="positive sets"):
        map_at_k([[1], [2]], [{1}], 1)
    with pytest.raises(BenchlibError, match="mix integer and string"):
        average_precision_at_k([1, 2], {"1"}, 1)
    with pytest.raises(BenchlibError, match="ids but"):
        t_map_at_k([[1, 2]], [[0.5]], [{1}], [0.1], 1)
    with pytest.raises(BenchlibError, match="NaN"):
        t_map_at_k([[1, 2]], [[0.5, float("nan")]], [{1}], [0.1], 1)
    with pytest.raises(BenchlibError, match="distractor"):
        t_map_at_k([[1]], [[0.5]], [{1}], [], 1)


@pytest.mark.parametrize("bad", [np.arange(5), np.zeros((3, 4, 2), int), [1, 2, 3], ["abc", "de"],
                                 [np.zeros((2, 2), int)]])
def test_rankings_of_the_wrong_shape_are_refused(bad):
    from benchlib import BenchlibError as _E

    with pytest.raises(_E, match="rank|list"):
        map_at_k(bad, [{1}] * len(bad), 5)
    with pytest.raises(_E, match="rank|list|scores"):
        t_map_at_k(bad, bad, [{1}] * len(bad), [0.5, 0.4], 5)
