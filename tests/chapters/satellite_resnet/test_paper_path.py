"""The paper profile's path through `pipeline.run` (issue 18 item 3), once per device: a real-format
GeoTIFF folder written by this test with tifffile (`train/` and `test/` with `images/` 4-band
11-bit band-sequential rasters and `gt/` masks, Inria-style 0/255 in training, 0/1 in testing),
all eight networks of the paper's Table I, the paper's schedule settings (SGD, step decay, early
stopping on the validation cost, refinement of Prop-152 and U-Net(19)), one epoch and one
refinement step.

Reduced from the paper profile (and why): the networks are the real module classes at 1/16 of the
paper's widths (`width` = 16: at full width one training step of the eight networks alone takes
minutes of CPU), 64-pixel training tiles / 32-pixel crops / 64-pixel test tiles instead of 364 /
256 / 512 (the scenes are 64-96 pixels a side), one seed instead of three. The full-width modules
are counted (parameters) on the meta device in this same run.

No weight-file parameter: the paper trains every network from scratch, and the chapter reads no
user weights.
"""
import dataclasses

import numpy as np
import pytest
import tifffile
import torch

from benchlib.chapters.satellite_resnet import SPEC
from benchlib.chapters.satellite_resnet import pipeline as P
from benchlib.chapters.satellite_resnet.models import DISPLAY_NAMES, MODEL_NAMES, parameter_count

from tests._paper_trees import DEVICES, assert_finite, one_thread, paper_config  # noqa: F401 (one_thread: a fixture)

# every test: one torch thread, the budget the runner gives a chapter (see tests/_paper_trees.py)
pytestmark = pytest.mark.usefixtures("one_thread")


AREAS = {"train": {"D5": (96, 96), "D13": (96, 96)}, "test": {"D12": (64, 96), "D19": (64, 64)}}


def _geotiff_folder(root):
    """Scenes with buildings (rectangles brighter in the red band) on noise, written band-sequential
    (planar) as a GIS would store them."""
    rng = np.random.default_rng(0)
    for split, areas in AREAS.items():
        for d in ("images", "gt"):
            (root / split / d).mkdir(parents=True)
        for name, (h, w) in areas.items():
            m = np.zeros((h, w), np.uint8)
            for _ in range(4):
                y, x = rng.integers(0, h - 12), rng.integers(0, w - 12)
                m[y:y + int(rng.integers(6, 12)), x:x + int(rng.integers(6, 12))] = 1
            img = rng.integers(200, 1200, (4, h, w)).astype(np.uint16)
            img[2] += m.astype(np.uint16) * 800  # 11-bit values (< 2048)
            tifffile.imwrite(root / split / "images" / f"{name}.tif", img, photometric="minisblack",
                             planarconfig="separate")
            tifffile.imwrite(root / split / "gt" / f"{name}.tif", m * 255 if split == "train" else m)
    return root


@pytest.mark.parametrize("device", DEVICES)
def test_paper_profile_runs_on_a_real_geotiff_folder(tmp_path, device):
    root = _geotiff_folder(tmp_path / "data")
    fields = {f.name for f in dataclasses.fields(P.Config)}
    # training checkpoints of the paper profile go to the test's folder, not the user's results
    extra = {"checkpoint_dir": str(tmp_path / "checkpoints")} if "checkpoint_dir" in fields else {}
    cfg = paper_config(SPEC, P.Config, device, data_root=str(root), n_seeds=1, width=16, tile=64, stride=32,
                       crop=32, infer_tile=64, infer_stride=48, max_epochs=1, refine_steps=1, refine_crop=32,
                       block=16, **extra)
    assert list(cfg.models) == list(MODEL_NAMES) and cfg.monitor == "cost"
    # the paper's recipe (Sec. III-C/D), not the default profile's CPU one
    assert (cfg.optimizer, cfg.schedule, cfg.normalise) == ("sgd", "step", "train")
    run = P.run(cfg, log=None)

    assert run.dataset.startswith("GeoTIFF folder at ") and "twin" not in run.dataset
    assert [s.name for s in run.data["train"]] == ["D13", "D5"] and run.areas == ["D12", "D19"]
    assert all(s.bands == 4 and set(np.unique(s.mask)) <= {0, 1} for s in run.data["train"] + run.test)
    assert torch.get_num_threads() == 1  # the paper's threads = 0 took the runner's budget
    # Table I's networks counted at full width with the data's 4 bands
    assert run.parameters == {n: parameter_count(n, in_channels=4) for n in MODEL_NAMES}
    # one row per network and seed, one epoch each, finite losses
    summ = run.train_summary
    assert summ["model"].tolist() == [DISPLAY_NAMES[n] for n in MODEL_NAMES] and (summ["epochs"] == 1).all()
    assert_finite(summ[["val. cost (best epoch)", "val. F1 (best epoch)"]].to_numpy(), "training summary")
    # Table II: every network predicted every test area whole
    assert set(run.evals) == {DISPLAY_NAMES[n] for n in MODEL_NAMES}
    for label, (ev,) in run.evals.items():
        for s in run.test:
            p = ev.probs[s.name]
            assert p.shape == s.mask.shape and np.isfinite(p).all() and 0 <= p.min() and p.max() <= 1, label
            assert ev.counts[s.name].shape[1] == 4 and ev.counts[s.name].sum() == s.mask.size, label
    # Table III: the paper's two refined networks, on the 7 % and 15 % corners
    assert set(run.refinements) == {"Prop-152", "U-Net(19)"} and not run.not_refined
    for label, (ref,) in run.refinements.items():
        assert set(ref.tuned) == {"small", "large"}
        for size, ev in ref.tuned.items():
            for s in run.test:
                assert ev.probs[s.name].shape == s.mask.shape and np.isfinite(ev.probs[s.name]).all()
                assert 0 < ref.fractions[size][s.name] <= 1
