"""Hand-built FORB runs (no training, no images) for the pipeline, report and claims tests."""
import numpy as np
import pandas as pd

from benchlib.chapters.forb_retrieval import evaluate as E
from benchlib.chapters.forb_retrieval import pipeline as P
from benchlib.chapters.forb_retrieval.data import ForbData


def tiny_run() -> P.Run:
    """4 queries: logos easy (positives 0, 1), logos hard (2), bookcovers easy (5), bookcovers hard (6).
    Distractors: 3, 4, 7. Rankings (top 3) and scores chosen by hand."""
    db = pd.DataFrame({"db_id": range(8), "object_type": ["logos"] * 5 + ["bookcovers"] * 3,
                       "image": [f"/x/{i}.jpg" for i in range(8)],
                       "distractor": [False, False, False, True, True, False, False, True]})
    q = pd.DataFrame({"query_id": [1, 2, 1, 2], "object_type": ["logos", "logos", "bookcovers", "bookcovers"],
                      "image": [f"/q/{i}.jpg" for i in range(4)], "difficulty": ["easy", "hard", "easy", "hard"],
                      "positives": [[0, 1], [2], [5], [6]]})
    run = P.Run(P.Config(), ForbData(root=None, database=db, queries=q), "hand-made, seed 0", True)
    # BoW: q0 [0, 3, 1] → AP@1 = 1 (÷min 1) or 1/2 (÷2); AP@5 = (1 + 2/3)/2 = 5/6 under both divisors
    #      q1 [3, 2, 4] → AP@1 = 0, AP@5 = 1/2;  q2 [5, 7, 6] → 1, 1;  q3 [7, 6, 4] → 0, 1/2
    bow_ids = np.array([[0, 3, 1], [3, 2, 4], [5, 7, 6], [7, 6, 4]])
    bow_s = np.array([[0.9, 0.5, 0.4], [0.6, 0.55, 0.1], [0.8, 0.3, 0.2], [0.7, 0.6, 0.5]])
    run.runs["BoW"] = [P.MethodRun("BoW", "local", bow_ids, bow_s, np.array([0.5, 0.6, 0.3, 0.7]), 10_000_000, 5.0,
                                   bytes_per_image=np.full(8, 10_000_000 / 8))]
    # a perfect global method
    g_ids = np.array([[0, 1, 3], [2, 3, 4], [5, 7, 4], [6, 7, 4]])
    g_s = np.array([[0.9, 0.8, 0.1], [0.7, 0.2, 0.1], [0.6, 0.5, 0.4], [0.95, 0.3, 0.2]])
    run.runs["glob"] = [P.MethodRun("glob", "global", g_ids, g_s, np.array([0.8, 0.2, 0.5, 0.3]), 1_000, 1.0,
                                    bytes_per_image=np.full(8, 125.0))]
    run.scores = E.score_runs(run.runs, q)
    return run


def balanced_queries(per_type: int = 6) -> pd.DataFrame:
    """`per_type` queries of each of the eight types, difficulties easy, medium, hard in turn."""
    from benchlib.chapters.forb_retrieval.data import DIFFICULTIES, OBJECT_TYPES

    rows = [{"query_id": j + 1, "object_type": t, "image": f"/q/{t}{j}.jpg",
             "difficulty": DIFFICULTIES[j % 3], "positives": [0]} for t in OBJECT_TYPES for j in range(per_type)]
    return pd.DataFrame(rows)


def scored_run(ap: dict, queries: pd.DataFrame, bytes_per_image: dict | None = None,
               floor: str = "resnet18 (random init)", trained: str = P.SSL) -> P.Run:
    """A run whose per-query AP is given directly: ap[method] = list (one per seed) of (ap@1, ap@5)
    arrays. Random-init and trained methods are marked by name; t-AP is set equal to AP."""
    db = pd.DataFrame({"db_id": range(4), "object_type": "logos", "image": [f"/x/{i}.jpg" for i in range(4)],
                       "distractor": [False, True, True, True]})
    run = P.Run(P.Config(), ForbData(root=None, database=db, queries=queries), "fake twin, seed 0", True)
    sizes = bytes_per_image or {}
    for name, per_seed in ap.items():
        family = "local" if name.startswith("BoW") else "global"
        run.runs[name] = [P.MethodRun(name, family, np.zeros((len(queries), 1), int), np.zeros((len(queries), 1)),
                                      np.zeros(len(queries)), int(np.sum(sizes.get(name, np.ones(4)))), 1.0,
                                      meaningful=name != floor, trained=name == trained, seed=s,
                                      bytes_per_image=np.asarray(sizes.get(name, np.ones(4)), float))
                          for s in range(len(per_seed))]
        for k, i in ((1, 0), (5, 1)):
            for d in E.DIVISORS:
                run.scores[name, k, d] = [E.Scores(np.asarray(a[i], float), np.asarray(a[i], float), {})
                                          for a in per_seed]
    return run
