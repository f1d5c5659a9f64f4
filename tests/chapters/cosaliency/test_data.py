"""Co-saliency chapter: the saliency-folder loader (a real-layout folder written here), its
validation errors, the twins, and the training augmentation's box bookkeeping."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from benchlib import BenchlibError
from benchlib.chapters.cosaliency.data import dataset, load_saliency_folder, split_indices, write_twin
from benchlib.datasets import MARKER


def _write_folder(root, instances=True, n=3):
    """A DUTS-style folder: Image/*.jpg, GT/*.png, Instances/*.json; image i has two squares."""
    (root / "Image").mkdir(parents=True)
    (root / "GT").mkdir()
    if instances:
        (root / "Instances").mkdir()
    for i in range(n):
        h, w = 40 + 4 * i, 50
        img = np.full((h, w, 3), 90, np.uint8)
        gt = np.zeros((h, w), np.uint8)
        for x0 in (5, 30):
            img[10:20, x0:x0 + 10] = (200, 40, 40)
            gt[10:20, x0:x0 + 10] = 255
        img[30:36, 5:11] = (40, 40, 200)  # a distractor, not in the ground truth
        Image.fromarray(img).save(root / "Image" / f"im{i}.jpg", quality=95)
        Image.fromarray(gt).save(root / "GT" / f"im{i}.png")
        if instances:
            objs = [{"box": [5, 10, 15, 20], "class": "red", "cosalient": True},
                    {"box": [30, 10, 40, 20], "class": "red", "cosalient": True},
                    {"box": [5, 30, 11, 36], "class": "blue", "cosalient": False}]
            (root / "Instances" / f"im{i}.json").write_text(json.dumps({"objects": objs}))
    return root


def test_reads_a_real_layout_folder(tmp_path):
    ds = load_saliency_folder(_write_folder(tmp_path / "real"))
    assert len(ds) == 3 and ds.boxes_source == "instance files"
    it = ds[1]
    assert it.id == "im1" and it.image.shape == (44, 50, 3) and it.image.dtype == np.uint8
    assert it.gt.shape == (44, 50) and set(np.unique(it.gt)) == {0, 255} and (it.gt == 255).sum() == 200
    assert it.boxes.tolist() == [[5, 10, 15, 20], [30, 10, 40, 20], [5, 30, 11, 36]]
    assert it.classes == ["red", "red", "blue"] and it.cosalient.tolist() == [True, True, False]
    # the same loader is what resolve_dataset hands a real folder to (no twin generated)
    ds = dataset(tmp_path / "real", "cosal", 10, 0)
    assert ds.root == tmp_path / "real" and not ds.is_twin and "twin" not in ds.name


def test_boxes_from_ground_truth_components_without_instance_files(tmp_path):
    ds = load_saliency_folder(_write_folder(tmp_path / "noinst", instances=False))
    assert ds.boxes_source == "ground-truth components"
    assert ds[0].boxes.tolist() == [[5, 10, 15, 20], [30, 10, 40, 20]]
    assert ds[0].cosalient.tolist() == [True, True]


@pytest.mark.parametrize("breakage, message", [
    ("missing_gt", "missing ground truth"),
    ("size", "does not match"),
    ("non_binary", "not binary"),
    ("corrupt", "not a readable image"),
    ("box_outside", "outside"),
    ("bad_json", "not valid JSON"),
])
def test_malformed_inputs_raise_clear_errors(tmp_path, breakage, message):
    root = _write_folder(tmp_path / "bad")
    if breakage == "missing_gt":
        os.remove(root / "GT" / "im1.png")
        culprit = "im1.jpg"
    elif breakage == "size":
        Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "GT" / "im1.png")
        culprit = "im1.png"
    elif breakage == "non_binary":
        g = np.zeros((44, 50), np.uint8)
        g[5, 5] = 128
        Image.fromarray(g).save(root / "GT" / "im1.png")
        culprit = "im1.png"
    elif breakage == "corrupt":
        data = (root / "Image" / "im1.jpg").read_bytes()
        (root / "Image" / "im1.jpg").write_bytes(data[: len(data) // 3])
        culprit = "im1.jpg"
    elif breakage == "box_outside":
        (root / "Instances" / "im1.json").write_text(json.dumps({"objects": [{"box": [40, 10, 60, 20]}]}))
        culprit = "im1.json"
    else:
        (root / "Instances" / "im1.json").write_text("{not json")
        culprit = "im1.json"
    with pytest.raises(BenchlibError, match=message) as e:
        load_saliency_folder(root)
    assert culprit in str(e.value)


def test_not_a_saliency_folder(tmp_path):
    with pytest.raises(BenchlibError, match="not a saliency folder"):
        load_saliency_folder(tmp_path)


def test_twins_have_the_papers_shape_and_the_distractor_rule(tmp_path):
    """Checked from the written files: every paper-shaped image holds ≥ 2 instances of one class and
    ≥ 1 single distractor of another class, of comparable size and contrast; the ground truth marks
    the repeated class only, the Salient/ mask every object."""
    from benchlib.chapters.cosaliency.models import srgb_to_lab

    write_twin(tmp_path / "c", "cosal", 60, seed=3)
    cos = load_saliency_folder(tmp_path / "c")
    n_co = np.array([it.cosalient.sum() for it in cos.items])
    n_dis = np.array([(~it.cosalient).sum() for it in cos.items])
    assert n_co.min() >= 2 and 3.0 <= n_co.mean() <= 4.0  # paper: 3.52 per image
    assert n_dis.min() >= 1 and n_dis.max() <= 2
    assert len({it.image.shape for it in cos.items}) > 10  # varied sizes
    area_ratio, contrast_ratio = [], []
    for it in cos.items:
        classes = np.array(it.classes)
        assert len(set(classes[it.cosalient])) == 1  # one repeated class
        dis = classes[~it.cosalient]
        assert len(set(dis)) == len(dis) and not set(dis) & set(classes[it.cosalient])  # single, other classes
        gt = it.gt > 128
        assert not np.any(gt & ~it.salient)  # the salient mask holds the ground truth
        lab = srgb_to_lab(it.image)
        mean = lab.reshape(-1, 3).mean(axis=0)
        area, contrast = [], []
        for b, c in zip(it.boxes.astype(int), it.cosalient):
            box = np.zeros(gt.shape, bool)
            box[b[1]:b[3], b[0]:b[2]] = True
            obj = box & it.salient
            # the ground truth covers co-salient objects and leaves distractors out
            assert (gt[obj].mean() > 0.95) if c else (gt[obj].mean() < 0.05)
            area.append(obj.sum())
            contrast.append(np.linalg.norm(lab[obj].mean(axis=0) - mean))  # FT's notion of salience
        area, contrast, co = np.array(area, float), np.array(contrast), it.cosalient
        area_ratio.append(area[~co].mean() / area[co].mean())
        contrast_ratio.append(contrast[~co].mean() / contrast[co].mean())
    # comparable salience: typical distractor as large and as contrasted as a co-salient object
    assert 0.7 <= np.median(area_ratio) <= 1.4 and 0.7 <= np.median(contrast_ratio) <= 1.4
    assert 0.25 <= min(area_ratio) and max(area_ratio) <= 4
    write_twin(tmp_path / "s", "sdcs", 30, seed=3)
    sd = load_saliency_folder(tmp_path / "s")
    assert all(2 <= it.cosalient.sum() <= 3 and it.cosalient.all() for it in sd.items)
    assert all(np.array_equal(it.salient, it.gt > 128) for it in sd.items)  # no distractors in SDCS


@pytest.mark.parametrize("breakage, message", [
    ("missing", "missing salient-objects mask"),
    ("size", "does not match"),
    ("not_covering", "does not cover"),
])
def test_salient_masks_are_validated(tmp_path, breakage, message):
    root = _write_folder(tmp_path / "sal")
    (root / "Salient").mkdir()
    for i in range(3):
        gt = np.asarray(Image.open(root / "GT" / f"im{i}.png"))
        sal = gt.copy()
        sal[30:36, 5:11] = 255  # the distractor
        Image.fromarray(sal).save(root / "Salient" / f"im{i}.png")
    assert load_saliency_folder(root)[0].salient.sum() == 200 + 36
    if breakage == "missing":
        os.remove(root / "Salient" / "im2.png")
    elif breakage == "size":
        Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "Salient" / "im2.png")
    else:
        Image.fromarray(np.zeros((48, 50), np.uint8)).save(root / "Salient" / "im2.png")
    with pytest.raises(BenchlibError, match=message) as e:
        load_saliency_folder(root)
    assert "im2.png" in str(e.value)


def test_twin_is_deterministic_atomic_and_reused(tmp_path):
    a = dataset(tmp_path / "a", "cosal", 6, seed=1)
    b = dataset(tmp_path / "b", "cosal", 6, seed=1)
    assert a.is_twin and a.name == "synth-cosal twin, seed 1"
    for sub in ("GT/cosal_0003.png", "Instances/cosal_0005.json"):
        assert (a.root / sub).read_bytes() == (b.root / sub).read_bytes()
    mtime = (a.root / MARKER).stat().st_mtime_ns
    again = dataset(tmp_path / "a", "cosal", 6, seed=1)
    assert again.root == a.root and (a.root / MARKER).stat().st_mtime_ns == mtime
    assert [p.name for p in (tmp_path / "a").iterdir()] == [a.root.name]  # no temporary folder left behind
    c = dataset(tmp_path / "a", "cosal", 6, seed=2)
    assert (c.root / "GT/cosal_0003.png").read_bytes() != (a.root / "GT/cosal_0003.png").read_bytes()


def test_split_is_seeded_and_disjoint():
    tr, te = split_indices(10, 0.3, seed=0)
    assert len(te) == 3 and len(tr) == 7 and not set(tr) & set(te)
    assert split_indices(10, 0.3, seed=0)[1].tolist() == te.tolist()
    tr, te = split_indices(140, 0.5, seed=0)  # the default profile: 70 train, 70 test
    assert len(tr) == len(te) == 70 and sorted(set(tr) | set(te)) == list(range(140))


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.2])
def test_a_test_fraction_outside_0_1_is_refused(tmp_path, bad):
    from benchlib.chapters.cosaliency.pipeline import Config, run

    with pytest.raises(BenchlibError, match="test_fraction must lie strictly between 0 and 1"):
        run(Config(test_fraction=bad, data_root=str(tmp_path), threads=1))
    assert not any(tmp_path.iterdir())  # refused before any twin was written


def test_augmentation_keeps_boxes_on_their_objects():
    from benchlib.chapters.cosaliency.train import augment

    img = np.zeros((64, 64, 3), np.float32)
    gt = np.zeros((64, 64), np.float32)
    img[10:22, 40:56], gt[10:22, 40:56] = 1, 1
    box = np.array([[40, 10, 56, 22]], np.float32)
    rng = np.random.default_rng(0)
    flipped = 0
    for _ in range(30):
        a_img, a_gt, a_box, a_co = augment(img, gt, box, np.array([True]), rng)
        ys, xs = np.nonzero(a_gt > 0.5)
        if len(a_box) == 0:
            continue
        assert a_co.tolist() == [True]
        if len(xs):  # the (possibly occluded, clipped) object lies inside its transformed box
            assert xs.min() >= a_box[0, 0] - 1.5 and xs.max() + 1 <= a_box[0, 2] + 1.5
            assert ys.min() >= a_box[0, 1] - 1.5 and ys.max() + 1 <= a_box[0, 3] + 1.5
        flipped += a_box[0, 0] < 32
    assert flipped > 0  # the horizontal flip did move the box to the other half
