"""Report of the satellite chapter: result rows beside the paper's (Tables I–III, timing), the tables
in the paper's layout, the parameter counts, figures and the explorer."""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchlib.claims import interval, not_claimed_rows
from benchlib.metrics.segmentation import binary_scores
from benchlib.papers import load_table, paper_meta
from benchlib.results import paper_table

from . import SPEC
from .claims import SIZES, degenerate_models, method_pairs
from .data import Scene
from .evaluate import METRICS, counts_measurement, pooled_score, pooled_value, score_measurement, seed_scores
from .models import DISPLAY_NAMES, MODEL_NAMES, architecture_table, build_model, parameter_count

# The network the paper refines in Table III besides U-Net(19).
PAPER_REFINED_PROP = "Prop-152"


# =========================================================================== result rows
def record(res, run) -> None:
    """Every result row of the run: Table I (counted), Table II, timing, Table III."""
    _table1(res)
    c = run.config
    note = f"width ÷ {c.width}, {res.profile} profile"
    flagged = degenerate_models(run)
    _score_rows(res, "2", run.evals, run, note, flagged)
    res.compare_with_paper("2")
    _seed_rows(res, "2", run.evals, run, note, flagged)
    res.add_paper_rows("2", [DISPLAY_NAMES[n] for n in MODEL_NAMES if DISPLAY_NAMES[n] not in run.evals],
                       reason=f"not run: not trained in the {res.profile} profile (too slow for its budget)")
    _timing(res, run)
    _table3(res, run, note, flagged)
    for label, reason in run.not_refined.items():
        res.not_run("3", label, "F1", reason)


def _table1(res) -> None:
    """Table I rows counted from the built full-width modules (U-Nets listed for reference)."""
    for name in MODEL_NAMES:
        note = "" if name.startswith("prop") else (
            "not in the paper's Table I; decoder blocks 1–4 = 2×2 up-convolution + 3×3 convolutions, "
            "block 5 = 1×1 classifier")
        for r in architecture_table(name).itertuples():
            for metric in ("feature_maps", "convolutions"):
                res.add("1", DISPLAY_NAMES[name], metric, getattr(r, metric), dataset="built module (full width)",
                        subset=f"{r.part} block {r.block}", note=note)
    res.compare_with_paper("1")


def _subsets(areas):
    return [*((a, [a]) for a in areas), ("mean", list(areas))]


def _score_rows(res, table, evals, run, note, flagged) -> None:
    """F1 / accuracy (percent) per area and mean over areas. The value is the score of the block
    counts pooled over seeds; its 95 % interval (claims engine: seeds × blocks, crossed, inside
    [0, 100]) is that of the same estimator."""
    for label, ev in evals.items():
        base = label.split(" tuned (")[0]
        flag = f"; DEGENERATE: {flagged[base]}" if base in flagged else ""
        for subset, sel in _subsets(run.areas):
            for metric in METRICS:
                ci = interval(score_measurement(ev, sel, metric))
                res.add(table, label, metric, pooled_score(ev, sel, metric), dataset=run.dataset, subset=subset,
                        ci=ci, n=int(sum(len(ev[0].counts[a]) for a in sel)), note=note + flag)


def _seed_rows(res, table, evals, run, note, flagged) -> None:
    """Per seed, each network's mean test F1 (the headline metric) beside the mean row; added after
    the paper's values are filled in, so the paper's number stands beside the mean row only."""
    for label, ev in evals.items():
        base = label.split(" tuned (")[0]
        flag = f"; DEGENERATE: {flagged[base]}" if base in flagged else ""
        for seed, f1 in enumerate(seed_scores(ev, run.areas, "F1"), start=run.config.seed):
            res.add(table, label, "F1", f1, dataset=run.dataset, subset="mean", seed=seed,
                    n=int(sum(len(ev[0].counts[a]) for a in run.areas)), note=f"{note}; seed {seed} alone{flag}")


def _table3(res, run, note, flagged) -> None:
    """Table III like for like: rows of a network the paper refined carry the paper's numbers;
    rows of another network are ours only (no delta against a different network)."""
    not_compared, seed_rows = {}, {}
    for label, refs in run.refinements.items():
        compared = label in ("U-Net(19)", PAPER_REFINED_PROP)
        extra = note if compared else (f"{note}; ours only: the paper refines {PAPER_REFINED_PROP} and U-Net(19), "
                                       f"not {label} — no paper value beside it")
        evals = {label: [r.base for r in refs], **{f"{label} tuned ({s})": [r.tuned[s] for r in refs] for s in SIZES}}
        if not compared:   # names that match no paper row: compare_with_paper leaves them alone
            not_compared.update({k: f"(not in the paper) {k}" for k in evals})
        _score_rows(res, "3", evals, run, extra, flagged)
        seed_rows[label] = (evals, extra)
        for s in SIZES:
            for subset, sel in _subsets(run.areas):
                for metric in METRICS:
                    m = counts_measurement([[r.tuned[s].counts, r.base.counts] for r in refs], sel, [[1, -1]],
                                           metric, bounds=(-100, 100))
                    res.add("3", f"{label} tuned ({s})", f"{metric}_delta", pooled_value(m), dataset=run.dataset,
                            subset=subset, ci=interval(m), note=extra)
    res.compare_with_paper("3", method_map=not_compared)
    for evals, extra in seed_rows.values():
        _seed_rows(res, "3", evals, run, extra, flagged)
    if PAPER_REFINED_PROP not in run.refinements:
        paper = load_table(SPEC.id, "3")
        res.add_paper_rows("3", sorted(set(paper[paper["base"] == PAPER_REFINED_PROP]["method"])),
                           reason=f"not run: {PAPER_REFINED_PROP} is not trained in the {res.profile} profile "
                                  "(too slow for its budget); the paper's rows, not compared with ours")


def _timing(res, run) -> None:
    """Seconds per whole test scene (tiling, network, stitching) and per megapixel, beside the
    paper's (TitanX Pascal, full-size scenes)."""
    meta = paper_meta(SPEC.id)["text_numbers"]
    paper_seconds = {k: v for k, v in meta["segmentation_time_s"].items() if k != "note"}
    paper_sizes = {k: tuple(v) for k, v in meta["test_image_size_px"].items()}
    for s in run.test:
        mpx = s.mask.size / 1e6
        pw, ph = paper_sizes[s.name] if s.name in paper_sizes else (None, None)
        paper_rate = paper_seconds[s.name] / (pw * ph / 1e6) if pw else None
        res.add("timing", "paper (TitanX Pascal; network not stated)", "seconds per scene", None, dataset="paper",
                subset=s.name, paper_value=paper_seconds.get(s.name), note=f"{pw}×{ph} pixels")
        res.add("timing", "paper (TitanX Pascal; network not stated)", "seconds per Mpx", None, dataset="paper",
                subset=s.name, paper_value=paper_rate)
        for label, ev in run.evals.items():
            sec = float(np.median([e.seconds[s.name] for e in ev]))
            res.add("timing", label, "seconds per scene", sec, dataset=run.dataset, subset=s.name,
                    note=f"{s.mask.shape[1]}×{s.mask.shape[0]} pixels on {run.device}")
            res.add("timing", label, "seconds per Mpx", sec / mpx, dataset=run.dataset, subset=s.name,
                    paper_value=paper_rate, note=run.device)


# =========================================================================== tables
def _table1_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Table I's rows re-labelled for the paper's layout: method 'encoder · Prop-18' (encoder rows of
    every network first, then decoder rows), subset 'Block k'; feature maps and convolutions stay two
    metrics, so each block shows two columns."""
    t = frame[frame["table"].astype(str) == "1"].copy()
    part = t["subset"].str.split().str[0]
    t["method"] = part + " · " + t["method"]
    t["subset"] = "Block " + t["subset"].str.split().str[-1]
    return t.assign(_part=(part == "decoder").astype(int)).sort_values("_part", kind="stable").drop(columns="_part")


def tables(res, run) -> dict[str, pd.DataFrame]:
    """The paper's tables from the recorded rows (`benchlib.results.paper_table`): I (feature maps and
    convolutions per block, ours (paper)), II and III (ours, 95 % CI, paper, Δ per network, one column
    per area and metric; per-seed rows left out) and the timing table, each where rows were recorded.
    Table III's printed gains are `table3_gains`."""
    f = res.frame
    full = ("ours", "ci", "paper", "delta")
    out = {"1": paper_table(_table1_rows(f), "1", digits=0),
           "2": paper_table(f, "2", metrics=METRICS, show=full, stacked=True),
           "3": paper_table(f, "3", metrics=METRICS, show=full, stacked=True),
           "timing": paper_table(f, "timing", digits=2)}
    return {k: t for k, t in out.items() if not t.empty}   # only the tables the rows hold


def seed_spread(res) -> pd.DataFrame:
    """Each trained network's mean test F1 seed by seed (Table II's per-seed rows) summarised — mean,
    standard deviation across seeds, lowest, highest — and the same for the per-seed differences
    a − b of every claim that compares two networks (a stable training keeps the SD ≤ 3 points)."""
    f = res.frame
    f = f[(f["table"].astype(str) == "2") & f["seed"].notna() & (f["metric"] == "F1")]
    per_seed = f.pivot_table(index="seed", columns="method", values="value", aggfunc="first", sort=False)
    cols = {m: per_seed[m] for m in per_seed}
    cols |= {f"{a} − {b} ({cid})": per_seed[a] - per_seed[b]
             for cid, a, b in method_pairs() if a in per_seed and b in per_seed}
    out = pd.DataFrame({k: {"mean": v.mean(), "SD across seeds": v.std(ddof=1), "lowest": v.min(),
                            "highest": v.max(), "seeds": int(v.count())} for k, v in cols.items()}).T
    return out.astype({"seeds": int}).rename_axis("mean test F1 (points)").round(2)


def table3_gains(res) -> pd.DataFrame:
    """Table III's gains over the unrefined network (F1 / accuracy deltas, percentage points), as the
    paper prints them."""
    return paper_table(res.frame, "3", metrics=("F1_delta", "accuracy_delta"),
                       show=("ours", "ci", "paper", "delta"), stacked=True)


def table1_agreement(frame: pd.DataFrame) -> str:
    """One line: how many Table I cells were compared with the paper's and whether they agree."""
    t = frame[(frame["table"] == "1") & frame["paper_value"].notna()]
    bad = t[t["value"] != t["paper_value"]]
    return (f"{len(t)} Table I cells compared with the paper's (all six Prop depths, encoder and decoder): "
            + ("all agree." if bad.empty else f"{len(bad)} differ: "
               + "; ".join(f"{r.method} {r.subset} {r.metric}" for r in bad.itertuples())))


def parameter_table(run) -> pd.DataFrame:
    """Learnable parameters (millions) of every network at full width and at the width trained here;
    for each Prop, whether it has fewer than the paper's U-Net (U-Net(19), the standard U-Net [8]) and
    than U-Net(35) (our design of the paper's unspecified 35-layer variant)."""
    w = run.config.width
    rows = []
    for n in MODEL_NAMES:
        r = {"model": DISPLAY_NAMES[n], "parameters (full width, M)": run.parameters[n] / 1e6,
             f"parameters (width ÷ {w}, M)": parameter_count(n, width=w) / 1e6}
        if n.startswith("prop"):
            r.update({f"fewer than {DISPLAY_NAMES[u]}": "yes" if run.parameters[n] < run.parameters[u] else "NO"
                      for u in ("unet19", "unet35")})
        rows.append(r)
    return pd.DataFrame(rows).set_index("model").astype(object).fillna("")


def parameter_summary(run) -> str:
    """Where the paper's 'fewer learnable parameters' stops being true against its U-Net(19), from the
    counts."""
    props = [n for n in MODEL_NAMES if n.startswith("prop")]
    more = [n for n in props if run.parameters[n] >= run.parameters["unet19"]]
    fewer = [DISPLAY_NAMES[n] for n in props if n not in more]
    if not more:
        return f"Every Prop network has fewer learnable parameters than U-Net(19) ({', '.join(fewer)})."
    first = more[0]
    import torch

    with torch.device("meta"):
        deconv = build_model(first).decoder_blocks[0][0]
    return (f"Fewer learnable parameters than the paper's U-Net(19) ({run.parameters['unet19'] / 1e6:.1f} M): "
            f"true for {', '.join(fewer) or 'none'}; false from {DISPLAY_NAMES[first]} on "
            f"({run.parameters[first] / 1e6:.1f} M; U-Net(35) has {run.parameters['unet35'] / 1e6:.1f} M). "
            f"The reason is the wide decoder: in {DISPLAY_NAMES[first]} the first decoder block's 4×4 transposed "
            f"convolution alone maps {deconv.in_channels} to {deconv.out_channels} maps, "
            f"{deconv.weight.numel() / 1e6:.1f} M weights.")


NOT_CLAIMED = [
    ("CRF post-processing gives minor improvements only", "§IV-C: 'Our experiments showed minor improvements only'",
     "no CRF is implemented"),
    ("Updating the learning rate by hand beats AdaGrad", "§III-D: 'Manually updating the learning rate η showed to "
     "somewhat improve the performance with respect to the widely used AdaGrad'",
     "no AdaGrad run; the schedule is taken as given"),
    ("Balanced concatenation and the extra 3×3 full-resolution maps perform best",
     "§III-A: 'We verified that best performance is obtained when the number of downsampled (encoder) and "
     "upsampled (decoder) feature maps is balanced'", "the paper shows no ablation table; only the built design is run"),
    ("Colour jitter and illumination / contrast augmentation give marginal gains only",
     "§III-B: 'with random color jittering, however with marginal gains only'",
     "the default trains without jitter, as the paper's listed transforms (parameter jitter turns it on); no "
     "run compares training with and without it, so the gain is not judged"),
    ("The residual design allows larger batch sizes", "§III-D, §V: 'larger batch sizes in reason of the lower "
     "number of learnable parameters'", "memory per batch is not measured; the parameter counts behind the "
     "argument are (claim satellite_fewer_parameters)"),
    ("Segmentation takes 110 / 55 / 200 s per test scene", "§IV-C",
     "a measurement of the authors' hardware: shown beside ours (timing table), not a claim about the method"),
    ("Refinement takes about 2 hours per image, manual annotation about 10", "§IV-C",
     "a measurement of the authors' setup and annotators; refinement here runs a few SGD steps on a CPU"),
    ("Refining on the large part gains more than on the small part", "Table III only",
     "not stated in the paper's text, so not judged"),
    ("Residual networks learn features that generalise across images with largely different statistics",
     "Abstract, §I", "judged through its measurable part only: Prop beats U-Net on test areas from other "
     "sensors (claims prop_beats_unet_*); 'generalisation' itself has no number in the paper"),
]


def not_claimed() -> list[dict]:
    """The paper's statements this chapter does not judge, each with where it is and why not."""
    return not_claimed_rows(NOT_CLAIMED)


# =========================================================================== data and figures
def scene_summary(run) -> pd.DataFrame:
    """One row per scene: split, size, bands, building share, per-band mean (the sensor shift)."""
    rows = []
    for split, scenes in run.data.items():
        for s in scenes:
            r = {"area": s.name, "split": split, "size (W×H)": f"{s.mask.shape[1]}×{s.mask.shape[0]}",
                 "bands": s.bands, "building %": 100 * float(s.mask.mean())}
            r.update({f"mean band {i + 1}": float(m) for i, m in enumerate(s.image.reshape(-1, s.bands).mean(0))})
            rows.append(r)
    return pd.DataFrame(rows).set_index("area")


def scenes_figure(run):
    """All scenes side by side, each stretched with the SAME percentiles (of all training pixels),
    so differences in radiometry between the 'sensors' stay visible."""
    import matplotlib.pyplot as plt

    data = run.data
    scenes = [(split, s) for split, v in data.items() for s in v]
    ref = np.concatenate([s.image.reshape(-1, s.bands) for s in data["train"]])
    ch = [2, 1, 0] if ref.shape[1] >= 4 else list(range(min(3, ref.shape[1])))
    lo, hi = np.percentile(ref[:, ch], 2), np.percentile(ref[:, ch], 98)
    fig, ax = plt.subplots(2, len(scenes), figsize=(1.9 * len(scenes), 4.2))
    ax = np.asarray(ax).reshape(2, -1)
    for i, (split, s) in enumerate(scenes):
        img = s.image[..., ch] if len(ch) == 3 else np.repeat(s.image[..., :1], 3, axis=2)
        ax[0, i].imshow(np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1))
        ax[0, i].set_title(f"{s.name} ({split})", fontsize=9)
        ax[1, i].imshow(s.mask, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for a in ax.ravel():
        a.axis("off")
    fig.tight_layout()
    return fig


OUTCOME_COLOURS = {"TP": (0.0, 0.62, 0.0), "FP": (0.85, 0.1, 0.1), "TN": (1.0, 1.0, 1.0), "FN": (0.1, 0.25, 0.9)}


def rgb_preview(image: np.ndarray) -> np.ndarray:
    """R, G, B bands (indices 2, 1, 0 of B, G, R, NIR; the first three otherwise) stretched to the
    2–98 % percentiles."""
    rgb = image[..., [2, 1, 0]] if image.shape[2] >= 4 else image[..., :3] if image.shape[2] >= 3 else \
        np.repeat(image[..., :1], 3, axis=2)
    lo, hi = np.percentile(rgb, (2, 98))
    return np.clip((rgb - lo) / max(hi - lo, 1e-6), 0, 1)


def outcome_map(pred: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """H × W × 3: true positives green, false positives red, true negatives white, false negatives
    blue (the colours of the paper's supplementary material)."""
    p, t = pred.astype(bool), mask.astype(bool)
    out = np.empty(p.shape + (3,), np.float32)
    for key, sel in (("TP", p & t), ("FP", p & ~t), ("TN", ~p & ~t), ("FN", ~p & t)):
        out[sel] = OUTCOME_COLOURS[key]
    return out


def outcome_figure(scene: Scene, prob: np.ndarray, threshold: float = 0.5, title: str = ""):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    pred = prob > threshold
    s = binary_scores(pred, scene.mask)
    fig, ax = plt.subplots(1, 3, figsize=(13, 4.3 * scene.mask.shape[0] / scene.mask.shape[1] + 0.8))
    ax[0].imshow(rgb_preview(scene.image))
    ax[0].set_title(f"{scene.name} (R, G, B)")
    ax[1].imshow(prob, cmap="magma", vmin=0, vmax=1)
    ax[1].set_title("building probability")
    ax[2].imshow(outcome_map(pred, scene.mask), interpolation="nearest")
    ax[2].set_title(f"threshold {threshold:.2f}: F1 {100 * s['f1']:.1f}, acc. {100 * s['accuracy']:.1f}")
    for a in ax:
        a.axis("off")
    fig.legend(handles=[Patch(facecolor=c, edgecolor="k", label=k) for k, c in OUTCOME_COLOURS.items()],
               loc="lower center", ncol=4, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def error_figure(run):
    """Outcome map of the first test area for the Prop network that is refined (else the first
    trained one), first seed: also the explorer's initial state."""
    label = next((k for k in run.refinements if k.startswith("Prop")), next(iter(run.evals)))
    return explorer_figure(run, probabilities(run), run.areas[0], label, 0.5)


def threshold_scores(scenes: list[Scene], probs: dict[str, np.ndarray], threshold: float) -> pd.DataFrame:
    """F1 / accuracy (percent) per area and their mean at a given probability threshold."""
    rows = {}
    for s in scenes:
        b = binary_scores(probs[s.name] > threshold, s.mask)
        rows[s.name] = {"F1": 100 * b["f1"], "accuracy": 100 * b["accuracy"]}
    df = pd.DataFrame(rows).T
    df.loc["mean"] = df.mean()
    return df


def probabilities(run) -> dict[str, dict[str, np.ndarray]]:
    """{network (and refined variants): {area: building probability}} of the first seed."""
    out = {label: ev[0].probs for label, ev in run.evals.items()}
    for label, refs in run.refinements.items():
        for s in SIZES:
            out[f"{label} tuned ({s})"] = refs[0].tuned[s].probs
    return out


def explorer_figure(run, probs_by_model, area: str, model: str, threshold: float):
    """The outcome figure of one network on one area at a threshold, its per-area scores in the title."""
    scene = {s.name: s for s in run.test}[area]
    t = threshold_scores(run.test, probs_by_model[model], threshold)
    scores = ", ".join(f"{a} {r.F1:.1f}" for a, r in t.iterrows())
    return outcome_figure(scene, probs_by_model[model][area], threshold, f"{model}: F1 by area — {scores}")


def explorer(run):
    """ipywidgets explorer: pick area, network and threshold; the figure shows the outcome map and
    (in its title) the network's F1 per area at that threshold. Needs a live kernel to react."""
    import ipywidgets as widgets

    from benchlib.widgets import redraw_on_change

    probs = probabilities(run)
    first = next((k for k in run.refinements if k.startswith("Prop")), next(iter(run.evals)))
    controls = {"area": widgets.Dropdown(options=run.areas, description="area"),
                "model": widgets.Dropdown(options=list(probs), value=first, description="model"),
                "threshold": widgets.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05, description="threshold",
                                                 continuous_update=False)}
    return redraw_on_change(controls, lambda area, model, threshold:
                            explorer_figure(run, probs, area, model, threshold))
