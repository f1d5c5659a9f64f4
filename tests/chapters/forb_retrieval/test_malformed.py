"""FORB loaders on malformed input: each case corrupts one thing in a valid tiny tree (written by the
test, no binary fixtures) and must end in a BenchlibError naming the file (and the line where there
is one) — never a bare exception, never numbers from bad data. Bombs are refused under a memory limit."""
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchlib import BenchlibError
from benchlib.chapters.forb_retrieval.data import load_forb, read_image

from .test_data import tiny_tree

META = Path("metadata")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _write_lines(path: Path, lines) -> None:
    path.write_text("".join(s + "\n" for s in lines), encoding="utf-8")


def _edit_json(path: Path, n: int, fn) -> None:
    lines = _lines(path)
    obj = json.loads(lines[n - 1])
    fn(obj)
    lines[n - 1] = json.dumps(obj)
    _write_lines(path, lines)


def _append_line(path: Path, n: int) -> None:
    """Repeat line n at the end of the file."""
    lines = _lines(path)
    _write_lines(path, lines + [lines[n - 1]])


def _jpeg_declaring(w: int, h: int, progressive: bool = False) -> bytes:
    """A tiny JPEG (8 × 8 of data) whose frame header (SOF0 / SOF2) declares w × h."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "JPEG", progressive=progressive)
    b = bytearray(buf.getvalue())
    i = b.index(b"\xff\xc2" if progressive else b"\xff\xc0")
    b[i + 5:i + 9] = struct.pack(">HH", h, w)  # marker(2) length(2) precision(1) height(2) width(2)
    return bytes(b)


# --------------------------------------------------------------------------- metadata corpus
# Each case: (id, file the message must name, line it must name or None, corrupt(root), regex).
def _latin1(root):
    p = root / META / "logos_query.ndjson"
    p.write_bytes(p.read_bytes().replace(b'"image_url": "synthetic://', b'"image_url": "caf\xe9://', 1))


def _utf16(root):
    p = root / META / "bookcovers_gt.ndjson"
    p.write_bytes(p.read_text(encoding="utf-8").encode("utf-16"))


def _nul_in_list(root):
    p = root / META / "oods_database_images.txt"
    lines = _lines(p)
    lines[1] = lines[1][:5] + "\x00" + lines[1][5:]
    _write_lines(p, lines)


def _missing_gt(root):
    (root / META / "bookcovers_gt.ndjson").unlink()


def _empty_gt(root):
    (root / META / "logos_gt.ndjson").write_text("\n", encoding="utf-8")


def _swap_gt_image(root):
    # groundtruth_ids still say [1, 2]; the image names now point at lines 1 and 3
    def fn(o):
        o["groundtruth_images"][1] = "logos/database/l2.jpg"
    _edit_json(root / META / "logos_gt.ndjson", 1, fn)


def _duplicate_key(root):
    p = root / META / "logos_gt.ndjson"
    lines = _lines(p)
    lines[1] = lines[1].rstrip("}") + ', "difficulty": "easy"}'
    _write_lines(p, lines)


def _png_as_jpg(root):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "logos/query/ql1.jpg", format="PNG")


def _symlink_escape_text(root):
    p = root / META / "images_for_building_codebook.txt"
    _write_lines(p, _lines(p) + ["logos/database/../../../outside.jpg"])


CASES = [
    ("latin-1 byte in an ndjson", "logos_query.ndjson", 1, _latin1, r"not UTF-8 \(byte 0xe9\)"),
    ("UTF-16 ground truth", "bookcovers_gt.ndjson", 1, _utf16, "NUL byte"),
    ("NUL byte in a list", "oods_database_images.txt", 2, _nul_in_list, "NUL byte"),
    ("NUL byte escaped in a JSON path", "bookcovers_database.ndjson", 2,
     lambda r: _edit_json(r / META / "bookcovers_database.ndjson", 2, lambda o: o.update(image="bookcovers/\x00b1.jpg")),
     "NUL byte"),
    ("`..` in all_database_images.txt", "all_database_images.txt", 3,
     lambda r: _write_lines(r / META / "all_database_images.txt",
                            [s if i != 2 else "../" + s for i, s in enumerate(_lines(r / META / "all_database_images.txt"))]),
     "leaves the data root"),
    ("`..` climbing out of the codebook list", "images_for_building_codebook.txt", 3, _symlink_escape_text,
     "leaves the data root"),
    ("absolute path in a ground-truth line", "logos_gt.ndjson", 2,
     lambda r: _edit_json(r / META / "logos_gt.ndjson", 2, lambda o: o.update(query_image="/etc/passwd")),
     "is absolute"),
    ("duplicated ground-truth line", "logos_gt.ndjson", 3,
     lambda r: _append_line(r / META / "logos_gt.ndjson", 1), "query_id 1 repeats line 1"),
    ("object type with images but no ground truth", "bookcovers_gt.ndjson", None, _missing_gt,
     "not found, but bookcovers_query.ndjson exists"),
    ("empty ground-truth file", "logos_gt.ndjson", None, _empty_gt, "no ground-truth lines"),
    ("database image listed twice", "logos_database.ndjson", 5,
     lambda r: _append_line(r / META / "logos_database.ndjson", 2), "image 'logos/database/l1.jpg' repeats line 2"),
    ("query image listed twice", "logos_query.ndjson", 3,
     lambda r: _append_line(r / META / "logos_query.ndjson", 1), "repeats line 1"),
    ("distractor listed twice", "oods_database_images.txt", 3,
     lambda r: _append_line(r / META / "oods_database_images.txt", 1), "repeats line 1"),
    ("codebook image listed twice", "images_for_building_codebook.txt", 3,
     lambda r: _append_line(r / META / "images_for_building_codebook.txt", 2), "repeats line 2"),
    ("groundtruth_images disagree with groundtruth_ids", "logos_gt.ndjson", 1, _swap_gt_image,
     "groundtruth id 2 is 'logos/database/l1.jpg'"),
    ("groundtruth_images of the wrong length", "bookcovers_gt.ndjson", 1,
     lambda r: _edit_json(r / META / "bookcovers_gt.ndjson", 1, lambda o: o.update(groundtruth_images=[])),
     "as long as groundtruth_ids"),
    ("groundtruth_ids not a list", "logos_gt.ndjson", 2,
     lambda r: _edit_json(r / META / "logos_gt.ndjson", 2, lambda o: o.update(groundtruth_ids=4)),
     "must be a non-empty list"),
    ("query_id as a JSON boolean", "logos_gt.ndjson", 1,
     lambda r: _edit_json(r / META / "logos_gt.ndjson", 1, lambda o: o.update(query_id=True)),
     "query_id must be an integer"),
    ("query_id as a string", "bookcovers_gt.ndjson", 1,
     lambda r: _edit_json(r / META / "bookcovers_gt.ndjson", 1, lambda o: o.update(query_id="1")),
     "query_id must be an integer"),
    ("a key given twice on one line", "logos_gt.ndjson", 2, _duplicate_key, "key 'difficulty' given twice"),
    ("a JSON array instead of an object", "bookcovers_query.ndjson", 1,
     lambda r: _write_lines(r / META / "bookcovers_query.ndjson", ['["bookcovers/query/qb0.jpg"]']),
     "expected a JSON object"),
    ("a PNG under a .jpg name", "logos_query.ndjson", 2, _png_as_jpg, "is not a JPEG file"),
]


@pytest.mark.parametrize("case, file, line, corrupt, match", CASES, ids=[c[0] for c in CASES])
def test_malformed_metadata_is_refused_naming_file_and_line(tmp_path, case, file, line, corrupt, match):
    root = tiny_tree(tmp_path / "forb")
    load_forb(root)  # valid before the corruption
    corrupt(root)
    with pytest.raises(BenchlibError, match=match) as e:
        load_forb(root)
    msg = str(e.value)
    assert str(root / META / file) in msg, msg
    if line is not None:
        assert f"{file}, line {line}:" in msg, msg


def test_a_type_asked_for_but_absent_is_refused(tmp_path):
    root = tiny_tree(tmp_path)
    with pytest.raises(BenchlibError, match=r"paintings_gt\.ndjson: not found, but this type was asked for"):
        load_forb(root, object_types=("logos", "paintings"))
    assert set(load_forb(root, object_types=("logos",)).queries["object_type"]) == {"logos"}


# --------------------------------------------------------------------------- valid variants stay valid
def test_bom_and_crlf_are_read_as_the_same_tree(tmp_path):
    ref = load_forb(tiny_tree(tmp_path / "a"))
    root = tiny_tree(tmp_path / "b")
    for p in (root / META).iterdir():
        p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes().replace(b"\n", b"\r\n"))
    got = load_forb(root)
    assert got.offsets == ref.offsets
    assert got.queries["positives"].tolist() == ref.queries["positives"].tolist()
    assert got.database["distractor"].tolist() == ref.database["distractor"].tolist()


def test_a_linked_image_folder_is_allowed(tmp_path):
    """Datasets are often linked in: a symlink the user made inside the root is not an escape."""
    root = tiny_tree(tmp_path / "forb")
    (root / "logos").rename(tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", root / "logos")
    assert len(load_forb(root).database) == 6


def test_a_query_without_a_ground_truth_line_is_refused_naming_file_and_line(tmp_path):
    """FORB's evaluation iterates over the ground-truth lines: a listed query without one would drop
    out of every table unnoticed. Refused, naming the query file, the query's line and its image."""
    root = tiny_tree(tmp_path)
    p = root / META / "logos_gt.ndjson"
    _write_lines(p, _lines(p)[:1])  # logos query 2 keeps its image but loses its ground truth
    with pytest.raises(BenchlibError) as e:
        load_forb(root)
    msg = str(e.value)
    assert msg.startswith(f"{root / META / 'logos_query.ndjson'}, line 2: query ")
    assert "has no ground-truth line in logos_gt.ndjson" in msg and "(and" not in msg


# --------------------------------------------------------------------------- image files
def test_truncated_database_image_is_refused_not_padded_with_grey(tmp_path):
    root = tiny_tree(tmp_path)
    rng = np.random.default_rng(0)
    path = root / "logos/database/l0.jpg"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    forb = load_forb(root)  # the header is intact: refused when the pixels are read
    with pytest.raises(BenchlibError, match=r"l0\.jpg: not a readable image") as e:
        read_image(forb.database["image"][0])
    assert str(path) in str(e.value)


def test_jpeg_magic_followed_by_junk_is_refused(tmp_path):
    path = tmp_path / "x.jpg"
    path.write_bytes(b"\xff\xd8\xff" + b"junk" * 50)
    with pytest.raises(BenchlibError, match=r"x\.jpg: not a readable image"):
        read_image(path)


BOMB_SCRIPT = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))   # a regression cannot take the machine
    from benchlib import BenchlibError
    from benchlib.chapters.forb_retrieval.data import read_image
    for path in sys.argv[1:]:
        try:
            read_image(path, 160)
            print("ACCEPTED", path)
        except BenchlibError as e:
            print("refused:", e)
    # VmHWM, not ru_maxrss: on Linux ru_maxrss carries the parent's (pytest's) peak across exec
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
    print("peak_mb", int(hwm.split()[1]) / 1024)
""")


def test_jpeg_bombs_are_refused_under_a_memory_limit_with_little_memory(tmp_path):
    # The example: a ~600-byte JPEG claiming 30000², which OpenCV tried to decode (2.7 GB).
    (tmp_path / "bomb.jpg").write_bytes(_jpeg_declaring(30000, 30000))
    (tmp_path / "bomb_progressive.jpg").write_bytes(_jpeg_declaring(65000, 20000, progressive=True))
    assert (tmp_path / "bomb.jpg").stat().st_size < 2000
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(tmp_path / "bomb.jpg"),
                          str(tmp_path / "bomb_progressive.jpg")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ACCEPTED" not in out.stdout and out.stdout.count("refused:") == 2, out.stdout
    assert f"{tmp_path / 'bomb.jpg'}: declares 30000 × 30000" in out.stdout
    assert f"{tmp_path / 'bomb_progressive.jpg'}: declares 65000 × 20000" in out.stdout
    peak = float(out.stdout.split("peak_mb")[1])
    assert peak < 200, f"peak memory {peak:.0f} MB while refusing bombs"
