"""Report of the co-saliency chapter: result rows beside the paper's (Tables 1, 2, speed), tables in
the paper's layout, figures (losses, PR curves, visual grid) and the explorer."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from benchlib.claims import difference, interval, not_claimed_rows, single
from benchlib.metrics.saliency import image_scores
from benchlib.plots import pr_curves
from benchlib.results import describe_device, paper_table

from . import control
from .evaluate import CPU_LONG_S
from .models import ABLATION
from .pipeline import TABLE2_METHODS, Run

PAPER_FPS = 28.0  # the paper's text: "The running speed of the test is 28fps" (GTX 1080 Ti)


# --------------------------------------------------------------------------- result rows
def _interval(values, units: str, signed: bool = False):
    """The claims engine's 95 % interval of the mean of `values` (one array over `units` per seed),
    inside the quantity's range: [0, 1] for a score or a response, [−1, 1] for a difference of two
    (`signed`: the selectivity, a gap)."""
    return interval(single(values, bounds=(-1.0, 1.0) if signed else (0.0, 1.0), units=units))


def _ci(run: Run, key, method, metric, scale=1.0):
    """95 % CI of a table cell: the claims engine's interval of the mean over test images, with every
    seed the method has (one for a method that does not depend on the seed; several: the same test
    images under every seed, a crossed design, so the training noise across seeds is part of it)."""
    lo, hi = _interval(run.per_seed(key, method, metric), "test images", signed=metric == "selectivity")
    return (lo * scale, hi * scale)


def _seed_rows(res, run: Run, table, key, method, name, scale=1.0) -> None:
    """Per seed, a trained model's mean adaptive F (the headline metric) beside its mean row."""
    split = run.splits[key]
    for seed, values in zip(run.seeds, run.per_seed(key, method, "adaptive_f")):
        res.add(table, name, "F-measure", scale * float(np.mean(values)), dataset=split.dataset,
                subset=split.subset if table == "2" else "", n=len(split.test), seed=seed,
                note=f"seed {seed} alone")


def record(res, run: Run) -> pd.DataFrame:
    """Tables 1 and 2 (ours beside the paper's), the paper-only rows, the speed rows, the headroom,
    selectivity, gain-over-FT and RFM-control rows. Returns the RFM control's verdicts
    (:func:`control_verdicts`, computed once here; empty without the control)."""
    cos = run.splits["cosal"]
    seeds = run.seeds[0] if len(run.seeds) == 1 else f"{run.seeds[0]}–{run.seeds[-1]}"
    note_seeds = f"seed {seeds}; " if len(run.seeds) == 1 else f"mean of {len(run.seeds)} seeds ({seeds}); "
    ci_note = "95% CI: claims engine, over " + ("test images" if len(run.seeds) == 1 else "seeds and test images")
    for v in ABLATION:
        if v.name in run.methods["cosal"]:
            pi = run.per_image("cosal", v.name)
            res.add("1", v.name, "F-measure", 100 * float(np.mean(pi["adaptive_f"])), dataset=cos.dataset,
                    ci=_ci(run, "cosal", v.name, "adaptive_f", 100), n=len(cos.test),
                    note=f"{note_seeds}{ci_note}")
        else:
            res.not_run("1", v.name, "F-measure", "left out by this profile's budget (parameter `ablation`)",
                        dataset=cos.dataset)
    res.compare_with_paper("1")
    for v in ABLATION:   # after the paper's values: those stand beside the mean rows only
        if v.name in run.methods["cosal"]:
            _seed_rows(res, run, "1", "cosal", v.name, v.name, 100)
    metrics = {"F-measure": "adaptive_f", "recall": "adaptive_recall", "precision": "adaptive_precision",
               "MAE": "mae"}
    for key, split in run.splits.items():
        for paper_name, ours in [("FT", "FT"), *TABLE2_METHODS.items()]:
            pi = run.per_image(key, ours)
            for metric, k in metrics.items():
                res.add("2", paper_name, metric, float(np.mean(pi[k])), dataset=split.dataset, subset=split.subset,
                        ci=_ci(run, key, ours, k), n=len(split.test),
                        note="" if ours == "FT" else note_seeds.rstrip("; "))
            res.add("2", paper_name, "max F-measure", run.summary(key, ours)["max_f"], dataset=split.dataset,
                    subset=split.subset, n=len(split.test), note="not in the paper's table (from the PR curve)")
    res.compare_with_paper("2")
    for key in run.splits:
        for paper_name, ours in TABLE2_METHODS.items():
            _seed_rows(res, run, "2", key, ours, paper_name)
    res.add_paper_rows("2", ["CWS", "RFCN", "PiCANet", "DCL", "LFM"],
                       reason="paper only: the method's code and training are not part of this book")
    for r in run.fps:
        res.add("speed", "Ours (online), test path, this run's network", "fps", r["fps"],
                dataset=f"random input, {'VGG-16' if run.config.vgg_weights else 'EfficientNet-Lite0'} encoder, "
                        f"head width {run.config.width or 'as the encoder'}, {describe_device(run.device)}",
                subset=f"{r['width']}×{r['height']}", paper_value=PAPER_FPS, n=len(r["times_s"]),
                note="paper: 28 fps on a GTX 1080 Ti, full VGG-16 width, its image sizes; " + _timing_note(r))
    for r in run.fps_full:
        res.add("speed", "Ours, test path, full width (VGG-16)", "fps", r["fps"],
                dataset=f"random input, full width, {describe_device(run.device)}", subset=f"{r['width']}×{r['height']}",
                paper_value=PAPER_FPS, n=len(r["times_s"]),
                note="the paper's network size (untrained weights: speed only); " + _timing_note(r))
    _record_headroom(res, run)
    _record_selectivity(res, run, note_seeds)
    _record_ft_gains(res, run)
    return _record_control(res, run)


def _timing_note(row) -> str:
    n = len(row["times_s"])
    if row.get("warmup", 1):
        return f"median of {n} run(s) after one warm-up run"
    return f"median of {n} run(s), no warm-up (a CPU run over {CPU_LONG_S:g} s: one-off setup included, a lower bound)"


ORACLES = ("oracle: all salient objects", "oracle: co-salient objects")
RESPONSES = {"co-salient response": "cosalient", "distractor response": "distractor",
             "background response": "background", "selectivity": "selectivity"}


def _record_headroom(res, run: Run) -> None:
    """How much a co-saliency detector can gain over a perfect generic saliency detector on each
    dataset: F and MAE of the two oracles, and their difference."""
    for key, split in run.splits.items():
        if ORACLES[0] not in run.scores[key]:
            res.not_run("headroom", ORACLES[0], "F-measure", "no salient-objects masks (Salient/) in this dataset",
                        subset=split.subset, dataset=split.dataset)
            continue
        for metric, k in (("F-measure", "adaptive_f"), ("MAE", "mae")):
            for o in ORACLES:
                res.add("headroom", o, metric, float(np.mean(run.per_seed(key, o, k)[0])), dataset=split.dataset,
                        subset=split.subset, n=len(split.test), ci=_ci(run, key, o, k))
            # the gain of the co-salient oracle: F up, MAE down (both positive when there is headroom)
            gap = (run.per_seed(key, ORACLES[1], k)[0] - run.per_seed(key, ORACLES[0], k)[0]) * (1 if k == "adaptive_f"
                                                                                                else -1)
            res.add("headroom", "headroom (co-salient oracle's gain)", metric, float(np.mean(gap)),
                    dataset=split.dataset, subset=split.subset, n=len(split.test),
                    ci=_interval([gap], "test images", signed=True),
                    note="the most a co-saliency detector can gain over a perfect saliency detector "
                         "(F: higher, MAE: lower by this much)")


def _record_selectivity(res, run: Run, note_seeds) -> None:
    """Mean response of every method's map on co-salient objects, distractors and background, and
    the selectivity (co-salient − distractor), on the paper-shaped dataset's images with a distractor."""
    split = run.splits["cosal"]
    for method in ["FT", *[m for m in run.methods["cosal"] if m != "FT"], *ORACLES]:
        per = run.selectivity["cosal"].get(method)
        if per is None:
            continue
        n = len(per[0]["selectivity"])
        if n == 0:
            res.not_run("selectivity", method, "selectivity", "no test image with a distractor",
                        dataset=split.dataset)
            continue
        trained = method in run.methods["cosal"] and method != "FT"
        for metric, k in RESPONSES.items():
            res.add("selectivity", method, metric, float(np.mean(run.per_seed("cosal", method, k), axis=0).mean()),
                    dataset=split.dataset, subset=split.subset, n=n, ci=_ci(run, "cosal", method, k),
                    note=note_seeds.rstrip("; ") if trained else "")


def _record_ft_gains(res, run: Run) -> None:
    """Each learned model of Table 2 against FT, one by one: the mean paired F gain over FT (same test
    images, seed by seed) with the claims engine's interval (seeds × images, crossed). The FT claims
    judge the weakest of these gains; this table shows every model's."""
    for key, split in run.splits.items():
        ft = run.per_seed(key, "FT", "adaptive_f")
        for paper_name, ours in TABLE2_METHODS.items():
            m = difference(run.per_seed(key, ours, "adaptive_f"), ft, bounds=(-1.0, 1.0), units="test images")
            res.add("gain over FT", paper_name, "F − F of FT", m.effect(), dataset=split.dataset, subset=split.subset,
                    ci=interval(m), n=len(split.test),
                    note="paired on the test images; 95% CI: the claims engine's interval over seeds and images")


CONTROL_TABLE = "rfm control"
SEPARATES = 0.7  # a pair-vs-single AUC this far above chance (0.5) counts as telling a pair from a single


def control_verdicts(run: Run) -> pd.DataFrame:
    """The RFM control's verdicts (claims engine, crossed design: the same control images under every
    seed): a check of the mechanism, not a claim of the paper (kept out of claims.csv)."""
    from benchlib.claims import evaluate

    if not run.control:
        return pd.DataFrame()
    cols = ["claim_id", "statement", "verdict", "effect", "ci_low", "ci_high", "n_seeds", "n_units", "reason"]
    return evaluate(control.CONTROL_CLAIMS, run)[cols]


LOSS_ROWS = {"RFM triplet loss, first epoch": 0, "RFM triplet loss, last epoch": -1}


def _record_control(res, run: Run) -> pd.DataFrame:
    """Table "rfm control": per control (single / paired distractor) and model, the mean responses and
    the selectivity with the claims engine's interval and the control's verdict in the note; then how
    well the RFM's region vectors and the frozen encoder's features tell a pair from a single, and the
    online model's RFM loss in its first and last training epoch. Returns the verdicts."""
    if not run.control:
        res.not_run(CONTROL_TABLE, control.ONLINE, "selectivity", "parameter `control_images` = 0")
        return pd.DataFrame()
    c, dataset = run.control, f"RFM control ({run.control['n']} images, seed {run.config.seed})"
    frame = control_verdicts(run)
    verdicts = frame.set_index("claim_id")
    for kind, label in control.KINDS.items():
        for method, per in c[kind].items():
            for metric, k in RESPONSES.items():
                values = [np.asarray(p[k], float) for p in per]
                # the claims engine's interval (one seed: over the images), the same the verdict uses
                ci = _interval(values, "control images", signed=k == "selectivity")
                note = ""
                cid = control.claim_id(kind, method)
                if k == "selectivity" and cid in verdicts.index:
                    note = f"verdict of {cid} (a check of the mechanism, not the paper's claim): " \
                           f"{verdicts.loc[cid, 'reason']}"
                res.add(CONTROL_TABLE, method, metric, float(np.mean([v.mean() for v in values])), dataset=dataset,
                        subset=label, n=len(values[0]), ci=ci, note=note)
    for method, aucs in c["rfm separation"].items():
        res.add(CONTROL_TABLE, method, "pair-vs-single AUC", float(np.mean(aucs)), dataset=dataset,
                subset="pair vs single", n=len(aucs),
                note="per seed " + ", ".join(f"{a:.3f}" for a in aucs) + "; 0.5: no better than chance")
    res.add(CONTROL_TABLE, "frozen encoder (stride 16)", "pair-vs-single AUC", c["encoder separation"],
            dataset=dataset, subset="pair vs single",
            note="box-averaged encoder features, centred on the image's mean: is the information there at all")
    # does the training signal reach the RFM at all: its loss at the start and the end of training
    hist = run.histories.get("cosal", {}).get(control.ONLINE)
    if hist:
        for metric, epoch in LOSS_ROWS.items():
            per_seed = [h[epoch]["rfm"] for h in hist]
            res.add(CONTROL_TABLE, control.ONLINE, metric, float(np.mean(per_seed)),
                    dataset=run.splits["cosal"].dataset, subset="training", n=len(per_seed),
                    note="mean over seeds; per seed " + ", ".join(f"{v:.3f}" for v in per_seed))
    return frame


def control_summary(res, verdicts: pd.DataFrame) -> str:
    """One paragraph computed from the control's rows (the online model's RFM losses among them) and
    `verdicts` (what :func:`record` returns): the verdicts, whether the training signal reaches the
    RFM, and where the mechanism breaks."""
    f = res.frame[(res.frame["table"] == CONTROL_TABLE) & res.frame["value"].notna()]
    if f.empty:
        return "The RFM control was not run (parameter `control_images` = 0)."
    sel = f[f["metric"] == "selectivity"]
    by_id = verdicts.set_index("claim_id")["verdict"] if len(verdicts) else {}
    kind = {label: k for k, label in control.KINDS.items()}
    verdict = {(r.method, r.subset): by_id.get(control.claim_id(kind[r.subset], r.method), "no verdict")
               for r in sel.itertuples()}
    parts = [f"{r.method}, {r.subset}: {r.value:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}], "
             f"{verdict[(r.method, r.subset)]}" for r in sel.itertuples()]
    text = "Selectivity on the control (95 % interval, verdict): " + "; ".join(parts) + ". "
    auc = f[f["metric"] == "pair-vs-single AUC"].set_index("method")["value"]
    enc, rfm = auc.get("frozen encoder (stride 16)", math.nan), auc.get(control.ONLINE, math.nan)
    loss = f[f["metric"].isin(list(LOSS_ROWS))].set_index("metric")["value"]
    if len(loss) == len(LOSS_ROWS):
        first, last = (loss[m] for m in LOSS_ROWS)
        text += (f"The online model's RFM triplet loss goes from {first:.3f} (first epoch) to {last:.3f} (last), "
                 "mean over seeds: " + ("it falls, so the training signal reaches the branch. " if last < first else
                                        "it does not fall, so this run does not show that the training signal "
                                        "reaches the branch. "))
    text += f"Pair-vs-single AUC: the online model's RFM vectors {rfm:.3f}, the frozen encoder's features {enc:.3f}. "
    positive = verdict.get((control.ONLINE, control.KINDS["single"]))
    negative = verdict.get((control.ONLINE, control.KINDS["paired"]))
    longer = [m for m in auc.index if m.startswith(control.ONLINE + ", ")]
    pos = sel[sel["subset"] == control.KINDS["single"]].set_index("method")
    if longer:
        text += (f"{longer[0]}: RFM vectors' AUC {auc[longer[0]]:.3f}, selectivity on the positive control "
                 f"{pos.loc[longer[0], 'value']:+.3f} [{pos.loc[longer[0], 'ci_low']:+.3f}, "
                 f"{pos.loc[longer[0], 'ci_high']:+.3f}]. ")
    # RFM models whose vectors tell a pair from a single (AUC ≥ SEPARATES) while their maps do not
    learned = [m for m in auc.index if m in pos.index and auc[m] >= SEPARATES and not pos.loc[m, "ci_low"] > 0]
    ref = (verdict.get((control.COMPARATOR, control.KINDS["single"])),
           verdict.get((control.COMPARATOR, control.KINDS["paired"])))
    if ref[0] == "held" and ref[1] != "held":
        text += ("The reference comparator (nothing trained: the salient objects weighted by the frozen encoder's "
                 "self-correlation) passes the control, held on the positive and not on the negative one: a detector "
                 "that compares instances can pass it. ")
    rep = (verdict.get((control.REPAIRED, control.KINDS["single"])),
           verdict.get((control.REPAIRED, control.KINDS["paired"])))
    if rep[0] == "held" and rep[1] != "held":
        text += (f"The repair ({control.REPAIRED}: the online model whose test path also compares instances, a "
                 "learned gate on the encoder's self-correlation) passes the control, held on the positive and not "
                 "on the negative one: once the test path compares, training makes the network suppress a single "
                 "object. ")
    elif rep[0] is not None:
        text += f"The repair ({control.REPAIRED}) does not pass the control (positive: {rep[0]}, negative: {rep[1]}). "
    if positive == "held" and negative != "held":
        text += "The online model suppresses a distractor because it is single: the RFM works on its own control."
    elif learned:
        text += (f"The RFM vectors of {', '.join(learned)} tell a pair from a single (AUC ≥ {SEPARATES}): the RFM "
                 "learns what the paper asks of it, yet the map does not suppress the single object. The test path "
                 "(encoder → FS → decoder) never compares one object with another, so what the RFM learns cannot "
                 "reach the map: the cause is the paper's design, not this implementation.")
    elif enc >= SEPARATES:
        text += ("The encoder's features tell a pair from a single, so the information is there at this resolution; "
                 "no RFM's vectors do on this budget, and nothing in the test path compares one object with "
                 "another, so no selectivity can come from the RFM.")
    else:
        text += "The control does not locate the failure (see the AUCs)."
    return text


# --------------------------------------------------------------------------- display tables
def tables(res, run) -> dict:
    """The chapter's tables, keyed by their ids in results.csv and laid out by `paper_table`: Tables 1
    and 2 in the paper's layout (cells 'ours (paper)'), the oracle headroom, the selectivity, each
    learned model's gain over FT (with its interval), the speed rows and the RFM control (CONTROL_TABLE:
    responses, selectivity and pair-vs-single AUCs with their intervals, the online model's RFM loss)."""
    f = res.frame
    return {"1": paper_table(f, "1"), "2": paper_table(f, "2"), "headroom": paper_table(f, "headroom"),
            "selectivity": paper_table(f, "selectivity"),
            "gain over FT": paper_table(f, "gain over FT", show=("ours", "ci")), "speed": paper_table(f, "speed"),
            CONTROL_TABLE: paper_table(f, CONTROL_TABLE, show=("ours", "ci"))}


NOT_CLAIMED = [
    ("Better average recall than DCL, RFCN and PiCANet",
     "§Comparison with State-of-the-Art: 'achieves better average recall and better average precision than "
     "other saliency methods DCL, RFCN, PiCANet'",
     "DCL, RFCN and PiCANet are not run here (their code and training are not part of this book); the precision "
     "half of the sentence is claim cosal_precision_beats_competitors, judged on the paper's numbers"),
    ("The proposed method has the highest performance in the precision–recall curves (Fig. 5, SDCS)",
     "§Comparison with State-of-the-Art: 'It can be observed that, the proposed method has the highest performance'",
     "the competitors' curves are not available; the curves of FT, U-Net and ours are drawn (Fig. 5 below)"),
    ("U-Net alone (Table 1, column 1, 82.4 %) is the lowest of all Table 1 columns",
     "§Model Analysis: 'which achieves an accuracy of 82.4%, the lowest among all results'",
     "the paper's own Table 1 prints 82.3 for column 3 (U-Net + FS), below it; column 3 is not trained on the "
     "default profile"),
    ("Data augmentation reduces the over-fitting of the triplet loss",
     "§Implementation Details: 'data enhancement is very effective in reducing the over-fitting of triplet loss "
     "and improving the generalization ability'",
     "over-fitting is not measured (no train-versus-test comparison); the test-set gain of augmentation is claim "
     "cosal_augmentation_helps"),
    ("Why online selection wins: more supervision of the FS block, less noise from RPN-chosen regions",
     "§Model Analysis: 'we speculate that there may be two reasons'",
     "the paper's own speculation, with no measurement behind it"),
    ("The absolute F-measures, precisions, recalls and MAEs of Tables 1 and 2",
     "Tables 1, 2", "the paper's 2,019-image dataset and SDCS are not public; on the twins only the comparisons "
     "carry over (the numbers stand beside the paper's in the tables)"),
    ("The results of the paper's backbone and schedule (ImageNet VGG-16, SGD for about 80,000 iterations)",
     "§Implementation Details", "the default encoder is the ImageNet EfficientNet-Lite0 trained for minutes on a "
     "CPU; the `paper` profile runs VGG-16 with a user-supplied weights file on a GPU"),
]


def not_claimed() -> list[dict]:
    """The paper's statements this chapter does not judge, each with where it is and why not."""
    return not_claimed_rows(NOT_CLAIMED)


def dataset_summary(run: Run):
    """One row per dataset: where it came from, split sizes, objects per image, distractors, sizes."""
    rows = []
    for s in run.splits.values():
        items = s.train.items + s.test.items
        hs, ws = [it.image.shape[0] for it in items], [it.image.shape[1] for it in items]
        rows.append({"dataset": s.dataset, "paper's subset": s.subset, "train": len(s.train), "test": len(s.test),
                     "co-salient objects / image": round(float(np.mean([it.cosalient.sum() for it in items])), 2),
                     "images with a distractor": f"{100 * np.mean([(~it.cosalient).any() for it in items]):.0f} %",
                     "height × width (px)": f"{min(hs)}–{max(hs)} × {min(ws)}–{max(ws)}",
                     "boxes from": s.train.boxes_source, "folder": str(s.train.root)})
    return pd.DataFrame(rows)


def encoder_summary(run: Run) -> pd.DataFrame:
    """The frozen encoder (what it is, input size, the size of R, what its cached features hold),
    then the wall time of each step."""
    rows = [{"what": k, "value": str(v)} for k, v in run.encoder_info.items()]
    rows += [{"what": f"time: {k}", "value": f"{v:.1f} s"} for k, v in run.timings.items()]
    return pd.DataFrame(rows)


def loss_figure(run: Run):
    """Training losses per epoch (first seed): decoder BCE, RPN, RFM triplet."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    for ax, loss in zip(axes, ("bce", "rpn", "rfm")):
        for key, per_variant in run.histories.items():
            for name, hists in per_variant.items():
                values = [h[loss] for h in hists[0]]
                if any(values):
                    ax.plot(range(1, len(values) + 1), values, label=f"{key}: {name}")
        ax.set(title=f"training loss: {loss.upper()}", xlabel="epoch")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- figures and explorer
SHOWN = {"FT": "FT", "U-Net": "U-Net", "Ours (offline)": TABLE2_METHODS["Ours (offline)"],
         "Ours (online)": TABLE2_METHODS["Ours (online)"]}


def pr_figure(run: Run):
    """Precision–recall curves like the paper's Fig. 5, one panel per dataset."""
    fig, axes = plt.subplots(1, len(run.splits), figsize=(10, 4.2))
    for ax, (key, split) in zip(np.atleast_1d(axes), run.splits.items()):
        pr_curves({label: run.summary(key, m) for label, m in SHOWN.items()}, ax=ax,
                  title=f"{split.dataset} (test, n={len(split.test)})")
    fig.tight_layout()
    return fig


def pick_examples(run: Run, key: str, n: int = 4):
    """Test images for the visual grid: those with a distractor first (the hard case), then others."""
    items = run.splits[key].test.items
    hard = [i for i, it in enumerate(items) if it.cosalient is not None and (~it.cosalient).any()]
    easy = [i for i in range(len(items)) if i not in hard]
    return (hard[: (n + 1) // 2] + easy[: n // 2] + hard[(n + 1) // 2:] + easy[n // 2:])[:n]


def visual_grid(run: Run, key: str = "cosal", n: int = 4):
    """Like the paper's Fig. 6: image, ground truth, FT, U-Net, ours (offline), ours (online)."""
    idx = pick_examples(run, key, n)
    cols = ["image", "ground truth", *SHOWN]
    fig, axes = plt.subplots(len(idx), len(cols), figsize=(1.8 * len(cols), 1.8 * len(idx)), squeeze=False)
    for row, i in enumerate(idx):
        it = run.splits[key].test.items[i]
        panels = [it.image, it.gt] + [run.maps[key][m][i] for m in SHOWN.values()]
        for col, (ax, p) in enumerate(zip(axes[row], panels)):
            ax.imshow(p, cmap=None if p.ndim == 3 else "gray", vmin=0, vmax=255 if p.dtype == np.uint8 else 1)
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(cols[col], fontsize=9)
            if col == 0 and it.cosalient is not None and (~it.cosalient).any():
                for b in it.boxes[~it.cosalient]:
                    ax.add_patch(plt.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="yellow", lw=1))
    fig.suptitle(f"{run.splits[key].dataset}: test images (yellow box = distractor)", fontsize=10)
    fig.tight_layout()
    return fig


def selectivity_summary(res) -> str:
    """One paragraph computed from the selectivity rows: each method's selectivity with its CI, and
    whether any trained model is selective beyond noise."""
    df = res.frame[(res.frame["table"] == "selectivity") & (res.frame["metric"] == "selectivity")
                   & res.frame["value"].notna()]
    if df.empty:
        return "Selectivity not measured: no test image with a distractor."
    parts = [f"{r.method} {r.value:+.3f}" + ("" if np.isnan(r.ci_low) else f" [{r.ci_low:+.3f}, {r.ci_high:+.3f}]")
             for r in df.itertuples()]
    trained = df[~df["method"].isin(("FT", *ORACLES))]
    selective = trained[trained["ci_low"] > 0]["method"].tolist()
    others = [m for m in trained["method"] if m not in selective]
    if trained.empty:
        verdict = "No trained model was measured."
    elif selective:
        verdict = f"Selective beyond noise (CI above 0): {', '.join(selective)}."
        if others:
            verdict += f" Not selective beyond noise: {', '.join(others)}."
    else:
        verdict = ("No trained model is selective beyond noise: each responds to single distractors about as much "
                   "as to the repeated objects, i.e. behaves as a generic saliency detector on this budget.")
    return f"Selectivity (co-salient − distractor response, 95 % CI), {df['dataset'].iloc[0]}: " \
           + "; ".join(parts) + ". " + verdict


def selectivity_figure(res):
    """Bars: every method's mean response on co-salient objects, distractors and background (paper-
    shaped dataset, images with a distractor), 95 % CIs as whiskers. A generic saliency detector has
    equal co-salient and distractor bars; a co-saliency detector a low distractor bar."""
    df = res.frame[(res.frame["table"] == "selectivity") & res.frame["value"].notna()]
    methods = list(dict.fromkeys(df["method"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(methods)), 3.6))
    width = 0.27
    for j, (metric, colour) in enumerate((("co-salient response", "tab:green"), ("distractor response", "tab:red"),
                                          ("background response", "tab:gray"))):
        rows = df[df["metric"] == metric].set_index("method").reindex(methods)
        x = np.arange(len(methods)) + (j - 1) * width
        err = np.abs(np.stack([rows["value"] - rows["ci_low"], rows["ci_high"] - rows["value"]]).astype(float))
        ax.bar(x, rows["value"], width, yerr=np.nan_to_num(err), color=colour, label=metric, capsize=2)
    ax.set_xticks(np.arange(len(methods)), [m.replace(" + ", "\n+ ").replace("oracle: ", "oracle:\n")
                                            for m in methods], fontsize=7)
    ax.set(ylabel="mean map response (0–1)", ylim=(0, 1.05), title=f"selectivity — {df['dataset'].iloc[0]}"
           if len(df) else "selectivity")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def one_image_figure(run: Run, key: str = "cosal", index: int | None = None):
    """One test image (with a distractor, outlined in yellow) and every method's map: FT, each trained
    Table 1 column, and the two oracles."""
    index = pick_examples(run, key, 1)[0] if index is None else index
    it = run.splits[key].test.items[index]
    names = [m for m in run.methods[key]] + [o for o in ORACLES if o in run.scores[key]]
    panels = [("image", it.image), ("ground truth", it.gt)]
    panels += [(m, run.maps[key][m][index] if m in run.maps[key] else
                (it.salient if m == ORACLES[0] else it.gt > 128).astype(np.float32)) for m in names]
    cols = min(5, len(panels))
    rows = int(math.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, p) in zip(axes.ravel(), panels):
        ax.imshow(p, cmap=None if p.ndim == 3 else "gray", vmin=0, vmax=255 if p.dtype == np.uint8 else 1)
        ax.set_title(title.replace(" + ", "\n+ ", 1) if len(title) > 24 else title, fontsize=7)
        for b in it.boxes[~it.cosalient] if it.cosalient is not None else []:
            ax.add_patch(plt.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="yellow", lw=1))
    fig.suptitle(f"{run.splits[key].dataset}, {it.id} (seed {run.seeds[0]}; yellow: distractor)", fontsize=9)
    fig.tight_layout()
    return fig


def explorer_figure(run: Run, key: str, index: int, threshold: int):
    """One image: every method's map (top) and its binarisation at `threshold` (bottom), with
    precision / recall / F of that binarisation (SaliencyMeter's per-image curves at t)."""
    it = run.splits[key].test.items[index]
    fig, axes = plt.subplots(2, len(SHOWN) + 1, figsize=(1.75 * (len(SHOWN) + 1), 3.8))
    axes[0, 0].imshow(it.image)
    axes[0, 0].set_title(f"{it.id}", fontsize=9)
    axes[1, 0].imshow(it.gt, cmap="gray")
    axes[1, 0].set_title("ground truth", fontsize=9)
    for col, (label, m) in enumerate(SHOWN.items(), start=1):
        pred = run.maps[key][m][index]
        s = image_scores(pred, it.gt)
        axes[0, col].imshow(pred, cmap="gray", vmin=0, vmax=1)
        axes[0, col].set_title(label, fontsize=9)
        q = np.floor(np.clip((pred - pred.min()) / max(pred.max() - pred.min(), 1e-12), 0, 1) * 255)
        axes[1, col].imshow(q >= threshold, cmap="gray")
        axes[1, col].set_title(f"P {s['precision'][threshold]:.2f} R {s['recall'][threshold]:.2f} "
                               f"F {s['f'][threshold]:.2f}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"threshold {threshold} / 255", fontsize=10)
    fig.tight_layout()
    return fig


def explorer(run: Run):
    """ipywidgets: pick a dataset and a test image, slide the threshold; the maps, binarisations and
    P / R / F redraw (needs a live kernel)."""
    import ipywidgets as widgets

    from benchlib.widgets import redraw_on_change

    ds = widgets.Dropdown(options=[(s.dataset, k) for k, s in run.splits.items()], description="dataset")
    # one slider for both datasets: it spans the images both test splits have (the SDCS twin's)
    img = widgets.IntSlider(value=0, min=0, max=min(len(s.test) for s in run.splits.values()) - 1,
                            description="image", continuous_update=False)
    thr = widgets.IntSlider(value=128, min=0, max=255, description="threshold", continuous_update=False)

    def draw(key, index, threshold):
        return explorer_figure(run, key, index, threshold)

    # the static book: 2 datasets × 8 images × 4 thresholds (each frame ≈ 15 KB on the page)
    return redraw_on_change({"key": ds, "index": img, "threshold": thr}, draw, max_states=64,
                            max_positions={"index": 8, "threshold": 4})
