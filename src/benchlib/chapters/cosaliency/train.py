"""Training of the co-saliency network's Table 1 variants: data arrays, the paper's augmentations,
the frozen encoder's pretraining on the twin, the RPN / RFM branch losses, and prediction."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from benchlib.torchutil import autocast, seed_everything

from .data import SaliencySet
from .models import (
    IMAGENET_MEAN, IMAGENET_STD, PAPER_ANCHOR_SIZES, STRIDE, CoSalNet, Variant, VGG16Encoder, decode_boxes,
    load_imagenet_vgg16, make_anchors, make_triplets, offline_regions, online_regions, rpn_losses, triplet_loss,
)


@dataclass
class TrainConfig:
    """Training settings: the notebook's parameters (no defaults here, so they cannot drift from the
    notebook's) plus the method's fixed constants."""

    train_size: int               # training / inference resolution (square)
    width_div: int                # VGG-16 widths divided by this (1 = the real network)
    epochs: int
    batch_size: int
    lr: float
    pretrain_epochs: int
    device: str
    weight_decay: float = 1e-4
    margin: float = 0.3           # triplet margin (on L2-normalised vectors)
    n_pos: int = 8                # regions per image for the RFM branch (paper: 32 + 96, 128 triplets;
    n_neg: int = 24               # the twin keeps the 1:3 ratio with fewer, since it has ~3.5 objects
    n_triplets: int = 32          # at a tenth of the paper's resolution)

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


