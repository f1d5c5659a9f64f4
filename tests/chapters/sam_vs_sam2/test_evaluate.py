"""SAM chapter scoring against ground truth (evaluate.py): IoU, boundary F, J&F, simulated clicks."""
import numpy as np

from benchlib.chapters.sam_vs_sam2 import evaluate as Q


def test_iou_and_boundary_f_by_hand():
    gt = np.zeros((20, 20), bool); gt[5:15, 5:15] = True      # 100 px
    pred = np.zeros((20, 20), bool); pred[5:15, 5:10] = True  # 50 px inside
    assert Q.iou(pred, gt) == 0.5
    assert Q.iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    assert Q.boundary_f(gt, gt) == 1.0
    # shifting by 1 px stays within the tolerance ceil(0.008 * diag) = 1 px
    assert Q.boundary_f(np.roll(gt, 1, axis=1), gt) == 1.0
    # shifting by 5 px: only the boundary pixels within 1 px of the other boundary count
    f = Q.boundary_f(np.roll(gt, 5, axis=1), gt)
    assert 0 < f < 0.7
    assert Q.boundary_f(np.zeros_like(gt), gt) == 0.0


def test_prompt_point_is_farthest_from_the_boundary():
    m = np.zeros((9, 9), bool)
    m[2:7, 2:7] = True  # a 5 x 5 square: its centre is the one pixel farthest from the edge
    assert Q.prompt_point(m) == (4, 4)
    m = np.zeros((9, 12), bool)
    m[1:4, 1:4] = True
    m[2:9, 5:12] = True  # the larger square wins: centre (x 8, y 5)
    assert Q.prompt_point(m) == (8, 5)


def test_j_and_f_leaves_out_the_prompted_frame():
    gt = [np.eye(4, dtype=bool)] * 3
    pred = [np.zeros((4, 4), bool), np.eye(4, dtype=bool), np.eye(4, dtype=bool)]
    out = Q.j_and_f(pred, gt)
    assert out["J"] == [1.0, 1.0] and out["JF"] == 1.0


class Oracle:
    """A predictor stand-in: first returns a mask covering only the left half of the object, then
    the exact object once it has a second click."""

    def __init__(self, gt):
        self.gt, self.calls = gt, []

    def predict(self, point_coords, point_labels, mask_input=None, multimask_output=True):
        self.calls.append((point_coords.copy(), point_labels.copy(), mask_input is None))
        if len(point_coords) == 1:
            m = self.gt.copy(); m[:, self.gt.shape[1] // 2:] = False
        else:
            m = self.gt
        n = 3 if multimask_output else 1
        return np.stack([m] * n), np.arange(n, dtype=float), np.zeros((n, 4, 4))


def test_click_simulation_clicks_in_the_missed_part():
    gt = np.zeros((20, 20), bool); gt[4:16, 2:18] = True
    o = Oracle(gt)
    ious = Q.click_ious(o, gt, n_clicks=5)
    assert ious == [0.5, 1.0, 1.0, 1.0, 1.0]
    (p1, l1, first_no_mask), (p2, l2, second_no_mask) = o.calls[:2]
    assert first_no_mask and not second_no_mask  # previous logits are fed back
    x, y = p2[1]
    assert l2[1] == 1 and x >= 10 and gt[int(y), int(x)]  # positive click in the missed right half
    assert len(o.calls) == 2  # stops clicking once perfect
