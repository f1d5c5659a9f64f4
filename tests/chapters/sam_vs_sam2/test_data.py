"""SAM chapter data (image set + DAVIS layout, twin)."""
import numpy as np
import pytest
from PIL import Image

from benchlib import BenchlibError
from benchlib.chapters.sam_vs_sam2 import data as D


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
