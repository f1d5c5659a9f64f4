"""The ORANDNet chapter's run types and the scoring of a run's CAMs: method names, one seed's
results (`SeedRun`), the whole run (`Run`), the calibration / report split of the train images,
the pseudo-mask scoring every method shares (`score_cams`) and the trivial floors.

`pipeline` (trained CAMs) and `control` (synthetic CAMs) both build runs of these types, so they
live here, below both (no import circle between the two).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import data, evaluate as E

# Our method names (the paper's Table 1 / Table 2 row names are in report.PAPER_T1).
RESNET, VIT, NAIVE, OR_, AND_, ORAND, ORAND_RW = (
    "ResNet-50-style CAM", "ViT CAM", "Naive ensemble", "OR CAM (Eq. 1)", "AND CAM (Eq. 1)",
    "ORANDNet", "ORANDNet + affinity random walk")
TABLE1_METHODS = (RESNET, VIT, NAIVE, OR_, AND_, ORAND, ORAND_RW)
# Pseudo-mask sources that get a second stage (without scale scheduling): the two single models and
# the naive ensemble (the abstract's baselines for the final segmentation), ORANDNet with and without
# its refinement; ≥ 3 sources for the precision thesis.
STAGE2_METHODS = (RESNET, VIT, NAIVE, ORAND, ORAND_RW)
SCHED = " (scale scheduling)"
STAGE2 = " → SegNet"
# The paper's final model (Table 2 "Ours"): refined ORANDNet pseudo-masks, second stage with scale scheduling.
FINAL = ORAND_RW + STAGE2 + SCHED
# Trivial pseudo-masks every CAM must beat (the degenerate-model floor): all background, and a
# "CAM" equal to 1 everywhere for the labelled classes (knows the image labels, not where).
ALL_BG, LABELS_ONLY = "all background", "labels only (uniform CAM)"
CALIB_EVERY = 3  # train images 0, 3, 6, … choose the background thresholds; the others are scored


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
    config: object                                 # pipeline.Config
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


def calibration_split(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(calibration, report) image indices of the train split: every CALIB_EVERY-th image chooses
    the background thresholds, the others are scored (a threshold never sees the images it is
    judged on)."""
    idx = np.arange(n)
    return idx[idx % CALIB_EVERY == 0], idx[idx % CALIB_EVERY != 0]


def score_cams(r: SeedRun, train: data.Split, cfg) -> None:
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
