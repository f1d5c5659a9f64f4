"""The safe readers refuse bombs, truncated data, bad encodings and escaping paths — clearly, and
without spending memory on the refusal."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from benchlib import BenchlibError
from benchlib.safeio import contained, read_geotiff, read_image, read_lines, read_text
from tests._bombs import png_header_bomb



def test_good_images_round_trip(tmp_path):
    a = (np.arange(48).reshape(4, 4, 3) * 5).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    assert np.array_equal(read_image(tmp_path / "a.png"), a)
    assert read_image(tmp_path / "a.png", mode="L").shape == (4, 4)


def test_truncated_and_corrupt_images_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a.jpg", quality=90)
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(BenchlibError, match=r"cut\.jpg: not a readable image"):
        read_image(tmp_path / "cut.jpg")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(BenchlibError, match="junk.png"):
        read_image(tmp_path / "junk.png")
    with pytest.raises(BenchlibError, match="not found"):
        read_image(tmp_path / "absent.png")


def test_size_is_checked_before_decoding(tmp_path):
    png_header_bomb(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(BenchlibError, match=r"bomb\.png: declares 20000 × 20000 = 400 MP"):
        read_image(tmp_path / "bomb.png")


BOMB_SCRIPT = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))   # a regression cannot take the machine
    from benchlib import BenchlibError
    from benchlib.safeio import read_image, read_geotiff
    for reader, path in [(read_image, sys.argv[1]), (read_geotiff, sys.argv[2])]:
        try:
            reader(path)
            print("ACCEPTED", path)
        except BenchlibError as e:
            print("refused:", e)
    # VmHWM is this process's own peak (ru_maxrss of a child inherits the parent's across exec)
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0]
    print("peak_mb", int(hwm.split()[1]) / 1024)
""")


def test_bombs_are_refused_under_a_memory_limit_with_little_memory(tmp_path):
    import tifffile

    png_header_bomb(tmp_path / "bomb.png", 30000, 30000)
    # A TIFF whose tags declare 40000² pixels, with almost no data behind them.
    tifffile.imwrite(tmp_path / "bomb.tif", np.zeros((16, 16), np.uint16))
    with tifffile.TiffFile(tmp_path / "bomb.tif", mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(40000)
        tif.pages[0].tags["ImageLength"].overwrite(40000)
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(tmp_path / "bomb.png"), str(tmp_path / "bomb.tif")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ACCEPTED" not in out.stdout and out.stdout.count("refused:") == 2, out.stdout
    peak = float(out.stdout.split("peak_mb")[1])
    assert peak < 200, f"peak memory {peak:.0f} MB while refusing bombs"


def test_geotiff_bands_and_shape(tmp_path):
    import tifffile

    a = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="minisblack", planarconfig="contig")
    assert read_geotiff(tmp_path / "a.tif", bands=4).shape == (2, 3, 4)
    with pytest.raises(BenchlibError, match="4 band"):
        read_geotiff(tmp_path / "a.tif", bands=3)
    (tmp_path / "b.tif").write_bytes(b"II*\x00" + b"\x00" * 10)
    with pytest.raises(BenchlibError, match="b.tif"):
        read_geotiff(tmp_path / "b.tif")


def test_text_encodings(tmp_path):
    p = tmp_path / "train.txt"
    p.write_bytes(b"\xef\xbb\xbf2007_000030\n2007_000032\n\n")
    assert read_lines(p) == ["2007_000030", "2007_000032"]     # BOM stripped
    p.write_bytes(b"2007_000030\ncaf\xe9\n")
    with pytest.raises(BenchlibError, match=r"train\.txt, line 2: not UTF-8"):
        read_text(p)
    p.write_bytes(b"a\nb\x00c\n")
    with pytest.raises(BenchlibError, match=r"line 2: NUL byte"):
        read_text(p)


@pytest.mark.parametrize("rel", ["../etc/passwd", "/etc/passwd", "a/../../b", "C:\\x", "a\x00b", ""])
def test_paths_from_metadata_stay_inside_the_root(tmp_path, rel):
    with pytest.raises(BenchlibError, match="meta.ndjson"):
        contained(tmp_path, rel, where="meta.ndjson line 3")


def test_contained_paths_resolve(tmp_path):
    assert contained(tmp_path, "images/./a/../b.jpg") == tmp_path / "images" / "b.jpg"


def test_geotiff_band_sequential_and_stacks(tmp_path):
    import tifffile

    a = np.arange(4 * 5 * 4, dtype=np.uint16).reshape(4, 5, 4)      # 4 bands × 5 × 4: width == bands
    tifffile.imwrite(tmp_path / "sep.tif", a, photometric="minisblack", planarconfig="separate")
    out = read_geotiff(tmp_path / "sep.tif", bands=4)
    assert out.shape == (5, 4, 4) and np.array_equal(out[..., 2], a[2])
    with tifffile.TiffWriter(tmp_path / "stack.tif") as tw:
        tw.write(np.zeros((4, 4), np.uint8))
        tw.write(np.zeros((4, 4), np.uint8))
    with pytest.raises(BenchlibError, match="several images"):
        read_geotiff(tmp_path / "stack.tif")
