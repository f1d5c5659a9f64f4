"""Malformed inputs for the SAM vs SAM 2 loaders (image/mask sets, DAVIS sequences, checkpoints):
each case corrupts one thing in a valid tiny tree written here and expects a BenchlibError that
names the file (and the line, for list files)."""
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from benchlib import BenchlibError
from benchlib.chapters.sam_vs_sam2 import data as D
from benchlib.chapters.sam_vs_sam2 import models as S
from tests._bombs import png_header_bomb, jpeg_header_bomb

H, W = 12, 16


def _palette_png(ids, path):
    im = Image.fromarray(ids.astype(np.uint8), mode="P")
    im.putpalette(D.davis_palette().ravel().tolist())
    im.save(path)


def _tree(root):
    """A valid image set (2 images, objects 1 and 2) and a DAVIS sequence 'seq' of 3 frames."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    ids = np.zeros((H, W), np.uint8)
    ids[2:6, 2:6], ids[6:10, 8:14] = 1, 2
    for stem in ("a", "b"):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(root / "images" / f"{stem}.png")
        Image.fromarray(ids).save(root / "masks" / f"{stem}.png")
    dv = root / "davis"
    fdir, adir = dv / "JPEGImages" / "480p" / "seq", dv / "Annotations" / "480p" / "seq"
    fdir.mkdir(parents=True)
    adir.mkdir(parents=True)
    for t in range(3):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(fdir / f"{t:05d}.jpg", quality=90)
        _palette_png(np.roll(ids, t, axis=1), adir / f"{t:05d}.png")
    (dv / "ImageSets" / "2017").mkdir(parents=True)
    (dv / "ImageSets" / "2017" / "val.txt").write_text("seq\n")
    return root


@pytest.fixture
def tree(tmp_path):
    return _tree(tmp_path / "t")


def _items(root):
    return [x for x in D.load_image_set(root)]


def _video(dv, n=None):
    seq = D.davis_sequences(dv)[0]
    return D.load_davis_sequence(dv, seq, n)


def _raises(fn, *names):
    """fn() raises BenchlibError whose message contains every one of `names` (file, line …)."""
    with pytest.raises(BenchlibError) as e:
        fn()
    for n in names:
        assert str(n) in str(e.value), f"{n!r} not in {e.value}"
    return str(e.value)


def test_the_valid_tree_loads(tree):
    items = _items(tree)
    assert len(items) == 2 and len(items[0]["objects"]) == 2
    frames, masks = _video(tree / "davis")
    assert len(frames) == 3 and sorted(np.unique(masks[0]).tolist()) == [0, 1, 2]


# ----------------------------------------------------------------------------- images and masks
def test_truncated_image(tree):
    p = tree / "images" / "a.png"
    p.write_bytes(p.read_bytes()[:-40])
    _raises(lambda: _items(tree), p, "not a readable image")


def test_garbage_mask(tree):
    p = tree / "masks" / "b.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    _raises(lambda: _items(tree), p)


def test_duplicate_image_ids(tree):
    Image.open(tree / "images" / "a.png").save(tree / "images" / "a.jpg")
    _raises(lambda: D.load_image_set(tree), "a.png", "same id 'a'", "a.jpg")


def test_mask_of_another_size(tree):
    Image.fromarray(np.zeros((H, W + 1), np.uint8)).save(tree / "masks" / "a.png")
    _raises(lambda: _items(tree), tree / "masks" / "a.png", "does not match its image")


def test_colour_coded_mask_outside_the_palette_is_refused(tree):
    m = np.zeros((H, W, 3), np.uint8)
    m[2:6, 2:6] = (255, 0, 0)
    m[6:10, 8:14] = (0, 0, 255)
    Image.fromarray(m).save(tree / "masks" / "a.png")
    _raises(lambda: _items(tree), tree / "masks" / "a.png", "colour-coded mask with 2 colours")


def test_davis_annotation_saved_as_rgb_keeps_its_objects(tree):
    """The issue's case: a colour-coded DAVIS mask must not collapse into one object."""
    p = tree / "davis" / "Annotations" / "480p" / "seq" / "00000.png"
    ids = np.asarray(Image.open(p))
    Image.open(p).convert("RGB").save(p)  # (128, 0, 0) = object 1, (0, 128, 0) = object 2
    _, masks = _video(tree / "davis")
    assert np.array_equal(masks[0], ids)
    # a binary mask in one colour stays one object, as before
    m = np.zeros((H, W, 3), np.uint8)
    m[3:7, 3:7] = (255, 255, 255)
    Image.fromarray(m).save(tree / "masks" / "a.png")
    assert len(_items(tree)[0]["objects"]) == 1


def test_mask_with_varying_alpha(tree):
    m = np.zeros((H, W, 4), np.uint8)
    m[..., 3] = 255
    m[:3, :3, 3] = 0
    Image.fromarray(m, "RGBA").save(tree / "masks" / "b.png")
    _raises(lambda: _items(tree), tree / "masks" / "b.png", "alpha")


def test_float_mask(tree):
    Image.fromarray(np.full((H, W), 0.5, np.float32), "F").save(tree / "masks" / "a.tif")
    (tree / "masks" / "a.tif").rename(tree / "masks" / "a.png")
    _raises(lambda: _items(tree), tree / "masks" / "a.png", "single-channel integer")


def test_negative_ids(tree):
    # PNG cannot hold int32; PIL reads by content, so a TIFF under a .png name is what gets here
    Image.fromarray(np.full((H, W), -3, np.int32), "I").save(tree / "masks" / "a.tif")
    (tree / "masks" / "a.tif").rename(tree / "masks" / "a.png")
    _raises(lambda: _items(tree), tree / "masks" / "a.png", "negative object ids")


# ----------------------------------------------------------------------------- DAVIS list and sequences
VAL = ("davis", "ImageSets", "2017", "val.txt")


@pytest.mark.parametrize("content, line, problem", [
    (b"seq\n../../images\n", 2, "leaves the data root"),
    (b"/etc\n", 1, "is absolute"),
    (b"seq\ncaf\xe9\n", 2, "not UTF-8"),
    (b"seq\nse\x00q\n", 2, "NUL byte"),
    (b"seq\n\nseq\n", 3, "repeated (first on line 1)"),
    (b"seq/sub\n", 1, "is not a sequence name"),
    (b"seq\nother\n", None, "sequence listed but missing"),
])
def test_bad_val_lists(tree, content, line, problem):
    p = tree.joinpath(*VAL)
    p.write_bytes(content)
    names = [problem] + ([f"{p}, line {line}"] if line else ["other"])
    _raises(lambda: D.davis_sequences(tree / "davis"), *names)


def test_val_list_with_a_bom_is_read(tree):
    tree.joinpath(*VAL).write_bytes(b"\xef\xbb\xbfseq\r\n")
    assert D.davis_sequences(tree / "davis") == ["seq"]


def test_empty_val_list(tree):
    """Was an IndexError deep in the pipeline."""
    p = tree.joinpath(*VAL)
    p.write_bytes(b"\n  \n")
    _raises(lambda: D.davis_sequences(tree / "davis"), p, "lists no sequences")


def test_no_sequences_without_a_list(tree):
    tree.joinpath(*VAL).unlink()
    import shutil
    shutil.rmtree(tree / "davis" / "JPEGImages" / "480p" / "seq")
    _raises(lambda: D.davis_sequences(tree / "davis"), tree / "davis" / "JPEGImages" / "480p", "no sequence folders")


def test_sequence_without_annotations(tree):
    import shutil
    shutil.rmtree(tree / "davis" / "Annotations" / "480p" / "seq")
    _raises(lambda: D.davis_sequences(tree / "davis"), "Annotations/480p/seq", "no annotations")


def test_sequence_name_escaping_the_root_directly():
    _raises(lambda: D.load_davis_sequence("/tmp/nowhere", "../../etc"), "../../etc", "leaves the data root")


def test_truncated_frame_past_the_frames_used(tree):
    """SAM 2's video predictor reads the whole folder itself, so every frame is checked."""
    p = tree / "davis" / "JPEGImages" / "480p" / "seq" / "00002.jpg"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    _raises(lambda: _video(tree / "davis", n=2), p, "not a readable image")


def test_frame_of_another_size(tree):
    p = tree / "davis" / "JPEGImages" / "480p" / "seq" / "00001.jpg"
    Image.fromarray(np.zeros((H + 2, W, 3), np.uint8)).save(p)
    _raises(lambda: _video(tree / "davis"), p, "differs from 00000.jpg")


def test_duplicate_frame_number(tree):
    fdir = tree / "davis" / "JPEGImages" / "480p" / "seq"
    (fdir / "00001.jpeg").write_bytes((fdir / "00001.jpg").read_bytes())
    _raises(lambda: _video(tree / "davis"), "00001.jpg", "frame 00001 twice")


def test_missing_annotation(tree):
    p = tree / "davis" / "Annotations" / "480p" / "seq" / "00001.png"
    p.unlink()
    _raises(lambda: _video(tree / "davis"), p, "annotation missing for frame 00001.jpg")


def test_first_annotation_without_object_1(tree):
    p = tree / "davis" / "Annotations" / "480p" / "seq" / "00000.png"
    ids = np.asarray(Image.open(p)).copy()
    ids[ids == 1] = 3
    _palette_png(ids, p)
    _raises(lambda: _video(tree / "davis"), p, "no object 1", "[0, 2, 3]")


def test_single_frame_video(tree):
    fdir = tree / "davis" / "JPEGImages" / "480p" / "seq"
    for t in (1, 2):
        (fdir / f"{t:05d}.jpg").unlink()
    _raises(lambda: _video(tree / "davis"), fdir, "at least 2 frames")


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoint_full_of_nan(tmp_path):
    import torch

    model = torch.nn.Linear(3, 2)
    sd = {k: torch.full_like(v, float("nan")) for k, v in model.state_dict().items()}
    torch.save(sd, tmp_path / "nan.pt")
    before = model.weight.detach().clone()
    _raises(lambda: S.load_weights(model, tmp_path / "nan.pt"), tmp_path / "nan.pt", "2 tensor(s)",
            "NaN or infinite", "weight")
    assert torch.equal(model.weight, before)  # nothing was loaded
    sd = dict(model.state_dict())
    sd["bias"] = torch.tensor([0.0, float("inf")])
    torch.save({"model": sd}, tmp_path / "inf.pt")  # the SAM 2 layout
    _raises(lambda: S.load_weights(model, tmp_path / "inf.pt"), tmp_path / "inf.pt", "1 tensor(s)", "bias")
    sd["bias"] = torch.zeros(2)
    torch.save({"model": sd}, tmp_path / "ok.pt")
    S.load_weights(model, tmp_path / "ok.pt")
    assert torch.equal(model.bias, torch.zeros(2))


def test_checkpoint_with_non_tensor_values(tmp_path):
    import torch

    torch.save({"weight": [1.0, 2.0], "bias": torch.zeros(2)}, tmp_path / "list.pt")
    _raises(lambda: S.state_dict_from_file(tmp_path / "list.pt"), tmp_path / "list.pt", "not a model state dict")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "list.pt").read_bytes()[:50])
    _raises(lambda: S.state_dict_from_file(tmp_path / "cut.pt"), tmp_path / "cut.pt", "cannot load checkpoint")


# ----------------------------------------------------------------------------- bombs, in bounded memory


BOMB_SCRIPT = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))   # a regression cannot take the machine
    from benchlib import BenchlibError
    from benchlib.chapters.sam_vs_sam2 import data as D
    root = sys.argv[1]
    cases = [lambda: [x for x in D.load_image_set(root + "/img_bomb")],
             lambda: [x for x in D.load_image_set(root + "/mask_bomb")],
             lambda: D.load_davis_sequence(root + "/frame_bomb/davis", "seq", 2)]
    for case in cases:
        try:
            case()
            print("ACCEPTED")
        except BenchlibError as e:
            print("refused:", e)
    # VmHWM is this process's own peak (ru_maxrss of a child inherits the parent's across exec)
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0]
    print("peak_mb", int(hwm.split()[1]) / 1024)
""")


def test_bombs_are_refused_under_a_memory_limit_with_little_memory(tmp_path):
    img = _tree(tmp_path / "img_bomb")
    png_header_bomb(img / "images" / "a.png", 30000, 30000, colour_type=2)
    mask = _tree(tmp_path / "mask_bomb")
    png_header_bomb(mask / "masks" / "a.png", 20000, 20000, colour_type=0)
    frame = _tree(tmp_path / "frame_bomb")
    # past the frames used: SAM 2's predictor would decode it when it reads the folder
    jpeg_header_bomb(frame / "davis" / "JPEGImages" / "480p" / "seq" / "00002.jpg", 30000, 30000)
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(("refused", "ACCEPTED"))]
    assert len(lines) == 3 and not [ln for ln in lines if ln == "ACCEPTED"], out.stdout
    for ln, path, size in zip(lines, ["img_bomb/images/a.png", "mask_bomb/masks/a.png",
                                      "frame_bomb/davis/JPEGImages/480p/seq/00002.jpg"],
                              ["30000 × 30000", "20000 × 20000", "30000 × 30000"]):
        assert path in ln and f"declares {size}" in ln, ln
    peak = float(re.search(r"peak_mb ([\d.]+)", out.stdout).group(1))
    assert peak < 200, f"peak memory {peak:.0f} MB while refusing bombs"
