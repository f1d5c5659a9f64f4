"""Scoring against ground truth for the SAM vs SAM 2 chapter: segmentation quality (simulated
clicks, mIoU, J&F), used only when checkpoints are given (random weights give meaningless masks,
so those rows say `not run: no checkpoint`).

- Interactive image segmentation (SAM / SAM 2 papers' protocol): the first click is the object
  pixel farthest from its boundary; each next click goes to the pixel farthest from the boundary
  of the larger error region (missed object → positive click, false positive → negative click),
  with the previous low-resolution logits fed back as the mask prompt. The first click asks for
  three masks and keeps the one with the highest predicted IoU. mIoU after k clicks = mean over
  objects of the IoU after the k-th click.
- Video (DAVIS 2017 semi-supervised): J = region IoU, F = boundary F-measure with a tolerance of
  0.8 % of the image diagonal (davis2017-evaluation's `bound_th=0.008`), boundary = object pixels
  with a 4-neighbour outside the object; J&F = mean of mean J and mean F over frames 1…N−1 (the
  prompted frame 0 is left out; the official code also leaves out the last frame).
"""
from __future__ import annotations

import math

import numpy as np


def prompt_point(mask: np.ndarray) -> tuple[int, int]:
    """The click a careful user makes: the object pixel farthest from its boundary, (x, y)."""
    import cv2

    m = np.pad(np.asarray(mask).astype(np.uint8), 1)
    d = cv2.distanceTransform(m, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(x), int(y)


def iou(pred, gt) -> float:
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    union = (pred | gt).sum()
    return 1.0 if union == 0 else float((pred & gt).sum() / union)


def next_click(pred, gt):
    """((x, y), label) of the corrective click: inside the larger error region, far from its edge."""
    import cv2

    fn, fp = gt & ~pred, pred & ~gt
    best = None
    for region, label in ((fn, 1), (fp, 0)):
        if region.any():
            d = cv2.distanceTransform(np.pad(region.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
            if best is None or d.max() > best[0]:
                best = (float(d.max()), np.unravel_index(int(np.argmax(d)), d.shape), label)
    if best is None:
        return None
    (y, x), label = best[1], best[2]
    return (int(x), int(y)), label


def click_ious(predictor, gt, n_clicks: int = 5) -> list[float]:
    """IoU after each of `n_clicks` simulated clicks on one object (the image is already set)."""
    gt = np.asarray(gt, bool)
    points, labels = [prompt_point(gt)], [1]
    logits, ious = None, []
    for k in range(n_clicks):
        masks, scores, low = predictor.predict(point_coords=np.array(points, float), point_labels=np.array(labels),
                                               mask_input=logits, multimask_output=(k == 0))
        best = int(np.argmax(scores))
        pred = np.asarray(masks[best], bool)
        logits = low[best][None]
        ious.append(iou(pred, gt))
        click = next_click(pred, gt)
        if click is None:  # perfect: the remaining clicks keep the same IoU
            ious += [ious[-1]] * (n_clicks - k - 1)
            break
        points.append(click[0])
        labels.append(click[1])
    return ious


def interactive_miou(predictor, dataset, n_clicks: int = 5) -> np.ndarray:
    """objects × clicks array of IoUs over an image set (items with 'image' and 'objects')."""
    rows = []
    for item in dataset:
        predictor.set_image(item["image"])
        for obj in item["objects"]:
            rows.append(click_ious(predictor, obj, n_clicks))
    return np.array(rows, float)


def _boundary(mask):
    m = np.asarray(mask, bool)
    p = np.pad(m, 1)
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return m & ~inner


def boundary_f(pred, gt, bound_th: float = 0.008) -> float:
    import cv2

    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    r = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*gt.shape))
    bp, bg = _boundary(pred), _boundary(gt)
    if not bp.any() and not bg.any():
        return 1.0
    if not bp.any() or not bg.any():
        return 0.0
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    gd = cv2.dilate(bg.astype(np.uint8), k).astype(bool)
    pd_ = cv2.dilate(bp.astype(np.uint8), k).astype(bool)
    precision = (bp & gd).sum() / bp.sum()
    recall = (bg & pd_).sum() / bg.sum()
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def j_and_f(pred_masks, gt_masks) -> dict:
    """Per-frame J and F over frames 1…N−1, and their means and J&F."""
    js = [iou(p, g) for p, g in zip(pred_masks[1:], gt_masks[1:])]
    fs = [boundary_f(p, g) for p, g in zip(pred_masks[1:], gt_masks[1:])]
    return {"J": js, "F": fs, "J_mean": float(np.mean(js)), "F_mean": float(np.mean(fs)),
            "JF": float((np.mean(js) + np.mean(fs)) / 2)}


def per_frame_j_and_f(jf: dict) -> np.ndarray:
    """(J + F) / 2 per frame, in %, of a `j_and_f` result: its mean over the frames is J&F."""
    return 50 * (np.asarray(jf["J"], float) + np.asarray(jf["F"], float))
