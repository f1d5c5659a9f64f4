"""Co-saliency chapter: FT saliency, anchors, box matching, triplet sampling and loss — values
worked out by hand (comments show the arithmetic)."""
import math

import numpy as np
import pytest
import torch

from benchlib import BenchlibError
from benchlib.chapters.cosaliency.models import (
    CoSalHead, CoSalNet, LiteEncoder, VGG16Encoder, build_encoder, decode_boxes, encode_boxes, ft_saliency,
    label_regions, make_anchors, make_triplets, match_anchors, online_regions, roi_align_separable, rpn_losses,
    srgb_to_lab, triplet_loss,
)


# --------------------------------------------------------------------------- FT
def test_lab_of_known_colours():
    lab = srgb_to_lab(np.array([[[255, 255, 255], [255, 0, 0], [0, 0, 0]]], np.uint8))[0]
    assert lab[0] == pytest.approx([100, 0, 0], abs=0.01)
    assert lab[1] == pytest.approx([53.24, 80.09, 67.20], abs=0.02)  # sRGB red, D65
    assert lab[2] == pytest.approx([0, 0, 0], abs=1e-9)


def test_ft_uniform_image_with_one_patch():
    # 32×32 grey image, an 8×8 red patch at rows/cols 12..19. With p = patch Lab, g = grey Lab, a
    # blurred pixel is g + t·(p − g), t = the kernel weight falling on the patch, and the mean Lab is
    # g + (64/1024)(p − g) = g + (1/16)(p − g). So the distance is |t − 1/16|·|p − g|:
    #  - patch interior, t = 1: 15/16 (the maximum)                              -> 1
    #  - far background, t = 0: 1/16                                             -> (1/16)/(15/16) = 1/15
    #  - middle row, 1 px left of the patch: horizontal taps +1, +2 on the patch,
    #    t = 4/16 + 1/16 = 5/16: 4/16                                            -> 4/15
    #  - middle row, 2 px left: only the +2 tap, t = 1/16: 0 (the minimum)        -> 0
    img = np.full((32, 32, 3), 128, np.uint8)
    img[12:20, 12:20] = (220, 30, 30)
    sal = ft_saliency(img)
    assert sal.dtype == np.float32 and sal.shape == (32, 32)
    np.testing.assert_allclose(sal[14:18, 14:18], 1.0, atol=1e-6)
    np.testing.assert_allclose(sal[:9, :], 1 / 15, atol=1e-6)
    assert sal[15, 11] == pytest.approx(4 / 15, abs=1e-6)
    assert sal[15, 20] == pytest.approx(4 / 15, abs=1e-6)
    assert sal[15, 10] == pytest.approx(0, abs=1e-6) and sal.min() == 0


def test_ft_constant_image_and_bad_input():
    assert ft_saliency(np.full((5, 6, 3), 77, np.uint8)).max() == 0
    with pytest.raises(BenchlibError, match="uint8"):
        ft_saliency(np.zeros((5, 6), np.uint8))


# --------------------------------------------------------------------------- anchors
def test_anchor_generator_by_hand():
    a = make_anchors(1, 1, stride=16, sizes=(128,), ratios=(1.0, 2.0, 0.5))
    # centre (8, 8); ratio 1: 128×128; ratio h/w = 2: w = 128/√2, h = 128·√2
    assert a[0].tolist() == pytest.approx([-56, -56, 72, 72])
    w, h = 128 / math.sqrt(2), 128 * math.sqrt(2)
    assert a[1].tolist() == pytest.approx([8 - w / 2, 8 - h / 2, 8 + w / 2, 8 + h / 2], rel=1e-5)
    assert a[2].tolist() == pytest.approx([8 - h / 2, 8 - w / 2, 8 + h / 2, 8 + w / 2], rel=1e-5)
    areas = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    assert areas.tolist() == pytest.approx([128 ** 2] * 3, rel=1e-5)


def test_anchor_count_and_order():
    a = make_anchors(2, 3)  # paper: 9 anchors per position (areas 128², 256², 512² × 3 ratios)
    assert a.shape == (2 * 3 * 9, 4)
    # position (y=1, x=2), first anchor (128², 1:1): index (1·3 + 2)·9, centre (2.5·16, 1.5·16)
    b = a[(1 * 3 + 2) * 9]
    assert ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) == (40.0, 24.0)
    assert (b[2] - b[0]).item() == pytest.approx(128)


def test_box_matching_iou_thresholds():
    anchors = torch.tensor([[0, 0, 10, 10],      # IoU with g0: 100/120 = 0.833 -> positive
                            [0, 0, 10, 20],      # 120/200 = 0.6 -> positive
                            [5, 0, 15, 10],      # 50/170 = 0.294 < 0.3 -> negative
                            [0, 0, 10, 5],       # 50/120 = 0.417 -> ignored
                            [50, 50, 60, 60],    # 0 -> negative
                            [100, 100, 110, 110]], dtype=torch.float32)  # g1's best (100/900)
    gt = torch.tensor([[0, 0, 10, 12], [100, 100, 130, 130]], dtype=torch.float32)
    labels, matched = match_anchors(anchors, gt, pos_iou=0.5, neg_iou=0.3)
    assert labels.tolist() == [1, 1, 0, -1, 0, 1]
    assert matched[[0, 1, 5]].tolist() == [0, 0, 1]


def test_box_coding_round_trip_and_rpn_loss_ignores():
    anchors = torch.tensor([[0, 0, 16, 16], [10, 10, 30, 50]], dtype=torch.float32)
    boxes = torch.tensor([[2, 1, 20, 15], [5, 12, 35, 40]], dtype=torch.float32)
    d = encode_boxes(boxes, anchors)
    # first: anchor centre (8, 8) size 16; box centre (11, 8) size 18×14
    assert d[0].tolist() == pytest.approx([3 / 16, 0, math.log(18 / 16), math.log(14 / 16)], rel=1e-5)
    torch.testing.assert_close(decode_boxes(d, anchors), boxes, atol=1e-4, rtol=0)
    anchors = torch.tensor([[0, 0, 10, 10], [0, 0, 10, 5], [50, 50, 60, 60]], dtype=torch.float32)
    loss, labels = rpn_losses(torch.zeros(3), torch.zeros(3, 4), anchors, torch.tensor([[0., 0., 10., 12.]]))
    assert labels.tolist() == [1, -1, 0]
    assert loss[1] == 0 and loss[2] == pytest.approx(math.log(2), rel=1e-5)  # BCE(0 logit, 0) = ln 2
    assert loss[0] > math.log(2)  # BCE + smooth-L1 of a box that is not the anchor


# --------------------------------------------------------------------------- triplets
GT = torch.tensor([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]], dtype=torch.float32)
COSAL = torch.tensor([True, True, False])  # the third object is a distractor


def test_region_roles():
    regions = torch.tensor([[0, 0, 10, 10],    # IoU 1 with object 0 -> positive
                            [1, 0, 11, 10],    # 90/110 = 0.818 -> positive
                            [40, 0, 50, 10],   # the distractor: IoU 0 with co-salient -> negative
                            [5, 0, 25, 10],    # 50/250 = 0.2 with both -> unused
                            [60, 60, 70, 70],  # background -> negative
                            [0, 0, 10, 30]], dtype=torch.float32)  # 100/300 = 0.333 -> unused
    role, iou = label_regions(regions, GT, COSAL, pos_iou=0.5, neg_iou=0.1)
    assert role.tolist() == [1, 1, 0, -1, 0, -1]
    assert iou.tolist() == pytest.approx([1, 90 / 110, 0, 0.2, 0, 1 / 3], abs=1e-6)


def test_make_triplets():
    rng = np.random.default_rng(0)
    t = make_triplets([0, 1], [2, 4], 50, rng)
    assert t.shape == (50, 3)
    assert set(t[:, 0]) <= {0, 1} and set(t[:, 2]) <= {2, 4}
    assert (t[:, 0] != t[:, 1]).all()  # two positives available: a different region as positive
    one = make_triplets([3], [5], 4, rng)
    assert (one == [3, 3, 5]).all()
    assert make_triplets([1, 2], [], 4, rng).shape == (0, 3)


def test_triplet_loss_by_hand():
    va = torch.tensor([[0., 0.], [0., 0.]])
    vp = torch.tensor([[3., 4.], [1., 0.]])  # d(a, p) = 5, 1
    vn = torch.tensor([[0., 1.], [0., 3.]])  # d(a, n) = 1, 3
    # margin 0.5: max(5 − 1 + 0.5, 0) = 4.5 and max(1 − 3 + 0.5, 0) = 0
    assert triplet_loss(va, vp, vn, 0.5).item() == pytest.approx(2.25)
    assert triplet_loss(va, vp, vn, 0.5, torch.tensor([1., 3.])).item() == pytest.approx(4.5 / 4)


def test_online_sampling_hard_first_with_nms():
    props = torch.tensor([[0, 0, 10, 10],     # positive, loss 0.1 — suppressed by the next (IoU 0.91)
                          [0, 0, 10, 11],     # positive, loss 0.9
                          [40, 0, 50, 10],    # distractor -> negative, loss 0.8
                          [60, 60, 70, 70],   # background -> negative, loss 0.2
                          [20, 0, 30, 10]], dtype=torch.float32)  # positive, loss 0.5
    loss = torch.tensor([0.1, 0.9, 0.8, 0.2, 0.5])
    regions, role, iou = online_regions(props, loss, GT.numpy(), COSAL.numpy(), 100, 100,
                                        np.random.default_rng(0), n_pos=32, n_neg=96, nms_iou=0.7)
    assert regions.tolist() == [props[1].tolist(), props[4].tolist(), props[2].tolist(), props[3].tolist()]
    assert role.tolist() == [1, 1, 0, 0]


# --------------------------------------------------------------------------- network
def test_network_shapes_with_the_papers_vgg16_layout():
    enc = VGG16Encoder(width_div=16)
    assert enc.widths == [4, 8, 16, 32, 32] and enc.strides == (1, 2, 4, 8, 16)
    # width 0, out_stride 1: the paper's U-Net (decoder mirrors the encoder, full resolution)
    head = CoSalHead(enc.widths, enc.strides, feature_sensitive=True, branches=True, anchor_sizes=(8, 16, 32))
    net = CoSalNet(enc, head)
    x = torch.rand(2, 3, 64, 48)
    logits, r = head(enc(x))
    assert logits.shape == (2, 1, 64, 48) and r.shape == (2, 32, 4, 3)
    assert net(x).shape == (2, 1, 64, 48)
    assert [len(b) for b in head.decoder.blocks] == [2, 2, 2, 2]  # U-Net: two convs per level
    cls, reg = head.rpn(r)
    assert cls.shape == (2, 4 * 3 * 9) and reg.shape == (2, 4 * 3 * 9, 4)
    full = VGG16Encoder(1)
    assert full.widths == [64, 128, 256, 512, 512]
    # torchvision's VGG-16 `features` puts its 13 convolutions at these indices (the last pool, 30,
    # is not used): an ImageNet `features.*` state dict loads only if ours match.
    convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert [k for k in full.features.state_dict() if k.endswith("weight")] == [f"{i}.weight" for i in convs]


@pytest.fixture(scope="module")
def lite():
    return build_encoder()


def test_lite_encoder_is_the_pretrained_network_cut_at_stride_16(lite):
    from benchlib import pretrained

    assert isinstance(lite, LiteEncoder) and not lite.training
    assert not any(p.requires_grad for p in lite.parameters())  # frozen
    x = torch.rand(2, 3, 160, 160)
    with torch.no_grad():
        ours = lite(x)
        ref = pretrained.efficientnet_lite0().features((x - pretrained.MEAN) / pretrained.STD)
    # the first four of the full network's taps (strides 2, 4, 8, 16), computed independently
    assert [tuple(t.shape[1:]) for t in ours] == [(16, 80, 80), (24, 40, 40), (40, 20, 20), (112, 10, 10)]
    for a, b in zip(ours, ref[:4]):
        torch.testing.assert_close(a, b)


def test_head_widths_and_output_stride(lite):
    x = torch.rand(2, 3, 160, 160)
    with torch.no_grad():
        stages = lite(x)
    # width 64, out_stride 4: R has 64 channels at 10×10; logits at stride 4 (40×40) from two skips
    head = CoSalHead(lite.widths, lite.strides, feature_sensitive=True, branches=True, width=64, out_stride=4)
    logits, r = head(stages)
    assert r.shape == (2, 64, 10, 10) and logits.shape == (2, 1, 40, 40)
    assert head.used == [1, 2] and [b[0][0].out_channels for b in head.decoder.blocks] == [32, 32]
    assert [len(b) for b in head.decoder.blocks] == [1, 1]  # the reduced head: one conv per level
    # without FS, R is the encoder's top stage itself (112 channels)
    plain = CoSalHead(lite.widths, lite.strides, feature_sensitive=False, branches=False, width=64, out_stride=8)
    logits, r = plain(stages)
    assert r.shape == (2, 112, 10, 10) and logits.shape == (2, 1, 20, 20) and plain.rpn is None
    assert CoSalNet(lite, plain)(x).shape == (2, 1, 160, 160)
    with pytest.raises(BenchlibError, match="out_stride"):
        CoSalHead(lite.widths, lite.strides, out_stride=3)


def test_roi_align_equals_torchvisions_values_and_gradients():
    from torchvision.ops import roi_align

    torch.manual_seed(0)
    r = torch.randn(3, 5, 10, 12, dtype=torch.float64, requires_grad=True)
    # boxes inside, across the border and entirely outside the map; tiny and large
    xy = torch.rand(200, 2, dtype=torch.float64) * 260 - 50
    wh = torch.rand(200, 2, dtype=torch.float64) * 150 + 0.5
    rois = torch.cat([torch.randint(0, 3, (200, 1)).double(), xy, xy + wh], dim=1)
    ref = roi_align(r, rois, output_size=7, spatial_scale=1 / 16, sampling_ratio=2, aligned=True)
    ours = roi_align_separable(r, rois, output_size=7, spatial_scale=1 / 16, sampling_ratio=2)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)
    g = torch.randn_like(ref)
    (g_ref,) = torch.autograd.grad((ref * g).sum(), r)
    (g_ours,) = torch.autograd.grad((ours * g).sum(), r)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-12, rtol=0)


def test_roi_align_by_hand():
    # a 1×1 bin over the 2×2 map [[0, 1], [2, 3]] (stride 1, aligned: centres at integer positions)
    # box (0.5, 0.5)–(1.5, 1.5) → start 0, size 1; 2×2 samples at 0.25 and 0.75 on each axis:
    # bilinear value y·2 + x, averaged: (0.25 + 0.75)/2·2 + (0.25 + 0.75)/2 = 1.5
    r = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    out = roi_align_separable(r, torch.tensor([[0, 0.5, 0.5, 1.5, 1.5]]), output_size=1, spatial_scale=1.0)
    assert out.item() == pytest.approx(1.5)


def test_self_correlation_is_high_on_a_repeated_feature_and_the_repair_gate_starts_closed():
    """SelfCorrelation: a cell whose feature recurs ≥ 2 cells away scores ~1, a unique one low; the repair's
    head (CORRELATED) gives the online head's logits while its gate is 0 (it starts as the paper's network)."""
    import torch

    from benchlib.chapters.cosaliency.models import CORRELATED, VARIANTS, SelfCorrelation, build_encoder, build_head

    x = torch.zeros(1, 4, 6, 6)
    x[0, 0, 1, 1] = x[0, 0, 4, 4] = 1.0   # a pair
    x[0, 1, 1, 4] = 1.0                   # a single
    c = SelfCorrelation()(x)[0, 0]
    assert c[1, 1] > 0.9 and c[4, 4] > 0.9 and c[1, 4] < 0.2
    enc = build_encoder()
    torch.manual_seed(0)
    plain = build_head(VARIANTS["U-Net + DA + FS + RFM (online)"], enc, (20.0, 40.0, 80.0), 16, 4)
    torch.manual_seed(0)
    repaired = build_head(CORRELATED, enc, (20.0, 40.0, 80.0), 16, 4)
    stages = enc(torch.rand(1, 3, 64, 64))
    torch.testing.assert_close(plain.eval()(stages)[0], repaired.eval()(stages)[0])
