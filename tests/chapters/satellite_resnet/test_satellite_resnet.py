"""Satellite chapter: architectures (Table I), GeoTIFF loader and its validation, the twin,
tiling / stitching, scores and refinement geometry."""
import math

import numpy as np
import pytest
import tifffile
import torch

from benchlib import BenchlibError
from benchlib.chapters.satellite_resnet import data as sd
from benchlib.chapters.satellite_resnet import evaluate as ev
from benchlib.chapters.satellite_resnet import refine as rf
from benchlib.chapters.satellite_resnet import report as rp
from benchlib.chapters.satellite_resnet import train as tr
from benchlib.chapters.satellite_resnet.models import MODEL_NAMES, architecture_table, build_model, parameter_count
from benchlib.papers import load_table


# --------------------------------------------------------------------------- Table I
@pytest.mark.parametrize("name", ["prop18", "prop34", "prop50", "prop101", "prop152", "prop200"])
def test_architecture_table_matches_paper_table_1(name):
    ours = architecture_table(name)
    paper = load_table("satellite_resnet", "1")
    paper = paper[paper["method"] == f"Prop-{name[4:]}"]
    assert len(ours) == 10
    for r in ours.itertuples():
        for metric in ("feature_maps", "convolutions"):
            pv = paper[(paper["metric"] == metric) & (paper["subset"] == f"{r.part} block {r.block}")]["value"]
            assert len(pv) == 1 and getattr(r, metric) == pv.iloc[0], (name, r.part, r.block, metric)


def test_architecture_counts_by_hand():
    t = architecture_table("prop152").set_index(["part", "block"])
    # ResNet-152 stage 3 has 8 Bottlenecks × 3 convolutions; stage 4: 36 × 3
    assert t.loc[("encoder", 3), "convolutions"] == 24 and t.loc[("encoder", 4), "convolutions"] == 108
    assert t.loc[("decoder", 1), "feature_maps"] == 1024 and t.loc[("decoder", 1), "transposed"] == 1
    for name, total in (("unet19", 19), ("unet35", 35)):
        u = architecture_table(name)
        assert u["convolutions"].sum() - u["transposed"].sum() == total


def test_parameter_counts_by_hand():
    """Learnable parameters at full width, 4 bands, 2 classes, counted by hand (weights + BN scale and
    shift; convolutions without bias except the U-Net's 2×2 up-convolutions and both classifiers)."""
    # Prop-18 encoder: 7×7 stem 4→64 (12 544 + BN 128); ResNet-18 stages 64, 128, 256, 512 with two
    # BasicBlocks each (2 × 3×3 conv + 2 BN; a 1×1 projection + BN on the first of stages 2–4):
    stage1 = 2 * (2 * 64 * 64 * 9 + 2 * 128)
    stage2 = (64 * 128 * 9 + 128 * 128 * 9 + 2 * 256 + 64 * 128 + 256) + (2 * 128 * 128 * 9 + 2 * 256)
    stage3 = (128 * 256 * 9 + 256 * 256 * 9 + 2 * 512 + 128 * 256 + 512) + (2 * 256 * 256 * 9 + 2 * 512)
    stage4 = (256 * 512 * 9 + 512 * 512 * 9 + 2 * 1024 + 256 * 512 + 1024) + (2 * 512 * 512 * 9 + 2 * 1024)
    encoder = 4 * 64 * 49 + 128 + stage1 + stage2 + stage3 + stage4
    assert encoder == 11_179_648
    # decoder: 4×4 transposed convs 512→256, 512→128, 256→64, 128→64, 128→64 (+ BN); 3×3 conv 4→64 on
    # the input (+ BN); 1×1 classifier 128→2 with bias
    decoder = (16 * (512 * 256 + 512 * 128 + 256 * 64 + 128 * 64 + 128 * 64) + 2 * (256 + 128 + 64 + 64 + 64)
               + 4 * 64 * 9 + 128 + 128 * 2 + 2)
    assert parameter_count("prop18") == encoder + decoder == 14_853_506
    # U-Net(19): two 3×3 conv + BN per level, widths 64 … 1024; 2×2 up-convolutions with bias
    enc = sum(cin * c * 9 + c * c * 9 + 4 * c for cin, c in ((4, 64), (64, 128), (128, 256), (256, 512), (512, 1024)))
    dec = sum(2 * c * c * 4 + c + 2 * c * c * 9 + c * c * 9 + 4 * c for c in (512, 256, 128, 64)) + 64 * 2 + 2
    assert parameter_count("unet19") == enc + dec == 31_038_274


def test_models_keep_resolution_and_width_divides_channels():
    x = torch.randn(2, 4, 64, 96)
    for name in ("prop18", "prop50", "unet19", "unet35"):
        m = build_model(name, width=16).eval()
        with torch.no_grad():
            assert m(x).shape == (2, 2, 64, 96)
    m3 = build_model("prop34", in_channels=3, num_classes=5, width=16).eval()
    assert m3(torch.randn(1, 3, 32, 32)).shape == (1, 5, 32, 32)
    # full-width Prop-18: first block 4→64 7×7 (no bias) = 12544 weights
    assert build_model("prop18").encoder_blocks[0][0].weight.numel() == 4 * 64 * 49
    assert parameter_count("prop18", width=8) < parameter_count("prop18") / 20
    with pytest.raises(BenchlibError, match="unknown model"):
        build_model("prop19")
    assert set(MODEL_NAMES) == {"unet19", "unet35", "prop18", "prop34", "prop50", "prop101", "prop152", "prop200"}


# --------------------------------------------------------------------------- loader
def _inria_like(root, n=2, size=(40, 50), bands=3, mask_values=(0, 255)):
    """Inria-style folder: RGB uint8 images (interleaved), masks 0/255."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "gt").mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 256, size + (bands,), dtype=np.uint8)
            msk = np.where(rng.random(size) < 0.3, mask_values[1], mask_values[0]).astype(np.uint8)
            tifffile.imwrite(root / split / "images" / f"city{i}.tif", img, photometric="rgb" if bands == 3 else "minisblack")
            tifffile.imwrite(root / split / "gt" / f"city{i}.tif", msk)
    return root


def test_real_format_folder_loads_through_the_same_loader(tmp_path):
    root = _inria_like(tmp_path / "inria")
    assert sd.is_dataset(root)
    ds = sd.load_dataset(root)
    s = ds["train"][0]
    raw = tifffile.imread(root / "train" / "images" / "city0.tif")
    assert s.image.shape == (40, 50, 3) and s.image.dtype == np.float32
    np.testing.assert_array_equal(s.image, raw.astype(np.float32))
    gt = tifffile.imread(root / "train" / "gt" / "city0.tif")
    np.testing.assert_array_equal(s.mask, (gt == 255).astype(np.uint8))
    found = sd.dataset(root)
    assert found.root == root and "GeoTIFF" in found.name and not found.is_twin


def test_band_sequential_geotiff_roundtrip(tmp_path):
    img = np.arange(5 * 7 * 4, dtype=np.uint16).reshape(5, 7, 4)
    sd.write_geotiff(tmp_path / "a.tif", img)
    np.testing.assert_array_equal(sd.read_geotiff(tmp_path / "a.tif"), img)
    with tifffile.TiffFile(tmp_path / "a.tif") as t:
        tags = t.pages[0].tags
        assert 33550 in tags and 33922 in tags and 34735 in tags   # pixel scale, tie point, geokeys


def test_wrong_band_count_is_an_error_naming_the_file(tmp_path):
    root = _inria_like(tmp_path / "d")
    tifffile.imwrite(root / "test" / "images" / "city1.tif", np.zeros((40, 50, 4), np.uint8), photometric="minisblack",
                     planarconfig="contig")
    with pytest.raises(BenchlibError, match=r"city1\.tif: 4 bands, expected 3"):
        sd.load_dataset(root)


def test_size_mismatch_is_an_error(tmp_path):
    root = _inria_like(tmp_path / "d")
    tifffile.imwrite(root / "train" / "gt" / "city0.tif", np.zeros((40, 49), np.uint8))
    with pytest.raises(BenchlibError, match=r"gt/city0\.tif: mask is 40×49 pixels but its image city0\.tif is 40×50"):
        sd.load_dataset(root)


def test_unexpected_label_values_are_an_error(tmp_path):
    root = _inria_like(tmp_path / "d")
    m = np.zeros((40, 50), np.uint8); m[0, 0] = 2; m[0, 1] = 1
    tifffile.imwrite(root / "train" / "gt" / "city1.tif", m)
    with pytest.raises(BenchlibError, match=r"city1\.tif: unexpected label values \[2\]"):
        sd.load_dataset(root)


def test_truncated_file_is_an_error(tmp_path):
    root = _inria_like(tmp_path / "d", size=(64, 64))
    p = root / "train" / "images" / "city0.tif"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(BenchlibError, match=r"city0\.tif: cannot read image GeoTIFF"):
        sd.load_dataset(root)


def test_page_stack_is_not_a_multiband_raster(tmp_path):
    p = tmp_path / "stack.tif"
    tifffile.imwrite(p, np.zeros((3, 8, 8), np.uint8), photometric="minisblack", metadata=None)
    tifffile.imwrite(p, np.zeros((8, 8), np.uint8), append=True)
    with pytest.raises(BenchlibError, match="stack.tif: expected one raster"):
        sd.read_geotiff(p)


def test_missing_mask_and_missing_folders(tmp_path):
    root = _inria_like(tmp_path / "d")
    (root / "test" / "gt" / "city1.tif").unlink()
    with pytest.raises(BenchlibError, match=r"city1\.tif: no mask"):
        sd.load_dataset(root)
    with pytest.raises(BenchlibError, match="not a satellite dataset folder"):
        sd.load_dataset(tmp_path)


# --------------------------------------------------------------------------- twin
def test_twin_is_deterministic_reused_and_shaped_like_the_paper(tmp_path):
    found = sd.dataset(tmp_path / "a", seed=3, scale=60, train_size=96)
    a = found.root
    assert found.is_twin and found.name == "synth-sat twin, seed 3"
    b = sd.write_twin(tmp_path / "b", seed=3, scale=60, train_size=96)
    for rel in ("train/images/D5.tif", "test/gt/D22.tif"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    assert sd.dataset(tmp_path / "a", seed=3, scale=60, train_size=96).root == a
    assert sd.dataset(tmp_path / "a", seed=4, scale=60, train_size=96).root != a   # settings name the folder
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]   # no temp folder left
    ds = sd.load_dataset(a)
    assert [s.name for s in ds["test"]] == ["D12", "D19", "D22"]
    assert sorted(s.name for s in ds["train"]) == sorted(sd.TRAIN_AREAS)
    d12 = next(s for s in ds["test"] if s.name == "D12")
    assert d12.image.shape == (75, 100, 4)     # 4500 / 60, 6000 / 60
    assert 0.03 < d12.mask.mean() < 0.4
    # different sensors: per-band means of the areas differ
    means = np.array([s.image.reshape(-1, 4).mean(0) for s in ds["train"] + ds["test"]])
    assert means.std(0).min() > 10


# --------------------------------------------------------------------------- tiling and stitching
def test_tile_starts_by_hand():
    assert ev.tile_starts(100, 32, 20) == [0, 20, 40, 60, 68]
    assert ev.tile_starts(20, 32, 10) == [0]
    assert ev.tile_starts(64, 32, 32) == [0, 32]


def test_scene_within_one_tile_equals_direct_forward_pass():
    torch.manual_seed(0)
    model = build_model("prop18", width=16).eval()
    img = torch.randn(4, 64, 96)
    fn = ev.model_fn(model, torch.device("cpu"))
    out = ev.predict_scene(fn, img, tile=128, stride=64, multiple=32)
    with torch.no_grad():
        direct = model(img[None]).softmax(1)[0]
    torch.testing.assert_close(out, direct, rtol=0, atol=0)


def test_larger_scene_every_pixel_covered_and_weights_sum_to_one():
    H, W, tile, stride = 100, 130, 32, 20
    cnt = np.zeros((H, W), np.int64)          # how many windows cover each pixel
    for y, x, h, w in ev.tile_windows(H, W, tile, stride):
        cnt[y:y + h, x:x + w] += 1
    # rows: starts 0, 20, 40, 60, 68 -> rows 68..71 lie in three tiles; columns: starts 0, 20, ..., 80, 98
    # -> at most two; so at most 3 × 2 = 6 windows, and the corner pixel is in one
    assert cnt.min() >= 1 and cnt.max() == 6 and cnt[0, 0] == 1 and cnt[70, 100] == 6
    total = np.zeros((H, W))
    for y, x, h, w in ev.tile_windows(H, W, tile, stride):
        total[y:y + h, x:x + w] += 1.0 / cnt[y:y + h, x:x + w]
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)


def test_identity_model_reproduces_input_exactly_through_tiling_and_stitching():
    img = torch.randn(3, 100, 130)
    out = ev.predict_scene(lambda x: x, img, tile=48, stride=20, multiple=32)   # padded to 64, cropped back
    assert torch.equal(out, img)


def test_overlaps_are_averaged():
    # each tile outputs its own index: where two tiles overlap the result is their mean
    calls = iter(range(100))
    out = ev.predict_scene(lambda x: torch.stack([torch.full_like(t, float(next(calls))) for t in x]),
                            torch.zeros(1, 10, 16), tile=10, stride=8, batch=1)
    assert ev.tile_starts(16, 10, 8) == [0, 6]
    assert out[0, 0, 0] == 0 and out[0, 0, 15] == 1 and out[0, 0, 7] == 0.5


# --------------------------------------------------------------------------- samples
def _scene(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return sd.Scene("X", rng.random((h, w, 4)).astype(np.float32), (rng.random((h, w)) < 0.3).astype(np.uint8))


def test_train_and_validation_areas_are_disjoint():
    s = _scene(200, 150)
    cfg = tr.SampleConfig(tile=64, stride=24, crop=32, val_fraction=0.2)
    train, val = tr.split_train_val(s, cfg)
    # validation band = bottom max(crop, 0.2 × 200) = 40 rows, from row 160; crops centred in it
    assert {y for y, _ in val} == {164}
    assert all(y + cfg.tile <= 160 for y, _ in train)
    assert len(val) == 5 and len(train) == len(ev.tile_starts(160, 64, 24)) * len(ev.tile_starts(150, 64, 24))
    with pytest.raises(BenchlibError, match="too small"):
        tr.split_train_val(_scene(70, 150), cfg)


def test_augment_shapes_and_labels():
    s = _scene(64, 64)
    rng = np.random.default_rng(1)
    for _ in range(10):
        img, msk = tr.augment(s.image, s.mask, 32, rng)
        assert img.shape == (32, 32, 4) and msk.shape == (32, 32)
        assert set(np.unique(msk)) <= {0, 1}


def test_colour_jitter_is_a_per_band_gain_and_offset_and_off_draws_nothing():
    s = _scene(64, 64)
    img = s.image.astype(np.float32)
    # jitter 0 draws nothing more from the generator (the runs without it are unchanged)
    r0, r1 = np.random.default_rng(5), np.random.default_rng(5)
    plain = tr.augment(img, s.mask, 32, r0)
    same = tr.augment(img, s.mask, 32, r1, 0.0)
    assert np.array_equal(plain[0], same[0]) and r0.bit_generator.state == r1.bit_generator.state
    # with jitter the geometry draws are the same; each band is then a * x + b with |a − 1|, |b| ≤ jitter
    r2 = np.random.default_rng(5)
    jit, msk = tr.augment(img, s.mask, 32, r2, 0.3)
    assert np.array_equal(msk, plain[1])
    for c in range(4):
        a, b = np.polyfit(plain[0][..., c].ravel(), jit[..., c].ravel(), 1)
        assert abs(a - 1) <= 0.3 + 1e-4 and abs(b) <= 0.3 + 1e-4
    assert not np.allclose(jit, plain[0])


def test_prior_bias_starts_the_classifier_at_the_class_shares():
    samples = _tiny_samples()
    share = float(np.mean([m.mean() for _, m in samples.train]))
    cfg = tr.TrainConfig(batch=2, max_epochs=1, width=16, monitor="cost", prior_bias=True, lr=0.0)
    t = tr.train_model("prop18", samples, cfg, torch.device("cpu"), 0, 4)
    torch.testing.assert_close(t.model.classifier.bias.softmax(0),
                               torch.tensor([1 - share, share]), rtol=0, atol=1e-6)



def test_prior_bias_on_masks_without_buildings_is_a_clear_error():
    samples = _tiny_samples()
    samples.train = [(img, np.zeros_like(m)) for img, m in samples.train]
    cfg = tr.TrainConfig(batch=2, max_epochs=1, width=16, monitor="cost", prior_bias=True, lr=0.0)
    with pytest.raises(BenchlibError, match="building share is 0.*both classes"):
        tr.train_model("prop18", samples, cfg, torch.device("cpu"), 0, 4)


def test_a_saved_training_is_not_resumed_under_the_other_normalisation():
    # the samples' pixels differ between "train" and "scene", so their keys must too
    samples, cfg = _tiny_samples(), tr.TrainConfig()
    key = lambda norm: tr.checkpoint_key("prop18", 0, cfg, samples, 4, ("root", "sig"), "cpu", norm)  # noqa: E731
    assert key("train") != key("scene") and key("scene") == key("scene")

class _Stubborn(torch.nn.Module):
    """Predicts 'ground' everywhere on its first `k` validations, then 'building' everywhere."""

    def __init__(self, k):
        super().__init__()
        self.k, self.calls, self.w = k, 0, torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        if self.training:
            return torch.zeros(x.shape[0], 2, *x.shape[2:]) + self.w
        self.calls += 1
        found = self.calls > self.k * 2          # validation runs in batches: 2 per epoch below
        out = torch.zeros(x.shape[0], 2, *x.shape[2:])
        out[:, 1 if found else 0] = 1.0
        return out


def _tiny_samples():
    s = _scene(120, 64, seed=3)
    cfg = tr.SampleConfig(tile=64, stride=64, crop=32, val_fraction=0.2)
    return tr.Samples.build([s], sd.Normaliser.fit([s]), cfg)


def test_plateau_epochs_do_not_count_towards_the_budget_or_the_schedule():
    samples = _tiny_samples()
    assert len(samples.val) == 2                 # one validation batch of 1 crop each: 2 calls per epoch
    cfg = tr.TrainConfig(batch=1, lr=0.1, lr_step=1, lr_gamma=0.5, max_epochs=3, patience=5)
    h = tr.fit(_Stubborn(3), samples, cfg, seed=0, device=torch.device("cpu"))
    # 3 epochs at F1 = 0 (not counted, learning rate untouched), then 3 counted epochs
    assert list(h["val_f1"] > 0) == [False] * 3 + [True] * 3
    assert list(h["lr"]) == [0.1, 0.1, 0.1, 0.1, 0.05, 0.025]
    # a network that never leaves the plateau: max_epochs plateau epochs, then counted epochs at
    # F1 0 until the patience runs out (one to set the best, one without improvement)
    never = tr.fit(_Stubborn(100), samples, tr.TrainConfig(batch=1, max_epochs=2, patience=1),
                   seed=0, device=torch.device("cpu"))
    assert len(never) == 4 and (never["val_f1"] == 0).all()
    # monitoring the cost (the paper's rule): a plain count of epochs
    cost = tr.fit(_Stubborn(3), samples, tr.TrainConfig(batch=1, max_epochs=2, patience=5, monitor="cost"),
                  seed=0, device=torch.device("cpu"))
    assert len(cost) == 2
    with pytest.raises(BenchlibError, match="monitor"):
        tr.fit(_Stubborn(0), samples, tr.TrainConfig(monitor="iou"), seed=0, device=torch.device("cpu"))


def test_normaliser_zero_mean_unit_std():
    s = _scene(30, 40)
    n = sd.Normaliser.fit([s])
    z = n(s.image).reshape(-1, 4)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)


# --------------------------------------------------------------------------- scores
def test_block_counts_and_pooled_scores_by_hand():
    pred = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1]])
    mask = np.array([[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]])
    c = ev.block_counts(pred, mask, 2)
    # blocks: top-left TP2 FP1 TN1; top-right FN1 TN3; bottom-left TN4; bottom-right TP2 FP1 TN1
    np.testing.assert_array_equal(c, [[2, 1, 0, 1], [0, 0, 1, 3], [0, 0, 0, 4], [2, 1, 0, 1]])
    u = ev.area_units({"A": c}, ["A"])
    # pooled TP 4, FP 2, FN 1 -> F1 = 8 / 11; accuracy 13 / 16
    assert ev.mean_score(u.sum(0), "F1") == pytest.approx(100 * 8 / 11)
    assert ev.mean_score(u.mean(0), "accuracy") == pytest.approx(100 * 13 / 16)
    valid = np.ones((4, 4), bool); valid[:2, :2] = False
    assert ev.block_counts(pred, mask, 2, valid)[0].sum() == 0
    # two areas: the mean of the per-area scores, each pooled over its own blocks only
    other = np.array([[1, 0, 1, 2]])                     # F1 2/3, accuracy 3/4
    u2 = ev.area_units({"A": c, "B": other}, ["A", "B"])
    assert u2.shape == (5, 8) and (u2[4, :4] == 0).all() and (u2[:4, 4:] == 0).all()
    assert ev.mean_score(u2.sum(0), "F1") == pytest.approx(100 * (8 / 11 + 2 / 3) / 2)
    assert ev.mean_score(u2.sum(0), "accuracy") == pytest.approx(100 * (13 / 16 + 3 / 4) / 2)
    with pytest.raises(BenchlibError, match="unknown metric"):
        ev.mean_score(u.sum(0), "IoU")


def test_measurements_pool_seeds_and_pair_models():
    a = {"A": np.array([[2, 1, 0, 1], [0, 0, 1, 3]])}     # TP 2, FP 1, FN 1: F1 4 / 6
    b = {"A": np.array([[1, 0, 1, 2], [0, 1, 1, 2]])}     # TP 1, FP 1, FN 2: F1 2 / 5
    evals = [ev.Evaluation({}, {}, a), ev.Evaluation({}, {}, b)]
    # pooled over both seeds: TP 3, FP 2, FN 3 -> F1 6 / 11
    assert ev.pooled_score(evals, ["A"], "F1") == pytest.approx(100 * 6 / 11)
    assert ev.seed_scores(evals, ["A"], "F1") == pytest.approx([100 * 4 / 6, 100 * 2 / 5])
    m = ev.score_measurement(evals, ["A"], "F1")
    assert m.n_seeds == 2 and m.n_units == 2 and m.shared_units and m.effect() == pytest.approx(100 * 6 / 11)
    assert m.bounds == (0.0, 100.0)
    d = ev.counts_measurement([[a, b]], ["A"], [[1, -1]], bounds=(-100, 100))
    assert ev.pooled_value(d) == pytest.approx(100 * (4 / 6 - 2 / 5)) == pytest.approx(d.effect())
    same = ev.counts_measurement([[a, a], [b, b]], ["A"], [[1, -1]], bounds=(-100, 100))
    from benchlib.claims import interval
    # a network against itself: effect 0 in every seed and block; the engine gives a statistic that is
    # flat in the data no interval rather than a falsely exact one
    assert ev.pooled_value(same) == 0 and interval(same) == pytest.approx((0.0, 0.0), abs=1e-6)   # every part gives 0
    # the smaller of two differences: min(F1(a) − F1(b), F1(b) − F1(a)) = −(4/6 − 2/5), a and b in both seeds
    both = ev.counts_measurement([[a, b], [a, b]], ["A"], [[1, -1], [-1, 1]], bounds=(-100, 100))
    assert both.effect() == pytest.approx(-100 * (4 / 6 - 2 / 5))
    # the statistic is a named function of JSON parameters (recompute re-imports it) and scores a stack
    # of column-mean rows at once, row by row the same as one call per row
    assert both.stat.name == "benchlib.chapters.satellite_resnet.evaluate:scores_stat"
    assert both.stat.params == {"k": 4, "metric": "F1", "w": [[1.0, -1.0], [-1.0, 1.0]]}
    rows = np.random.default_rng(0).integers(1, 9, size=(7, 8)).astype(float)
    np.testing.assert_allclose(both.stat(rows), [both.stat(r) for r in rows])
    for metric in ev.METRICS:
        np.testing.assert_array_equal(ev.mean_score(rows, metric), [ev.mean_score(r, metric) for r in rows])


def test_rescoring_an_evaluation_equals_evaluating_again_on_those_pixels():
    """Table III's unrefined rows re-score Table II's predictions outside the refinement regions
    instead of predicting the scenes again: same counts as a fresh evaluation."""
    import torch

    from benchlib.chapters.satellite_resnet.data import Normaliser, Scene

    rng = np.random.default_rng(0)
    scenes = [Scene(f"S{i}", rng.normal(size=(40, 56, 3)).astype(np.float32),
                    (rng.random((40, 56)) < 0.3).astype(np.uint8)) for i in range(2)]
    norm = Normaliser(np.zeros(3, np.float32), np.ones(3, np.float32))
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 2, 3, padding=1).eval()
    valid = {s.name: rng.random(s.mask.shape) < 0.6 for s in scenes}
    full = ev.evaluate(model, scenes, norm, 32, 24, torch.device("cpu"), 8)
    again = ev.evaluate(model, scenes, norm, 32, 24, torch.device("cpu"), 8, valid)
    re = ev.rescore(full, scenes, 8, valid)
    for s in scenes:
        np.testing.assert_array_equal(re.counts[s.name], again.counts[s.name])
        assert re.counts[s.name].sum() == valid[s.name].sum() < full.counts[s.name].sum()


def test_refinement_region_and_outcome_colours():
    assert rf.refinement_region(100, 200, 0.09) == (30, 60)
    assert rf.refinement_region(50, 80, 0.01, min_side=32) == (32, 32)
    m = rp.outcome_map(np.array([[1, 1, 0, 0]]), np.array([[1, 0, 0, 1]]))
    np.testing.assert_allclose(m[0], [rp.OUTCOME_COLOURS[k] for k in ("TP", "FP", "TN", "FN")], atol=1e-6)


def _fake_run(scene, prob):
    from types import SimpleNamespace

    e = ev.Evaluation({"X": prob}, {"X": 0.0}, {"X": ev.block_counts(prob > 0.5, scene.mask, 16)})
    return SimpleNamespace(test=[scene], areas=["X"], evals={"Prop-18": [e]}, refinements={})


def test_explorer_redraws_scores_when_the_threshold_moves():
    s = _scene(32, 32)
    prob = np.where(s.mask == 1, 0.7, 0.2).astype(np.float32)
    run = _fake_run(s, prob)
    probs = rp.probabilities(run)
    assert "X 100.0" in rp.explorer_figure(run, probs, "X", "Prop-18", 0.5)._suptitle.get_text()  # perfect
    assert "X 0.0" in rp.explorer_figure(run, probs, "X", "Prop-18", 0.8)._suptitle.get_text()    # nothing
    box = rp.explorer(run)
    controls, image = box.children
    assert bytes(image.value)[:4] == b"\x89PNG"
    first = bytes(image.value)
    controls.children[2].value = 0.8
    assert bytes(image.value) != first


def test_unknown_network_names_are_an_error_before_any_work():
    from benchlib.chapters.satellite_resnet import pipeline

    with pytest.raises(BenchlibError, match="unknown network.*'prop19'"):
        pipeline.run(pipeline.Config(refine_models=["prop19"], data_root="/nonexistent"))


def test_paper_layout_of_table_2():
    from benchlib.chapters.satellite_resnet import SPEC
    from benchlib.results import ChapterResults, check_tables

    res = ChapterResults(SPEC.id, "smoke")
    res.add("2", "Prop-18", "F1", 60.0, dataset="t", subset="D12")
    res.compare_with_paper("2")
    res.add("2", "Prop-18", "F1", 61.0, dataset="t", subset="mean", ci=(59.0, 63.5))
    res.add("2", "Prop-18", "F1", 62.0, dataset="t", subset="mean", seed=0)
    t = check_tables(res, rp.tables(res, None))["2"]
    assert t.loc[("Prop-18", "95% CI"), ("mean", "F1")] == "[59.0, 63.5]"
    assert t.loc[("Prop-18", "95% CI"), ("D12", "F1")] == ""
    assert t.loc[("Prop-18", "paper"), ("D12", "F1")] == "57.1"
    assert t.loc[("Prop-18", "Δ"), ("D12", "F1")] == "+2.9"
    assert t.loc[("Prop-18", "ours"), ("D12", "F1")] == "60.0"
    assert t.loc[("Prop-18", "ours"), ("mean", "F1")] == "61.0"      # the mean row, not the per-seed row


def test_table1_layout_pairs_feature_maps_and_convolutions():
    from benchlib.chapters.satellite_resnet import SPEC
    from benchlib.results import ChapterResults

    res = ChapterResults(SPEC.id, "smoke")
    rp._table1(res)
    t = rp.tables(res, None)["1"]
    assert list(t.index[:2]) == ["encoder · U-Net(19)", "encoder · U-Net(35)"]
    assert t.index[-1] == "decoder · Prop-200"
    assert t.loc["encoder · Prop-18", ("Block 1", "feature_maps")] == "64 (64)"
    assert t.loc["encoder · Prop-18", ("Block 1", "convolutions")] == "1 (1)"


def test_refinement_steps_follow_the_part_area(monkeypatch):
    """The paper refines for 100 epochs on either part: the small part gets steps in proportion
    to its area (8 on 15 % → 4 on 7 %, at least 1); every area is refined at each size."""
    from benchlib.chapters.satellite_resnet.data import Normaliser, Scene

    calls = []

    def fake_refine(trained, scene, norm, fraction, cfg, crop, steps, device, seed):
        calls.append((scene.name, fraction, steps))
        return trained.model, rf.refinement_region(*scene.mask.shape, fraction, 1)

    monkeypatch.setattr(rf, "refine", fake_refine)
    rng = np.random.default_rng(0)
    scenes = [Scene(n, rng.normal(size=(32, 48, 3)).astype(np.float32), (rng.random((32, 48)) < 0.3).astype(np.uint8))
              for n in ("A", "B")]
    model = torch.nn.Conv2d(3, 2, 1).eval()
    t = tr.Trained("prop18", model, None, 0.0, 0)
    norm = Normaliser(np.zeros(3, np.float32), np.ones(3, np.float32))
    for steps, small in ((8, 4), (2000, 933), (1, 1)):
        calls.clear()
        rf.refine_and_evaluate(t, scenes, norm, {"small": 0.07, "large": 0.15}, tr.TrainConfig(), 16, steps,
                               torch.device("cpu"), 0, 32, 24, 8)
        assert sorted(calls) == sorted([(n, 0.07, small) for n in "AB"] + [(n, 0.15, steps) for n in "AB"])


@pytest.mark.parametrize("unit", ["BasicBlock", "Bottleneck"])
@pytest.mark.parametrize("stride", [1, 2])
def test_residual_units_equal_torchvisions(unit, stride):
    """The chapter writes ResNet's two units itself (importing torchvision.models costs ~3 s):
    same parameter names and shapes, same initial weights from the same seed, same outputs."""
    from torchvision.models import resnet as tv

    from benchlib.chapters.satellite_resnet import models as sm

    ours_cls, theirs_cls = getattr(sm, unit), getattr(tv, unit)
    planes, inplanes = 8, 12
    out = planes * ours_cls.expansion
    assert ours_cls.expansion == theirs_cls.expansion
    built = []
    for cls, c1 in ((ours_cls, sm.conv1x1), (theirs_cls, tv.conv1x1)):
        torch.manual_seed(0)
        down = torch.nn.Sequential(c1(inplanes, out, stride), torch.nn.BatchNorm2d(out))
        built.append(cls(inplanes, planes, stride, down).train())
    a, b = (m.state_dict() for m in built)
    assert list(a) == list(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    x = torch.randn(3, inplanes, 16, 16)
    torch.testing.assert_close(built[0](x), built[1](x), rtol=0, atol=0)


def test_onecycle_runs_every_epoch_on_the_cycles_learning_rate():
    samples = _tiny_samples()
    assert len(samples.train) == 2               # batch 1: 2 steps per epoch, 6 in all
    cfg = tr.TrainConfig(batch=1, lr=0.1, max_epochs=3, patience=1, schedule="onecycle")
    # never leaves the F1 = 0 plateau and never improves: the step schedule would stop or extend;
    # the cycle runs its 3 epochs
    h = tr.fit(_Stubborn(100), samples, cfg, seed=0, device=torch.device("cpu"))
    assert len(h) == 3
    # rate of each epoch's last step t = 1, 3, 5: warm-up ends at step 0.25 × 6 − 1 = 0.5, then a
    # cosine from 0.1 down to 0.1 / 25 / 1e4 at step 5
    low = 0.1 / 25 / 1e4
    expect = [low + (0.1 - low) * (1 + math.cos(math.pi * (t - 0.5) / 4.5)) / 2 for t in (1, 3, 5)]
    np.testing.assert_allclose(h["lr"], expect, rtol=1e-9)
    np.testing.assert_allclose(expect[:2], [0.0969846, 0.0413176], rtol=1e-5)   # cos 20°, cos 100°
    with pytest.raises(BenchlibError, match="optimizer must be one of sgd, adamw.*'adam'"):
        tr.fit(_Stubborn(0), samples, tr.TrainConfig(optimizer="adam"), seed=0, device=torch.device("cpu"))


class _Bias(torch.nn.Module):
    """Logits (0, w): one learnable number, so one optimiser step can be worked out by hand."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return torch.stack([torch.zeros_like(x[:, 0]), torch.zeros_like(x[:, 0]) + self.w], 1)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_first_step_of_each_optimizer_by_hand(optimizer):
    samples = _tiny_samples()
    # one epoch (monitoring the cost: no plateau epochs added) of one step on both tiles
    cfg = tr.TrainConfig(batch=2, lr=0.01, max_epochs=1, optimizer=optimizer, monitor="cost")
    model = _Bias()
    assert len(tr.fit(model, samples, cfg, seed=0, device=torch.device("cpu"))) == 1
    # gradient at w = 0: mean over pixels of (p_building − y) = 0.5 − share of building pixels, which
    # lies in (−0.5, 0.5); SGD moves w by −lr · g (|w| < lr / 2), AdamW by −lr · sign(g) (weight decay
    # acts on w = 0: nothing)
    w = float(model.w.detach())
    if optimizer == "adamw":
        assert abs(abs(w) - 0.01) < 1e-6
    else:
        assert 0 < abs(w) < 0.005


def test_scene_normaliser_cancels_a_sensors_gain_and_offset():
    s = _scene(30, 40)
    z = sd.SceneNormaliser()(s.image)
    np.testing.assert_allclose(z.reshape(-1, 4).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.reshape(-1, 4).std(0), 1, atol=1e-4)
    other_sensor = s.image * np.float32([1.3, 0.8, 1.1, 0.7]) + np.float32([0.2, -0.1, 0.05, 0.3])
    np.testing.assert_allclose(sd.SceneNormaliser()(other_sensor), z, atol=1e-4)
    # the training images' normaliser does not: the other sensor's blue band comes out ≈ 1.2 SD off
    # ((0.5 · 1.3 + 0.2 − 0.5) / 0.29)
    train = sd.Normaliser.fit([s])
    assert np.abs(train(other_sensor).reshape(-1, 4).mean(0)).max() > 1


def test_unknown_optimizer_schedule_or_normalisation_is_an_error_before_any_work():
    from benchlib.chapters.satellite_resnet import pipeline

    for name, value in (("optimizer", "adam"), ("schedule", "cosine"), ("normalise", "image")):
        with pytest.raises(BenchlibError, match=f"{name} must be one of .*'{value}'"):
            pipeline.run(pipeline.Config(**{name: value}, data_root="/nonexistent"))
