"""VOC loader on a hand-built, real-format VOCdevkit; validation errors; the seeded twin."""
import numpy as np
import pytest
from PIL import Image

from benchlib import BenchlibError
from benchlib.chapters.orandnet_voc import data as voc
from benchlib.chapters.orandnet_voc.data import VOCSegmentation, write_twin

XML = """<annotation><folder>VOC2012</folder><filename>{id}.jpg</filename>
<size><width>{w}</width><height>{h}</height><depth>3</depth></size>
{objects}</annotation>"""
OBJ = "<object><name>{}</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object>"


def _palette():
    # VOC devkit colour map written out independently of benchlib: class 1 = (128,0,0), 15 = (192,128,128)
    pal = [0] * 768
    pal[3:6] = [128, 0, 0]
    pal[15 * 3:15 * 3 + 3] = [192, 128, 128]
    pal[255 * 3:255 * 3 + 3] = [224, 224, 192]
    return pal


def _save_palette_png(mask, path):
    png = Image.fromarray(mask, mode="P")
    png.putpalette(_palette())  # without a palette Pillow re-packs the indices when saving
    png.save(path)


def _devkit(tmp_path, n=3, h=12, w=16):
    """A tiny VOCdevkit written by hand: JPEGs, palette PNGs with void pixels, XML, split lists."""
    root = tmp_path / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "SegmentationClassAug", "Annotations", "ImageSets/Segmentation"):
        (root / d).mkdir(parents=True)
    ids = [f"2007_00003{i}" for i in range(n)]
    rng = np.random.default_rng(0)
    masks = {}
    for k, id_ in enumerate(ids):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "JPEGImages" / f"{id_}.jpg")
        m = np.zeros((h, w), np.uint8)
        m[2:6, 3:9] = 1 if k % 2 == 0 else 15
        m[6, 3:9] = 255  # void border
        _save_palette_png(m, root / "SegmentationClass" / f"{id_}.png")
        _save_palette_png(m, root / "SegmentationClassAug" / f"{id_}.png")
        masks[id_] = m
        names = ["aeroplane", "person"] if k % 2 == 0 else ["person"]
        (root / "Annotations" / f"{id_}.xml").write_text(
            XML.format(id=id_, w=w, h=h, objects="".join(OBJ.format(x) for x in names)))
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids[:2]) + "\n")
    (root / "ImageSets/Segmentation/val.txt").write_text(ids[2] + "\n")
    # DeepLab-style aug list in VOC2012/
    (root / "train_aug.txt").write_text("".join(f"/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png\n" for i in ids))
    return root, ids, masks


def test_reads_a_real_format_devkit_from_any_root_level(tmp_path):
    root, ids, masks = _devkit(tmp_path)
    for r in (root, root.parent, tmp_path):
        ds = VOCSegmentation(r, "train")
        assert len(ds) == 2 and ds.ids == ids[:2]
    it = VOCSegmentation(tmp_path, "train")[0]
    assert it["id"] == ids[0]
    assert it["image"].shape == (12, 16, 3) and it["image"].dtype == np.uint8
    assert it["mask"].dtype == np.uint8
    np.testing.assert_array_equal(it["mask"], masks[ids[0]])  # indices, 255 kept
    expected = np.zeros(20, np.uint8)
    expected[[0, 14]] = 1  # aeroplane (index 0) and person (index 14), from the XML, not the mask
    np.testing.assert_array_equal(it["labels"], expected)


def test_train_aug_list_and_aug_masks(tmp_path):
    root, ids, _ = _devkit(tmp_path)
    ds = VOCSegmentation(root, "train_aug")
    assert ds.ids == ids and ds.mask_dir.name == "SegmentationClassAug"
    assert ds[1]["labels"][14] == 1 and ds[1]["labels"].sum() == 1


def test_labels_fall_back_to_the_mask_without_xml(tmp_path):
    root, ids, _ = _devkit(tmp_path)
    (root / "Annotations" / f"{ids[1]}.xml").unlink()
    labels = VOCSegmentation(root, "train")[1]["labels"]
    assert labels[14] == 1 and labels.sum() == 1


def test_missing_mask_is_named(tmp_path):
    root, ids, _ = _devkit(tmp_path)
    (root / "SegmentationClass" / f"{ids[1]}.png").unlink()
    with pytest.raises(BenchlibError, match=f"{ids[1]}.png.*missing"):
        VOCSegmentation(root, "train")


def test_label_values_outside_range(tmp_path):
    root, ids, _ = _devkit(tmp_path)
    m = np.zeros((12, 16), np.uint8)
    m[0, 0] = 30
    _save_palette_png(m, root / "SegmentationClass" / f"{ids[0]}.png")
    with pytest.raises(BenchlibError, match=rf"{ids[0]}\.png.*outside 0-20 and 255.*30"):
        VOCSegmentation(root, "train")[0]


def test_size_mismatch(tmp_path):
    root, ids, _ = _devkit(tmp_path)
    small = np.zeros((10, 16), np.uint8)
    small[2:4, 3:5] = 1  # an object, so that only the size is wrong
    _save_palette_png(small, root / "SegmentationClass" / f"{ids[0]}.png")
    with pytest.raises(BenchlibError, match=rf"{ids[0]}\.png.*size 16×10 differs"):
        VOCSegmentation(root, "train")[0]


def test_corrupt_jpeg(tmp_path):
    root, ids, _ = _devkit(tmp_path)
    p = root / "JPEGImages" / f"{ids[0]}.jpg"
    p.write_bytes(p.read_bytes()[:40])  # truncated
    with pytest.raises(BenchlibError, match=rf"{ids[0]}\.jpg.*not a readable image"):
        VOCSegmentation(root, "train")[0]


def test_unknown_xml_class_and_bad_root(tmp_path):
    root, ids, _ = _devkit(tmp_path)
    (root / "Annotations" / f"{ids[0]}.xml").write_text(XML.format(id=ids[0], w=16, h=12, objects=OBJ.format("unicorn")))
    with pytest.raises(BenchlibError, match="unknown object class 'unicorn'"):
        VOCSegmentation(root, "train")[0]
    with pytest.raises(BenchlibError, match="not a PASCAL VOC 2012 folder"):
        VOCSegmentation(tmp_path / "nowhere", "train")
    with pytest.raises(BenchlibError, match="test.txt.*not found"):
        VOCSegmentation(root, "test")


def test_palette_matches_the_devkit_colours():
    pal = np.asarray(voc.PALETTE).reshape(256, 3)
    assert tuple(pal[1]) == (128, 0, 0) and tuple(pal[15]) == (192, 128, 128)
    assert tuple(pal[20]) == (0, 64, 128) and tuple(pal[255]) == (224, 224, 192)


def test_twin_is_deterministic_and_read_by_the_same_loader(tmp_path):
    a = write_twin(tmp_path / "a", n_train=5, n_val=2, size=32, seed=3)
    b = write_twin(tmp_path / "b", n_train=5, n_val=2, size=32, seed=3)
    ds_a, ds_b = VOCSegmentation(a, "train"), VOCSegmentation(b, "train")
    assert len(ds_a) == 5 and len(VOCSegmentation(a, "val")) == 2 and len(VOCSegmentation(a, "train_aug")) == 5
    for i in range(5):
        x, y = ds_a[i], ds_b[i]
        np.testing.assert_array_equal(x["mask"], y["mask"])
        np.testing.assert_array_equal(x["image"], y["image"])
        present = set(np.unique(x["mask"])) - {0, 255}
        assert present == set(np.flatnonzero(x["labels"]) + 1)  # XML agrees with the mask
        assert 255 in np.unique(x["mask"])  # void borders as in VOC
    with Image.open(a / "SegmentationClass" / f"{ds_a.ids[0]}.png") as im:
        assert im.mode == "P"


def test_dataset_writes_the_twin_once_and_finds_real_data(tmp_path):
    d1 = voc.dataset(tmp_path, n_train=4, n_val=2, size=32, seed=0)
    stamp = (d1.root / "VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt").stat().st_mtime_ns
    d2 = voc.dataset(tmp_path, n_train=4, n_val=2, size=32, seed=0)
    assert d1 == d2 and d1.is_twin and d1.name == "synth-voc twin, seed 0"
    assert (d2.root / "VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt").stat().st_mtime_ns == stamp
    assert [x.name for x in tmp_path.iterdir()] == [d1.root.name]  # no temporary left behind
    assert len(VOCSegmentation(d1.root, "val")) == 2
    real, _, _ = _devkit(tmp_path / "real")
    d = voc.dataset(real.parents[1], n_train=4, n_val=2, size=32, seed=0)
    assert not d.is_twin and d.name.startswith("PASCAL VOC 2012") and len(VOCSegmentation(d.root, "train")) == 2
