"""Eq. 1, the CAM → pseudo-mask rule, the 20-class variant, scale-scheduling downsampling, the random
walk, pooled scores from summed counts and the claims' statistics, each on a case worked out by hand."""
import numpy as np
import pytest
import torch

from benchlib import BenchlibError
from benchlib.chapters.orandnet_voc import data, evaluate as E, pipeline, runs as R, train as T
from benchlib.metrics.segmentation import confusion_matrix, segmentation_scores
from benchlib.chapters.orandnet_voc import models as M


def test_eq1_or_and_by_hand():
    c1 = np.array([[[0.5, 1.0], [0.0, 0.2]]])
    c2 = np.array([[[0.5, 0.0], [1.0, 0.5]]])
    # OR: c1 + c2 - c1*c2 = [[0.75, 1.0], [1.0, 0.6]], max 1.0
    np.testing.assert_allclose(M.prob_or(c1, c2), [[[0.75, 1.0], [1.0, 0.6]]])
    # AND: c1*c2 = [[0.25, 0], [0, 0.1]], max 0.25 -> [[1, 0], [0, 0.4]]
    np.testing.assert_allclose(M.prob_and(c1, c2), [[[1.0, 0.0], [0.0, 0.4]]])
    np.testing.assert_allclose(M.naive_ensemble(c1, c2), [[[0.5, 0.5], [0.5, 0.35]]])


def test_eq1_normalises_each_class_map_and_keeps_empty_maps_zero():
    c1 = np.stack([np.full((2, 2), 0.5), np.zeros((2, 2))])
    c2 = np.stack([np.full((2, 2), 0.2), np.ones((2, 2))])
    a = M.prob_and(c1, c2)  # class 0: 0.1 everywhere -> 1; class 1: all zero stays zero (no 0/0)
    np.testing.assert_allclose(a[0], 1.0)
    np.testing.assert_allclose(a[1], 0.0)
    o = M.prob_or(c1, c2)  # class 0: 0.5 + 0.2 - 0.1 = 0.6 -> 1; class 1: 1 -> 1
    np.testing.assert_allclose(o, 1.0)


def test_cams_to_mask_known_answer():
    cams = np.array([[[0.9, 0.1, 0.3, 0.25]],     # class 3 (bird)
                     [[0.2, 0.05, 0.6, 0.1]]])    # class 15 (person)
    mask = M.cams_to_mask(cams, [3, 15], threshold=0.25)
    # pixel 0: bird 0.9 wins; 1: both below 0.25 -> background; 2: person 0.6; 3: tie with the
    # background plane (0.25) -> background (argmax takes the first)
    np.testing.assert_array_equal(mask, [[3, 0, 15, 0]])
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(M.cams_to_mask(np.zeros((0, 1, 2)), [], 0.1), [[0, 0]])


def test_pseudo_mask_scores_against_the_metric_library():
    gt = np.array([[0, 3, 3, 255]], np.uint8)
    cams = np.array([[[0.1, 0.9, 0.2, 0.9]]])
    pm = E.pseudo_masks([cams], [[3]], 0.15)  # -> [[0, 3, 3, 3]], last pixel is void in gt
    np.testing.assert_array_equal(pm, [[[0, 3, 3, 3]]])
    s = E.eval_scores(confusion_matrix(pm, gt[None], 21), 21)
    assert s["miou"] == pytest.approx(1.0)


def test_twenty_class_variant_drops_tvmonitor_from_both_axes():
    gt = np.array([0, 0, 20, 20, 1, 1])
    pred = np.array([0, 20, 0, 0, 1, 0])
    cm = confusion_matrix(pred, gt, 21)
    s21, s20 = E.eval_scores(cm, 21), E.eval_scores(cm, 20)
    # 21 classes: bg TP 1, row 2, col 4 (pixels 0, 2, 3, 5) -> 1/5; aeroplane TP 1 row 2 col 1 -> 1/2;
    # tvmonitor TP 0 -> 0; mean = 0.7 / 3
    assert s21["miou"] == pytest.approx((0.2 + 0.5 + 0.0) / 3)
    # 20 classes (row/col 20 removed): bg TP 1, row 1 (pixel 1 predicted 20 drops out), col 2
    # (pixels 0, 5; pixels 2, 3 had gt 20) -> 1/2; aeroplane 1/2
    assert s20["miou"] == pytest.approx(0.5)
    assert s20["miou"] == pytest.approx(segmentation_scores(cm[:20, :20])["miou"])
    with pytest.raises(BenchlibError, match="n_eval_classes"):
        pipeline.Config(n_eval_classes=19)


def test_scale_scheduling_downsampling_drops_small_noise_and_keeps_objects():
    m = torch.zeros(1, 8, 8, dtype=torch.long)
    m[0, :6, :6] = 5      # a large object: majority of the top-left 4×4 cell
    m[0, 6, 6] = 9        # a one-pixel false activation
    m[0, 4:8, 0:4] = 255  # a void cell
    img = torch.arange(64, dtype=torch.float).view(1, 1, 8, 8)
    x, y = M.downsample_pair(img, m, 4)
    assert x.shape == (1, 1, 2, 2) and x[0, 0, 0, 0] == pytest.approx(np.mean([8 * r + c for r in range(4) for c in range(4)]))
    # cells: TL all 5; TR 4×2 of 5 vs 4×2 of 0 -> tie -> lower label 0; BL void; BR 0 (the 9 is outvoted)
    np.testing.assert_array_equal(y[0].numpy(), [[5, 0], [255, 0]])
    same_x, same_y = M.downsample_pair(img, m, 1)
    assert same_y is m


def test_random_walk_keeps_constants_and_respects_feature_edges():
    feat = torch.zeros(1, 4, 4)
    feat[0, :, 2:] = 10.0  # two regions with very different embeddings
    const = torch.full((1, 4, 4), 0.3)
    torch.testing.assert_close(M.random_walk(feat, const, radius=2), const)
    peak = torch.zeros(1, 4, 4)
    peak[0, 1, 0] = 1.0
    out = M.random_walk(feat, peak, radius=2, steps=8)
    assert out[0, :, :2].sum() > 0.99 * peak.sum() * (out[0].sum() / peak.sum())  # mass stays left
    assert out[0, :, 2:].max() < 1e-6 and out[0, 0, 1] > 0  # spreads within its region only


def test_affinity_seeds_and_loss_by_hand():
    cam = np.zeros((1, 8, 8), np.float32)
    cam[0, :4, :4] = 0.9   # confident class-7 cell
    cam[0, 4:, 4:] = 0.25  # unsure
    seeds = T.affinity_seeds([cam], [[7]], size=8, fg=0.4, bg=0.1)
    np.testing.assert_array_equal(seeds.numpy(), [[7, 0, 0, -1]])
    aff = torch.tensor([[0.5, 0.5]])
    i, j = torch.tensor([0, 1]), torch.tensor([1, 2])  # (fg, bg) differ; (bg, bg) same
    loss = M.affinity_loss(aff, seeds, i, j)
    assert loss.item() == pytest.approx(-np.log(0.5))  # mean of -log(0.5) (bg pair) and -log(1-0.5)


@pytest.mark.parametrize("n_eval", [20, 21])
@pytest.mark.parametrize("key", ["miou", "mprecision", "mrecall"])
def test_summed_counts_score_like_the_pooled_matrix_with_or_without_fixed_classes(key, n_eval):
    rng = np.random.default_rng(1)
    cms = rng.integers(0, 9, size=(6, 21, 21)).astype(float)
    cms[:, 4, :] = cms[:, :, 4] = 0  # a class absent from GT and predictions: left out of the mean
    cms[:, 7, :] = 0                 # predicted but never in the GT: IoU 0, recall undefined
    v = E.count_columns(cms, n_eval).mean(0)
    expect = segmentation_scores(cms.sum(0)[:n_eval, :n_eval])[key]
    assert E.scores_from_counts(v, n_eval)[key] == pytest.approx(expect, rel=1e-12)
    keep = E.present_classes(v, n_eval)
    assert 4 not in keep[0]["miou"] and 7 in keep[0]["miou"] and 7 not in keep[0]["mrecall"]
    assert E.score_stat(v, n_eval, key, keep) == pytest.approx(100 * expect, rel=1e-12)
    # with the classes fixed, nudging a zero count (as the engine's numerical gradient does) moves the
    # score by a nudge, not by a class entering the mean
    nudged = v.copy()
    nudged[n_eval + 4] = nudged[2 * n_eval + 4] = 1e-6
    assert E.score_stat(nudged, n_eval, key, keep) == pytest.approx(100 * expect, abs=1e-6)
    assert abs(E.scores_from_counts(nudged, n_eval)[key] - expect) > 1e-3  # the free NaN rule jumps


def test_gain_and_correlation_statistics_by_hand():
    # two methods on one image of 2 pixels per class, one object class: counts [tp | gt | pred]
    n = 2
    a = [2, 1, 2, 2, 2, 1]   # bg tp 2 gt 2 pred 2 -> IoU 1; class 1 tp 1 gt 2 pred 1 -> IoU 1/2, prec 1, rec 1/2
    b = [1, 1, 2, 2, 3, 1]   # bg IoU 1/(2+3-1) = 1/4, prec 1/3; class 1 IoU 1/2, prec 1
    v = np.array(a + b, float)
    keep = E.present_classes(v, n, 2)
    # mIoU: a (1 + 1/2)/2 = 0.75, b (1/4 + 1/2)/2 = 0.375; precision: a 1, b (1/3 + 1)/2 = 2/3
    assert E.gain_stat(v, n, ["miou"], keep) == pytest.approx(100 * (0.75 - 0.375))
    assert E.gain_stat(v, n, ["miou", "mprecision"], keep) == pytest.approx(100 * (1 - 2 / 3))
    assert E.score_stat(v, n, "mprecision", keep) == pytest.approx(100.0)
    assert E.pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(np.corrcoef([1, 2, 3], [2, 4, 7])[0, 1])
    assert np.isnan(E.pearson([1, 1, 1], [1, 2, 3]))
    # correlation gap: 3 sources whose final mIoU (blocks 3-5) rises with precision and falls with mIoU
    def block(tp1, pred1):  # class 1: gt 4 pixels; background: 4 gt pixels, all predicted right
        return [4, tp1, 4, 4, 4 + (4 - tp1), pred1]
    pm = [block(1, 1), block(2, 4), block(3, 9)]       # precision 1, 1/2, 1/3; recall rises
    seg = [block(4, 4), block(3, 3), block(2, 2)]      # final mIoU falls
    v = np.array(sum(pm + seg, []), float)
    keep = E.present_classes(v, n, 6)
    s = E.block_scores(v, n, keep)
    final = [b["miou"] for b in s[3:]]
    expect = (np.corrcoef(final, [b["mprecision"] for b in s[:3]])[0, 1]
              - np.corrcoef(final, [b["miou"] for b in s[:3]])[0, 1])
    assert E.correlation_gap_stat(v, n, 3, keep) == pytest.approx(expect)
    assert expect > 0


def test_cams_have_labelled_classes_only_and_max_one():
    torch.manual_seed(0)
    model = M.ResNetCAM()
    x = torch.randn(2, 3, 32, 32)
    labels = np.zeros((2, 20), np.uint8)
    labels[0, [2, 5]] = 1
    labels[1, 0] = 1
    cams = M.compute_cams(model, x, labels, scales=(1.0, 0.5))
    assert [c.shape for c in cams] == [(2, 32, 32), (1, 32, 32)]
    for c in cams:
        assert (c >= 0).all() and np.all(c.reshape(len(c), -1).max(1) <= 1.0)
    vit = M.ViTCAM(image_size=32, patch_size=8, num_layers=1, hidden_dim=32, mlp_dim=32, pool_r=2.0).eval()
    t = vit.cam(x)
    assert t.shape == (2, 20, 4, 4)
    # logits = log-sum-exp pooling of the patch-token CAM: log(mean(exp(r·t))) / r, written out here
    expected = np.log(np.exp(2.0 * t.detach().double().numpy()).mean((2, 3))) / 2.0
    np.testing.assert_allclose(vit(x).detach().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_scale_schedule_never_shrinks_a_side_below_twelve_pixels():
    paper = [[8, 2], [4, 4], [2, 6]]
    assert T.effective_schedule(paper, 320) == ((8, 2), (4, 4), (2, 6))  # 40 px at ×8: unchanged
    assert T.effective_schedule(paper, 48) == ((4, 2), (4, 4), (2, 6))   # ×8 would leave 6 px
    assert T.effective_schedule(paper, 30) == ((2, 2), (2, 4), (2, 6))
    assert T.effective_schedule(paper, 20) == ()                         # no downsampling fits


def test_error_overlaps_by_hand():
    gt = np.array([[[0, 0, 3, 3, 255]]], np.uint8)
    a = np.array([[[3, 0, 3, 3, 3]]], np.uint8)   # false at pixel 0, hits at 2, 3 (pixel 4 is void)
    b = np.array([[[3, 3, 0, 3, 0]]], np.uint8)   # false at 0, 1, hit at 3
    # F: {0} & {0, 1} -> 1 shared of 2; T: {2, 3} & {3} -> 1 shared of 2
    np.testing.assert_array_equal(E.overlaps(a, b, gt), [[1, 2, 1, 2]])


def test_thresholds_are_chosen_on_held_out_images_only():
    calib, report = R.calibration_split(7)
    np.testing.assert_array_equal(calib, [0, 3, 6])
    np.testing.assert_array_equal(report, [1, 2, 4, 5])
    # a CAM that is right on the calibration images and wrong on the others keeps the threshold
    # the calibration images want: the report images cannot move it
    masks = np.zeros((7, 1, 4), np.uint8)
    masks[:, 0, :2] = 1
    cams = [np.array([[[0.9, 0.9, 0.3, 0.3]]], np.float32) if i in calib else
            np.array([[[0.3, 0.3, 0.9, 0.9]]], np.float32) for i in range(7)]
    labels = np.zeros((7, 20), np.uint8)
    labels[:, 0] = 1
    split = data.Split([str(i) for i in range(7)], np.zeros((7, 1, 4, 3), np.uint8), masks, labels)
    s = R.SeedRun(0, cams={R.RESNET: cams})
    R.score_cams(s, split, pipeline.Config())
    assert 0.3 <= s.thresholds[R.RESNET] < 0.9
    assert s.train_cms[R.RESNET].shape[0] == 4
    assert E.eval_scores(s.train_cms[R.RESNET].sum(0), 21)["miou"] == 0.0  # all wrong on the report part
