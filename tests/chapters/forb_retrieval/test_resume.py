"""FORB's SimCLR training resumes from its checkpoint: a training killed after step 2 of 4 runs steps
3-4 only and ends with the weights and losses of an uninterrupted one."""
import numpy as np
import pytest
import torch

from benchlib.chapters.forb_retrieval.ssl import simclr_key, train_simclr
from benchlib.torchutil import TrainingCheckpoint


class Stop(Exception):
    pass


@pytest.mark.parametrize("init", ["scratch", "imagenet"])
def test_an_interrupted_simclr_training_resumes(tmp_path, init):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(6)]
    args = dict(steps=4, batch=4, size=24, seed=2, init=init)
    ref, ref_losses = train_simclr(images, **args)

    def ck(every=1):
        return TrainingCheckpoint(tmp_path, "simclr-seed2", simclr_key(images, 4, 4, 24, seed=2, init=init), every)

    def stop(step):
        if step == 2:
            raise Stop

    with pytest.raises(Stop):
        train_simclr(images, **args, checkpoint=ck(), on_step=stop)
    steps = []
    model, losses = train_simclr(images, **args, checkpoint=ck(), on_step=steps.append)
    assert steps == [3, 4] and losses == ref_losses
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    other = simclr_key(images[:5], 4, 4, 24, seed=2, init=init)  # other images: not resumed
    assert TrainingCheckpoint(tmp_path, "simclr-seed2", other, 1).load() is None
    # the other network: not resumed either
    other_init = simclr_key(images, 4, 4, 24, seed=2, init="imagenet" if init == "scratch" else "scratch")
    assert TrainingCheckpoint(tmp_path, "simclr-seed2", other_init, 1).load() is None
