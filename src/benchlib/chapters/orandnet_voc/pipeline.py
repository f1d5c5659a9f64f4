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

import numpy as np

from benchlib import BenchlibError
from benchlib.torchutil import TrainingCheckpoint, pick_device, set_threads

from . import data, evaluate as E, models as M, train as T

# Our method names (the paper's Table 1 / Table 2 row names are in report.PAPER_T1).
RESNET, VIT, NAIVE, OR_, AND_, ORAND, ORAND_RW = (
    "ResNet-50-style CAM", "ViT CAM", "Naive ensemble", "OR CAM (Eq. 1)", "AND CAM (Eq. 1)",
    "ORANDNet", "ORANDNet + affinity random walk")
TABLE1_METHODS = (RESNET, VIT, NAIVE, OR_, AND_, ORAND, ORAND_RW)
# Pseudo-mask sources that get a second stage (without scale scheduling): ≥ 3 for the precision thesis
# (the naive ensemble's is left out for the default budget).
STAGE2_METHODS = (RESNET, VIT, ORAND, ORAND_RW)
SCHED = " (scale scheduling)"
STAGE2 = " → SegNet"
# Trivial pseudo-masks every CAM must beat (the degenerate-model floor): all background, and a
# "CAM" equal to 1 everywhere for the labelled classes (knows the image labels, not where).
ALL_BG, LABELS_ONLY = "all background", "labels only (uniform CAM)"
CALIB_EVERY = 3  # train images 0, 3, 6, … choose the background thresholds; the others are scored


@dataclass
class Config:
    """The notebook's parameters (same names, same defaults as its parameters cell)."""

    data_root: str = ""
    seed: int = 0                 # twin seed and first model seed
    n_seeds: int = 3              # model seeds seed, seed+1, …
    device: str = "auto"
    torch_threads: int = 1
    image_size: int = 48
    n_train: int = 150
    n_val: int = 60
    cls_epochs: int = 12
    vit_epochs: int = 16
    cam_scales: list = field(default_factory=lambda: [1.0, 0.5, 1.5])
    orand_epochs: int = 10
    aff_epochs: int = 5
    seg_epochs: int = 8
    scale_schedule: list = field(default_factory=lambda: [[8, 1], [4, 2], [2, 3]])  # (factor, until epoch)
    bg_threshold: object = "heldout"  # "heldout" (sweep on the calibration part) or one float for all
    n_eval_classes: int = 21  # 21 = paper convention; 20 = the released code's matrix
    n_boot: int = 1000
    n_control: int = 40  # train images (true masks) for the mechanism control; 0 skips it
    resnet_checkpoint: str = ""  # a state_dict of this chapter's classifier: skips its training
    vit_checkpoint: str = ""
    backbones: str = "small"     # "small" (reduced, from scratch) or "paper" (ResNet-50, ViT-B/16)
    resnet_weights: str = ""     # paper backbones: a torchvision ImageNet resnet50 state dict file
    vit_weights: str = ""        # paper backbones: a torchvision ImageNet vit_b_16 state dict file
    checkpoint_every: int = 0    # save each training stage's state every N epochs and resume it (0: off)
    checkpoint_dir: str = ""     # empty: <results_root>/.checkpoints/<profile>/orandnet_voc
    profile: str = "default"     # injected by the runner (names the checkpoint folder)
    results_root: str = ""       # injected by the runner (empty: the default results folder)

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


@dataclass
class SeedRun:
    seed: int
    cams: dict = field(default_factory=dict)  # method → list of k×H×W
    thresholds: dict = field(default_factory=dict)
    sweeps: dict = field(default_factory=dict)     # method → scores per threshold (calibration part)
    train_cms: dict = field(default_factory=dict)  # method → N_report×21×21 (at its threshold)
    overlap: np.ndarray | None = None  # N_report×4: |F1∩F2|, |F1∪F2|, |T1∩T2|, |T1∪T2| (see evaluate.overlaps)
    val_cms: dict = field(default_factory=dict)  # stage-2 method → N_val×21×21
    val_preds: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


@dataclass
class Run:
    config: Config
    dataset: str
    train: data.Split
    val: data.Split
    seeds: list
    floor_cms: dict = field(default_factory=dict)  # trivial pseudo-masks (report part) → N×21×21
    val_floor_cms: np.ndarray | None = None        # all-background val prediction, N_val×21×21
    control: dict = field(default_factory=dict)    # mechanism control: regime → Run (control.py)

    @property
    def calib_idx(self) -> np.ndarray:
        return calibration_split(len(self.train.ids))[0]

    @property
    def report_idx(self) -> np.ndarray:
        return calibration_split(len(self.train.ids))[1]

    @property
    def seed_label(self) -> str:
        return ",".join(str(s.seed) for s in self.seeds)

    def stacked(self, which: str, method: str) -> np.ndarray:
        return np.stack([getattr(s, which)[method] for s in self.seeds])

    def stage2_sources(self) -> list:
        """Pseudo-mask sources with a second stage trained without scale scheduling."""
        return [n.split(STAGE2)[0] for n in self.seeds[0].val_cms if SCHED not in n]

    def per_seed(self, which: str, method: str, key: str) -> np.ndarray:
        """Each seed's pooled score (fraction) of `method` ('train_cms' or 'val_cms')."""
        return np.array([E.eval_scores(getattr(s, which)[method].sum(0), self.config.n_eval_classes)[key]
                         for s in self.seeds])

    def point(self, which: str, method: str, key: str) -> float:
        """Mean over seeds of each seed's pooled score."""
        return float(self.per_seed(which, method, key).mean())

    def floor(self, key: str = "miou", split: str = "train") -> float:
        """The best trivial pseudo-mask's pooled score on train, or all-background on val."""
        n = self.config.n_eval_classes
        if split == "val":
            return E.eval_scores(self.val_floor_cms.sum(0), n)[key]
        return max(E.eval_scores(c.sum(0), n)[key] for c in self.floor_cms.values())


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
    runs = [(m, ()) for m in STAGE2_METHODS] + [(ORAND_RW, cfg.scale_schedule)]
    for m, schedule in runs:
        name = m + STAGE2 + (SCHED if schedule else "")
        pm = E.pseudo_masks(r.cams[m], train.classes, r.thresholds[m])
        seg = T.train_segnet(train, pm, cfg, seed, schedule=tuple(tuple(s) for s in schedule))
        r.val_preds[name] = T.predict_segnet(seg, val, cfg.device)
        r.val_cms[name] = E.per_image_cms(r.val_preds[name], val.masks)
    tick("second stage")
    return r


def calibration_split(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(calibration, report) image indices of the train split: every CALIB_EVERY-th image chooses
    the background thresholds, the others are scored (a threshold never sees the images it is
    judged on)."""
    idx = np.arange(n)
    return idx[idx % CALIB_EVERY == 0], idx[idx % CALIB_EVERY != 0]


def score_cams(r: SeedRun, train: data.Split, cfg: Config) -> None:
    """Each method's threshold (swept on the calibration part, or the fixed one) and its per-image
    confusion matrices on the report part; the two single CAMs' error overlaps."""
    calib, report = calibration_split(len(train.ids))
    classes = train.classes
    pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
    for m in r.cams:
        if cfg.bg_threshold == "heldout":
            r.sweeps[m] = E.sweep(pick(r.cams[m], calib), pick(classes, calib), train.masks[calib], cfg.n_eval_classes)
            r.thresholds[m] = float(r.sweeps[m].loc[r.sweeps[m]["mIoU"].idxmax(), "threshold"])
        else:
            r.thresholds[m] = float(cfg.bg_threshold)
        pm = E.pseudo_masks(pick(r.cams[m], report), pick(classes, report), r.thresholds[m])
        r.train_cms[m] = E.per_image_cms(pm, train.masks[report])
    if RESNET in r.cams and VIT in r.cams:
        pms = [E.pseudo_masks(pick(r.cams[m], report), pick(classes, report), r.thresholds[m]) for m in (RESNET, VIT)]
        r.overlap = E.overlaps(*pms, train.masks[report])


def trivial_floors(train: data.Split, val: data.Split) -> tuple[dict, np.ndarray]:
    """Per-image confusion matrices of the trivial pseudo-masks (train) and of an all-background
    prediction (val): the floors a trained model must beat not to count as degenerate."""
    report = calibration_split(len(train.ids))[1]
    masks, classes = train.masks[report], [train.classes[i] for i in report]
    uniform = [np.ones((len(c), *masks.shape[1:]), np.float32) for c in classes]
    floors = {ALL_BG: E.per_image_cms(np.zeros_like(masks), masks),
              LABELS_ONLY: E.per_image_cms(E.pseudo_masks(uniform, classes, 0.5), masks)}
    return floors, E.per_image_cms(np.zeros_like(val.masks), val.masks)


def run(config: Config, log=print) -> Run:
    """The whole chapter: the data (real VOC or the twin), then every seed's pipeline."""
    set_threads(config.torch_threads)
    cfg = dataclasses.replace(config, device=str(pick_device(config.device)))
    ds = data.dataset(cfg.data_root, n_train=cfg.n_train, n_val=cfg.n_val, size=cfg.image_size, seed=cfg.seed)
    train = data.load_split(data.VOCSegmentation(ds.root, "train"), cfg.image_size)
    val = data.load_split(data.VOCSegmentation(ds.root, "val"), cfg.image_size)
    keep = train.labels.any(1)  # an image without labels has no CAM to learn from
    train = data.Split([i for i, k in zip(train.ids, keep) if k], train.images[keep], train.masks[keep],
                       train.labels[keep])
    log(f"{ds.name}: {len(train.ids)} train / {len(val.ids)} val images, {cfg.image_size} px, device {cfg.device}")
    seeds = [run_seed(train, val, cfg, cfg.seed + k, log) for k in range(cfg.n_seeds)]
    floors, val_floor = trivial_floors(train, val)
    out = Run(cfg, ds.name, train, val, seeds, floors, val_floor)
    if cfg.n_control > 0:
        from .control import REGIMES, control_run

        n = min(cfg.n_control, len(train.ids))
        part = data.Split(train.ids[:n], train.images[:n], train.masks[:n], train.labels[:n])
        out.control = {regime: control_run(part, regime, cfg, log) for regime in REGIMES}
    if cfg.checkpoint_every:
        # every stage has been trained and measured: nothing is left to resume
        TrainingCheckpoint.remove_all(T.checkpoint_dir(cfg))
    return out
