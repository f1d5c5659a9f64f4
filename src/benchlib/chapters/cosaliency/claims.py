"""The co-saliency paper's claims (from its text, Tables 1–2), declared for the claims engine."""
from __future__ import annotations

from functools import partial

import numpy as np

from benchlib.claims import Check, Claim, Measurement, NotTested, Precondition, Stat, linear, min_linear
from benchlib.metrics.saliency import BETA2

from . import SPEC

ONLINE, OFFLINE = "U-Net + DA + FS + RFM (online)", "U-Net + DA + FS + RFM (offline)"
OFFLINE_NO_DA = "U-Net + FS + RFM (offline)"      # Table 1's column 5: column 6 without augmentation
LEARNED_T2 = ("U-Net", OFFLINE, ONLINE)          # Table 2's learned rows (Table 1 columns)
TWIN = {"cosal": "paper-shaped twin", "sdcs": "SDCS-shaped twin"}
SUBSET = {"cosal": "our_dataset", "sdcs": "SDCS"}
SUBSET_NAME = {"our_dataset": "the paper's dataset", "SDCS": "SDCS"}
T2_NAME = {"U-Net": "U-Net", OFFLINE: "Ours (offline)", ONLINE: "Ours (online)"}
SHORT = {"adaptive_f": "F", "mae": "MAE", "cosalient": "co-salient response", "distractor": "distractor response"}
# Table 2's rows that are not the paper's own network
COMPETITORS = ("FT", "CWS", "U-Net", "RFCN", "PiCANet", "DCL", "LFM")
# the methods of the paper's two precision sentences (§Comparison with State-of-the-Art)
PRECISION_RIVALS = ("DCL", "RFCN", "PiCANet", "LFM")
F_BOUNDS = (-1.0, 1.0)          # a difference of two mean F (or MAE) values, fractions
POINT_BOUNDS = (-100.0, 100.0)  # the same in F-measure points


# --------------------------------------------------------------------------- helpers
def _per_seed(run, key, method, metric="adaptive_f"):
    values = run.per_seed(key, method, metric)
    if values is None:
        raise NotTested(f"{method} was not run on the {TWIN[key]} (parameter `ablation`)")
    return values


def _columns(run, key, pairs, stat, detail, scale=1.0, bounds=F_BOUNDS) -> Measurement:
    """A measurement whose columns are (method, metric) per-image values on the same test images, under
    every seed (a crossed design: FT, which does not depend on the seed, is repeated for each)."""
    cols = [_per_seed(run, key, m, k) for m, k in pairs]
    per_seed = [scale * np.stack([c[s] for c in cols], axis=1) for s in range(len(cols[0]))]
    names = [f"{T2_NAME.get(m, m)} {SHORT.get(k, k)}" for m, k in pairs]
    if any(len(c) == 0 for c in per_seed):
        raise NotTested(f"no test image of the {TWIN[key]} has what this claim measures")
    return Measurement(per_seed, stat, columns=names, detail=f"{detail}, {run.splits[key].dataset}",
                       shared_units=True, bounds=bounds, units="test images", seeds=list(run.seeds))


def all_salient_f(run, key) -> float:
    """Mean adaptive F of the trivial map that marks the whole image salient (recall 1, precision =
    the ground truth's share of the image): the floor a trained model must beat."""
    shares = np.array([(it.gt > 128).mean() for it in run.splits[key].test.items])
    return float(np.mean((1 + BETA2) * shares / (BETA2 * shares + 1)))


def trained(key, method) -> Precondition:
    """Degenerate-model guard: on every seed, `method` beats the all-salient map's F on this test set
    (a constant, empty or everywhere-on map cannot)."""

    def check(run):
        values = run.per_seed(key, method, "adaptive_f")
        if values is None:
            return True, "not run (the claim says so)"
        floor = all_salient_f(run, key)
        means = [float(np.mean(v)) for v in values]
        ok = all(m > floor for m in means)
        return ok, f"{method} adaptive F per seed {', '.join(f'{m:.3f}' for m in means)} vs floor {floor:.3f}"

    return Precondition(f"{method} trained on the {TWIN[key]}: its adaptive F beats the all-salient map's on "
                        "every seed", check, degenerate=True)


# --------------------------------------------------------------------------- effects
def _beats_unet(key):
    def effect(run):
        # min of the two improvements: the claim needs both F up and MAE down
        return _columns(run, key, [(ONLINE, "adaptive_f"), ("U-Net", "adaptive_f"), (ONLINE, "mae"),
                                   ("U-Net", "mae")],
                        Stat(min_linear, w=[[1, -1, 0, 0], [0, 0, -1, 1]]),
                        "effect = min(F gain, MAE reduction) of online over U-Net")
    return effect


def _beats_unet_paper(subset):
    def on_paper(p):
        f = p.value("2", "Ours (online)", "F-measure", subset) - p.value("2", "U-Net", "F-measure", subset)
        mae = p.value("2", "U-Net", "MAE", subset) - p.value("2", "Ours (online)", "MAE", subset)
        return min(f, mae)
    return on_paper


def _a_minus_b(key, a, b, scale, detail):
    def effect(run):
        return _columns(run, key, [(a, "adaptive_f"), (b, "adaptive_f")], Stat(linear, w=[1, -1]), detail, scale,
                        POINT_BOUNDS if scale == 100 else F_BOUNDS)
    return effect


def _rfm_vs_da(run):
    pairs = [(m, "adaptive_f") for m in ("U-Net", "U-Net + DA", "U-Net + DA + FS", OFFLINE, ONLINE)]
    # the paper: DA alone adds little; adding RFM (online and offline alike) to U-Net + DA + FS adds much.
    # Rows of W: (online − DA+FS) − (DA − U-Net) and (offline − DA+FS) − (DA − U-Net)
    return _columns(run, "cosal", pairs, Stat(min_linear, w=[[1, -1, -1, 0, 1], [1, -1, -1, 1, 0]]),
                    "effect = min(RFM gain online, offline over U-Net + DA + FS) − DA gain over U-Net", 100,
                    (-200.0, 200.0))


def _rfm_vs_da_paper(p):
    f = {m: p.value("1", m, "F-measure") for m in ("U-Net", "U-Net + DA", "U-Net + DA + FS", OFFLINE, ONLINE)}
    return min(f[ONLINE], f[OFFLINE]) - f["U-Net + DA + FS"] - (f["U-Net + DA"] - f["U-Net"])


def ft_gains(run, key) -> Measurement:
    """Per test image, seed by seed: FT's F and each learned model's F (columns FT, U-Net, offline, online);
    the effect is the smallest of the three paired gains over FT, each a mean over the images (a
    difference of means, not a per-image minimum, which would be biased low by per-image noise)."""
    pairs = [("FT", "adaptive_f")] + [(m, "adaptive_f") for m in LEARNED_T2]
    return _columns(run, key, pairs, Stat(min_linear, w=[[-1, 1, 0, 0], [-1, 0, 1, 0], [-1, 0, 0, 1]]),
                    "effect = min over U-Net, offline, online of (mean F of the model − mean F of FT), paired "
                    "on the same test images")


def _ft_below_paper(subset):
    def on_paper(p):
        return (min(p.value("2", T2_NAME[m], "F-measure", subset) for m in LEARNED_T2)
                - p.value("2", "FT", "F-measure", subset))
    return on_paper


def _selectivity(run):
    pairs = [(ONLINE, "cosalient"), (ONLINE, "distractor"), ("U-Net", "cosalient"), ("U-Net", "distractor")]
    # (online co-salient − online distractor) − (U-Net co-salient − U-Net distractor): the gain in telling the
    # repeated objects from a single salient one; a map that is merely weaker everywhere gains nothing
    return _columns(run, "cosal", pairs, Stat(linear, w=[1, -1, -1, 1]),
                    "effect = selectivity (co-salient − distractor response) of online − that of U-Net; mean map "
                    "response (scaled to [0, 1]) per test image with a distractor", bounds=(-2.0, 2.0))


def _speed(run):
    # the paper's network: the full-width VGG-16 rows, or this run's own when it used the paper's VGG-16
    rows = run.fps_full or (run.fps if run.config.vgg_weights and run.config.width == 0 else [])
    if not run.device.startswith("cuda") or len(rows) < 2:
        raise NotTested(f"the 28 fps are a GTX 1080 Ti with the full-width VGG-16 at the paper's image sizes; "
                        f"this run is on {run.device} (its CPU fps, reduced and full width, are in the speed rows)")
    # columns: the paper's image sizes; rows: timed repeats (other repeats at each size: not shared units);
    # the claim needs every size ≥ 28 fps
    per_size = [1.0 / np.asarray(r["times_s"], float) for r in rows]
    n = min(len(t) for t in per_size)
    return Measurement([np.stack([t[:n] for t in per_size], axis=1)], Stat(min_linear, w=np.eye(len(rows)).tolist()),
                       columns=[f"fps {r['width']}×{r['height']}" for r in rows], shared_units=False,
                       bounds=(0.0, None), units="timed runs",
                       detail="test path, batch 1, after warm-up, CUDA synchronised")


# --------------------------------------------------------------------------- claims computed on Table 2 only
def _best(p, methods, metric, subset):
    """(name, value) of the method with the highest `metric` among `methods` in Table 2."""
    return max(((m, p.value("2", m, metric, subset)) for m in methods), key=lambda t: t[1])


def _ours_over_best(metric, rivals):
    """On the paper's numbers: per dataset, Ours (online) − the best rival; the claim needs both datasets."""
    def per_dataset(p):
        out = {}
        for subset in SUBSET.values():
            name, best = _best(p, rivals, metric, subset)
            ours = p.value("2", "Ours (online)", metric, subset)
            out[subset] = (ours, name, best, ours - best)
        return out

    def on_paper(p):
        return min(v[3] for v in per_dataset(p).values())
    on_paper.per_dataset = per_dataset
    return on_paper


def _per_dataset_text(on_paper, metric, margin=0.0):
    from benchlib.claims import PaperTables

    parts = []
    for subset, (ours, name, best, d) in on_paper.per_dataset(PaperTables(SPEC.id)).items():
        verdict = "held" if d > margin else "contradicted"
        parts.append(f"{SUBSET_NAME[subset]}: Ours (online) {ours:.3f} − {name} {best:.3f} = {d:+.3f} ({verdict})")
    return f"on the paper's {metric}: " + "; ".join(parts)


_SOTA_PAPER = _ours_over_best("F-measure", COMPETITORS)
_PRECISION_PAPER = _ours_over_best("precision", PRECISION_RIVALS)
_NOT_RUN = "their code and training are not part of this book, so the run has no rows of theirs"


def _sota(run):
    raise NotTested(f"the state of the art of Table 2 is DCL, LFM, RFCN, PiCANet and CWS: {_NOT_RUN} (against the two "
                    "methods run here see online_beats_unet[_sdcs] and learned_beat_ft[_sdcs]); "
                    + _per_dataset_text(_SOTA_PAPER, "F-measure"))


def _precision(run):
    raise NotTested(f"DCL, RFCN, PiCANet and LFM: {_NOT_RUN}; "
                    + _per_dataset_text(_PRECISION_PAPER, "precision")
                    + " (the paper's offline model has precision 0.917 on its dataset, above DCL's 0.916)")


def _faster(run):
    raise NotTested("the paper reports no competing method's speed, and the competitors (LFM's EdgeBox proposals "
                    f"and grouping, DCL, RFCN, PiCANet) are not run here: {_NOT_RUN}; this run's own fps are in the "
                    "speed rows")


# --------------------------------------------------------------------------- the claims
def _ft_claim(key, claim_id, statement, source) -> Claim:
    return Claim(id=claim_id, statement=statement, source=source, effect=partial(ft_gains, key=key), direction=+1,
                 margin=0.0, unit="F (fraction)", min_seeds=3,
                 preconditions=tuple(trained(key, m) for m in LEARNED_T2), on_paper=_ft_below_paper(SUBSET[key]))


_BETTER = ("§Comparison with State-of-the-Art: 'In the experiment results, deep learning-based methods obtain better "
           "saliency results than traditional methods'")
_T2 = "Table 2"
# "not a significant improvement" for +0.8 points: the paper's own line between significant and not
DA_SIGNIFICANT = 0.8
CLAIMS = [
    Claim(id="cosal_state_of_the_art_f",
          statement="The proposed method (online) achieves state-of-the-art accuracy: a higher F-measure than every "
                    "other method of Table 2 (FT, CWS, U-Net, RFCN, PiCANet, DCL, LFM), on both datasets.",
          source="Abstract: 'the proposed method achieves a state-of-the-art accuracy'; Introduction: 'It achieves "
                 "the state-of-the-art accuracy on two targeted datasets'",
          effect=_sota, direction=+1, margin=0.0, unit="F (fraction)", on_paper=_SOTA_PAPER),
    Claim(id="cosal_precision_beats_competitors",
          statement="The proposed method (online) has a higher average precision than DCL, RFCN and PiCANet, and "
                    "than LFM, on both datasets of Table 2.",
          source="§Comparison with State-of-the-Art: 'achieves better average recall and better average precision "
                 "than other saliency methods DCL, RFCN, PiCANet' and 'has a faster speed than the LFM and has a "
                 "higher average precision'",
          effect=_precision, direction=+1, margin=0.0, unit="precision (fraction)", on_paper=_PRECISION_PAPER),
    Claim(id="cosal_augmentation_helps",
          statement="Data augmentation brings a significant improvement to the offline RFM model: Table 1's column 6 "
                    f"(U-Net + DA + FS + RFM offline) beats column 5 (U-Net + FS + RFM offline) by more than "
                    f"{DA_SIGNIFICANT} F-measure points, the gain the paper calls 'not a significant improvement'.",
          source="§Model Analysis, Table 1: 'comparing the results in the last second and the last third columns, we "
                 "can see that data augmentation brings a significant improvement on the performance' (89.2 vs 88.1)",
          effect=_a_minus_b("cosal", OFFLINE, OFFLINE_NO_DA, 100, "adaptive F points, offline RFM with − without DA"),
          direction=+1, margin=DA_SIGNIFICANT,
          margin_source="§Model Analysis: 'the accuracy of U-net improves 0.8% when training it with data "
                        "augmentation, which is not a significant improvement': a significant improvement is one "
                        "above 0.8 points",
          unit="F-measure points (%)", min_seeds=3,
          preconditions=(trained("cosal", OFFLINE_NO_DA), trained("cosal", OFFLINE)),
          on_paper=lambda p: p.value("1", OFFLINE, "F-measure") - p.value("1", OFFLINE_NO_DA, "F-measure")),
    Claim(id="cosal_much_faster",
          statement="The proposed network runs much faster than the competing methods.",
          source="Introduction: 'runs in a speed much faster than the competing methods'; §Comparison: 'has a faster "
                 "speed than the LFM'",
          effect=_faster, direction=+1, margin=0.0, unit="frames per second"),
    Claim(id="online_beats_unet",
          statement="The proposed network (online RFM) beats U-Net (no RFM branch) on both F-measure and MAE "
                    "(paper-shaped dataset).",
          source=f"§Comparison with State-of-the-Art, {_T2} 'Our Dataset': 'The baseline model (U-net) has worse "
                 "saliency results than other deep learning based networks'",
          effect=_beats_unet("cosal"), direction=+1, margin=0.0, unit="F / MAE (fraction)", min_seeds=3,
          preconditions=(trained("cosal", "U-Net"), trained("cosal", ONLINE)),
          on_paper=_beats_unet_paper("our_dataset")),
    Claim(id="online_beats_unet_sdcs",
          statement="The proposed network (online RFM) beats U-Net on both F-measure and MAE (SDCS-shaped dataset).",
          source=f"{_T2} 'SDCS Dataset': Ours (online) 0.911 / 0.044 vs U-Net 0.856 / 0.107 (F / MAE)",
          effect=_beats_unet("sdcs"), direction=+1, margin=0.0, unit="F / MAE (fraction)", min_seeds=3,
          preconditions=(trained("sdcs", "U-Net"), trained("sdcs", ONLINE)),
          on_paper=_beats_unet_paper("SDCS")),
    Claim(id="rfm_suppresses_distractors",
          statement="The RFM branch makes the network tell repeated objects from single salient distractors: the "
                    "online model's selectivity (mean response on the co-salient objects − on the distractors) is "
                    "higher than U-Net's.",
          source="§Visual comparison, Fig. 6: 'general saliency detectors based on deep learning cannot judge "
                 "co-saliency objects using only masks as the supervision'; Fig. 4: 'some images are disturbed "
                 "by other single salient objects'",
          effect=_selectivity, direction=+1, margin=0.0, unit="selectivity (map response, 0–1)", min_seeds=3,
          margin_source="margin 0: the paper shows this only visually (Fig. 6) and gives no size",
          preconditions=(trained("cosal", "U-Net"), trained("cosal", ONLINE))),
    Claim(id="online_beats_offline",
          statement="Online training-sample selection beats offline selection (Table 1's last two columns).",
          source="§Model Analysis, Table 1: 'the results of the online version RFM are better than those of the "
                 "offline version'",
          effect=_a_minus_b("cosal", ONLINE, OFFLINE, 100, "adaptive F, online − offline"), direction=+1,
          margin=0.0, unit="F-measure points (%)",
          min_seeds=3, preconditions=(trained("cosal", OFFLINE), trained("cosal", ONLINE)),
          on_paper=lambda p: p.value("1", ONLINE, "F-measure") - p.value("1", OFFLINE, "F-measure")),
    Claim(id="online_beats_offline_sdcs",
          statement="Online selection beats offline selection on the SDCS-shaped dataset too.",
          source="§Comparison, Fig. 5 (SDCS): 'the online version of the proposed method ... is better than the "
                 "offline version, which are consistent with the results in Table 2'",
          effect=_a_minus_b("sdcs", ONLINE, OFFLINE, 1, "adaptive F, online − offline"), direction=+1, margin=0.0,
          unit="F (fraction)", min_seeds=3,
          preconditions=(trained("sdcs", OFFLINE), trained("sdcs", ONLINE)),
          on_paper=lambda p: p.value("2", "Ours (online)", "F-measure", "SDCS")
          - p.value("2", "Ours (offline)", "F-measure", "SDCS")),
    Claim(id="rfm_helps_more_than_da",
          statement="Data augmentation improves U-Net only a little; adding the RFM branch (online and offline) "
                    "improves much more.",
          source="§Model Analysis, Table 1: 'the accuracy of U-net improves 0.8% when training it with data "
                 "augmentation, which is not a significant improvement. However, when adding the RFM layer in the "
                 "training, both online and offline, the performance ... has a boosted improvement'",
          effect=_rfm_vs_da, direction=+1, margin=0.0, unit="F-measure points (%)", min_seeds=3,
          preconditions=tuple(trained("cosal", m) for m in ("U-Net", "U-Net + DA", "U-Net + DA + FS",
                                                              OFFLINE, ONLINE)),
          on_paper=_rfm_vs_da_paper),
    _ft_claim("cosal", "learned_beat_ft",
              "Deep learning-based methods obtain better saliency results than the traditional FT: every learned "
              "model of Table 2 (U-Net, ours offline, ours online) has a higher F-measure than FT (paper-shaped "
              "dataset).",
              f"{_BETTER}; Table 2: FT 0.536 vs U-Net 0.824, ours 0.892 / 0.904"),
    _ft_claim("sdcs", "learned_beat_ft_sdcs",
              "Every learned model of Table 2 has a higher F-measure than FT on the SDCS-shaped dataset too.",
              f"{_BETTER}; Table 2 'SDCS Dataset': FT 0.58 vs U-Net 0.856, ours 0.907 / 0.911"),
    Claim(id="speed_28fps",
          statement="The test path runs at 28 fps (or more) at the paper's image sizes.",
          source="Abstract and §Implementation: 'The running speed of the test is 28fps' (GTX 1080 Ti)",
          effect=_speed, direction=+1, margin=0.0, reference=28.0, unit="frames per second"),
]


# --------------------------------------------------------------------------- checks
def _scores_in_range(run):
    bad = [f"{key}/{m}" for key, per in run.scores.items() for m, seeds in per.items() for s in seeds
           for k in ("adaptive_f", "adaptive_precision", "adaptive_recall", "mae")
           if not np.all((np.asarray(s[k]) >= 0) & (np.asarray(s[k]) <= 1))]
    return not bad, "all in [0, 1]" if not bad else f"out of range: {', '.join(sorted(set(bad)))}"


def _f_identity(run):
    worst = 0.0
    for per in run.scores.values():
        for seeds in per.values():
            for s in seeds:
                p, r = np.asarray(s["adaptive_precision"]), np.asarray(s["adaptive_recall"])
                with np.errstate(invalid="ignore", divide="ignore"):
                    f = np.where(BETA2 * p + r > 0, (1 + BETA2) * p * r / (BETA2 * p + r), 0.0)
                worst = max(worst, float(np.max(np.abs(f - np.asarray(s["adaptive_f"])))))
    return worst < 1e-9, f"largest |F − (1+β²)PR/(β²P+R)| = {worst:.2g}"


def _distractor_rule(run):
    split = run.splits["cosal"]
    if not split.is_twin:
        raise NotTested("real data: the rule is the twin's")
    bad = [it.id for it in split.test.items
           if it.cosalient.sum() < 2 or (~it.cosalient).sum() < 1
           or len(set(np.asarray(it.classes)[~it.cosalient])) != (~it.cosalient).sum()]
    return not bad, f"{len(split.test)} test images" + (f"; violated by {', '.join(bad[:5])}" if bad else "")


CHECKS = [
    Check("twin_distractor_rule", "Every paper-shaped test image holds ≥ 2 co-salient instances and ≥ 1 single "
          "distractor (each of its own class)", _distractor_rule),
    Check("scores_in_range", "Per-image F, precision, recall and MAE lie in [0, 1]", _scores_in_range),
    Check("f_from_p_r", "Each image's adaptive F equals (1+β²)·P·R / (β²·P + R) with β² = 0.3", _f_identity),
]
