"""The shared EfficientNet-Lite0 loader: the real weights classify a real photo; bad files are refused."""
import os

import numpy as np
import pytest
import torch

from benchlib import BenchlibError
from benchlib.pretrained import FEATURE_CHANNELS, N_PARAMETERS, efficientnet_lite0, preprocess, weights_file

MILITARY_UNIFORM = 652  # ImageNet class of the classic Grace Hopper portrait


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return efficientnet_lite0()


def test_parameter_count(model):
    # 4.652 M: stem 864+64, 16 MBConv blocks, head 409 600+2 560, classifier 1 281 000 (published 4.652M)
    assert sum(p.numel() for p in model.parameters()) == N_PARAMETERS


def test_real_photo_is_classified(model):
    """matplotlib ships the Grace Hopper photo; an ImageNet network calls it 'military uniform'."""
    import matplotlib
    from PIL import Image

    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    img = np.asarray(Image.open(path).convert("RGB"))
    with torch.no_grad():
        logits = model(preprocess(img))
    assert int(logits.argmax()) == MILITARY_UNIFORM
    # random weights do not find it (the test can fail)
    torch.manual_seed(0)
    from benchlib.pretrained import EfficientNetLite0

    with torch.no_grad():
        assert int(EfficientNetLite0().eval()(preprocess(img)).argmax()) != MILITARY_UNIFORM


def test_features_strides(model):
    with torch.no_grad():
        feats = model.features(torch.zeros(1, 3, 64, 96))
    assert [f.shape[1] for f in feats] == list(FEATURE_CHANNELS)
    assert [tuple(f.shape[2:]) for f in feats] == [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]


def test_corrupt_truncated_and_wrong_files_are_refused(tmp_path):
    data = weights_file().read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(BenchlibError, match="SHA-256"):
        efficientnet_lite0(truncated)
    with pytest.raises(BenchlibError, match="cannot be read"):
        efficientnet_lite0(truncated, check_hash=False)
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(BenchlibError, match="does not match"):
        efficientnet_lite0(wrong, check_hash=False)
    nan = tmp_path / "nan.pth"
    state = torch.load(weights_file(), weights_only=True)
    state["_fc.bias"][0] = float("nan")
    torch.save(state, nan)
    with pytest.raises(BenchlibError, match="non-finite"):
        efficientnet_lite0(nan, check_hash=False)
    with pytest.raises(BenchlibError, match="not found"):
        efficientnet_lite0(tmp_path / "absent.pth")


def test_preprocess_rejects_non_images():
    with pytest.raises(BenchlibError, match="uint8"):
        preprocess(np.zeros((8, 8, 3), np.float32))
    x = preprocess(np.full((10, 20, 3), 255, np.uint8), size=16)
    assert x.shape == (1, 3, 16, 16) and torch.allclose(x, torch.full_like(x, (1 - 127 / 255) / (128 / 255)))
