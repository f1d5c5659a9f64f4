"""The paper profile's networks (torchvision ResNet-50 at output stride 16, ViT-B/16) loading
user-supplied ImageNet weight files, run end to end on a tiny real-format VOCdevkit (random weights)."""
import numpy as np
import pytest
import torch
from torchvision.models import resnet18, resnet50, vit_b_16

from benchlib import BenchlibError
from benchlib.chapters.orandnet_voc import models as M, pipeline as P

from .test_data import _devkit


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    files = {"resnet": d / "resnet50.pth", "vit": d / "vit_b_16.pth"}
    torch.save(resnet50().state_dict(), files["resnet"])
    torch.save(vit_b_16().state_dict(), files["vit"])  # 224-px position embeddings: resized on load
    return files


def test_imagenet_weights_load_into_the_paper_networks(weight_files):
    ref = torch.load(weight_files["resnet"], weights_only=True)
    net = M.build_classifier("resnet", 64, "paper", str(weight_files["resnet"]))
    assert torch.equal(net.backbone.layer4[2].conv3.weight, ref["layer4.2.conv3.weight"])
    # output stride 16: a 64-px image gives a 4×4 CAM
    assert net.cam(torch.zeros(1, 3, 64, 64)).shape == (1, 20, 4, 4)
    vit = M.build_classifier("vit", 32, "paper", str(weight_files["vit"]))
    ref = torch.load(weight_files["vit"], weights_only=True)
    assert torch.equal(vit.vit.encoder.layers[11].mlp[0].weight, ref["encoder.layers.encoder_layer_11.mlp.0.weight"])
    assert vit.vit.encoder.pos_embedding.shape == (1, 1 + 4, 768) and vit.cam(torch.zeros(1, 3, 32, 32)).shape == (1, 20, 2, 2)


def test_wrong_or_corrupt_weight_files_are_named(tmp_path, weight_files):
    bad = tmp_path / "corrupt.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(BenchlibError, match="corrupt.pth"):
        M.build_classifier("resnet", 64, "paper", str(bad))
    small = tmp_path / "resnet18.pth"
    torch.save(resnet18().state_dict(), small)
    with pytest.raises(BenchlibError, match="resnet18.pth.*(does not fit|not a torchvision ResNet-50)"):
        M.build_classifier("resnet", 64, "paper", str(small))
    with pytest.raises(BenchlibError, match="vit_b_16.pth.*not a torchvision ResNet-50"):
        M.build_classifier("resnet", 64, "paper", str(weight_files["vit"]))
    with pytest.raises(BenchlibError, match="backbones = 'paper'"):
        P.Config(resnet_weights=str(weight_files["resnet"]))


def test_paper_networks_run_on_a_real_format_devkit(tmp_path, weight_files):
    root, ids, _ = _devkit(tmp_path, n=3)
    cfg = P.Config(data_root=str(tmp_path), n_seeds=1, device="cpu", image_size=32, backbones="paper",
                   resnet_weights=str(weight_files["resnet"]), vit_weights=str(weight_files["vit"]),
                   cls_epochs=1, vit_epochs=1, orand_epochs=1, aff_epochs=1, seg_epochs=1, cam_scales=[1.0],
                   n_control=0)
    run = P.run(cfg, log=lambda *_: None)
    assert not run.dataset.startswith("synth") and run.train.ids == ids[:2]
    s = run.seeds[0]
    assert set(s.train_cms) == set(P.TABLE1_METHODS) and len(s.val_cms) == len(P.STAGE2_METHODS) + 1
    assert all(c.shape == (1, 32, 32) or c.shape == (2, 32, 32) for c in s.cams[P.VIT])
    assert np.isfinite(run.point("train_cms", P.ORAND, "miou"))
