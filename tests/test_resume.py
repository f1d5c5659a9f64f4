"""Resumable training (benchlib.torchutil.TrainingCheckpoint) on the satellite chapter's real
training loop: a training interrupted after a checkpoint resumes from it, runs only the epochs
left and ends with exactly the numbers of an uninterrupted training of the same seed."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from benchlib import BenchlibError
from benchlib.torchutil import TrainingCheckpoint, list_checkpoints, rng_state, set_rng_state


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    from benchlib.chapters.satellite_resnet import data as D, train as T

    root = D.write_twin(tmp_path_factory.mktemp("sat"), seed=0, scale=60.0, train_size=160)
    d = D.load_dataset(root)
    norm = D.Normaliser.fit(d["train"])
    return T.Samples.build(d["train"], norm, T.SampleConfig(tile=64, stride=64, crop=32))


def _train(samples, checkpoint=None, stop_after=None, monitor="cost"):
    """(history, state dict, epochs run in this call, training steps run in this call)."""
    from benchlib.chapters.satellite_resnet import train as T

    cfg = T.TrainConfig(batch=8, lr=0.05, lr_step=2, max_epochs=4, patience=3, width=16, monitor=monitor)
    epochs = []

    def on_epoch(epoch):
        epochs.append(epoch)
        if stop_after is not None and epoch == stop_after:
            raise Interrupt   # as if the process were killed right after this epoch's checkpoint

    steps = {"n": 0}
    orig = torch.optim.SGD.step

    def counting_step(self, *a, **k):
        steps["n"] += 1
        return orig(self, *a, **k)

    torch.optim.SGD.step = counting_step
    try:
        t = T.train_model("prop18", samples, cfg, torch.device("cpu"), 0, 4, checkpoint, on_epoch)
    finally:
        torch.optim.SGD.step = orig
    return t.history, {k: v.clone() for k, v in t.model.state_dict().items()}, epochs, steps["n"]


def _same(a, b):
    return a[0].equals(b[0]) and all(torch.equal(a[1][k], b[1][k]) for k in a[1])


def test_interrupted_training_resumes_with_the_same_numbers(samples, tmp_path):
    torch.set_num_threads(1)
    full = _train(samples)
    steps_per_epoch = -(-len(samples.train) // 8)
    assert full[2] == [1, 2, 3, 4] and full[3] == 4 * steps_per_epoch

    ck = TrainingCheckpoint(tmp_path, "prop18-seed0", key="k1", every=1)
    with pytest.raises(Interrupt):
        _train(samples, ck, stop_after=2)
    summary = json.loads(ck.summary_path.read_text())
    assert summary["epoch"] == 2 and summary["finished"] is False

    resumed = _train(samples, TrainingCheckpoint(tmp_path, "prop18-seed0", key="k1", every=1))
    assert resumed[2] == [3, 4]                              # only the two epochs left ...
    assert resumed[3] == 2 * steps_per_epoch                 # ... and their steps
    assert _same(resumed, full)                              # same history, same weights

    # a finished checkpoint: nothing is trained again, the same model comes back
    again = _train(samples, TrainingCheckpoint(tmp_path, "prop18-seed0", key="k1", every=1))
    assert again[2] == [] and again[3] == 0 and _same(again, full)
    assert list_checkpoints(tmp_path)[0]["finished"] is True

    # another key (other parameters or data): not resumed, trained from scratch
    other = _train(samples, TrainingCheckpoint(tmp_path, "prop18-seed0", key="k2", every=1))
    assert other[2] == [1, 2, 3, 4] and _same(other, full)

    TrainingCheckpoint.remove_all(tmp_path)
    assert not tmp_path.exists()


def test_resume_on_the_f1_monitor_and_every_second_epoch(samples, tmp_path):
    torch.set_num_threads(1)
    full = _train(samples, monitor="f1")
    ck = TrainingCheckpoint(tmp_path, "m", key="k", every=2)
    with pytest.raises(Interrupt):
        _train(samples, ck, stop_after=3, monitor="f1")   # saved after epoch 2, not after 3
    assert json.loads(ck.summary_path.read_text())["epoch"] == 2
    resumed = _train(samples, TrainingCheckpoint(tmp_path, "m", key="k", every=2), monitor="f1")
    assert resumed[2][0] == 3 and _same(resumed, full)


def test_off_saves_and_loads_nothing(tmp_path):
    ck = TrainingCheckpoint(tmp_path / "c", "m", "k", every=0)
    ck.save({"w": torch.ones(2)}, 1)
    assert ck.load() is None and not (tmp_path / "c").exists()
    with pytest.raises(BenchlibError, match="checkpoint interval"):
        TrainingCheckpoint(tmp_path, "m", "k", every=-1)


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    ck = TrainingCheckpoint(tmp_path, "m", "k")
    ck.save({"w": torch.ones(2)}, 1)

    def broken(obj, f):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError):
        ck.save({"w": torch.zeros(2)}, 2)
    monkeypatch.undo()
    state = ck.load()
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.pt"]   # no temporary left


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    g = np.random.default_rng(7)
    random.seed(1); np.random.seed(2); torch.manual_seed(3); g.random()
    ck = TrainingCheckpoint(tmp_path, "r", "k")
    ck.save({"rng": rng_state(g)}, 1)
    expected = (g.random(), np.random.rand(), random.random(), torch.rand(1).item())
    g2 = np.random.default_rng(0)
    set_rng_state(ck.load()["rng"], g2)   # load_checkpoint: torch.load(weights_only=True)
    assert (g2.random(), np.random.rand(), random.random(), torch.rand(1).item()) == expected
