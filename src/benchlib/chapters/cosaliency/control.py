"""The RFM's positive control (issue 29): test images in which a distractor is told apart from the
co-salient objects *only* by being single (same classes, sizes, colours and shading; no second
instance), and the matched negative control: the same images with a second instance of the
distractor's class added, so that nothing tells the two classes apart any more
(:func:`data.control_sets`). The chapter's trained models (trained on the paper-shaped twin) are
scored on both, seed by seed, on the same control images (a crossed design).

A model that suppresses single objects has a positive selectivity (co-salient − distractor
response) on the positive control and none on the negative one. The control's verdicts are a check
of the mechanism, not claims of the paper: they are judged by the claims engine but kept out of
claims.csv.

Also measured here, to find where the mechanism breaks: whether the RFM's region vectors of one
object are closer to another object's of the same class than a single object's are to any other
object (the comparison the RFM's triplet loss trains), and the same for the frozen encoder's own
features (is the information there at this resolution at all)."""
from __future__ import annotations

import numpy as np
import torch

import time

from benchlib.claims import Claim, Measurement, NotTested, Stat, linear

from . import data
from .claims import OFFLINE, ONLINE
from .evaluate import selectivity
from .models import CORRELATED, VARIANTS, SelfCorrelation, roi_align_separable
from .train import TrainConfig, _resize_square, encode, encode_items, fit, new_head, predict

REPAIRED = CORRELATED.name
# the models scored on the control: the mask-only reference, the paper's two RFM models, the repair
METHODS = ("U-Net", OFFLINE, ONLINE, REPAIRED)
KINDS = {"single": "positive control (distractor single)", "paired": "negative control (distractor paired)"}
# a detector that compares instances (no training): it shows that the control can be passed
COMPARATOR = "reference: salient objects × self-correlation"


class Control:
    """The control's images and what the trained models do on them. ``results``: for "single" and
    "paired", method → per seed the per-image responses (evaluate.selectivity); "rfm separation":
    method → per seed :func:`rfm_separation`; "encoder separation": :func:`encoder_separation`;
    "n": images; "seconds": time spent on the control."""

    def __init__(self, encoder, sets, stages, tops, cfg: TrainConfig, results: dict):
        self.encoder, self.sets, self.stages, self.tops, self.cfg = encoder, sets, stages, tops, cfg
        self.results = results

    @classmethod
    def build(cls, encoder, n_images: int, seed: int, cfg: TrainConfig) -> "Control":
        t = time.perf_counter()
        sets = dict(zip(KINDS, data.control_sets(n_images, seed)))
        stages = {k: encode_items(encoder, s, cfg) for k, s in sets.items()}  # None without the feature cache
        tops = {k: st[-1] if st is not None else top_features(encoder, sets[k], cfg) for k, st in stages.items()}
        results = {"single": {}, "paired": {}, "rfm separation": {}, "n": n_images,
                   "encoder separation": encoder_separation(tops["single"], sets["single"], cfg.train_size)}
        for kind, items in sets.items():
            results[kind][COMPARATOR] = [selectivity(comparator_maps(tops[kind], items), items)]
        results["seconds"] = time.perf_counter() - t
        return cls(encoder, sets, stages, tops, cfg, results)

    def train_repair(self, bank, cfg: TrainConfig, seed: int) -> None:
        """The repair (not the paper's network): the online model whose test path also compares
        instances (models.CORRELATED), trained like the others on the twin and scored here."""
        head = new_head(CORRELATED, self.encoder, cfg, seed)
        fit(head, bank, cfg, seed=seed, device=cfg.device, variant=CORRELATED)
        self.score(REPAIRED, head)

    def train_long(self, bank, cfg: TrainConfig, seed: int) -> None:
        """The diagnosis: one online model trained for ``cfg.epochs`` (longer than the run's) on the
        twin, scored like the others under the name :func:`long_name`."""
        head = new_head(VARIANTS[ONLINE], self.encoder, cfg, seed)
        fit(head, bank, cfg, seed=seed, device=cfg.device, variant=VARIANTS[ONLINE])
        self.score(long_name(cfg.epochs), head, always=True)

    def score(self, method: str, head, always: bool = False) -> None:
        """Score one trained head (one seed) of `method` on both controls, when it is a control method
        (or `always`)."""
        if method not in METHODS and not always:
            return
        t = time.perf_counter()
        for kind, items in self.sets.items():
            pred = predict(head, self.encoder, items, self.cfg, self.stages[kind])
            self.results[kind].setdefault(method, []).append(selectivity(pred, items))
        if head.rfm is not None:
            sep = rfm_separation(head, self.tops["single"], self.sets["single"], self.cfg.train_size)
            self.results["rfm separation"].setdefault(method, []).append(sep)
        self.results["seconds"] += time.perf_counter() - t


def comparator_maps(top: torch.Tensor, items) -> list:
    """The reference comparator's maps: every salient object (the Salient/ masks, as the all-salient
    oracle) weighted by the frozen encoder's self-correlation (clipped at 0), resized to each image. Nothing is
    trained: it is what comparing instances alone does on the control."""
    import cv2

    corr = SelfCorrelation()(top)[:, 0].numpy()
    return [np.clip(cv2.resize(c, it.gt.shape[::-1], interpolation=cv2.INTER_LINEAR), 0, 1) * it.salient
            for c, it in zip(corr, items.items)]


def long_name(epochs: int) -> str:
    return f"{ONLINE}, {epochs} epochs (one seed)"


@torch.no_grad()
def top_features(encoder, items, cfg: TrainConfig, batch: int = 16) -> torch.Tensor:
    """The frozen encoder's stride-16 features of the images squashed to S×S (the only stage the
    separation measures read), on the CPU."""
    x = np.stack([_resize_square(it.image, cfg.train_size) for it in items.items]).astype(np.float32) / 255
    return torch.cat([encode(encoder, x[i:i + batch], cfg)[-1] for i in range(0, len(x), batch)])


def _auc(pos, neg) -> float:
    """P(a value of `pos` > a value of `neg`), ties counting one half (Mann–Whitney AUC)."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if not len(pos) or not len(neg):
        return float("nan")
    return float(((pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None])).mean())


def _object_rois(items, size: int):
    """(K, 5) RoIs (image index, box on the size×size square) of every object, and per object its
    image index and co-salient flag."""
    rois, image, co = [], [], []
    for i, it in enumerate(items.items):
        h, w = it.gt.shape
        b = np.asarray(it.boxes, np.float32) * np.array([size / w, size / h, size / w, size / h], np.float32)
        rois += [[float(i), *row] for row in b]
        image += [i] * len(b)
        co += list(np.asarray(it.cosalient, bool))
    return torch.as_tensor(rois, dtype=torch.float32), np.array(image), np.array(co, bool)


def pair_vs_single(vectors: np.ndarray, image: np.ndarray, co: np.ndarray) -> float:
    """AUC of each object's highest cosine similarity to another object of its image: co-salient
    objects (which have a second instance) against single distractors. 0.5: the vectors do not tell
    a pair from a single; 1: every co-salient object has a closer partner than any single one."""
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    best = np.full(len(v), -np.inf)
    for i in np.unique(image):
        idx = np.nonzero(image == i)[0]
        s = v[idx] @ v[idx].T
        np.fill_diagonal(s, -np.inf)
        best[idx] = s.max(axis=1)
    return _auc(best[co], best[~co])


@torch.no_grad()
def rfm_separation(head, top, items, size: int) -> float:
    """:func:`pair_vs_single` of the RFM's vectors (RoIAlign of R → MLP) of the objects' boxes."""
    rois, image, co = _object_rois(items, size)
    device = next(head.parameters()).device
    r = head.fs(top.to(device)).float()
    return pair_vs_single(head.rfm(r, rois.to(device)).cpu().numpy(), image, co)


def encoder_separation(top, items, size: int) -> float:
    """:func:`pair_vs_single` of the frozen encoder's stride-16 features averaged over each box
    (centred on the image's mean feature): whether the features the network starts from tell a
    pair from a single at this resolution."""
    rois, image, co = _object_rois(items, size)
    pooled = roi_align_separable(top, rois).mean(dim=(2, 3))
    pooled = pooled - top.mean(dim=(2, 3))[torch.as_tensor(image)]
    return pair_vs_single(pooled.numpy(), image, co)


# --------------------------------------------------------------------------- verdicts
def _selectivity(kind, method):
    def effect(run):
        per = run.control.get(kind, {}).get(method)
        if not per:
            raise NotTested(f"{method} was not scored on the {KINDS[kind]} (parameter `control_images`)")
        return Measurement([np.asarray(p["selectivity"], float)[:, None] for p in per], Stat(linear, w=[1]),
                           columns=[f"{method} selectivity"], shared_units=True, bounds=(-1.0, 1.0),
                           units="control images", seeds=list(run.seeds)[:len(per)],
                           detail=f"selectivity = co-salient − distractor response per control image, {KINDS[kind]}")
    return effect


def claim_id(kind: str, method: str) -> str:
    short = {"U-Net": "unet", OFFLINE: "offline", ONLINE: "online", COMPARATOR: "comparator", REPAIRED: "repaired"}
    return f"control_{kind}_" + short.get(method, method)


def _claim(kind, method, expect):
    # the comparator trains nothing: one "seed"; the trained models need 3
    return Claim(claim_id(kind, method), f"{method} suppresses the distractor (selectivity > 0) on the "
                 f"{KINDS[kind]}; expected: {expect}", "issue 29: a check of the RFM's mechanism, not a claim of "
                 "the paper", _selectivity(kind, method), unit="response", min_seeds=1 if method == COMPARATOR else 3)


# what a working RFM would give: held on the positive control, not held on the matched negative one
CONTROL_CLAIMS = [_claim("single", COMPARATOR, "held (it compares instances)"),
                  _claim("paired", COMPARATOR, "not held"),
                  _claim("single", "U-Net", "not held (no RFM: masks alone)"),
                  _claim("single", OFFLINE, "held"), _claim("single", ONLINE, "held"),
                  _claim("paired", OFFLINE, "not held"), _claim("paired", ONLINE, "not held"),
                  _claim("single", REPAIRED, "held (its test path compares instances)"),
                  _claim("paired", REPAIRED, "not held")]
