"""Evaluation of saliency maps: scores per image, selectivity (response on co-salient objects,
distractors and background) and speed of the test path."""
from __future__ import annotations

import math
import statistics

import numpy as np
import torch

from benchlib.metrics.saliency import SaliencyMeter, prepare
from benchlib.torchutil import autocast, time_call

from .data import SaliencySet
from .models import CoSalNet, ft_saliency

# The paper's image sizes (width × height): smallest and largest of its dataset.
PAPER_SIZES = ((450, 256), (808, 1078))


def ft_maps(items: SaliencySet):
    return [ft_saliency(it.image) for it in items.items]


def score_maps(maps, items: SaliencySet) -> dict:
    """Per-image scores (SaliencyMeter.per_image) of predicted maps against the ground truths."""
    meter = SaliencyMeter()
    for m, it in zip(maps, items.items):
        meter.update(m, it.gt)
    return meter.per_image()


def region_masks(item) -> tuple:
    """(co-salient, distractor, background) boolean masks of one image. With a salient-objects mask
    (the twins write one) they are exact: ground truth; salient but not ground truth; neither. Without
    one, the distractor boxes' pixels outside the ground truth stand for the distractors, and the
    background is what no box covers."""
    co = item.gt > 128
    if item.salient is not None:
        return co, item.salient & ~co, ~item.salient
    dis, boxed = np.zeros(co.shape, bool), co.copy()
    for b, c in zip(np.asarray(item.boxes).astype(int), item.cosalient):
        boxed[b[1]:b[3], b[0]:b[2]] = True
        if not c:
            dis[b[1]:b[3], b[0]:b[2]] = True
    return co, dis & ~co, ~boxed


SELECTIVITY_KEYS = ("cosalient", "distractor", "background", "selectivity")


def selectivity(maps, items: SaliencySet) -> dict:
    """Per image with a distractor: the map's mean response (scaled to [0, 1] per image, as the
    saliency metrics do) on the co-salient objects, on the distractors and on the background, and
    the selectivity = co-salient − distractor response (1: marks only the co-salient objects;
    0: a generic saliency detector that marks every salient object alike). Arrays of equal length;
    images without a distractor are left out (they cannot show selectivity)."""
    rows = []
    for m, it in zip(maps, items.items):
        co, dis, bg = region_masks(it)
        if not dis.any() or not co.any():
            continue
        p, _ = prepare(np.asarray(m), it.gt)
        c, d = float(p[co].mean()), float(p[dis].mean())
        rows.append((c, d, float(p[bg].mean()) if bg.any() else math.nan, c - d))
    arr = np.array(rows, float).reshape(-1, len(SELECTIVITY_KEYS))
    return {k: arr[:, j] for j, k in enumerate(SELECTIVITY_KEYS)}


def oracle_maps(items: SaliencySet) -> dict:
    """The two oracles of the headroom: one marks every salient object (a perfect generic saliency
    detector), one only the co-salient objects (a perfect co-saliency detector = the ground truth).
    Without salient-objects masks the first is unknown and left out."""
    out = {"oracle: co-salient objects": [(it.gt > 128).astype(np.float32) for it in items.items]}
    if all(it.salient is not None for it in items.items):
        out["oracle: all salient objects"] = [it.salient.astype(np.float32) for it in items.items]
    return out


# On a CPU a run longer than this (the full-width network: seconds) is timed from the first run on:
# a warm-up run would double its cost, and its one-off setup makes the fps a lower bound.
CPU_LONG_S = 1.0


def measure_fps(model: CoSalNet, device, sizes=PAPER_SIZES, repeats: int = 2):
    """Frames per second of the test-time path at the given (width, height), batch 1, median of
    `repeats` runs after a warm-up run (none on a CPU when a run takes over CPU_LONG_S; the row says
    so), CUDA synchronised (torchutil.time_call)."""
    device = torch.device(device)
    rows = []
    for w, h in sizes:
        x = torch.rand(1, 3, h, w, device=device)
        if device.type == "cuda":
            x = x.to(memory_format=torch.channels_last)

        def run():
            with torch.no_grad(), autocast(device):
                model(x)

        first = time_call(run, device, warmup=0, repeats=1)["times_s"]
        warmup = int(device.type != "cpu" or first[0] <= CPU_LONG_S)
        more = repeats if warmup else repeats - 1  # without a warm-up the first run is a sample
        times = (time_call(run, device, warmup=0, repeats=more)["times_s"] if more > 0 else []) + ([] if warmup
                                                                                                   else first)
        median = statistics.median(times)
        rows.append({"width": w, "height": h, "median_s": median, "fps": 1.0 / median, "times_s": times,
                     "warmup": warmup})
    return rows
