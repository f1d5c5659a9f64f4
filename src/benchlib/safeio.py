"""Reading untrusted dataset files safely: images (size checked from the header before any pixel
is decoded, truncated data refused), GeoTIFFs (size and bands from the tags), text lists and
metadata (UTF-8, BOM stripped, NUL bytes and other encodings refused), and paths named inside
metadata (kept inside the data root). Every refusal is a BenchlibError naming the file."""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import numpy as np

from . import BenchlibError

# Well above real datasets (VOC ~0.2 MP, FORB ≤ 12 MP, Inria tiles 25 MP, the paper's D-areas ~36 MP)
MAX_PIXELS = int(os.environ.get("BENCHLIB_MAX_PIXELS", 200_000_000))


def _check_pixels(path, width: int, height: int, bands: int = 1, max_pixels: int | None = None) -> None:
    limit = max_pixels or MAX_PIXELS
    if width <= 0 or height <= 0:
        raise BenchlibError(f"{path}: declares an empty image ({width} × {height})")
    if width * height > limit:
        raise BenchlibError(f"{path}: declares {width} × {height} = {width * height / 1e6:.0f} MP, above the "
                            f"limit of {limit / 1e6:.0f} MP (set BENCHLIB_MAX_PIXELS to allow larger images)")


def read_image(path, mode: str | None = "RGB", max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file to a numpy array (`mode` as in PIL: "RGB", "L", or None to keep a
    palette image's indices). The declared size is checked before decoding; truncated or corrupt
    data is refused, never padded with grey."""
    from PIL import Image, ImageFile, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise BenchlibError(f"{path}: image file not found")
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    pil_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own check, from the header, replaces PIL's for this call
    try:
        with Image.open(path) as im:
            _check_pixels(path, *im.size, max_pixels=max_pixels)
            im.load()
            if mode and im.mode != mode:
                im = im.convert(mode)
            return np.asarray(im).copy()
    except BenchlibError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise BenchlibError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit


def read_geotiff(path, max_pixels: int | None = None, bands: int | None = None) -> np.ndarray:
    """A (Geo)TIFF as an (H, W) or (H, W, C) array; size and band count come from the tags and
    are checked before any pixel is read."""
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise BenchlibError(f"{path}: GeoTIFF file not found")
    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.pages:
                raise BenchlibError(f"{path}: TIFF without images")
            if len(tif.series) != 1 or len(tif.series[0].pages) != 1:
                raise BenchlibError(f"{path}: holds several images (pages); expected one raster")
            page = tif.pages[0]
            h, w, c = int(page.imagelength), int(page.imagewidth), int(page.samplesperpixel)
            _check_pixels(path, w, h, c, max_pixels)
            if bands is not None and c != bands:
                raise BenchlibError(f"{path}: {c} band(s), expected {bands}")
            planar_separate = c > 1 and int(page.planarconfig) == 2
            arr = page.asarray()
    except BenchlibError:
        raise
    except Exception as e:  # noqa: BLE001 - tifffile raises many kinds for broken files
        raise BenchlibError(f"{path}: not a readable TIFF ({type(e).__name__}: {e})") from None
    if arr.ndim == 3 and planar_separate:           # (C, H, W) on disk -> (H, W, C)
        arr = np.moveaxis(arr, 0, -1)
    return arr


def read_text(path) -> str:
    """A UTF-8 text file (a BOM is stripped); other encodings and NUL bytes are refused with the
    line named."""
    path = Path(path)
    if not path.is_file():
        raise BenchlibError(f"{path}: file not found")
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data:
        line = data[:data.index(b"\x00")].count(b"\n") + 1
        raise BenchlibError(f"{path}, line {line}: NUL byte (a binary file, or UTF-16 text?)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise BenchlibError(f"{path}, line {line}: not UTF-8 (byte 0x{data[e.start]:02x}); "
                            f"save the file as UTF-8") from None


def read_lines(path) -> list[str]:
    """Non-empty, stripped lines of a UTF-8 list file."""
    return [ln.strip() for ln in read_text(path).splitlines() if ln.strip()]


def contained(root, relative, where: str = "") -> Path:
    """`root / relative` for a path named inside metadata, refused when it is absolute or climbs
    out of `root` with `..` (symbolic links the user made inside the root are allowed)."""
    rel = str(relative)
    where = f"{where}: " if where else ""
    if "\x00" in rel:
        raise BenchlibError(f"{where}path {rel!r} contains a NUL byte")
    pure = PurePosixPath(rel.replace("\\", "/"))
    if pure.is_absolute() or (len(rel) > 1 and rel[1] == ":"):
        raise BenchlibError(f"{where}path {rel!r} is absolute; paths in metadata must be relative to {root}")
    parts = []
    for part in pure.parts:
        if part == "..":
            if not parts:
                raise BenchlibError(f"{where}path {rel!r} leaves the data root {root}")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    if not parts:
        raise BenchlibError(f"{where}empty path {rel!r}")
    return Path(root).joinpath(*parts)
