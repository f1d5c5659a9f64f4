"""Saliency folders (``<root>/Image/*.jpg`` + ``<root>/GT/*.png``, DUTS / ECSSD / HKU-IS style) and
two seeded synthetic twins written in exactly that layout.

Optional per-image instance file ``<root>/Instances/<id>.json`` (the co-saliency paper annotates a
box and a class per object)::

    {"objects": [{"box": [x0, y0, x1, y1], "class": "star", "cosalient": true}, ...]}

Optional ``<root>/Salient/<id>.png`` (0/255, written by the twins): every salient object, co-salient
and distractors; it lets the chapter measure the response on distractors pixel-exactly and score
the oracle that marks all salient objects. Without it, distractor boxes stand in.

The instance files are read strictly (UTF-8, a BOM allowed): a box is exactly four finite numbers,
``cosalient`` is JSON ``true`` / ``false`` (absent means true), keys and objects are not repeated,
every co-salient box holds some ground truth, and a ground truth with salient pixels has at least
one co-salient object listed; files of one id (``im1.jpg`` + ``im1.png``) and annotations without
an image are refused.

Boxes are pixel corners (x1, y1 exclusive), inside the image. ``cosalient`` marks the objects of the
repeated class, the ones the ground truth covers; single distractor objects have ``false``. Without
instance files the boxes are taken from the connected components of the ground truth (all
co-salient) so that the RPN / RFM branches still have targets.

Twins (:func:`write_twin`, resolved through :func:`dataset`):
- ``"cosal"`` is shaped like the paper's 2,019-image dataset: 2–6 instances of one object class per
  image (3.5 on average) with appearance variation (scale, rotation, aspect, hue, shading), and in
  every image one or two single salient distractors (each of another class, same size and colour
  ranges), varied image sizes and aspect ratios. The ground truth marks only the repeated class.
- ``"sdcs"`` is shaped like SDCS (Yu et al. 2018): 2–3 co-salient objects, no distractors.
Every object class is co-salient in some images and a distractor in others, so "which class is
salient" cannot be memorised: a method has to notice which class repeats within the image.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from benchlib import BenchlibError
from benchlib.datasets import Dataset, resolve
from benchlib.safeio import read_image, read_text

IMAGE_DIR, GT_DIR, INSTANCE_DIR, SALIENT_DIR = "Image", "GT", "Instances", "Salient"
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
TWIN_VERSION = 3  # 3: distractors in every paper-shaped image, Salient/ masks

# Object classes of the twins: a shape and a base hue each (hue in [0, 1)).
SHAPES = ("circle", "square", "triangle", "star", "cross", "ring", "hexagon", "diamond")
CLASS_HUES = (0.0, 0.58, 0.33, 0.14, 0.8, 0.5, 0.07, 0.66)


@dataclass
class SaliencyItem:
    id: str
    image: np.ndarray            # H×W×3 uint8
    gt: np.ndarray               # H×W uint8, 0 / 255
    boxes: np.ndarray            # N×4 float32 (x0, y0, x1, y1)
    classes: list = field(default_factory=list)
    cosalient: np.ndarray = None  # N bool
    salient: np.ndarray = None    # H×W bool: every salient object (co-salient + distractors), if known


@dataclass
class SaliencySet:
    root: Path
    items: list
    boxes_source: str  # "instance files" | "ground-truth components"

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]

    def subset(self, indices) -> "SaliencySet":
        return SaliencySet(self.root, [self.items[i] for i in indices], self.boxes_source)


# --------------------------------------------------------------------------- loading
def is_saliency_folder(root) -> bool:
    root = Path(root)
    return (root / IMAGE_DIR).is_dir() and (root / GT_DIR).is_dir()


def _read_image(path: Path, mode: str) -> np.ndarray:
    # one safe reader for every dataset image: size checked from the header, truncation refused
    return read_image(path, mode)


def boxes_from_mask(gt: np.ndarray) -> np.ndarray:
    """Boxes of the 8-connected components of a binary mask (N×4, x1/y1 exclusive)."""
    from scipy.ndimage import find_objects, label

    lab, _ = label(gt > 0, structure=np.ones((3, 3)))
    return np.array([[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in find_objects(lab)],
                    dtype=np.float32).reshape(-1, 4)


class _InstanceError(Exception):
    """A problem inside an instance file, turned into a BenchlibError naming the file."""


def _no_duplicate_keys(pairs):
    """json object hook: a repeated key (two "box" entries) would silently keep the last one."""
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise _InstanceError(f"key {dup[0]!r} appears twice in one JSON object")
    return dict(pairs)


def _refuse_constant(name):
    raise _InstanceError(f"{name} is not a number (box coordinates must be finite)")


def _parse_object(k: int, o, w: int, h: int):
    where = f"object {k}"
    if not isinstance(o, dict):
        raise _InstanceError(f"{where} is {type(o).__name__}, expected {{'box': [x0, y0, x1, y1], ...}}")
    if "box" not in o:
        raise _InstanceError(f"{where} has no 'box'")
    box = o["box"]
    # exactly four plain numbers: reshaping 8 or 2 numbers (or [[x0, y0], [x1, y1]]) would shift
    # every later box onto the wrong object and class
    if not isinstance(box, list) or len(box) != 4:
        n = len(box) if isinstance(box, list) else type(box).__name__
        raise _InstanceError(f"{where}: box must be [x0, y0, x1, y1] (4 numbers), got {n}: {box!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        raise _InstanceError(f"{where}: box {box!r} holds something other than numbers")
    b = np.array(box, dtype=np.float64)
    if not np.all(np.isfinite(b)):
        raise _InstanceError(f"{where}: box {box!r} is not finite")
    if not (0 <= b[0] < b[2] <= w and 0 <= b[1] < b[3] <= h):
        raise _InstanceError(f"{where}: box {np.float32(b).tolist()} lies outside the {w}×{h} image or is empty")
    cls = o.get("class", "")
    if isinstance(cls, bool) or not isinstance(cls, (str, int)):
        raise _InstanceError(f"{where}: 'class' must be a name (string), got {cls!r}")
    cosal = o.get("cosalient", True)  # an object without the flag is co-salient (the ground truth's)
    if not isinstance(cosal, bool):
        # "false" or 0 would be read as true / silently flip the meaning: only JSON true / false
        raise _InstanceError(f"{where}: 'cosalient' must be JSON true or false, got {cosal!r}")
    return b, str(cls), cosal


def _read_instances(path: Path, gt: np.ndarray):
    """Boxes, classes and co-salient flags of one instance file, cross-checked against its image
    size and ground truth."""
    h, w = gt.shape
    text = read_text(path)  # UTF-8 (BOM stripped); other encodings and NUL bytes refused
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise BenchlibError(f"{path}, line {e.lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
    except RecursionError:
        raise BenchlibError(f"{path}: JSON nested too deeply") from None
    except _InstanceError as e:
        raise BenchlibError(f"{path}: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise BenchlibError(f"{path}: expected {{'objects': [{{'box': [x0, y0, x1, y1], ...}}]}}")
    try:
        parsed = [_parse_object(k, o, w, h) for k, o in enumerate(data["objects"])]
    except _InstanceError as e:
        raise BenchlibError(f"{path}: {e}") from None
    seen = {}
    for k, (b, c, _) in enumerate(parsed):
        key = (tuple(b.tolist()), c)
        if key in seen:  # a copied line: the object would count twice as an RPN target / distractor
            raise BenchlibError(f"{path}: object {k} repeats object {seen[key]} (same box and class)")
        seen[key] = k
    boxes = np.array([b for b, _, _ in parsed], dtype=np.float32).reshape(-1, 4)
    classes = [c for _, c, _ in parsed]
    cosal = np.array([f for _, _, f in parsed], dtype=bool)
    fg = gt > 128
    if not cosal.any() and fg.any():
        # the ground truth shows co-salient objects the file does not list: the RPN / RFM branches
        # would get no target for them (an emptied or truncated annotation, or another image's)
        line = text[:text.find('"objects"')].count("\n") + 1 if '"objects"' in text else 1
        what = "lists no objects" if not parsed else f"lists {len(parsed)} object(s), none co-salient"
        raise BenchlibError(f"{path}, line {line}: {what}, but its ground truth marks "
                            f"{int(fg.sum())} salient pixel(s)")
    for k, (b, f) in enumerate(zip(boxes, cosal)):
        x0, y0 = int(np.floor(b[0])), int(np.floor(b[1]))
        x1, y1 = int(np.ceil(b[2])), int(np.ceil(b[3]))
        # a co-salient object is by definition part of the ground truth: a box with none of it
        # means a flipped flag or a box from another image
        if f and not fg[y0:y1, x0:x1].any():
            raise BenchlibError(f"{path}: object {k} is marked co-salient but its box {b.tolist()} holds "
                                f"no ground-truth pixel")
    return boxes, classes, cosal


def _read_salient(path: Path, gt: np.ndarray) -> np.ndarray:
    """The optional mask of every salient object; it must hold the ground truth's objects."""
    if not path.is_file():
        raise BenchlibError(f"{path}: missing salient-objects mask (the folder has {SALIENT_DIR}/)")
    m = _read_image(path, "L")
    if m.shape != gt.shape:
        raise BenchlibError(f"{path}: size {m.shape[1]}×{m.shape[0]} does not match the ground truth "
                            f"({gt.shape[1]}×{gt.shape[0]})")
    if not set(np.unique(m).tolist()) <= {0, 255}:
        raise BenchlibError(f"{path}: salient-objects mask is not binary (expected 0/255)")
    if np.any((gt > 128) & (m == 0)):
        raise BenchlibError(f"{path}: does not cover the ground truth's co-salient objects")
    return m > 0


def _by_stem(folder: Path, exts) -> dict:
    """{stem: path} of the files of `folder` with these suffixes; two files of one stem
    (im1.jpg and im1.png) are refused, since only one of them would be read."""
    found = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in exts:
            if p.stem in found:
                raise BenchlibError(f"{p}: same id {p.stem!r} as {found[p.stem].name}; keep one file per id")
            found[p.stem] = p
    return found


def load_saliency_folder(root, binarize: bool = False) -> SaliencySet:
    """Read and validate a whole saliency folder (errors name the file and the problem).

    ``binarize=True`` accepts anti-aliased ground truths (thresholded at > 128); by default a
    ground truth must hold only 0 and 255."""
    root = Path(root)
    if not is_saliency_folder(root):
        raise BenchlibError(f"{root}: not a saliency folder (expected {IMAGE_DIR}/ and {GT_DIR}/ inside)")
    images = _by_stem(root / IMAGE_DIR, IMAGE_EXTS)
    gts = _by_stem(root / GT_DIR, (".png",))
    if not images:
        raise BenchlibError(f"{root / IMAGE_DIR}: no images")
    for stem, p in images.items():
        if stem not in gts:
            raise BenchlibError(f"{p}: missing ground truth {root / GT_DIR / (stem + '.png')}")
    for stem, p in gts.items():
        if stem not in images:
            raise BenchlibError(f"{p}: ground truth without an image in {root / IMAGE_DIR}")
    inst_dir = root / INSTANCE_DIR
    has_instances = inst_dir.is_dir()
    sal_dir = root / SALIENT_DIR
    # annotations of an image that is not there: a renamed or deleted image, or a mixed-up folder
    for d, exts in ((inst_dir, (".json",)), (sal_dir, (".png",))):
        if d.is_dir():
            for stem, p in _by_stem(d, exts).items():
                if stem not in images:
                    raise BenchlibError(f"{p}: annotation without an image in {root / IMAGE_DIR}")
    items = []
    for stem in sorted(images):
        img = _read_image(images[stem], "RGB")
        gt = _read_image(gts[stem], "L")
        if gt.shape != img.shape[:2]:
            raise BenchlibError(f"{gts[stem]}: size {gt.shape[1]}×{gt.shape[0]} does not match the image "
                                f"{images[stem].name} ({img.shape[1]}×{img.shape[0]})")
        values = np.unique(gt)
        if binarize:
            gt = np.where(gt > 128, 255, 0).astype(np.uint8)
        elif not set(values.tolist()) <= {0, 255}:
            raise BenchlibError(f"{gts[stem]}: ground truth is not binary (values {values[:8].tolist()}"
                                f"{' …' if len(values) > 8 else ''}); expected 0/255 (binarize=True thresholds > 128)")
        if has_instances:
            jp = inst_dir / f"{stem}.json"
            if not jp.is_file():
                raise BenchlibError(f"{jp}: missing instance file (the folder has {INSTANCE_DIR}/)")
            boxes, classes, cosal = _read_instances(jp, gt)
        else:
            boxes = boxes_from_mask(gt)
            classes, cosal = ["salient"] * len(boxes), np.ones(len(boxes), bool)
        salient = _read_salient(sal_dir / f"{stem}.png", gt) if sal_dir.is_dir() else None
        items.append(SaliencyItem(stem, img, gt, boxes, classes, cosal, salient))
    return SaliencySet(root, items, "instance files" if has_instances else "ground-truth components")


def split_indices(n: int, test_fraction: float, seed: int):
    """Seeded train / test split of n items: (train indices, test indices), both sorted."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


# --------------------------------------------------------------------------- twin generator
def _hsv_to_rgb(h, s, v):
    import colorsys

    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def _shape_mask(shape: str, yy, xx, cy, cx, r, angle, aspect):
    """Boolean mask of one object, from its shape's definition in rotated, stretched coordinates."""
    c, s = np.cos(angle), np.sin(angle)
    u = ((xx - cx) * c + (yy - cy) * s) / (r * aspect)
    v = (-(xx - cx) * s + (yy - cy) * c) / (r / aspect)
    rho, th = np.hypot(u, v), np.arctan2(v, u)
    if shape == "circle":
        return rho <= 1
    if shape == "square":
        return np.maximum(abs(u), abs(v)) <= 0.85
    if shape == "diamond":
        return abs(u) + abs(v) <= 1.1
    if shape == "ring":
        return (rho <= 1) & (rho >= 0.55)
    if shape == "cross":
        return ((abs(u) <= 0.35) & (abs(v) <= 1)) | ((abs(v) <= 0.35) & (abs(u) <= 1))
    if shape == "triangle":  # regular polygon: rho·cos(θ − nearest vertex bisector) ≤ apothem
        n, apo = 3, 0.6
    elif shape == "hexagon":
        n, apo = 6, 0.88
    elif shape == "star":
        return rho <= 0.6 + 0.45 * np.cos(5 * th)
    else:
        raise ValueError(shape)
    k = 2 * np.pi / n
    return rho * np.cos((th % k) - k / 2) <= apo


def _background(rng, h, w):
    """Cluttered natural-image-like background: a smooth colour field at two scales plus a few soft
    colourful blobs (salient to a colour-contrast detector, but never shaped like an object) and
    fine noise. Bottom-up saliency lights some of it up; a learned detector can tell it apart."""
    def field(cells, amount):
        c = rng.uniform(0, 1, size=(cells, cells, 3))
        return np.asarray(Image.fromarray((c * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), float) / 255 * amount

    bg = 0.3 + field(3, 0.4) + field(8, 0.2) - 0.15
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(2, 5))):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.1, 0.3) * min(h, w)
        blob = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)))[..., None]
        bg = bg * (1 - 0.6 * blob) + 0.6 * blob * _hsv_to_rgb(rng.uniform(), rng.uniform(0.4, 0.9), rng.uniform(0.5, 0.9))
    return bg + rng.normal(0, 0.03, size=(h, w, 3))


def _render(rng, kind: str, h: int, w: int):
    """One twin image: its RGB array, the co-saliency ground truth, the mask of every salient object
    (co-salient and distractors) and the instance list."""
    n_classes = len(SHAPES)
    cls = int(rng.integers(n_classes))
    if kind == "cosal":
        n_co = int(rng.choice([2, 3, 4, 5, 6], p=[0.3, 0.25, 0.2, 0.15, 0.1]))  # mean 3.5
        # Every image holds single salient distractors (1, or 2 of different classes with few
        # co-salient objects): a generic saliency detector must lose F and MAE on them.
        n_dis = 1 + int(n_co <= 3 and rng.random() < 0.5)
    elif kind == "sdcs":
        n_co, n_dis = int(rng.choice([2, 3])), 0
    else:
        raise BenchlibError(f"unknown twin kind {kind!r} (use 'cosal' or 'sdcs')")
    others = [c for c in range(n_classes) if c != cls]
    classes = [cls] * n_co + [others[i] for i in rng.choice(len(others), size=n_dis, replace=False)]
    img = _background(rng, h, w)
    base_r = min(h, w) * rng.uniform(0.09, 0.12)  # one size per image, jittered per object: distractors alike
    gt, salient, objects, _ = _draw_objects(rng, img, classes, n_co, base_r)
    return _to_uint8(img), (gt * 255).astype(np.uint8), (salient * 255).astype(np.uint8), objects


def _to_uint8(img):
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def _draw_objects(rng, img, classes, n_co: int, base_r: float, placed=None, first: int = 0):
    """Paint objects of ``classes`` into ``img`` (in place), the first ``n_co`` co-salient, at places
    that overlap no object of ``placed`` (continued: objects ``first``, ``first`` + 1, …). Returns the
    co-saliency mask, the mask of every object drawn, their instance list and the places."""
    h, w = img.shape[:2]
    gt = np.zeros((h, w), bool)
    salient = np.zeros((h, w), bool)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    placed, objects = list(placed or []), []
    for i, c in enumerate(classes, start=first):
        r = base_r * rng.uniform(0.8, 1.2)
        for attempt in range(400):  # rejection sampling: objects do not overlap (shrink if crowded)
            if attempt and attempt % 100 == 0:
                r *= 0.85
            # 1.25 r bounds every shape (star tips 1.05 r, stretched by up to 1.18)
            cy, cx = rng.uniform(r + 1, h - r - 1), rng.uniform(r + 1, w - r - 1)
            if all(np.hypot(cy - py, cx - px) > 1.25 * (r + pr) + 2 for py, px, pr in placed):
                break
        placed.append((cy, cx, r))
        mask = _shape_mask(SHAPES[c], yy, xx, cy, cx, r, rng.uniform(0, 2 * np.pi), rng.uniform(0.85, 1.18))
        # distractors share the co-salient objects' colour ranges: comparable contrast
        colour = _hsv_to_rgb(CLASS_HUES[c] + rng.normal(0, 0.02), rng.uniform(0.6, 0.95), rng.uniform(0.65, 0.95))
        shade = 1 + 0.25 * ((xx - cx) * np.cos(i) + (yy - cy) * np.sin(i)) / (2 * r)  # lighting gradient
        img[mask] = colour * shade[mask, None]
        ys, xs = np.nonzero(mask)
        objects.append({"box": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1],
                        "class": SHAPES[c], "cosalient": i < n_co})
        gt = gt | mask if i < n_co else gt & ~mask
        salient |= mask
    return gt, salient, objects, placed


def control_pair(rng, h: int, w: int, index: int = 0):
    """One image of the RFM's control, two ways (matched: the same draws). ``single``: 2–3 instances
    of one class (co-salient) and one instance of another class, the distractor, drawn from the same
    size, colour and shading ranges, so that it is told apart only by having no second instance.
    ``paired``: the same image with a second instance of the distractor's class added where nothing
    lies, so that nothing tells the two classes apart any more. (SaliencyItem, SaliencyItem); in
    both the ground truth marks the first class and ``salient`` every object."""
    cls, other = (int(c) for c in rng.choice(len(SHAPES), size=2, replace=False))
    n_co = int(rng.integers(2, 4))
    img = _background(rng, h, w)
    base_r = min(h, w) * rng.uniform(0.09, 0.12)
    gt, salient, objects, placed = _draw_objects(rng, img, [cls] * n_co + [other], n_co, base_r)
    single = _to_uint8(img)
    _, extra, more, _ = _draw_objects(rng, img, [other], 0, base_r, placed, first=n_co + 1)
    items = []
    for name, image, sal, objs in (("single", single, salient, objects),
                                   ("paired", _to_uint8(img), salient | extra, objects + more)):
        items.append(SaliencyItem(f"control_{index:04d}_{name}", image, (gt * 255).astype(np.uint8),
                                  np.array([o["box"] for o in objs], np.float32), [o["class"] for o in objs],
                                  np.array([o["cosalient"] for o in objs]), sal))
    return tuple(items)


def control_sets(n_images: int, seed: int, size_range=(80, 144)):
    """The RFM control's test images, in memory (they never touch the disk): (single, paired)
    SaliencySets of the same ``n_images`` images (:func:`control_pair`), seeded apart from the twins."""
    rng = np.random.default_rng([seed, 2])
    pairs = []
    for i in range(n_images):
        h, w = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, size=2))
        pairs.append(control_pair(rng, h, w, i))
    return tuple(SaliencySet(None, [p[k] for p in pairs], "instance files") for k in (0, 1))


def write_twin(folder, kind: str = "cosal", n_images: int = 200, seed: int = 0,
               size_range=(80, 144)) -> None:
    """Write a twin of ``kind`` into ``folder`` (an empty folder: :func:`benchlib.datasets.ensure_twin`
    hands a temporary one and renames it into place when this returns)."""
    folder = Path(folder)
    rng = np.random.default_rng([seed, 0 if kind == "cosal" else 1])
    for d in (IMAGE_DIR, GT_DIR, INSTANCE_DIR, SALIENT_DIR):
        (folder / d).mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        h, w = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, size=2))
        img, gt, salient, objects = _render(rng, kind, h, w)
        stem = f"{kind}_{i:04d}"
        Image.fromarray(img).save(folder / IMAGE_DIR / f"{stem}.jpg", quality=92)
        Image.fromarray(gt).save(folder / GT_DIR / f"{stem}.png")
        Image.fromarray(salient).save(folder / SALIENT_DIR / f"{stem}.png")
        (folder / INSTANCE_DIR / f"{stem}.json").write_text(json.dumps({"objects": objects}))


TWIN_NAMES = {"cosal": "synth-cosal", "sdcs": "synth-sdcs"}


def dataset(data_root, kind: str, n_images: int, seed: int) -> Dataset:
    """``data_root`` itself when it holds a real saliency folder, else the seeded twin of ``kind``
    written under it (or under the benchlib data cache when ``data_root`` is empty)."""
    if kind not in TWIN_NAMES:
        raise BenchlibError(f"unknown twin kind {kind!r} (use 'cosal' or 'sdcs')")
    return resolve(data_root, find_real=lambda p: p if is_saliency_folder(p) else None,
                   real_name="saliency folder", twin_name=TWIN_NAMES[kind], twin_version=TWIN_VERSION,
                   twin_settings={"kind": kind, "n_images": n_images, "seed": seed},
                   write_twin=lambda f: write_twin(f, kind, n_images, seed), seed=seed)
