"""Speed of benchlib.metrics against straightforward pure-Python loops, in the same process.

Run: ``python benchmarks/bench_metrics.py``. For each metric, both versions run on the same
seeded inputs, the numbers are checked to agree, and the times and the speed-up are printed.
``map_at_k`` is set against FORB's released evaluation loop and a plain per-query loop at k = 1,
5 and 100, on Python lists and on a (Q, L) array. Takes about a minute on 2 CPU cores.
"""

import math
import sys
import time
from pathlib import Path

import numpy as np

try:
    import benchlib  # noqa: F401
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from benchlib.metrics import retrieval, saliency, segmentation  # noqa: E402

BETA2 = 0.3


def best_time(fn, min_total=0.2, min_repeats=3, max_repeats=50):
    """Best wall time of fn() over repeats: at least min_repeats runs, more until min_total seconds."""
    times, result = [], None
    while len(times) < min_repeats or (sum(times) < min_total and len(times) < max_repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


# --- reference loops -------------------------------------------------------------------------------

def ref_segmentation(preds, targets, c, ignore=255):
    cm = [[0] * c for _ in range(c)]
    for pred, target in zip(preds, targets):
        for p, t in zip(pred.ravel().tolist(), target.ravel().tolist()):
            if t != ignore:
                cm[t][p] += 1
    iou, prec, rec = [], [], []
    for k in range(c):
        tp = cm[k][k]
        row = sum(cm[k])
        col = sum(cm[i][k] for i in range(c))
        if row + col - tp:
            iou.append(tp / (row + col - tp))
        if col:
            prec.append(tp / col)
        if row:
            rec.append(tp / row)
    return [sum(iou) / len(iou), sum(prec) / len(prec), sum(rec) / len(rec)]


def ref_binary(pred, target):
    tp = fp = fn = tn = 0
    for p, t in zip(pred.ravel().tolist(), target.ravel().tolist()):
        if p and t:
            tp += 1
        elif p:
            fp += 1
        elif t:
            fn += 1
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return [f1, (tp + tn) / (tp + fp + fn + tn), precision, recall]


def _f(p, r):
    return (1 + BETA2) * p * r / (BETA2 * p + r) if p * r else 0.0


def ref_saliency(images):
    f_curves, maes, adaptive = [], [], []
    for pred_u8, gt_u8 in images:
        p = [v / 255 for v in pred_u8.ravel().tolist()]
        lo, hi = min(p), max(p)
        if hi > lo:
            p = [(v - lo) / (hi - lo) for v in p]
        g = [v > 128 for v in gt_u8.ravel().tolist()]
        n_fg = sum(g)
        maes.append(sum(abs(v - gi) for v, gi in zip(p, g)) / len(p))
        q = [int(v * 255) for v in p]
        curve = []
        for t in range(256):  # one pass over the pixels per threshold
            tp = npos = 0
            for qi, gi in zip(q, g):
                if qi >= t:
                    npos += 1
                    tp += gi
            curve.append(_f(tp / npos if npos else 0.0, tp / n_fg if n_fg else 0.0))
        f_curves.append(curve)
        thr = min(2 * sum(p) / len(p), 1.0)
        inter = sum(1 for v, gi in zip(p, g) if v >= thr and gi)
        npos = sum(1 for v in p if v >= thr)
        adaptive.append(_f(inter / npos, inter / n_fg) if inter else 0.0)
    mean_curve = [sum(c[t] for c in f_curves) / len(f_curves) for t in range(256)]
    return [sum(maes) / len(maes), sum(adaptive) / len(adaptive), max(mean_curve), sum(mean_curve) / 256]


def ref_ap(ranking, positives, k, divisor):
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
    return total / (min(len(positives), k) if divisor == "min" else len(positives))


def ref_map(rankings, positives, k, divisor):
    return [sum(ref_ap(r, set(p), k, divisor) for r, p in zip(rankings, positives)) / len(rankings)]


def forb_released_map(groundtruths, candidate_ids, k):
    """FORB's released evaluation loop (pxiangwu/FORB, metric_helper/metrics.py, get_map_at_k),
    restated: for each rank i < k, for each query, precision@(i+1) by np.intersect1d times the
    relevance of candidate i; divided by max(1, #ground truth, the sum)."""
    total = np.zeros(len(candidate_ids))
    for i in range(k):
        for r, (gt, cand) in enumerate(zip(groundtruths, candidate_ids)):
            precision = len(np.intersect1d(gt, cand[: i + 1])) / (i + 1)
            relevant = len(cand) > i and cand[i] in gt
            total[r] += precision * relevant
    return [float(np.mean(total / np.maximum(1.0, np.maximum([len(g) for g in groundtruths], total))))]


def ref_tmap(rankings, scores, positives, distractor, k, divisor):
    s = sorted(distractor)
    thresholds = [s[math.ceil((10 - i) * len(s) / 10) - 1] for i in range(10)] + [-1]
    values = []
    for t in thresholds:
        kept = [[x for x, sc in zip(r, ss) if sc >= t] for r, ss in zip(rankings, scores)]
        values.append(ref_map(kept, positives, k, divisor)[0])
    return [sum(values) / len(values)]


# --- inputs and the table ----------------------------------------------------------------------

def main():
    rng = np.random.default_rng(0)
    rows = []

    def bench(name, size, ref_fn, fast_fn, ref_repeats=3):
        t_ref, ref_val = best_time(ref_fn, min_total=0.0, min_repeats=ref_repeats)  # best of 3
        t_fast, fast_val = best_time(fast_fn)
        diff = float(np.max(np.abs(np.asarray(ref_val, float) - np.asarray(fast_val, float))))
        if not diff <= 1e-9:
            raise SystemExit(f"{name}: reference and vectorised disagree (max |diff| = {diff:g})")
        rows.append((name, size, t_ref, t_fast, t_ref / t_fast, diff))

    # VOC-style segmentation: 21 classes, 10 % void.
    c = 21
    targets = [rng.integers(0, c, (240, 320)).astype(np.uint8) for _ in range(16)]
    for t in targets:
        t[rng.random(t.shape) < 0.1] = 255
    preds = [np.where(rng.random(t.shape) < 0.7, t, rng.integers(0, c, t.shape)) % 255 for t in targets]
    preds = [np.minimum(p, c - 1).astype(np.uint8) for p in preds]

    def fast_seg():
        meter = segmentation.ConfusionMeter(c)
        for p, t in zip(preds, targets):
            meter.update(p, t)
        s = meter.compute()
        return [s["miou"], s["mprecision"], s["mrecall"]]

    bench("confusion_matrix + scores (C=21)", "16 x 240x320 px", lambda: ref_segmentation(preds, targets, c), fast_seg)

    # Binary building masks.
    bt = rng.integers(0, 2, (512, 512))
    bp = np.where(rng.random(bt.shape) < 0.8, bt, 1 - bt)

    def fast_bin():
        s = segmentation.binary_scores(bp, bt)
        return [s["f1"], s["accuracy"], s["precision"], s["recall"]]

    bench("binary_scores", "512x512 px", lambda: ref_binary(bp, bt), fast_bin)

    # Saliency maps.
    images = []
    for _ in range(10):
        gt = np.where(rng.random((64, 64)) < 0.3, 255, 0).astype(np.uint8)
        pred = np.clip(0.5 * gt + rng.normal(60, 50, gt.shape), 0, 255).astype(np.uint8)
        images.append((pred, gt))

    def fast_sal():
        meter = saliency.SaliencyMeter()
        for p, g in images:
            meter.update(p, g)
        r = meter.compute()
        return [r["mae"], r["adaptive_f"], r["max_f"], r["mean_f"]]

    bench("SaliencyMeter (256 thresholds)", "10 x 64x64 px", lambda: ref_saliency(images), fast_sal)

    # FORB-style retrieval: top-10 lists, 1-6 positives, scores sorted descending.
    nq, depth = 20000, 10
    rankings = [rng.choice(2000, depth, replace=False).tolist() for _ in range(nq)]
    scores = [np.sort(rng.random(depth))[::-1].round(3).tolist() for _ in range(nq)]
    positives = [
        set(rng.choice(r, int(rng.integers(0, 3)), replace=False).tolist())
        | set(rng.integers(0, 2000, int(rng.integers(1, 4))).tolist())
        for r in rankings
    ]
    distractor = rng.random(3000).round(3).tolist()

    # Chapters get rankings and scores as (Q, L) arrays from a top-k search; the loops get lists,
    # their fastest input. The "lists" rows give our functions the same Python lists.
    rank_arr, score_arr = np.array(rankings), np.array(scores)
    size = f"{nq} queries x top-{depth}"
    # Two references for map_at_k at k = 1, 5, 100: FORB's released loop (per rank, per query,
    # np.intersect1d; its ground truths are lists) and a plain per-query loop that stops at rank k.
    gt_lists = [sorted(p) for p in positives]
    n_100 = 2000  # FORB's loop is linear in k: at k = 100 it would take minutes on 20,000 queries
    for k in (1, 5, 100):
        n = nq if k < 100 else n_100
        sz = f"{n} queries x top-{depth}"
        r, g, a = rankings[:n], gt_lists[:n], rank_arr[:n]
        bench(f"map_at_k (k={k}) vs FORB loop, lists", sz, lambda: forb_released_map(g, r, k),
              lambda: [retrieval.map_at_k(r, g, k, divisor="all")], ref_repeats=1 if k == 100 else 3)
        bench(f"map_at_k (k={k}) vs FORB loop, arrays", sz, lambda: forb_released_map(g, r, k),
              lambda: [retrieval.map_at_k(a, g, k, divisor="all")], ref_repeats=1 if k == 100 else 3)
        bench(f"map_at_k (k={k}) vs per-query loop, lists", size, lambda: ref_map(rankings, positives, k, "all"),
              lambda: [retrieval.map_at_k(rankings, positives, k, divisor="all")])
        bench(f"map_at_k (k={k}) vs per-query loop, arrays", size, lambda: ref_map(rankings, positives, k, "all"),
              lambda: [retrieval.map_at_k(rank_arr, positives, k, divisor="all")])
    bench("t_map_at_k (k=5, 11 lvls), lists", size,
          lambda: ref_tmap(rankings, scores, positives, distractor, 5, "min"),
          lambda: [retrieval.t_map_at_k(rankings, scores, positives, distractor, 5)])
    bench("t_map_at_k (k=5, 11 lvls), arrays", size,
          lambda: ref_tmap(rankings, scores, positives, distractor, 5, "min"),
          lambda: [retrieval.t_map_at_k(rank_arr, score_arr, positives, distractor, 5)])

    print("best of >= 3 runs each; speed-up = loop time / numpy time\n")
    header = f"{'metric':44} {'input':24} {'loop (s)':>10} {'numpy (s)':>10} {'speed-up':>9} {'max|diff|':>10}"
    print(header)
    print("-" * len(header))
    for name, size, t_ref, t_fast, ratio, diff in rows:
        print(f"{name:44} {size:24} {t_ref:10.4f} {t_fast:10.5f} {ratio:8.1f}x {diff:10.1e}")


if __name__ == "__main__":
    main()
