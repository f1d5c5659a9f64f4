"""Satellite building segmentation data: GeoTIFF image / mask folders and their synthetic twin."""

# On-disk layout (the same for a user's data and for the twin)::
#
#     <root>/train/images/<area>.tif   multi-band image (any band count, any integer/float dtype)
#     <root>/train/gt/<area>.tif       single-band mask, same size: 0 = ground, 1 (or 255) = building
#     <root>/test/images/<area>.tif    test areas (evaluated whole, never trained on)
#     <root>/test/gt/<area>.tif
#
# This is Inria Aerial Image Labeling's layout (``train/images``, ``train/gt``; masks 0/255), with a
# ``test`` split added because Inria's own test masks are not public: move a few Inria training
# cities there.
#
# The twin (``write_twin``, resolved by ``dataset``) writes nine 4-band (B, G, R, NIR) scenes named like the paper's private
# D-areas — D5, D13, D16, D17, D18, D20 for training, D12, D19, D22 for testing, the test sizes the
# paper's divided by `scale`. Each scene is rendered as if by a different sensor: its own per-band gain
# and offset, haze, noise, blur and off-nadir shear, so the test areas differ statistically from the
# training areas — the difficulty the paper is about.

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchlib import BenchlibError, safeio
from benchlib.datasets import Dataset, resolve

TRAIN_AREAS = ("D5", "D13", "D16", "D17", "D18", "D20")
TEST_AREAS = ("D12", "D19", "D22")
# Paper, Sec. IV-A: test image sizes (width × height in pixels at 0.5 m).
PAPER_TEST_SIZES = {"D12": (6000, 4500), "D19": (3700, 2100), "D22": (8700, 6600)}
TWIN_VERSION = 1  # bump when the generator changes: the cached twin is then rewritten
_EXTS = (".tif", ".tiff")


@dataclass
class Scene:
    name: str
    image: np.ndarray            # H × W × bands, float32 (raw sensor values)
    mask: np.ndarray             # H × W uint8, 0 = ground, 1 = building
    path: Path | None = None
    meta: dict = field(default_factory=dict)

    @property
    def bands(self) -> int:
        return self.image.shape[2]


# --------------------------------------------------------------------------- reading
def read_geotiff(path, *, kind: str = "image", bands: int | None = None) -> np.ndarray:
    """A GeoTIFF as H × W × bands (images) or H × W (masks). Any planar layout tifffile knows.
    Size and band count are checked from the tags before any pixel is read (``benchlib.safeio``)."""
    import tifffile

    path = Path(path)
    if kind == "mask":
        bands = 1
    # Tags only (no pixels): the layout decides how the bands are laid out, and a stack of pages
    # (axes I / Q) is not a multi-band GeoTIFF even when its first page would read fine alone.
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0] if tif.series else None
            axes = series.axes.replace("C", "S") if series is not None else ""
            shape = tuple(series.shape) if series is not None else ()
    except Exception as e:  # noqa: BLE001 - truncated / corrupt / not a TIFF: re-raised naming the file
        raise BenchlibError(f"{path}: cannot read {kind} GeoTIFF ({type(e).__name__}: {e})") from None
    if axes not in ("YX", "YXS", "SYX"):
        raise BenchlibError(f"{path}: expected one raster with bands (axes YX, YXS or SYX), found axes {axes!r}")
    n_bands = shape[axes.index("S")] if "S" in axes else 1
    if bands is not None and n_bands != bands:
        what = "a mask must have one band" if kind == "mask" else f"expected {bands}"
        raise BenchlibError(f"{path}: {n_bands} bands, {what}")
    try:
        arr = safeio.read_geotiff(path, bands=bands)
    except BenchlibError as e:
        msg = str(e).removeprefix(f"{path}: ")
        raise BenchlibError(f"{path}: cannot read {kind} GeoTIFF ({msg})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    elif axes == "SYX" and shape[2] == shape[0]:
        # safeio moves a leading band axis last only when the width differs from the band count;
        # a band-sequential raster exactly as wide as it has bands is still (bands, H, W) here.
        arr = np.moveaxis(arr, 0, -1)
    if kind == "mask":
        return arr[:, :, 0]
    return arr


def _mask_to_labels(mask: np.ndarray, path: Path) -> np.ndarray:
    """0/1 masks as they are; 0/255 masks (Inria) to 0/1; anything else is an error."""
    values = np.unique(mask)
    if np.isin(values, (0, 1)).all():
        return mask.astype(np.uint8)
    if np.isin(values, (0, 255)).all():
        return (mask == 255).astype(np.uint8)
    bad = values[~np.isin(values, (0, 1, 255))][:10]
    if not bad.size:   # 0, 1 and 255 together: neither convention, the 1s would silently become ground
        bad = values[values > 0]
        raise BenchlibError(f"{path}: mask mixes label values {bad.tolist()} "
                            "(a building mask holds 0/1 or 0/255, not both)")
    raise BenchlibError(f"{path}: unexpected label values {bad.tolist()} "
                        "(a building mask holds 0/1 or 0/255)")


def load_scene(image_path, mask_path, expected_bands: int | None = None) -> Scene:
    image_path, mask_path = Path(image_path), Path(mask_path)
    image = read_geotiff(image_path, kind="image", bands=expected_bands)
    if not np.issubdtype(image.dtype, np.number) or image.dtype == bool:
        raise BenchlibError(f"{image_path}: unsupported pixel type {image.dtype}")
    image = image.astype(np.float32)
    if not np.isfinite(image).all():
        raise BenchlibError(f"{image_path}: image holds NaN or infinite values")
    mask = read_geotiff(mask_path, kind="mask")
    if mask.shape != image.shape[:2]:
        raise BenchlibError(f"{mask_path}: mask is {mask.shape[0]}×{mask.shape[1]} pixels but its image "
                            f"{image_path.name} is {image.shape[0]}×{image.shape[1]}")
    return Scene(image_path.stem, image, _mask_to_labels(mask, mask_path), image_path)


def _tiffs(folder: Path) -> dict[str, Path]:
    """The .tif/.tiff files of `folder` by area name; two files for one area are an error."""
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in _EXTS or not p.is_file():
            continue
        if p.stem in found:
            raise BenchlibError(f"{p}: area {p.stem!r} appears twice in {folder} (also {found[p.stem].name}); "
                                "keep one file per area")
        found[p.stem] = p
    return found


def _pairs(split_dir: Path) -> list[tuple[Path, Path]]:
    img_dir, gt_dir = split_dir / "images", split_dir / "gt"
    for d in (img_dir, gt_dir):
        if not d.is_dir():
            raise BenchlibError(f"{d}: folder not found (expected {split_dir}/images and {split_dir}/gt)")
    images, masks = _tiffs(img_dir), _tiffs(gt_dir)
    if not images:
        raise BenchlibError(f"{img_dir}: no .tif/.tiff images")
    for stem, p in images.items():
        if stem not in masks:
            raise BenchlibError(f"{p}: no mask {stem}.tif in {gt_dir}")
    # A mask without its image is a half-copied dataset: the area would silently drop out.
    for stem, m in masks.items():
        if stem not in images:
            raise BenchlibError(f"{m}: mask without an image {stem}.tif in {img_dir}")
    return [(p, masks[p.stem]) for p in sorted(images.values())]


def load_split(root, split: str, expected_bands: int | None = None) -> list[Scene]:
    """Every image / mask pair of `<root>/<split>`; all images must share one band count."""
    scenes = []
    for img, msk in _pairs(Path(root) / split):
        s = load_scene(img, msk, expected_bands)
        expected_bands = s.bands if expected_bands is None else expected_bands
        scenes.append(s)
    return scenes


def _fingerprint(scene: Scene) -> bytes:
    import hashlib

    return hashlib.blake2b(repr(scene.image.shape).encode() + scene.image.tobytes(), digest_size=16).digest()


def is_dataset(root) -> bool:
    root = Path(root)
    return all((root / s / d).is_dir() for s in ("train", "test") for d in ("images", "gt"))


def load_dataset(root) -> dict[str, list[Scene]]:
    """{'train': [...], 'test': [...]} with one band count across both splits."""
    root = Path(root)
    if not is_dataset(root):
        raise BenchlibError(f"{root}: not a satellite dataset folder (needs train/images, train/gt, "
                            "test/images, test/gt)")
    train = load_split(root, "train")
    test = load_split(root, "test", expected_bands=train[0].bands)
    # A test image that is a pixel-exact copy of a training image (a copied file, whatever its name)
    # is evaluated on what the model was trained on: the score would mean nothing.
    seen = {_fingerprint(s): s for s in train}
    for s in test:
        twin = seen.get(_fingerprint(s))
        if twin is not None:
            raise BenchlibError(f"{s.path}: the same pixels as the training image {twin.path}; "
                                "an area belongs to one split")
    return {"train": train, "test": test}


@dataclass
class Normaliser:
    """Per-channel mean / std of the training images, applied to every image (also at deployment):
    one reading of the paper's §III-B normalisation (`normalise="train"`)."""
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, scenes: list[Scene]) -> "Normaliser":
        pix = np.concatenate([s.image.reshape(-1, s.bands) for s in scenes]).astype(np.float64)
        return cls(pix.mean(0).astype(np.float32), np.maximum(pix.std(0), 1e-6).astype(np.float32))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return ((image - self.mean) / self.std).astype(np.float32)


class SceneNormaliser:
    """Per-channel mean / std of each image itself: a sensor's per-band gain and offset (and an additive
    haze) cancel, so a scene from another sensor reaches the network on the scale it was trained on.
    It needs no labels, so deployment does exactly what training did. The other reading of the
    paper's §III-B normalisation (`normalise="scene"`, the default profile)."""

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return Normaliser.fit([Scene("", image, np.zeros(image.shape[:2], np.uint8))])(image)


# --------------------------------------------------------------------------- writing
def write_geotiff(path, array: np.ndarray, origin=(0.0, 0.0), pixel_size: float = 0.5) -> None:
    """Write H × W (mask) or H × W × bands (image, stored band-sequential) with the GeoTIFF tags a GIS
    reads (pixel scale, tie point, a projected CRS: WGS 84 / UTM 32N, metres)."""
    import tifffile

    data = np.moveaxis(array, -1, 0) if array.ndim == 3 else array
    geokeys = (1, 1, 0, 4,            # GeoKeyDirectory header: version 1.1.0, 4 keys
               1024, 0, 1, 1,         # GTModelType = projected
               1025, 0, 1, 1,         # GTRasterType = pixel is area
               3072, 0, 1, 32632,     # ProjectedCSType = EPSG:32632
               3076, 0, 1, 9001)      # ProjLinearUnits = metre
    extratags = [(33550, "d", 3, (pixel_size, pixel_size, 0.0)),
                 (33922, "d", 6, (0.0, 0.0, 0.0, origin[0], origin[1], 0.0)),
                 (34735, "H", len(geokeys), geokeys)]
    tifffile.imwrite(path, data, photometric="minisblack",
                     planarconfig="separate" if array.ndim == 3 else None, extratags=extratags)


# --------------------------------------------------------------------------- the twin
def _smooth_noise(rng, h, w, scale):
    """Low-frequency noise in [0, 1]: bilinearly upsampled coarse random grid."""
    import cv2

    gh, gw = max(2, h // scale + 2), max(2, w // scale + 2)
    g = rng.random((gh, gw)).astype(np.float32)
    n = cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    return (n - n.min()) / (np.ptp(n) + 1e-6)


# Reflectance (B, G, R, NIR) of the surface materials; roofs come in several materials, one of them
# as dark as the roads (the hard case), vegetation is bright in NIR.
MATERIALS = {
    "soil": (0.18, 0.22, 0.28, 0.34),
    "grass": (0.06, 0.12, 0.08, 0.45),
    "tree": (0.04, 0.09, 0.05, 0.38),
    "road": (0.12, 0.13, 0.14, 0.16),
    "roof_tile": (0.14, 0.16, 0.38, 0.30),
    "roof_concrete": (0.42, 0.44, 0.45, 0.44),
    "roof_dark": (0.10, 0.10, 0.11, 0.13),
    "roof_metal": (0.55, 0.58, 0.57, 0.50),
}
ROOFS = ("roof_tile", "roof_concrete", "roof_dark", "roof_metal")


def _sensor(rng, test: bool) -> dict:
    """Radiometry and geometry of one acquisition; test areas come from a wider range."""
    spread = 1.6 if test else 1.0
    return {
        "gain": (1 + rng.uniform(-0.22, 0.22, 4) * spread).round(3).tolist(),
        "offset": rng.uniform(-0.04, 0.04, 4).round(3).tolist(),
        "haze": float(round(rng.uniform(0.0, 0.08 * spread), 3)),
        "noise": float(round(rng.uniform(0.005, 0.02), 4)),
        "blur": float(round(rng.uniform(0.0, 0.9 * spread), 2)),
        "shear": float(round(rng.uniform(-0.12, 0.12) * spread, 3)),  # off-nadir look
        "sun": rng.uniform(-1, 1, 2).round(2).tolist(),                # shadow direction
        "roof_mix": rng.dirichlet(np.ones(len(ROOFS)) * 2).round(3).tolist(),
    }


def render_scene(rng, h: int, w: int, sensor: dict, building_px: tuple[int, int] = (7, 18)):
    """One 4-band scene (float32 reflectance × gain + offset, as a sensor sees it) and its mask."""
    import cv2

    surface = np.zeros((h, w, 4), np.float32)
    veg = _smooth_noise(rng, h, w, 24)
    surface[:] = MATERIALS["soil"]
    surface[veg > 0.55] = MATERIALS["grass"]
    surface[veg > 0.78] = MATERIALS["tree"]
    taken = np.zeros((h, w), bool)
    # roads: a few horizontal / vertical strips
    for _ in range(rng.integers(2, 5)):
        width = int(rng.integers(3, 6))
        if rng.random() < 0.5:
            y = int(rng.integers(0, h - width)); surface[y:y + width] = MATERIALS["road"]; taken[y:y + width] = True
        else:
            x = int(rng.integers(0, w - width)); surface[:, x:x + width] = MATERIALS["road"]; taken[:, x:x + width] = True
    # buildings: rectangles of one roof material each, not on roads, not touching each other
    mask = np.zeros((h, w), np.uint8)
    shadow = np.zeros((h, w), np.uint8)
    sy, sx = sensor["sun"]
    lo, hi = building_px
    n_try = int(h * w / (hi * hi) * 1.6)
    for _ in range(n_try):
        bh, bw = rng.integers(lo, hi + 1, 2)
        y, x = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
        y0, x0, y1, x1 = max(0, y - 3), max(0, x - 3), min(h, y + bh + 3), min(w, x + bw + 3)
        if taken[y0:y1, x0:x1].any():
            continue
        taken[y0:y1, x0:x1] = True
        mix = np.asarray(sensor["roof_mix"], float)
        roof = ROOFS[rng.choice(len(ROOFS), p=mix / mix.sum())]
        colour = np.asarray(MATERIALS[roof]) * rng.uniform(0.85, 1.15)
        surface[y:y + bh, x:x + bw] = colour
        mask[y:y + bh, x:x + bw] = 1
        dy, dx = int(round(sy * 4)), int(round(sx * 4))
        shadow[max(0, y + dy):max(0, y + bh + dy), max(0, x + dx):max(0, x + bw + dx)] = 1
    shadow &= 1 - mask
    surface[shadow.astype(bool)] *= 0.35
    surface *= (1 + 0.08 * (_smooth_noise(rng, h, w, 6)[..., None] - 0.5))   # texture
    # off-nadir: the whole scene (and its truth) seen under a shear
    if sensor["shear"]:
        m = np.float32([[1, sensor["shear"], -sensor["shear"] * h / 2], [0, 1, 0]])
        surface = cv2.warpAffine(surface, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        mask = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
    if sensor["blur"] > 0.05:
        surface = cv2.GaussianBlur(surface, (0, 0), sensor["blur"])
    haze = sensor["haze"] * np.array([1.0, 0.75, 0.5, 0.25], np.float32)   # scattering ∝ 1/λ
    signal = surface * (1 - haze) + haze
    signal = signal * np.asarray(sensor["gain"], np.float32) + np.asarray(sensor["offset"], np.float32)
    signal += rng.normal(0, sensor["noise"], signal.shape).astype(np.float32)
    return signal, mask


def twin_sizes(scale: float, train_size: int) -> dict[str, tuple[int, int]]:
    """(height, width) per area: test areas the paper's sizes / scale, training areas square."""
    sizes = {a: (train_size, train_size) for a in TRAIN_AREAS}
    for a, (w, h) in PAPER_TEST_SIZES.items():
        sizes[a] = (max(64, int(round(h / scale))), max(64, int(round(w / scale))))
    return sizes


def write_twin(root, seed: int = 0, scale: float = 15.0, train_size: int = 288) -> Path:
    """Write the twin under `root` (train/ and test/ folders of 11-bit GeoTIFFs, uint16)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, areas in (("train", TRAIN_AREAS), ("test", TEST_AREAS)):
        (root / split / "images").mkdir(parents=True, exist_ok=True)
        (root / split / "gt").mkdir(parents=True, exist_ok=True)
        for i, area in enumerate(areas):
            h, w = twin_sizes(scale, train_size)[area]
            sensor = _sensor(rng, test=split == "test")
            signal, mask = render_scene(rng, h, w, sensor)
            dn = np.clip(signal * 2047, 0, 2047).astype(np.uint16)    # 11-bit digital numbers
            origin = (300000.0 + 10000 * i, 5000000.0 + (0 if split == "train" else 50000))
            write_geotiff(root / split / "images" / f"{area}.tif", dn, origin)
            write_geotiff(root / split / "gt" / f"{area}.tif", mask, origin)
    return root


def dataset(data_root, seed: int = 0, scale: float = 15.0, train_size: int = 288) -> Dataset:
    """The real GeoTIFF folder when `data_root` holds the layout, else the twin written under
    `data_root` (default: benchlib's data cache) on first use and reused afterwards."""
    return resolve(data_root, find_real=lambda p: p if is_dataset(p) else None, real_name="GeoTIFF folder",
                   twin_name="synth-sat", twin_version=TWIN_VERSION,
                   twin_settings={"seed": seed, "scale": scale, "train_size": train_size},
                   write_twin=lambda folder: write_twin(folder, seed, scale, train_size), seed=seed)
