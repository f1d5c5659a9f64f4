"""Malformed-input corpus for the VOC loader and the user weight-file loaders: each case corrupts one
thing in a valid tiny devkit (written here, no binary fixtures) and must be refused with a
BenchlibError that names the file (and the line, for list files)."""
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from benchlib import BenchlibError
from benchlib.chapters.orandnet_voc import models as M
from benchlib.chapters.orandnet_voc.data import VOCSegmentation, load_split
from benchlib.chapters.orandnet_voc.train import train_classifier

from .test_data import _devkit, _save_palette_png
from tests._bombs import png_header_bomb, jpeg_header_bomb

H, W = 12, 16


def _read_all(root, split="train"):
    ds = VOCSegmentation(root, split)
    return [ds[i] for i in range(len(ds))]




# ----------------------------------------------------------------------------- the corpus
def _split_latin1(root, ids):
    (root / "ImageSets/Segmentation/train.txt").write_bytes(f"{ids[0]}\ncaf\xe9\n".encode("latin-1"))
    return "train.txt", r"train\.txt, line 2: not UTF-8"


def _split_nul(root, ids):
    (root / "ImageSets/Segmentation/train.txt").write_bytes(f"{ids[0]}\n{ids[1]}\x00\n".encode())
    return "train.txt", r"train\.txt, line 2: NUL byte"


def _split_duplicate(root, ids):
    (root / "ImageSets/Segmentation/train.txt").write_text(f"{ids[0]}\n{ids[1]}\n{ids[0]}\n{ids[0]}\n")
    return "train.txt", rf"train\.txt, line 3: id {ids[0]} repeats line 1"


def _split_empty(root, ids):
    (root / "ImageSets/Segmentation/train.txt").write_text("\n  \n")
    return "train.txt", r"train\.txt: split list is empty"


def _aug_list_escapes_root(root, ids):
    (root / "train_aug.txt").write_text(f"/JPEGImages/{ids[0]}.jpg /SegmentationClassAug/{ids[0]}.png\n"
                                        f"../../../etc/{ids[1]}.jpg\n")
    return "train_aug.txt", r"train_aug\.txt, line 2: path .* leaves the data root"


def _aug_list_wrong_folder(root, ids):
    (root / "train_aug.txt").write_text(f"/etc/{ids[0]}.jpg /SegmentationClassAug/{ids[0]}.png\n")
    return "train_aug.txt", r"train_aug\.txt, line 1: image path .* is not JPEGImages"


def _aug_list_mismatched_pair(root, ids):
    (root / "train_aug.txt").write_text(f"/JPEGImages/{ids[0]}.jpg /SegmentationClassAug/{ids[1]}.png\n")
    return "train_aug.txt", rf"train_aug\.txt, line 1: image .*{ids[0]}.* is paired with mask .*{ids[1]}"


def _aug_list_three_fields(root, ids):
    (root / "train_aug.txt").write_text(f"/JPEGImages/{ids[0]}.jpg /SegmentationClassAug/{ids[0]}.png x\n")
    return "train_aug.txt", r"train_aug\.txt, line 1: expected an id or 'image mask' paths, got 3"


def _truncated_jpeg(root, ids):
    p = root / "JPEGImages" / f"{ids[1]}.jpg"
    p.write_bytes(p.read_bytes()[:-60])  # the last scan rows and the end marker are gone
    return f"{ids[1]}.jpg", rf"{ids[1]}\.jpg: not a readable image"


def _truncated_png_mask(root, ids):
    p = root / "SegmentationClass" / f"{ids[0]}.png"
    p.write_bytes(p.read_bytes()[:60])
    return f"{ids[0]}.png", rf"{ids[0]}\.png: not a readable image"


def _not_an_image(root, ids):
    (root / "JPEGImages" / f"{ids[0]}.jpg").write_text("<html>404 Not Found</html>")
    return f"{ids[0]}.jpg", rf"{ids[0]}\.jpg: not a readable image"


def _binary_mask(root, ids):
    m = np.zeros((H, W), np.uint8)
    m[2:8, 2:14] = 255  # a foreground/background mask: the object is 255, read by VOC as void
    Image.fromarray(m, mode="L").save(root / "SegmentationClass" / f"{ids[0]}.png")
    return f"{ids[0]}.png", rf"{ids[0]}\.png: mask holds no object class \(only values \[0, 255\]\): a binary 0/255"


def _one_bit_mask(root, ids):
    m = np.zeros((H, W), bool)
    m[2:8, 2:14] = True
    Image.fromarray(m).save(root / "SegmentationClass" / f"{ids[0]}.png")
    return f"{ids[0]}.png", rf"{ids[0]}\.png: mask must be a palette or greyscale PNG"


def _colour_mask(root, ids):
    m = np.zeros((H, W, 3), np.uint8)
    m[2:6, 3:9] = (128, 0, 0)  # the aeroplane colour instead of its index
    Image.fromarray(m).save(root / "SegmentationClass" / f"{ids[0]}.png")
    return f"{ids[0]}.png", rf"{ids[0]}\.png: mask must be a palette or greyscale PNG .*shape \(12, 16, 3\)"


def _mask_value_out_of_range(root, ids):
    m = np.zeros((H, W), np.uint8)
    m[2:6, 3:9] = 21
    _save_palette_png(m, root / "SegmentationClass" / f"{ids[1]}.png")
    return f"{ids[1]}.png", rf"{ids[1]}\.png: label values outside 0-20 and 255: \[21\]"


def _mask_wrong_size(root, ids):
    m = np.zeros((H + 1, W), np.uint8)
    m[2:6, 3:9] = 15
    _save_palette_png(m, root / "SegmentationClass" / f"{ids[1]}.png")
    return f"{ids[1]}.png", rf"{ids[1]}\.png: mask size 16×13 differs from image"


def _xml_disagrees_with_mask(root, ids):
    # the mask of ids[1] shows a person; this XML names only a cat (an annotation of another image)
    (root / "Annotations" / f"{ids[1]}.xml").write_text(
        "<annotation><object><name>cat</name></object></annotation>")
    return f"{ids[1]}.xml", rf"{ids[1]}\.xml: names cat but mask {ids[1]}\.png shows person"


def _xml_without_objects(root, ids):
    (root / "Annotations" / f"{ids[1]}.xml").write_text("<annotation><filename>x.jpg</filename></annotation>")
    return f"{ids[1]}.xml", rf"{ids[1]}\.xml: names no object but mask"


def _xml_unknown_class(root, ids):
    (root / "Annotations" / f"{ids[0]}.xml").write_text(
        "<annotation><object><name>aeroplane</name></object><object><name>unicorn</name></object></annotation>")
    return f"{ids[0]}.xml", rf"{ids[0]}\.xml: unknown object class 'unicorn'"


def _xml_malformed(root, ids):
    (root / "Annotations" / f"{ids[0]}.xml").write_text("<annotation><object><name>aeroplane</name></annotation>")
    return f"{ids[0]}.xml", rf"{ids[0]}\.xml: malformed XML"


def _xml_latin1(root, ids):
    (root / "Annotations" / f"{ids[0]}.xml").write_bytes(
        "<annotation>\n<owner>Jos\xe9</owner><object><name>aeroplane</name></object></annotation>".encode("latin-1"))
    return f"{ids[0]}.xml", rf"{ids[0]}\.xml, line 2: not UTF-8"


CASES = [_split_latin1, _split_nul, _split_duplicate, _split_empty, _aug_list_escapes_root,
         _aug_list_wrong_folder, _aug_list_mismatched_pair, _aug_list_three_fields, _truncated_jpeg,
         _truncated_png_mask, _not_an_image, _binary_mask, _one_bit_mask, _colour_mask,
         _mask_value_out_of_range, _mask_wrong_size, _xml_disagrees_with_mask, _xml_without_objects,
         _xml_unknown_class, _xml_malformed, _xml_latin1]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.strip("_") for c in CASES])
def test_malformed_devkit_is_refused_naming_the_file(tmp_path, case):
    root, ids, _ = _devkit(tmp_path)
    _read_all(root, "train"), _read_all(root, "train_aug")  # valid before the corruption
    name, pattern = case(root, ids)
    split = "train_aug" if name == "train_aug.txt" else "train"
    with pytest.raises(BenchlibError, match=pattern) as err:
        _read_all(root, split)
    assert name in str(err.value) and str(tmp_path) in str(err.value)


# ----------------------------------------------------------------------------- accepted on purpose
def test_a_utf8_bom_in_a_split_list_is_stripped(tmp_path):
    root, ids, _ = _devkit(tmp_path)
    (root / "ImageSets/Segmentation/train.txt").write_bytes(("\ufeff" + f"{ids[0]}\r\n{ids[1]}\r\n").encode())
    ds = VOCSegmentation(root, "train")
    assert ds.ids == ids[:2] and ds[0]["id"] == ids[0]


def test_partial_xml_mask_disagreement_is_counted_and_warned(tmp_path):
    # Real VOC legitimately disagrees a little (an object entirely void): a warning with the count,
    # not an error. The devkit's image 0 has XML aeroplane + person and a mask with aeroplane only.
    root, ids, _ = _devkit(tmp_path)
    ds = VOCSegmentation(root, "train")
    with pytest.warns(UserWarning, match=rf"train.*for 1 of 2 images.*{ids[0]}: XML aeroplane, person vs mask aeroplane"):
        split = load_split(ds, H)
    assert split.labels[0, 14] == 1  # the XML labels are the ones used


# ----------------------------------------------------------------------------- bombs, memory-limited
BOMB_SCRIPT = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))   # a regression cannot take the machine
    from benchlib import BenchlibError
    from benchlib.chapters.orandnet_voc.data import VOCSegmentation
    ds = VOCSegmentation(sys.argv[1], "train")
    for i in range(len(ds)):
        try:
            ds[i]
            print("ACCEPTED", ds.ids[i])
        except BenchlibError as e:
            print("refused:", e)
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0]
    print("peak_mb", int(hwm.split()[1]) / 1024)
""")


def test_decompression_bombs_are_refused_with_little_memory(tmp_path):
    root, ids, _ = _devkit(tmp_path)
    jpeg_header_bomb(root / "JPEGImages" / f"{ids[0]}.jpg", 30000, 30000)   # 900 MP declared
    png_header_bomb(root / "SegmentationClass" / f"{ids[1]}.png", 20000, 20000)  # 400 MP declared
    assert (root / "JPEGImages" / f"{ids[0]}.jpg").stat().st_size < 2000
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(root)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "ACCEPTED" not in out.stdout, out.stdout
    assert f"{ids[0]}.jpg: declares 30000 × 30000 = 900 MP" in lines[0], out.stdout
    assert f"{ids[1]}.png: declares 20000 × 20000 = 400 MP" in lines[1], out.stdout
    peak = float(out.stdout.split("peak_mb")[1])
    assert peak < 200, f"peak memory {peak:.0f} MB while refusing bombs"


# ----------------------------------------------------------------------------- user weight files
def _cfg(ckpt):
    return SimpleNamespace(image_size=32, backbones="small", resnet_weights="", resnet_checkpoint=str(ckpt),
                           device="cpu")


def test_a_valid_checkpoint_loads(tmp_path):
    model = M.build_classifier("resnet", 32)
    torch.save(model.state_dict(), tmp_path / "ok.pt")
    loaded = train_classifier("resnet", None, _cfg(tmp_path / "ok.pt"), seed=0)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_checkpoint_with_non_finite_values_is_refused(tmp_path, bad):
    state = M.build_classifier("resnet", 32).state_dict()
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 4)
    state[key].view(-1)[3] = bad
    torch.save(state, tmp_path / "diverged.pt")
    with pytest.raises(BenchlibError, match=rf"diverged\.pt: .*NaN or infinite values .*{key}"):
        train_classifier("resnet", None, _cfg(tmp_path / "diverged.pt"), seed=0)
    with pytest.raises(BenchlibError, match=r"diverged\.pt: .*NaN or infinite"):
        M.load_imagenet_weights(M.ResNet50CAM(), tmp_path / "diverged.pt")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's own note on the junk bytes
def test_checkpoints_that_are_not_state_dicts_are_refused(tmp_path):
    torch.save([torch.zeros(3)], tmp_path / "list.pt")
    torch.save({"model": {"w": torch.zeros(3)}, "epoch": 3}, tmp_path / "nested.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x80\x04junk")
    for name in ("list.pt", "nested.pt"):
        with pytest.raises(BenchlibError, match=rf"{name}: expected a state dict"):
            M.read_state_dict(tmp_path / name)
    with pytest.raises(BenchlibError, match=r"junk\.pt: cannot load checkpoint"):
        M.read_state_dict(tmp_path / "junk.pt")
    good = M.build_classifier("resnet", 32).state_dict()
    good.pop(next(iter(good)))
    torch.save(good, tmp_path / "short.pt")
    with pytest.raises(BenchlibError, match=r"short\.pt: not a state_dict of this chapter's resnet"):
        train_classifier("resnet", None, _cfg(tmp_path / "short.pt"), seed=0)
