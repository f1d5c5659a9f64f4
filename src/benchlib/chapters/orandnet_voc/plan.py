"""`benchlib plan` for the ORANDNet chapter: PASCAL VOC 2012 (opened with the chapter's loader), the
ImageNet weights / classifier checkpoints its parameters name, and the time of every training stage
from a few timed steps of its networks."""
from __future__ import annotations

import math

from benchlib.plan import ChapterPlan, Estimate, RowStatus, check_data, check_weight

from . import data as D
from . import models as M
from .pipeline import STAGE2, STAGE2_METHODS, TABLE1_METHODS, Config

LAYOUT = """<data_root>/VOCdevkit/VOC2012/   (or the VOC2012 folder itself)
  JPEGImages/<id>.jpg
  SegmentationClass/<id>.png          (or SegmentationClassAug/ for train_aug)
  Annotations/<id>.xml                image-level labels
  ImageSets/Segmentation/train.txt    val.txt (one id a line)"""


def _validate(root):
    counts, notes = {}, []
    for split in ("train", "val"):
        ds = D.VOCSegmentation(root, split)   # split list, every listed file present
        ds[0]                                 # one image / mask / XML decoded and cross-checked
        counts[f"{split} images"] = len(ds)
    notes.append("split lists and file presence checked by the chapter's loader; the first image of each "
                 "split decoded (the run reads them all)")
    return counts, notes


def _load_into(kind: str, c: Config):
    def load(path):
        M.load_imagenet_weights(M.build_classifier(kind, c.image_size, "paper"), path)
        return "ImageNet backbone weights load into the paper network"
    return load


def _load_checkpoint(kind: str, c: Config):
    def load(path):
        from benchlib import BenchlibError

        model = M.build_classifier(kind, c.image_size, c.backbones,
                                   c.resnet_weights if kind == "resnet" else c.vit_weights)
        try:
            model.load_state_dict(M.read_state_dict(path))
        except RuntimeError as e:
            raise BenchlibError(f"{path}: not a state_dict of this chapter's {kind} classifier ({e})") from None
        return f"loads into the {c.backbones} {kind} classifier: its training is skipped"
    return load


def check(ctx) -> ChapterPlan:
    c = ctx.config(Config)
    data = check_data("data_root", ctx.data_root, name="PASCAL VOC 2012", layout=LAYOUT,
                      find=lambda base: D.resolve_root(base) if D.is_voc_root(base) else None, validate=_validate)
    weights = []
    if c.backbones == "paper":
        weights += [check_weight("resnet_weights", c.resnet_weights, _load_into("resnet", c),
                                 "ResNet-50 ImageNet initialisation (not set: trained from scratch)"),
                    check_weight("vit_weights", c.vit_weights, _load_into("vit", c),
                                 "ViT-B/16 ImageNet initialisation (not set: trained from scratch)")]
    weights += [check_weight("resnet_checkpoint", c.resnet_checkpoint, _load_checkpoint("resnet", c),
                             "a trained ResNet classifier (not set: trained here)"),
                check_weight("vit_checkpoint", c.vit_checkpoint, _load_checkpoint("vit", c),
                             "a trained ViT classifier (not set: trained here)")]
    rows = [RowStatus(f"Table 1 {m}", True) for m in TABLE1_METHODS]
    rows += [RowStatus(f"Table 2 {m}{STAGE2}", True) for m in STAGE2_METHODS]
    rows.append(RowStatus("mechanism control", c.n_control > 0, "" if c.n_control > 0 else "n_control = 0"))
    return ChapterPlan(Config.chapter_id(), data=[data], weights=weights, rows=rows)


def estimate(ctx, plan: ChapterPlan) -> Estimate:
    c = ctx.config(Config)
    found = plan.data[0].status == "found"
    n = plan.data[0].counts["train images"] if found else c.n_train
    s = c.image_size
    steps = lambda batch: math.ceil(n / batch)  # noqa: E731 - one pass over the training images
    jobs = {kind: (lambda shape, k=kind: M.build_classifier(k, shape[-1], c.backbones),
                   {"train": ((16, 3, s, s), True), "cam": ((1, 3, s, s), False)}, 16, kind == "resnet")
            for kind in ("resnet", "vit")}
    jobs["orand"] = (lambda shape: M.OrAndNet(), {"train": ((8, 1, s, s), True)}, 8, True)
    jobs["aff"] = (lambda shape: M.AffinityNet(), {"train": ((16, 3, s, s), True)}, 8, True)
    jobs["seg"] = (lambda shape: M.SegNet(width=24), {"train": ((16, 3, s, s), True)}, 8, True)
    cal = ctx.calibrate_many(jobs)   # the networks share the chapter's time budget
    trains = {"resnet": not c.resnet_checkpoint, "vit": not c.vit_checkpoint}
    parts = {
        "classifiers": sum(e * steps(16) * cal[k]["train"].seconds
                           for k, e in (("resnet", c.cls_epochs), ("vit", c.vit_epochs)) if trains[k]),
        # every scale and its flip for the ResNet CAM; one scale and its flip for the ViT
        "CAMs": n * 2 * (len(c.cam_scales) * cal["resnet"]["cam"].seconds + cal["vit"]["cam"].seconds),
        "ORANDNet": c.orand_epochs * steps(8) * cal["orand"]["train"].seconds,
        "affinity": c.aff_epochs * steps(16) * cal["aff"]["train"].seconds,
        "second stage": (len(STAGE2_METHODS) + 1) * c.seg_epochs * steps(16) * cal["seg"]["train"].seconds,
    }
    parts = {k: c.n_seeds * v for k, v in parts.items()}
    basis = [f"{c.n_seeds} seed(s) × {n} training images ({'found' if found else 'the twin, n_train'}) at {s} px, "
             f"{c.backbones} backbones; ORANDNet counted as one OR/AND map per image (an image with k "
             "labelled classes gives k); CAMs at full size (scales other than 1 not rescaled); "
             "mechanism control and scoring not counted"]
    basis += [f"{k}: {name} {v.seconds:.3g} s ({v.describe()})" for k, d in cal.items() for name, v in d.items()]
    basis.append(f"on {ctx.device} with {ctx.threads} thread(s)")
    return Estimate(sum(parts.values()), parts, basis)
