"""The satellite paper's claims (Ghassemi et al., EUSIPCO 2018), declared for the claims engine."""

# Every effect is measured on the mean over the test areas of the F1 score pooled over each area's
# pixels, as the paper's "Mean" column. The units of the interval are `block` × `block` cells of the
# test areas, the same blocks under every seed (a crossed design); each claim's statistic is the named
# `evaluate.scores_stat` on the block counts (TP, FP, FN, TN) of the networks it compares, paired on the
# blocks (`benchlib.claims.interval`).

from __future__ import annotations

import numpy as np

from benchlib.claims import Check, Claim, Measurement, NotTested, Precondition, Stat, min_linear

from .evaluate import area_units, counts_measurement, mean_score, pooled_score, seed_scores
from .models import DISPLAY_NAMES

# A trained network is degenerate when, in some seed, its mean F1 does not beat both this floor
# and the F1 of the constant "everything is a building" map on the same pixels (a network that
# learned nothing but the prior can reach the latter).
F1_FLOOR = 5.0
SIZES = ("small", "large")
# The residual networks of Table II, whose parameter counts the paper sets against its U-Net.
PROPS = ("prop18", "prop34", "prop50", "prop101", "prop152", "prop200")


# --------------------------------------------------------------------------- helpers
def _evals(run, label):
    if label not in run.evals:
        raise NotTested(f"{label} was not trained in this run (it is not in the parameter `models`; the default "
                        "profile leaves out the networks whose five seeds do not fit its budget)")
    return run.evals[label]


def _refined(run, family: str):
    """The refined network of one family ("Prop" / "U-Net"), its label and per-seed refinements."""
    hit = [k for k in run.refinements if k.startswith(family)]
    if not hit:
        raise NotTested(f"no {family} network refined in this run")
    return hit[0], run.refinements[hit[0]]


def constant_f1(counts_by_area, areas) -> float:
    """Mean F1 (percent) of the map that calls every counted pixel a building."""
    tp, fp, fn, tn = area_units(counts_by_area, areas).sum(0).reshape(-1, 4).T
    pos, neg = tp + fn, fp + tn
    return mean_score(np.column_stack([pos, neg, 0 * pos, 0 * pos]).ravel(), "F1")


def degenerate_check(run, label):
    """(ok, detail): per seed, mean F1 above F1_FLOOR and above the constant map's F1."""
    if label not in run.evals:   # not trained: the effect says "not tested: not trained"
        return True, f"{label} not trained"
    f1 = seed_scores(run.evals[label], run.areas, "F1")
    floor = max(F1_FLOOR, max(constant_f1(e.counts, run.areas) for e in run.evals[label]))
    return (all(v > floor for v in f1),
            f"{label} mean F1 per seed {', '.join(f'{v:.1f}' for v in f1)} vs floor {floor:.1f} "
            f"(max of {F1_FLOOR:g} and the all-building map)")


def not_degenerate(label: str) -> Precondition:
    return Precondition(f"{label} trained: its mean F1 above the floor in every seed",
                        lambda run: degenerate_check(run, label), degenerate=True)


def degenerate_models(run) -> dict[str, str]:
    """{label: detail} of the trained networks that are degenerate (flagged in the tables)."""
    out = {}
    for label in run.evals:
        ok, detail = degenerate_check(run, label)
        if not ok:
            out[label] = detail
    return out


def _difference(a: str, b: str):
    """Effect: mean F1 of `a` − mean F1 of `b` (same seeds, same blocks)."""

    def effect(run):
        ea, eb = _evals(run, a), _evals(run, b)
        sets = [[x.counts, y.counts] for x, y in zip(ea, eb)]
        return counts_measurement(sets, run.areas, [[1, -1]], "F1", bounds=(-100, 100),
                                  detail=f"mean F1 {a} {pooled_score(ea, run.areas, 'F1'):.2f}, "
                                         f"{b} {pooled_score(eb, run.areas, 'F1'):.2f}; {run.dataset}")
    return effect


def _paper_f1(paper, table, method):
    return paper.value(table, method, "F1", "mean")


def _paper_gains(paper, base):
    return [_paper_f1(paper, "3", f"{base} tuned ({s})") - _paper_f1(paper, "3", base) for s in SIZES]


def _refinement_gain(family: str):
    """Effect: the smaller of the two gains (small, large part) of the refined `family` network."""

    def effect(run):
        label, refs = _refined(run, family)
        sets = [[r.base.counts] + [r.tuned[s].counts for s in SIZES] for r in refs]
        return counts_measurement(sets, run.areas, [[-1, 1, 0], [-1, 0, 1]], "F1", bounds=(-100, 100),
                                  detail=f"{label}: min over the small / large part of (refined − unrefined) "
                                         f"mean F1, scored outside the large part; {run.dataset}")
    return effect


def _unet_gains_more(run):
    ulabel, urefs = _refined(run, "U-Net")
    plabel, prefs = _refined(run, "Prop")
    sets = [[u.base.counts] + [u.tuned[s].counts for s in SIZES] + [p.base.counts] + [p.tuned[s].counts for s in SIZES]
            for u, p in zip(urefs, prefs)]
    # per part size: (tuned − unrefined) of U-Net − (tuned − unrefined) of Prop
    return counts_measurement(
        sets, run.areas, [[-1, 1, 0, 1, -1, 0], [-1, 0, 1, 1, 0, -1]], "F1", bounds=(-200, 200),
        detail=f"min over the small / large part of (gain of {ulabel} − gain of {plabel}); {run.dataset}")


def _refined_guard(family: str) -> Precondition:
    def check(run):
        hit = [k for k in run.refinements if k.startswith(family)]
        return degenerate_check(run, hit[0]) if hit else (True, f"no {family} refined")
    return Precondition(f"the refined {family} network trained: its mean F1 above the floor in every "
                        "seed", check, degenerate=True)


def parameter_measurement(counts: dict, props=PROPS) -> Measurement:
    """Effect: the smallest of (U-Net(19)'s − each Prop network's learnable parameters), in millions:
    positive when every Prop has fewer. Columns: U-Net(19), then the Props. An exact count has no
    sampling noise: it enters as two identical units of one seed (a zero-width interval)."""
    names = ["unet19", *props]
    row = [counts[n] / 1e6 for n in names]
    w = [[1.0] + [-1.0 if j == i else 0.0 for j in range(len(props))] for i in range(len(props))]
    more = [DISPLAY_NAMES[p] for p in props if counts[p] >= counts["unet19"]]
    detail = ("learnable parameters (M) counted from the built full-width modules"
              + (f"; more than U-Net(19): {', '.join(more)}" if more else "; every Prop has fewer")
              + (f"; U-Net(35) (the book's design of the paper's unspecified 35-layer variant) "
                 f"{counts['unet35'] / 1e6:.2f} M" if "unet35" in counts else ""))
    return Measurement([np.array([row, row])], Stat(min_linear, w=w), columns=[DISPLAY_NAMES[n] for n in names],
                       detail=detail, shared_units=False, bounds=(None, None), units="copies of the exact count")


def _fewer_parameters(run):
    if not run.parameters:
        raise NotTested("the parameters were not counted")
    return parameter_measurement(run.parameters)


# --------------------------------------------------------------------------- the claims
_COMPARABLE = "§IV-C: 'Our proposed architecture consistently outperforms the U-Net reference for comparable network depths'"
_DEPTH = ("§IV-C / Table II: 'the encoder depth plays a key role on the overall system performance' ... "
          "'This first experiment proves that encoder depth improves performance'")
_REFINE = ("§IV-C / Table III: 'Table III shows consistent gains for all experimental setups' (the paper "
           "refines Prop-152 and U-Net(19); on_paper uses those rows)")

UNET_PAIRS = ((18, "U-Net(19)"), (34, "U-Net(35)"))   # Prop-d vs the U-Net of comparable depth
DEPTHS = (34, 50, 101, 152)                          # Prop-d vs Prop-18


def method_pairs() -> list[tuple[str, str, str]]:
    """(claim id, a, b) of every claim that compares two trained networks' mean F1 (a − b)."""
    return ([(f"prop_beats_unet_{d}", f"Prop-{d}", u) for d, u in UNET_PAIRS]
            + [(f"depth_improves_{d}", f"Prop-{d}", "Prop-18") for d in DEPTHS])


CLAIMS = [
    *[Claim(id=f"prop_beats_unet_{d}",
            statement=f"The proposed architecture outperforms the U-Net reference at comparable depth: "
                      f"Prop-{d} > {u} in mean F1 over the test areas.",
            source=_COMPARABLE, effect=_difference(f"Prop-{d}", u), direction=+1, margin=0.0,
            unit="F1 points", min_seeds=3, preconditions=(not_degenerate(f"Prop-{d}"), not_degenerate(u)),
            on_paper=lambda paper, d=d, u=u: _paper_f1(paper, "2", f"Prop-{d}") - _paper_f1(paper, "2", u))
      for d, u in UNET_PAIRS],
    *[Claim(id=f"depth_improves_{d}",
            statement=f"Encoder depth improves performance: Prop-{d} > Prop-18 in mean F1 over the test areas.",
            source=_DEPTH, effect=_difference(f"Prop-{d}", "Prop-18"), direction=+1, margin=0.0,
            unit="F1 points", min_seeds=3, preconditions=(not_degenerate(f"Prop-{d}"), not_degenerate("Prop-18")),
            on_paper=lambda paper, d=d: _paper_f1(paper, "2", f"Prop-{d}") - _paper_f1(paper, "2", "Prop-18"))
      for d in DEPTHS],
    Claim(id="no_gain_beyond_152",
          statement="Increasing the encoder depth beyond 152 layers does not improve performance any further: "
                    "Prop-200's mean F1 over the test areas is not above Prop-152's.",
          source="§IV-C: 'increasing the encoder depth beyond 152 layers does not improve performance any further'",
          effect=_difference("Prop-200", "Prop-152"), direction=-1, margin=0.0,
          margin_source="margin 0: the paper gives no size for 'not any further' (its Table II has Prop-200 "
                        "0.75 below Prop-152); held when Prop-200 is below Prop-152 beyond noise, contradicted "
                        "when above, inconclusive when the two are equal within noise",
          unit="F1 points", min_seeds=3, preconditions=(not_degenerate("Prop-200"), not_degenerate("Prop-152")),
          on_paper=lambda paper: _paper_f1(paper, "2", "Prop-200") - _paper_f1(paper, "2", "Prop-152")),
    *[Claim(id=f"refinement_improves_{key}",
            statement=f"Refining {what} on a small (≈ 7 %) or large (≈ 15 %) annotated part of each test area "
                      "improves its mean F1 on the rest (both part sizes).",
            source=_REFINE, effect=_refinement_gain(family), direction=+1, margin=0.0, unit="F1 points",
            min_seeds=3, preconditions=(_refined_guard(family),),
            on_paper=lambda paper, base=paper_row: min(_paper_gains(paper, base)))
      for key, family, what, paper_row in (("prop", "Prop", "the trained proposed network", "Prop-152"),
                                           ("unet", "U-Net", "the trained U-Net(19)", "U-Net(19)"))],
    Claim(id="unet_gains_more",
          statement="The U-Net reference benefits the most from refinement: its F1 gain exceeds the proposed "
                    "network's, for both part sizes.",
          source="§IV-C: 'Whereas the reference U-Net architecture benefits the most from refinement'",
          effect=_unet_gains_more, direction=+1, margin=0.0, unit="F1 points", min_seeds=3,
          preconditions=(_refined_guard("U-Net"), _refined_guard("Prop")),
          on_paper=lambda paper: min(u - p for u, p in zip(_paper_gains(paper, "U-Net(19)"),
                                                           _paper_gains(paper, "Prop-152")))),
    Claim(id="satellite_fewer_parameters",
          statement="The residual design entails fewer learnable parameters than U-Net: every Prop network of "
                    "Table II (Prop-18 … Prop-200, full width) has fewer learnable parameters than the paper's "
                    "U-Net reference, the standard U-Net [8] (U-Net(19)).",
          source="§III-D: 'residual networks are the key towards larger batch sizes B as they entail fewer "
                 "learnable parameters to hold in memory'; §V: 'the residual design allows deeper encoders and "
                 "larger batch sizes in reason of the lower number of learnable parameters'; §IV-C: 'the "
                 "standard U-Net [8] architecture (19 convolutional layers, comparable to ResNet18)'",
          effect=_fewer_parameters, direction=+1, margin=0.0, unit="M parameters"),
]


# --------------------------------------------------------------------------- checks
def _table1_check(run):
    from benchlib.papers import load_table

    from . import SPEC
    from .models import architecture_table

    paper = load_table(SPEC.id, "1")
    bad, n = [], 0
    for method, rows in paper.groupby("method"):
        ours = architecture_table(f"prop{method[5:]}")
        for r in ours.itertuples():
            for metric in ("feature_maps", "convolutions"):
                v = rows[(rows["metric"] == metric) & (rows["subset"] == f"{r.part} block {r.block}")]["value"]
                n += 1
                if len(v) != 1 or float(v.iloc[0]) != getattr(r, metric):
                    bad.append(f"{method} {r.part} {r.block} {metric}")
    return not bad, f"{n} cells compared" + (f"; differ: {', '.join(bad)}" if bad else "; all equal")


def _every_pixel_scored(run):
    """Table II counts cover each test scene exactly once (tiling + stitching lose nothing)."""
    bad = [f"{label} {s.name}" for label, evs in run.evals.items() for e in evs for s in run.test
           if int(e.counts[s.name].sum()) != s.mask.size]
    return not bad, "every pixel counted once" if not bad else f"miscounted: {', '.join(bad)}"


def _same_pixels_refined(run):
    """All rows of Table III for one network are scored on the same pixels (outside the large part)."""
    bad = []
    for label, refs in run.refinements.items():
        for r in refs:
            for s in SIZES:
                for a in run.areas:
                    if not np.array_equal(r.base.counts[a].sum(1), r.tuned[s].counts[a].sum(1)):
                        bad.append(f"{label} {s} {a}")
    if not run.refinements:
        raise NotTested("no refinement in this run")
    return not bad, "identical pixel sets per block" if not bad else f"differ: {', '.join(bad)}"


CHECKS = [
    Check("table1_equals_paper", "Feature maps and convolutions counted from the built Prop modules equal the "
          "paper's Table I", _table1_check),
    Check("every_test_pixel_scored", "Stitched whole-scene inference scores every test pixel exactly once",
          _every_pixel_scored),
    Check("refined_rows_same_pixels", "Unrefined and refined rows of Table III are scored on the same pixels",
          _same_pixels_refined),
]
