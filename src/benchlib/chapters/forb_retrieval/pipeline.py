"""The FORB chapter's pipeline: data → methods → per-query AP → result rows, claims, figures.

The notebook calls, in order: :func:`load_data`, :func:`run_methods`, :func:`evaluate`,
:func:`add_result_rows`, :func:`add_index_rows`, :func:`add_claims`, and the figure / explorer
helpers. Everything here is metric bookkeeping around :mod:`benchlib.metrics.retrieval`
(AP@k per query, FORB's t-mAP thresholds) and :mod:`benchlib.models.forb`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from .. import BenchlibError
from ..data.forb import DIFFICULTIES, OBJECT_TYPES, ForbData, load_forb, read_image, read_images, resolve_forb_root
from ..metrics.retrieval import average_precisions, t_map_curve
from ..models import forb as M
from ..results import bootstrap_ci, compare

CHAPTER = "forb_retrieval"
TOPK = 10  # FORB's baselines return the top 10
DIVISORS = {"min": "", "all": " (code divisor)"}  # metric-name suffix per AP divisor
# Paper table → (k, breakdown). Tables 3–6 are on "reduced FORB" (FORB minus LAION-5B duplicates).
TABLES = {"1": (1, "difficulty"), "2": (1, "type"), "3": (5, "difficulty"), "4": (1, "difficulty"),
          "5": (5, "type"), "6": (1, "type")}
PAPER_NAMES = {"BoW": "BoW", "BoW (+ rerank)": "BoW (+ rerank)"}
FORB_DATABASE_SIZE = 54_435  # Table 7 was measured on the full FORB database


@dataclass
class MethodRun:
    """One method's search results: top-K global ids and scores per query (rows = queries), the
    top score of each query's distractor-only search (for t-mAP), index size and latency."""
    name: str
    family: str  # "local" | "global"
    ids: np.ndarray
    scores: np.ndarray
    distractor_top: np.ndarray
    index_bytes: int
    latency_ms: float
    meaningful: bool = True  # False for random-init backbones
    note: str = ""


@dataclass
class Experiment:
    data: ForbData
    dataset: str
    is_twin: bool
    runs: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    ssl_losses: list = field(default_factory=list)


# --------------------------------------------------------------------------- data
def load_data(data_root="", seed: int = 0, n_index: int = 24, n_queries: int = 40, n_distractors: int = 120,
              image_size: int = 160, query_size: int = 256):
    """(ForbData, dataset label, is_twin). The real FORB tree is used when ``data_root`` holds one."""
    root, is_twin = resolve_forb_root(data_root, seed, n_index=n_index, n_queries=n_queries,
                                      n_distractors=n_distractors, size=image_size,
                                      query_size=query_size)
    data = load_forb(root)
    label = f"synth-FORB twin, seed {seed}" if is_twin else f"FORB ({root})"
    return data, label, is_twin


@lru_cache(maxsize=8192)
def _image(path: str, max_side: int):
    return read_image(path, max_side)


def images(paths, max_side: int):
    return [_image(str(p), max_side) for p in paths]


# --------------------------------------------------------------------------- methods
def _timed(timings, key, fn):
    t0 = time.perf_counter()
    out = fn()
    timings[key] = round(time.perf_counter() - t0, 2)
    return out


def _latency_ms(fn, n_queries: int, device="cpu") -> float:
    from ..torchutil import time_call

    return 1000.0 * time_call(fn, device=device, warmup=1, repeats=3)["median_s"] / max(n_queries, 1)


def run_methods(data: ForbData, *, image_size: int = 160, query_size: int = 256, max_features: int = 200,
                vocab_size: int = 512,
                shortlist: int = 10, cnn_arch: str = "resnet18", cnn_weights: str = "", vit_arch: str = "vit_tiny",
                vit_weights: str = "", global_size: int = 64, scales=(0.75, 1.0, 1.25), ssl_steps: int = 150,
                ssl_batch: int = 48, ssl_size: int = 48, user_embedders: dict | None = None, device="cpu",
                seed: int = 0, latency_queries: int = 8, methods=None) -> Experiment:
    """Describe the database and the queries with every method and search both the full database
    and the distractor-only database. ``methods``: subset of the method names to run (None = all)."""
    import torch

    exp = Experiment(data, "", True)
    T = exp.timings
    db, qs = data.database, data.queries
    db_ids = db["db_id"].to_numpy()
    distractor_rows = np.flatnonzero(db["distractor"].to_numpy())
    if len(distractor_rows) == 0:
        raise BenchlibError(f"{data.root}: no distractor images (oods_database_images.txt is empty): t-mAP is undefined")
    db_imgs = _timed(T, "read database", lambda: images(db["image"], image_size))
    q_imgs = _timed(T, "read queries", lambda: images(qs["image"], query_size))
    lat_imgs = q_imgs[:latency_queries]
    want = (lambda name: methods is None or name in methods)

    # -- BoW and BoW + rerank -------------------------------------------------------------
    if want("BoW") or want("BoW (+ rerank)"):
        db_feat = _timed(T, "RootSIFT database", lambda: M.rootsift(db_imgs, max_features))
        q_feat = _timed(T, "RootSIFT queries", lambda: M.rootsift(q_imgs, max_features))
        pos = {p: i for i, p in enumerate(db["image"])}
        cb_rows = [pos[p] for p in data.codebook if p in pos]
        if len(cb_rows) == len(data.codebook):
            cb_feat = M.LocalFeatures([db_feat.points[i] for i in cb_rows], [db_feat.descriptors[i] for i in cb_rows])
        else:  # codebook images outside the database (real FORB): describe them too
            cb_feat = M.rootsift(images(data.codebook, image_size), max_features)
        bow = _timed(T, "BoW vocabulary + index", lambda: M.BoWIndex(vocab_size, seed).fit_vocabulary(cb_feat)
                     .build(db_feat, db_ids))
        qvec, qwords = bow.vectors(q_feat)
        ids, scores = _timed(T, "BoW search", lambda: bow.search(qvec, TOPK))
        _, dscores = bow.search(qvec, 1, subset=distractor_rows)
        dtop = dscores[:, 0]

        def bow_query(rerank: bool):
            f = M.rootsift(lat_imgs, max_features)
            v, w = bow.vectors(f)
            i, s = bow.search(v, TOPK)
            if rerank:
                bow.rerank(f, w, i, s, shortlist)

        if want("BoW"):
            exp.runs["BoW"] = MethodRun("BoW", "local", ids, scores, dtop, bow.index_bytes(False),
                                        _latency_ms(lambda: bow_query(False), len(lat_imgs)),
                                        note=f"RootSIFT ≤{max_features}/image, {len(bow.centroids)} words")
        if want("BoW (+ rerank)"):
            r_ids, r_scores, _ = _timed(T, "rerank", lambda: bow.rerank(q_feat, qwords, ids, scores, shortlist))
            # The distractor search's top BoW score is the same whichever shortlisted candidate
            # re-ranking puts first: t-mAP thresholds on the maximum BoW score (not re-run).
            exp.runs["BoW (+ rerank)"] = MethodRun(
                "BoW (+ rerank)", "local", r_ids, r_scores, dtop, bow.index_bytes(True),
                _latency_ms(lambda: bow_query(True), len(lat_imgs)),
                note=f"top {shortlist} verified: mutual ratio 0.8 + RANSAC homography 10 px")

    # -- global embeddings ------------------------------------------------------------------
    def add_global(name, embed, note, meaningful=True):
        d_emb = _timed(T, f"{name} database", lambda: embed(db_imgs))
        q_emb = _timed(T, f"{name} queries", lambda: embed(q_imgs))
        index = M.GlobalIndex(d_emb, db_ids)
        i, s = index.search(q_emb, TOPK)
        _, ds = index.search(q_emb, 1, subset=distractor_rows)
        lat = _latency_ms(lambda: index.search(embed(lat_imgs), TOPK), len(lat_imgs))
        exp.runs[name] = MethodRun(name, "global", i, s, ds[:, 0], index.index_bytes(), lat, meaningful, note)

    for arch, weights in ((cnn_arch, cnn_weights), (vit_arch, vit_weights)):
        if not arch:
            continue
        name = f"{arch} ({'weights file' if weights else 'random init'})"
        if not want(name):
            continue
        torch.manual_seed(seed)  # random init is part of the seeded run
        is_vit = arch.startswith("vit")
        size = 224 if arch == "vit_b_16" else global_size
        model = M.build_backbone(arch, weights, image_size=size)
        # One scale: a ViT's position grid is fixed, and an untrained CNN is not worth 3× the time
        # (with a weights file, the CNN is described at every scale).
        sc = (1.0,) if (is_vit or not weights) else tuple(scales)
        note = (f"weights {weights}" if weights else
                "random init (no weights file given): a baseline of what an untrained network retrieves")
        add_global(name, lambda ims, m=model, s=size, sc=sc: M.embed_images(m, ims, s, sc, device), note,
                   meaningful=bool(weights))

    if want("SSL-CNN (SimCLR)") and ssl_steps > 0:
        from ..models.forb_ssl import train_simclr

        cb_imgs = images(data.codebook, image_size)
        model, exp.ssl_losses = _timed(T, "SimCLR training", lambda: train_simclr(
            cb_imgs, ssl_steps, ssl_batch, ssl_size, seed=seed, device=device))
        add_global("SSL-CNN (SimCLR)", lambda ims: M.embed_images(model, ims, ssl_size, tuple(scales), device),
                   f"small CNN, SimCLR {ssl_steps} steps × {ssl_batch} images on the {len(cb_imgs)} codebook "
                   f"images (no index image, no query), {len(scales)} scales")

    for name, spec in (user_embedders or {}).items():
        fn = M.import_embedder(spec) if isinstance(spec, str) else spec
        add_global(name, lambda ims, f=fn: np.asarray(f(ims), np.float32), f"user embedder {spec}")
    return exp


# --------------------------------------------------------------------------- evaluation
@dataclass
class Scores:
    ap: np.ndarray      # (Q,) AP@k
    tap: np.ndarray     # (Q,) per-query AP@k averaged over the 11 thresholds (mean = t-mAP@k)
    curve: dict         # t_map_curve output (fpr, thresholds, map per level)


def evaluate(exp: Experiment, ks=(1, 5), divisors=("min", "all")) -> dict:
    """(method, k, divisor) → :class:`Scores`. One global set of thresholds per method, from all
    queries' distractor-only searches (REFERENCE.md §1)."""
    pos = exp.data.queries["positives"].tolist()
    out = {}
    for name, r in exp.runs.items():
        for k in ks:
            for d in divisors:
                ap = average_precisions(r.ids, pos, k, d)
                c = t_map_curve(r.ids, r.scores, pos, r.distractor_top, k, divisor=d)
                out[name, k, d] = Scores(ap, c["ap"].mean(0), c)
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


def add_result_rows(res, exp: Experiment, scores: dict, n_boot: int = 1000, seed: int = 0) -> None:
    """Tables 1–6 (ours, both divisors, bootstrap CI over queries) beside the paper's numbers."""
    q = exp.data.queries
    for table, (k, breakdown) in TABLES.items():
        for name in exp.runs:
            for d, suffix in DIVISORS.items():
                if (name, k, d) not in scores:
                    continue
                s = scores[name, k, d]
                for sub, mask in subsets(q, breakdown).items():
                    for metric, v in ((f"mAP@{k}", s.ap), (f"t-mAP@{k}", s.tap)):
                        res.add(table, name, metric + suffix, 100 * v[mask].mean(), dataset=exp.dataset,
                                subset=sub, ci=tuple(100 * c for c in bootstrap_ci(v[mask], n_boot=n_boot, seed=seed)),
                                n=int(mask.sum()), seed=seed,
                                note=("paper Eq. 1: ÷ min(m_q, k)" if d == "min" else "released code: ÷ m_q")
                                + ("" if exp.runs[name].meaningful else "; random init"))
        metric_map = {f"{m}@{k}{sfx}": f"{m}@{k}" for m in ("mAP", "t-mAP") for sfx in DIVISORS.values()}
        res.compare_with_paper(table, method_map=PAPER_NAMES, metric_map=metric_map)
        res.add_paper_rows(table, [m for m in _paper_methods(table) if m not in PAPER_NAMES.values()],
                           reason="paper row: not run here (no such model offline; a user can plug one in "
                                  "with user_embedders)")


def _paper_methods(table):
    from ..papers import load_table

    return list(dict.fromkeys(load_table(CHAPTER, table)["method"]))


def add_index_rows(res, exp: Experiment, seed: int = 0) -> pd.DataFrame:
    """Table 7: serialised index size (GB, and KB per database image so that a small twin can be
    set beside FORB's 54,435-image database) and query latency."""
    n_db = len(exp.data.database)
    paper = {m: v for m, v in _paper_table("7")}
    rows = []
    for name, r in exp.runs.items():
        gb = r.index_bytes / 1e9
        pname = "BoW (+ rerank)" if name == "BoW (+ rerank)" else None
        res.add("7", name, "index_size_GB", gb, dataset=exp.dataset, seed=seed, n=n_db,
                note=f"{n_db} database images; paper: 54,435")
        per_img = r.index_bytes / 1e3 / n_db
        pv = paper[pname] * 1e6 / FORB_DATABASE_SIZE if pname else None
        res.add("7", name, "index_KB_per_image", per_img, dataset=exp.dataset, seed=seed, n=n_db,
                paper_value=pv, note="paper value = Table 7 size / 54,435 images" if pname else "")
        res.add("7", name, "query_latency_ms", r.latency_ms, dataset=exp.dataset, seed=seed,
                note="describe + search, per query, median of 3 (CPU unless a GPU was used)")
        rows.append({"method": name, "index bytes": r.index_bytes, "KB / image": per_img,
                     "paper KB / image": pv, "latency ms / query": r.latency_ms})
    res.add_paper_rows("7", [m for m, _ in _paper_table("7") if m != "BoW (+ rerank)"],
                       reason="paper row (index of a model not run here)")
    return pd.DataFrame(rows)


def _paper_table(table):
    from ..papers import load_table

    t = load_table(CHAPTER, table)
    return list(zip(t["method"], t["value"].astype(float)))


# --------------------------------------------------------------------------- display
def paper_layout(frame: pd.DataFrame, table: str, divisor: str = "min") -> pd.DataFrame:
    """The paper's layout of a table: methods × (metric, subset), cells 'ours (paper)'."""
    f = frame[frame["table"].astype(str) == str(table)]
    suffix = DIVISORS[divisor]
    ours = f[f["metric"].str.endswith(suffix) if suffix else ~f["metric"].str.contains("code divisor")]
    ours = ours[ours["dataset"] != "paper"]
    paper = f[f["dataset"] == "paper"]

    def cell(v, p):
        a = "—" if pd.isna(v) else f"{v:.1f}"
        return a if pd.isna(p) else f"{a} ({p:.1f})"

    cells = [(r.method, r.metric.replace(suffix, "") if suffix else r.metric, r.subset, cell(r.value, r.paper_value))
             for r in pd.concat([ours, paper]).itertuples()]
    t = pd.DataFrame(cells, columns=["method", "metric", "subset", "cell"])
    order = list(dict.fromkeys(t["subset"]))
    wide = t.pivot_table(index="method", columns=["metric", "subset"], values="cell", aggfunc="first", sort=False)
    wide = wide.reindex(columns=sorted(wide.columns, key=lambda c: (c[0].startswith("t-"), order.index(c[1]))))
    return wide.reindex(list(dict.fromkeys(t["method"]))).fillna("")


def divisor_table(scores: dict, exp: Experiment, k: int = 1) -> pd.DataFrame:
    """mAP@k with the paper's and the code's divisor, overall and on logo queries only."""
    logos = (exp.data.queries["object_type"] == "logos").to_numpy()
    rows = []
    for name in exp.runs:
        a, b = scores[name, k, "min"].ap, scores[name, k, "all"].ap
        rows.append({"method": name, f"mAP@{k} paper (÷min(m,k))": 100 * a.mean(),
                     f"mAP@{k} code (÷m)": 100 * b.mean(),
                     f"logos, paper": 100 * a[logos].mean() if logos.any() else np.nan,
                     f"logos, code": 100 * b[logos].mean() if logos.any() else np.nan})
    return pd.DataFrame(rows).set_index("method").round(2)


# --------------------------------------------------------------------------- claims
KEY_K = 5  # the claims are judged on mAP@5 / t-mAP@5 with the paper's divisor


def add_claims(res, exp: Experiment, scores: dict, seed: int = 0) -> None:
    q = exp.data.queries
    diff = {d: (q["difficulty"] == d).to_numpy() for d in DIFFICULTIES}
    runs = exp.runs

    # 1. Every method degrades easy → medium → hard.
    lines, ok, tested = [], True, False
    present = [d for d in DIFFICULTIES if diff[d].sum() >= 2]  # a difficulty needs 2 queries for a CI
    for name in runs:
        ap = scores[name, KEY_K, "min"].ap
        for a, b in zip(present, present[1:]):
            v, e = compare(ap[diff[a]], ap[diff[b]], label_a=a, label_b=b, paired=False, seed=seed)
            tested = True
            ok &= v == "held"
            lines.append(f"{name}: {e}")
    res.claim("degrades_with_difficulty", f"Every method degrades from easy to medium to hard (mAP@{KEY_K})",
              ("held" if ok else "not held") if tested else "not tested",
              " | ".join(lines) if lines else "too few queries per difficulty")

    # 2. Re-ranking raises BoW's mAP.
    if "BoW" in runs and "BoW (+ rerank)" in runs:
        parts = [compare(scores["BoW (+ rerank)", k, "min"].ap, scores["BoW", k, "min"].ap,
                         label_a=f"BoW+rerank mAP@{k}", label_b=f"BoW mAP@{k}", seed=seed) for k in (1, KEY_K)]
        res.claim("rerank_helps_bow", "Spatial re-ranking raises BoW's mAP (mAP@1 and mAP@5, paired over queries)",
                  "held" if all(v == "held" for v, _ in parts) else "not held", " | ".join(e for _, e in parts))
    else:
        res.claim("rerank_helps_bow", "Spatial re-ranking raises BoW's mAP", "not tested", "BoW not run")

    # 3. t-mAP < mAP for every method; larger drop for global embeddings than for BoW.
    lines, ok = [], True
    for name in runs:
        s = scores[name, KEY_K, "min"]
        v, e = compare(s.ap, s.tap, label_a=f"{name} mAP@{KEY_K}", label_b=f"t-mAP@{KEY_K}", seed=seed)
        ok &= v == "held"
        lines.append(e)
    res.claim("tmap_below_map", f"t-mAP@{KEY_K} is below mAP@{KEY_K} for every method",
              "held" if (ok and lines) else ("not tested" if not lines else "not held"), " | ".join(lines))
    learned = [n for n, r in runs.items() if r.family == "global" and r.meaningful]
    if "BoW" in runs and learned:
        bow = scores["BoW", KEY_K, "min"]
        parts = []
        for n in learned:
            g = scores[n, KEY_K, "min"]
            parts.append(compare(g.ap - g.tap, bow.ap - bow.tap, label_a=f"{n} drop", label_b="BoW drop", seed=seed))
        skipped = [n for n, r in runs.items() if r.family == "global" and not r.meaningful]
        ev = " | ".join(e for _, e in parts) + (f" | left out (random init): {', '.join(skipped)}" if skipped else "")
        res.claim("tmap_drop_larger_for_global",
                  f"The drop mAP@{KEY_K} − t-mAP@{KEY_K} is larger for learned global embeddings than for BoW",
                  "held" if all(v == "held" for v, _ in parts) else "not held", ev)
    else:
        res.claim("tmap_drop_larger_for_global", "The t-mAP drop is larger for global embeddings than for BoW",
                  "not tested", "needs BoW and a learned global embedding")

    # 4. Logos are the hardest type for BoW.
    types = subsets(q, "type")
    if "BoW" in runs and "logos" in types and len(types) > 1:
        ap = scores["BoW", KEY_K, "min"].ap
        means = {t: ap[m].mean() for t, m in types.items()}
        others = sorted((t for t in means if t != "logos"), key=means.get)
        v, e = compare(ap[types[others[0]]], ap[types["logos"]], label_a=f"{others[0]} (next hardest)",
                       label_b="logos", paired=False, seed=seed)
        lowest = min(means, key=means.get)
        res.claim("logos_hardest_for_bow", f"Logos are the hardest object type for BoW (mAP@{KEY_K})",
                  "held" if lowest == "logos" else "not held",
                  f"lowest type: {lowest}; " + e + "; per type: " +
                  ", ".join(f"{t} {100 * m:.1f}" for t, m in sorted(means.items(), key=lambda x: x[1])))
    else:
        res.claim("logos_hardest_for_bow", "Logos are the hardest object type for BoW", "not tested",
                  "BoW or logo queries missing")

    # 5. BoW's index is orders of magnitude larger than a global-embedding index. Threshold: ≥ 10×
    # for every global index (the paper calls its own ratios, 39× for FIRe to 410× for BLIP2,
    # "orders of magnitude").
    glob = {n: r.index_bytes for n, r in runs.items() if r.family == "global"}
    if "BoW (+ rerank)" in runs and glob:
        big = runs["BoW (+ rerank)"].index_bytes
        ratios = {n: big / b for n, b in glob.items()}
        res.claim("bow_index_orders_larger", "BoW (+ rerank)'s index is at least an order of magnitude (≥ 10×) "
                  "larger than every global-embedding index (Table 7)",
                  "held" if min(ratios.values()) >= 10 else "not held",
                  f"BoW (+ rerank) {big / 1e6:.2f} MB; " + ", ".join(f"{n} {glob[n] / 1e6:.3f} MB (×{r:.0f})"
                                                               for n, r in ratios.items())
                  + "; paper: 22.141 GB vs CLIP 0.082 GB (×270), FIRe 0.563 GB (×39)")
    else:
        res.claim("bow_index_orders_larger", "BoW's index is orders of magnitude larger", "not tested",
                  "needs BoW (+ rerank) and a global method")


# --------------------------------------------------------------------------- figures
def _bordered(ax, img, colour, title=""):
    ax.imshow(img)
    ax.set_xticks([]), ax.set_yticks([])
    for s in ax.spines.values():
        s.set_edgecolor(colour), s.set_linewidth(4 if colour != "none" else 0)
    if title:
        ax.set_title(title, fontsize=7)


def ranked_row(axes, exp: Experiment, method: str, qi: int, k: int = 5, image_size: int = 192):
    """Query qi and the method's top k (green border = correct, red = wrong) on a row of axes."""
    q = exp.data.queries.iloc[qi]
    r = exp.runs[method]
    _bordered(axes[0], images([q["image"]], image_size)[0], "royalblue",
              f"{q['object_type']} q{q['query_id']}\n{q['difficulty']}, {len(q['positives'])} pos.")
    paths = dict(zip(exp.data.database["db_id"], exp.data.database["image"]))
    pos = set(q["positives"])
    for j in range(k):
        ax = axes[j + 1]
        if j >= r.ids.shape[1]:
            ax.axis("off")
            continue
        d = int(r.ids[qi, j])
        _bordered(ax, images([paths[d]], image_size)[0], "limegreen" if d in pos else "crimson",
                  f"#{j + 1} id {d}\nscore {r.scores[qi, j]:.3f}")


def examples_figure(data: ForbData, types=("animated_cards", "bookcovers", "currency", "logos", "packaged_goods"),
                    image_size: int = 160, query_size: int = 256, seed: int = 0):
    """Per object type: the positives of one query (left) and one query per difficulty whose
    positives are those images when the twin has one (else any query of that difficulty)."""
    import matplotlib.pyplot as plt

    q = data.queries
    paths = dict(zip(data.database["db_id"], data.database["image"]))
    types = [t for t in types if (q["object_type"] == t).any()]
    fig, axes = plt.subplots(len(types), 5, figsize=(8.5, 1.9 * len(types)), squeeze=False)
    rng = np.random.default_rng(seed)
    for ax, t in zip(axes, types):
        qt = q[q["object_type"] == t]
        key = qt["positives"].map(tuple)
        counts = key.map(key.value_counts())  # prefer an object with several queries
        pick = qt.loc[counts.sort_values(ascending=False, kind="stable").index[0]]
        pos = pick["positives"]
        for j in range(2):
            if j < len(pos):
                _bordered(ax[j], images([paths[pos[j]]], image_size)[0], "limegreen",
                          f"{t}\nindex {pos[j]}" if j == 0 else f"colour variant {pos[j]}")
            else:
                ax[j].axis("off")
        for j, d in enumerate(DIFFICULTIES):
            same = qt[(qt["difficulty"] == d) & (key == tuple(pos))]
            pool = same if len(same) else qt[qt["difficulty"] == d]
            if len(pool) == 0:
                ax[2 + j].axis("off")
                continue
            r = pool.iloc[int(rng.integers(len(pool)))]
            _bordered(ax[2 + j], images([r["image"]], query_size)[0], "royalblue",
                      f"{d} query" + ("" if len(same) else " (other object)"))
    fig.tight_layout()
    return fig


def gallery_figure(exp: Experiment, methods, query_indices, k: int = 5):
    """For each query (rows) and method: the query and its top-k."""
    import matplotlib.pyplot as plt

    rows = [(qi, m) for qi in query_indices for m in methods]
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(1.45 * (k + 1), 1.6 * len(rows)), squeeze=False)
    for (qi, m), ax in zip(rows, axes):
        ranked_row(ax, exp, m, qi, k)
        ax[0].set_ylabel(m, fontsize=7)
    fig.tight_layout()
    return fig


def gallery_queries(exp: Experiment, per_difficulty: int = 1, seed: int = 0) -> list:
    """A few query indices, one per difficulty, from different object types (deterministic)."""
    q = exp.data.queries
    rng = np.random.default_rng(seed)
    out = []
    for d in DIFFICULTIES:
        idx = np.flatnonzero((q["difficulty"] == d).to_numpy())
        out += list(rng.choice(idx, min(per_difficulty, len(idx)), replace=False)) if len(idx) else []
    return [int(i) for i in out]


def tmap_curve_figure(scores: dict, methods, ks=(1, 5), divisor: str = "min"):
    """mAP@k at each of the 11 thresholds (x = false-positive rate of the distractor searches)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ks), figsize=(5.2 * len(ks), 3.6), squeeze=False)
    for ax, k in zip(axes[0], ks):
        for m in methods:
            c = scores[m, k, divisor].curve
            ax.plot(c["fpr"], 100 * c["map"], "o-", ms=3, label=f"{m} (t-mAP {100 * c['t_map']:.1f})")
        ax.set(xlabel="false-positive rate f of the threshold t_f", ylabel=f"mAP@{k} (%) at t_f",
               title=f"mAP@{k}(t) over FORB's 11 thresholds", ylim=(0, 101))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def query_mask(exp: Experiment, difficulty: str = "all", object_type: str = "all") -> np.ndarray:
    q = exp.data.queries
    m = np.ones(len(q), bool)
    if difficulty != "all":
        m &= (q["difficulty"] == difficulty).to_numpy()
    if object_type != "all":
        m &= (q["object_type"] == object_type).to_numpy()
    return m


def explorer_figure(exp: Experiment, method: str, difficulty: str = "all", object_type: str = "all",
                    position: int = 0, k: int = 5):
    """The explorer's view: the position-th query of the filtered set and the method's top k."""
    import matplotlib.pyplot as plt

    idx = np.flatnonzero(query_mask(exp, difficulty, object_type))
    fig, axes = plt.subplots(1, k + 1, figsize=(1.6 * (k + 1), 2.1))
    if len(idx) == 0:
        for a in axes:
            a.axis("off")
        axes[0].set_title("no query in this selection", fontsize=8)
        return fig
    ranked_row(axes, exp, method, int(idx[min(position, len(idx) - 1)]), k)
    fig.suptitle(f"{method}: query {min(position, len(idx) - 1) + 1} of {len(idx)}", fontsize=9)
    fig.tight_layout()
    return fig


def explorer(exp: Experiment, scores: dict | None = None, k: int = 5):
    """ipywidgets: choose method, difficulty and type, browse the queries and their ranked results."""
    import ipywidgets as W
    from IPython.display import display

    from ..widgets import figure_png

    q = exp.data.queries
    method = W.Dropdown(options=list(exp.runs), description="method")
    diff = W.Dropdown(options=["all", *[d for d in DIFFICULTIES if (q["difficulty"] == d).any()]], description="difficulty")
    otype = W.Dropdown(options=["all", *[t for t in OBJECT_TYPES if (q["object_type"] == t).any()]], description="type")
    pos = W.IntSlider(0, 0, max(len(q) - 1, 0), description="query", continuous_update=False)
    info = W.HTML()
    out = W.Image(format="png")  # not an Output widget: capturing into one can hang papermill

    def redraw(*_):
        n = int(query_mask(exp, diff.value, otype.value).sum())
        pos.max = max(n - 1, 0)
        text = f"{n} queries"
        if scores is not None and n:
            ap = scores[method.value, k, "min"].ap[query_mask(exp, diff.value, otype.value)]
            text += f" · mAP@{k} of this selection: {100 * ap.mean():.1f} %"
        info.value = text
        out.value = figure_png(explorer_figure(exp, method.value, diff.value, otype.value, pos.value, k))

    for w in (method, diff, otype, pos):
        w.observe(redraw, names="value")
    redraw()
    box = W.VBox([W.HBox([method, diff, otype]), W.HBox([pos, info]), out])
    display(box)
    return box
