"""The paper profile's path through `pipeline.run` (issue 18 item 3), once per device: two saliency
folders written by this test with PIL (`Image/*.jpg` + `GT/*.png` 0/255; the paper-shaped one also
with `Instances/<id>.json` boxes, classes and co-salient flags, a distractor in every image, and
`Salient/*.png`; the SDCS-shaped one without, so its boxes come from the ground truth), the paper's
network — the frozen ImageNet VGG-16 encoder from the user's weight file (written by this test,
torchvision's `vgg16().features` state dict) and the full-width U-Net head that mirrors it
(`width` = 0), decoding to stride 1, features encoded per batch — all seven Table 1 columns, batch
size 1, and both full-width timing rows.

Reduced from the paper profile (and why), all for CPU time: 48-px training / inference squares
instead of 384 (a 3×3 grid for R), one epoch and one seed instead of 30 × 3, one timed repeat
instead of 20, and the speed rows measured at 64×48 instead of the paper's 450×256 and 808×1078:
the pipeline has no parameter for those sizes, so `measure_fps` is wrapped to pass a small one
(VGG-16 alone at 808×1078 is ~270 GFLOP, tens of seconds of CPU per call, and the rows make
several calls).
"""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.vgg import cfgs, make_layers  # torchvision's vgg16(_bn)().features, without the classifier

from benchlib import BenchlibError
from benchlib.chapters.cosaliency import SPEC
from benchlib.chapters.cosaliency import pipeline as P

from tests._paper_trees import DEVICES, assert_finite, one_thread, paper_config  # noqa: F401 (one_thread: a fixture)

# every test: one torch thread, the budget the runner gives a chapter (see tests/_paper_trees.py)
pytestmark = pytest.mark.usefixtures("one_thread")


SIZE = 48
FPS_SIZE = (64, 48)  # (width, height), as the paper's sizes are given


def _saliency_folder(root, n, instances: bool, seed: int):
    """`n` images 80×60 with two co-salient discs (in GT) and, with `instances`, a square distractor
    (not in GT; in Salient/ and in the instance file with "cosalient": false)."""
    rng = np.random.default_rng(seed)
    dirs = ["Image", "GT"] + (["Instances", "Salient"] if instances else [])
    for d in dirs:
        (root / d).mkdir(parents=True)
    yy, xx = np.mgrid[0:60, 0:80]
    for i in range(n):
        img = rng.integers(90, 140, (60, 80, 3), dtype=np.uint8)
        gt = np.zeros((60, 80), np.uint8)
        objects = []
        for cx in (18 + int(rng.integers(0, 4)), 44 + int(rng.integers(0, 4))):
            disc = (yy - 20) ** 2 + (xx - cx) ** 2 <= 64
            img[disc], gt[disc] = (200, 40, 40), 255
            objects.append({"box": [cx - 8, 12, cx + 9, 29], "class": "disc", "cosalient": True})
        salient = gt.copy()
        if instances:
            img[40:54, 55:70], salient[40:54, 55:70] = (40, 40, 200), 255
            objects.append({"box": [55, 40, 70, 54], "class": "square", "cosalient": False})
            (root / "Instances" / f"im{i}.json").write_text(json.dumps({"objects": objects}), encoding="utf-8")
            Image.fromarray(salient).save(root / "Salient" / f"im{i}.png")
        Image.fromarray(img).save(root / "Image" / f"im{i}.jpg", quality=95)
        Image.fromarray(gt).save(root / "GT" / f"im{i}.png")
    return root


@pytest.fixture(scope="module")
def vgg_weights(tmp_path_factory):
    """The user's file: torchvision's VGG-16 `features.*` state dict (the part the encoder uses)."""
    path = tmp_path_factory.mktemp("weights") / "vgg16_features.pth"
    torch.manual_seed(4)
    torch.save({f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}, path)
    return path


@pytest.fixture
def small_fps(monkeypatch):
    """The speed rows at FPS_SIZE: `measure_fps` itself runs, on a small input."""
    real = P.measure_fps
    monkeypatch.setattr(P, "measure_fps", lambda model, device, sizes=None, repeats=1:
                        real(model, device, sizes=(FPS_SIZE,), repeats=repeats))


def _config(tmp_path, device, weights, **kw):
    cosal = _saliency_folder(tmp_path / "cosal", 3, True, 0)
    sdcs = _saliency_folder(tmp_path / "sdcs", 3, False, 1)
    return paper_config(SPEC, P.Config, device, data_root=str(cosal), sdcs_root=str(sdcs), vgg_weights=str(weights),
                        train_size=SIZE, epochs=1, n_seeds=1, fps_repeats=1, **kw)


@pytest.mark.parametrize("device", DEVICES)
def test_paper_profile_runs_on_real_saliency_folders(tmp_path, vgg_weights, device, small_fps,
                                                     monkeypatch):
    cfg = _config(tmp_path, device, vgg_weights)
    built, build = [], P.build_encoder  # keep the encoder the pipeline builds, to look at it afterwards
    monkeypatch.setattr(P, "build_encoder", lambda *a, **k: built.append(build(*a, **k)) or built[-1])
    assert len(cfg.ablation) == 7 and cfg.batch_size == 1 and cfg.full_width_fps == "both"
    run = P.run(cfg, log=lambda *_: None)

    assert torch.get_num_threads() == 1  # the paper's threads = 0 took the runner's budget
    for key, split in run.splits.items():
        assert not split.is_twin and split.dataset.startswith("saliency folder at "), key
        assert (len(split.train), len(split.test)) == (2, 1), key
    assert run.splits["cosal"].train.boxes_source == "instance files"
    # the encoder is the user's VGG-16, frozen
    (enc,) = built
    ref = torch.load(vgg_weights, weights_only=True)
    assert torch.equal(enc.features[28].weight.cpu(), ref["features.28.weight"])  # conv5_3
    assert not any(p.requires_grad for p in enc.parameters()) and str(vgg_weights) in str(run.encoder_info)
    # every Table 1 column on the paper-shaped data, Table 2's learned rows on both
    assert run.methods["cosal"][0] == "FT" and set(run.methods["cosal"][1:]) == set(cfg.ablation)
    assert set(run.methods["sdcs"][1:]) == set(P.TABLE2_METHODS.values())
    for key, split in run.splits.items():
        for name in run.methods[key]:
            maps = run.maps[key][name]
            assert [m.shape for m in maps] == [it.gt.shape for it in split.test.items], (key, name)
            assert all(np.isfinite(m).all() and 0 <= m.min() and m.max() <= 1 for m in maps), (key, name)
            for metric, values in run.scores[key][name][0].items():
                assert_finite(values, f"{key} {name} {metric}")
        for name, hist in run.histories[key].items():
            (h,) = hist  # one seed
            assert len(h) == 1 and all(np.isfinite(v) for v in h[0].values()), (key, name)
    rfm = run.histories["cosal"]["U-Net + DA + FS + RFM (online)"][0][0]
    assert rfm["rpn"] > 0 and rfm["rfm"] >= 0  # the RPN / RFM branches trained
    # the speed rows: the trained network and the full-width one, at the (reduced) size
    assert len(run.fps) == 1 and len(run.fps_full) == 1
    assert all((r["width"], r["height"]) == FPS_SIZE and r["fps"] > 0 for r in run.fps + run.fps_full)


def test_a_wrong_or_corrupt_vgg_file_is_named(tmp_path):
    """Bytes that are no checkpoint, and VGG-16 with batch norm (other layer indices): both refused
    naming the file, before any training."""
    corrupt, bn = tmp_path / "vgg16_corrupt.pth", tmp_path / "vgg16_bn.pth"
    corrupt.write_bytes(b"\x80\x02not a checkpoint")
    torch.save(make_layers(cfgs["D"], batch_norm=True).state_dict(), bn)
    for path, problem in ((corrupt, "cannot load checkpoint"), (bn, "not a VGG-16 state dict")):
        with pytest.raises(BenchlibError, match=f"{path.name}.*{problem}"):
            P.run(_config(tmp_path / path.stem, "cpu", path), log=lambda *_: None)
