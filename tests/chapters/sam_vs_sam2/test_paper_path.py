"""The paper profile's path through `pipeline.run` (issue 18 item 3), once per device: real-format
data written by this test with PIL (an image set `images/<id>.jpg` + `masks/<id>.png` instance-id
maps, and a DAVIS 2017 tree `DAVIS/JPEGImages/480p/<seq>/00000.jpg …`, palette PNG annotations,
`ImageSets/2017/val.txt`), the packages' own SAM ViT-B and SAM 2.1 Hiera-T modules, and the user's
checkpoints written by this test in the official layout (a folder of official file names; SAM's
file a bare state dict, SAM 2's under "model"), read through `checkpoints`: the encoder timing, the
video run and the quality rows (mIoU per click, J&F) all load them.

Reduced from the paper profile (and why), all for CPU time: the smallest variant of each family
(ViT-B, Hiera-T; the paper profile times all seven) at 128 px instead of 1024 for the encoder
timing and the video (the official checkpoints fit 1024 only; ours are saved at 128); the quality
rows build their variant at 1024 as the chapter always does, so they run for Hiera-T only (its
state dict does not depend on the input size; SAM ViT-B's position embedding does); the video's
SAM 2 variant is Hiera-T instead of Hiera-B+; 1 warm-up and 2 timed rounds instead of 3 and 10,
1 prompt repeat, 3 video frames, 1 image, 2 clicks. `compile_encoder` (torch.compile) stays on for
CUDA only: on the CPU, inductor would build C++ kernels for both encoders, far past this budget.
"""
import numpy as np
import pytest
import torch
from PIL import Image

from benchlib import BenchlibError
from benchlib.chapters.sam_vs_sam2 import SPEC
from benchlib.chapters.sam_vs_sam2 import models as S
from benchlib.chapters.sam_vs_sam2 import pipeline as P

from tests._paper_trees import DEVICES, assert_finite, one_thread, paper_config  # noqa: F401 (one_thread: a fixture)

# every test: one torch thread, the budget the runner gives a chapter (see tests/_paper_trees.py)
pytestmark = pytest.mark.usefixtures("one_thread")


RES = 128
H, W = 96, 128  # frames and images (480p-like aspect, small)


def _scene(rng, t=0):
    """A textured background with two objects (ids 1 and 2); object 1 moves with t."""
    img = rng.integers(60, 120, (H, W, 3), dtype=np.uint8)
    ids = np.zeros((H, W), np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    ids[((yy - 40) / 18) ** 2 + ((xx - 30 - 6 * t) / 22) ** 2 <= 1] = 1
    ids[70:90, 80:115] = 2
    img[ids == 1] = (220, 60, 50)
    img[ids == 2] = (40, 80, 210)
    return img, ids


def _real_data(root):
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    img, ids = _scene(rng)
    Image.fromarray(img).save(root / "images" / "im001.jpg", quality=95)
    Image.fromarray(ids).save(root / "masks" / "im001.png")  # an id map (grey PNG)
    davis = root / "DAVIS"
    frames, annos = davis / "JPEGImages" / "480p" / "walk", davis / "Annotations" / "480p" / "walk"
    frames.mkdir(parents=True)
    annos.mkdir(parents=True)
    pal = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [0] * (768 - 9)  # DAVIS colours of ids 0, 1, 2
    for t in range(4):
        img, ids = _scene(rng, t)
        Image.fromarray(img).save(frames / f"{t:05d}.jpg", quality=95)
        png = Image.fromarray(ids, mode="P")
        png.putpalette(pal)
        png.save(annos / f"{t:05d}.png")
    (davis / "ImageSets" / "2017").mkdir(parents=True)
    (davis / "ImageSets" / "2017" / "val.txt").write_text("walk\n")
    return root


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Official file names; values drawn once here, so a run that ignored the files (random init)
    would give other masks."""
    d = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(3)
    torch.save(S.build("vit_b", image_size=RES).state_dict(), d / S.CHECKPOINT_FILES["vit_b"])
    torch.save({"model": S.build("hiera_t", image_size=RES).state_dict()}, d / S.CHECKPOINT_FILES["hiera_t"])
    return d


def _config(root, ckpts, device, **kw):
    return paper_config(SPEC, P.Config, device, data_root=str(root), checkpoints=str(ckpts),
                        param_variants=["vit_b", "hiera_t"], latency_variants=["hiera_t", "vit_b"],
                        quality_variants=["hiera_t"], resolution=RES, video_resolution=RES, video_sam="vit_b",
                        video_sam2="hiera_t", warmup=1, repeats=2, prompt_repeats=1, video_frames=3,
                        n_images=1, n_clicks=2, compile_encoder=device == "cuda", **kw)


@pytest.mark.parametrize("device", DEVICES)
def test_paper_profile_runs_on_real_images_and_davis(tmp_path, checkpoints, device):
    root = _real_data(tmp_path / "data")
    cfg = _config(root, checkpoints, device)
    run = P.run(cfg)

    assert run.dataset.startswith("real data at ") and "twin" not in run.dataset
    assert run.image_root == root and run.davis_root == root / "DAVIS" and run.video_data.endswith("sequence walk")
    assert run.threads == 1 and run.device == device  # the paper's threads = 0 took the runner's budget
    assert set(run.params["variant"]) == {"vit_b", "hiera_t"} and (run.totals["params"] > 0).all()
    for k in cfg.latency_variants:
        t = run.timing[k]
        assert t["how"] == "measured" and t["resolution"] == RES and t["times_s"].shape == (2,)
        assert (t["times_s"] > 0).all() and t["weights_mb"] > 0
        assert len(run.prompts[k]["point"]) == 1 and len(run.prompts[k]["box"]) == 1
    # both checkpointed variants keep a predictor; the quality rows load Hiera-T's file at 1024
    assert set(run.predictors) == {"vit_b", "hiera_t"}
    assert set(run.quality) == {"hiera_t"} and run.quality["hiera_t"].shape == (2, 2)  # objects × clicks
    assert ((run.quality["hiera_t"] >= 0) & (run.quality["hiera_t"] <= 1)).all()
    # the video: three runs × 3 frames, split into parts, masks of the frame size; J&F of all three runs
    v = run.video
    assert v["n_frames"] == 3 and v["resolution"] == RES and len(run.frames) == 3
    assert sorted(v["frames"]["run"].unique()) == ["SAM", "SAM 2", "SAM 2 (no memory)"] and len(v["frames"]) == 9
    assert_finite(v["frames"][["seconds", "encoder", "memory attention", "memory encoder"]].to_numpy(), "video")
    assert all(m.shape == (H, W) for ms in v["masks"].values() for m in ms)
    assert set(run.jf) == {"SAM", "SAM 2", "SAM 2 (no memory)"}
    # the SAM 2 predictor holds the file's weights, not a fresh init
    ref = torch.load(checkpoints / S.CHECKPOINT_FILES["hiera_t"], weights_only=True)["model"]
    # (a compiled encoder, CUDA case, names its parameters under "_orig_mod.")
    got = {k.replace("_orig_mod.", ""): v for k, v in run.predictors["hiera_t"].model.state_dict().items()}
    name = "image_encoder.trunk.patch_embed.proj.weight"
    assert torch.equal(got[name].cpu(), ref[name]) and run.arch is not None and run.arch["held"].notna().any()


def test_a_corrupt_or_mismatched_checkpoint_is_named(tmp_path, checkpoints):
    """A checkpoint folder whose Hiera-T file is truncated, or lacks a key: the run stops naming it."""
    root = _real_data(tmp_path / "data")
    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    path = ckpts / S.CHECKPOINT_FILES["hiera_t"]
    path.write_bytes((checkpoints / S.CHECKPOINT_FILES["hiera_t"]).read_bytes()[:10_000])
    with pytest.raises(BenchlibError, match=f"{path.name}: cannot load checkpoint"):
        P.run(_config(root, ckpts, "cpu"))
    sd = torch.load(checkpoints / S.CHECKPOINT_FILES["hiera_t"], weights_only=True)["model"]
    sd.pop("image_encoder.trunk.patch_embed.proj.weight")
    torch.save({"model": sd}, path)
    with pytest.raises(BenchlibError, match=f"{path.name}: does not match variant 'hiera_t'.*1 missing keys"):
        P.run(_config(root, ckpts, "cpu"))
