"""Retrieval metrics of FORB (arXiv 2309.16249 §3.3; pxiangwu/FORB ``metric_helper/metrics.py``,
``baselines/eval_tmap.py``).

AP@k(q) = (1 / D) · Σ_{j ≤ k} P_q(j) · rel_q(j) with P_q(j) the precision of the top j.

- ``divisor="min"``: D = min(#positives, k), the paper's Eq. 1 (a perfect top-k scores 1).
- ``divisor="all"``: D = #positives, FORB's released code (differs only when #positives > k).

Conventions where the paper is silent:

- A repeated id counts once: later occurrences are removed from the ranking, so they neither score
  nor take a rank (the ranking is read as a ranking of distinct database items). FORB's code instead
  lets a repeated positive score again and caps AP at 1; rankings from a nearest-neighbour search
  never repeat an id, so the two agree on real runs.
- An empty ranking scores 0. A query without positives raises (AP is undefined; FORB has none).
- Ids are integers or strings; positives may repeat ids (counted once).

Per-query values (:func:`average_precisions`, ``t_map_curve(...)["ap"]``) let a chapter average over
subsets (difficulty, object type) or bootstrap without recomputing.
"""

import itertools
import operator

import numpy as np

from benchlib import BenchlibError
from benchlib.metrics import as_numpy

__all__ = [
    "average_precision_at_k", "average_precisions", "map_at_k",
    "tmap_thresholds", "t_map_curve", "t_map_at_k",
]

_DIVISORS = ("min", "all")


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise BenchlibError(f"k must be an integer >= 1, got {k!r}")
    return int(k)


def _check_divisor(divisor):
    if divisor not in _DIVISORS:
        raise BenchlibError(f"unknown divisor {divisor!r}: use 'min' (paper Eq. 1) or 'all' (released code)")
    return divisor


def _as_array(values: list) -> np.ndarray:
    """A flat list of ids as an array. Plain Python ints are copied by np.fromiter, several times
    faster than np.array's type inference; anything else (str, numpy scalars, floats) goes through
    np.array, whose dtype the caller then checks."""
    if set(map(type, values)) == {int}:
        try:
            return np.fromiter(values, dtype=np.int64, count=len(values))
        except OverflowError:  # beyond int64: np.array makes an object array, refused later
            pass
    return np.array(values)


def _flatten(seqs):
    """Concatenate per-query sequences: (flat values, query index of each value, length per query).

    A (Q, L) array (e.g. a top-L search result) is used as it is; a list of arrays is concatenated;
    a list of Python sequences is chained in C. No numpy call is made per candidate.
    """
    if hasattr(seqs, "shape"):
        arr = np.asarray(seqs)
        if arr.ndim == 2:
            n, width = arr.shape
            return arr.ravel(), np.repeat(np.arange(n), width), np.full(n, width, dtype=np.int64)
    if set(map(type, seqs)) <= {list, tuple, set, frozenset, range}:
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        chained = itertools.chain.from_iterable
        flat = None
        if set(map(type, chained(seqs))) == {int}:  # plain ints: no list, no type inference
            try:
                flat = np.fromiter(chained(seqs), dtype=np.int64, count=int(lengths.sum()))
            except OverflowError:  # beyond int64: np.array makes an object array, refused later
                pass
        if flat is None:
            flat = np.array(list(chained(seqs)))
    else:
        seqs = [as_numpy(x).ravel() if hasattr(x, "shape") or hasattr(x, "detach") else np.asarray(list(x))
                for x in seqs]
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        # Empty parts left out: np.asarray([]) is float64 and would turn integer ids into floats.
        parts = [x for x in seqs if x.size]
        flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if flat.size == 0:  # an empty input says nothing about the id type
        flat = np.zeros(0, dtype=np.int64)
    return flat, np.repeat(np.arange(len(seqs)), lengths), lengths


def _id_kind(flat, what):
    if flat.size == 0:
        return None
    kind = "str" if flat.dtype.kind in "US" else "int" if flat.dtype.kind in "iu" else None
    if kind is None:
        raise BenchlibError(f"{what} must hold integer or string ids (all of one kind), got dtype {flat.dtype}")
    return kind


def _pack(rankings, positives, scores=None):
    """Pad the per-query lists into (Q, L) matrices, without a loop over candidates.

    Returns ``slot`` (one integer per distinct (query, id) pair, repeats of an id share it; None
    when no ranking repeats an id), ``rel`` (is a positive), ``score`` (-inf =
    padding, so no threshold keeps it) and ``n_pos`` (distinct positives per query).
    """
    # A whole (Q, L) tensor becomes an array first, so that len() and slicing behave like numpy.
    rankings, positives, scores = (
        as_numpy(x) if hasattr(x, "detach") else x for x in (rankings, positives, scores)
    )
    n = len(rankings)
    if n != len(positives):
        raise BenchlibError(f"{n} rankings but {len(positives)} positive sets")
    if n == 0:
        raise BenchlibError("no queries")
    ids_r, q_r, len_r = _flatten(rankings)
    ids_p, q_p, len_p = _flatten(positives)
    if (len_p == 0).any():
        raise BenchlibError(f"query {int(np.argmin(len_p))} has no positives: AP is undefined")
    kinds = {_id_kind(ids_r, "rankings"), _id_kind(ids_p, "positives")} - {None}
    if len(kinds) > 1:
        raise BenchlibError("rankings and positives mix integer and string ids")
    if ids_r.size == 0:  # all rankings empty: give them the positives' dtype so both concatenate
        ids_r = ids_r.astype(ids_p.dtype)

    # Key of each (query, id) pair: an id is a positive of its query iff the keys match. Integer ids
    # are their own codes (no sort needed) unless the keys could overflow int64.
    all_ids = np.concatenate([ids_r, ids_p])
    if all_ids.dtype.kind in "iu" and n * (int(all_ids.max()) - int(all_ids.min()) + 1) < 2**62:
        code = all_ids.astype(np.int64) - int(all_ids.min())
    else:
        code = np.unique(all_ids, return_inverse=True)[1].ravel().astype(np.int64)
    n_codes = int(code.max()) + 1
    key_r = q_r * n_codes + code[: ids_r.size]
    key_p = np.sort(q_p * n_codes + code[ids_r.size:])
    key_p = key_p[np.r_[True, key_p[1:] != key_p[:-1]]]  # distinct (query, positive) pairs
    n_pos = np.bincount(key_p // n_codes, minlength=n)

    width = max(1, int(len_r.max()))
    # Position of every candidate in the padded (Q, L) matrices, as a flat index.
    at = q_r * width + np.arange(ids_r.size) - np.repeat(np.cumsum(len_r) - len_r, len_r)
    key = np.tile(-1 - np.arange(width), n)  # padding: negative, all distinct
    key[at] = key_r
    rel = np.zeros(n * width, dtype=bool)
    found = np.minimum(np.searchsorted(key_p, key_r), key_p.size - 1)  # key_p is sorted
    rel[at] = key_p[found] == key_r
    score = np.full(n * width, -np.inf)
    if scores is None:
        score[at] = 0.0
    else:
        if len(scores) != n:
            raise BenchlibError(f"{n} rankings but {len(scores)} score lists")
        flat_s, _, len_s = _flatten(scores)
        if (len_s != len_r).any():
            q = int(np.argmax(len_s != len_r))
            raise BenchlibError(f"query {q}: {len_r[q]} ids but {len_s[q]} scores")
        if flat_s.dtype.kind not in "iuf" or np.isnan(flat_s).any():
            raise BenchlibError("scores must be real numbers without NaN")
        score[at] = flat_s
    key, rel, score = key.reshape(n, width), rel.reshape(n, width), score.reshape(n, width)
    srt = np.sort(key, axis=1)
    slot = None  # rankings from a nearest-neighbour search never repeat an id: skip the dedup
    if (srt[:, 1:] == srt[:, :-1]).any():
        slot = np.unique(key, return_inverse=True)[1].reshape(key.shape)
    return slot, rel, score, n_pos


def _ap(slot, rel, kept, n_pos, k, divisor):
    """AP@k per query of the rankings restricted to ``kept`` entries (order kept, repeats dropped)."""
    valid = kept
    if slot is not None:  # a kept entry is valid when no earlier kept entry of its query has its id
        col = np.broadcast_to(np.arange(slot.shape[1]), slot.shape)
        first = np.full(int(slot.max()) + 1, slot.shape[1])
        np.minimum.at(first, slot[kept], col[kept])
        valid = kept & (first[slot] == col)

    rank = np.cumsum(valid, axis=1)  # 1-based rank among the valid entries
    hit = valid & rel & (rank <= k)
    precision_at_hit = np.where(hit, np.cumsum(hit, axis=1) / np.maximum(rank, 1), 0.0)
    denom = np.minimum(n_pos, k) if divisor == "min" else n_pos
    return precision_at_hit.sum(axis=1) / denom


def _first_k(rankings, k):
    """Each ranking cut to its first k entries, or None when no ranking is longer than k (or the
    rankings cannot be sliced). Only AP@k without thresholds may use the cut: its first k
    distinct ids are the first k entries whenever those hold no repeated id."""
    if hasattr(rankings, "detach"):
        rankings = as_numpy(rankings)
    if hasattr(rankings, "shape") and np.ndim(rankings) == 2:
        return rankings[:, :k] if rankings.shape[1] > k else None
    if len(rankings) == 0 or not set(map(type, rankings)) <= {list, tuple, range, np.ndarray}:
        return None
    lengths = np.fromiter(map(len, rankings), dtype=np.int64, count=len(rankings))
    if lengths.max() <= k:
        return None
    if lengths.min() >= k:  # every ranking has k entries: take them without a Python loop
        take = operator.itemgetter(*range(k))
        values = list(map(take, rankings)) if k == 1 else list(itertools.chain.from_iterable(map(take, rankings)))
        return _as_array(values).reshape(len(rankings), k)
    return [r[:k] for r in rankings]


def _check_rankings(rankings, what="rankings"):
    """One ranked list per query: a (Q, L) array, or a sequence of 1-D sequences. A 1-D array or a
    (Q, L, 2) array would otherwise give a number that means nothing."""
    if hasattr(rankings, "detach"):
        rankings = as_numpy(rankings)
    if hasattr(rankings, "shape"):
        if np.ndim(rankings) != 2:
            raise BenchlibError(f"{what} must be a (queries, candidates) array, got shape {np.shape(rankings)}")
        return
    kinds = set(map(type, rankings))
    for kind in kinds - {list, tuple, range, np.ndarray}:
        sample = next(r for r in rankings if type(r) is kind)
        if isinstance(sample, (str, bytes)) or not (hasattr(sample, "__len__") or hasattr(sample, "shape")):
            raise BenchlibError(f"{what} must hold one ranked list per query, got {kind.__name__} items")
    if np.ndarray in kinds and any(isinstance(r, np.ndarray) and r.ndim != 1 for r in rankings):
        raise BenchlibError(f"each of the {what} must be a 1-D list of ids")


def average_precisions(rankings, positives, k, divisor="min"):
    """AP@k of every query, as a (Q,) float array."""
    k, divisor = _check_k(k), _check_divisor(divisor)
    _check_rankings(rankings)
    # Most of the time goes into packing the candidates, and AP@k reads only the first k distinct
    # ones: pack the first k entries, and the whole rankings only if those repeat an id.
    short = _first_k(rankings, k)
    if short is not None:
        slot, rel, score, n_pos = _pack(short, positives)
        if slot is None:
            return _ap(slot, rel, np.isfinite(score), n_pos, k, divisor)
    slot, rel, score, n_pos = _pack(rankings, positives)
    return _ap(slot, rel, np.isfinite(score), n_pos, k, divisor)


def average_precision_at_k(ranked_ids, positives, k, divisor="min"):
    """AP@k of one query (see the module docstring)."""
    return float(average_precisions([ranked_ids], [positives], k, divisor)[0])


def map_at_k(rankings, positives, k, divisor="min"):
    """mAP@k: plain mean of AP@k over queries."""
    return float(np.mean(average_precisions(rankings, positives, k, divisor)))


def tmap_thresholds(distractor_top_scores, levels=11):
    """FORB's score thresholds at false-positive rates f = 0, 1/(levels−1), …, 1.

    S = the distractor-only searches' top scores sorted ascending (−1 for an empty result, passed in
    by the caller), N = len(S); t_f = S[ceil((1−f)·N) − 1] and t = −1 for f = 1. With f = i/(levels−1)
    the ceiling is taken in integers, ceil((levels−1−i)·N / (levels−1)), so float rounding cannot move
    the index (FORB's code computes ``math.ceil((1 - fpr) * N)`` in floats; the two agree for every
    N ≤ 20,000, checked). Returns (fpr, thresholds).
    """
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise BenchlibError(f"levels must be an integer >= 2, got {levels!r}")
    s = as_numpy(distractor_top_scores).astype(np.float64).ravel()
    if s.size == 0:
        raise BenchlibError("no distractor top scores: t-mAP thresholds are undefined")
    if np.isnan(s).any():
        raise BenchlibError("distractor top scores contain NaN (use -1 for an empty result)")
    s = np.sort(s)
    steps = levels - 1
    i = np.arange(levels)
    n_keep = -(-((steps - i) * s.size) // steps)  # integer ceil
    thresholds = np.where(i == steps, -1.0, s[np.maximum(n_keep - 1, 0)])
    return i / steps, thresholds


def t_map_curve(rankings, scores, positives, distractor_top_scores, k, levels=11, divisor="min"):
    """mAP@k at each t-mAP threshold (one global set of thresholds for every query).

    Returns a dict: ``fpr`` and ``thresholds`` (levels,), ``map`` (levels,), ``ap`` (levels, Q) per
    query (for subsets / bootstrap), and ``t_map`` = mean of ``map``.
    """
    k, divisor = _check_k(k), _check_divisor(divisor)
    _check_rankings(rankings)
    _check_rankings(scores, "scores")
    fpr, thresholds = tmap_thresholds(distractor_top_scores, levels)
    slot, rel, score, n_pos = _pack(rankings, positives, scores)
    ap = np.stack([_ap(slot, rel, score >= t, n_pos, k, divisor) for t in thresholds])
    per_level = ap.mean(axis=1)
    return {"fpr": fpr, "thresholds": thresholds, "map": per_level, "ap": ap, "t_map": float(per_level.mean())}


def t_map_at_k(rankings, scores, positives, distractor_top_scores, k, levels=11, divisor="min"):
    """FORB's t-mAP@k: mean over the thresholds of mAP@k after dropping candidates with score < t."""
    return t_map_curve(rankings, scores, positives, distractor_top_scores, k, levels, divisor)["t_map"]
