"""Pipeline of the satellite chapter (Ghassemi et al., EUSIPCO 2018): training samples, training with
early stopping, stitched tiled inference, refinement on a part of each test area, scores with
bootstrap intervals, result rows and claims, the outcome figure and the explorer.

Sizes are parameters: the paper's values are 364-pixel tiles with stride 120, 256 crops, 512 test
tiles; the small profiles scale them down (see the notebook's parameters cell).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import BenchlibError
from ..data.satellite import Scene
from ..metrics.segmentation import binary_scores
from ..models.satellite import DISPLAY_NAMES, build_model
from ..results import bootstrap_ci
from ..torchutil import autocast, synchronize


# =========================================================================== normalisation
@dataclass
class Normaliser:
    """Per-channel mean / std of the training images, applied to every image (also at deployment)."""
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, scenes: list[Scene]) -> "Normaliser":
        pix = np.concatenate([s.image.reshape(-1, s.bands) for s in scenes]).astype(np.float64)
        return cls(pix.mean(0).astype(np.float32), np.maximum(pix.std(0), 1e-6).astype(np.float32))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return ((image - self.mean) / self.std).astype(np.float32)


# =========================================================================== tiles
def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering [0, length) with windows of `tile` (the last one shifted back to end
    at the border); one window of the whole length when it is shorter than a tile."""
    if tile < 1 or stride < 1:
        raise BenchlibError(f"tile and stride must be positive, got {tile}, {stride}")
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def tile_windows(height: int, width: int, tile: int, stride: int) -> list[tuple[int, int, int, int]]:
    """(y, x, h, w) windows covering the whole image; all of the same size."""
    h, w = min(tile, height), min(tile, width)
    return [(y, x, h, w) for y in tile_starts(height, tile, stride) for x in tile_starts(width, tile, stride)]


def overlap_counts(height: int, width: int, tile: int, stride: int) -> np.ndarray:
    """How many windows cover each pixel (stitching divides by this: overlaps are averaged)."""
    cnt = np.zeros((height, width), np.int64)
    for y, x, h, w in tile_windows(height, width, tile, stride):
        cnt[y:y + h, x:x + w] += 1
    return cnt


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


def augment(image: np.ndarray, mask: np.ndarray, crop: int, rng: np.random.Generator):
    """The paper's training transform of one tile (H × W × C image, H × W mask): with probability ½
    a random crop, else a rotation by a random angle in (0, 2π) and the centre crop; then random
    horizontal and vertical flips."""
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
    return np.ascontiguousarray(img), np.ascontiguousarray(msk)


def _to_batch(images, masks, device):
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
    patience: int = 3               # stop when the validation cost has not decreased for this many epochs
    width: int = 1                  # channel divisor of the trained models (1 = paper widths)


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


def _val_loss(model, val, device, batch) -> float:
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad(), autocast(device):
        for i in range(0, len(val), batch):
            x, y = _to_batch(*zip(*val[i:i + batch]), device)
            total += float(F.cross_entropy(model(x).float(), y, reduction="sum"))
            n += y.numel()
    return total / n


def fit(model, samples: Samples, cfg: TrainConfig, device, seed: int, crop: int | None = None,
        max_steps: int | None = None) -> pd.DataFrame:
    """SGD with momentum, step decay, early stop on the validation cost (best weights restored).
    One epoch = every training tile once, freshly augmented. Returns the per-epoch history."""
    rng = np.random.default_rng(seed)
    crop = crop or samples.cfg.crop
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma)
    best, best_state, bad, rows, steps = math.inf, None, 0, [], 0
    for epoch in range(cfg.max_epochs):
        model.train()
        order = rng.permutation(len(samples.train))
        losses = []
        for i in range(0, len(order), cfg.batch):
            batch = [augment(*samples.train[j], crop, rng) for j in order[i:i + cfg.batch]]
            x, y = _to_batch(*zip(*batch), device)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device):
                loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            steps += 1
        sched.step()
        val = _val_loss(model, samples.val, device, cfg.batch) if samples.val else float(np.mean(losses))
        rows.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_loss": val,
                     "lr": opt.param_groups[0]["lr"]})
        if val < best - 1e-6:
            best, bad = val, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
            if bad >= cfg.patience:
                break
        if max_steps and steps >= max_steps:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return pd.DataFrame(rows)


def train_model(name: str, samples: Samples, cfg: TrainConfig, device, seed: int, in_channels: int) -> Trained:
    torch.manual_seed(seed)
    model = build_model(name, in_channels=in_channels, num_classes=2, width=cfg.width).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    t0 = time.perf_counter()
    hist = fit(model, samples, cfg, device, seed)
    synchronize(device)
    return Trained(name, model, hist, time.perf_counter() - t0, seed)


def train_all(names, samples: Samples, cfg: TrainConfig, device, seeds, in_channels: int, log=print):
    """{display label: [Trained per seed]} and a summary frame (epochs, best validation cost, time)."""
    trained, rows = {}, []
    for name in names:
        for seed in seeds:
            t = train_model(name, samples, cfg, device, seed, in_channels)
            trained.setdefault(t.label, []).append(t)
            best = t.history.loc[t.history["val_loss"].idxmin()]
            rows.append({"model": t.label, "seed": seed, "epochs": len(t.history), "best epoch": int(best["epoch"]),
                         "best val. cost": best["val_loss"], "train time (s)": t.train_time_s})
            if log:
                log(f"{t.label} seed {seed}: {len(t.history)} epochs, {t.train_time_s:.1f} s")
    return trained, pd.DataFrame(rows)


def scene_summary(data: dict[str, list[Scene]]) -> pd.DataFrame:
    """One row per scene: split, size, bands, building share, per-band mean (the sensor shift)."""
    rows = []
    for split, scenes in data.items():
        for s in scenes:
            r = {"area": s.name, "split": split, "size (W×H)": f"{s.mask.shape[1]}×{s.mask.shape[0]}",
                 "bands": s.bands, "building %": 100 * float(s.mask.mean())}
            r.update({f"mean band {i + 1}": float(m) for i, m in enumerate(s.image.reshape(-1, s.bands).mean(0))})
            rows.append(r)
    return pd.DataFrame(rows)


def scenes_figure(data: dict[str, list[Scene]]):
    """All scenes side by side, each stretched with the SAME percentiles (of all training pixels),
    so differences in radiometry between the 'sensors' stay visible."""
    import matplotlib.pyplot as plt

    scenes = [(split, s) for split, v in data.items() for s in v]
    ref = np.concatenate([s.image.reshape(-1, s.bands) for s in data["train"]])
    ch = [2, 1, 0] if ref.shape[1] >= 4 else list(range(min(3, ref.shape[1])))
    lo, hi = np.percentile(ref[:, ch], 2), np.percentile(ref[:, ch], 98)
    fig, ax = plt.subplots(2, len(scenes), figsize=(1.9 * len(scenes), 4.2))
    ax = np.asarray(ax).reshape(2, -1)
    for i, (split, s) in enumerate(scenes):
        img = s.image[..., ch] if len(ch) == 3 else np.repeat(s.image[..., :1], 3, axis=2)
        ax[0, i].imshow(np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1))
        ax[0, i].set_title(f"{s.name} ({split})", fontsize=9)
        ax[1, i].imshow(s.mask, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for a in ax.ravel():
        a.axis("off")
    fig.tight_layout()
    return fig


# =========================================================================== stitched inference
def predict_scene(fn, image: torch.Tensor, tile: int, stride: int, multiple: int = 1, batch: int = 4) -> torch.Tensor:
    """Run `fn` (B × C × h × w → B × K × h × w) over `tile`-sized windows of a C × H × W image and
    stitch the outputs; where windows overlap the outputs are averaged. Windows are padded (edge
    replication) to a multiple of `multiple` and the padding cropped off again. Accumulation is in
    float64, so averaging k identical values gives that value back exactly. Returns K × H × W float32."""
    C, H, W = image.shape
    wins = tile_windows(H, W, tile, stride)
    wh, ww = wins[0][2], wins[0][3]
    ph, pw = (-wh) % multiple, (-ww) % multiple
    acc = None
    cnt = torch.zeros(H, W, dtype=torch.float64)
    for i in range(0, len(wins), batch):
        group = wins[i:i + batch]
        x = torch.stack([image[:, y:y + h, x_:x_ + w] for y, x_, h, w in group])
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        out = fn(x)[:, :, :wh, :ww].double().cpu()
        if acc is None:
            acc = torch.zeros(out.shape[1], H, W, dtype=torch.float64)
        for (y, x_, h, w), o in zip(group, out):
            acc[:, y:y + h, x_:x_ + w] += o
            cnt[y:y + h, x_:x_ + w] += 1
    return (acc / cnt).float()


def model_fn(model, device):
    """Softmax probabilities of a trained model, under the chapter's autocast."""
    def fn(x):
        with torch.no_grad(), autocast(device):
            return model(x.to(device)).float().softmax(1)
    return fn


def predict_area(model, scene: Scene, norm: Normaliser, tile: int, stride: int, device, batch: int = 4):
    """(building probability H × W float32, seconds for the whole scene: normalisation, tiling,
    network and stitching; CUDA synchronised)."""
    synchronize(device)
    t0 = time.perf_counter()
    img = torch.from_numpy(norm(scene.image)).permute(2, 0, 1)
    prob = predict_scene(model_fn(model, device), img, tile, stride, getattr(model, "multiple", 1), batch)[1]
    synchronize(device)
    return prob.numpy(), time.perf_counter() - t0


# =========================================================================== scores
def block_counts(pred: np.ndarray, mask: np.ndarray, block: int, valid: np.ndarray | None = None) -> np.ndarray:
    """TP, FP, FN, TN per block × block cell (the units of the bootstrap); pixels outside `valid`
    are not counted. Returns n_blocks × 4 int64."""
    p, t = pred.astype(bool), mask.astype(bool)
    v = np.ones_like(p) if valid is None else valid.astype(bool)
    H, W = p.shape
    rows = []
    for y in range(0, H, block):
        for x in range(0, W, block):
            sl = (slice(y, y + block), slice(x, x + block))
            pp, tt, vv = p[sl], t[sl], v[sl]
            rows.append([np.sum(pp & tt & vv), np.sum(pp & ~tt & vv), np.sum(~pp & tt & vv), np.sum(~pp & ~tt & vv)])
    return np.asarray(rows, np.int64)


def area_scores(units: np.ndarray, metric: str) -> float:
    """Mean over areas of the pooled F1 or accuracy. `units`: n × 5 array (area id, TP, FP, FN, TN)."""
    ids = units[:, 0].astype(np.int64)
    present = np.bincount(ids) > 0
    tp, fp, fn, tn = (np.bincount(ids, weights=units[:, k])[present] for k in (1, 2, 3, 4))
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "F1":   # 2PR / (P + R) = 2TP / (2TP + FP + FN); 0 without true positives
            vals = np.where(tp > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        else:
            vals = (tp + tn) / np.maximum(tp + fp + fn + tn, 1)
    return float(vals.mean())


def units_of(counts_by_area: dict[str, np.ndarray], areas) -> np.ndarray:
    return np.concatenate([np.column_stack([np.full(len(counts_by_area[a]), i), counts_by_area[a]])
                           for i, a in enumerate(areas)])


def score_with_ci(counts_by_area: dict[str, np.ndarray], areas, metric: str, n_boot: int = 1000, seed: int = 0):
    """Percent value and its 95 % bootstrap CI (blocks resampled) for one area or the mean of several."""
    u = units_of(counts_by_area, areas)
    v = 100 * area_scores(u, metric)
    lo, hi = bootstrap_ci(u, stat=lambda s: 100 * area_scores(s, metric), n_boot=n_boot, seed=seed)
    return v, (lo, hi)


def paired_stat(count_sets: list[dict], areas, combine, metric: str = "F1", n_boot: int = 1000, seed: int = 0):
    """`combine(scores)` of the mean-over-areas scores (percent) of several results measured on the
    same blocks, and its 95 % CI with the blocks resampled jointly for all of them (paired)."""
    units = [units_of(c, areas) for c in count_sets]
    u = np.column_stack([units[0][:, :1]] + [x[:, 1:] for x in units])

    def stat(s):
        return combine([100 * area_scores(s[:, [0, 1 + 4 * i, 2 + 4 * i, 3 + 4 * i, 4 + 4 * i]], metric)
                        for i in range(len(units))])
    return float(stat(u)), bootstrap_ci(u, stat=stat, n_boot=n_boot, seed=seed)


def paired_difference(counts_a: dict, counts_b: dict, areas, metric: str = "F1", n_boot: int = 1000, seed: int = 0):
    """Difference (percentage points) of mean-over-areas scores a − b and its paired 95 % CI."""
    return paired_stat([counts_a, counts_b], areas, lambda v: v[0] - v[1], metric, n_boot, seed)


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
        x, y = _to_batch(xs, ys, device)
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


# =========================================================================== evaluation of a model
@dataclass
class Evaluation:
    """One model (one seed) on the test areas: probabilities, seconds per scene, block counts."""
    probs: dict[str, np.ndarray]
    seconds: dict[str, float]
    counts: dict[str, np.ndarray] = field(default_factory=dict)


def evaluate(model, scenes: list[Scene], norm: Normaliser, tile: int, stride: int, device, block: int,
             valid: dict[str, np.ndarray] | None = None, threshold: float = 0.5) -> Evaluation:
    ev = Evaluation({}, {})
    for s in scenes:
        prob, sec = predict_area(model, s, norm, tile, stride, device)
        ev.probs[s.name], ev.seconds[s.name] = prob, sec
        ev.counts[s.name] = block_counts(prob > threshold, s.mask, block, None if valid is None else valid[s.name])
    return ev


def pooled_counts(evals: list[Evaluation]) -> dict[str, np.ndarray]:
    """Block counts summed over seeds (same blocks in every seed)."""
    return {a: sum(e.counts[a] for e in evals) for a in evals[0].counts}


def scores_frame(evals: dict[str, list[Evaluation]], areas) -> pd.DataFrame:
    """Per model: F1 and accuracy (percent) per area and their mean over areas, averaged over seeds."""
    rows = []
    for label, ev in evals.items():
        r = {"model": label}
        for metric in ("F1", "accuracy"):
            for a in areas:
                r[f"{a} {metric}"] = np.mean([100 * area_scores(units_of(e.counts, [a]), metric) for e in ev])
            r[f"mean {metric}"] = np.mean([100 * area_scores(units_of(e.counts, areas), metric) for e in ev])
        rows.append(r)
    return pd.DataFrame(rows).set_index("model")


def add_score_rows(res, table: str, evals: dict[str, list[Evaluation]], areas, dataset: str, note: str = "",
                   seed=None, n_boot: int = 1000) -> None:
    """F1 / accuracy rows (percent) per area and mean over areas, with a bootstrap CI over blocks
    (seeds pooled) and the value averaged over seeds."""
    for label, ev in evals.items():
        pooled = pooled_counts(ev)
        for subset, sel in [*((a, [a]) for a in areas), ("mean", list(areas))]:
            for metric in ("F1", "accuracy"):
                value = np.mean([100 * area_scores(units_of(e.counts, sel), metric) for e in ev])
                _, ci = score_with_ci(pooled, sel, metric, n_boot=n_boot)
                res.add(table, label, metric, value, dataset=dataset, subset=subset, ci=ci,
                        n=int(sum(len(pooled[a]) for a in sel)), seed=seed, note=note)


# =========================================================================== Table I
def add_table1(res, names) -> pd.DataFrame:
    """Rows of Table I counted from the built full-width modules. Returns a wide display frame:
    one row per model and part, cells '(feature maps, convolutions)' like the paper's."""
    from ..models.satellite import architecture_table

    cells = []
    for name in names:
        t = architecture_table(name)
        label = DISPLAY_NAMES[name]
        note = "" if name.startswith("prop") else (
            "not in the paper's Table I; decoder blocks 1–4 = 2×2 up-convolution + 3×3 convolutions, "
            "block 5 = 1×1 classifier")
        for r in t.itertuples():
            for metric in ("feature_maps", "convolutions"):
                res.add("1", label, metric, getattr(r, metric), dataset="built module (full width)",
                        subset=f"{r.part} block {r.block}", note=note)
            cells.append({"model": label, "part": r.part, "block": f"Block {r.block}",
                          "cell": f"({r.feature_maps}, {r.convolutions})"})
    wide = pd.DataFrame(cells).pivot(index=["part", "model"], columns="block", values="cell")
    order = [DISPLAY_NAMES[n] for n in names]
    return wide.reindex(pd.MultiIndex.from_product([["encoder", "decoder"], order], names=["part", "model"]))


def table1_mismatches(frame: pd.DataFrame) -> pd.DataFrame:
    """Table I rows where our count differs from the paper's (empty when all agree)."""
    t = frame[(frame["table"] == "1") & frame["paper_value"].notna()]
    return t[t["value"] != t["paper_value"]][["method", "subset", "metric", "value", "paper_value"]]


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
                        block: int) -> Refinement:
    largest = max(sizes, key=sizes.get)
    mult = getattr(trained.model, "multiple", 1)
    valid = {s.name: eval_mask(s.mask.shape, refinement_region(*s.mask.shape, sizes[largest], mult)) for s in scenes}
    base = evaluate(trained.model, scenes, norm, tile, stride, device, block, valid)
    tuned, fractions = {}, {}
    for size, frac in sizes.items():
        models, fractions[size] = {}, {}
        for s in scenes:
            models[s.name], (rh, rw) = refine(trained, s, norm, frac, cfg, crop, steps, device, seed)
            fractions[size][s.name] = rh * rw / s.mask.size
        ev = Evaluation({}, {})
        for s in scenes:   # each area is predicted by the model refined on that area
            e = evaluate(models[s.name], [s], norm, tile, stride, device, block, {s.name: valid[s.name]})
            ev.probs.update(e.probs); ev.seconds.update(e.seconds); ev.counts.update(e.counts)
        tuned[size] = ev
    return Refinement(base, tuned, fractions)


def add_table3(res, refinements: dict[str, list[Refinement]], areas, dataset: str, note: str = "",
               n_boot: int = 1000) -> dict:
    """Rows of Table III (values and gains over the unrefined model, percent); returns the method
    map onto the paper's row names (our Prop depth → the paper's Prop-152)."""
    method_map = {}
    for label, refs in refinements.items():
        paper_base = label if label.startswith("U-Net") else "Prop-152"
        extra = note if paper_base == label else f"{note}; paper row is {paper_base}".strip("; ")
        evals = {label: [r.base for r in refs]}
        method_map[label] = paper_base
        for size in refs[0].tuned:
            name = f"{label} tuned ({size})"
            evals[name] = [r.tuned[size] for r in refs]
            method_map[name] = f"{paper_base} tuned ({size})"
        add_score_rows(res, "3", evals, areas, dataset, note=extra, n_boot=n_boot)
        for size in refs[0].tuned:
            name = f"{label} tuned ({size})"
            for subset, sel in [*((a, [a]) for a in areas), ("mean", list(areas))]:
                for metric in ("F1", "accuracy"):
                    diffs = [paired_difference(r.tuned[size].counts, r.base.counts, sel, metric, n_boot=n_boot)
                             for r in refs]
                    d = float(np.mean([x[0] for x in diffs]))
                    res.add("3", name, f"{metric}_delta", d, dataset=dataset, subset=subset,
                            ci=diffs[0][1] if len(refs) == 1 else None, note=extra)
    res.compare_with_paper("3", method_map=method_map)
    return method_map


# =========================================================================== claims
def _stat_claim(count_sets_per_seed: list[list[dict]], areas, combine, what: str, n_boot: int = 1000):
    """(verdict, evidence) for 'combine(...) > 0': the point value is the mean over seeds, the CI
    is over blocks (first seed; per-seed values listed when there are several)."""
    vals = [paired_stat(cs, areas, combine, n_boot=n_boot) for cs in count_sets_per_seed]
    d = float(np.mean([v[0] for v in vals]))
    lo, hi = vals[0][1]
    ev = f"{what}: {d:+.2f} F1 points"
    if not math.isnan(lo):
        ev += f", 95% CI over test blocks [{lo:+.2f}, {hi:+.2f}]" + (
            " (excludes 0)" if lo > 0 or hi < 0 else " (includes 0: within noise)")
    if len(vals) > 1:
        ev += f"; per seed {', '.join(f'{v[0]:+.2f}' for v in vals)}"
    return ("held" if d > 0 else "not held"), ev


def add_claims(res, evals: dict[str, list[Evaluation]], refinements: dict[str, list[Refinement]], areas,
               n_boot: int = 1000) -> None:
    """Verdicts of the paper's claims from the measured block counts (mean F1 over the test areas)."""
    def counts(label):
        return [e.counts for e in evals[label]]

    def mean_f1(label):
        return np.mean([100 * area_scores(units_of(c, areas), "F1") for c in counts(label)])

    # 1. Prop-N vs U-Net at comparable depth
    for prop, unet in (("Prop-18", "U-Net(19)"), ("Prop-34", "U-Net(35)")):
        cid = f"prop_beats_unet_{prop[5:]}"
        statement = f"{prop} beats {unet} (comparable depth) on mean F1 over the test areas"
        if prop in evals and unet in evals:
            res.claim(cid, statement, *_stat_claim([list(p) for p in zip(counts(prop), counts(unet))], areas,
                                                   lambda v: v[0] - v[1], f"{prop} − {unet}", n_boot))
        else:
            res.claim(cid, statement, "not tested", f"{prop if prop not in evals else unet} not trained in this profile")
    # 2. depth
    props = sorted((int(k[5:]), k) for k in evals if k.startswith("Prop-"))
    upto152 = [p for p in props if p[0] <= 152]
    statement = "Deeper residual encoders improve mean F1 (deepest trained Prop, up to 152, vs Prop-18)"
    if len(upto152) >= 2 and upto152[0][0] == 18:
        deep = upto152[-1][1]
        verdict, ev = _stat_claim([list(p) for p in zip(counts(deep), counts("Prop-18"))], areas,
                                  lambda v: v[0] - v[1], f"{deep} − Prop-18", n_boot)
        ladder = ", ".join(f"{k} {mean_f1(k):.2f}" for _, k in props)
        res.claim("depth_improves", statement, verdict, f"{ev}; mean F1 by depth: {ladder}")
    else:
        res.claim("depth_improves", statement, "not tested", "needs Prop-18 and a deeper Prop trained")
    statement = "Beyond 152 layers no further gain (Prop-200 not better than Prop-152)"
    if "Prop-152" in evals and "Prop-200" in evals:
        verdict, ev = _stat_claim([list(p) for p in zip(counts("Prop-200"), counts("Prop-152"))], areas,
                                  lambda v: v[0] - v[1], "Prop-200 − Prop-152", n_boot)
        res.claim("no_gain_beyond_152", statement, "held" if verdict == "not held" else "not held", ev)
    else:
        res.claim("no_gain_beyond_152", statement, "not tested",
                  "Prop-152 and Prop-200 are not both trained in this profile (too slow for 2 CPU cores; "
                  "run the paper profile on a GPU)")
    # 3. refinement
    if not refinements:
        for cid, st in (("refinement_improves", "Refinement improves F1 for both architectures"),
                        ("refinement_large_beats_small", "Refining on the large part beats the small part"),
                        ("unet_gains_more", "U-Net gains more from refinement than Prop")):
            res.claim(cid, st, "not tested", "no refinement in this profile")
        return
    parts, verdicts = [], []
    for label, refs in refinements.items():
        for size in refs[0].tuned:
            v, ev = _stat_claim([[r.tuned[size].counts, r.base.counts] for r in refs], areas,
                                lambda v: v[0] - v[1], f"{label} tuned ({size}) − unrefined", n_boot)
            verdicts.append(v); parts.append(ev)
    both = any(k.startswith("U-Net") for k in refinements) and any(k.startswith("Prop") for k in refinements)
    res.claim("refinement_improves", "Refinement improves F1 for both architectures (small and large part)",
              ("held" if all(v == "held" for v in verdicts) else "not held") if both else "not tested",
              "; ".join(parts) + ("" if both else "; only one architecture refined"))
    parts, verdicts = [], []
    for label, refs in refinements.items():
        v, ev = _stat_claim([[r.tuned["large"].counts, r.tuned["small"].counts] for r in refs], areas,
                            lambda v: v[0] - v[1], f"{label} large − small", n_boot)
        verdicts.append(v); parts.append(ev)
    res.claim("refinement_large_beats_small", "Refining on the large part (≈15 %) beats the small part (≈7 %)",
              "held" if all(v == "held" for v in verdicts) else "not held", "; ".join(parts))
    unet = next((k for k in refinements if k.startswith("U-Net")), None)
    prop = next((k for k in refinements if k.startswith("Prop")), None)
    st = "U-Net gains more from refinement than Prop (both part sizes)"
    if unet and prop:
        parts, verdicts = [], []
        for size in refinements[unet][0].tuned:
            sets = [[ru.tuned[size].counts, ru.base.counts, rp.tuned[size].counts, rp.base.counts]
                    for ru, rp in zip(refinements[unet], refinements[prop])]
            v, ev = _stat_claim(sets, areas, lambda v: (v[0] - v[1]) - (v[2] - v[3]),
                                f"gain of {unet} − gain of {prop} ({size})", n_boot)
            verdicts.append(v); parts.append(ev)
        res.claim("unet_gains_more", st, "held" if all(v == "held" for v in verdicts) else "not held", "; ".join(parts))
    else:
        res.claim("unet_gains_more", st, "not tested", "needs one U-Net and one Prop refined")


# =========================================================================== timing
def add_timing(res, evals: dict[str, list[Evaluation]], scenes: list[Scene], dataset: str, device_desc: str,
               paper_seconds: dict[str, float], paper_sizes: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Seconds per whole test scene (tiling, network, stitching) and per megapixel, beside the
    paper's (TitanX Pascal, full-size scenes). Returns the display frame."""
    rows = []
    for s in scenes:
        mpx = s.mask.size / 1e6
        pw, ph = paper_sizes[s.name] if s.name in paper_sizes else (None, None)
        paper_rate = paper_seconds[s.name] / (pw * ph / 1e6) if pw else None
        res.add("timing", "paper (TitanX Pascal; network not stated)", "seconds per scene", None, dataset="paper",
                subset=s.name, paper_value=paper_seconds.get(s.name), note=f"{pw}×{ph} pixels")
        res.add("timing", "paper (TitanX Pascal; network not stated)", "seconds per Mpx", None, dataset="paper",
                subset=s.name, paper_value=paper_rate)
        for label, ev in evals.items():
            sec = float(np.median([e.seconds[s.name] for e in ev]))
            res.add("timing", label, "seconds per scene", sec, dataset=dataset, subset=s.name,
                    note=f"{s.mask.shape[1]}×{s.mask.shape[0]} pixels on {device_desc}")
            res.add("timing", label, "seconds per Mpx", sec / mpx, dataset=dataset, subset=s.name,
                    paper_value=paper_rate, note=device_desc)
            rows.append({"model": label, "area": s.name, "pixels": f"{s.mask.shape[1]}×{s.mask.shape[0]}",
                         "seconds": sec, "s per Mpx": sec / mpx})
        if paper_rate is not None:
            rows.append({"model": "paper (TitanX Pascal, full width)", "area": s.name, "pixels": f"{pw}×{ph}",
                         "seconds": paper_seconds[s.name], "s per Mpx": paper_rate})
    return pd.DataFrame(rows)


# =========================================================================== figures and explorer
OUTCOME_COLOURS = {"TP": (0.0, 0.62, 0.0), "FP": (0.85, 0.1, 0.1), "TN": (1.0, 1.0, 1.0), "FN": (0.1, 0.25, 0.9)}


def rgb_preview(image: np.ndarray) -> np.ndarray:
    """R, G, B bands (indices 2, 1, 0 of B, G, R, NIR; the first three otherwise) stretched to the
    2–98 % percentiles."""
    rgb = image[..., [2, 1, 0]] if image.shape[2] >= 4 else image[..., :3] if image.shape[2] >= 3 else \
        np.repeat(image[..., :1], 3, axis=2)
    lo, hi = np.percentile(rgb, (2, 98))
    return np.clip((rgb - lo) / max(hi - lo, 1e-6), 0, 1)


def outcome_map(pred: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """H × W × 3: true positives green, false positives red, true negatives white, false negatives
    blue (the colours of the paper's supplementary material)."""
    p, t = pred.astype(bool), mask.astype(bool)
    out = np.empty(p.shape + (3,), np.float32)
    for key, sel in (("TP", p & t), ("FP", p & ~t), ("TN", ~p & ~t), ("FN", ~p & t)):
        out[sel] = OUTCOME_COLOURS[key]
    return out


def outcome_figure(scene: Scene, prob: np.ndarray, threshold: float = 0.5, title: str = ""):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    pred = prob > threshold
    s = binary_scores(pred, scene.mask)
    fig, ax = plt.subplots(1, 3, figsize=(13, 4.3 * scene.mask.shape[0] / scene.mask.shape[1] + 0.8))
    ax[0].imshow(rgb_preview(scene.image)); ax[0].set_title(f"{scene.name} (R, G, B)")
    ax[1].imshow(prob, cmap="magma", vmin=0, vmax=1); ax[1].set_title("building probability")
    ax[2].imshow(outcome_map(pred, scene.mask), interpolation="nearest")
    ax[2].set_title(f"threshold {threshold:.2f}: F1 {100 * s['f1']:.1f}, acc. {100 * s['accuracy']:.1f}")
    for a in ax:
        a.axis("off")
    fig.legend(handles=[Patch(facecolor=c, edgecolor="k", label=k) for k, c in OUTCOME_COLOURS.items()],
               loc="lower center", ncol=4, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def threshold_scores(scenes: list[Scene], probs: dict[str, np.ndarray], threshold: float) -> pd.DataFrame:
    """F1 / accuracy (percent) per area and their mean at a given probability threshold."""
    rows = {}
    for s in scenes:
        b = binary_scores(probs[s.name] > threshold, s.mask)
        rows[s.name] = {"F1": 100 * b["f1"], "accuracy": 100 * b["accuracy"]}
    df = pd.DataFrame(rows).T
    df.loc["mean"] = df.mean()
    return df


def _png(fig) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def explorer(scenes: list[Scene], probs_by_model: dict[str, dict[str, np.ndarray]], threshold: float = 0.5):
    """ipywidgets explorer: pick area, model and threshold; shows the outcome figure and the
    per-area scores of that model at that threshold. Needs a live kernel to react.
    The figure goes into an Image widget and the scores into an HTML widget (not an Output widget
    captured with `with out:`, which can leave a batch executor such as papermill waiting)."""
    import ipywidgets as widgets

    by_name = {s.name: s for s in scenes}
    area = widgets.Dropdown(options=list(by_name), description="area")
    model = widgets.Dropdown(options=list(probs_by_model), description="model")
    thr = widgets.FloatSlider(value=threshold, min=0.05, max=0.95, step=0.05, description="threshold",
                              continuous_update=False)
    image = widgets.Image(format="png")
    scores = widgets.HTML()

    def draw(*_):
        probs = probs_by_model[model.value]
        image.value = _png(outcome_figure(by_name[area.value], probs[area.value], thr.value, model.value))
        table = threshold_scores(scenes, probs, thr.value).round(2)
        scores.value = f"<b>{model.value}, threshold {thr.value:.2f}</b>" + table.to_html()

    for w in (area, model, thr):
        w.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([area, model, thr]), image, scores])


def beside_paper(frame: pd.DataFrame, table: str, metrics=("F1", "accuracy")) -> pd.DataFrame:
    """The paper's layout of Table II / III: one block of rows per method (ours, paper, Δ), one column
    per (area, metric); methods in the order they were added."""
    t = frame[(frame["table"] == str(table)) & frame["metric"].isin(metrics)]
    order = list(dict.fromkeys(t["method"]))
    cols = list(dict.fromkeys(zip(t["subset"], t["metric"])))
    rows = {}
    for m in order:
        tm = t[t["method"] == m].set_index(["subset", "metric"])
        for what, col in (("ours", "value"), ("paper", "paper_value"), ("Δ", "delta")):
            rows[(m, what)] = [tm[col].get(c, np.nan) for c in cols]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=pd.MultiIndex.from_tuples(cols))
    out.index = pd.MultiIndex.from_tuples(out.index, names=["method", ""])
    out = out.round(2)
    return out.astype(object).where(out.notna(), "")   # rows the profile did not run: blank, not NaN
