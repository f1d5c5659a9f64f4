"""Report of the SAM vs SAM 2 chapter: result rows beside the published numbers, the paper tables
(`tables`: the review's Table 1 with a "measured here" column, the published numbers beside ours),
the page's other displays (one named function each), its figures, and the explorer."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from benchlib.claims import interval, not_claimed_rows, single
from benchlib.papers import load_table, paper_meta
from benchlib.results import ChapterResults, bootstrap_ci, paper_table

from . import SPEC
from . import models as S
from .pipeline import (COMPOSITION_CHECK, LIKE_FOR_LIKE, SPEEDUP_PAIR, composition_factor, like_for_like_times,
                       paired_ratio)
from .evaluate import per_frame_j_and_f
from .video import per_frame, per_frame_slope, video_growth

NO_DATA = "built modules (no data)"
RANDOM_IMAGE = "random image (content-independent)"


def _ci(values, stat=np.median):
    """Bootstrap CI of a median (percentiles of resampled medians: inside the values' range)."""
    ci = bootstrap_ci(values, stat=stat)
    return None if math.isnan(ci[0]) else ci


def _mean_ci(values, bounds):
    """The claims engine's interval of a mean over units, inside the quantity's `bounds`."""
    ci = interval(single([values], bounds=bounds))
    return None if math.isnan(ci[0]) else ci


def _published_ratio(fast: str, slow: str) -> float:
    pub = load_table(SPEC.id, "published").query("metric == 'FPS' and subset == 'image, A100'")
    fps = dict(zip(pub["method"], pub["value"]))
    return fps[fast] / fps[slow]


# ----------------------------------------------------------------------------- result rows
def _record_params(res, run) -> None:
    for r in run.totals.itertuples():
        res.add("published", r.model, "params_M", r.params_M, dataset=NO_DATA, subset="counted",
                note="whole model, counted here")
        for comp, n in run.params[run.params["variant"] == r.variant][["component", "params"]].itertuples(index=False):
            res.add("1", r.model, f"params_M: {comp}", n / 1e6, dataset=NO_DATA, subset="Computational Efficiency")
    res.compare_with_paper("published")


def _rounds_note(t) -> str:
    n = len(t["times_s"])
    return (f"{n} interleaved round{'s' if n != 1 else ''}"
            + (f" after {t['warmup']} warm-up" if t["warmup"] else ", no warm-up round"))


def _record_timing(res, run, timing: dict, native: bool) -> None:
    """Encoder time, CPU time, memory (and, at the repeated size, prompt latency) per variant.
    Rows of the native-size round carry the size in the metric name (same table, same subset)."""
    for k, t in timing.items():
        if k == COMPOSITION_CHECK:
            continue
        size = f"{t['resolution']}²"
        sfx = f", {size}" if native else ""
        sub = f"{size}, {run.hardware}, {run.mode}, {_rounds_note(t)}"
        med = float(np.median(t["times_s"]))
        how = "" if t["how"] == "measured" else "; composed from per-block timings"
        data = RANDOM_IMAGE if how == "" else "random input (content-independent)"
        res.add("1", t["model"], f"image encoder s{sfx}", med, dataset=data, subset="Computational Efficiency",
                ci=_ci(t["times_s"], np.median), n=len(t["times_s"]), note=f"{sub}{how}; median, CI of the median")
        res.add("published", t["model"], "FPS", 1 / med, dataset=data, subset=f"image encoder, {size}, this machine",
                note=f"{run.hardware}, {run.mode}, batch 1{how}; {_rounds_note(t)}")
        if t["how"] != "measured":
            continue
        if np.isfinite(t["cpu_s"]).all() and run.threads == 1:
            res.add("1", t["model"], f"image encoder CPU s (calling thread){sfx}", float(np.median(t["cpu_s"])),
                    dataset=RANDOM_IMAGE, subset="Computational Efficiency", n=len(t["cpu_s"]),
                    note=f"{sub}; with one torch thread the call's own compute, without waits for a core")
        res.add("1", t["model"], f"peak memory MiB (above baseline){sfx}", float(np.median(t["peak_mb"])),
                dataset=RANDOM_IMAGE, subset="Computational Efficiency", n=len(t["peak_mb"]), note=sub)
        if not native:
            res.add("1", t["model"], "weights MiB", t["weights_mb"], dataset=NO_DATA,
                    subset="Computational Efficiency", note="parameters and buffers, as built")
        total = t["weights_mb"] + t["peak_mb"]
        res.add("1", t["model"], f"memory to encode one image MiB (weights + peak){sfx}", float(np.median(total)),
                dataset=RANDOM_IMAGE, subset="Computational Efficiency", ci=_ci(total, np.median), n=len(total),
                note=f"{sub}; median over rounds, CI of the median")
        if native:
            continue
        p = run.prompts[k]
        res.add("1", t["model"], "1-point prompt→mask ms", 1000 * float(np.median(p["point"])), dataset=RANDOM_IMAGE,
                subset="User Interaction", n=len(p["point"]), note=sub)
        res.add("1", t["model"], "box prompt→mask ms", 1000 * float(np.median(p["box"])), dataset=RANDOM_IMAGE,
                subset="User Interaction", n=len(p["box"]), note=sub)


def _record_encoders(res, run) -> None:
    _record_timing(res, run, run.timing, native=False)
    _record_timing(res, run, run.native, native=True)
    for k in run.config.param_variants:
        if k not in run.timing and k not in run.native:
            res.not_run("1", S.variant(k).label, "image encoder s",
                        f"not timed in the {res.profile} profile (budget); set latency_variants",
                        subset="Computational Efficiency")


def _spread(r) -> str:
    if len(r) == 1:
        return "one round, no spread"
    q1, q3 = np.percentile(r, [25, 75])
    return f"spread {r.min():.2f}–{r.max():.2f} (IQR {q1:.2f}–{q3:.2f})"


def _record_ratios(res, run) -> None:
    """Speed ratios from the paired rounds (like for like, see `pipeline.like_for_like_times`): the
    median with its spread, the published ratio beside it, at the repeated size and at the native
    size. No CI column here: the claims give the CI, of the geometric mean of the same paired
    ratios (a bootstrap CI of a median of five values is little more than their range)."""
    # (slow, fast) model pairs and the published FPS ratio that matches each (None: not published)
    pairs = [(SPEEDUP_PAIR, ("SAM 2 Hiera-B+ (SA-1B)", "SAM ViT-H")),
             (LIKE_FOR_LIKE[0], ("SAM 2 Hiera-B+ (SA-1B)", "SAM ViT-B")), (LIKE_FOR_LIKE[1], None)]
    for native in (False, True):
        timing = run.native if native else run.timing
        for (slow, fast), pub in pairs:
            lf = like_for_like_times(run, slow, fast, native)
            if lf is None:
                continue
            r = lf[0] / lf[1]
            t = timing[fast]
            res.add("published", f"{S.variant(fast).label} / {S.variant(slow).label}", "encoder speed ratio",
                    float(np.median(r)), dataset=RANDOM_IMAGE, subset=f"{t['resolution']}², this machine", n=len(r),
                    paper_value=_published_ratio(*pub) if pub else None,
                    note=f"median of paired rounds ({_rounds_note(t)}), {_spread(r)}; {run.hardware}, {run.mode}; "
                         f"{lf[2]}")
            cpu = timing[slow]["cpu_s"] / timing[fast]["cpu_s"]
            if run.threads == 1 and np.isfinite(cpu).all():  # both timed whole, one thread: CPU time is the work
                res.add("published", f"{S.variant(fast).label} / {S.variant(slow).label}",
                        "encoder CPU-time ratio (calling thread)", float(np.median(cpu)), dataset=RANDOM_IMAGE,
                        subset=f"{t['resolution']}², this machine", n=len(cpu),
                        note=f"the same calls' CPU time, without waits for a core (less sensitive to other "
                             f"processes' load than the wall-time ratio, which is what the paper measures); "
                             f"{_spread(cpu)}")
        f = composition_factor(run, native)
        if np.isfinite(f):
            r = paired_ratio(run, "vit_b", COMPOSITION_CHECK, native)
            size = f", {timing['vit_b']['resolution']}²" if native else ""
            res.add("1", "SAM ViT-B", f"time measured whole / composed from blocks{size}", f, dataset=RANDOM_IMAGE,
                    subset="Computational Efficiency", n=len(r),
                    note=f"check of the per-block composition used for ViT-H: median of paired rounds, {_spread(r)}")


def _record_video(res, run) -> None:
    v, c = run.video, run.config
    f = v["frames"]
    for name, g in f[f["frame"] > 0].groupby("run", sort=False):
        model = g["model"].iloc[0]
        res.add("1", model, "video s/frame (frames 1…N-1)", g["seconds"].mean(), dataset=run.video_data,
                subset="Capabilities", ci=_mean_ci(g["seconds"].to_numpy(), (0, None)), n=len(g),
                note=f"{c.video_resolution}², {run.hardware}")
        res.add("1", model, "video s/frame growth per frame", per_frame_slope(f, name), dataset=run.video_data,
                subset="Capabilities", n=len(g), note="least-squares slope of per-frame time over frames 1…N-1")
        if name != "SAM 2":
            res.add("1", model, "video prompt→mask s/frame", g["prompt→mask"].mean(), dataset=run.video_data,
                    subset="Capabilities", n=len(g))
    mem = per_frame(v, "SAM 2", "memory attention") + per_frame(v, "SAM 2", "memory encoder")
    res.add("1", S.variant(c.video_sam2).label, "video memory attention + memory encoder s/frame", mem.mean(),
            dataset=run.video_data, subset="Capabilities", n=len(mem))


def _record_quality(res, run) -> None:
    c = run.config
    qdata = f"{run.dataset} image set" if run.image_root else "no image set"
    for k in c.quality_variants:
        label = S.variant(k).label
        if k not in run.quality:
            reason = ("no checkpoint" if S.checkpoint_path(c.checkpoints, k) is None
                      else "no image set with masks under data_root")
            for m in ("mIoU_1click", "mIoU_5click"):
                res.not_run("published", label, m, reason, subset=qdata)
            continue
        ious = run.quality[k]
        for n, m in ((1, "mIoU_1click"), (c.n_clicks, "mIoU_5click")):
            res.add("published", label, m, 100 * ious[:, n - 1].mean(), dataset=qdata, subset="ours",
                    ci=_mean_ci(ious[:, n - 1] * 100, (0, 100)), n=len(ious), note=f"{n} simulated click(s)")
    for name, key, how in (("SAM 2", c.video_sam2, "one click on frame 0, then memory"),
                           ("SAM 2 (no memory)", c.video_sam2, "no memory: an oracle click on every frame"),
                           ("SAM", c.video_sam, "an oracle click on every frame")):
        label = S.variant(key).label + (" (no memory)" if name == "SAM 2 (no memory)" else "")
        if name not in run.jf:
            res.not_run("published", label, "J&F", "no checkpoint" if run.video else "no video run",
                        subset=run.video_data)
            continue
        jf = run.jf[name]
        res.add("published", label, "J&F", 100 * jf["JF"], dataset=run.video_data, subset="ours", n=len(jf["J"]),
                ci=_mean_ci(per_frame_j_and_f(jf), (0, 100)), note=f"{how}; interval over frames 1…N−1")


def record(res, run) -> None:
    """Every result row of the run, beside the published numbers where they exist (and the
    number of torch threads the run chose, into run.json's parameters)."""
    res.parameters["threads_used"] = run.threads
    _record_params(res, run)
    _record_encoders(res, run)
    _record_ratios(res, run)
    if run.video is not None:
        _record_video(res, run)
    _record_quality(res, run)


# ----------------------------------------------------------------------------- tables
def component_table(res) -> pd.DataFrame:
    """Parameters (M) per model (rows) and component (columns), from the result rows."""
    f = res.frame
    parts = [m for m in dict.fromkeys(f["metric"]) if m.startswith("params_M: ")]
    t = paper_table(f, "1", metrics=parts, columns=("metric",), show=("ours",), digits=3, flat=True)
    return t.rename(columns=lambda c: c.removeprefix("params_M: "))


def totals_table(run) -> pd.DataFrame:
    return run.totals[["model", "params_M", "published_M", "rel_diff_%"]].round(3)


def latency_table(run) -> pd.DataFrame:
    """One row per timed variant and size (whole or composed): median encoder time with its spread
    over the interleaved rounds, the calling thread's CPU time, memory, prompt latency (repeated
    size only) and parameters."""
    p = dict(zip(run.totals["variant"], run.totals["params_M"]))
    rows = []
    for native, timing in ((False, run.timing), (True, run.native)):
        for k, t in timing.items():
            x = t["times_s"]
            pr = {} if native else run.prompts.get(k, {})
            rows.append({"variant": k, "model": t["model"] + (" (composed)" if t["how"] == "composed" else ""),
                         "family": t["family"], "how": t["how"], "resolution": t["resolution"],
                         "rounds": len(x), "warmup": t["warmup"],
                         "encoder_s": float(np.median(x)), "min_s": float(x.min()), "max_s": float(x.max()),
                         "cpu_s": float(np.median(t["cpu_s"])) if np.isfinite(t["cpu_s"]).any() else math.nan,
                         "weights_mb": t["weights_mb"],
                         "peak_mem_mb": float(np.median(t["peak_mb"])) if np.isfinite(t["peak_mb"]).any() else math.nan,
                         "point_s": float(np.median(pr["point"])) if pr else math.nan,
                         "box_s": float(np.median(pr["box"])) if pr else math.nan,
                         "params_M": p.get(t["variant"], math.nan)})
    return pd.DataFrame(rows)


def timing_protocol(run) -> pd.DataFrame:
    """Exactly what was timed: which models, how, at which size, how many rounds, threads, mode."""
    rows = []
    for what, timing in (("repeated rounds (the claims' units)", run.timing),
                         ("native size (beside the claims)", run.native)):
        if not timing:
            continue
        t0 = next(iter(timing.values()))
        whole = [t["model"] for k, t in timing.items() if t["how"] == "measured"]
        composed = [t["model"] for k, t in timing.items() if t["how"] == "composed" and k != COMPOSITION_CHECK]
        rows.append({"timing": what, "size": f"{t0['resolution']}²", "timed whole": ", ".join(whole),
                     "composed from per-block timings": ", ".join(composed) + (" (ViT-B also, as a check)"
                                                                               if COMPOSITION_CHECK in timing else ""),
                     "timed rounds": len(t0["times_s"]), "warm-up rounds": t0["warmup"],
                     "torch threads": run.threads, "device": run.device, "mode": run.mode})
    return pd.DataFrame(rows)


def shape_table(run) -> pd.DataFrame:
    """Feature shapes recorded while encoding, and the strides they imply."""
    from .measure import strides

    rows = []
    for t in run.timing.values():
        for where, shapes in t["shapes"].items():
            if where.startswith("block") and where != "block 0":
                continue
            cl = t["family"] == "SAM" and where != "encoder output"
            rows.append({"model": t["model"], "where": where + (" (… all blocks alike)" if where == "block 0" else ""),
                         "shapes": shapes, "strides": strides(shapes, t["resolution"], channels_last=cl)})
    return pd.DataFrame(rows)


def video_table(run) -> pd.DataFrame:
    return run.video["frames"].round(3) if run.video else pd.DataFrame()


def _fmt_params(run, comp):
    g = run.params[run.params["component"] == comp].groupby("variant", sort=False)["params"].sum()
    return ", ".join(f"{S.variant(k).label.split()[-1]} {v / 1e6:.3g} M" for k, v in g.items())


def _text_inputs(run) -> str:
    """Per family: the released prompt encoder's inputs, and whether any built variant takes text."""
    out = []
    for fam, g in run.prompt_inputs.groupby("family", sort=False):
        text = bool(g["text_input"].any() or (g["text_modules"].astype(str) != "").any()) if "text_modules" in g \
            else bool(g["text_input"].any())
        out.append(f"{fam}: PromptEncoder.forward({', '.join(dict.fromkeys(g['inputs']))}), "
                   f"{'takes' if text else 'no'} text input in {len(g)} built variant(s)")
    return "; ".join(out)


def _measured_column(run) -> dict:
    """What this run measured for each row of the review's Table 1 (numbers from the run)."""
    lat = latency_table(run)
    pt = dict(zip(run.totals["variant"], run.totals["params_M"]))
    eff = "; ".join(f"{S.variant(b).label} {pt[b]:.1f} M vs {S.variant(a).label} {pt[a]:.1f} M params"
                    for a, b in LIKE_FOR_LIKE if a in pt and b in pt)
    for size, g in lat[lat["variant"] != COMPOSITION_CHECK].groupby("resolution", sort=False):
        eff += f"; encoder at {size}² (median of {int(g['rounds'].iloc[0])} round(s)): " + ", ".join(
            f"{r.model} {r.encoder_s:.2f} s" for r in g.itertuples())
        eff += f"; weights + peak memory to encode one {size}² image: " + ", ".join(
            f"{r.model} {r.weights_mb + r.peak_mem_mb:.0f} MiB" for r in g[g["how"] == "measured"].itertuples())
    lat = lat[lat["resolution"] == run.config.resolution]
    out = {"Computational Efficiency": eff,
           "User Interaction": "same prompt types (points, boxes, masks) in both; prompt→mask: " + ", ".join(
               f"{r.model} {1000 * r.point_s:.0f} ms (point) / {1000 * r.box_s:.0f} ms (box)"
               for r in lat[lat["how"] == "measured"].itertuples()),
           "Prompt Encoder": f"{_text_inputs(run)}; params: {_fmt_params(run, 'prompt encoder')}"}
    if run.video is not None:
        s = {name: per_frame(run.video, name).mean() for name in ("SAM", "SAM 2 (no memory)", "SAM 2")}
        out["Capabilities"] = (f"video at {run.video['resolution']}², s/frame: {S.variant(run.video['sam_key']).label} "
                               f"re-run {s['SAM']:.2f}; {S.variant(run.video['sam2_key']).label} re-prompted without "
                               f"memory {s['SAM 2 (no memory)']:.2f}, with memory {s['SAM 2']:.2f} "
                               f"(one prompt instead of one per frame)")
    if run.arch is not None:
        a = run.arch.set_index("id")
        out["Image Encoder"] = (f"{a.loc['hiera_multiscale', 'evidence']}; FPN fuses strides 16 and 32: "
                                f"{a.loc['fpn_fuses_16_32', 'held']}; SAM ViT single stride 16: "
                                f"{a.loc['sam_vit_single_stride', 'held']}")
        out["Mask Decoder"] = (f"params: {_fmt_params(run, 'mask decoder')}; high-resolution skip in SAM 2: "
                               f"{a.loc['high_res_to_decoder', 'evidence']}")
    return out


def table1(run) -> pd.DataFrame:
    """The review's Table 1 row by row (its text verbatim), with what this run measured for that row."""
    t1 = load_table(SPEC.id, "1")
    order = list(dict.fromkeys(t1["metric"]))
    wide = t1.pivot_table(index="metric", columns="method", values="value", aggfunc="first", sort=False).reindex(order)
    out = pd.DataFrame({"Feature": order, "SAM (review)": wide["SAM"].to_numpy(),
                        "SAM 2 (review)": wide["SAM 2"].to_numpy()})
    measured = _measured_column(run)
    out["measured here"] = [measured.get(f, "— (not measurable: a statement about intent or the data engine)")
                            for f in order]
    return out


def published_table(res) -> pd.DataFrame:
    """Per model (rows) and subset × metric (columns): the published numbers (A100, SA-23, DAVIS,
    the SAM 2.1 README) in parentheses beside what was measured here — "ours [CI] (paper)", "—"
    where only the paper has a number, "not run" where the row says why. The paper's rows that none
    of ours matches are added to the layout here, not to the results."""
    paper = ChapterResults(res.chapter, res.profile)
    paper.add_paper_rows("published")
    ours = res.frame
    pub = ours[ours["table"].astype(str) == "published"]   # a row of another table hides no paper row
    mine = set(zip(pub["method"], pub["metric"], pub["subset"]))
    only_paper = paper.frame[[k not in mine for k in zip(paper.frame["method"], paper.frame["metric"],
                                                         paper.frame["subset"])]]
    return paper_table(pd.concat([only_paper, ours], ignore_index=True), "published", show=("ours", "ci", "paper"))


def dataset_facts() -> pd.DataFrame:
    """SA-1B vs SA-V, from the review's text (meta.json of the paper tables)."""
    t = paper_meta(SPEC.id)["text_numbers"]
    a, v = t["SA-1B"], t["SA-V"]
    return pd.DataFrame([
        {"dataset": "SA-1B (SAM)", "media": f"{a['images_million']} M images",
         "annotations": f"{a['masks_billion']} B masks", "automatic": f"{a['automatic_mask_percent']} % of masks",
         "note": f"{a['masks_with_IoU_over_90_percent']} % of checked masks IoU > 90 %"},
        {"dataset": "SA-V (SAM 2)", "media": f"{v['videos_thousand']} K videos, {v['hours_of_footage']} h",
         "annotations": f"{v['masklets_thousand']} K masklets, {v['masks_million']} M masks",
         "automatic": f"{v['automatic_masklets_thousand']} K of {v['masklets_thousand']} K masklets",
         "note": f"{v['manual_masklets_thousand']} K manual masklets"},
    ])


def checkpoint_status(run) -> pd.DataFrame:
    """Which variants have a checkpoint file (and which file name is expected)."""
    c = run.config
    rows = []
    for k in sorted(set(c.param_variants) | set(c.quality_variants) | set(c.latency_variants)):
        p = S.checkpoint_path(c.checkpoints, k)
        rows.append({"variant": k, "model": S.variant(k).label, "expected file": S.CHECKPOINT_FILES[k],
                     "checkpoint": str(p) if p else "none (random weights)"})
    return pd.DataFrame(rows)


def not_claimed() -> list[dict]:
    """The review's statements this chapter does not test, each with its source and why."""
    return not_claimed_rows([
        ("SAM 2's memory mechanism makes video efficient (the cost of the memory path against "
         "re-prompting)", "§1, read with an ellipsis in an earlier version of this chapter",
         "the sentence as written credits memory with 'consistency and accuracy across video frames', "
         "not with lower cost: accuracy is claimed (sam2_video_accuracy); the memory path's cost per "
         "frame stays a result row"),
        ("'6×' and FPS in absolute terms (A100, bf16, compiled, batch 10)", "SAM 2 paper",
         "no GPU here; CPU eager timings carry over as ratios only (six_times_faster judges the ratio)"),
        ("ViT-H (and ViT-L) timed whole", "§4 (speed), published FPS",
         "too slow for the default budget on a CPU: ViT-H is assembled from per-block timings and compared "
         "with SAM 2 through ViT-B timed both whole and from blocks in the same rounds (it assumes the "
         "assembly errs alike for ViT-B and ViT-H)"),
        ("Speed at the native 1024² with a spread (default profile)", "§4",
         "one interleaved round there: one 1024² ViT-B call costs several whole rounds at the repeated "
         "size on one CPU core; the claims' intervals come from the repeated rounds at the smaller size "
         "(the paper profile repeats every round at 1024²)"),
        ("Objective, Applications, Limitations and Data Engine rows of Table 1", "Table 1",
         "statements of intent or about the annotation process, not properties of the released code"),
        ("'Smoother interaction', 'better handling of ambiguous inputs'",
         "Table 1, User Interaction",
         "a user study; here only the prompt types and the prompt→mask latency are measured"),
        ("SAM 2's prompt encoder is 'potentially incorporating … better integration of spatial and "
         "textual data'", "Table 1, Prompt Encoder (SAM 2)",
         "hedged ('potentially'); what the released SAM 2 prompt encoder accepts is shown beside the "
         "claim about SAM's (sam_clip_text_prompt)"),
        ("SAM 2 struggles with crowded scenes, long occlusions, shot changes and look-alike objects",
         "§3.6", "needs checkpoints and labelled real video; the twin's video has a look-alike "
         "and an occluder, but one sequence cannot judge a limitation"),
    ])


def tables(res, run) -> dict:
    """The paper tables, keyed by their ids in results.csv: "1" the review's Table 1 (its text, not
    numbers, so laid out here) with what this run measured, "published" the published numbers beside
    ours. The page's other displays are the functions above (components, totals, latency, timing
    protocol, shapes, video, datasets, checkpoints) and `run.arch` / `run.prompt_inputs`."""
    return {"1": table1(run), "published": published_table(res)}


# ----------------------------------------------------------------------------- figures
def plot_latency_vs_params(run, ax=None):
    """Encoder latency (median, with the min–max over rounds) against whole-model parameters."""
    import matplotlib.pyplot as plt

    lat = latency_table(run)
    lat = lat[lat["variant"] != COMPOSITION_CHECK]
    ax = ax or plt.subplots(figsize=(6.5, 4.2))[1]
    sizes = sorted(lat["resolution"].unique())
    for (fam, mk), (i, size) in itertools.product((("SAM", "s"), ("SAM 2", "o")), enumerate(sizes)):
        g = lat[(lat["family"] == fam) & (lat["resolution"] == size)]
        if g.empty:
            continue
        ax.errorbar(g["params_M"], g["encoder_s"], yerr=[g["encoder_s"] - g["min_s"], g["max_s"] - g["encoder_s"]],
                    fmt=mk, ms=7, capsize=3, color=f"C{i}", mfc=f"C{i}" if fam == "SAM 2" else "none",
                    label=f"{fam}, {size}² ({int(g['rounds'].iloc[0])} round(s))")
        for r in g.itertuples():
            ax.annotate(r.model.replace("SAM 2.1 ", "").replace("SAM ", "").replace(" (composed)", " *"),
                        (r.params_M, r.encoder_s), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set(xscale="log", yscale="log", xlabel="parameters (M, whole model)", ylabel="image encoder time (s)",
           title="Encoder latency vs size (* composed from per-block timings)")
    for axis in (ax.xaxis, ax.yaxis):  # plain numbers at 1, 2, 5 × 10^k (no 3×10² labels running together)
        axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.legend()
    return ax.figure


def plot_rounds(run):
    """Encoder time per interleaved round, per variant: drift under machine load shows as lines
    moving together; the paired ratios cancel it."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for k, t in run.timing.items():
        ax.plot(np.arange(1, len(t["times_s"]) + 1), t["times_s"], "o-",
                label=t["model"] + (" (composed)" if t["how"] == "composed" else ""))
    ax.set(yscale="log", xlabel="timed round", ylabel="encoder s", title="Interleaved timing rounds")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return fig


def plot_video_cost(run):
    """Per-frame time against the frame index, mean time per frame after N frames, and SAM 2's
    frame split into encoder / memory / prompt→mask / rest."""
    import matplotlib.pyplot as plt

    f = run.video["frames"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for model, g in f.groupby("model", sort=False):
        axes[0].plot(g["frame"], g["seconds"], "o-", label=model)
    axes[0].set(xlabel="frame index", ylabel="seconds for this frame", title="Per-frame cost (frame 0: load + prompt)")
    for a in axes[:2]:
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    for model, g in video_growth(f).groupby("model", sort=False):
        axes[1].plot(g["N"], g["per_frame_s"], "o-", label=model)
    axes[1].set(xlabel="N frames", ylabel="mean seconds per frame", title="Cost per frame for an N-frame video")
    g = f[(f["run"] != "SAM") & (f["frame"] > 0)].groupby("run", sort=False).mean(numeric_only=True)
    bottom = np.zeros(len(g))
    for part in ("encoder", "memory attention", "memory encoder", "prompt→mask", "rest"):
        axes[2].bar(g.index, g[part], bottom=bottom, label=part)
        bottom += g[part].to_numpy()
    axes[2].set(ylabel="seconds per frame (mean, frames 1…N-1)", title="SAM 2 with and without memory, split")
    for a in axes:
        a.legend(fontsize=7)
    fig.tight_layout()
    return fig


def breakdown_figure(row: dict, image=None, click=None, mask=None):
    """The explorer's view of one variant: the image with the click (and the mask, when a
    checkpoint gives one), and the latency / memory breakdown."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 1.4]})
    if image is not None:
        axes[0].imshow(image)
        if mask is not None:
            axes[0].imshow(np.ma.masked_where(~mask, mask), alpha=0.5, cmap="autumn")
        if click is not None:
            axes[0].plot(*click, "*", color="yellow", markersize=15, markeredgecolor="k")
        axes[0].set_title("mask" if mask is not None else "click (no checkpoint: no meaningful mask)", fontsize=9)
    axes[0].axis("off")
    parts = {"image encoder": row["encoder_s"], "1-point prompt → mask": row["point_s"],
             "box prompt → mask": row["box_s"]}
    names, vals = list(parts), list(parts.values())
    axes[1].barh(names, vals, color=["C0", "C1", "C2"])
    for i, v in enumerate(vals):
        axes[1].text(v, i, f" {v * 1000:.0f} ms" if v < 1 else f" {v:.2f} s", va="center", fontsize=8)
    axes[1].set(xscale="log", xlabel="seconds (log)",
                title=f"{row['model']} at {row['resolution']}²; weights {row['weights_mb']:.0f} MiB, "
                      f"peak +{row['peak_mem_mb']:.0f} MiB")
    fig.tight_layout()
    return fig


def explorer_figure(run, variant: str | None = None, x: int | None = None, y: int | None = None):
    """The explorer's initial state as a plain figure (for the static book)."""
    lat = latency_table(run)
    lat = lat[(lat["how"] == "measured") & (lat["resolution"] == run.config.resolution)].set_index("variant")
    variant = variant or lat.index[0]
    image = run.frames[0] if run.frames else None
    h, w = image.shape[:2] if image is not None else (run.config.resolution,) * 2
    x, y = (w // 2 if x is None else x), (h // 2 if y is None else y)
    mask = None
    if variant in run.predictors and image is not None:
        pred = run.predictors[variant]
        pred.set_image(image)
        m, sc, _ = pred.predict(point_coords=np.array([[x, y]]), point_labels=np.array([1]), multimask_output=True)
        mask = m[int(np.argmax(sc))].astype(bool)
    return breakdown_figure(lat.loc[variant].to_dict(), image, (x, y), mask)


def explorer(run):
    """ipywidgets: pick a variant and a click position; shows the mask when that variant was
    loaded from a checkpoint, otherwise where the time and memory go."""
    import ipywidgets as widgets

    from benchlib.widgets import redraw_on_change

    lat = latency_table(run)
    lat = lat[(lat["how"] == "measured") & (lat["resolution"] == run.config.resolution)]
    h, w = run.frames[0].shape[:2] if run.frames else (run.config.resolution,) * 2
    controls = {"variant": widgets.Dropdown(options=[(r.model, r.variant) for r in lat.itertuples()],
                                            description="variant")}
    if run.predictors:  # a click only matters where a checkpoint gives a mask; without one, no sliders
        controls["x"] = widgets.IntSlider(value=w // 2, min=0, max=w - 1, description="click x",
                                          continuous_update=False)
        controls["y"] = widgets.IntSlider(value=h // 2, min=0, max=h - 1, description="click y",
                                          continuous_update=False)
    return redraw_on_change(controls, lambda variant, x=None, y=None: explorer_figure(run, variant, x, y))
