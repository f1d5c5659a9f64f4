"""Images with object masks, and DAVIS-layout videos, for the SAM vs SAM 2 chapter.

Real layouts read here:
- an image set: ``<root>/images/<id>.jpg|png`` + ``<root>/masks/<id>.png``, the mask an instance-id
  map (0 = background, each other value one object; a binary 0/255 mask is one object);
- a DAVIS 2017 video set: ``<root>/JPEGImages/480p/<seq>/00000.jpg …`` +
  ``<root>/Annotations/480p/<seq>/00000.png …`` (palette PNGs of object ids), with
  ``ImageSets/2017/val.txt`` optional (else every sequence folder is used).

The synthetic twin writes both layouts (``images/``, ``masks/`` and ``davis/``) from a seed. Its
difficulty is the one the SAM / SAM 2 comparison is about: textured objects that touch, a
look-alike distractor of the same colour as the target (a click must pick the right one; a
tracker must not jump to it), and in the video the target passes behind an occluding bar and
crosses the distractor — the cases the SAM 2 paper lists as its failure modes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from benchlib import BenchlibError
from benchlib.datasets import Dataset, resolve
from benchlib.safeio import contained, read_image, read_text

IMAGE_EXT = (".jpg", ".jpeg", ".png")
TWIN_NAME = "synth-sam"
TWIN_VERSION = 1  # bump when the generator changes: the cached twin is then rewritten


# ----------------------------------------------------------------------------- reading
def _read(path: Path, mode: str | None) -> np.ndarray:
    """Decode through `benchlib.safeio.read_image` (size checked from the header, truncated data
    refused); mode None keeps a palette PNG's object ids."""
    return read_image(path, mode)


def davis_palette() -> np.ndarray:
    """The 256 colours of the DAVIS (= PASCAL VOC) palette, index = object id (255 = void)."""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def _rgb_code(c: np.ndarray) -> np.ndarray:
    """One integer per RGB colour (…×3 → …)."""
    return (c[..., 0].astype(np.int64) << 16) | (c[..., 1].astype(np.int64) << 8) | c[..., 2]


def _colour_ids(m: np.ndarray, path: Path) -> np.ndarray:
    """An H×W×3 mask as an id map. A grey mask saved as RGB keeps its grey values; one colour on
    black is one object (as before); several colours are object ids only when every colour is a
    DAVIS palette entry (a DAVIS annotation re-saved as RGB) — any other colour coding is refused,
    because collapsing it would silently merge the objects into one."""
    if (m[..., 0] == m[..., 1]).all() and (m[..., 0] == m[..., 2]).all():
        return np.ascontiguousarray(m[..., 0])
    colours = np.unique(m.reshape(-1, 3), axis=0)
    colours = colours[colours.any(axis=1)]
    if len(colours) <= 1:
        return m.any(axis=2).astype(np.uint8)
    pal = davis_palette()
    index = dict(zip(_rgb_code(pal).tolist(), range(256)))
    unknown = [tuple(int(v) for v in c) for c in colours if int(_rgb_code(c)) not in index]
    if unknown:
        raise BenchlibError(
            f"{path}: a colour-coded mask with {len(colours)} colours, {len(unknown)} of them not in the DAVIS "
            f"palette (e.g. RGB {unknown[0]}); save instance masks as palette PNGs (DAVIS) or as an id map "
            f"(0 = background, 1, 2, … = objects)")
    ids = np.zeros(m.shape[:2], np.uint8)
    flat = _rgb_code(m)
    for c in colours:
        ids[flat == int(_rgb_code(c))] = index[int(_rgb_code(c))]
    return ids


def read_mask(path: Path, shape=None) -> np.ndarray:
    """An instance-id mask as an integer H×W array; checks the size against the image's."""
    m = _read(path, None)
    if m.ndim == 3 and m.shape[2] in (2, 4):  # grey / colour with an alpha channel
        alpha = m[..., -1]
        if alpha.min() != alpha.max():
            raise BenchlibError(f"{path}: a mask with a varying alpha channel (transparency is not an object "
                                f"id); save the mask without transparency")
        m = m[..., :-1]
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[..., 0]
    if m.ndim == 3 and m.shape[2] == 3:
        m = _colour_ids(m, path)
    if m.dtype == np.bool_:
        m = m.astype(np.uint8)
    if m.ndim != 2 or m.dtype not in (np.uint8, np.uint16, np.int32):
        raise BenchlibError(f"{path}: a mask must be a single-channel integer image, got {m.dtype} {m.shape}")
    if m.dtype == np.int32 and m.min() < 0:
        raise BenchlibError(f"{path}: negative object ids (min {int(m.min())}); ids are 0 = background, 1, 2, …")
    if shape is not None and m.shape != tuple(shape[:2]):
        raise BenchlibError(f"{path}: mask size {m.shape} does not match its image {tuple(shape[:2])}")
    return m


def object_masks(instance_map: np.ndarray) -> list[np.ndarray]:
    """One boolean mask per object id (0 and 255-void left out)."""
    ids = [int(i) for i in np.unique(instance_map) if i not in (0, 255)]
    if not ids and (instance_map == 255).any():  # a binary 0/255 mask: one object
        return [instance_map == 255]
    return [instance_map == i for i in ids]


@dataclass
class ImageMaskSet:
    root: Path
    ids: list

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        stem, img_path = self.ids[i]
        image = _read(img_path, "RGB")
        return {"id": stem, "image": image, "objects": object_masks(read_mask(self.root / "masks" / f"{stem}.png", image.shape))}


def is_image_set(root) -> bool:
    root = Path(root)
    return (root / "images").is_dir() and (root / "masks").is_dir()


def load_image_set(root) -> ImageMaskSet:
    root = Path(root)
    if not is_image_set(root):
        raise BenchlibError(f"{root}: expected folders images/ and masks/")
    ids, seen = [], {}
    for p in sorted((root / "images").iterdir()):
        if p.suffix.lower() in IMAGE_EXT:
            if p.stem in seen:  # a.jpg and a.png would share masks/a.png and count its objects twice
                raise BenchlibError(f"{p}: same id {p.stem!r} as {seen[p.stem].name}; one image per mask")
            seen[p.stem] = p
            if not (root / "masks" / f"{p.stem}.png").is_file():
                raise BenchlibError(f"{p}: no mask masks/{p.stem}.png")
            ids.append((p.stem, p))
    if not ids:
        raise BenchlibError(f"{root / 'images'}: no images")
    return ImageMaskSet(root, ids)


def is_davis(root) -> bool:
    root = Path(root)
    return (root / "JPEGImages" / "480p").is_dir() and (root / "Annotations" / "480p").is_dir()


def _sequence_dir(root: Path, kind: str, seq: str, where: str) -> Path:
    """JPEGImages/480p/<seq> or Annotations/480p/<seq>; a sequence name from a list is one folder
    name, kept inside the data root (no `..`, no absolute path, no sub-folder)."""
    base = Path(root) / kind / "480p"
    p = contained(base, seq, where)
    if p.parent != base:
        raise BenchlibError(f"{where}: {seq!r} is not a sequence name (one folder under {base})")
    return p


def davis_sequences(root) -> list[str]:
    root = Path(root)
    if not is_davis(root):
        raise BenchlibError(f"{root}: expected DAVIS folders JPEGImages/480p and Annotations/480p")
    listing = root / "ImageSets" / "2017" / "val.txt"
    if listing.is_file():
        seqs, first = [], {}
        for n, line in enumerate(read_text(listing).splitlines(), start=1):
            s = line.strip()
            if not s:
                continue
            where = f"{listing}, line {n}"
            _sequence_dir(root, "JPEGImages", s, where)
            if s in first:  # a repeated sequence would count its frames twice
                raise BenchlibError(f"{where}: sequence {s!r} repeated (first on line {first[s]})")
            first[s] = n
            seqs.append(s)
        if not seqs:
            raise BenchlibError(f"{listing}: lists no sequences")
    else:
        seqs = sorted(p.name for p in (root / "JPEGImages" / "480p").iterdir() if p.is_dir())
        if not seqs:
            raise BenchlibError(f"{root / 'JPEGImages' / '480p'}: no sequence folders")
    for s in seqs:
        if not (root / "JPEGImages" / "480p" / s).is_dir():
            raise BenchlibError(f"{root / 'JPEGImages' / '480p' / s}: sequence listed but missing")
        if not (root / "Annotations" / "480p" / s).is_dir():
            raise BenchlibError(f"{root / 'Annotations' / '480p' / s}: sequence has frames but no annotations")
    return seqs


def davis_frames_dir(root, seq: str) -> Path:
    return _sequence_dir(root, "JPEGImages", seq, "DAVIS sequence name")


def load_davis_sequence(root, seq: str, n_frames: int | None = None):
    """(frames list of H×W×3 uint8, masks list of H×W id maps; only the first is needed as a
    prompt, the rest are ground truth). Frame files must be 00000.jpg, 00001.jpg, … (the
    layout SAM 2's video predictor reads). Every frame of the sequence is decoded and checked,
    also those past `n_frames`: SAM 2's video predictor reads the whole folder itself."""
    root = Path(root)
    fdir = davis_frames_dir(root, seq)
    adir = _sequence_dir(root, "Annotations", seq, "DAVIS sequence name")
    if not fdir.is_dir():
        raise BenchlibError(f"{fdir}: sequence folder missing")
    names = sorted((p for p in fdir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg")), key=lambda p: p.stem)
    if not names:
        raise BenchlibError(f"{fdir}: no JPEG frames")
    for i, p in enumerate(names):
        if i and p.stem == names[i - 1].stem:
            raise BenchlibError(f"{p}: frame {p.stem} twice ({names[i - 1].name} and {p.name})")
        if not p.stem.isdigit() or int(p.stem) != i:
            raise BenchlibError(f"{p}: frames must be numbered 00000.jpg, 00001.jpg, … without gaps")
    if len(names) < 2:
        raise BenchlibError(f"{fdir}: a video needs at least 2 frames, found {len(names)}")
    keep = len(names[:n_frames]) if n_frames else len(names)
    frames, masks = [], []
    for i, p in enumerate(names):
        f = _read(p, "RGB")
        if frames and f.shape != frames[0].shape:  # the video predictor needs one frame size
            raise BenchlibError(f"{p}: frame size {f.shape[:2]} differs from {names[0].name}'s {frames[0].shape[:2]}")
        if i >= keep:
            continue
        a = adir / f"{p.stem}.png"
        if not a.is_file():
            raise BenchlibError(f"{a}: annotation missing for frame {p.name}")
        frames.append(f)
        masks.append(read_mask(a, f.shape))
        if i == 0 and not (masks[0] == 1).any():  # the chapter prompts and scores object 1
            raise BenchlibError(f"{a}: the first annotation has no object 1 (ids present: "
                                f"{sorted(int(v) for v in np.unique(masks[0]))}); DAVIS numbers objects 1, 2, …")
    return frames, masks


# ----------------------------------------------------------------------------- the twin
def _texture(rng, h, w, base):
    """Colour plus a random smooth texture, so objects are not flat fills."""
    noise = rng.normal(0, 1, (h // 8 + 2, w // 8 + 2, 3))
    noise = np.asarray(Image.fromarray(((noise - noise.min()) / np.ptp(noise) * 255).astype(np.uint8))
                       .resize((w, h), Image.BILINEAR), float) / 255 - 0.5
    return np.clip(np.asarray(base, float)[None, None] + 70 * noise, 0, 255)


def _ellipse(h, w, cy, cx, ry, rx, angle=0.0):
    yy, xx = np.mgrid[0:h, 0:w]
    c, s = np.cos(angle), np.sin(angle)
    y, x = (yy - cy) * c - (xx - cx) * s, (yy - cy) * s + (xx - cx) * c
    return (y / ry) ** 2 + (x / rx) ** 2 <= 1


def render_scene(rng, h: int, w: int, n_objects: int = 4):
    """An RGB image and its instance map: touching textured ellipses, the last one a same-colour
    look-alike of the first (the distractor)."""
    img = _texture(rng, h, w, rng.uniform(60, 200, 3))
    inst = np.zeros((h, w), np.uint8)
    colours = [rng.uniform(0, 255, 3) for _ in range(n_objects - 1)]
    colours.append(colours[0])  # the distractor looks like object 1
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    for k, col in enumerate(colours, start=1):
        ry, rx = rng.uniform(0.1, 0.22) * h, rng.uniform(0.1, 0.22) * w
        m = _ellipse(h, w, cy, cx, ry, rx, rng.uniform(0, np.pi))
        tex = _texture(rng, h, w, col)
        img[m] = tex[m]
        inst[m] = k
        # next object starts next to this one, so neighbours touch
        ang = rng.uniform(0, 2 * np.pi)
        cy = np.clip(cy + np.sin(ang) * (ry + 0.12 * h), 0.15 * h, 0.85 * h)
        cx = np.clip(cx + np.cos(ang) * (rx + 0.12 * w), 0.15 * w, 0.85 * w)
    return img.astype(np.uint8), inst


def render_video(rng, n_frames: int, h: int, w: int):
    """Frames and masks: the target (id 1) moves left to right, a same-colour distractor moves the
    other way and crosses it, and a fixed bar occludes the target for part of the path."""
    bg = _texture(rng, h, w, rng.uniform(60, 200, 3))
    colour = rng.uniform(0, 255, 3)
    tex = _texture(rng, h, w, colour)
    bar_x = int(0.55 * w)
    frames, masks = [], []
    for t in range(n_frames):
        a = t / max(1, n_frames - 1)
        img, inst = bg.copy(), np.zeros((h, w), np.uint8)
        target = _ellipse(h, w, 0.45 * h, (0.15 + 0.7 * a) * w, 0.16 * h, 0.1 * w)
        distractor = _ellipse(h, w, 0.6 * h, (0.85 - 0.7 * a) * w, 0.15 * h, 0.1 * w) & ~target
        img[distractor] = tex[distractor]
        img[target] = tex[target]
        inst[target] = 1
        bar = np.zeros((h, w), bool)
        bar[:, bar_x:bar_x + int(0.06 * w)] = True
        img[bar] = (40, 40, 40)
        inst[bar & (inst == 1)] = 0  # occluded pixels are not the target
        frames.append(img.astype(np.uint8))
        masks.append(inst)
    return frames, masks


def _palette_png(mask: np.ndarray, path: Path):
    im = Image.fromarray(mask.astype(np.uint8), mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128] + [0] * (768 - 15))
    im.save(path)


def write_twin(folder, seed: int = 0, n_images: int = 6, n_frames: int = 8, size=(240, 320)) -> None:
    """Write the twin's files (images/, masks/, davis/) into `folder` (the shared twin writer
    `benchlib.datasets.ensure_twin` makes this atomic)."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    h, w = size
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    for i in range(n_images):
        img, inst = render_scene(rng, h, w)
        Image.fromarray(img).save(folder / "images" / f"{i:04d}.jpg", quality=95)
        Image.fromarray(inst).save(folder / "masks" / f"{i:04d}.png")
    frames, masks = render_video(rng, n_frames, h, w)
    fdir = folder / "davis" / "JPEGImages" / "480p" / "crossing"
    adir = folder / "davis" / "Annotations" / "480p" / "crossing"
    fdir.mkdir(parents=True)
    adir.mkdir(parents=True)
    for t, (f, m) in enumerate(zip(frames, masks)):
        Image.fromarray(f).save(fdir / f"{t:05d}.jpg", quality=95)
        _palette_png(m, adir / f"{t:05d}.png")
    (folder / "davis" / "ImageSets" / "2017").mkdir(parents=True)
    (folder / "davis" / "ImageSets" / "2017" / "val.txt").write_text("crossing\n")


def find_real(base: Path) -> Path | None:
    """`base` when it holds a real layout (an image set, or DAVIS folders directly, under
    DAVIS/ or under davis/), else None."""
    return base if (is_image_set(base) or davis_root(base) is not None) else None


def davis_root(base) -> Path | None:
    base = Path(base)
    return next((p for p in (base, base / "DAVIS", base / "davis") if is_davis(p)), None)


def dataset(data_root, seed: int = 0, n_images: int = 6, n_frames: int = 8) -> Dataset:
    """The real data under `data_root` when it has one of the layouts, else the twin for these
    settings (written once under `data_root`, or the benchlib data cache, and reused)."""
    return resolve(data_root, find_real=find_real, real_name="real data", twin_name=TWIN_NAME,
                   twin_version=TWIN_VERSION,
                   twin_settings={"seed": seed, "n_images": n_images, "n_frames": n_frames},
                   write_twin=lambda f: write_twin(f, seed=seed, n_images=n_images, n_frames=n_frames),
                   seed=seed)


def layouts(ds: Dataset) -> tuple[Path | None, Path | None]:
    """(image-set root or None, DAVIS root or None) of a resolved dataset."""
    return (ds.root if is_image_set(ds.root) else None), davis_root(ds.root)
