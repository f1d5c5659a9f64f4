"""Training stages of the ORANDNet chapter: the two classifiers, the ORANDNet FCN, the affinity
refinement and the second-stage segmentation network, each through `fit` (one AdamW loop) with its
own `Settings`."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from benchlib import BenchlibError
from benchlib.torchutil import (TrainingCheckpoint, autocast, config_hash, restore_training_state, seed_everything,
                                training_state)

from . import models as M
from .data import Split

MIN_SIDE = 12  # scale scheduling never shrinks an image side below this many pixels


@dataclass(frozen=True)
class Settings:
    """One training stage's settings (the `cfg` of `fit`): `loss(model, *batch)` is the loss of a
    batch of the training tensors; `transform(epoch, batch, generator)` may augment / rescale it."""

    loss: Callable
    epochs: int
    lr: float
    batch: int
    weight_decay: float = 0.0
    transform: Callable | None = None


def fit(model, data, cfg: Settings, *, seed: int, device, checkpoint: TrainingCheckpoint | None = None,
        on_epoch=None):
    """Train `model` on `data` (a list of equally long tensors, batched together) with `cfg`: AdamW +
    polynomial decay (power 0.9) over `cfg.epochs` passes of shuffled mini-batches; bf16 autocast and
    channels_last on CUDA. `checkpoint`: the state (model, optimiser, schedule, every random generator)
    is saved after the epochs it says and a matching saved state is resumed, so an interrupted training
    ends with the numbers of an uninterrupted one; `on_epoch(epoch)` is called after each epoch trained
    here. Leaves `model` trained, in eval mode, and returns its history: the mean training loss of
    each epoch trained here (a resumed training lists only the epochs after the checkpoint)."""
    tensors, loss_fn, epochs, batch, transform = data, cfg.loss, cfg.epochs, cfg.batch, cfg.transform
    device = torch.device(device)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(tensors[0])
    total = max(1, epochs * math.ceil(n / batch))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (1 - min(s, total - 1) / total) ** 0.9)
    start = 0
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        restore_training_state(saved, model=model, optimizer=opt, scheduler=sched)
        g.set_state(saved["generator"])
        start = saved["epoch"]
    history = []
    model.train()
    for ep in range(start, epochs):
        perm = torch.randperm(n, generator=g)
        summed = torch.zeros((), device=device)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            xb = [t[idx].to(device, non_blocking=True) for t in tensors]
            if transform is not None:
                xb = transform(ep, xb, g)
            with autocast(device):
                loss = loss_fn(model, *xb)
            opt.zero_grad(set_to_none=True)
            loss.float().backward()
            opt.step()
            sched.step()
            summed += loss.detach().float()
        history.append(float(summed) / max(1, math.ceil(n / batch)))
        if checkpoint is not None and checkpoint.due(ep + 1, last=ep + 1 == epochs):
            checkpoint.save({**training_state(model=model, optimizer=opt, scheduler=sched),
                             "generator": g.get_state()},
                            ep + 1, finished=ep + 1 == epochs)
        if on_epoch is not None:
            on_epoch(ep + 1)
    model.eval()
    return history


def stage_checkpoint(cfg, stage: str, seed: int, tensors, **settings) -> TrainingCheckpoint | None:
    """The checkpoint of one training stage when `cfg.checkpoint_every` > 0 (else None). Its key hashes
    the stage, seed, settings, network sizes and the training tensors themselves (the CAMs or
    pseudo-masks of earlier stages), so a checkpoint is resumed only by the very same training; the
    file name carries the key too, as one stage trains on several pseudo-mask sources."""
    every = getattr(cfg, "checkpoint_every", 0)
    if not every:
        return None
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    key = config_hash(stage, seed, settings, h.hexdigest(), cfg.backbones, cfg.image_size,
                      cfg.resnet_weights, cfg.vit_weights, str(cfg.device), torch.__version__)
    return TrainingCheckpoint(cfg.checkpoint_folder(), f"{stage}-seed{seed}-{key[:8]}", key, every)


def _flip(ep, xb, g):
    """Random horizontal flip of every spatial tensor in the batch (same flip for all)."""
    keep = torch.rand(xb[0].shape[0], generator=g) < 0.5
    out = []
    for t in xb:
        if t.dim() >= 3:
            t = torch.where(keep.to(t.device).view(-1, *([1] * (t.dim() - 1))), t, t.flip(-1))
        out.append(t)
    return out


def train_classifier(kind: str, train: Split, cfg, seed: int):
    seed_everything(seed)
    model = M.build_classifier(kind, cfg.image_size, cfg.backbones,
                               cfg.resnet_weights if kind == "resnet" else cfg.vit_weights)
    ckpt = cfg.resnet_checkpoint if kind == "resnet" else cfg.vit_checkpoint
    if ckpt:  # a user's weights for this architecture, read with weights_only=True
        try:
            model.load_state_dict(M.read_state_dict(ckpt))
        except RuntimeError as e:
            raise BenchlibError(f"{ckpt}: not a state_dict of this chapter's {kind} classifier ({e})") from None
        return model.to(cfg.device).eval()
    x, y = M.to_tensor(train.images), torch.from_numpy(train.labels).float()
    lossf = torch.nn.MultiLabelSoftMarginLoss()
    epochs, lr, wd = (cfg.cls_epochs, 3e-3, 1e-4) if kind == "resnet" else (cfg.vit_epochs, 2e-3, 1e-4)
    settings = Settings(lambda m, xb, yb: lossf(m(xb), yb), epochs, lr, batch=16, weight_decay=wd, transform=_flip)
    fit(model, [x, y], settings, seed=seed, device=cfg.device,
        checkpoint=stage_checkpoint(cfg, f"classifier-{kind}", seed, [x, y], epochs=epochs, lr=lr, wd=wd))
    return model


def train_orandnet(or_cams, and_cams, cfg, seed: int):
    """Fit the FCN from every (image, labelled class) OR map to its AND map."""
    seed_everything(seed)
    x = torch.from_numpy(np.concatenate(or_cams)[:, None])
    y = torch.from_numpy(np.concatenate(and_cams)[:, None])
    net = M.OrAndNet()
    # the network's layout is in the checkpoint key: a state saved by another layout is not resumed
    settings = Settings(lambda m, xb, yb: M.orand_loss(m(xb), yb), cfg.orand_epochs, lr=3e-3, batch=8,
                        transform=_flip)
    fit(net, [x, y], settings, seed=seed, device=cfg.device,
        checkpoint=stage_checkpoint(cfg, "orandnet", seed, [x, y], epochs=cfg.orand_epochs, network=repr(net)))
    return net


@torch.no_grad()
def apply_orandnet(model, or_cams, device) -> list:
    """ORANDNet at test time: the FCN on the OR CAM, sigmoid, then per-class max normalisation."""
    out = []
    for c in or_cams:
        if len(c) == 0:
            out.append(c)
            continue
        p = torch.sigmoid(model(torch.from_numpy(c[:, None]).to(device)).float())[:, 0].cpu().numpy()
        out.append(M._max_normalise(p).astype(np.float32))
    return out


def affinity_seeds(cams, classes, size: int, fg: float = 0.4, bg: float = 0.1) -> torch.Tensor:
    """Confident labels at stride 4: class k where the strongest CAM ≥ `fg` (k = its class), background
    where every CAM < `bg`, unsure (−1) elsewhere. Returns N×(h·w) int64."""
    h = size // 4
    out = np.full((len(cams), h * h), -1, np.int64)
    for i, (c, cl) in enumerate(zip(cams, classes)):
        if len(c) == 0:
            out[i] = 0
            continue
        small = F.avg_pool2d(torch.from_numpy(c)[None], 4)[0].numpy()
        top, arg = small.max(0), small.argmax(0)
        lab = np.full(top.shape, -1, np.int64)
        lab[top < bg] = 0
        lab[top >= fg] = np.asarray(cl)[arg[top >= fg]]
        out[i] = lab.ravel()
    return torch.from_numpy(out)


def train_affinity(train: Split, cams, cfg, seed: int, radius: int = 4):
    seed_everything(seed)
    seeds = affinity_seeds(cams, train.classes, cfg.image_size)
    h = cfg.image_size // 4
    i, j = M.pair_indices(h, h, radius)

    def loss(m, xb, sb):
        ii, jj = i.to(xb.device), j.to(xb.device)
        return M.affinity_loss(M.affinities(m(xb).float(), ii, jj), sb, ii, jj)

    x = M.to_tensor(train.images)
    net = M.AffinityNet()
    fit(net, [x, seeds], Settings(loss, cfg.aff_epochs, lr=2e-3, batch=16), seed=seed, device=cfg.device,
        checkpoint=stage_checkpoint(cfg, "affinity", seed, [x, seeds], epochs=cfg.aff_epochs, radius=radius))
    return net


@torch.no_grad()
def refine(model, train: Split, cams, device, radius: int = 4) -> list:
    """Random walk of each image's CAMs (at stride 4) over the learned affinities, back to full size."""
    size = train.images.shape[1]
    out = []
    for b in range(0, len(cams), 64):
        feats = model(M.to_tensor(train.images[b:b + 64]).to(device)).float()
        for f, c in zip(feats, cams[b:b + 64]):
            if len(c) == 0:
                out.append(c)
                continue
            small = F.avg_pool2d(torch.from_numpy(c).to(f.device)[None], 4)[0]
            walked = M.random_walk(f, small, radius=radius, beta=8.0, steps=4)
            up = F.interpolate(walked[None], size=(size, size), mode="bilinear", align_corners=False)[0]
            out.append(M._max_normalise(up.clamp(min=0).cpu().numpy()).astype(np.float32))
    return out


def effective_schedule(schedule, size: int, min_side: int = MIN_SIDE) -> tuple:
    """The scale schedule at this image size: each factor capped so that no side falls below
    `min_side` pixels (at 48 px the paper's ×8 would leave 6×6 images, where objects vanish)."""
    cap = max(1, size // min_side)
    return tuple((min(int(f), cap), int(until)) for f, until in schedule if min(int(f), cap) > 1)


def train_segnet(train: Split, pseudo_masks: np.ndarray, cfg, seed: int, schedule=()):
    """Second stage on (image, pseudo-mask) pairs; `schedule` = ((factor, until_epoch), …) is the
    paper's scale scheduling (pairs downsampled by factor while epoch < until_epoch), applied with
    `effective_schedule` (no side below MIN_SIDE pixels)."""
    seed_everything(seed)
    schedule = effective_schedule(schedule, train.images.shape[1])

    def transform(ep, xb, g):
        xb = _flip(ep, xb, g)
        factor = next((f for f, until in schedule if ep < until), 1)
        return list(M.downsample_pair(xb[0], xb[1], factor))

    x, y = M.to_tensor(train.images), torch.from_numpy(pseudo_masks.astype(np.int64))
    settings = Settings(lambda m, xb, yb: F.cross_entropy(m(xb).float(), yb, ignore_index=255), cfg.seg_epochs,
                        lr=1e-2, batch=16, transform=transform)
    net = M.SegNet(width=24)
    fit(net, [x, y], settings, seed=seed, device=cfg.device,
        checkpoint=stage_checkpoint(cfg, "segnet", seed, [x, y], epochs=cfg.seg_epochs, schedule=schedule))
    return net


@torch.no_grad()
def predict_segnet(model, split: Split, device) -> np.ndarray:
    preds = []
    for b in range(0, len(split.images), 64):
        with autocast(device):
            logits = model(M.to_tensor(split.images[b:b + 64]).to(device))
        preds.append(logits.float().argmax(1).cpu().numpy().astype(np.uint8))
    return np.concatenate(preds)

