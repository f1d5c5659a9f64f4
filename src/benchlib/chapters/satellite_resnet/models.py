"""Residual encoder-decoder (Ghassemi et al., EUSIPCO 2018) and the U-Net baselines."""

# Prop-N, as in the paper's Sec. III-A and Table I:
# - encoder: block 1 = one 7×7 stride-2 convolution (+ BN, ReLU) and 2×2 max pooling; blocks 2–5 =
#   the four residual stages of ResNet-N, built from ``BasicBlock`` / ``Bottleneck`` units written
#   here as torchvision's (same layers, parameter names and creation order: the same initial weights,
#   tested against torchvision's) — importing torchvision.models costs ~3 s of the chapter, for two
#   small classes (ResNet-200 = Bottleneck [3, 24, 36, 3], which torchvision does not ship);
# - decoder: five blocks of one 4×4 stride-2 transposed convolution + BN + ReLU. The output of decoder
#   block k is concatenated with the equally wide output of encoder block 5 − k ("balanced
#   concatenation"); the last one with 64 maps from a 3×3 convolution of the input at full resolution;
#   then a 1×1 classifier (softmax is applied by the caller, the loss works on logits).
#
# Decoder design choice: the paper's Table I counts ONE convolution per decoder block, so that is what
# is built here. The first author's later public code (sinaghassemi/semanticSegmentation, journal
# version) adds two 3×3 convolutions after each transposed convolution; that variant is not built.
#
# U-Net(19) / U-Net(35): the paper gives only the convolution counts. U-Net(19) is Ronneberger's U-Net
# (five levels of two 3×3 convolutions down, four levels of two up, 1×1 classifier: 10 + 8 + 1 = 19
# convolutions, not counting the four 2×2 up-convolutions), with padded convolutions so that the output
# has the input's size. U-Net(35) is our deeper variant: 3, 3, 4, 4, 4 convolutions per encoder level
# and 4 per decoder level (18 + 16 + 1 = 35).
#
# ``width`` divides every channel count (for CPU-sized training); ``architecture_table`` always counts
# the full-width model.

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from benchlib import BenchlibError


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride, bias=False)


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    """ResNet-18/34 unit: two 3×3 convolutions (+ BN), the identity (or `downsample`) added, ReLU."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """ResNet-50+ unit: 1×1 → 3×3 (stride here, as torchvision's "ResNet v1.5") → 1×1 with 4× the
    maps (+ BN each), the identity (or `downsample`) added, ReLU."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


# name -> (residual unit, units per stage of blocks 2..5)
RESNETS = {
    "prop18": (BasicBlock, [2, 2, 2, 2]),
    "prop34": (BasicBlock, [3, 4, 6, 3]),
    "prop50": (Bottleneck, [3, 4, 6, 3]),
    "prop101": (Bottleneck, [3, 4, 23, 3]),
    "prop152": (Bottleneck, [3, 8, 36, 3]),
    "prop200": (Bottleneck, [3, 24, 36, 3]),
}
# name -> (3×3 convolutions per encoder level 1..5, per decoder level 1..4)
UNETS = {
    "unet19": ([2, 2, 2, 2, 2], [2, 2, 2, 2]),
    "unet35": ([3, 3, 4, 4, 4], [4, 4, 4, 4]),
}
MODEL_NAMES = ("unet19", "unet35", "prop18", "prop34", "prop50", "prop101", "prop152", "prop200")
# Names used in the paper's tables.
DISPLAY_NAMES = {"unet19": "U-Net(19)", "unet35": "U-Net(35)",
                 **{k: f"Prop-{k[4:]}" for k in RESNETS}}


def _ch(c: int, width: int) -> int:
    return max(1, c // width)


def _conv_bn_relu(cin, cout, k=3, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def _resnet_stage(unit, inplanes: int, planes: int, n: int, stride: int) -> tuple[nn.Sequential, int]:
    """One residual stage, as torchvision's ResNet._make_layer builds it (1×1 projection on the
    first unit when the shape changes)."""
    down = None
    if stride != 1 or inplanes != planes * unit.expansion:
        down = nn.Sequential(conv1x1(inplanes, planes * unit.expansion, stride),
                             nn.BatchNorm2d(planes * unit.expansion))
    layers = [unit(inplanes, planes, stride, down)]
    inplanes = planes * unit.expansion
    layers += [unit(inplanes, planes) for _ in range(1, n)]
    return nn.Sequential(*layers), inplanes


class _Deconv(nn.Sequential):
    """4×4 stride-2 transposed convolution + BN + ReLU: doubles the resolution."""

    def __init__(self, cin, cout):
        super().__init__(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class ResidualEncoderDecoder(nn.Module):
    """Prop-N. Input sides must be multiples of 32 (five halvings)."""

    multiple = 32

    def __init__(self, depth_name: str, in_channels: int = 4, num_classes: int = 2, width: int = 1):
        super().__init__()
        unit, counts = RESNETS[depth_name]
        c64 = _ch(64, width)
        stem = nn.Sequential(nn.Conv2d(in_channels, c64, 7, 2, 3, bias=False), nn.BatchNorm2d(c64),
                             nn.ReLU(inplace=True))
        self.encoder_blocks = nn.ModuleList([stem])
        enc_out = [c64]
        inplanes = c64
        for i, n in enumerate(counts):
            # block 2 follows the 2×2 pooling, so its first unit keeps the resolution (as in ResNet)
            stage, inplanes = _resnet_stage(unit, inplanes, _ch(64 * 2 ** i, width), n, 1 if i == 0 else 2)
            self.encoder_blocks.append(stage)
            enc_out.append(inplanes)
        self.pool = nn.MaxPool2d(2)
        # Decoder widths equal the widths of the encoder outputs they are concatenated with
        # (balanced concatenation): blocks 4, 3, 2, 1, then the extra 3×3 maps (64).
        skip = enc_out[3::-1] + [c64]
        self.decoder_blocks = nn.ModuleList()
        cin = enc_out[4]
        for c in skip:
            self.decoder_blocks.append(_Deconv(cin, c))
            cin = 2 * c
        self.full_res = _conv_bn_relu(in_channels, c64, 3)
        self.classifier = nn.Conv2d(cin, num_classes, 1)

    def forward(self, x):
        feats = []
        h = x
        for i, block in enumerate(self.encoder_blocks):
            h = block(h)
            feats.append(h)
            if i == 0:
                h = self.pool(h)
        skips = feats[3::-1] + [self.full_res(x)]
        for block, s in zip(self.decoder_blocks, skips):
            h = torch.cat([block(h), s], dim=1)
        return self.classifier(h)


class UNet(nn.Module):
    """U-Net with padded 3×3 convolutions. Input sides must be multiples of 16."""

    multiple = 16

    def __init__(self, name: str, in_channels: int = 4, num_classes: int = 2, width: int = 1):
        super().__init__()
        enc_n, dec_n = UNETS[name]
        widths = [_ch(64 * 2 ** i, width) for i in range(5)]
        self.encoder_blocks = nn.ModuleList()
        cin = in_channels
        for w, n in zip(widths, enc_n):
            self.encoder_blocks.append(nn.Sequential(*[_conv_bn_relu(cin if j == 0 else w, w) for j in range(n)]))
            cin = w
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.decoder_blocks = nn.ModuleList()
        for w, n in zip(widths[3::-1], dec_n):
            self.up.append(nn.ConvTranspose2d(cin, w, 2, 2))
            self.decoder_blocks.append(nn.Sequential(*[_conv_bn_relu(2 * w if j == 0 else w, w) for j in range(n)]))
            cin = w
        self.classifier = nn.Conv2d(cin, num_classes, 1)

    def forward(self, x):
        feats = []
        h = x
        for i, block in enumerate(self.encoder_blocks):
            h = block(h if i == 0 else self.pool(h))
            feats.append(h)
        for up, block, s in zip(self.up, self.decoder_blocks, feats[3::-1]):
            h = block(torch.cat([up(h), s], dim=1))
        return self.classifier(h)


def build_model(name: str, in_channels: int = 4, num_classes: int = 2, width: int = 1) -> nn.Module:
    """One of MODEL_NAMES; `width` divides every channel count (1 = the paper's widths)."""
    if int(width) < 1:
        raise BenchlibError(f"width divisor must be >= 1, got {width!r}")
    if name in RESNETS:
        return ResidualEncoderDecoder(name, in_channels, num_classes, int(width))
    if name in UNETS:
        return UNet(name, in_channels, num_classes, int(width))
    raise BenchlibError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")


def _convs(module: nn.Module) -> list[nn.Module]:
    """Convolutions of a block in registration order, without the residual 1×1 projections
    (Table I does not count them)."""
    return [m for n, m in module.named_modules()
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and "downsample" not in n.split(".")]


def architecture_table(name: str, in_channels: int = 4, num_classes: int = 2) -> pd.DataFrame:
    """Per encoder / decoder block of the full-width model: output feature maps and number of
    convolutions, counted by walking the built module. Columns: part, block, feature_maps,
    convolutions, transposed (how many of those are transposed convolutions). For the U-Nets the
    classifier is listed as decoder block 5, so the column sums give the 19 / 35 of their names
    once the four 2×2 up-convolutions (`transposed`) are left out."""
    # Built on the meta device: only the structure is needed, no memory or initialisation.
    with torch.device("meta"):
        model = build_model(name, in_channels, num_classes)
    rows = []
    for k, block in enumerate(model.encoder_blocks, 1):
        convs = _convs(block)
        rows.append(("encoder", k, convs[-1].out_channels, len(convs), 0))
    if isinstance(model, UNet):
        decoder = [nn.Sequential(u, b) for u, b in zip(model.up, model.decoder_blocks)] + [model.classifier]
    else:
        decoder = list(model.decoder_blocks)
    for k, block in enumerate(decoder, 1):
        convs = _convs(block)
        rows.append(("decoder", k, convs[-1].out_channels, len(convs),
                     sum(isinstance(c, nn.ConvTranspose2d) for c in convs)))
    return pd.DataFrame(rows, columns=["part", "block", "feature_maps", "convolutions", "transposed"])


def parameter_count(name: str, width: int = 1, in_channels: int = 4, num_classes: int = 2) -> int:
    """Learnable parameters of a model, counted on the meta device (nothing allocated)."""
    with torch.device("meta"):
        return sum(p.numel() for p in build_model(name, in_channels, num_classes, width).parameters())
