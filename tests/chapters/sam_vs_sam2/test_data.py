"""SAM chapter data (image set + DAVIS layout, twin) and the quality metrics (clicks, J&F)."""
import numpy as np
import pytest
from PIL import Image

from benchlib import BenchlibError
from benchlib.chapters.sam_vs_sam2 import data as D
from benchlib.chapters.sam_vs_sam2 import quality as Q


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    ds = D.dataset(tmp_path_factory.mktemp("data"), seed=3, n_images=2, n_frames=4)
    assert ds.is_twin and ds.name == "synth-sam twin, seed 3"
    return ds.root


def test_twin_is_deterministic_and_reused(twin, tmp_path):
    (tmp_path / "again").mkdir()
    D.write_twin(tmp_path / "again", seed=3, n_images=2, n_frames=4)
    for rel in ("images/0000.jpg", "masks/0001.png", "davis/Annotations/480p/crossing/00003.png"):
        assert (twin / rel).read_bytes() == (tmp_path / "again" / rel).read_bytes()
    assert D.dataset(twin.parent, seed=3, n_images=2, n_frames=4).root == twin
    assert D.dataset(twin.parent, seed=4, n_images=2, n_frames=4).root != twin  # settings name the folder
    assert not [p for p in twin.parent.iterdir() if p.name.endswith(".tmp")]


def test_twin_loads_through_the_real_loaders(twin):
    imgs = D.load_image_set(twin)
    item = imgs[0]
    assert item["image"].dtype == np.uint8 and item["image"].shape == (240, 320, 3)
    assert len(item["objects"]) == 4 and all(o.shape == (240, 320) for o in item["objects"])
    seqs = D.davis_sequences(twin / "davis")
    frames, masks = D.load_davis_sequence(twin / "davis", seqs[0])
    assert len(frames) == len(masks) == 4 and set(np.unique(masks[0])) <= {0, 1}
    # the target moves
    assert not np.array_equal(masks[0], masks[-1])


def test_resolve_prefers_real_layout(tmp_path, twin):
    ds = D.dataset(twin / "davis")  # a DAVIS folder alone is real data
    assert not ds.is_twin and ds.name.startswith("real data")
    assert D.layouts(ds) == (None, twin / "davis")
    ds = D.dataset(twin)            # images/ + masks/ + davis/: both layouts
    assert not ds.is_twin and D.layouts(ds) == (twin, twin / "davis")
    ds = D.dataset(tmp_path, seed=1, n_images=1, n_frames=2)
    img_root, davis = D.layouts(ds)
    assert ds.name == "synth-sam twin, seed 1" and D.is_image_set(img_root) and D.is_davis(davis)


def test_bad_inputs_name_the_file(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    with pytest.raises(BenchlibError, match="a.png: no mask"):
        D.load_image_set(tmp_path)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "masks" / "a.png")
    with pytest.raises(BenchlibError, match=r"masks/a.png: mask size \(10, 10\) does not match"):
        D.load_image_set(tmp_path)[0]
    (tmp_path / "masks" / "a.png").write_bytes(b"garbage")
    with pytest.raises(BenchlibError, match="masks/a.png: not a readable image"):
        D.load_image_set(tmp_path)[0]
    seq = tmp_path / "v" / "JPEGImages" / "480p" / "s"
    seq.mkdir(parents=True)
    (tmp_path / "v" / "Annotations" / "480p" / "s").mkdir(parents=True)
    for i in (0, 2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(seq / f"{i:05d}.jpg")
    with pytest.raises(BenchlibError, match="00002.jpg: frames must be numbered"):
        D.load_davis_sequence(tmp_path / "v", "s")


# ----------------------------------------------------------------------------- quality metrics
def test_iou_and_boundary_f_by_hand():
    gt = np.zeros((20, 20), bool); gt[5:15, 5:15] = True      # 100 px
    pred = np.zeros((20, 20), bool); pred[5:15, 5:10] = True  # 50 px inside
    assert Q.iou(pred, gt) == 0.5
    assert Q.iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    assert Q.boundary_f(gt, gt) == 1.0
    # shifting by 1 px stays within the tolerance ceil(0.008 * diag) = 1 px
    assert Q.boundary_f(np.roll(gt, 1, axis=1), gt) == 1.0
    # shifting by 5 px: only the boundary pixels within 1 px of the other boundary count
    f = Q.boundary_f(np.roll(gt, 5, axis=1), gt)
    assert 0 < f < 0.7
    assert Q.boundary_f(np.zeros_like(gt), gt) == 0.0


def test_prompt_point_is_farthest_from_the_boundary():
    m = np.zeros((9, 9), bool)
    m[2:7, 2:7] = True  # a 5 x 5 square: its centre is the one pixel farthest from the edge
    assert Q.prompt_point(m) == (4, 4)
    m = np.zeros((9, 12), bool)
    m[1:4, 1:4] = True
    m[2:9, 5:12] = True  # the larger square wins: centre (x 8, y 5)
    assert Q.prompt_point(m) == (8, 5)


def test_j_and_f_leaves_out_the_prompted_frame():
    gt = [np.eye(4, dtype=bool)] * 3
    pred = [np.zeros((4, 4), bool), np.eye(4, dtype=bool), np.eye(4, dtype=bool)]
    out = Q.j_and_f(pred, gt)
    assert out["J"] == [1.0, 1.0] and out["JF"] == 1.0


class Oracle:
    """A predictor stand-in: first returns a mask covering only the left half of the object, then
    the exact object once it has a second click."""

    def __init__(self, gt):
        self.gt, self.calls = gt, []

    def predict(self, point_coords, point_labels, mask_input=None, multimask_output=True):
        self.calls.append((point_coords.copy(), point_labels.copy(), mask_input is None))
        if len(point_coords) == 1:
            m = self.gt.copy(); m[:, self.gt.shape[1] // 2:] = False
        else:
            m = self.gt
        n = 3 if multimask_output else 1
        return np.stack([m] * n), np.arange(n, dtype=float), np.zeros((n, 4, 4))


def test_click_simulation_clicks_in_the_missed_part():
    gt = np.zeros((20, 20), bool); gt[4:16, 2:18] = True
    o = Oracle(gt)
    ious = Q.click_ious(o, gt, n_clicks=5)
    assert ious == [0.5, 1.0, 1.0, 1.0, 1.0]
    (p1, l1, first_no_mask), (p2, l2, second_no_mask) = o.calls[:2]
    assert first_no_mask and not second_no_mask  # previous logits are fed back
    x, y = p2[1]
    assert l2[1] == 1 and x >= 10 and gt[int(y), int(x)]  # positive click in the missed right half
    assert len(o.calls) == 2  # stops clicking once perfect
