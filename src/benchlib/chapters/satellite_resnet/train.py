"""Training of the satellite chapter's networks as in the paper's Sec. III-B/D: tiles cut into disjoint
training / validation areas, the paper's augmentation, SGD with momentum and step decay, early
stopping on a validation score — or, for short CPU budgets, AdamW with a one-cycle schedule."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from benchlib import BenchlibError
from benchlib.torchutil import TrainingCheckpoint, autocast, config_hash, restore_training_state, synchronize, training_state

from .data import Normaliser, Scene
from .evaluate import tile_starts
from .models import DISPLAY_NAMES, build_model


@dataclass
class SampleConfig:
    tile: int = 364          # training tile side (paper 364)
    stride: int = 120        # training tile stride (paper 120)
    crop: int = 256          # network input side (paper 256)
    val_fraction: float = 0.2


def split_train_val(scene: Scene, cfg: SampleConfig):
    """Training tiles and validation samples of one scene, from disjoint areas: the bottom band of
    the scene (≈ val_fraction of its rows, at least one crop high) is validation, the rest training.
    Returns (train tiles as (y, x) of `cfg.tile` windows, validation crops as (y, x) of `cfg.crop`)."""
    H, W = scene.mask.shape
    band = max(cfg.crop, int(round(cfg.val_fraction * H)))
    top = H - band
    if top < cfg.tile or W < cfg.tile:
        raise BenchlibError(f"{scene.path or scene.name}: scene {H}×{W} too small for {cfg.tile}-pixel "
                            f"training tiles plus a {band}-row validation band")
    train = [(y, x) for y in tile_starts(top, cfg.tile, cfg.stride) for x in tile_starts(W, cfg.tile, cfg.stride)]
    # validation: the paper takes the centre crop of each validation tile; our band is one crop
    # high, so its crops are laid side by side without overlap
    val = [(top + (band - cfg.crop) // 2, x) for x in tile_starts(W, cfg.crop, cfg.crop)]
    return train, val


def augment(image: np.ndarray, mask: np.ndarray, crop: int, rng: np.random.Generator, jitter: float = 0.0):
    """The paper's training transform of one tile (H × W × C image, H × W mask): with probability ½
    a random crop, else a rotation by a random angle in (0, 2π) and the centre crop; then random
    horizontal and vertical flips; with `jitter` > 0 the paper's colour jittering: every band of the
    (normalised) crop times a gain drawn from 1 ± jitter, plus an offset drawn from ± jitter."""
    import cv2

    H, W = mask.shape
    if rng.random() < 0.5:
        y, x = int(rng.integers(0, H - crop + 1)), int(rng.integers(0, W - crop + 1))
        img, msk = image[y:y + crop, x:x + crop], mask[y:y + crop, x:x + crop]
    else:
        m = cv2.getRotationMatrix2D((W / 2 - 0.5, H / 2 - 0.5), float(rng.uniform(0, 360)), 1.0)
        img = cv2.warpAffine(image, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        msk = cv2.warpAffine(mask, m, (W, H), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
        y, x = (H - crop) // 2, (W - crop) // 2
        img, msk = img[y:y + crop, x:x + crop], msk[y:y + crop, x:x + crop]
    if rng.random() < 0.5:
        img, msk = img[:, ::-1], msk[:, ::-1]
    if rng.random() < 0.5:
        img, msk = img[::-1], msk[::-1]
    if jitter > 0:   # colour jitter (§III-B): per band, a gain and an offset
        bands = img.shape[2]
        img = img * rng.uniform(1 - jitter, 1 + jitter, bands).astype(np.float32) \
            + rng.uniform(-jitter, jitter, bands).astype(np.float32)
    return np.ascontiguousarray(img), np.ascontiguousarray(msk)


def to_batch(images, masks, device):
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().to(device)
    y = torch.from_numpy(np.stack(masks)).long().to(device)
    return x, y


@dataclass
class Samples:
    """Normalised training tiles and validation crops of the training scenes."""
    train: list[tuple[np.ndarray, np.ndarray]]
    val: list[tuple[np.ndarray, np.ndarray]]
    cfg: SampleConfig

    @classmethod
    def build(cls, scenes: list[Scene], norm: Normaliser, cfg: SampleConfig) -> "Samples":
        train, val = [], []
        for s in scenes:
            img = norm(s.image)
            t, v = split_train_val(s, cfg)
            train += [(img[y:y + cfg.tile, x:x + cfg.tile], s.mask[y:y + cfg.tile, x:x + cfg.tile]) for y, x in t]
            val += [(img[y:y + cfg.crop, x:x + cfg.crop], s.mask[y:y + cfg.crop, x:x + cfg.crop]) for y, x in v]
        return cls(train, val, cfg)



# =========================================================================== training
@dataclass
class TrainConfig:
    batch: int = 8
    lr: float = 0.005
    momentum: float = 0.9
    weight_decay: float = 1e-4      # λ of the paper's cost (Eq. 2), value not given in the paper
    lr_step: int = 30               # epochs between learning-rate divisions
    lr_gamma: float = 0.2           # ÷ 5
    max_epochs: int = 100
    patience: int = 3               # stop when the monitored validation score has not improved for this many epochs
    width: int = 1                  # channel divisor of the trained models (1 = paper widths)
    monitor: str = "f1"             # "f1": keep the epoch of best validation F1; "cost": of lowest validation cost
    optimizer: str = "sgd"          # "sgd": SGD with momentum (the paper); "adamw": AdamW (decoupled weight decay)
    schedule: str = "step"          # "step": lr × lr_gamma every lr_step epochs, early stopping (the paper);
    #                                 "onecycle": one warm-up-and-anneal cycle over max_epochs, stepped per batch
    jitter: float = 0.0             # colour jitter (§III-B): per band, gain in 1 ± jitter, offset in ± jitter (normalised units)
    prior_bias: bool = False        # start the classifier's bias at the log of the training tiles' class shares


OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("step", "onecycle")
ONECYCLE_WARMUP = 0.25              # share of the steps spent rising to `lr` (torch's default is 0.3)


@dataclass
class Trained:
    name: str
    model: torch.nn.Module
    history: pd.DataFrame
    train_time_s: float
    seed: int

    @property
    def label(self) -> str:
        return DISPLAY_NAMES.get(self.name, self.name)


def validate(model, val, device, batch) -> tuple[float, float]:
    """(mean cross-entropy per pixel, F1 of the building class in percent, pooled over all
    validation pixels) of the argmax prediction."""
    model.eval()
    total, n, tp, fp, fn = 0.0, 0, 0, 0, 0
    with torch.no_grad(), autocast(device):
        for i in range(0, len(val), batch):
            x, y = to_batch(*zip(*val[i:i + batch]), device)
            logits = model(x).float()
            total += float(F.cross_entropy(logits, y, reduction="sum"))
            n += y.numel()
            p = logits.argmax(1) == 1
            t = y == 1
            tp += int((p & t).sum()); fp += int((p & ~t).sum()); fn += int((~p & t).sum())
    return total / n, (200 * tp / (2 * tp + fp + fn) if tp else 0.0)


def fit(model, data: Samples, cfg: TrainConfig, *, seed: int, device,
        checkpoint: TrainingCheckpoint | None = None, on_epoch=None) -> pd.DataFrame:
    """Train `model` on the training tiles of `data` (validated on its validation crops) with
    SGD with momentum (or AdamW, `cfg.optimizer`) and step decay; after every epoch the validation
    cost and F1 are measured, the weights of the best epoch (by `cfg.monitor`) are kept, and training
    stops when the monitored score has not improved for `cfg.patience` epochs, or after
    `cfg.max_epochs`. One epoch = every training tile once, freshly augmented. Returns the per-epoch
    history (`attrs["train_time_s"]`: the training's time, over all sessions when it was resumed).

    The paper stops on the validation cost. Monitoring F1 instead guards against the failure seen at
    small budgets: a network can sit on the plateau of predicting no building at all (F1 = 0) while
    its cost still falls. With `monitor="f1"` the clock starts when the network leaves that plateau:
    epochs at validation F1 = 0 before it do not count towards `max_epochs`, the patience or the
    learning-rate steps (the paper updated its learning rate by hand), up to `max_epochs` of them.

    `cfg.schedule = "onecycle"` instead runs exactly `max_epochs` epochs under one learning-rate cycle
    (torch's OneCycleLR: a cosine rise from `cfg.lr` / 25 to `cfg.lr` over the first quarter of the
    steps, then a cosine anneal to ~0, stepped per batch): no early stop and no plateau rule; the
    best monitored epoch is still kept.

    `checkpoint` (a `benchlib.torchutil.TrainingCheckpoint`): the whole training state is saved after
    the epochs it says, and a matching saved state is resumed, so an interrupted training continues
    where it stopped and ends with the same numbers as an uninterrupted one (same device and
    threads). `on_epoch(epoch)` is called after each epoch trained in this session."""
    if cfg.monitor not in ("f1", "cost"):
        raise BenchlibError(f"monitor must be 'f1' or 'cost', got {cfg.monitor!r}")
    if cfg.optimizer not in OPTIMIZERS or cfg.schedule not in SCHEDULES:
        raise BenchlibError(f"optimizer must be one of {', '.join(OPTIMIZERS)} and schedule one of "
                            f"{', '.join(SCHEDULES)}, got {cfg.optimizer!r} / {cfg.schedule!r}")
    samples = data
    rng = np.random.default_rng(seed)
    crop = samples.cfg.crop
    opt = (torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay) if cfg.optimizer == "adamw"
           else torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay))
    if cfg.schedule == "onecycle":
        steps = cfg.max_epochs * math.ceil(len(samples.train) / cfg.batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(steps, 2),
                                                    pct_start=ONECYCLE_WARMUP)
    else:
        sched = torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma)
    s = {"best": -math.inf, "best_state": None, "bad": 0, "rows": [], "elapsed_s": 0.0,
         "plateau": 0}   # plateau: epochs at validation F1 = 0 before the first positive one (monitor "f1")
    epoch, finished = 0, False
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        restore_training_state(saved, rng, model=model, optimizer=opt, scheduler=sched)
        s = {k: saved[k] for k in s}
        epoch, finished = saved["epoch"], saved["finished"]
    n_epochs = 2 * cfg.max_epochs if cfg.monitor == "f1" and cfg.schedule == "step" else cfg.max_epochs
    t0 = time.perf_counter()
    while not finished and epoch < n_epochs:
        finished = _epoch(model, samples, cfg, device, rng, crop, opt, sched, s, epoch)
        epoch += 1
        finished = finished or epoch >= n_epochs
        if checkpoint is not None and checkpoint.due(epoch, last=finished):
            checkpoint.save({**training_state(rng, model=model, optimizer=opt, scheduler=sched),
                             **s, "elapsed_s": s["elapsed_s"] + time.perf_counter() - t0}, epoch, finished)
        if on_epoch is not None:
            on_epoch(epoch)
    if s["best_state"] is not None:
        model.load_state_dict(s["best_state"])
    model.eval()
    hist = pd.DataFrame(s["rows"])
    hist.attrs["train_time_s"] = s["elapsed_s"] + time.perf_counter() - t0
    return hist


def _epoch(model, samples, cfg, device, rng, crop, opt, sched, s: dict, epoch: int) -> bool:
    """One epoch of `fit` (training, validation, early-stopping bookkeeping in `s`); True to stop."""
    model.train()
    order = rng.permutation(len(samples.train))
    losses = []
    for i in range(0, len(order), cfg.batch):
        batch = [augment(*samples.train[j], crop, rng, cfg.jitter) for j in order[i:i + cfg.batch]]
        x, y = to_batch(*zip(*batch), device)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        lr = opt.param_groups[0]["lr"]   # the rate of this step (the history shows the epoch's last)
        opt.step()
        if cfg.schedule == "onecycle":
            sched.step()
        losses.append(float(loss.detach()))
    cost, f1 = validate(model, samples.val, device, cfg.batch) if samples.val else (float(np.mean(losses)), 0.0)
    s["rows"].append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_loss": cost, "val_f1": f1,
                      "lr": lr})
    score = f1 if cfg.monitor == "f1" else -cost
    if cfg.schedule == "onecycle":
        # The cycle is laid out over max_epochs: no early stop, no plateau rule (the warm-up carries a
        # network off the no-building plateau); the best monitored epoch is kept.
        if score > s["best"] + 1e-6:
            s["best"], s["best_state"] = score, {k: v.detach().clone() for k, v in model.state_dict().items()}
        return epoch + 1 >= cfg.max_epochs
    on_plateau = cfg.monitor == "f1" and s["best"] <= 0 and f1 == 0
    if on_plateau and s["plateau"] < cfg.max_epochs:
        s["plateau"] += 1
        return False
    sched.step()
    if score > s["best"] + 1e-6:
        s["best"], s["bad"] = score, 0
        s["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        s["bad"] += 1
        if s["bad"] >= cfg.patience:
            return True
    return epoch + 1 - s["plateau"] >= cfg.max_epochs


def train_model(name: str, samples: Samples, cfg: TrainConfig, device, seed: int, in_channels: int,
                checkpoint: TrainingCheckpoint | None = None, on_epoch=None) -> Trained:
    torch.manual_seed(seed)
    model = build_model(name, in_channels=in_channels, num_classes=2, width=cfg.width).to(device)
    if cfg.prior_bias:
        # The classifier starts out predicting the building share of the training tiles. With torch's
        # default initialisation, U-Net(35) at width ÷ 8 (seed 2, normalise="train", then the default)
        # ended calling no validation pixel a building (F1 0 in every epoch) while its training loss
        # fell; clipping, a longer warm-up or a lower rate did not prevent it, this start did.
        share = float(np.mean([m.mean() for _, m in samples.train]))
        if not 0 < share < 1:
            raise BenchlibError(f"prior_bias: the training tiles' building share is {share:g}; the masks must hold "
                                "both classes (check the gt files of the training scenes)")
        with torch.no_grad():
            model.classifier.bias.copy_(torch.tensor([math.log(1 - share), math.log(share)]))
    if device.type == "cuda":
        # Not on the CPU: there (torch 2.14.1, oneDNN, AVX2) channels_last made the default run
        # ~12 s faster, but the backward pass of a thin Prop-34 (width ÷ 16: a strided 1×1
        # convolution with 4 input channels, oneDNN issue #6035) aborted or segfaulted in 5 runs of
        # 6, and at width ÷ 8 its weight gradients were ~10³× further from a float64 reference
        # than the default layout's (U-Net(19) 3.7e-3 vs 1.5e-6, relative norm).
        model = model.to(memory_format=torch.channels_last)
    hist = fit(model, samples, cfg, seed=seed, device=device, checkpoint=checkpoint, on_epoch=on_epoch)
    synchronize(device)
    return Trained(name, model, hist, hist.attrs["train_time_s"], seed)


def checkpoint_key(name: str, seed: int, cfg: TrainConfig, samples: Samples, in_channels: int, data: str,
                   device, normalise: str) -> str:
    """What a saved training must share to be resumed: network, seed, every training setting, the
    sample settings and counts, the data (`data`: its folder and file signature), how it was
    normalised (the samples' pixels differ between "train" and "scene") and the device type."""
    return config_hash(name, seed, asdict(cfg), asdict(samples.cfg), len(samples.train), len(samples.val),
                       in_channels, data, normalise, torch.device(device).type, torch.__version__)


def train_all(names, samples: Samples, cfg: TrainConfig, device, seeds, in_channels: int, lr_by_model=None,
              log=print, checkpoints=None):
    """{display label: [Trained per seed]} and a summary frame (epochs, best epoch, its validation F1
    and cost, time). `lr_by_model` overrides `cfg.lr` for some networks (name -> learning rate).
    `checkpoints(name, seed, cfg)` → a `TrainingCheckpoint` for that training (or None: none)."""
    trained, rows = {}, []
    for name in names:
        c = replace(cfg, lr=float((lr_by_model or {}).get(name, cfg.lr)))
        for seed in seeds:
            ck = checkpoints(name, seed, c) if checkpoints is not None else None
            t = train_model(name, samples, c, device, seed, in_channels, ck)
            trained.setdefault(t.label, []).append(t)
            h = t.history
            best = h.loc[h["val_f1"].idxmax() if c.monitor == "f1" else h["val_loss"].idxmin()]
            rows.append({"model": t.label, "seed": seed, "lr": c.lr, "epochs": len(h), "best epoch": int(best["epoch"]),
                         "val. F1 (best epoch)": best["val_f1"], "val. cost (best epoch)": best["val_loss"],
                         "train time (s)": t.train_time_s})
            if log:
                log(f"{t.label} seed {seed}: {len(h)} epochs, best {int(best['epoch'])}, "
                    f"val. F1 {best['val_f1']:.1f}, {t.train_time_s:.1f} s")
    return trained, pd.DataFrame(rows)
