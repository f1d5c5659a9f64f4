"""The ORANDNet chapter's pipeline: per seed, classifiers → CAMs → ensembles → pseudo-masks
(Table 1) → second-stage segmentation (Table 2); no plotting and no result writing here.

Every CAM set is a list with one k×H×W float array per image (k = the image's labelled classes),
next to the list of those classes (1..20). Every method's pseudo-mask comes from the same rule
(`cams_to_mask` with a background plane at threshold t) and the same threshold choice: by default
the t on a fixed grid that maximises the method's pseudo-mask mIoU on a held-out calibration part of
the train split (every third image), with Table 1 scored on the rest; or one fixed t for all methods.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from benchlib import BenchlibError
from benchlib.chapters import ChapterConfig
from benchlib.torchutil import TrainingCheckpoint, pick_device, set_threads

from . import data, evaluate as E, models as M, train as T
from .control import REGIMES, control_run

# Run types, method names and CAM scoring live in `runs` (shared with `control`); TABLE1_METHODS is
# re-exported for `plan`, which names it through the pipeline.
from .runs import (AND_, NAIVE, OR_, ORAND, ORAND_RW, RESNET, SCHED, STAGE2, STAGE2_METHODS,
                   TABLE1_METHODS, VIT, Run, SeedRun, score_cams, trivial_floors)  # noqa: F401


@dataclass
class Config(ChapterConfig):
    """The notebook's parameters (same names, same defaults as its parameters cell); the shared ones
    (seed, n_seeds, device, data_root, checkpoint_every, …) come from ChapterConfig."""

    threads: int = 1              # tiny networks: one thread beats two competing ones (0: the runner budget)
    image_size: int = 48
    n_train: int = 150
    n_val: int = 60
    cls_epochs: int = 12
    vit_epochs: int = 16
    cam_scales: list = field(default_factory=lambda: [1.0, 0.5, 1.5])
    orand_epochs: int = 15        # 10 left ORANDNet unconverged on its mechanism control (issue 29)
    aff_epochs: int = 5
    seg_epochs: int = 8
    scale_schedule: list = field(default_factory=lambda: [[8, 1], [4, 2], [2, 3]])  # (factor, until epoch)
    bg_threshold: object = "heldout"  # "heldout" (sweep on the calibration part) or one float for all
    n_eval_classes: int = 21  # 21 = paper convention; 20 = the released code's matrix
    n_control: int = 40  # train images (true masks) for the mechanism control; 0 skips it
    resnet_checkpoint: str = ""  # a state_dict of this chapter's classifier: skips its training
    vit_checkpoint: str = ""
    backbones: str = "small"     # "small" (reduced, from scratch) or "paper" (ResNet-50, ViT-B/16)
    resnet_weights: str = ""     # paper backbones: a torchvision ImageNet resnet50 state dict file
    vit_weights: str = ""        # paper backbones: a torchvision ImageNet vit_b_16 state dict file

    def __post_init__(self):
        if self.n_eval_classes not in (20, 21):
            raise BenchlibError(f"n_eval_classes must be 21 (paper) or 20 (released code), got {self.n_eval_classes}")
        if self.bg_threshold != "heldout" and not isinstance(self.bg_threshold, (int, float)):
            raise BenchlibError(f"bg_threshold must be 'heldout' or a number, got {self.bg_threshold!r}")
        if self.backbones not in ("small", "paper"):
            raise BenchlibError(f"backbones must be 'small' or 'paper', got {self.backbones!r}")
        if self.backbones == "small" and (self.resnet_weights or self.vit_weights):
            raise BenchlibError("resnet_weights / vit_weights are ImageNet weights of the paper networks: "
                                "set backbones = 'paper' to use them")
        if self.n_seeds < 1:
            raise BenchlibError(f"n_seeds must be at least 1, got {self.n_seeds}")


def run_seed(train: data.Split, val: data.Split, cfg: Config, seed: int, log=print) -> SeedRun:
    r = SeedRun(seed)
    t0 = time.perf_counter()

    def tick(name):
        nonlocal t0
        r.timings[name] = time.perf_counter() - t0
        log(f"  seed {seed}: {name} {r.timings[name]:.1f} s")
        t0 = time.perf_counter()

    x = M.to_tensor(train.images).to(cfg.device)
    resnet = T.train_classifier("resnet", train, cfg, seed)
    r.cams[RESNET] = M.compute_cams(resnet, x, train.labels, scales=tuple(cfg.cam_scales))
    tick("ResNet classifier + CAMs")
    vit = T.train_classifier("vit", train, cfg, seed)
    # torchvision's ViT is fixed to one input size: single scale + flip for the ViT CAM
    r.cams[VIT] = M.compute_cams(vit, x, train.labels, scales=(1.0,))
    tick("ViT classifier + CAMs")
    c1, c2 = r.cams[RESNET], r.cams[VIT]
    r.cams[NAIVE] = [M.naive_ensemble(a, b) for a, b in zip(c1, c2)]
    r.cams[OR_] = [M.prob_or(a, b) for a, b in zip(c1, c2)]
    r.cams[AND_] = [M.prob_and(a, b) for a, b in zip(c1, c2)]
    net = T.train_orandnet(r.cams[OR_], r.cams[AND_], cfg, seed)
    r.cams[ORAND] = T.apply_orandnet(net, r.cams[OR_], cfg.device)
    tick("ORANDNet")
    aff = T.train_affinity(train, r.cams[ORAND], cfg, seed)
    r.cams[ORAND_RW] = T.refine(aff, train, r.cams[ORAND], cfg.device)
    tick("affinity refinement")
    score_cams(r, train, cfg)
    tick("pseudo-mask evaluation")
    stage2 = [(m, ()) for m in STAGE2_METHODS] + [(ORAND_RW, cfg.scale_schedule)]
    for m, schedule in stage2:
        name = m + STAGE2 + (SCHED if schedule else "")
        pm = E.pseudo_masks(r.cams[m], train.classes, r.thresholds[m])
        seg = T.train_segnet(train, pm, cfg, seed, schedule=tuple(tuple(s) for s in schedule))
        r.val_preds[name] = T.predict_segnet(seg, val, cfg.device)
        r.val_cms[name] = E.per_image_cms(r.val_preds[name], val.masks)
    tick("second stage")
    return r


def run(config: Config, log=print) -> Run:
    """The whole chapter: the data (real VOC or the twin), then every seed's pipeline."""
    set_threads(config.threads)
    cfg = dataclasses.replace(config, device=str(pick_device(config.device)))
    ds = data.dataset(cfg.data_root, n_train=cfg.n_train, n_val=cfg.n_val, size=cfg.image_size, seed=cfg.seed)
    train = data.load_split(data.VOCSegmentation(ds.root, "train"), cfg.image_size)
    val = data.load_split(data.VOCSegmentation(ds.root, "val"), cfg.image_size)
    keep = train.labels.any(1)  # an image without labels has no CAM to learn from
    train = data.Split([i for i, k in zip(train.ids, keep) if k], train.images[keep], train.masks[keep],
                       train.labels[keep])
    log(f"{ds.name}: {len(train.ids)} train / {len(val.ids)} val images, {cfg.image_size} px, device {cfg.device}")
    seeds = [run_seed(train, val, cfg, seed, log) for seed in cfg.seeds]
    floors, val_floor = trivial_floors(train, val)
    out = Run(cfg, ds.name, train, val, seeds, floors, val_floor)
    if cfg.n_control > 0:
        n = min(cfg.n_control, len(train.ids))
        part = data.Split(train.ids[:n], train.images[:n], train.masks[:n], train.labels[:n])
        out.control = {regime: control_run(part, regime, cfg, log) for regime in REGIMES}
    if cfg.checkpoint_every:
        # every stage has been trained and measured: nothing is left to resume
        TrainingCheckpoint.remove_all(cfg.checkpoint_folder())
    return out
