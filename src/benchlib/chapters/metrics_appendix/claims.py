"""The appendix makes no paper claims; its identities and definitional facts are checks."""
from __future__ import annotations

import numpy as np

from benchlib.claims import Check

CLAIMS: list = []


def _voc_20_vs_21(facts):
    s20, s21 = facts["s20"], facts["s21"]
    return bool(s20["miou"] > s21["miou"]), f"20-class mIoU {s20['miou']:.4f} vs 21-class {s21['miou']:.4f}"


def _empty_gt(facts):
    one, two = facts["one"], facts["two"]
    return (bool(np.isclose(two["adaptive_f"], one["adaptive_f"] / 2)),
            f"adaptive F {one['adaptive_f']:.4f} -> {two['adaptive_f']:.4f}")


def _divisor_order(facts):
    d = facts["divisors"]
    code, paper = d["AP@k code (all)"], d["AP@k paper (min)"]
    return (bool((code <= paper + 1e-12).all()),
            f"{len(d)} cases; differ in {int((code != paper).sum())} (those with more than k positives)")


def _tmap_below_map(facts):
    return (bool(facts["t_map"] <= facts["map"] + 1e-12), f"t-mAP@5 {facts['t_map']:.4f} vs mAP@5 {facts['map']:.4f}")


CHECKS = [
    Check("voc_20_vs_21", "Dropping tvmonitor (the released code's 20-class matrix) inflates mIoU when "
          "tvmonitor is badly segmented", _voc_20_vs_21),
    Check("empty_gt_counted", "An image with empty ground truth is counted with F = 0 (it halves a one-image F)",
          _empty_gt),
    Check("divisor_order", "The released code's divisor (all positives) never gives a higher AP@k than the "
          "paper's (min(positives, k))", _divisor_order),
    Check("tmap_below_map", "Thresholding a ranked list can only lower AP: t-mAP@k ≤ mAP@k", _tmap_below_map),
]
