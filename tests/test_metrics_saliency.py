import numpy as np
import pytest

from benchlib import BenchlibError
from benchlib.metrics.saliency import SaliencyMeter, aggregate, image_scores
from tests._fakes import FakeTensor

B2 = 0.3  # β²


def f(p, r):
    return (1 + B2) * p * r / (B2 * p + r) if p * r else 0.0


# A 2×4 image. uint8 pred /255 -> [0, .2, .4, .6, 1, 0, 0, 0]; min 0 and max 1, so min–max changes
# nothing and the quantised values are the uint8 values again.
PRED_A = np.array([[0, 51, 102, 153],
                   [255, 0, 0, 0]], dtype=np.uint8)
GT_A = np.array([[0, 0, 255, 255],
                 [0, 255, 0, 0]], dtype=np.uint8)  # foreground: the .4, .6 pixels and one 0 pixel


def test_adaptive_f_and_mae_by_hand():
    s = image_scores(PRED_A, GT_A)
    # mean(pred) = (.2+.4+.6+1)/8 = 0.275 -> threshold min(0.55, 1) = 0.55 -> binary = {.6, 1}
    assert s["adaptive_threshold"] == pytest.approx(0.55)
    # TP = {.6} = 1: P = 1/2, R = 1/3 (|gt| = 3)
    assert s["adaptive_precision"] == pytest.approx(0.5)
    assert s["adaptive_recall"] == pytest.approx(1 / 3)
    # F = 1.3·(1/2)(1/3) / (0.3·1/2 + 1/3) = (13/60)/(29/60) = 13/29
    assert s["adaptive_f"] == pytest.approx(13 / 29)
    # |pred − gt| = 0, .2, .6, .4, 1, 1, 0, 0 -> 3.2/8 = 0.4
    assert s["mae"] == pytest.approx(0.4)


def test_adaptive_threshold_is_inclusive():
    pred = np.array([[0, 0.5, 1, 0.5], [0, 0, 0, 0]])  # min 0, max 1: unchanged by min–max
    gt = np.array([[0, 1, 0, 1], [0, 0, 0, 0]], dtype=bool)
    s = image_scores(pred, gt)
    # mean = 2/8 -> threshold 0.5; pred >= 0.5 -> {0.5, 1, 0.5}: TP 2, P 2/3, R 2/2
    # F = 1.3·(2/3)/(0.3·2/3 + 1) = 13/18 (with "> 0.5" only the 1 would be kept: F 0)
    assert s["adaptive_threshold"] == 0.5
    assert s["adaptive_f"] == pytest.approx(13 / 18)


def test_pr_curve_by_hand():
    s = image_scores(PRED_A, GT_A)
    # quantised pred [0, 51, 102, 153, 255, 0, 0, 0]; positive = q >= t; gt = {102, 153, one 0}
    # t = 0:        8 px, TP 3          -> P 3/8, R 1
    # t = 1..51:    {51,102,153,255}, TP 2 -> P 1/2, R 2/3
    # t = 52..102:  {102,153,255},   TP 2 -> P 2/3, R 2/3
    # t = 103..153: {153,255},       TP 1 -> P 1/2, R 1/3
    # t = 154..255: {255},           TP 0 -> P 0,   R 0
    expect = {0: (3 / 8, 1), 1: (1 / 2, 2 / 3), 51: (1 / 2, 2 / 3), 52: (2 / 3, 2 / 3), 102: (2 / 3, 2 / 3),
              103: (1 / 2, 1 / 3), 153: (1 / 2, 1 / 3), 154: (0, 0), 255: (0, 0)}
    for t, (p, r) in expect.items():
        assert s["precision"][t] == pytest.approx(p), t
        assert s["recall"][t] == pytest.approx(r), t
    # F per band: f(3/8, 1) = 0.4875/1.1125; f(1/2, 2/3) = 26/49; f(2/3, 2/3) = 2/3; f(1/2, 1/3) = 13/29
    assert f(3 / 8, 1) == pytest.approx(0.4875 / 1.1125)
    meter = SaliencyMeter().update(PRED_A, GT_A)
    res = meter.compute()
    # one threshold at t=0, then 51 thresholds in each of the three bands, 102 thresholds at 0
    mean_f = (0.4875 / 1.1125 + 51 * 26 / 49 + 51 * 2 / 3 + 51 * 13 / 29) / 256
    assert res["mean_f"] == pytest.approx(mean_f)
    assert res["max_f"] == pytest.approx(2 / 3)
    assert res["precision_curve"].shape == res["recall_curve"].shape == (256,)


def test_empty_ground_truth_counted_with_zero_scores_and_its_mae():
    pred_b = np.array([[0, 255], [255, 255]], dtype=np.uint8)  # -> [0, 1, 1, 1]
    gt_b = np.zeros((2, 2), dtype=np.uint8)
    s = image_scores(pred_b, gt_b)
    assert s["adaptive_f"] == s["adaptive_precision"] == s["adaptive_recall"] == 0.0
    assert not s["precision"].any() and not s["recall"].any() and not s["f"].any()
    assert s["mae"] == pytest.approx(0.75)  # 3 of 4 pixels off by 1

    meter = SaliencyMeter().update(PRED_A, GT_A).update(pred_b, gt_b)
    res = meter.compute()
    assert len(meter) == 2
    assert res["adaptive_f"] == pytest.approx((13 / 29 + 0) / 2)  # the empty image counts as 0
    assert res["mae"] == pytest.approx((0.4 + 0.75) / 2)
    # curves averaged over both images: at t = 52 image A has P = 2/3, image B 0
    assert res["precision_curve"][52] == pytest.approx(1 / 3)


def test_max_and_mean_f_come_from_the_averaged_f_curve():
    # Image 1: one pixel at 255, it is the only foreground pixel.
    #   t = 0: all 4 positive, TP 1 -> P 1/4, R 1 -> F = 1.3·.25/(.075 + 1) = 13/43
    #   t >= 1: P 1, R 1 -> F 1
    # Image 2: same prediction, foreground = that pixel and its neighbour.
    #   t = 0: TP 2 -> P 1/2, R 1 -> F = 0.65/1.15 = 13/23
    #   t >= 1: P 1, R 1/2 -> F = 0.65/0.8 = 0.8125
    pred = np.array([[255, 0], [0, 0]], dtype=np.uint8)
    meter = SaliencyMeter()
    meter.update(pred, np.array([[255, 0], [0, 0]], dtype=np.uint8))
    meter.update(pred, np.array([[255, 255], [0, 0]], dtype=np.uint8))
    res = meter.compute()
    # averaged F curve: t = 0 -> (13/43 + 13/23)/2, t >= 1 -> (1 + 0.8125)/2 = 0.90625
    assert res["max_f"] == pytest.approx(0.90625)
    assert res["mean_f"] == pytest.approx(((13 / 43 + 13 / 23) / 2 + 255 * 0.90625) / 256)
    # F of the averaged P = 1, R = 0.75 would be 0.975/1.05 = 0.9286: not what is reported
    assert res["precision_curve"][1] == pytest.approx(1.0)
    assert res["recall_curve"][1] == pytest.approx(0.75)
    assert f(1.0, 0.75) == pytest.approx(0.975 / 1.05)
    assert res["max_f"] != pytest.approx(0.975 / 1.05)


def _naive_curves(pred_u8, gt_u8):
    """Per-threshold, per-pixel loop; preparation written out independently."""
    p = [v / 255 for v in pred_u8.ravel().tolist()]
    lo, hi = min(p), max(p)
    if hi > lo:
        p = [(v - lo) / (hi - lo) for v in p]
    q = [int(v * 255) for v in p]
    g = [v > 128 for v in gt_u8.ravel().tolist()]
    n_fg = sum(g)
    prec, rec, fm = [], [], []
    for t in range(256):
        tp = sum(1 for qi, gi in zip(q, g) if qi >= t and gi)
        npos = sum(1 for qi in q if qi >= t)
        pr = tp / npos if npos else 0.0
        rc = tp / n_fg if n_fg else 0.0
        prec.append(pr)
        rec.append(rc)
        fm.append(f(pr, rc))
    return np.array(prec), np.array(rec), np.array(fm)


def test_pr_curves_match_naive_loop_on_random_images():
    rng = np.random.default_rng(0)
    images = []
    for _ in range(3):
        gt = np.where(rng.random((12, 15)) < 0.3, 255, 0).astype(np.uint8)
        pred = np.clip(gt * 0.5 + rng.normal(60, 50, gt.shape), 0, 255).astype(np.uint8)
        images.append((pred, gt))
    images.append((rng.integers(20, 200, (12, 15)).astype(np.uint8), np.zeros((12, 15), np.uint8)))  # empty gt
    images.append((np.full((12, 15), 90, np.uint8), images[0][1]))  # constant prediction

    meter = SaliencyMeter()
    naive = [_naive_curves(p, g) for p, g in images]
    for p, g in images:
        meter.update(p, g)
    res = meter.compute()
    np.testing.assert_allclose(res["precision_curve"], np.mean([n[0] for n in naive], axis=0), atol=1e-12)
    np.testing.assert_allclose(res["recall_curve"], np.mean([n[1] for n in naive], axis=0), atol=1e-12)
    f_curve = np.mean([n[2] for n in naive], axis=0)
    assert res["max_f"] == pytest.approx(f_curve.max())
    assert res["mean_f"] == pytest.approx(f_curve.mean())


def test_gt_binarisation_and_constant_prediction():
    pred = np.full((1, 4), 128, dtype=np.uint8)  # constant: not min–max scaled, stays 128/255
    # uint8 gt: 128 is background, 129 foreground
    s = image_scores(pred, np.array([[128, 129, 0, 0]], dtype=np.uint8))
    assert s["mae"] == pytest.approx((3 * 128 / 255 + (1 - 128 / 255)) / 4)
    # float gt: 0.5 is background, 0.51 foreground -> same single foreground pixel
    s2 = image_scores(pred, np.array([[0.5, 0.51, 0.0, 0.0]]))
    assert s2["mae"] == pytest.approx(s["mae"])
    # threshold min(2·128/255, 1) = 1 > 128/255: nothing predicted -> adaptive F 0
    assert s["adaptive_f"] == 0.0
    # curve: q = floor(255·128/255) = 128 -> everything positive up to t = 128, P = 1/4, R = 1
    assert s["precision"][128] == pytest.approx(0.25) and s["recall"][128] == 1.0
    assert s["recall"][129] == 0.0


def test_float_prediction_is_min_max_scaled():
    gt = np.array([[0, 255]], dtype=np.uint8)
    s = image_scores(np.array([[0.2, 0.6]]), gt)  # -> [0, 1]
    assert s["mae"] == pytest.approx(0.0)


def test_bootstrap_helper_resamples_images():
    pred_b = np.array([[0, 255], [255, 255]], dtype=np.uint8)
    gt_b = np.zeros((2, 2), dtype=np.uint8)
    meter = SaliencyMeter().update(PRED_A, GT_A).update(pred_b, gt_b)
    boot = aggregate(meter.per_image(), indices=[0, 0, 1])
    assert boot["adaptive_f"] == pytest.approx(2 * (13 / 29) / 3)
    assert boot["mae"] == pytest.approx((0.4 + 0.4 + 0.75) / 3)
    assert meter.per_image()["precision"].shape == (2, 256)


def test_tensor_input():
    s = image_scores(FakeTensor(PRED_A), FakeTensor(GT_A))
    assert s["adaptive_f"] == pytest.approx(13 / 29)


def test_bad_inputs_raise():
    gt = np.zeros((2, 2), dtype=np.uint8)
    with pytest.raises(BenchlibError, match="NaN"):
        image_scores(np.array([[0.1, np.nan], [0.2, 0.3]]), gt)
    with pytest.raises(BenchlibError, match="same shape"):
        image_scores(np.zeros((2, 3), np.uint8), gt)
    with pytest.raises(BenchlibError, match=r"\[0, 1\]"):
        image_scores(np.array([[0.0, 2.0], [0.0, 0.0]]), gt)
    with pytest.raises(BenchlibError, match="dtype"):
        image_scores(np.zeros((2, 2), np.int32), gt)
    with pytest.raises(BenchlibError, match="0/1"):
        image_scores(np.zeros((2, 2), np.uint8), np.array([[0, 1], [0, 0]], np.uint8))
    with pytest.raises(BenchlibError, match="no saliency images"):
        SaliencyMeter().compute()


# --------------------------------------------------------------------------- malformed inputs (issue 30)
def test_infinite_ground_truth_is_refused_naming_the_image():
    gt = np.array([[0.0, 1.0], [np.inf, 0.0]])
    with pytest.raises(BenchlibError, match=r"GT/im3\.png: saliency ground truth contains ±inf \(1 pixel"):
        image_scores(np.zeros((2, 2)), gt, name="GT/im3.png")
    with pytest.raises(BenchlibError, match="±inf"):
        SaliencyMeter().update(np.zeros((2, 2)), -gt)   # −inf too, through the meter


def test_ground_truth_mixing_01_and_0255_is_refused():
    """0/1 and 0/255 in one mask: `> 128` would read its 1-pixels as background (a silent drop in
    recall), so it is refused with the counts of each value — as uint8 and as float."""
    gt = np.array([[0, 1, 1], [255, 0, 0]], dtype=np.uint8)
    for g in (gt, gt.astype(np.float32)):
        with pytest.raises(BenchlibError, match=r"im0: ground truth mixes the 0/1 and 0/255 encodings "
                                                r"\(2 pixel\(s\) of 1, 1 of 255\)"):
            SaliencyMeter().update(np.zeros((2, 3)), g, name="im0")
    # an anti-aliased 0/255 mask (values between, a 1 among them) is not a mix: binarised > 128
    aa = np.array([[0, 1, 128], [129, 255, 0]], dtype=np.uint8)
    assert image_scores(np.array([[0, 0, 0], [1.0, 1.0, 0]]), aa)["mae"] == pytest.approx(0.0)


@pytest.mark.parametrize("indices, words", [([0, 2], r"1 bootstrap index\(es\) outside 0\.\.1 .*e\.g\. 2"),
                                            ([-1, 0], r"1 bootstrap index\(es\) outside 0\.\.1 .*e\.g\. -1"),
                                            ([0.0, 1.0], r"indices must be a 1-D array of integer image "
                                                         r"indices, got shape \(2,\) and dtype float64"),
                                            ([[0, 1]], r"indices must be .* got shape \(1, 2\)")])
def test_out_of_range_bootstrap_indices_are_refused(indices, words):
    """An index past the images scored raised a bare IndexError; a negative one silently wrapped
    around to the last image."""
    meter = SaliencyMeter().update(PRED_A, GT_A).update(PRED_A, GT_A)
    with pytest.raises(BenchlibError, match="saliency aggregate: " + words):
        aggregate(meter.per_image(), indices=indices)
    assert aggregate(meter.per_image(), indices=np.array([1, 1]))["mae"] == pytest.approx(0.4)
