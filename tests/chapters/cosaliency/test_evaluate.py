"""Co-saliency chapter: selectivity (response on co-salient objects, distractors, background) and the
oracles of the headroom, on hand-made maps with values worked out by hand."""
import numpy as np
import pytest

from benchlib.chapters.cosaliency.data import SaliencyItem, SaliencySet
from benchlib.chapters.cosaliency.evaluate import oracle_maps, region_masks, score_maps, selectivity


def _item(with_salient=True, distractor=True):
    """20×20: co-salient squares at (2..5, 2..5) and (2..5, 12..15); a distractor at (12..15, 2..5)."""
    gt = np.zeros((20, 20), np.uint8)
    gt[2:6, 2:6] = gt[2:6, 12:16] = 255
    sal = gt > 0
    boxes = [[2, 2, 6, 6], [12, 2, 16, 6]]
    if distractor:
        sal = sal.copy()
        sal[12:16, 2:6] = True
        boxes.append([2, 12, 6, 16])
    cos = np.array([True, True] + [False] * distractor)
    return SaliencyItem("x", np.zeros((20, 20, 3), np.uint8), gt, np.array(boxes, np.float32), ["a", "a", "b"][:len(cos)],
                        cos, sal if with_salient else None)


def test_marking_everything_vs_only_the_cosalient_objects():
    it = _item()
    items = SaliencySet(None, [it], "instance files")
    everything = selectivity([it.salient.astype(np.float32)], items)
    only_co = selectivity([(it.gt > 0).astype(np.float32)], items)
    assert (everything["cosalient"][0], everything["distractor"][0], everything["background"][0],
            everything["selectivity"][0]) == (1, 1, 0, 0)
    assert (only_co["cosalient"][0], only_co["distractor"][0], only_co["selectivity"][0]) == (1, 0, 1)


def test_graded_map_is_scaled_like_the_metrics():
    # background 0.1, co-salient 0.9, distractor 0.5 -> min-max: 0, 1, (0.5 − 0.1)/0.8 = 0.5
    it = _item()
    m = np.full((20, 20), 0.1, np.float32)
    m[it.gt > 0] = 0.9
    m[12:16, 2:6] = 0.5
    s = selectivity([m], SaliencySet(None, [it], "instance files"))
    assert s["cosalient"][0] == pytest.approx(1) and s["distractor"][0] == pytest.approx(0.5)
    assert s["background"][0] == pytest.approx(0) and s["selectivity"][0] == pytest.approx(0.5)
    # a constant map has no selectivity
    assert selectivity([np.full((20, 20), 0.3, np.float32)], SaliencySet(None, [it], ""))["selectivity"][0] == 0


def test_without_salient_masks_the_distractor_boxes_stand_in():
    it = _item(with_salient=False)
    co, dis, bg = region_masks(it)
    assert co.sum() == 32 and dis.sum() == 16 and bg.sum() == 400 - 48
    assert not (dis & co).any()


def test_images_without_a_distractor_are_left_out():
    items = SaliencySet(None, [_item(), _item(distractor=False)], "")
    s = selectivity([it.salient.astype(np.float32) for it in items.items], items)
    assert all(len(v) == 1 for v in s.values())


def test_oracles_by_hand():
    it = _item()
    items = SaliencySet(None, [it], "")
    oracles = oracle_maps(items)
    all_salient = score_maps(oracles["oracle: all salient objects"], items)
    # precision 32/48, recall 1: F = 1.3 · (2/3) / (0.3 · 2/3 + 1); MAE = 16 wrong pixels of 400
    assert all_salient["adaptive_f"][0] == pytest.approx(1.3 * (2 / 3) / (0.3 * 2 / 3 + 1))
    assert all_salient["mae"][0] == pytest.approx(16 / 400)
    co = score_maps(oracles["oracle: co-salient objects"], items)
    assert co["adaptive_f"][0] == pytest.approx(1) and co["mae"][0] == 0
    assert list(oracle_maps(SaliencySet(None, [_item(with_salient=False)], ""))) == ["oracle: co-salient objects"]


def test_fps_timing_warms_up_except_for_long_cpu_runs(monkeypatch):
    import time

    import torch

    from benchlib.chapters.cosaliency import evaluate

    class Sleeper(torch.nn.Module):
        def __init__(self, seconds):
            super().__init__()
            self.seconds, self.calls = seconds, 0

        def forward(self, x):
            self.calls += 1
            time.sleep(self.seconds)
            return x

    monkeypatch.setattr(evaluate, "CPU_LONG_S", 0.05)
    quick, slow = Sleeper(0.0), Sleeper(0.06)
    (q,) = evaluate.measure_fps(quick, "cpu", sizes=((8, 6),), repeats=3)
    assert quick.calls == 4 and q["warmup"] == 1 and len(q["times_s"]) == 3  # warm-up + 3 timed
    (s,) = evaluate.measure_fps(slow, "cpu", sizes=((8, 6),), repeats=3)
    # the first run is over the limit: it counts as a sample, no run is spent on warming up
    assert slow.calls == 3 and s["warmup"] == 0 and len(s["times_s"]) == 3
    assert all(t >= 0.06 for t in s["times_s"]) and s["fps"] == pytest.approx(1 / s["median_s"])
    (one,) = evaluate.measure_fps(Sleeper(0.06), "cpu", sizes=((8, 6),), repeats=1)
    assert len(one["times_s"]) == 1 and one["warmup"] == 0
