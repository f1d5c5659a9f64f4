"""Frequency-tuned saliency (Achanta, Hemami, Estrada, Süsstrunk, CVPR 2009), in the paper's form.

1. sRGB (D65) → CIE Lab;  2. mean Lab vector of the *unblurred* image;
3. blur each Lab channel with the separable 5-tap binomial kernel [1 4 6 4 1]/16;
4. saliency = Euclidean distance of each blurred pixel to the mean vector;  5. min–max to [0, 1].

(The authors' C++ release uses a [1 2 1] kernel and the squared distance; this is the paper's form.)
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve1d

from benchlib import BenchlibError

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
