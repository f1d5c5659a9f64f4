"""Malformed GeoTIFF folders are refused by the satellite loader with a BenchlibError naming the file:
a corpus made by the tests from one valid tiny tree, one thing broken per case."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tifffile

from benchlib import BenchlibError
from benchlib.chapters.satellite_resnet import data as sd

SIZE = (24, 30)


def _tree(root, bands=3):
    """A valid Inria-like folder: two areas per split, uint8 images (interleaved), 0/255 masks."""
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "gt").mkdir(parents=True)
        for i in range(2):
            img = rng.integers(0, 256, SIZE + (bands,), dtype=np.uint8)
            msk = np.where(rng.random(SIZE) < 0.3, 255, 0).astype(np.uint8)
            tifffile.imwrite(root / split / "images" / f"{split}{i}.tif", img, photometric="rgb")
            tifffile.imwrite(root / split / "gt" / f"{split}{i}.tif", msk)
    return root


def _declare_huge(path, side=40000):
    """Overwrite the size tags so the file declares side² pixels with a few bytes behind them."""
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(side)
        tif.pages[0].tags["ImageLength"].overwrite(side)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _write(path, array, **kw):
    tifffile.imwrite(path, array, **kw)


# Each case: (id, corrupt(root) -> the file the message must name, regex the message must match).
def _img(root, split="train", i=0):
    return root / split / "images" / f"{split}{i}.tif"


def _gt(root, split="train", i=0):
    return root / split / "gt" / f"{split}{i}.tif"


def c_truncated_image(root):
    _truncate(_img(root)); return _img(root), "cannot read image GeoTIFF"


def c_truncated_mask(root):
    _truncate(_gt(root, "test", 1)); return _gt(root, "test", 1), "cannot read mask GeoTIFF"


def c_not_a_tiff(root):
    _img(root, "test").write_text("this is a text file with a .tif name\n"); return _img(root, "test"), "cannot read image"


def c_empty_file(root):
    _gt(root).write_bytes(b""); return _gt(root), "cannot read mask"


def c_declared_empty_image(root):
    # Huge declared sizes run in a subprocess under a memory limit (below); an empty one is safe here.
    _declare_huge(_img(root), side=0); return _img(root), "cannot read image GeoTIFF"


def c_wrong_band_count(root):
    _write(_img(root, "test", 1), np.zeros(SIZE + (4,), np.uint8), photometric="minisblack", planarconfig="contig")
    return _img(root, "test", 1), r"4 bands, expected 3"


def c_mask_with_three_bands(root):
    _write(_gt(root), np.zeros(SIZE + (3,), np.uint8), photometric="rgb")
    return _gt(root), r"3 bands, a mask must have one band"


def c_mask_size_mismatch(root):
    _write(_gt(root, "train", 1), np.zeros((SIZE[0], SIZE[1] - 1), np.uint8))
    return _gt(root, "train", 1), r"mask is 24×29 pixels but its image train1\.tif is 24×30"


def c_unknown_label_value(root):
    m = np.zeros(SIZE, np.uint8); m[3, 4] = 7; m[0, 0] = 255
    _write(_gt(root), m); return _gt(root), r"unexpected label values \[7\]"


def c_mixed_label_conventions(root):
    m = np.zeros(SIZE, np.uint8); m[0, 0] = 1; m[0, 1] = 255
    _write(_gt(root, "test"), m); return _gt(root, "test"), r"mixes label values \[1, 255\]"


def c_nan_in_float_image(root):
    a = np.ones(SIZE + (3,), np.float32); a[5, 5, 1] = np.nan
    _write(_img(root, "train", 1), a, photometric="rgb"); return _img(root, "train", 1), "NaN or infinite"


def c_duplicate_image_area(root):
    (root / "train" / "images" / "train0.tiff").write_bytes(_img(root).read_bytes())
    return root / "train" / "images" / "train0.tiff", "appears twice"


def c_duplicate_mask_area(root):
    (root / "test" / "gt" / "test1.TIF").write_bytes(_gt(root, "test", 1).read_bytes())
    return root / "test" / "gt", "appears twice"


def c_orphan_mask(root):
    _img(root, "train", 1).unlink(); return _gt(root, "train", 1), "mask without an image"


def c_missing_mask(root):
    _gt(root, "test", 0).unlink(); return _img(root, "test", 0), "no mask"


def c_page_stack(root):
    p = _img(root)
    _write(p, np.zeros((3,) + SIZE, np.uint8), photometric="minisblack", metadata=None)
    _write(p, np.zeros(SIZE, np.uint8), append=True)
    return p, "expected one raster with bands"


def c_test_copy_of_training_image(root):
    # Under another name, the same pixels: the test score would be measured on training data.
    _img(root, "test", 1).write_bytes(_img(root, "train", 0).read_bytes())
    return _img(root, "test", 1), r"same pixels as the training image .*train0\.tif"


def c_empty_images_folder(root):
    for p in (root / "test" / "images").iterdir():
        p.unlink()
    for p in (root / "test" / "gt").iterdir():
        p.unlink()
    return root / "test" / "images", r"no \.tif/\.tiff images"


def c_missing_gt_folder(root):
    import shutil

    shutil.rmtree(root / "train" / "gt"); return root, "not a satellite dataset folder"


CASES = [f for name, f in sorted(globals().items()) if name.startswith("c_")]


def test_the_valid_tree_loads(tmp_path):
    d = sd.load_dataset(_tree(tmp_path / "ok"))
    assert [s.name for s in d["train"]] == ["train0", "train1"] and d["test"][0].image.shape == SIZE + (3,)
    assert set(np.unique(d["train"][0].mask)) <= {0, 1}


@pytest.mark.parametrize("case", CASES, ids=[f.__name__[2:] for f in CASES])
def test_malformed_tree_is_refused_naming_the_file(tmp_path, case):
    root = _tree(tmp_path / "d")
    named, pattern = case(root)
    with pytest.raises(BenchlibError, match=pattern) as err:
        sd.load_dataset(root)
    assert str(named) in str(err.value), f"message does not name {named}: {err.value}"


BOMB_SCRIPT = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))   # a regression cannot take the machine
    from benchlib import BenchlibError
    from benchlib.chapters.satellite_resnet.data import load_dataset
    for root in sys.argv[1:]:
        try:
            load_dataset(root)
            print("ACCEPTED", root)
        except BenchlibError as e:
            print("refused:", e)
    # VmHWM is this process's own peak (ru_maxrss of a child inherits the parent's across exec)
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0]
    print("peak_mb", int(hwm.split()[1]) / 1024)
""")


def test_bombs_are_refused_under_a_memory_limit_with_little_memory(tmp_path):
    # Issue 17: a 1.7 MB TIFF declaring 40000² was decoded until a bare MemoryError at 6 GiB.
    a, b = _tree(tmp_path / "image_bomb"), _tree(tmp_path / "mask_bomb")
    _declare_huge(_img(a, "test", 1))
    _declare_huge(_gt(b, "train", 1), side=60000)
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(a), str(b)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("refused:")]
    assert "ACCEPTED" not in out.stdout and len(lines) == 2, out.stdout
    assert str(_img(a, "test", 1)) in lines[0] and "40000 × 40000" in lines[0], lines[0]
    assert str(_gt(b, "train", 1)) in lines[1] and "60000 × 60000" in lines[1], lines[1]
    peak = float(out.stdout.split("peak_mb")[1])
    assert peak < 200, f"peak memory {peak:.0f} MB while refusing bombs"
