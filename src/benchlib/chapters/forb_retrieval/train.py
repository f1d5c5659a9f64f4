"""SimCLR training (NT-Xent loss) of the chapter's embedding network on FORB's codebook images.

Random-init torchvision backbones give embeddings that mean little; trained here without labels, a
network learns to map two augmented views of the same flat object close together, so the
learned-embedding rows of the twin's tables mean something. The augmentations are SimCLR's (random
resized crop, colour jitter — kept mild, see :func:`augment` — and blur) plus a random rotation,
perspective and zoom-out onto a background made from another codebook image: views of one object,
not the twin's query generator. On two CPU cores a few hundred steps is all the budget allows, so
the scratch network is weak (it beats random init on easy queries, not on hard ones); the paper
profile trains longer.

:func:`fit` trains a network that :mod:`.models` builds (:func:`.models.simclr_net`: the small CNN
from scratch, or the last stage of the ImageNet EfficientNet-Lite0) with the settings
:class:`Settings`; :func:`simclr` seeds, builds and fits one seed's network, which is what the
pipeline runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import models as M
from .models import FROZEN_BLOCKS, IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class Settings:
    """SimCLR's training settings (the ``cfg`` of :func:`fit`)."""

    steps: int = 150
    batch: int = 48
    size: int = 48                 # side of the views, px
    dim: int = 128                 # embedding width of the scratch CNN and of the projection head
    lr: float = 3e-3
    init: str = "scratch"          # the network trained (models.SIMCLR_INITS)
    log_every: int = 0             # print the loss every N steps (0: never)

    @classmethod
    def of(cls, config) -> "Settings":
        """The settings a chapter Config asks for (its ssl_* parameters)."""
        return cls(steps=config.ssl_steps, batch=config.ssl_batch, size=config.ssl_size, init=config.ssl_init)


def augment(img: np.ndarray, other: np.ndarray, rng, size: int) -> np.ndarray:
    """One SimCLR-style view of ``img`` (RGB uint8), ``size``×``size``: crop, zoom-out with
    rotation and perspective onto ``other``, colour jitter, blur."""
    h, w = img.shape[:2]
    # random resized crop (area 50–100 %)
    area = rng.uniform(0.5, 1.0)
    ch, cw = int(h * np.sqrt(area)), int(w * np.sqrt(area))
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = img[y:y + ch, x:x + cw]
    # zoom-out with rotation and perspective onto a background cut from another image
    bg = cv2.resize(other, (size, size), interpolation=cv2.INTER_AREA)
    s = rng.uniform(0.4, 1.0) * size
    src = np.float32([[0, 0], [cw, 0], [cw, ch], [0, ch]])
    a = np.deg2rad(rng.uniform(-20, 20))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = ((src - [cw / 2, ch / 2]) / max(ch, cw) * s) @ rot.T + rng.normal(0, 0.05 * s, (4, 2))
    dst = dst - dst.min(0) + rng.uniform(0, np.maximum(size - np.ptp(dst, 0), 1))
    H = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    view = cv2.warpPerspective(crop, H, (size, size), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones((ch, cw), np.float32), H, (size, size))[..., None]
    view = view * mask + bg * (1 - mask)
    # mild colour jitter: colour is a strong cue for flat objects, a strong jitter slows learning
    # down more than a few hundred CPU steps can afford
    view = view * rng.uniform(0.9, 1.1, 3) + rng.uniform(-10, 10)
    view = (view - view.mean()) * rng.uniform(0.85, 1.15) + view.mean()
    view = np.clip(view, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        view = cv2.GaussianBlur(view, (0, 0), rng.uniform(0.1, 1.5))
    return view


def _batch(views) -> np.ndarray:
    arr = np.stack(views).astype(np.float32) / 255.0
    return ((arr - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)


def nt_xent(z1, z2, temperature: float = 0.1):
    """SimCLR's loss: each view must pick its partner among the 2B−1 other views."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    n = z1.shape[0]
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def key(images, cfg: Settings, *, seed: int, device="cpu") -> str:
    """What a saved SimCLR training must share to be resumed: every setting and the images."""
    import hashlib

    import torch

    from benchlib.torchutil import config_hash

    h = hashlib.sha256()
    for im in images:
        h.update(np.ascontiguousarray(im).tobytes())
    # `init` joins the key only when it is not the scratch CNN: keys of scratch trainings are unchanged
    extra = () if cfg.init == "scratch" else (cfg.init, FROZEN_BLOCKS)
    return config_hash("simclr", cfg.steps, cfg.batch, cfg.size, cfg.dim, cfg.lr, seed, torch.device(device).type,
                       h.hexdigest(), torch.__version__, *extra)


def simclr(images, cfg: Settings, *, seed: int, device="cpu", checkpoint=None, on_step=None):
    """One seed's training: seed every generator with ``seed``, build the network
    (:func:`.models.simclr_net`) and :func:`fit` it on ``images``. Returns (model, losses)."""
    from benchlib.torchutil import seed_everything

    seed_everything(seed)
    model = M.simclr_net(cfg.init, cfg.dim)
    losses = fit(model, images, cfg, seed=seed, device=device, checkpoint=checkpoint, on_step=on_step)
    return model, losses


def fit(model, data, cfg: Settings, *, seed: int, device="cpu", checkpoint=None, on_step=None) -> list:
    """Train ``model`` (built by :func:`.models.simclr_net`; its ``out_dim`` feeds the projection
    head) on ``data`` (list of RGB uint8 images) with SimCLR for ``cfg.steps`` steps; the views are
    drawn from a generator seeded with ``seed``, and the projection head is initialised from torch's
    generator where the model's construction left it (:func:`simclr` seeds it before). With
    ``init="imagenet"`` the ImageNet weights take a third of the learning rate. Returns the NT-Xent
    loss per step (the model is left on ``device``, in eval mode).

    Runs on CUDA with bf16 autocast and channels_last when ``device`` is a GPU (untested here).
    ``checkpoint`` (a ``benchlib.torchutil.TrainingCheckpoint`` counting steps): the state is saved
    every that many steps and a matching saved state is resumed, so an interrupted training ends as
    an uninterrupted one; ``on_step(step)`` is called after each step trained here."""
    import torch

    rng = np.random.default_rng(seed)
    cpu_threads = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        # A net this small gains little from a second thread, and on a busy machine two threads
        # waiting for each other run 5× slower than one (measured): train single-threaded.
        torch.set_num_threads(1)
    try:
        return _fit(model, data, cfg, rng, device, checkpoint, on_step)
    finally:
        torch.set_num_threads(cpu_threads)


def _fit(model, images, cfg: Settings, rng, device, checkpoint, on_step) -> list:
    import torch
    from torch import nn

    from benchlib.torchutil import autocast, restore_training_state, training_state

    steps, batch, size, dim, lr = cfg.steps, cfg.batch, cfg.size, cfg.dim, cfg.lr
    head = nn.Sequential(nn.Linear(model.out_dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
    model, head = model.to(device), head.to(device)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    # ImageNet weights take a third of the step (a larger one undid them faster than SimCLR could
    # teach: 5e-3 on every layer did worse than 1e-3 in trials); the scratch CNN's is unchanged.
    # (one parameter group for the scratch CNN, as its saved optimizer states have)
    if cfg.init == "scratch":
        groups, max_lr = [{"params": list(model.parameters()) + list(head.parameters())}], [lr]
    else:
        groups = [{"params": [p for p in model.parameters() if p.requires_grad]}, {"params": list(head.parameters())}]
        max_lr = [lr / 3, lr]
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=max(steps, 1), pct_start=0.15)
    losses, start = [], 0
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        restore_training_state(saved, rng, model=model, head=head, optimizer=opt, scheduler=sched)
        losses, start = list(saved["losses"]), saved["epoch"]
    # Backgrounds shrunk once, not once per view (augment's own resize is then a copy: same views)
    backgrounds = [cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images]
    model.train()
    for step in range(start, steps):
        idx = rng.choice(len(images), min(batch, len(images)), replace=False)
        others = rng.integers(0, len(images), (len(idx), 2))
        v1 = _batch([augment(images[i], backgrounds[o[0]], rng, size) for i, o in zip(idx, others)])
        v2 = _batch([augment(images[i], backgrounds[o[1]], rng, size) for i, o in zip(idx, others)])
        x = torch.from_numpy(np.concatenate([v1, v2])).to(device)
        if cuda:
            x = x.to(memory_format=torch.channels_last)
        with autocast(device):
            z = head(model(x)).float()
        loss = nt_xent(z[: len(idx)], z[len(idx):])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if cfg.log_every and step % cfg.log_every == 0:
            print(f"step {step}: loss {losses[-1]:.3f}")
        if checkpoint is not None and checkpoint.due(step + 1, last=step + 1 == steps):
            checkpoint.save({**training_state(rng, model=model, head=head, optimizer=opt, scheduler=sched),
                             "losses": losses},
                            step + 1, finished=step + 1 == steps)
        if on_step is not None:
            on_step(step + 1)
    model.eval()
    return losses
