"""Pipeline of the template chapter: per seed, train the threshold model on the training half and
score it and the majority guess on the test half (no plotting, no result writing here)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchlib import torchutil
from benchlib.chapters import ChapterConfig
from benchlib.datasets import describe
from benchlib.torchutil import TrainingCheckpoint

from . import data, evaluate, models, train


@dataclass
class Config(ChapterConfig):
    """The notebook's parameters (same names, same defaults as its parameters cell); the shared
    ones (seed, n_seeds, device, threads, data_root, checkpoint_every, …) come from ChapterConfig."""

    n_samples: int = 200    # samples in the twin
    noise: float = 1.0      # spread of each class around its mean (the task's difficulty)
    epochs: int = 20        # training epochs of the threshold model
    lr: float = 0.5         # SGD learning rate
    batch: int = 16         # minibatch size

    def train_config(self) -> train.TrainConfig:
        return train.TrainConfig(epochs=self.epochs, lr=self.lr, batch=self.batch)


@dataclass
class Run:
    config: Config
    dataset: str
    # per seed: per test sample, True where the method was right
    correct: dict = field(default_factory=dict)     # method -> list (one array per seed)
    history: list = field(default_factory=list)     # per seed: the training history (train.fit)
    labels: list = field(default_factory=list)      # per seed: (training labels, test labels), for the checks


def run(config: Config) -> Run:
    torchutil.set_threads(config.threads)
    device = torchutil.pick_device(config.device)
    cfg, folder = config.train_config(), config.checkpoint_folder()
    out = Run(config, dataset="", correct={"threshold": [], "majority": []})
    used = []
    for s in config.seeds:
        ds = data.dataset(config.data_root, config.n_samples, config.noise, s)
        used.append(ds)
        (x_train, y_train), (x_test, y_test) = data.halves(data.load(ds.root))
        signature = (str(ds.root), torchutil.files_signature(ds.root)) if config.checkpoint_every else None
        checkpoint = TrainingCheckpoint(folder, f"threshold-seed{s}", train.checkpoint_key(s, cfg, signature, device),
                                        config.checkpoint_every)
        model = models.build(s)
        out.history.append(train.fit(model, (x_train, y_train), cfg, seed=s, device=device, checkpoint=checkpoint))
        out.labels.append((y_train, y_test))
        out.correct["threshold"].append(evaluate.correct(evaluate.predict(model, x_test, device), y_test))
        out.correct["majority"].append(evaluate.correct(np.full(len(y_test), models.majority(y_train)), y_test))
    out.dataset = describe(used)
    if config.checkpoint_every:
        # everything the checkpoints protect has been measured: nothing is left to resume
        TrainingCheckpoint.remove_all(folder)
    return out
