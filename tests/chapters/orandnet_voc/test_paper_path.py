"""The paper profile's path through `pipeline.run` (issue 18 item 3), once per device: a real-format
VOCdevkit written by hand (`test_data._devkit`: JPEGs, palette PNGs with void, XML, split lists),
the paper's networks (torchvision ResNet-50 at output stride 16, ViT-B/16 — full size), the user's
weight files written by this test and read back through the chapter's own parameters, one epoch per
stage. `test_paper_networks.py` covers the ImageNet-file loaders alone; here it is the whole paper
configuration: four CAM scales, the three-step scale schedule, the mechanism control, the paper's
thread setting, and the classifier-checkpoint parameter (`vit_checkpoint`) that skips training.

Reduced from the paper profile (and why): image_size 32 instead of 320 and 1 epoch per stage (CPU
time), one seed instead of three (the seeds repeat the same path).
"""
import numpy as np
import pytest
import torch

from benchlib import BenchlibError
from benchlib.chapters.orandnet_voc import SPEC
from benchlib.chapters.orandnet_voc import models as M
from benchlib.chapters.orandnet_voc import pipeline as P
from benchlib.chapters.orandnet_voc.control import REGIMES

from tests._paper_trees import DEVICES, assert_finite, one_thread, paper_config  # noqa: F401 (one_thread: a fixture)

from .test_data import _devkit

# every test: one torch thread, the budget the runner gives a chapter (see tests/_paper_trees.py)
pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = 32  # a multiple of ViT-B/16's patch; ResNet-50 at output stride 16 gives a 2×2 CAM


def _config(root, device, **kw):
    return paper_config(SPEC, P.Config, device, data_root=str(root), image_size=SIZE, n_seeds=1, cls_epochs=1,
                        vit_epochs=1, orand_epochs=1, aff_epochs=1, seg_epochs=1,
                        checkpoint_dir=str(root / "checkpoints"), **kw)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The user's files: torchvision ResNet-50 ImageNet-format weights, and a state dict of the
    chapter's own ViT-B/16 classifier (as a user would save one after training it elsewhere)."""
    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(1)
    from torchvision.models import resnet50

    torch.save(resnet50().state_dict(), d / "resnet50_imagenet.pth")
    vit = M.vit_b16_cam(SIZE)
    torch.nn.init.normal_(vit.head.weight, std=0.5)  # CAMs far from a fresh init's
    torch.save(vit.state_dict(), d / "vit_classifier.pth")
    return {"resnet_weights": d / "resnet50_imagenet.pth", "vit_checkpoint": d / "vit_classifier.pth"}


@pytest.mark.parametrize("device", DEVICES)
def test_paper_profile_runs_on_a_real_devkit(tmp_path, files, device):
    root, ids, masks = _devkit(tmp_path, n=3)
    cfg = _config(tmp_path, device, resnet_weights=str(files["resnet_weights"]),
                  vit_checkpoint=str(files["vit_checkpoint"]))
    assert cfg.backbones == "paper" and len(cfg.cam_scales) == 4 and len(cfg.scale_schedule) == 3
    assert cfg.checkpoint_every == 1  # the paper profile checkpoints every training stage …
    run = P.run(cfg, log=lambda *_: None)
    assert not (tmp_path / "checkpoints").exists()  # … and removes them once everything is measured

    assert run.dataset.startswith("PASCAL VOC 2012 at ") and "twin" not in run.dataset
    assert run.train.ids == ids[:2] and run.val.ids == ids[2:] and run.config.device == device
    assert torch.get_num_threads() == 1  # the paper's threads = 0 took the runner's budget
    s = run.seeds[0]
    # every CAM set: one k×S×S map per train image (k = its labelled classes), max-normalised
    for m in P.TABLE1_METHODS:
        assert [c.shape for c in s.cams[m]] == [(len(cl), SIZE, SIZE) for cl in run.train.classes], m
        assert all(np.isfinite(c).all() and c.min() >= 0 and c.max() <= 1 + 1e-5 for c in s.cams[m]), m
        assert np.isfinite(s.thresholds[m]) and s.train_cms[m].shape == (len(run.report_idx), 21, 21)
    # the ViT classifier came from the user's file (training skipped): its CAMs are the file's
    net = M.vit_b16_cam(SIZE)
    net.load_state_dict(torch.load(files["vit_checkpoint"], weights_only=True))
    x = M.to_tensor(run.train.images)
    expect = M.compute_cams(net.to(device), x.to(device), run.train.labels, scales=(1.0,))
    atol = 2e-2 if device == "cuda" else 1e-5  # bf16 autocast on CUDA
    for got, want in zip(s.cams[P.VIT], expect):
        np.testing.assert_allclose(got, want, atol=atol)
    # second stage: the four sources plus ORANDNet + RW with the paper's scale schedule
    assert len(s.val_cms) == len(P.STAGE2_METHODS) + 1 and any(P.SCHED in n for n in s.val_cms)
    for name, pred in s.val_preds.items():
        assert pred.shape == (1, SIZE, SIZE) and pred.max() <= 20, name
        assert s.val_cms[name].shape == (1, 21, 21) and s.val_cms[name].sum() == (run.val.masks != 255).sum()
    for key in ("miou", "mprecision", "mrecall"):
        assert_finite(run.point("train_cms", P.ORAND, key), key)
    # the mechanism control runs on the true masks (paper profile keeps n_control)
    assert set(run.control) == set(REGIMES)
    assert all(np.isfinite(c.point("train_cms", P.ORAND, "miou")) for c in run.control.values())


def test_a_wrong_or_corrupt_classifier_checkpoint_is_named(tmp_path):
    """The checkpoint parameters refuse, naming the file: bytes that are no checkpoint, NaN weights
    (a diverged run) and a state dict of another network (the small profile's ResNet)."""
    _devkit(tmp_path, n=3)
    corrupt, nan, small = tmp_path / "corrupt.pth", tmp_path / "diverged.pth", tmp_path / "small_resnet.pth"
    corrupt.write_bytes(b"PK\x03\x04 truncated zip")
    sd = M.ResNet50CAM().state_dict()
    sd["classifier.weight"][0, 0] = float("nan")
    torch.save(sd, nan)
    torch.save(M.ResNetCAM().state_dict(), small)
    for path, problem in ((corrupt, "cannot load checkpoint"), (nan, "NaN or infinite"),
                          (small, "not a state_dict of this chapter's resnet classifier")):
        with pytest.raises(BenchlibError, match=f"{path.name}.*{problem}"):
            P.run(_config(tmp_path, "cpu", resnet_checkpoint=str(path), n_control=0), log=lambda *_: None)
