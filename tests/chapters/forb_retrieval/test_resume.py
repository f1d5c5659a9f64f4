"""FORB's SimCLR training resumes from its checkpoint: a training killed after step 2 of 4 runs steps
3-4 only and ends with the weights and losses of an uninterrupted one."""
import numpy as np
import pytest
import torch

from benchlib.chapters.forb_retrieval.train import Settings, key, simclr
from benchlib.torchutil import TrainingCheckpoint


class Stop(Exception):
    pass


@pytest.mark.parametrize("init", ["scratch", "imagenet"])
def test_an_interrupted_simclr_training_resumes(tmp_path, init):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(6)]
    cfg = Settings(steps=4, batch=4, size=24, init=init)
    ref, ref_losses = simclr(images, cfg, seed=2)

    def ck(every=1):
        return TrainingCheckpoint(tmp_path, "simclr-seed2", key(images, cfg, seed=2), every)

    def stop(step):
        if step == 2:
            raise Stop

    with pytest.raises(Stop):
        simclr(images, cfg, seed=2, checkpoint=ck(), on_step=stop)
    steps = []
    model, losses = simclr(images, cfg, seed=2, checkpoint=ck(), on_step=steps.append)
    assert steps == [3, 4] and losses == ref_losses
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    other = key(images[:5], cfg, seed=2)  # other images: not resumed
    assert TrainingCheckpoint(tmp_path, "simclr-seed2", other, 1).load() is None
    # the other network: not resumed either
    other_init = key(images, Settings(steps=4, batch=4, size=24, init="imagenet" if init == "scratch" else "scratch"),
                     seed=2)
    assert TrainingCheckpoint(tmp_path, "simclr-seed2", other_init, 1).load() is None
