"""Co-saliency chapter: the frozen encoder's feature cache gives exactly what encoding each batch on
the fly gives (plain and augmented samples, and the test path), and a head trains on it."""
import numpy as np
import pytest
import torch

from benchlib.chapters.cosaliency import data
from benchlib.chapters.cosaliency.models import VARIANTS, build_encoder
from benchlib.chapters.cosaliency.train import (
    FeatureBank, TrainConfig, augment, encode_items, fit, lr_at, new_head, predict, to_training_arrays,
)

SIZE = 64


def _cfg(**kw):
    base = dict(train_size=SIZE, width=16, out_stride=4, epochs=1, batch_size=3, lr=0.004, aug_copies=2,
                cache_features=True, device="cpu")
    return TrainConfig(**{**base, **kw})


def train_variant(variant, bank, cfg, seed, checkpoint=None, on_epoch=None):
    """The pipeline's two steps: the seeded head (models.build_head via train.new_head), then train.fit."""
    head = new_head(variant, bank.encoder, cfg, seed)
    hist = fit(head, bank, cfg, seed=seed, device=cfg.device, checkpoint=checkpoint, variant=variant,
               on_epoch=on_epoch)
    return head, hist


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("twin")
    data.write_twin(folder, "cosal", n_images=5, seed=3)
    items = data.load_saliency_folder(folder)
    return build_encoder(), items, to_training_arrays(items, SIZE)


def _encode_now(enc, imgs):
    with torch.no_grad():
        return enc(torch.as_tensor(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2))


def test_cached_plain_batch_equals_encoding_now(setup):
    enc, _, arrays = setup
    bank = FeatureBank(enc, arrays, _cfg(), seed=0)
    idx = np.array([3, 0, 4])
    stages, y, boxes, cosal = bank.batch(idx, augmented=False, rng=np.random.default_rng(0))
    now = _encode_now(enc, arrays[0][idx])
    assert stages[0] is None  # stride 2 < out_stride 4: not kept
    for a, b in zip(stages[1:], now[1:]):
        torch.testing.assert_close(a, b)
    np.testing.assert_array_equal(y[:, 0].numpy(), arrays[1][idx])
    assert all(np.array_equal(b, arrays[2][j]) for b, j in zip(boxes, idx))
    # the uncached path (paper profile) gives the same plain batch
    lazy = FeatureBank(enc, arrays, _cfg(cache_features=False), seed=0)
    for a, b in zip(lazy.batch(idx, False, np.random.default_rng(0))[0][1:], stages[1:]):
        torch.testing.assert_close(a, b)


def test_cached_augmented_batch_is_an_encoded_copy_of_a_replayed_augmentation(setup):
    enc, _, arrays = setup
    imgs, gts, boxes, cosal = arrays
    bank = FeatureBank(enc, arrays, _cfg(), seed=7)
    assert bank.copies is None  # made only when an augmented variant asks
    idx = np.array([1, 2, 4, 0])
    stages, y, bx, co = bank.batch(idx, augmented=True, rng=np.random.default_rng(1))
    # replay: copy c of image j is the (c·N + j)-th augment() draw of the bank's generator
    rng = np.random.default_rng([7, 1])
    replay = [[augment(imgs[j], gts[j], boxes[j], cosal[j], rng) for j in range(len(imgs))] for _ in range(2)]
    for k, j in enumerate(idx):
        match = [c for c in range(2) if np.array_equal(replay[c][j][1], y[k, 0].numpy())]
        assert match, f"sample {k} is none of image {j}'s augmented copies"
        c = match[0]
        np.testing.assert_array_equal(bx[k], replay[c][j][2])
        now = _encode_now(enc, replay[c][j][0][None])
        # encoded in a batch of 5 vs alone: float summation order differs
        torch.testing.assert_close(stages[-1][k:k + 1], now[-1], atol=1e-4, rtol=1e-4)


def test_predict_from_cached_test_features_equals_encoding_now(setup):
    enc, items, arrays = setup
    cfg = _cfg()
    head, hist = train_variant(VARIANTS["U-Net + DA + FS + RFM (online)"], FeatureBank(enc, arrays, cfg), cfg, 0)
    assert len(hist) == 1 and hist[0]["bce"] > 0 and hist[0]["rfm"] >= 0
    cached = predict(head, enc, items, cfg, encode_items(enc, items, cfg))
    now = predict(head, enc, items, cfg)
    for a, b, it in zip(cached, now, items.items):
        assert a.shape == it.gt.shape and a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_learning_rate_drops_tenfold_after_three_eighths_of_the_steps(setup, monkeypatch):
    """The paper's schedule (1e-5 → 1e-6 after 30k of ~80k iterations): 5 images in batches of 3 are
    2 steps per epoch, 4 epochs 8 steps; 3/8 of 8 = 3, so steps 0–2 at lr and steps 3–7 at lr / 10."""
    enc, _, arrays = setup
    cfg = _cfg(epochs=4)
    expected = [0.004] * 3 + [0.0004] * 5
    assert [lr_at(cfg, i, 8) for i in range(8)] == pytest.approx(expected)
    assert lr_at(cfg, 0, 10) == 0.004 and lr_at(cfg, 3, 10) == 0.004 and lr_at(cfg, 4, 10) == pytest.approx(0.0004)
    seen, step = [], torch.optim.Adam.step

    def spy(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    train_variant(VARIANTS["U-Net"], FeatureBank(enc, arrays, cfg), cfg, 0)
    assert seen == pytest.approx(expected)


class _Stop(Exception):
    pass


def test_an_interrupted_head_training_resumes_where_it_stopped(setup, tmp_path):
    """The paper profile checkpoints every epoch: a training killed after epoch 2 of 3 resumes with
    epoch 3 only and ends with the weights and history of an uninterrupted one (the online RFM
    variant: augmented copies, RPN sampling and triplets all draw from the saved generators)."""
    from benchlib.chapters.cosaliency.train import variant_checkpoint

    enc, _, arrays = setup
    cfg, name = _cfg(epochs=3), "U-Net + DA + FS + RFM (online)"
    bank = FeatureBank(enc, arrays, cfg, seed=0)
    ref, ref_hist = train_variant(VARIANTS[name], bank, cfg, seed=5)

    def ck():
        return variant_checkpoint(tmp_path, 1, name, "cosal", 5, cfg, bank, "lite0")

    def stop_at_2(ep):
        if ep == 2:
            raise _Stop

    with pytest.raises(_Stop):
        train_variant(VARIANTS[name], bank, cfg, seed=5, checkpoint=ck(), on_epoch=stop_at_2)
    epochs = []
    head, hist = train_variant(VARIANTS[name], bank, cfg, seed=5, checkpoint=ck(), on_epoch=epochs.append)
    assert epochs == [3] and hist == ref_hist
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(head.state_dict()[k], v, rtol=0, atol=0)
    assert variant_checkpoint(tmp_path, 0, name, "cosal", 5, cfg, bank, "lite0") is None  # 0: off
