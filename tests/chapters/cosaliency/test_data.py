"""Co-saliency chapter: the saliency-folder loader (a real-layout folder written here), its
validation errors, the twins, and the training augmentation's box bookkeeping."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from benchlib import BenchlibError
from benchlib.data.saliency import (
    ensure_twin, load_saliency_folder, resolve_dataset, split_indices, write_twin,
)


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
    folder, desc = resolve_dataset(tmp_path / "real", "cosal", 10, 0)
    assert folder == tmp_path / "real" and "real data" in desc


def test_boxes_from_ground_truth_components_without_instance_files(tmp_path):
    ds = load_saliency_folder(_write_folder(tmp_path / "noinst", instances=False))
    assert ds.boxes_source == "ground-truth components"
    assert ds[0].boxes.tolist() == [[5, 10, 15, 20], [30, 10, 40, 20]]
    assert ds[0].cosalient.tolist() == [True, True]


@pytest.mark.parametrize("breakage, message", [
    ("missing_gt", "missing ground truth"),
    ("size", "does not match"),
    ("non_binary", "not binary"),
    ("corrupt", "corrupt"),
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


def test_twins_have_the_papers_shape(tmp_path):
    cos = load_saliency_folder(write_twin(tmp_path / "c", "cosal", 60, seed=3))
    n_co = np.array([it.cosalient.sum() for it in cos.items])
    has_distractor = np.array([(~it.cosalient).any() for it in cos.items])
    assert n_co.min() >= 2 and 3.0 <= n_co.mean() <= 4.0  # paper: 3.52 per image
    assert 0.25 <= has_distractor.mean() <= 0.75 and (~has_distractor).any()
    assert len({it.image.shape for it in cos.items}) > 10  # varied sizes
    for it in cos.items:
        classes = np.array(it.classes)
        assert len(set(classes[it.cosalient])) == 1  # one repeated class
        assert not set(classes[~it.cosalient]) & set(classes[it.cosalient])  # distractor: another class
        for b in it.boxes[~it.cosalient].astype(int):  # the ground truth leaves the distractor out
            assert (it.gt[b[1]:b[3], b[0]:b[2]] > 0).mean() < 0.2
        for b in it.boxes[it.cosalient].astype(int):
            assert (it.gt[b[1]:b[3], b[0]:b[2]] > 0).mean() > 0.3
    sd = load_saliency_folder(write_twin(tmp_path / "s", "sdcs", 30, seed=3))
    assert all(2 <= it.cosalient.sum() <= 3 and it.cosalient.all() for it in sd.items)


def test_twin_is_deterministic_atomic_and_reused(tmp_path):
    a = ensure_twin(tmp_path / "a", "cosal", 6, seed=1)
    b = ensure_twin(tmp_path / "b", "cosal", 6, seed=1)
    for sub in ("GT/cosal_0003.png", "Instances/cosal_0005.json"):
        assert (a / sub).read_bytes() == (b / sub).read_bytes()
    mtime = (a / "twin.json").stat().st_mtime_ns
    assert ensure_twin(tmp_path / "a", "cosal", 6, seed=1) == a and (a / "twin.json").stat().st_mtime_ns == mtime
    assert [p.name for p in (tmp_path / "a").iterdir()] == [a.name]  # no temporary folder left behind
    c = ensure_twin(tmp_path / "a", "cosal", 6, seed=2)
    assert (c / "GT/cosal_0003.png").read_bytes() != (a / "GT/cosal_0003.png").read_bytes()


def test_split_is_seeded_and_disjoint():
    tr, te = split_indices(10, 0.3, seed=0)
    assert len(te) == 3 and len(tr) == 7 and not set(tr) & set(te)
    assert split_indices(10, 0.3, seed=0)[1].tolist() == te.tolist()


def test_augmentation_keeps_boxes_on_their_objects():
    from benchlib.experiments.cosaliency import augment

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


def _fake_run(quality):
    """A ChapterRun with hand-made maps: the co-salient objects at 1, the distractor at 1 − quality[m],
    a faint noisy background. The adaptive threshold (2 × mean ≈ 0.3) keeps the distractor out when
    quality > 0.7 (F = 1) and lets it in otherwise (P = 2/3); MAE grows as quality drops.
    FT: the distractor and one object bright, the other object missed."""
    from benchlib.data.saliency import SaliencyItem, SaliencySet
    from benchlib.experiments import cosaliency as cs

    rng = np.random.default_rng(0)
    items = []
    for i in range(12):
        gt = np.zeros((32, 32), np.uint8)
        gt[4:12, 4:12] = gt[4:12, 20:28] = 255
        boxes = np.array([[4, 4, 12, 12], [20, 4, 28, 12], [10, 20, 18, 28]], np.float32)
        items.append(SaliencyItem(f"im{i}", np.zeros((32, 32, 3), np.uint8), gt, boxes, ["a", "a", "b"],
                                  np.array([True, True, False])))
    test = SaliencySet(None, items, "instance files")
    splits = {k: cs.Split(k, cs.DATASETS[k], f"fake {k}", test, test) for k in ("cosal", "sdcs")}
    methods = {k: ["FT", *quality] for k in splits}
    maps, scores = {}, {}
    for k in splits:
        maps[k], scores[k] = {}, {}
        for m, q in {"FT": None, **quality}.items():
            preds = []
            for it in items:
                p = 0.05 * rng.random((32, 32)) + (it.gt > 0)
                p[20:28, 10:18] = 1.0 if q is None else 1 - q
                if q is None:  # FT also misses one of the two objects: P = R = F = 1/2
                    p[4:12, 20:28] = 0.0
                preds.append(np.clip(p, 0, 1).astype(np.float32))
            maps[k][m] = preds
            scores[k][m] = [cs.score_maps(preds, test)]
    return cs.ChapterRun(splits, cs.TrainConfig(), [0], methods, maps, scores, {}, [], [], {})


def test_claim_verdicts_follow_the_numbers():
    from benchlib.experiments import cosaliency as cs
    from benchlib.results import ChapterResults

    good = {"U-Net": 0.5, "U-Net + DA": 0.52, "U-Net + DA + FS": 0.5,
            "U-Net + DA + FS + RFM (offline)": 0.6, "U-Net + DA + FS + RFM (online)": 0.8}
    res = ChapterResults("cosaliency", "smoke")
    cs.judge_claims(res, _fake_run(good))
    v = dict(zip(res.claims.claim_id, res.claims.verdict))
    assert v == {"online_beats_unet": "held", "online_beats_offline": "held", "rfm_helps_more_than_da": "held",
                 "ft_far_below": "held", "speed_28fps": "not tested"}
    bad = dict(good, **{"U-Net + DA + FS + RFM (online)": 0.45})  # online now worse than U-Net and offline
    res = ChapterResults("cosaliency", "smoke")
    cs.judge_claims(res, _fake_run(bad))
    v = dict(zip(res.claims.claim_id, res.claims.verdict))
    assert v["online_beats_unet"] == v["online_beats_offline"] == v["rfm_helps_more_than_da"] == "not held"
    res = ChapterResults("cosaliency", "smoke")
    cs.add_result_rows(res, _fake_run(good))
    t2 = res.frame[res.frame.table == "2"]
    row = t2[(t2.method == "Ours (online)") & (t2.metric == "F-measure") & (t2.subset == "SDCS")].iloc[0]
    assert row.paper_value == 0.911 and row.delta == pytest.approx(row.value - 0.911)
    assert t2[t2.method == "LFM"].value.isna().all() and len(t2[t2.method == "LFM"]) == 8
    t1 = res.frame[res.frame.table == "1"]
    assert t1[t1.method == "U-Net + FS"].note.iloc[0].startswith("not run")
    assert t1[t1.method == "U-Net"].paper_value.iloc[0] == 82.4
