"""Training of the co-saliency network's Table 1 variants: data arrays, the paper's augmentations,
the frozen encoder's features (cached once per image), the RPN / RFM branch losses, and prediction."""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from benchlib.torchutil import TrainingCheckpoint, autocast, config_hash, restore_training_state, seed_everything, training_state

from .data import SaliencySet
from .models import (
    PAPER_ANCHOR_SIZES, STRIDE, CoSalHead, Variant, build_head, decode_boxes, make_anchors, make_triplets,
    offline_regions, online_regions, rpn_losses, triplet_loss,
)


@dataclass
class TrainConfig:
    """Training settings: the notebook's parameters (no defaults here, so they cannot drift from the
    notebook's) plus the method's fixed constants."""

    train_size: int               # training / inference resolution (square)
    width: int                    # FS / R width, decoder blocks half (0: the encoder's own widths)
    out_stride: int               # the decoder's finest stride (logits upsampled from there)
    epochs: int
    batch_size: int
    lr: float
    aug_copies: int               # augmented copies per training image (cached features)
    cache_features: bool
    device: str
    weight_decay: float = 1e-4
    # the paper's schedule: lr drops ×0.1 (1e-5 → 1e-6) after 30,000 of its ~80,000 iterations, i.e. after
    # 3/8 of the training; without the drop the heads' end point varied much more from seed to seed
    lr_drop_at: float = 0.375
    lr_drop: float = 0.1
    margin: float = 0.3           # triplet margin (on L2-normalised vectors)
    n_pos: int = 8                # regions per image for the RFM branch (paper: 32 + 96, 128 triplets;
    n_neg: int = 24               # the twin keeps the 1:3 ratio with fewer, since it has ~3.5 objects
    n_triplets: int = 32          # on a 10×10 feature map)

    @property
    def anchor_sizes(self):
        """The paper's anchor areas (128², 256², 512² on images of about 768 px) scaled to the
        training resolution, so anchors cover objects of the same relative size."""
        return tuple(s * self.train_size / 768 for s in PAPER_ANCHOR_SIZES)

    @property
    def area_range(self):
        """The paper's 128² … 512² for offline negatives, scaled the same way."""
        s = self.train_size / 768
        return ((128 * s) ** 2, (512 * s) ** 2)


def _resize_square(image, size, interp=cv2.INTER_AREA):
    return cv2.resize(image, (size, size), interpolation=interp)


def to_training_arrays(items: SaliencySet, size: int):
    """Images (N, S, S, 3) float32 in [0, 1], masks (N, S, S) float32, boxes and co-salient flags
    rescaled to the S×S square (the network sees every image squashed to S×S)."""
    imgs = np.stack([_resize_square(it.image, size) for it in items.items]).astype(np.float32) / 255
    gts = np.stack([_resize_square(it.gt, size, cv2.INTER_LINEAR) for it in items.items]).astype(np.float32) / 255
    boxes = []
    for it in items.items:
        h, w = it.gt.shape
        boxes.append(it.boxes * np.array([size / w, size / h, size / w, size / h], np.float32))
    return imgs, (gts > 0.5).astype(np.float32), boxes, [it.cosalient for it in items.items]


def augment(img, gt, boxes, cosal, rng):
    """The paper's augmentations, on one S×S sample: flip, multi-scale scaling with random object
    clipping (zoom 0.8–1.3 and shift; boxes follow, objects cut off the frame are dropped) and random
    occlusion (a grey rectangle; the ground truth under it is cleared, the boxes are kept)."""
    s = img.shape[0]
    boxes = boxes.astype(np.float64).copy()
    if rng.random() < 0.5:
        img, gt = img[:, ::-1], gt[:, ::-1]
        boxes[:, [0, 2]] = s - boxes[:, [2, 0]]
    z = rng.uniform(0.8, 1.3)
    tx, ty = (rng.uniform(min(0, s - z * s), max(0, s - z * s)) for _ in range(2))
    m = np.array([[z, 0, tx], [0, z, ty]], np.float32)
    img = cv2.warpAffine(np.ascontiguousarray(img), m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    gt = cv2.warpAffine(np.ascontiguousarray(gt), m, (s, s), flags=cv2.INTER_NEAREST, borderValue=0)
    boxes = boxes * z + np.array([tx, ty, tx, ty])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    boxes = np.clip(boxes, 0, s)
    kept = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) >= 0.3 * area
    boxes, cosal = boxes[kept], np.asarray(cosal)[kept]
    if rng.random() < 0.5:
        oh, ow = (int(rng.uniform(0.1, 0.25) * s) for _ in range(2))
        oy, ox = int(rng.integers(0, s - oh)), int(rng.integers(0, s - ow))
        img = img.copy()
        gt = gt.copy()
        img[oy:oy + oh, ox:ox + ow] = rng.uniform(0.2, 0.8)
        gt[oy:oy + oh, ox:ox + ow] = 0
    return img, gt, boxes.astype(np.float32), cosal



# --------------------------------------------------------------------------- frozen features
@torch.no_grad()
def encode(encoder, imgs, cfg: TrainConfig, batch: int = 16):
    """The frozen encoder's stage outputs of (N, S, S, 3) float images in [0, 1], on the CPU; the
    stages finer than ``cfg.out_stride`` are None (the decoder does not read them)."""
    device = torch.device(cfg.device)
    keep = [s >= cfg.out_stride for s in encoder.strides]
    out = [[] for _ in keep]
    for start in range(0, len(imgs), batch):
        x = torch.as_tensor(np.ascontiguousarray(imgs[start:start + batch])).permute(0, 3, 1, 2).to(device)
        with autocast(device):
            stages = encoder(x)
        for j, st in enumerate(stages):
            if keep[j]:
                out[j].append(st.float().cpu())
    return [torch.cat(o) if k else None for o, k in zip(out, keep)]


def _take(stages, idx, device):
    return [None if st is None else st[idx].to(device) for st in stages]


class FeatureBank:
    """The training samples as the frozen encoder sees them. A frozen encoder's features never
    change, so by default (``cache_features``) it runs once per training image and once per
    augmented copy (``aug_copies`` copies of every image, drawn once with a seeded generator and
    shared by the seeds and variants); an augmented variant draws one copy per image and epoch.
    Without the cache (full-resolution VGG-16 features do not fit in memory) every batch is
    augmented afresh and encoded on the fly."""

    def __init__(self, encoder, arrays, cfg: TrainConfig, seed: int = 0):
        self.encoder, self.arrays, self.cfg, self.seed = encoder, arrays, cfg, seed
        self.plain = encode(encoder, arrays[0], cfg) if cfg.cache_features else None
        self.copies = None  # made on first use: a run without augmented variants does not pay for them

    def __len__(self):
        return len(self.arrays[0])

    def _augmented_copies(self):
        if self.copies is None:
            rng = np.random.default_rng([self.seed, 1])
            imgs, gts, boxes, cosal = self.arrays
            self.copies = []
            for _ in range(self.cfg.aug_copies):
                samples = [augment(imgs[j], gts[j], boxes[j], cosal[j], rng) for j in range(len(imgs))]
                self.copies.append((encode(self.encoder, np.stack([a[0] for a in samples]), self.cfg),
                                    np.stack([a[1] for a in samples]), [a[2] for a in samples],
                                    [a[3] for a in samples]))
        return self.copies

    def batch(self, idx, augmented: bool, rng):
        """(stages on the device, masks (B, 1, S, S), boxes, co-salient flags) of training images `idx`."""
        device = torch.device(self.cfg.device)
        imgs, gts, boxes, cosal = self.arrays
        if not self.cfg.cache_features:
            samples = [(imgs[j], gts[j], boxes[j], cosal[j]) for j in idx]
            if augmented:
                samples = [augment(*a, rng) for a in samples]
            x = np.stack([a[0] for a in samples])
            stages = _take(encode(self.encoder, x, self.cfg), slice(None), device)
            gt, bx, co = np.stack([a[1] for a in samples]), [a[2] for a in samples], [a[3] for a in samples]
        elif augmented:
            copies = self._augmented_copies()
            pick = rng.integers(len(copies), size=len(idx))
            # one copy per image: gather image by image, then stack the stages
            parts = [_take(copies[c][0], [j], device) for c, j in zip(pick, idx)]
            stages = [None if p0 is None else torch.cat([p[k] for p in parts]) for k, p0 in enumerate(parts[0])]
            gt = np.stack([copies[c][1][j] for c, j in zip(pick, idx)])
            bx, co = [copies[c][2][j] for c, j in zip(pick, idx)], [copies[c][3][j] for c, j in zip(pick, idx)]
        else:
            stages = _take(self.plain, idx, device)
            gt, bx, co = gts[idx], [boxes[j] for j in idx], [cosal[j] for j in idx]
        return stages, torch.as_tensor(np.ascontiguousarray(gt))[:, None].to(device), bx, co


# --------------------------------------------------------------------------- training
def _branch_loss(model, r, boxes, cosal, anchors, variant, cfg, rng):
    """(RPN loss (online only, else 0), RFM triplet loss) for one batch of Feature-Sensitive features ``r``."""
    s = cfg.train_size
    rpn_terms, rois, triplets, weights = [], [], [], []
    if variant.rfm == "online":
        cls, reg = model.rpn(r)
        cls, reg = cls.float(), reg.float()
    offset = 0
    for i in range(r.shape[0]):
        b = torch.as_tensor(boxes[i], dtype=torch.float32)
        co = np.asarray(cosal[i], bool)
        if not co.any():
            continue
        if variant.rfm == "online":
            per_anchor, labels = rpn_losses(cls[i], reg[i], anchors.to(r.device), b[torch.as_tensor(co)].to(r.device))
            pos, neg = labels == 1, labels == 0
            rpn_terms.append(per_anchor[pos].mean() + per_anchor[neg].mean())
            # Sampling is bookkeeping on a few hundred boxes: done on the CPU.
            proposals = decode_boxes(reg[i].detach().cpu(), anchors)
            regions, role, iou = online_regions(proposals, per_anchor.detach().cpu(), b.numpy(), co, s, s, rng,
                                                cfg.n_pos, cfg.n_neg)
        else:
            regions, role, iou = offline_regions(b.numpy(), co, s, s, rng, cfg.n_pos, cfg.n_neg, cfg.area_range)
        role = role.numpy()
        t = make_triplets(np.nonzero(role == 1)[0], np.nonzero(role == 0)[0], cfg.n_triplets, rng)
        if len(t) == 0:
            continue
        rois.append(torch.cat([torch.full((len(regions), 1), float(i)), regions], dim=1))
        triplets.append(torch.as_tensor(t) + offset)
        weights.append(iou[t[:, 0]] * iou[t[:, 1]])  # β = IoU(anchor, gt) · IoU(positive, gt)
        offset += len(regions)
    rpn = torch.stack(rpn_terms).mean() if rpn_terms else r.new_zeros(()).float()
    rfm = r.new_zeros(()).float()
    if rois:
        v = model.rfm(r.float(), torch.cat(rois).to(r.device))
        t = torch.cat(triplets).to(r.device)
        rfm = triplet_loss(v[t[:, 0]], v[t[:, 1]], v[t[:, 2]], cfg.margin, torch.cat(weights).to(r.device))
    return rpn, rfm


def lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    """Learning rate of training step `step` (0-based) of `total`: `cfg.lr`, times `cfg.lr_drop` from
    step ⌈lr_drop_at · total⌉ on (the paper's single drop)."""
    return cfg.lr * (cfg.lr_drop if step >= math.ceil(cfg.lr_drop_at * total) else 1.0)


def new_head(variant: Variant, encoder, cfg: TrainConfig, seed: int) -> CoSalHead:
    """One Table 1 column's untrained head on the training device, its initialisation drawn from
    ``seed`` (every generator is seeded first, then the head is built: the order :func:`fit` expects)."""
    seed_everything(seed)
    return build_head(variant, encoder, cfg.anchor_sizes, cfg.width, cfg.out_stride).to(torch.device(cfg.device))


def fit(model: CoSalHead, data: FeatureBank, cfg: TrainConfig, *, seed: int, device, checkpoint=None,
        variant: Variant, on_epoch=None) -> list:
    """Train one Table 1 column's head ``model`` (FS, decoder, RPN / RFM; built by :func:`new_head`,
    which seeds the generators before building it) on the frozen encoder's features ``data``.
    ``variant`` says whether batches are augmented and how the RFM branch samples its regions.
    Returns the history: per epoch the mean decoder BCE, RPN and RFM losses (total = their sum,
    weights 1 as in the paper); the head is left in eval mode. ``checkpoint`` (a
    TrainingCheckpoint or None): the state (head, optimiser, random generators, history) is saved
    after the epochs it says and a matching saved state is resumed, so an interrupted training ends
    as an uninterrupted one; ``on_epoch(epoch)`` after each epoch."""
    device = torch.device(device)
    rng = np.random.default_rng(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    anchors = make_anchors(cfg.train_size // STRIDE, cfg.train_size // STRIDE, sizes=cfg.anchor_sizes)
    steps_per_epoch = -(-len(data) // cfg.batch_size)
    history, start = [], 0
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        restore_training_state(saved, rng, model=model, optimizer=opt)
        history, start = saved["history"], saved["epoch"]
    model.train()
    for ep in range(start, cfg.epochs):
        perm, sums = rng.permutation(len(data)), np.zeros(3)
        for begin in range(0, len(perm), cfg.batch_size):
            idx = perm[begin:begin + cfg.batch_size]
            for group in opt.param_groups:  # from the step count alone: a resumed training continues the same
                group["lr"] = lr_at(cfg, ep * steps_per_epoch + begin // cfg.batch_size, cfg.epochs * steps_per_epoch)
            stages, y, boxes, cosal = data.batch(idx, variant.augment, rng)
            with autocast(device):
                logits, r = model(stages)
                # the paper's BCE on the full-resolution mask: logits upsampled from out_stride
                logits = F.interpolate(logits.float(), size=y.shape[-2:], mode="bilinear", align_corners=False)
                bce = F.binary_cross_entropy_with_logits(logits, y)
                rpn = rfm = torch.zeros((), device=device)
                if variant.rfm != "none":
                    rpn, rfm = _branch_loss(model, r, boxes, cosal, anchors, variant, cfg, rng)
            opt.zero_grad()
            (bce + rpn + rfm).backward()
            opt.step()
            sums += np.array([float(bce.detach()), float(rpn.detach()), float(rfm.detach())]) * len(idx)
        history.append({k: float(v) for k, v in zip(("bce", "rpn", "rfm"), sums / len(data))})
        if checkpoint is not None and checkpoint.due(ep + 1, last=ep + 1 == cfg.epochs):
            checkpoint.save({**training_state(rng, model=model, optimizer=opt), "history": history}, ep + 1,
                            finished=ep + 1 == cfg.epochs)
        if on_epoch is not None:
            on_epoch(ep + 1)
    model.eval()
    return history


def variant_checkpoint(folder, every: int, variant: str, dataset: str, seed: int, cfg: TrainConfig, bank: FeatureBank,
                       encoder_name: str) -> TrainingCheckpoint | None:
    """The checkpoint of one (variant, dataset, seed) training when `every` > 0: its key hashes the
    settings, the encoder and the training images and masks themselves."""
    if not every:
        return None
    import hashlib

    h = hashlib.sha256()
    for a in bank.arrays[:2]:
        h.update(np.ascontiguousarray(a).tobytes())
    key = config_hash(variant, dataset, seed, cfg.__dict__, encoder_name, h.hexdigest(), torch.__version__)
    name = f"{dataset}-{variant}-seed{seed}".replace(" ", "").replace("+", "_").replace("(", "").replace(")", "")
    return TrainingCheckpoint(folder, name, key, every)


def encode_items(encoder, items: SaliencySet, cfg: TrainConfig):
    """The frozen encoder's features of the test images (squashed to S×S), computed once and
    shared by every trained head; None without the cache (then :func:`predict` encodes)."""
    if not cfg.cache_features:
        return None
    x = np.stack([_resize_square(it.image, cfg.train_size) for it in items.items]).astype(np.float32) / 255
    return encode(encoder, x, cfg)


@torch.no_grad()
def predict(head: CoSalHead, encoder, items: SaliencySet, cfg: TrainConfig, stages=None, batch: int = 16):
    """Saliency maps (float32 in [0, 1]) at each image's own size: squash to S×S, run the test-time
    path (encoder → FS → decoder; the encoder's part from `stages` when given), sigmoid, resize back."""
    device = torch.device(cfg.device)
    out = []
    for start in range(0, len(items), batch):
        chunk = items.items[start:start + batch]
        if stages is None:
            x = np.stack([_resize_square(it.image, cfg.train_size) for it in chunk]).astype(np.float32) / 255
            st = _take(encode(encoder, x, cfg), slice(None), device)
        else:
            st = _take(stages, slice(start, start + len(chunk)), device)
        with autocast(device):
            logits = head(st)[0].float()
        p = torch.sigmoid(F.interpolate(logits, size=(cfg.train_size,) * 2, mode="bilinear",
                                        align_corners=False))[:, 0].cpu().numpy()
        for it, m in zip(chunk, p):
            h, w = it.gt.shape
            out.append(np.clip(cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1).astype(np.float32))
    return out
