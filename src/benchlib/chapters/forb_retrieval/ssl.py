"""A small CNN trained self-supervised (SimCLR, NT-Xent loss) on FORB's codebook images.

Random-init torchvision backbones give embeddings that mean little; this network learns, without
labels, to map two augmented views of the same flat object close together, so the learned-embedding
rows of the twin's tables mean something. The augmentations are SimCLR's (random resized crop,
colour jitter — kept mild, see :func:`augment` — and blur) plus a random rotation, perspective and
zoom-out onto a background made from another codebook image: views of one object, not the twin's
query generator. On two CPU cores a few hundred steps is all the budget allows, so the network is
weak (it beats random init on easy queries, not on hard ones); the paper profile trains longer.

``init="imagenet"`` trains instead the last stage of the ImageNet EfficientNet-Lite0
(:func:`imagenet_embed_net`: stem and blocks 0–14 frozen, block 15 and the 1280-channel head
trained, GeM pooling), the issue's "SimCLR initialised from ImageNet". It is an option, not the
default row: at the default budget (≈ 30 steps per seed at 48 px fit the scratch CNN's CPU time) it
stayed at the ImageNet row's level, below the scratch CNN, and 100 steps did not lift it (trials
outside the book run, described in the notebook; its rows come out of a run with this option).
"""
from __future__ import annotations

import cv2
import numpy as np

from .models import IMAGENET_MEAN, IMAGENET_STD, gem, lite_head_gem


def small_embed_net(dim: int = 128, width: int = 16):
    """Four 3×3 conv-BN-ReLU stages (stride 2 each, widths w, 2w, 4w, 8w), GeM pooling, a linear
    embedding: small enough to train for a few hundred steps on two CPU cores."""
    import torch
    from torch import nn

    class GeM(nn.Module):
        def __init__(self, p: float = 3.0):
            super().__init__()
            self.p = nn.Parameter(torch.tensor(p))

        def forward(self, x):
            return gem(x, self.p)

    def block(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    w = width
    return nn.Sequential(*block(3, w, 2), *block(w, 2 * w, 2), *block(2 * w, 4 * w, 2), *block(4 * w, 8 * w, 2),
                         GeM(), nn.Linear(8 * w, dim))


INITS = ("scratch", "imagenet")
# blocks of EfficientNet-Lite0 run frozen by the ImageNet-initialised network: 0–14 (up to stride
# 32); its last block (192 → 320 channels) and the 1×1 head to 1280 channels are trained. Training
# block 11 on as well costs 2.5× the CPU time per step (depthwise 5×5 backward) and did worse in 30 steps.
FROZEN_BLOCKS = 15


def imagenet_embed_net(frozen_blocks: int = FROZEN_BLOCKS):
    """EfficientNet-Lite0 with its ImageNet weights (the shared hash-checked loader), GeM (p = 3) of
    the 1280-channel head: the stem and the first ``frozen_blocks`` blocks run without gradients,
    the rest is trainable. BatchNorm stays in eval mode (ImageNet statistics): SimCLR batches of
    a few dozen views would give noisy statistics. Inputs are ImageNet-normalised like the scratch
    CNN's (``_batch``, ``models.embed_images``' default) and converted inside to the Lite models'
    (x − 127) / 128, so both networks are trained and described by the same code."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from benchlib import pretrained

    net = pretrained.efficientnet_lite0()
    if not 0 <= frozen_blocks <= len(net._blocks):
        raise ValueError(f"frozen_blocks must lie in 0..{len(net._blocks)}, got {frozen_blocks}")

    class LiteSimCLR(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.frozen = frozen_blocks
            for p in self.frozen_parameters():
                p.requires_grad_(False)
            # x_lite = (x_imagenet · std + mean − MEAN) / STD, per channel
            scale = torch.tensor(IMAGENET_STD / pretrained.STD, dtype=torch.float32).view(1, 3, 1, 1)
            shift = torch.tensor((IMAGENET_MEAN - pretrained.MEAN) / pretrained.STD, dtype=torch.float32)
            shift = shift.view(1, 3, 1, 1)
            self.register_buffer("scale", scale, persistent=False)
            self.register_buffer("shift", shift, persistent=False)

        def frozen_parameters(self):
            n = self.net
            return [*n._conv_stem.parameters(), *n._bn0.parameters(),
                    *(p for b in n._blocks[: self.frozen] for p in b.parameters())]

        def train(self, mode: bool = True):
            super().train(mode)
            for m in self.modules():  # frozen ImageNet BatchNorm statistics (see above)
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
            return self

        def forward(self, x):
            n = self.net
            x = x * self.scale + self.shift  # ImageNet mean/std → (x − 127) / 128
            with torch.no_grad():
                h = F.relu6(n._bn0(n._conv_stem(x)))
                for b in n._blocks[: self.frozen]:
                    h = b(h)
            for b in n._blocks[self.frozen:]:
                h = b(h)
            return lite_head_gem(n, h)

    return LiteSimCLR()


def _embed_net(init: str, dim: int):
    """(network, its output width) for ``init``."""
    if init == "scratch":
        return small_embed_net(dim), dim
    if init == "imagenet":
        return imagenet_embed_net(), 1280
    raise ValueError(f"SimCLR init must be one of {INITS}, got {init!r}")


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
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    view = cv2.warpPerspective(crop, M, (size, size), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones((ch, cw), np.float32), M, (size, size))[..., None]
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


def train_simclr(images, steps: int = 150, batch: int = 48, size: int = 48, dim: int = 128,
                 lr: float = 3e-3, seed: int = 0, device="cpu", log_every: int = 0, checkpoint=None,
                 on_step=None, init: str = "scratch"):
    """Train :func:`small_embed_net` (``init="scratch"``) or the last stage of the ImageNet
    EfficientNet-Lite0 (``init="imagenet"``, :func:`imagenet_embed_net`; the projection head then
    takes its 1280-d GeM) on ``images`` (list of RGB uint8). Returns (model, losses).
    Runs on CUDA with bf16 autocast and channels_last when ``device`` is a GPU (untested here).
    ``checkpoint`` (a ``benchlib.torchutil.TrainingCheckpoint`` counting steps): the state is saved
    every that many steps and a matching saved state is resumed, so an interrupted training ends as
    an uninterrupted one; ``on_step(step)`` is called after each step trained here."""
    import torch

    from benchlib.torchutil import seed_everything

    seed_everything(seed)
    rng = np.random.default_rng(seed)
    cpu_threads = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        # A net this small gains little from a second thread, and on a busy machine two threads
        # waiting for each other run 5× slower than one (measured): train single-threaded.
        torch.set_num_threads(1)
    try:
        return _train(images, steps, batch, size, dim, lr, device, log_every, rng, checkpoint, on_step, init)
    finally:
        torch.set_num_threads(cpu_threads)


def simclr_key(images, steps, batch, size, dim=128, lr=3e-3, seed=0, device="cpu", init="scratch") -> str:
    """What a saved SimCLR training must share to be resumed: every setting and the images."""
    import hashlib

    import torch

    from benchlib.torchutil import config_hash

    h = hashlib.sha256()
    for im in images:
        h.update(np.ascontiguousarray(im).tobytes())
    # `init` joins the key only when it is not the scratch CNN: keys of scratch trainings are unchanged
    extra = () if init == "scratch" else (init, FROZEN_BLOCKS)
    return config_hash("simclr", steps, batch, size, dim, lr, seed, torch.device(device).type, h.hexdigest(),
                       torch.__version__, *extra)


def _train(images, steps, batch, size, dim, lr, device, log_every, rng, checkpoint=None, on_step=None,
           init="scratch"):
    import torch
    from torch import nn

    from benchlib.torchutil import autocast, restore_training_state, training_state

    model, width = _embed_net(init, dim)
    head = nn.Sequential(nn.Linear(width, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
    model, head = model.to(device), head.to(device)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    # ImageNet weights take a third of the step (a larger one undid them faster than SimCLR could
    # teach: 5e-3 on every layer did worse than 1e-3 in trials); the scratch CNN's is unchanged.
    # (one parameter group for the scratch CNN, as its saved optimizer states have)
    if init == "scratch":
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
        if log_every and step % log_every == 0:
            print(f"step {step}: loss {losses[-1]:.3f}")
        if checkpoint is not None and checkpoint.due(step + 1, last=step + 1 == steps):
            checkpoint.save({**training_state(rng, model=model, head=head, optimizer=opt, scheduler=sched),
                             "losses": losses},
                            step + 1, finished=step + 1 == steps)
        if on_step is not None:
            on_step(step + 1)
    return model.eval(), losses
