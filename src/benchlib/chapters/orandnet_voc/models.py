"""Models of the ORANDNet chapter: two classifiers with their CAMs, Eq. 1, the ORANDNet FCN, an
inter-pixel affinity refinement with a random walk, and the second-stage segmentation network.

Sizes are small so that the default profile trains everything on two CPU cores; the structure
follows the paper (and its released code, engineerJPark/ORANDNet) where it matters:

- `ResNetCAM`: a ResNet-50-style network built from torchvision's `Bottleneck` blocks (1 block per
  stage instead of 3-4-6-3, bottleneck widths 8-16-32-48 instead of 64-128-256-512, output stride 8); classifier = 1×1 conv on
  globally average-pooled features, so CAM = ReLU(classifier applied to each feature position).
- `ViTCAM`: torchvision `VisionTransformer` (small config); a linear head on every patch token
  gives per-token class scores, pooled over tokens by log-sum-exp (r = 1) into the image logits; the
  patch-token CAM is that per-token score map (the class token is computed but unused).
- `OrAndNet`: a VGG16-style FCN (conv blocks 2-2-3 with max pooling, FCN-8s style skips), one
  channel in, one channel out, shared over classes, as in the released code; with batch norm (the
  paper's VGG16 has none but starts from ImageNet weights; from scratch, without it, it does not
  converge in this budget: see `OrAndNet`).
- `AffinityNet`: pixel embeddings whose L1 distances give inter-pixel affinities (trained from
  confident foreground / background seeds), used by `random_walk`.
- `SegNet`: a small DeepLab-v1-style network (dilated convs, output stride 4, bilinear upsampling).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import Bottleneck, conv1x1
from torchvision.models.vision_transformer import VisionTransformer

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def to_tensor(images_uint8: np.ndarray) -> torch.Tensor:
    """N×H×W×3 uint8 → normalised N×3×H×W float tensor."""
    x = torch.from_numpy(np.ascontiguousarray(images_uint8)).permute(0, 3, 1, 2).float() / 255.0
    return (x - MEAN) / STD


# --------------------------------------------------------------------------- classifiers
class ResNetCAM(nn.Module):
    def __init__(self, num_classes: int = 20, widths=(8, 16, 32, 48), blocks=(1, 1, 1, 1),
                 strides=(1, 2, 2, 1), stem: int = 16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True))
        layers, inplanes = [], stem
        for planes, n, stride in zip(widths, blocks, strides):
            out = planes * Bottleneck.expansion
            down = None
            if stride != 1 or inplanes != out:
                down = nn.Sequential(conv1x1(inplanes, out, stride), nn.BatchNorm2d(out))
            blocks_ = [Bottleneck(inplanes, planes, stride, down)]
            blocks_ += [Bottleneck(out, planes) for _ in range(n - 1)]
            layers.append(nn.Sequential(*blocks_))
            inplanes = out
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(inplanes, num_classes, 1, bias=False)
        self.num_classes = num_classes

    def features(self, x):
        return self.layers(self.stem(x))

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1)).flatten(1)

    def cam(self, x):
        """Class activation maps before ReLU at the feature resolution (N×20×h×w)."""
        return self.classifier(self.features(x))


class ViTCAM(nn.Module):
    def __init__(self, num_classes: int = 20, image_size: int = 48, patch_size: int = 8,
                 num_layers: int = 3, num_heads: int = 4, hidden_dim: int = 64, mlp_dim: int = 128, pool_r: float = 1.0):
        super().__init__()
        self.vit = VisionTransformer(image_size=image_size, patch_size=patch_size, num_layers=num_layers,
                                     num_heads=num_heads, hidden_dim=hidden_dim, mlp_dim=mlp_dim,
                                     num_classes=num_classes)
        self.vit.heads = nn.Identity()  # replaced by a head on the patch tokens
        self.head = nn.Linear(hidden_dim, num_classes)
        self.num_classes = num_classes
        self.pool_r = pool_r
        self.grid = image_size // patch_size

    def tokens(self, x):
        v = self.vit
        x = v._process_input(x)
        cls = v.class_token.expand(x.shape[0], -1, -1)
        x = v.encoder(torch.cat([cls, x], dim=1))
        return x[:, 1:]  # patch tokens (N × grid² × D), after the encoder's final LayerNorm

    def forward(self, x):
        # log-sum-exp pooling of the per-token logits: between mean (r → 0) and max (r → ∞); with
        # plain mean pooling every token learns to carry the global evidence and the CAM is flat
        t = self.head(self.tokens(x))
        r = self.pool_r
        return (torch.logsumexp(r * t, dim=1) - math.log(t.shape[1])) / r

    def cam(self, x):
        t = self.head(self.tokens(x))  # N × grid² × C
        return t.transpose(1, 2).reshape(x.shape[0], -1, self.grid, self.grid)


class ResNet50CAM(nn.Module):
    """The paper's CNN: torchvision's ResNet-50 with output stride 16 (last stage dilated instead of
    strided, as IRN's CAM network) and a bias-free 1×1 classifier on globally pooled features;
    CAM = that classifier at every feature position."""

    def __init__(self, num_classes: int = 20):
        super().__init__()
        from torchvision.models import resnet50

        self.backbone = resnet50(weights=None, replace_stride_with_dilation=[False, False, True])
        self.backbone.fc = nn.Identity()
        self.classifier = nn.Conv2d(2048, num_classes, 1, bias=False)
        self.num_classes = num_classes

    def features(self, x):
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        return b.layer4(b.layer3(b.layer2(b.layer1(x))))

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1)).flatten(1)

    def cam(self, x):
        return self.classifier(self.features(x))


def vit_b16_cam(image_size: int, num_classes: int = 20) -> "ViTCAM":
    """The paper's ViT: ViT-B/16 (12 layers, 12 heads, width 768) with the patch-token CAM head."""
    return ViTCAM(num_classes, image_size, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072)


def read_state_dict(path) -> dict:
    """A user's weight file as a flat state dict of tensors (benchlib.torchutil.load_checkpoint
    reads it with weights_only=True and refuses NaN / inf, e.g. from a diverged run)."""
    from benchlib import BenchlibError
    from benchlib.torchutil import load_checkpoint

    state = load_checkpoint(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BenchlibError(f"{path}: expected a state dict (a mapping of parameter names to tensors)")
    return state


def load_imagenet_weights(model: nn.Module, path) -> nn.Module:
    """Load a user-supplied ImageNet state dict of torchvision's resnet50 / vit_b_16 (read with
    weights_only=True) into the backbone of `ResNet50CAM` / `vit_b16_cam`; the ImageNet classifier
    head is dropped, a ViT's position embeddings are resized to this image size. Any other missing or
    unexpected key is an error naming the file."""
    from benchlib import BenchlibError
    from torchvision.models.vision_transformer import interpolate_embeddings

    state = {k.removeprefix("module."): v for k, v in read_state_dict(path).items()}
    if isinstance(model, ResNet50CAM):
        target, head = model.backbone, ("fc.",)
    elif isinstance(model, ViTCAM):
        target, head = model.vit, ("heads.",)
        if "encoder.pos_embedding" in state and state["encoder.pos_embedding"].shape != target.encoder.pos_embedding.shape:
            state = interpolate_embeddings(model.grid * model.vit.patch_size, model.vit.patch_size, state)
    else:
        raise BenchlibError(f"{path}: ImageNet weights fit only the paper networks (ResNet-50, ViT-B/16)")
    state = {k: v for k, v in state.items() if not k.startswith(head)}
    try:
        missing, unexpected = target.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise BenchlibError(f"{path}: does not fit {type(model).__name__} ({e})") from None
    missing = [k for k in missing if not k.startswith(head)]
    if missing or unexpected:
        raise BenchlibError(f"{path}: not a torchvision {'ResNet-50' if head == ('fc.',) else 'ViT-B/16'} "
                            f"state dict (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model


def build_classifier(kind: str, image_size: int, backbones: str = "small", weights: str = "", **kw) -> nn.Module:
    """`kind` resnet / vit; `backbones` "small" (this chapter's reduced networks, trained from
    scratch) or "paper" (ResNet-50 / ViT-B/16, optionally initialised from `weights`)."""
    if backbones == "paper":
        model = ResNet50CAM() if kind == "resnet" else vit_b16_cam(image_size) if kind == "vit" else None
        if model is None:
            raise ValueError(f"unknown classifier {kind!r}")
        return load_imagenet_weights(model, weights) if weights else model
    if backbones != "small":
        raise ValueError(f"backbones must be 'small' or 'paper', got {backbones!r}")
    if kind == "resnet":
        return ResNetCAM(**kw)
    if kind == "vit":
        return ViTCAM(image_size=image_size, **kw)
    raise ValueError(f"unknown classifier {kind!r}")


@torch.no_grad()
def compute_cams(model: nn.Module, images: torch.Tensor, labels: np.ndarray, scales=(1.0,),
                 batch: int = 64) -> list[np.ndarray]:
    """IRN conventions: for every scale and its horizontal flip, ReLU(CAM) upsampled to the image
    size, summed; then each class map divided by its spatial maximum (+1e-5). Only the classes in
    the image-level label are kept: returns, per image, a float32 array k×H×W (k = #labels)."""
    model.eval()
    n, _, h, w = images.shape
    out = []
    for s in range(0, n, batch):
        x = images[s:s + batch]
        acc = torch.zeros(x.shape[0], model.num_classes, h, w, device=x.device)
        for scale in scales:
            xs = x if scale == 1.0 else F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
            for flip in (False, True):
                xi = xs.flip(-1) if flip else xs
                c = F.relu(model.cam(xi).float())
                c = c.flip(-1) if flip else c
                acc += F.interpolate(c, size=(h, w), mode="bilinear", align_corners=False)
        acc /= acc.flatten(2).amax(-1)[..., None, None] + 1e-5
        for i, a in enumerate(acc.cpu().numpy()):
            out.append(a[np.flatnonzero(labels[s + i])].astype(np.float32))
    return out


# --------------------------------------------------------------------------- Eq. 1 and the naive ensemble
def _max_normalise(x: np.ndarray) -> np.ndarray:
    """Divide each class map (first axis) by its spatial maximum; an all-zero map stays zero."""
    m = x.reshape(x.shape[0], -1).max(1) if x.size else np.zeros(0)
    return x / np.where(m > 0, m, 1.0)[:, None, None]


def prob_or(c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Eq. 1, left: (c1 + c2 − c1⊙c2) / max(c1 + c2 − c1⊙c2), per class map."""
    return _max_normalise(c1 + c2 - c1 * c2)


def prob_and(c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Eq. 1, right: c1⊙c2 / max(c1⊙c2), per class map."""
    return _max_normalise(c1 * c2)


def naive_ensemble(c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """The paper's naive ensemble: the plain mean of the two CAMs."""
    return (c1 + c2) / 2


def cams_to_mask(cams: np.ndarray, classes, threshold: float) -> np.ndarray:
    """IRN pseudo-mask rule: a constant background plane equal to `threshold` in front of the CAMs
    of the image's labelled classes, argmax → 0 = background, else the class index (1..20).
    `cams`: k×H×W, `classes`: the k class indices (1..20) of those maps."""
    cams = np.asarray(cams, np.float32)
    lut = np.concatenate([[0], np.asarray(classes, np.int64)]).astype(np.uint8)
    stack = np.concatenate([np.full((1, *cams.shape[1:]), threshold, np.float32), cams], 0)
    return lut[stack.argmax(0)]


# --------------------------------------------------------------------------- ORANDNet
def _vgg_block(cin, cout, n, batch_norm: bool = True):
    layers = []
    for i in range(n):
        conv = nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=not batch_norm)
        layers += [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)] if batch_norm else [conv, nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.MaxPool2d(2, ceil_mode=True))


class OrAndNet(nn.Module):
    """VGG16-style FCN with FCN-8s skips: one OR-CAM map in, one AND-CAM logit out.

    Measured on the mechanism control (synthetic CAM pairs with complementary errors, 40 images × 3
    seeds, `control.py`), where the first version (input average-pooled ×2, no batch norm, 10 epochs,
    the loss below with label smoothing on a target > 0.5 split) scored 72.3 mIoU against the naive
    ensemble's 93.3; this one scores 93.6, and with one change undone:
    - `input_stride` 2 (87.4): the finest skip is then at stride 4, where even the AND CAM itself,
      pooled ×4 and upsampled, scores only 92.9 — a ceiling at the naive ensemble's level (×2: 98.3);
    - no `batch_norm` (78.3): the paper's VGG16 has none but starts from ImageNet weights (the released
      code copies torchvision's VGG16); from scratch it fits its target too slowly without it;
    - the paper's label smoothing 0.1 in `orand_loss` (90.8, recall 94.1 instead of 96.5);
    - 10 epochs instead of 15 (91.9)."""

    def __init__(self, width: int = 8, input_stride: int = 1, batch_norm: bool = True):
        super().__init__()
        w = width
        self.input_stride = input_stride
        self.b1 = _vgg_block(1, w, 2, batch_norm)
        self.b2, self.b3 = _vgg_block(w, 2 * w, 2, batch_norm), _vgg_block(2 * w, 4 * w, 3, batch_norm)
        self.fc = nn.Sequential(nn.Conv2d(4 * w, 8 * w, 3, padding=1), nn.ReLU(inplace=True))
        self.score3, self.score2, self.score1 = nn.Conv2d(8 * w, 1, 1), nn.Conv2d(2 * w, 1, 1), nn.Conv2d(w, 1, 1)

    def forward(self, x):
        h, w = x.shape[-2:]
        if self.input_stride > 1:
            x = F.avg_pool2d(x, self.input_stride, ceil_mode=True)
        p1 = self.b1(x)
        p2 = self.b2(p1)
        s = self.score3(self.fc(self.b3(p2)))
        s = F.interpolate(s, size=p2.shape[-2:], mode="bilinear", align_corners=False) + self.score2(p2)
        s = F.interpolate(s, size=p1.shape[-2:], mode="bilinear", align_corners=False) + self.score1(p1)
        return F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False)


def orand_loss(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Class-balanced BCE against the soft AND-CAM target t (HED's form): the positive terms
    t·log σ and the negative terms (1 − t)·log(1 − σ) each contribute half of the loss, whatever
    their totals, so the rare foreground weighs as much as the background. Per pixel the minimum is
    σ = w·t / (w·t + 1 − t), w = Σ(1 − t) / Σt: a soft foreground is pushed up (recall), a zero stays
    zero. `smoothing` (the paper's label smoothing, t → t·(1 − s) + s/2) defaults to 0: with the
    balancing it lifts every background pixel to about w·s / (w·s + 2), and it cost the control
    2.8 mIoU and 2.4 recall points (see `OrAndNet`)."""
    t = target * (1 - smoothing) + 0.5 * smoothing
    pos, neg = t.sum().clamp(min=1e-6), (1 - t).sum().clamp(min=1e-6)
    return -0.5 * ((t * F.logsigmoid(logits)).sum() / pos + ((1 - t) * F.logsigmoid(-logits)).sum() / neg)


# --------------------------------------------------------------------------- affinity + random walk
class AffinityNet(nn.Module):
    """Pixel embeddings at stride 4; affinity(i, j) = exp(−mean |f_i − f_j|)."""

    def __init__(self, dim: int = 16, width: int = 16):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 3, 2, 1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 2 * w, 3, 1, 2, dilation=2), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, dim, 1))

    def forward(self, x):
        return self.net(x)


def pair_indices(h: int, w: int, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All pixel pairs (i, j), i ≠ j, of an h×w grid within Euclidean distance `radius`."""
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    p = torch.stack([yy.flatten(), xx.flatten()], 1).float()
    d = torch.cdist(p, p)
    i, j = torch.nonzero((d <= radius) & (d > 0), as_tuple=True)
    return i, j


def affinities(feat: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """feat N×D×h×w → N×P affinities of the pairs (i, j)."""
    f = feat.flatten(2)
    return torch.exp(-(f[:, :, i] - f[:, :, j]).abs().mean(1))


def affinity_loss(aff: torch.Tensor, seeds: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """AffinityNet's loss: seeds N×(h·w) with −1 = unsure, 0 = background, k = class k. Pairs of
    the same foreground class, of background, and of different labels, each averaged separately."""
    si, sj = seeds[:, i], seeds[:, j]
    valid = (si >= 0) & (sj >= 0)
    same = valid & (si == sj)
    terms = []
    for sel, pos in ((same & (si > 0), True), (same & (si == 0), True), (valid & (si != sj), False)):
        if sel.any():
            a = aff[sel].clamp(1e-5, 1 - 1e-5)
            terms.append(-(a.log() if pos else (1 - a).log()).mean())
    return torch.stack(terms).mean() if terms else aff.sum() * 0


@torch.no_grad()
def random_walk(feat: torch.Tensor, scores: torch.Tensor, radius: int = 4, beta: float = 8.0,
                steps: int = 16) -> torch.Tensor:
    """Propagate score maps (K×h×w) over the affinity graph of one image's embedding (D×h×w):
    T = D⁻¹·A^β (row-stochastic, A restricted to `radius`, self-loops kept), scores ← T·scores,
    `steps` times. A constant map stays constant, so a background plane equal to the threshold is
    unchanged and the same pseudo-mask rule applies after the walk."""
    d, h, w = feat.shape
    f = feat.flatten(1).t()
    dist = torch.cdist(f, f, p=1) / d
    yy, xx = torch.meshgrid(torch.arange(h, device=feat.device), torch.arange(w, device=feat.device), indexing="ij")
    p = torch.stack([yy.flatten(), xx.flatten()], 1).float()
    a = torch.exp(-dist) ** beta * (torch.cdist(p, p) <= radius)
    t = a / a.sum(1, keepdim=True)
    s = scores.flatten(1).t()
    for _ in range(steps):
        s = t @ s
    return s.t().reshape(scores.shape)


# --------------------------------------------------------------------------- second stage
class SegNet(nn.Module):
    """Small DeepLab-v1-style segmentation network (dilated convs, output stride 4)."""

    def __init__(self, num_classes: int = 21, width: int = 16):
        super().__init__()
        w = width

        def cbr(cin, cout, stride=1, dil=1):
            return [nn.Conv2d(cin, cout, 3, stride, dil, dilation=dil, bias=False), nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True)]

        self.body = nn.Sequential(*cbr(3, w // 2, 2), *cbr(w // 2, w, 2), *cbr(w, w, 1, 2),
                                  *cbr(w, 2 * w, 1, 4), nn.Dropout2d(0.1))
        self.classifier = nn.Conv2d(2 * w, num_classes, 1)

    def forward(self, x):
        y = self.classifier(self.body(x))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


def downsample_pair(images: torch.Tensor, masks: torch.Tensor, factor: int, num_classes: int = 21,
                    ignore_index: int = 255):
    """Scale scheduling's downsampling: images by area averaging, masks by majority vote over each
    factor×factor cell (void counted as its own label), so objects smaller than about half a cell —
    the small false activations — disappear from the pseudo-mask."""
    if factor == 1:
        return images, masks
    x = F.avg_pool2d(images, factor, ceil_mode=True)
    m = masks.long().clone()
    m[m == ignore_index] = num_classes
    onehot = F.one_hot(m, num_classes + 1).permute(0, 3, 1, 2).float()
    votes = F.avg_pool2d(onehot, factor, ceil_mode=True).argmax(1)
    votes[votes == num_classes] = ignore_index
    return x, votes
