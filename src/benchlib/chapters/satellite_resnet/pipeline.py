"""Pipeline of the satellite chapter (Ghassemi et al., EUSIPCO 2018): data, training of every network
for every seed, whole-scene evaluation on the test areas, refinement — measurements only (no
plotting, no result writing)."""

# Sizes are parameters: the paper's values are 364-pixel tiles with stride 120, 256 crops, 512 test
# tiles; the small profiles scale them down (see the notebook's parameters cell).

from __future__ import annotations

from dataclasses import dataclass, field
import pandas as pd

from benchlib import BenchlibError, torchutil
from benchlib.chapters import ChapterConfig
from benchlib.results import describe_device

from . import data as satdata
from .data import Normaliser, Scene, SceneNormaliser
from .evaluate import evaluate
from .models import DISPLAY_NAMES, MODEL_NAMES, parameter_count
from .refine import refine_and_evaluate
from .train import OPTIMIZERS, SCHEDULES, SampleConfig, Samples, TrainConfig, checkpoint_key, train_all

# The paper's §III-B normalises "with respect to mean pixel intensity value and standard deviation" per
# channel, without saying over what. "train": the training images' per-channel mean / std, applied to
# every image (the `paper` profile); "scene": each scene's own (data.SceneNormaliser; the default: with
# "train", the U-Nets' test F1 on the twin's unseen sensors depended on the training seed far more than
# five seeds can average out, see the chapter's training section).
NORMALISERS = ("train", "scene")


@dataclass
class Config(ChapterConfig):
    """The notebook's parameters (same names, same defaults as its parameters cell)."""

    n_seeds: int = 5               # five seeds: the claims rest on training (the base's default is 3)
    threads: int = 1               # one thread is faster for these thin networks on a busy CPU
    models: list = field(default_factory=lambda: ["unet19", "unet35", "prop18", "prop34"])
    refine_models: list = field(default_factory=lambda: ["prop34", "unet19"])
    width: int = 8
    scene_scale: float = 15.0
    train_size: int = 288
    tile: int = 96
    stride: int = 64
    crop: int = 64
    infer_tile: int = 128
    infer_stride: int = 120
    batch: int = 8
    lr: float = 0.01
    lr_by_model: dict = field(default_factory=dict)
    lr_step: int = 3
    lr_gamma: float = 0.2
    max_epochs: int = 10
    patience: int = 2
    monitor: str = "f1"
    optimizer: str = "adamw"
    schedule: str = "onecycle"
    normalise: str = "scene"
    prior_bias: bool = True
    jitter: float = 0.0
    refine_small: float = 0.07
    refine_large: float = 0.15
    refine_lr: float = 0.005
    refine_steps: int = 8
    refine_crop: int = 64
    block: int = 32


@dataclass
class Run:
    """What one run measured. `evals` / `refinements` hold one entry per training seed."""

    config: Config
    dataset: str                                   # name for result rows ("synth-sat twin, seed 0")
    device: str                                    # description of the device (for timing rows)
    data: dict = field(default_factory=dict)       # 'train' / 'test' -> [Scene]
    train_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    evals: dict = field(default_factory=dict)      # display label -> [Evaluation per seed]
    refinements: dict = field(default_factory=dict)  # display label -> [Refinement per seed]
    not_refined: dict = field(default_factory=dict)  # display label -> reason
    parameters: dict = field(default_factory=dict)   # model name -> learnable parameters at full width

    @property
    def areas(self) -> list[str]:
        return [s.name for s in self.test]

    @property
    def test(self) -> list[Scene]:
        return self.data["test"]

    @property
    def sizes(self) -> dict[str, float]:
        return {"small": self.config.refine_small, "large": self.config.refine_large}


def run(config: Config, log=print) -> Run:
    unknown = [n for n in [*config.models, *config.refine_models, *config.lr_by_model] if n not in MODEL_NAMES]
    if unknown:
        raise BenchlibError(f"unknown network(s) {', '.join(map(repr, unknown))} in models / refine_models / "
                            f"lr_by_model; choose from {', '.join(MODEL_NAMES)}")
    for what, value, allowed in (("optimizer", config.optimizer, OPTIMIZERS), ("schedule", config.schedule, SCHEDULES),
                                 ("normalise", config.normalise, NORMALISERS)):
        if value not in allowed:   # before any data is written or network trained
            raise BenchlibError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    torchutil.set_threads(config.threads)
    dev = torchutil.pick_device(config.device)
    torchutil.seed_everything(config.seed)
    ds = satdata.dataset(config.data_root, seed=config.seed, scale=config.scene_scale,
                         train_size=config.train_size)
    data = satdata.load_dataset(ds.root)
    out = Run(config, ds.name, describe_device(str(dev)), data)
    in_channels = data["train"][0].bands
    out.parameters = {n: parameter_count(n, in_channels=in_channels) for n in MODEL_NAMES}

    # Training: every network for every seed, on the same data (the seeds vary the training).
    norm = Normaliser.fit(data["train"]) if config.normalise == "train" else SceneNormaliser()
    samples = Samples.build(data["train"], norm, SampleConfig(tile=config.tile, stride=config.stride,
                                                              crop=config.crop))
    cfg = TrainConfig(batch=config.batch, lr=config.lr, lr_step=config.lr_step, lr_gamma=config.lr_gamma,
                      max_epochs=config.max_epochs, patience=config.patience, width=config.width,
                      monitor=config.monitor, optimizer=config.optimizer, schedule=config.schedule,
                      prior_bias=config.prior_bias, jitter=config.jitter)
    data_sig = (str(ds.root), torchutil.files_signature(ds.root)) if config.checkpoint_every else None

    def checkpoint(name, seed, c):
        key = checkpoint_key(name, seed, c, samples, in_channels, data_sig, dev, config.normalise)
        return torchutil.TrainingCheckpoint(config.checkpoint_folder(), f"{name}-seed{seed}", key,
                                            config.checkpoint_every)

    trained, out.train_summary = train_all(config.models, samples, cfg, dev, config.seeds, in_channels,
                                           lr_by_model=config.lr_by_model, log=log,
                                           checkpoints=checkpoint if config.checkpoint_every else None)

    # Table II: each network on the whole test scenes.
    out.evals = {label: [evaluate(t.model, data["test"], norm, config.infer_tile, config.infer_stride, dev,
                                  config.block) for t in ts]
                 for label, ts in trained.items()}

    # Table III: refinement on a corner of each test area, scored on the rest.
    rcfg = TrainConfig(batch=config.batch, lr=config.refine_lr, width=config.width)
    for name in config.refine_models:
        label = DISPLAY_NAMES[name]
        if label not in trained:
            out.not_refined[label] = f"{label} is not among the trained models"
            continue
        out.refinements[label] = [
            refine_and_evaluate(t, data["test"], norm, out.sizes, rcfg, config.refine_crop, config.refine_steps,
                                dev, t.seed, config.infer_tile, config.infer_stride, config.block, unrefined=ev)
            for t, ev in zip(trained[label], out.evals[label])]
    if config.checkpoint_every:
        # Everything the checkpoints protect has been measured: nothing is left to resume.
        torchutil.TrainingCheckpoint.remove_all(config.checkpoint_folder())
    return out

