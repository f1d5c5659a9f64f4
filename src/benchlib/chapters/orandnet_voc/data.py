"""PASCAL VOC 2012 segmentation data: the real on-disk layout, its validation, and a seeded twin.

Real layout (REFERENCE.md §2)::

    VOCdevkit/VOC2012/
      JPEGImages/<id>.jpg   Annotations/<id>.xml   SegmentationClass/<id>.png
      SegmentationClassAug/<id>.png                (SBD "aug" masks, optional)
      ImageSets/Segmentation/{train,val,trainval}.txt   (+ train_aug.txt, here or in VOC2012/)

Masks are palette ('P') PNGs whose array holds class indices 0..20, 255 = void. Image-level labels
come from the XML annotations (or, when an image has no XML, from the classes present in its mask).

`write_twin` writes a small synthetic dataset in exactly this layout (JPEG, palette PNG, XML, lists);
`dataset(data_root, ...)` resolves the real data when `data_root` holds it, else the twin.
"""
from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from benchlib import BenchlibError, safeio
from benchlib.datasets import Dataset, resolve
from benchlib.safeio import contained, read_text

CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
           "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
           "sheep", "sofa", "train", "tvmonitor")
NUM_CLASSES = 21  # background + 20 objects
VOID = 255


def voc_palette() -> list[int]:
    """The VOC devkit colour map (bit interleaving of the class index), 256 entries flattened."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


PALETTE = voc_palette()


# --------------------------------------------------------------------------- the real layout
def resolve_root(root) -> Path:
    """`VOCdevkit/VOC2012`, given that folder, `VOCdevkit`, or the folder holding `VOCdevkit`."""
    root = Path(root).expanduser()
    for cand in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (cand / "JPEGImages").is_dir() and (cand / "ImageSets").is_dir():
            return cand
    raise BenchlibError(f"{root}: not a PASCAL VOC 2012 folder (expected VOCdevkit/VOC2012 with "
                        "JPEGImages/ and ImageSets/Segmentation/)")


def is_voc_root(root) -> bool:
    try:
        resolve_root(root)
        return True
    except BenchlibError:
        return False


def _split_file(voc: Path, split: str) -> Path:
    cands = [voc / "ImageSets" / "Segmentation" / f"{split}.txt"]
    if split == "train_aug":  # the aug list lives in different places in different setups
        cands += [voc / "train_aug.txt", voc.parent / "train_aug.txt"]
    for c in cands:
        if c.is_file():
            return c
    raise BenchlibError(f"{cands[0]}: split list for {split!r} not found")


def _read_ids(path: Path) -> list[str]:
    """Ids of a split list (UTF-8, BOM stripped). Plain lists hold one id per line; DeepLab-style
    lists hold "/JPEGImages/<id>.jpg /SegmentationClassAug/<id>.png" (the leading slash is the
    devkit-relative convention of those lists, not an absolute path). A repeated id is refused:
    it would count one image several times and narrow every interval."""
    ids, first = [], {}
    for n, line in enumerate(read_text(path).splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        where = f"{path}, line {n}"
        fields = line.split()
        if len(fields) > 2:
            raise BenchlibError(f"{where}: expected an id or 'image mask' paths, got {len(fields)} fields")
        id_ = PurePosixPath(fields[0].replace("\\", "/")).stem
        if len(fields) == 2 or "/" in fields[0]:
            # paths in the list must name this devkit's folders and agree on the id
            img = PurePosixPath(fields[0].lstrip("/"))
            contained(path.parent, img.as_posix(), where)
            if img.parent.name not in ("JPEGImages", "") or img.suffix.lower() != ".jpg":
                raise BenchlibError(f"{where}: image path {fields[0]!r} is not JPEGImages/<id>.jpg")
            if len(fields) == 2:
                msk = PurePosixPath(fields[1].lstrip("/"))
                contained(path.parent, msk.as_posix(), where)
                if msk.stem != id_ or msk.suffix.lower() != ".png":
                    raise BenchlibError(f"{where}: image {fields[0]!r} is paired with mask {fields[1]!r} "
                                        "(expected the same id, .png)")
        if not id_ or id_ in (".", "..") or any(c in id_ for c in "/\\\x00"):
            raise BenchlibError(f"{where}: {id_!r} is not an image id")
        if id_ in first:
            raise BenchlibError(f"{where}: id {id_} repeats line {first[id_]} (each image may be listed once)")
        first[id_] = n
        ids.append(id_)
    if not ids:
        raise BenchlibError(f"{path}: split list is empty")
    return ids


def labels_from_xml(path: Path) -> np.ndarray:
    """Length-20 0/1 vector of the object classes named in a VOC XML annotation."""
    try:
        root = ET.fromstring(read_text(path))
    except ET.ParseError as e:
        raise BenchlibError(f"{path}: malformed XML annotation ({e})") from None
    labels = np.zeros(20, np.uint8)
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in CLASSES[1:]:
            raise BenchlibError(f"{path}: unknown object class {name!r}")
        labels[CLASSES.index(name) - 1] = 1
    return labels


def read_image(path: Path) -> np.ndarray:
    """An RGB image as H×W×3 uint8 (size checked from the header, truncated data refused)."""
    return safeio.read_image(path, mode="RGB")


def read_mask(path: Path) -> np.ndarray:
    """A class-index mask (palette or greyscale PNG) as H×W uint8, values 0-20 and 255."""
    mask = safeio.read_image(path, mode=None)  # None: keep a palette PNG's indices, not its colours
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise BenchlibError(f"{path}: mask must be a palette or greyscale PNG of class indices, got an "
                            f"array of shape {mask.shape} and type {mask.dtype} (a colour or 1-bit mask?)")
    bad = (mask > 20) & (mask != VOID)
    if bad.any():
        raise BenchlibError(f"{path}: label values outside 0-20 and 255: "
                            f"{sorted(set(np.unique(mask[bad]).tolist()))}")
    if not ((mask >= 1) & (mask <= 20)).any():
        # every VOC segmentation image shows at least one object; a mask of only 0 and 255 is
        # most often a binary foreground mask (255 = object), which would be read as all void
        kind = ("a binary 0/255 mask? VOC masks hold the class index 1-20 on objects, 255 only on "
                "boundaries and ignored regions" if (mask == VOID).mean() > 0.25 else "no object pixels")
        raise BenchlibError(f"{path}: mask holds no object class (only values "
                            f"{sorted(np.unique(mask).tolist())}): {kind}")
    return mask


class VOCSegmentation:
    """`VOCSegmentation(root, split)[i]` → dict(id, image H×W×3 uint8, mask H×W uint8 with 255 kept,
    labels length-20 0/1 array). `root` is `VOCdevkit/VOC2012` or a parent of it; `split` one of
    the lists in ImageSets/Segmentation (train, val, trainval, train_aug). Masks come from
    SegmentationClass, or SegmentationClassAug for train_aug (or when SegmentationClass is absent).
    Missing files, bad encodings and repeated ids are reported when the dataset is opened; content
    errors (bombs, truncated files, masks without any object class, an XML naming no class of its
    mask) when an item is read. Partial XML/mask disagreements are kept in `label_mismatches`
    and reported, counted, by `load_split`."""

    def __init__(self, root, split: str = "train", mask_dir: str | None = None):
        self.root = resolve_root(root)
        self.split = split
        self.ids = _read_ids(_split_file(self.root, split))
        if mask_dir is None:
            mask_dir = "SegmentationClassAug" if split == "train_aug" else "SegmentationClass"
            if not (self.root / mask_dir).is_dir():
                other = {"SegmentationClass": "SegmentationClassAug",
                         "SegmentationClassAug": "SegmentationClass"}[mask_dir]
                mask_dir = other if (self.root / other).is_dir() else mask_dir
        self.mask_dir = self.root / mask_dir
        self.label_mismatches: dict[str, str] = {}  # id -> how its XML labels differ from its mask
        for kind, folder, ext in (("image", "JPEGImages", ".jpg"), ("mask", mask_dir, ".png")):
            missing = [i for i in self.ids if not contained(self.root / folder, f"{i}{ext}").is_file()]
            if missing:
                raise BenchlibError(f"{self.root / folder / (missing[0] + ext)}: {kind} listed in "
                                    f"split {split!r} is missing ({len(missing)} missing in all)")

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        id_ = self.ids[i]
        img_path = contained(self.root, f"JPEGImages/{id_}.jpg", f"split {self.split!r}")
        mask_path = contained(self.mask_dir, f"{id_}.png", f"split {self.split!r}")
        image, mask = read_image(img_path), read_mask(mask_path)
        if image.shape[:2] != mask.shape:
            raise BenchlibError(f"{mask_path}: mask size {mask.shape[1]}×{mask.shape[0]} differs from "
                                f"image {img_path.name} size {image.shape[1]}×{image.shape[0]}")
        in_mask = np.isin(np.arange(1, 21), np.unique(mask)).astype(np.uint8)
        xml = contained(self.root, f"Annotations/{id_}.xml", f"split {self.split!r}")
        if xml.is_file():
            labels = labels_from_xml(xml)
            if not (labels & in_mask).any():
                # no class in common: the annotation describes another image (or is empty)
                raise BenchlibError(f"{xml}: names {_names(labels) or 'no object'} but mask "
                                    f"{mask_path.name} shows {_names(in_mask)}")
            if (labels != in_mask).any():
                # real VOC legitimately disagrees a little (objects entirely void, SBD masks):
                # counted and reported by load_split, never silently
                self.label_mismatches[id_] = (f"XML {_names(labels)} vs mask {_names(in_mask)}")
        else:  # equivalent source of image-level labels (REFERENCE.md §2)
            labels = in_mask
        return {"id": id_, "image": image, "mask": mask, "labels": labels}


def _names(labels) -> str:
    return ", ".join(CLASSES[c + 1] for c in np.flatnonzero(labels))


# --------------------------------------------------------------------------- writing the format
def write_item(voc: Path, id_: str, image: np.ndarray, mask: np.ndarray, labels=None,
               mask_dirs=("SegmentationClass",)) -> None:
    """Write one image (JPEG), its palette mask (PNG) and XML annotation in the VOC layout.
    The XML objects are the classes in `labels` (default: those present in the mask)."""
    for d in ("JPEGImages", "Annotations", *mask_dirs):
        (voc / d).mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(voc / "JPEGImages" / f"{id_}.jpg", quality=92)
    png = Image.fromarray(mask.astype(np.uint8), mode="P")
    png.putpalette(PALETTE)
    for d in mask_dirs:
        png.save(voc / d / f"{id_}.png")
    if labels is None:
        labels = np.isin(np.arange(1, 21), np.unique(mask)).astype(np.uint8)
    h, w = mask.shape
    ann = ET.Element("annotation")
    ET.SubElement(ann, "folder").text = "VOC2012"
    ET.SubElement(ann, "filename").text = f"{id_}.jpg"
    size = ET.SubElement(ann, "size")
    for k, v in (("width", w), ("height", h), ("depth", 3)):
        ET.SubElement(size, k).text = str(v)
    ET.SubElement(ann, "segmented").text = "1"
    for c in np.flatnonzero(labels):
        ys, xs = np.nonzero(mask == c + 1)
        obj = ET.SubElement(ann, "object")
        ET.SubElement(obj, "name").text = CLASSES[c + 1]
        ET.SubElement(obj, "difficult").text = "0"
        box = ET.SubElement(obj, "bndbox")
        coords = (xs.min(), ys.min(), xs.max(), ys.max()) if xs.size else (0, 0, w - 1, h - 1)
        for k, v in zip(("xmin", "ymin", "xmax", "ymax"), coords):
            ET.SubElement(box, k).text = str(int(v) + 1)  # VOC boxes are 1-based
    ET.ElementTree(ann).write(voc / "Annotations" / f"{id_}.xml")


def write_split(voc: Path, split: str, ids) -> None:
    d = voc / "ImageSets" / "Segmentation"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")


# --------------------------------------------------------------------------- the twin
TWIN_VERSION = 1  # bump when the generator changes: a cached twin is then rewritten


def write_twin(root, n_train: int = 300, n_val: int = 120, size: int = 64, seed: int = 0) -> Path:
    """Write the synthetic twin under `root` (as `root/VOCdevkit/VOC2012`); returns that folder.
    Deterministic in (n_train, n_val, size, seed). Train images are listed in train.txt and in
    train_aug.txt (masks also in SegmentationClassAug, as SBD would provide)."""
    voc = Path(root) / "VOCdevkit" / "VOC2012"
    rng = np.random.default_rng(seed)
    ids = {"train": [f"2007_{i:06d}" for i in range(n_train)],
           "val": [f"2008_{i:06d}" for i in range(n_val)]}
    for split, split_ids in ids.items():
        dirs = ("SegmentationClass", "SegmentationClassAug") if split == "train" else ("SegmentationClass",)
        for id_ in split_ids:
            image, mask, labels = render_scene(rng, size)
            write_item(voc, id_, image, mask, labels, mask_dirs=dirs)
        write_split(voc, split, split_ids)
    write_split(voc, "trainval", ids["train"] + ids["val"])
    write_split(voc, "train_aug", ids["train"])
    return voc


def dataset(data_root, *, n_train: int, n_val: int, size: int, seed: int) -> Dataset:
    """The real VOC when `data_root` holds a devkit, else the seeded twin (written once)."""
    return resolve(data_root, find_real=lambda p: resolve_root(p) if is_voc_root(p) else None,
                   real_name="PASCAL VOC 2012", twin_name="synth-voc", twin_version=TWIN_VERSION,
                   twin_settings={"n_train": n_train, "n_val": n_val, "size": size, "seed": seed},
                   write_twin=lambda f: write_twin(f, n_train, n_val, size, seed), seed=seed)


# --------------------------------------------------------------------------- twin scenes
# Each class has a body (shape, colour, texture) close to that of one or two look-alike classes
# and a small class-specific "part" (a coloured patch at a fixed place): the part is the most
# discriminative cue, so a CNN tends to fire on it (concentrated CAM) while the body is what the
# mask covers. Several classes live on a background context that always comes with them
# ("train on rails", boat on water, ...): the context is labelled background, so a classifier that
# uses it produces false positives there. Clutter blobs in part colours and occlusions add noise.
_SHAPES = ("ellipse", "rect", "triangle", "diamond", "cross", "ring")
_TEXTURES = ("plain", "hstripes", "vstripes", "diag", "checker", "dots")
# look-alike groups share body colour and texture
_GROUPS = [(1, 3), (2, 14), (6, 7, 19), (4,), (5, 16), (8, 12), (10, 13, 17), (9, 11, 18),
           (15,), (20,)]
_CONTEXT = {19: "rails", 4: "water", 1: "sky", 3: "sky", 10: "grass", 13: "grass", 17: "grass",
            6: "road", 7: "road"}
_COOCCUR = {2: 15, 13: 15, 14: 15, 11: 9, 9: 11, 18: 20, 20: 18, 16: 11}


def _class_specs():
    rng = np.random.default_rng(20240101)  # fixed: the classes look the same for every seed
    specs = {}
    for g, members in enumerate(_GROUPS):
        hue = g / len(_GROUPS)
        texture = _TEXTURES[g % len(_TEXTURES)]
        for k, c in enumerate(members):
            # look-alikes: neighbouring hues, the same texture
            body = np.array(_hsv((hue + 0.03 * k) % 1.0, 0.45 + 0.15 * k, rng.uniform(0.5, 0.75)))
            specs[c] = {
                "shape": _SHAPES[(c * 7) % len(_SHAPES)],
                "body": body, "texture": texture, "period": 3 + (c % 3),
                "part": np.array(_hsv(((c * 0.37) % 1.0), 1.0, 1.0)),
                "part_pos": (0.45 * np.cos(2.1 * c), 0.45 * np.sin(2.1 * c)),
                "aspect": (1.0, 0.6, 1.5)[k % 3],
            }
    return specs


def _hsv(h, s, v):
    import colorsys

    return tuple(255 * np.array(colorsys.hsv_to_rgb(h, s, v)))


_SPECS = None


def _shape_mask(shape, yy, xx, cy, cx, r, aspect):
    dy, dx = (yy - cy) / (r * aspect), (xx - cx) / (r / aspect)
    if shape == "ellipse":
        return dy ** 2 + dx ** 2 <= 1
    if shape == "rect":
        return (np.abs(dy) <= 0.8) & (np.abs(dx) <= 0.8)
    if shape == "triangle":
        return (dy <= 0.8) & (dy >= -0.9) & (np.abs(dx) <= (dy + 0.9) * 0.55)
    if shape == "diamond":
        return np.abs(dy) + np.abs(dx) <= 1
    if shape == "cross":
        return ((np.abs(dy) <= 0.35) & (np.abs(dx) <= 1)) | ((np.abs(dx) <= 0.35) & (np.abs(dy) <= 1))
    r2 = dy ** 2 + dx ** 2  # ring: the hole is background
    return (r2 <= 1) & (r2 >= 0.25)


def _texture(kind, period, yy, xx, rng):
    phase = rng.integers(0, period)
    if kind == "hstripes":
        t = ((yy + phase) // period) % 2
    elif kind == "vstripes":
        t = ((xx + phase) // period) % 2
    elif kind == "diag":
        t = ((yy + xx + phase) // period) % 2
    elif kind == "checker":
        t = ((yy // period) + (xx // period)) % 2
    elif kind == "dots":
        t = ((yy % (period + 1) == 0) & (xx % (period + 1) == 0)).astype(float)
    else:
        t = np.zeros_like(yy, dtype=float)
    return 1.0 - 0.35 * t


def _draw_context(img, kind, yy, xx, size, rng):
    """Paint a background context region; returns the rows (y0, y1) objects should stand on."""
    if kind == "sky":
        img[:] = np.array([150, 190, 235]) + rng.normal(0, 6, 3)
        for _ in range(2):  # clouds
            cy, cx, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(4, 9)
            img[((yy - cy) / r) ** 2 + ((xx - cx) / (1.8 * r)) ** 2 <= 1] = (240, 240, 245)
        return 0.15 * size, 0.85 * size
    y0 = int(rng.uniform(0.45, 0.6) * size)
    band = yy >= y0
    if kind == "water":
        img[band] = np.array([30, 70, 140]) + 25 * np.sin(xx[band] / 2.0 + yy[band])[:, None]
    elif kind == "grass":
        img[band] = np.array([60, 140, 50]) + rng.normal(0, 18, (int(band.sum()), 1))
    elif kind == "road":
        img[band] = (95, 95, 95)
        img[(yy == (y0 + size) // 2) & ((xx // 4) % 2 == 0)] = (235, 235, 235)
    elif kind == "rails":
        y1 = min(size, y0 + int(0.22 * size))
        band = (yy >= y0) & (yy < y1)
        img[band] = (90, 80, 70)
        img[band & (xx % 5 == 0)] = (120, 70, 30)  # sleepers
        for ry in (y0 + 2, y1 - 3):
            img[(yy == ry) | (yy == ry + 1)] = (200, 200, 210)  # rails
        return y0 - 0.15 * size, y0 + 0.05 * size
    return y0 - 0.1 * size, y0 + 0.2 * size


def render_scene(rng, size: int):
    """One twin image: (RGB uint8 H×W×3, mask uint8 H×W with a 1-pixel void border around objects,
    labels length-20)."""
    global _SPECS
    if _SPECS is None:
        _SPECS = _class_specs()
    yy, xx = np.mgrid[0:size, 0:size]
    n_obj = 1 + int(rng.random() < 0.5) + int(rng.random() < 0.2)
    classes = [int(rng.integers(1, 21))]
    while len(classes) < n_obj:
        prev = classes[-1]
        c = _COOCCUR[prev] if prev in _COOCCUR and rng.random() < 0.6 else int(rng.integers(1, 21))
        if c not in classes:
            classes.append(c)
        else:
            n_obj -= 1
    # indoor-ish base: a smooth gradient with faint wallpaper texture
    base = rng.uniform(70, 200, 3)
    img = base + (yy[..., None] / size) * rng.normal(0, 30, 3) + 8 * np.sin(xx[..., None] / 3.0)
    contexts = [_CONTEXT[c] for c in classes if c in _CONTEXT]
    if rng.random() < 0.05:
        contexts.append(str(rng.choice(["rails", "water", "grass", "road"])))  # context without its class
    rows = {}
    for kind in dict.fromkeys(contexts):
        rows[kind] = _draw_context(img, kind, yy, xx, size, rng)
    for _ in range(int(rng.integers(2, 6))):  # clutter blobs, some in the colours of class parts
        cy, cx, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(1.5, 3.5)
        col = _SPECS[int(rng.integers(1, 21))]["part"] if rng.random() < 0.5 else rng.uniform(0, 255, 3)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = col
    mask = np.zeros((size, size), np.uint8)
    for c in classes:
        s = _SPECS[c]
        r = rng.uniform(0.2, 0.32) * size
        lo, hi = rows.get(_CONTEXT.get(c), (0.25 * size, 0.75 * size))
        cy = np.clip(rng.uniform(lo, hi), r * 0.6, size - r * 0.6)
        cx = rng.uniform(r * 0.7, size - r * 0.7)
        m = _shape_mask(s["shape"], yy, xx, cy, cx, r, s["aspect"] * rng.uniform(0.85, 1.15))
        body = s["body"] * rng.uniform(0.85, 1.15) * _texture(s["texture"], s["period"], yy, xx, rng)[..., None]
        img[m] = body[m]
        py, px = cy + s["part_pos"][0] * r, cx + s["part_pos"][1] * r
        part = m & ((yy - py) ** 2 + (xx - px) ** 2 <= (0.3 * r) ** 2)
        img[part] = s["part"]
        mask[m] = c  # later objects occlude earlier ones
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    present = [c for c in classes if (mask == c).sum() >= 12]  # fully occluded objects drop out
    mask[~np.isin(mask, [0, *present])] = 0
    edge = np.zeros_like(mask, bool)  # void band on label boundaries, as in VOC
    edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    edge[:-1, :] |= mask[:-1, :] != mask[1:, :]
    mask[edge] = VOID
    labels = np.zeros(20, np.uint8)
    labels[[c - 1 for c in present]] = 1
    return img, mask, labels


# --------------------------------------------------------------------------- a split in memory
@dataclass
class Split:
    """One split read into memory at one size."""

    ids: list
    images: np.ndarray  # N×S×S×3 uint8
    masks: np.ndarray  # N×S×S uint8 (255 = void)
    labels: np.ndarray  # N×20 0/1

    @property
    def classes(self):
        """Per image, the labelled classes as indices 1..20."""
        return [np.flatnonzero(l) + 1 for l in self.labels]


def load_split(ds, size: int) -> Split:
    """Read a whole split into memory, resized to size×size (masks with nearest neighbour) when the
    data is not already that size (real VOC)."""
    ids, imgs, masks, labels = [], [], [], []
    for i in range(len(ds)):
        it = ds[i]
        img, mask = it["image"], it["mask"]
        if img.shape[:2] != (size, size):
            img = np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR))
            mask = np.asarray(Image.fromarray(mask).resize((size, size), Image.NEAREST))
        ids.append(it["id"]); imgs.append(img); masks.append(mask); labels.append(it["labels"])
    if getattr(ds, "label_mismatches", None):
        bad = ds.label_mismatches
        eg = "; ".join(f"{k}: {v}" for k, v in list(bad.items())[:3])
        warnings.warn(f"{ds.root}, split {ds.split!r}: XML labels differ from the mask's classes for "
                      f"{len(bad)} of {len(ds)} images (the XML labels are used), e.g. {eg}", stacklevel=2)
    return Split(ids, np.stack(imgs), np.stack(masks), np.stack(labels).astype(np.uint8))

