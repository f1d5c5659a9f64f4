"""Refinement (the paper's Table III): fine-tune a trained network on an annotated corner of each
test area (≈ 7 % or ≈ 15 %) and score it, and the unrefined network, on the rest."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from benchlib import BenchlibError
from benchlib.torchutil import autocast

from .data import Normaliser, Scene
from .evaluate import Evaluation, evaluate, rescore
from .train import Trained, TrainConfig, to_batch


# =========================================================================== refinement
def refinement_region(height: int, width: int, fraction: float, min_side: int = 1) -> tuple[int, int]:
    """(rows, cols) of the top-left rectangle, shaped like the scene, covering ≈ `fraction` of it,
    but at least `min_side` (one network input) in each direction."""
    s = math.sqrt(fraction)
    return (min(height, max(min_side, int(math.ceil(s * height)))),
            min(width, max(min_side, int(math.ceil(s * width)))))


def refine(trained: Trained, scene: Scene, norm: Normaliser, fraction: float, cfg: TrainConfig, crop: int,
           steps: int, device, seed: int):
    """Fine-tune a copy of `trained.model` on the annotated top-left ≈ `fraction` of a test scene
    (random crops, flips, right-angle rotations; BatchNorm statistics frozen). Returns
    (model, region (rows, cols))."""
    mult = getattr(trained.model, "multiple", 1)
    rh, rw = refinement_region(*scene.mask.shape, fraction, mult)
    c = min(crop, rh, rw) // mult * mult
    if c < mult:
        raise BenchlibError(f"{scene.name}: refinement region {rh}×{rw} is smaller than one "
                            f"{mult}-pixel network input")
    img, msk = norm(scene.image)[:rh, :rw], scene.mask[:rh, :rw]
    model = copy.deepcopy(trained.model)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    model.train()
    # BatchNorm statistics stay frozen: a few small crops from one corner would replace the running
    # means and variances with a poor estimate (the deep stages see 1×1 maps of 8 crops) and wreck the
    # whole-scene predictions; the BN scales and shifts are still fine-tuned.
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    for _ in range(steps):
        xs, ys = [], []
        for _ in range(cfg.batch):
            y, x = int(rng.integers(0, rh - c + 1)), int(rng.integers(0, rw - c + 1))
            a, b = img[y:y + c, x:x + c], msk[y:y + c, x:x + c]
            k = int(rng.integers(0, 4))
            a, b = np.rot90(a, k), np.rot90(b, k)
            if rng.random() < 0.5:
                a, b = a[:, ::-1], b[:, ::-1]
            xs.append(np.ascontiguousarray(a)); ys.append(np.ascontiguousarray(b))
        x, y = to_batch(xs, ys, device)
        with autocast(device):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    return model, (rh, rw)


def eval_mask(shape, region) -> np.ndarray:
    """Pixels outside the (largest) refinement region: where refined and unrefined models are compared."""
    v = np.ones(shape, bool)
    v[:region[0], :region[1]] = False
    return v


# =========================================================================== Table III
@dataclass
class Refinement:
    """A model refined on ≈7 % / ≈15 % of each test area, all scored on the pixels outside the
    large region (so the three rows compare on the same pixels)."""
    base: Evaluation
    tuned: dict[str, Evaluation]        # 'small' / 'large'
    fractions: dict[str, dict[str, float]]   # size -> area -> actual fraction of the area


def refine_and_evaluate(trained: Trained, scenes: list[Scene], norm: Normaliser, sizes: dict[str, float],
                        cfg: TrainConfig, crop: int, steps: int, device, seed: int, tile: int, stride: int,
                        block: int, unrefined: Evaluation | None = None) -> Refinement:
    """Refine `trained` on each part size of each scene and score it outside the largest part.
    `steps` are the SGD steps on the largest part; a smaller part gets steps in proportion to its
    area (at least one), i.e. the same number of passes over its pixels — the paper refines for
    100 epochs on either part, and an epoch of the small part is about half as long.
    `unrefined`: the trained model's evaluation on `scenes` (Table II), if already made: it is
    re-scored outside the refinement regions instead of predicting the scenes again."""
    largest = max(sizes, key=sizes.get)
    mult = getattr(trained.model, "multiple", 1)
    valid = {s.name: eval_mask(s.mask.shape, refinement_region(*s.mask.shape, sizes[largest], mult)) for s in scenes}
    base = (rescore(unrefined, scenes, block, valid) if unrefined is not None else
            evaluate(trained.model, scenes, norm, tile, stride, device, block, valid))
    tuned, fractions = {}, {}
    for size, frac in sizes.items():
        models, fractions[size] = {}, {}
        n_steps = max(1, round(steps * frac / sizes[largest]))
        for s in scenes:
            models[s.name], (rh, rw) = refine(trained, s, norm, frac, cfg, crop, n_steps, device, seed)
            fractions[size][s.name] = rh * rw / s.mask.size
        ev = Evaluation({}, {})
        for s in scenes:   # each area is predicted by the model refined on that area
            e = evaluate(models[s.name], [s], norm, tile, stride, device, block, {s.name: valid[s.name]})
            ev.probs.update(e.probs); ev.seconds.update(e.seconds); ev.counts.update(e.counts)
        tuned[size] = ev
    return Refinement(base, tuned, fractions)

