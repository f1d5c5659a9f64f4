"""Co-saliency chapter pipeline: data, encoder pretraining, training of the Table 1 / Table 2
variants, evaluation with :class:`benchlib.metrics.saliency.SaliencyMeter`, speed, result rows,
claims, figures and the explorer. The notebook ``notebooks/cosaliency.ipynb`` calls these in order.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

# Under a loaded CPU, OpenMP threads that spin while waiting make torch 10–20× slower; passive
# waiting costs nothing on an idle machine. Only effective before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from benchlib import BenchlibError
from benchlib.data.saliency import (
    SaliencySet, is_saliency_folder, load_saliency_folder, resolve_dataset, split_indices,
)
from benchlib.metrics.saliency import SaliencyMeter, aggregate
from benchlib.models.cosaliency import (
    IMAGENET_MEAN, IMAGENET_STD, PAPER_ANCHOR_SIZES, STRIDE, CoSalNet, VGG16Encoder, decode_boxes, load_imagenet_vgg16, make_anchors,
    make_triplets, offline_regions, online_regions, rpn_losses, triplet_loss,
)
from benchlib.models.ft import ft_saliency
from benchlib.torchutil import autocast, seed_everything, time_call


# --------------------------------------------------------------------------- variants
@dataclass(frozen=True)
class Variant:
    name: str            # the paper's Table 1 column name (benchlib.papers cosaliency table 1)
    augment: bool
    feature_sensitive: bool
    rfm: str             # "none" | "offline" | "online"


ABLATION = [
    Variant("U-Net", False, False, "none"),
    Variant("U-Net + DA", True, False, "none"),
    Variant("U-Net + FS", False, True, "none"),
    Variant("U-Net + DA + FS", True, True, "none"),
    Variant("U-Net + FS + RFM (offline)", False, True, "offline"),
    Variant("U-Net + DA + FS + RFM (offline)", True, True, "offline"),
    Variant("U-Net + DA + FS + RFM (online)", True, True, "online"),
]
VARIANTS = {v.name: v for v in ABLATION}
# Table 2's learned rows are Table 1 columns (the paper's numbers agree: 0.824 / 0.892 / 0.904).
TABLE2_METHODS = {"U-Net": "U-Net", "Ours (offline)": "U-Net + DA + FS + RFM (offline)",
                  "Ours (online)": "U-Net + DA + FS + RFM (online)"}
DATASETS = {"cosal": "our_dataset", "sdcs": "SDCS"}  # twin kind -> the paper's subset name
# The paper's image sizes (width × height): smallest and largest of its dataset.
PAPER_SIZES = ((450, 256), (808, 1078))
PAPER_FPS = 28.0


@dataclass
class TrainConfig:
    train_size: int = 96          # training / inference resolution (square)
    width_div: int = 8            # VGG-16 widths divided by this (1 = the real network)
    epochs: int = 5
    batch_size: int = 8
    lr: float = 5e-3
    weight_decay: float = 1e-4
    margin: float = 0.3           # triplet margin (on L2-normalised vectors)
    n_pos: int = 8                # regions per image for the RFM branch (paper: 32 + 96, 128 triplets;
    n_neg: int = 24               # the twin keeps the 1:3 ratio with fewer, since it has ~3.5 objects
    n_triplets: int = 32          # at a tenth of the paper's resolution)
    pretrain_epochs: int = 4
    device: str = "cpu"

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


# --------------------------------------------------------------------------- data
@dataclass
class Split:
    key: str            # "cosal" | "sdcs"
    subset: str         # the paper's subset name
    dataset: str        # what the result rows name
    train: SaliencySet
    test: SaliencySet


def load_split(data_root, kind: str, n_images: int, seed: int, test_fraction: float = 0.3) -> Split:
    """Real folder under ``data_root`` when present, else the seeded twin; seeded train/test split."""
    folder, desc = resolve_dataset(data_root, kind, n_images, seed)
    full = load_saliency_folder(folder)
    tr, te = split_indices(len(full), test_fraction, seed)
    return Split(kind, DATASETS[kind], desc, full.subset(tr), full.subset(te))


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


# --------------------------------------------------------------------------- encoder pretraining
def object_crops(items: SaliencySet, size: int, rng):
    """Crops of every annotated object (label = its class) and one background crop per image
    (label "background"): the twin's object classification task for pretraining the encoder."""
    from torchvision.ops import box_iou

    crops, labels = [], []
    for it in items.items:
        h, w = it.gt.shape
        for b, c in zip(it.boxes, it.classes):
            bw, bh = b[2] - b[0], b[3] - b[1]
            x0, y0 = int(max(0, b[0] - 0.15 * bw)), int(max(0, b[1] - 0.15 * bh))
            x1, y1 = int(min(w, b[2] + 0.15 * bw)), int(min(h, b[3] + 0.15 * bh))
            crops.append(_resize_square(it.image[y0:y1, x0:x1], size))
            labels.append(c)
        side = int(np.median(it.boxes[:, 2] - it.boxes[:, 0])) if len(it.boxes) else min(h, w) // 4
        side = max(4, min(side, min(h, w) - 1))
        for _ in range(10):
            x0, y0 = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
            box = torch.tensor([[x0, y0, x0 + side, y0 + side]], dtype=torch.float32)
            if len(it.boxes) == 0 or box_iou(box, torch.as_tensor(it.boxes)).max() < 0.1:
                crops.append(_resize_square(it.image[y0:y0 + side, x0:x0 + side], size))
                labels.append("background")
                break
    classes = sorted(set(labels))
    return np.stack(crops), np.array([classes.index(c) for c in labels]), classes


def pretrain_encoder(train: SaliencySet, cfg: TrainConfig, seed: int, weights_path: str = ""):
    """The frozen encoder. With ``weights_path`` (ImageNet VGG-16 state dict): loaded, as in the paper.
    Without: pretrained on the training split's object classification (object crops + background,
    held-out 20 % of crops for an accuracy), then frozen. Returns (encoder, info dict)."""
    device = torch.device(cfg.device)
    if weights_path:
        enc = VGG16Encoder(cfg.width_div)  # the paper's VGG-16 (no batch norm), as in the weights file
        load_imagenet_vgg16(enc, weights_path)
        return enc.to(device).eval(), {"source": f"ImageNet weights from {weights_path}"}
    seed_everything(seed)
    enc = VGG16Encoder(cfg.width_div, batch_norm=True)
    rng = np.random.default_rng(seed)
    crops, labels, classes = object_crops(train, 48, rng)
    x = torch.as_tensor(crops, dtype=torch.float32).permute(0, 3, 1, 2) / 255
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    y = torch.as_tensor(labels)
    perm = rng.permutation(len(y))
    n_val = max(1, len(y) // 5)
    val, tr = perm[:n_val], perm[n_val:]
    head = torch.nn.Linear(enc.widths[-1], len(classes))
    enc.to(device)
    head.to(device)
    opt = torch.optim.Adam(list(enc.parameters()) + list(head.parameters()), lr=1e-3)

    def logits(xb):
        with autocast(device):
            return head(enc(xb.to(device))[-1].mean(dim=(2, 3))).float()

    enc.train()
    for _ in range(cfg.pretrain_epochs):
        for i in range(0, len(tr), 64):
            idx = tr[i:i + 64]
            loss = F.cross_entropy(logits(x[idx]), y[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
        tr = tr[rng.permutation(len(tr))]
    enc.eval()
    with torch.no_grad():
        acc = float((logits(x[val]).argmax(1).cpu() == y[val]).float().mean())
    return enc, {"source": f"pretrained on the twin's object classification ({len(classes)} classes incl. "
                           f"background, {len(tr)} crops), then frozen",
                 "val_accuracy": acc, "classes": classes, "n_crops": len(y)}


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


def train_variant(variant: Variant, encoder: VGG16Encoder, arrays, cfg: TrainConfig, seed: int):
    """Train one Table 1 column on prepared arrays. Returns (model in eval mode, history: per epoch
    the mean decoder BCE, RPN and RFM losses; total = their sum, weights 1 as in the paper)."""
    device = torch.device(cfg.device)
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    imgs, gts, boxes, cosal = arrays
    model = CoSalNet(encoder, variant.feature_sensitive, variant.rfm != "none", cfg.anchor_sizes).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    anchors = make_anchors(cfg.train_size // STRIDE, cfg.train_size // STRIDE, sizes=cfg.anchor_sizes)
    history = []
    model.train()
    for _ in range(cfg.epochs):
        perm, sums = rng.permutation(len(imgs)), np.zeros(3)
        for start in range(0, len(perm), cfg.batch_size):
            idx = perm[start:start + cfg.batch_size]
            batch = [(imgs[j], gts[j], boxes[j], cosal[j]) for j in idx]
            if variant.augment:
                batch = [augment(*b, rng) for b in batch]
            x = torch.as_tensor(np.stack([b[0] for b in batch])).permute(0, 3, 1, 2).contiguous().to(device)
            y = torch.as_tensor(np.stack([b[1] for b in batch]))[:, None].to(device)
            if device.type == "cuda":
                x = x.to(memory_format=torch.channels_last)
            with autocast(device):
                logits, r = model.features(x)
                bce = F.binary_cross_entropy_with_logits(logits.float(), y)
                rpn = rfm = torch.zeros((), device=device)
                if variant.rfm != "none":
                    rpn, rfm = _branch_loss(model, r, [b[2] for b in batch], [b[3] for b in batch],
                                            anchors, variant, cfg, rng)
            opt.zero_grad()
            (bce + rpn + rfm).backward()
            opt.step()
            sums += np.array([float(bce.detach()), float(rpn.detach()), float(rfm.detach())]) * len(idx)
        history.append(dict(zip(("bce", "rpn", "rfm"), sums / len(imgs))))
    return model.eval(), history


@torch.no_grad()
def predict(model: CoSalNet, items: SaliencySet, cfg: TrainConfig, batch: int = 16):
    """Saliency maps (float32 in [0, 1]) at each image's own size: squash to S×S, run the test-time
    path (encoder → FS → decoder), sigmoid, resize back."""
    device = torch.device(cfg.device)
    out = []
    for start in range(0, len(items), batch):
        chunk = items.items[start:start + batch]
        x = np.stack([_resize_square(it.image, cfg.train_size) for it in chunk]).astype(np.float32) / 255
        x = torch.as_tensor(x).permute(0, 3, 1, 2).contiguous().to(device)
        with autocast(device):
            p = torch.sigmoid(model(x).float())[:, 0].cpu().numpy()
        for it, m in zip(chunk, p):
            h, w = it.gt.shape
            out.append(np.clip(cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1).astype(np.float32))
    return out


def ft_maps(items: SaliencySet):
    return [ft_saliency(it.image) for it in items.items]


def score_maps(maps, items: SaliencySet) -> dict:
    """Per-image scores (SaliencyMeter.per_image) of predicted maps against the ground truths."""
    meter = SaliencyMeter()
    for m, it in zip(maps, items.items):
        meter.update(m, it.gt)
    return meter.per_image()


def region_response(maps, items: SaliencySet) -> dict:
    """Mean saliency inside co-salient boxes, inside distractor boxes and outside all boxes
    (images with a distractor only): does a method light up the distractors?"""
    co, dis, bg = [], [], []
    for m, it in zip(maps, items.items):
        if it.cosalient is None or it.cosalient.all() or len(it.boxes) == 0:
            continue
        inside = np.zeros(m.shape, bool)
        for b, c in zip(it.boxes.astype(int), it.cosalient):
            region = m[b[1]:b[3], b[0]:b[2]]
            (co if c else dis).append(float(region.mean()))
            inside[b[1]:b[3], b[0]:b[2]] = True
        bg.append(float(m[~inside].mean()))
    return {"cosalient": float(np.mean(co)) if co else math.nan,
            "distractor": float(np.mean(dis)) if dis else math.nan,
            "background": float(np.mean(bg)) if bg else math.nan, "n_images": len(bg)}


def measure_fps(model: CoSalNet, cfg: TrainConfig, sizes=PAPER_SIZES, repeats: int = 2):
    """Frames per second of the test-time path at the given (width, height), batch 1, after a
    warm-up, CUDA synchronised (torchutil.time_call)."""
    device = torch.device(cfg.device)
    rows = []
    for w, h in sizes:
        x = torch.rand(1, 3, h, w, device=device)
        if device.type == "cuda":
            x = x.to(memory_format=torch.channels_last)

        def run():
            with torch.no_grad(), autocast(device):
                model(x)

        t = time_call(run, device, warmup=1, repeats=repeats)
        rows.append({"width": w, "height": h, "median_s": t["median_s"], "fps": 1.0 / t["median_s"]})
    return rows


# --------------------------------------------------------------------------- the whole experiment
@dataclass
class ChapterRun:
    """Everything the notebook shows: splits, maps (first seed), per-image scores per seed,
    training histories, the encoder's pretraining, speed, and what was (not) run."""
    splits: dict
    config: TrainConfig
    seeds: list
    methods: dict            # dataset key -> method names run (FT + variant names)
    maps: dict               # key -> method -> list of maps (first seed)
    scores: dict             # key -> method -> list (per seed) of per-image score dicts
    histories: dict          # key -> variant -> list (per seed) of histories
    encoder_info: list       # per seed
    fps: list
    timings: dict

    def per_image(self, key, method):
        """Per-image scores averaged over seeds (so a paired comparison pairs images)."""
        runs = self.scores[key][method]
        return {k: np.mean([r[k] for r in runs], axis=0) for k in runs[0]}

    def summary(self, key, method):
        return aggregate(self.per_image(key, method))


def run_experiments(data_root="", sdcs_root="", n_images=240, n_sdcs=160, seed=0, n_seeds=1,
                    ablation=None, cfg: TrainConfig | None = None, vgg_weights="", fps_repeats=2,
                    log=print) -> ChapterRun:
    """Load (or generate) both datasets, pretrain + freeze the encoder, train every variant, score FT
    and the variants on the test splits, time the test path. ``ablation``: the Table 1 columns to
    run on the paper-shaped dataset (Table 2's three learned rows are always run, on both)."""
    import time

    cfg = cfg or TrainConfig()
    ablation = [v.name for v in ABLATION] if ablation is None else list(ablation)
    unknown = set(ablation) - set(VARIANTS)
    if unknown:
        raise BenchlibError(f"unknown ablation column(s) {sorted(unknown)}; choose from {list(VARIANTS)}")
    t0 = time.perf_counter()
    if not sdcs_root and data_root and not is_saliency_folder(data_root):
        sdcs_root = data_root  # both twins live under the same data root
    splits = {"cosal": load_split(data_root, "cosal", n_images, seed),
              "sdcs": load_split(sdcs_root, "sdcs", n_sdcs, seed)}
    timings = {"data_s": time.perf_counter() - t0}
    wanted = {"cosal": [v.name for v in ABLATION if v.name in ablation or v.name in TABLE2_METHODS.values()],
              "sdcs": list(TABLE2_METHODS.values())}
    methods = {k: ["FT"] + wanted[k] for k in splits}
    maps = {k: {"FT": ft_maps(s.test)} for k, s in splits.items()}
    scores = {k: {"FT": [score_maps(maps[k]["FT"], s.test)]} for k, s in splits.items()}
    histories = {k: {} for k in splits}
    timings["ft_s"] = time.perf_counter() - t0 - timings["data_s"]
    arrays = {k: to_training_arrays(s.train, cfg.train_size) for k, s in splits.items()}
    seeds = [seed + i for i in range(n_seeds)]
    encoder_info, model = [], None
    for s_ in seeds:
        t = time.perf_counter()
        # One encoder per seed for both datasets, like the one ImageNet VGG-16 of the paper.
        encoder, info = pretrain_encoder(splits["cosal"].train, cfg, s_, vgg_weights)
        encoder_info.append(info)
        timings["pretrain_s"] = timings.get("pretrain_s", 0) + time.perf_counter() - t
        log(f"seed {s_}: encoder {info['source']}" + (f", held-out crop accuracy {info['val_accuracy']:.2f}"
                                                     if "val_accuracy" in info else ""))
        for key, split in splits.items():
            for name in wanted[key]:
                t = time.perf_counter()
                model, hist = train_variant(VARIANTS[name], encoder, arrays[key], cfg, s_)
                pred = predict(model, split.test, cfg)
                if s_ == seeds[0]:
                    maps[key][name] = pred
                scores[key].setdefault(name, []).append(score_maps(pred, split.test))
                histories[key].setdefault(name, []).append(hist)
                dt = time.perf_counter() - t
                timings[f"train {key} {name}"] = timings.get(f"train {key} {name}", 0) + dt
                log(f"  {key:5s} {name:32s} adaptive F {np.mean(scores[key][name][-1]['adaptive_f']):.3f}  ({dt:.0f} s)")
    t = time.perf_counter()
    fps = measure_fps(model, cfg, repeats=fps_repeats) if model is not None else []
    timings["fps_s"] = time.perf_counter() - t
    return ChapterRun(splits, cfg, seeds, methods, maps, scores, histories, encoder_info, fps, timings)


# --------------------------------------------------------------------------- result rows and claims
def _ci(per_image, key, scale=1.0, seed=0):
    from benchlib.results import bootstrap_ci

    lo, hi = bootstrap_ci(np.asarray(per_image[key]), seed=seed)
    return (lo * scale, hi * scale)


def add_result_rows(res, run: ChapterRun, device_desc: str = "") -> None:
    """Tables 1 and 2 (ours beside the paper's), the paper-only rows, the speed rows."""
    cos = run.splits["cosal"]
    seeds = run.seeds[0] if len(run.seeds) == 1 else f"{run.seeds[0]}–{run.seeds[-1]}"
    note_seeds = "" if len(run.seeds) == 1 else f"mean of {len(run.seeds)} seeds; "
    for v in ABLATION:
        if v.name in run.methods["cosal"]:
            pi = run.per_image("cosal", v.name)
            res.add("1", v.name, "F-measure", 100 * float(np.mean(pi["adaptive_f"])), dataset=cos.dataset,
                    ci=_ci(pi, "adaptive_f", 100), n=len(cos.test), seed=seeds,
                    note=f"{note_seeds}95% CI: bootstrap over test images")
        else:
            res.not_run("1", v.name, "F-measure", "left out by this profile's budget (parameter `ablation`)",
                        dataset=cos.dataset)
    res.compare_with_paper("1")
    metrics = {"F-measure": "adaptive_f", "recall": "adaptive_recall", "precision": "adaptive_precision",
               "MAE": "mae"}
    for key, split in run.splits.items():
        for paper_name, ours in [("FT", "FT"), *TABLE2_METHODS.items()]:
            pi = run.per_image(key, ours)
            for metric, k in metrics.items():
                res.add("2", paper_name, metric, float(np.mean(pi[k])), dataset=split.dataset, subset=split.subset,
                        ci=_ci(pi, k), n=len(split.test), seed=None if ours == "FT" else seeds,
                        note="" if ours == "FT" else note_seeds.rstrip("; "))
            res.add("2", paper_name, "max F-measure", run.summary(key, ours)["max_f"], dataset=split.dataset,
                    subset=split.subset, n=len(split.test), note="not in the paper's table (from the PR curve)")
    res.compare_with_paper("2")
    res.add_paper_rows("2", ["CWS", "RFCN", "PiCANet", "DCL", "LFM"],
                       reason="paper only: the method's code and training are not part of this book")
    for r in run.fps:
        res.add("speed", "Ours (online), test path", "fps", r["fps"],
                dataset=f"random input, width ÷{run.config.width_div}, {device_desc or run.config.device}",
                subset=f"{r['width']}×{r['height']}", paper_value=PAPER_FPS,
                note="paper: 28 fps on a GTX 1080 Ti, full VGG-16 width, its image sizes")


def _values(run, key, method, k):
    return run.per_image(key, method)[k] if method in run.methods[key] else np.array([])


def judge_claims(res, run: ChapterRun, on_gpu: bool = False) -> None:
    """Every claim of the chapter's issue, with a verdict computed from the measured numbers."""
    from benchlib.results import compare

    online, offline, unet = (TABLE2_METHODS[m] for m in ("Ours (online)", "Ours (offline)", "U-Net"))
    names = {"cosal": "paper-shaped twin", "sdcs": "SDCS-shaped twin"}
    # 1. online beats U-Net on F and MAE, both datasets
    verdicts, ev = [], []
    for key in run.splits:
        for k, hib, label in (("adaptive_f", True, "F"), ("mae", False, "MAE")):
            v, e = compare(_values(run, key, online, k), _values(run, key, unet, k), label_a=f"online {label}",
                           label_b=f"U-Net {label}", higher_is_better=hib)
            verdicts.append(v)
            ev.append(f"{names[key]}: {e}")
    res.claim("online_beats_unet", "The proposed network (online) beats U-Net on F-measure and MAE on both datasets",
              "held" if all(v == "held" for v in verdicts) else "not held", " | ".join(ev))
    # 2. online sampling beats offline sampling
    verdicts, ev = [], []
    for key in run.splits:
        v, e = compare(_values(run, key, online, "adaptive_f"), _values(run, key, offline, "adaptive_f"),
                       label_a="online F", label_b="offline F")
        verdicts.append(v)
        ev.append(f"{names[key]}: {e}")
    res.claim("online_beats_offline", "Online sampling beats offline sampling (F-measure, both datasets)",
              "held" if all(v == "held" for v in verdicts) else "not held", " | ".join(ev))
    # 3. augmentation helps U-Net only a little, the RFM branch much more
    need = ["U-Net", "U-Net + DA", "U-Net + DA + FS", online]
    if all(m in run.methods["cosal"] for m in need):
        f = {m: _values(run, "cosal", m, "adaptive_f") for m in need}
        gain_da, gain_rfm = f["U-Net + DA"] - f["U-Net"], f[online] - f["U-Net + DA + FS"]
        v, e = compare(gain_rfm, gain_da, label_a="gain of RFM (online) over U-Net + DA + FS",
                       label_b="gain of DA over U-Net")
        verdict = "held" if v == "held" and gain_rfm.mean() > 0 else "not held"
        res.claim("rfm_helps_more_than_da", "Data augmentation helps U-Net only a little; the RFM branch helps much more "
                  "(paper: +0.8 vs +6.8 points of F)", verdict, f"paper-shaped twin, adaptive F per image: {e}")
    else:
        res.claim("rfm_helps_more_than_da", "Data augmentation helps U-Net only a little; the RFM branch helps much more",
                  "not tested", f"needs the ablation columns {need}")
    # 4. FT far below the learned methods, and it lights up the distractors
    verdicts, ev = [], []
    for key in run.splits:
        ft = _values(run, key, "FT", "adaptive_f")
        worst = min((m for m in run.methods[key] if m != "FT"), key=lambda m: _values(run, key, m, "adaptive_f").mean())
        v, e = compare(_values(run, key, worst, "adaptive_f"), ft, label_a=f"weakest learned ({worst}) F",
                       label_b="FT F", margin=0.10)
        verdicts.append(v)
        ev.append(f"{names[key]}: {e}")
    resp_ft = region_response(run.maps["cosal"]["FT"], run.splits["cosal"].test)
    resp_on = region_response(run.maps["cosal"][online], run.splits["cosal"].test)
    lights = resp_ft["distractor"] >= 0.7 * resp_ft["cosalient"]
    ev.append(f"mean saliency in distractor vs co-salient boxes ({resp_ft['n_images']} test images with a distractor): "
              f"FT {resp_ft['distractor']:.3f} vs {resp_ft['cosalient']:.3f}; online {resp_on['distractor']:.3f} vs "
              f"{resp_on['cosalient']:.3f}")
    res.claim("ft_far_below", "FT is far below the learned methods (adaptive F at least 0.10 lower on both datasets) and "
              "highlights the distractors too (distractor response ≥ 70 % of the co-salient one)",
              "held" if all(v == "held" for v in verdicts) and lights else "not held", " | ".join(ev))
    # 5. speed
    fps_txt = ", ".join(f"{r['fps']:.1f} fps at {r['width']}×{r['height']}" for r in run.fps)
    if on_gpu and run.config.width_div == 1:
        ok = all(r["fps"] >= PAPER_FPS for r in run.fps)
        res.claim("speed_28fps", "The test path runs at 28 fps or more at the paper's image sizes",
                  "held" if ok else "not held", f"{fps_txt} (full-width VGG-16, batch 1, after warm-up, CUDA synchronised)")
    else:
        res.claim("speed_28fps", "The test path runs at 28 fps or more at the paper's image sizes", "not tested",
                  f"no GPU / reduced width here (width ÷{run.config.width_div}, {run.config.device}): {fps_txt}; "
                  "the paper's 28 fps is a GTX 1080 Ti with the full VGG-16")


# --------------------------------------------------------------------------- display tables
def wide_table(frame, table: str):
    """Paper-like layout: one row per method, columns (subset, metric) with 'ours (paper)' cells."""
    import pandas as pd

    df = frame[frame["table"].astype(str) == table].copy()

    def cell(r):
        ours = "—" if np.isnan(r.value) else f"{r.value:.3f}" if abs(r.value) < 2 else f"{r.value:.1f}"
        paper = "" if np.isnan(r.paper_value) else (f"{r.paper_value:.3f}" if abs(r.paper_value) < 2
                                                     else f"{r.paper_value:.1f}")
        return f"{ours} ({paper})" if paper else ours

    df["cell"] = [cell(r) for r in df.itertuples()]
    df["subset"] = df["subset"].fillna("").astype(str)
    order = list(dict.fromkeys(df["method"]))
    cols = list(dict.fromkeys(zip(df["subset"], df["metric"])))  # the paper's column order
    wide = df.pivot_table(index="method", columns=["subset", "metric"], values="cell", aggfunc="first")
    return wide.reindex(index=order, columns=pd.MultiIndex.from_tuples(cols, names=["subset", "metric"])).fillna("")


def dataset_summary(run: ChapterRun):
    """One row per dataset: where it came from, split sizes, objects per image, distractors, sizes."""
    import pandas as pd

    rows = []
    for s in run.splits.values():
        items = s.train.items + s.test.items
        hs, ws = [it.image.shape[0] for it in items], [it.image.shape[1] for it in items]
        rows.append({"dataset": s.dataset, "paper's subset": s.subset, "train": len(s.train), "test": len(s.test),
                     "co-salient objects / image": round(float(np.mean([it.cosalient.sum() for it in items])), 2),
                     "images with a distractor": f"{100 * np.mean([(~it.cosalient).any() for it in items]):.0f} %",
                     "height × width (px)": f"{min(hs)}–{max(hs)} × {min(ws)}–{max(ws)}",
                     "boxes from": s.train.boxes_source, "folder": str(s.train.root)})
    return pd.DataFrame(rows)


def loss_figure(run: ChapterRun):
    """Training losses per epoch (first seed): decoder BCE, RPN, RFM triplet."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    for ax, loss in zip(axes, ("bce", "rpn", "rfm")):
        for key, per_variant in run.histories.items():
            for name, hists in per_variant.items():
                values = [h[loss] for h in hists[0]]
                if any(values):
                    ax.plot(range(1, len(values) + 1), values, label=f"{key}: {name}")
        ax.set(title=f"training loss: {loss.upper()}", xlabel="epoch")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- figures and explorer
SHOWN = {"FT": "FT", "U-Net": "U-Net", "Ours (offline)": TABLE2_METHODS["Ours (offline)"],
         "Ours (online)": TABLE2_METHODS["Ours (online)"]}


def pr_figure(run: ChapterRun):
    """Precision–recall curves like the paper's Fig. 5, one panel per dataset."""
    import matplotlib.pyplot as plt

    from benchlib.plots import pr_curves

    fig, axes = plt.subplots(1, len(run.splits), figsize=(10, 4.2))
    for ax, (key, split) in zip(np.atleast_1d(axes), run.splits.items()):
        pr_curves({label: run.summary(key, m) for label, m in SHOWN.items()}, ax=ax,
                  title=f"{split.dataset} (test, n={len(split.test)})")
    fig.tight_layout()
    return fig


def pick_examples(run: ChapterRun, key: str, n: int = 4):
    """Test images for the visual grid: those with a distractor first (the hard case), then others."""
    items = run.splits[key].test.items
    hard = [i for i, it in enumerate(items) if it.cosalient is not None and (~it.cosalient).any()]
    easy = [i for i in range(len(items)) if i not in hard]
    return (hard[: (n + 1) // 2] + easy[: n // 2] + hard[(n + 1) // 2:] + easy[n // 2:])[:n]


def visual_grid(run: ChapterRun, key: str = "cosal", n: int = 4):
    """Like the paper's Fig. 6: image, ground truth, FT, U-Net, ours (offline), ours (online)."""
    import matplotlib.pyplot as plt

    idx = pick_examples(run, key, n)
    cols = ["image", "ground truth", *SHOWN]
    fig, axes = plt.subplots(len(idx), len(cols), figsize=(1.8 * len(cols), 1.8 * len(idx)), squeeze=False)
    for row, i in enumerate(idx):
        it = run.splits[key].test.items[i]
        panels = [it.image, it.gt] + [run.maps[key][m][i] for m in SHOWN.values()]
        for col, (ax, p) in enumerate(zip(axes[row], panels)):
            ax.imshow(p, cmap=None if p.ndim == 3 else "gray", vmin=0, vmax=255 if p.dtype == np.uint8 else 1)
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(cols[col], fontsize=9)
            if col == 0 and it.cosalient is not None and (~it.cosalient).any():
                for b in it.boxes[~it.cosalient]:
                    ax.add_patch(plt.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="yellow", lw=1))
    fig.suptitle(f"{run.splits[key].dataset}: test images (yellow box = distractor)", fontsize=10)
    fig.tight_layout()
    return fig


def explorer_figure(run: ChapterRun, key: str, index: int, threshold: int):
    """One image: every method's map (top) and its binarisation at `threshold` (bottom), with
    precision / recall / F of that binarisation (SaliencyMeter's per-image curves at t)."""
    import matplotlib.pyplot as plt

    from benchlib.metrics.saliency import image_scores

    it = run.splits[key].test.items[index]
    fig, axes = plt.subplots(2, len(SHOWN) + 1, figsize=(2.2 * (len(SHOWN) + 1), 4.6))
    axes[0, 0].imshow(it.image)
    axes[0, 0].set_title(f"{it.id}", fontsize=9)
    axes[1, 0].imshow(it.gt, cmap="gray")
    axes[1, 0].set_title("ground truth", fontsize=9)
    for col, (label, m) in enumerate(SHOWN.items(), start=1):
        pred = run.maps[key][m][index]
        s = image_scores(pred, it.gt)
        axes[0, col].imshow(pred, cmap="gray", vmin=0, vmax=1)
        axes[0, col].set_title(label, fontsize=9)
        q = np.floor(np.clip((pred - pred.min()) / max(pred.max() - pred.min(), 1e-12), 0, 1) * 255)
        axes[1, col].imshow(q >= threshold, cmap="gray")
        axes[1, col].set_title(f"P {s['precision'][threshold]:.2f} R {s['recall'][threshold]:.2f} "
                               f"F {s['f'][threshold]:.2f}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"threshold {threshold} / 255", fontsize=10)
    fig.tight_layout()
    return fig


def explorer(run: ChapterRun):
    """ipywidgets: pick a dataset and a test image, slide the threshold; the maps, binarisations and
    P / R / F redraw (needs a live kernel). The figure is shown as PNG bytes in an Image widget, not
    through an Output widget: capturing output while papermill executes the cell can hang nbclient."""
    import io

    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    picture = widgets.Image(format="png")
    ds = widgets.Dropdown(options=[(s.dataset, k) for k, s in run.splits.items()], description="dataset")
    img = widgets.IntSlider(value=0, min=0, max=len(run.splits["cosal"].test) - 1, description="image",
                            continuous_update=False)
    thr = widgets.IntSlider(value=128, min=0, max=255, description="threshold", continuous_update=False)

    def draw(*_):
        img.max = len(run.splits[ds.value].test) - 1
        fig = explorer_figure(run, ds.value, min(img.value, img.max), thr.value)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        plt.close(fig)
        picture.value = buf.getvalue()

    for w in (ds, img, thr):
        w.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([ds, img, thr]), picture])
