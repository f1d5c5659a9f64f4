import numpy as np
import pytest

from benchlib import BenchlibError
from benchlib.metrics.segmentation import (
    ConfusionMeter,
    binary_scores,
    confusion_matrix,
    segmentation_scores,
)
from tests._fakes import FakeTensor

# 4 classes (0 = background); class 3 is in neither truth nor prediction; two void (255) pixels,
# under which the prediction (2 and 0) must be ignored.
TARGET = np.array([[0, 0, 1, 1],
                   [0, 255, 1, 2],
                   [2, 2, 255, 0]], dtype=np.uint8)
PRED = np.array([[0, 1, 1, 1],
                 [0, 2, 0, 2],
                 [2, 1, 0, 0]], dtype=np.uint8)
# Valid (truth, pred) pairs, row by row:
#   (0,0) (0,1) (1,1) (1,1) | (0,0) (1,0) (2,2) | (2,2) (2,1) (0,0)
# truth 0: pred 0 ×3, pred 1 ×1 -> [3, 1, 0, 0]
# truth 1: pred 0 ×1, pred 1 ×2 -> [1, 2, 0, 0]
# truth 2: pred 1 ×1, pred 2 ×2 -> [0, 1, 2, 0]
# truth 3: nothing            -> [0, 0, 0, 0]      (10 pixels = 12 − 2 void)
EXPECTED_CM = np.array([[3, 1, 0, 0],
                        [1, 2, 0, 0],
                        [0, 1, 2, 0],
                        [0, 0, 0, 0]])


def test_voc_confusion_matrix_with_void_by_hand():
    cm = confusion_matrix(PRED, TARGET, num_classes=4)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, EXPECTED_CM)


def test_scores_by_hand_absent_class_is_nan_and_left_out():
    s = segmentation_scores(EXPECTED_CM)
    # rows (truth) [4, 3, 3, 0], columns (pred) [4, 4, 2, 0], diagonal [3, 2, 2, 0]
    # IoU: 3/(4+4−3) = 0.6, 2/(3+4−2) = 0.4, 2/(3+2−2) = 2/3, 0/0 = NaN
    np.testing.assert_allclose(s["iou"][:3], [0.6, 0.4, 2 / 3])
    assert np.isnan(s["iou"][3])
    # mIoU over the 3 present classes: (0.6 + 0.4 + 2/3)/3 = 5/9 (5/12 if class 3 counted as 0)
    assert s["miou"] == pytest.approx(5 / 9)
    # precision = diag/col: 3/4, 2/4, 2/2, NaN -> mean 0.75
    np.testing.assert_allclose(s["precision"][:3], [0.75, 0.5, 1.0])
    assert s["mprecision"] == pytest.approx(0.75)
    # recall = diag/row: 3/4, 2/3, 2/3, NaN -> mean (0.75 + 4/3)/3 = 25/36
    np.testing.assert_allclose(s["recall"][:3], [0.75, 2 / 3, 2 / 3])
    assert s["mrecall"] == pytest.approx(25 / 36)
    # pixel accuracy = 7 correct / 10 valid
    assert s["pixel_accuracy"] == pytest.approx(0.7)
    for key in ("miou", "mprecision", "mrecall", "pixel_accuracy"):
        assert isinstance(s[key], float)


def test_never_predicted_class_precision_nan_recall_zero():
    # truth 0: 2 px predicted 0; truth 1: 1 px predicted 0; class 1 never predicted.
    s = segmentation_scores(np.array([[2, 0], [1, 0]]))
    # precision: class 0 = 2/3, class 1 = 0/0 -> NaN (left out) -> mean 2/3
    assert np.isnan(s["precision"][1])
    assert s["mprecision"] == pytest.approx(2 / 3)
    # recall: 2/2 = 1, 0/1 = 0 -> mean 0.5 ; IoU: 2/(2+3−2) = 2/3, 0/(1+0−0) = 0 -> 1/3
    assert s["mrecall"] == pytest.approx(0.5)
    assert s["miou"] == pytest.approx(1 / 3)


def test_against_sklearn_on_random_data_with_void():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    c = 21
    target = rng.integers(0, c, size=(3, 40, 50)).astype(np.uint8)
    target[rng.random(target.shape) < 0.1] = 255
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, c, size=target.shape))
    pred = np.where(pred == 255, 0, pred).astype(np.uint8)
    valid = target != 255

    ref = sk.confusion_matrix(target[valid], pred[valid], labels=list(range(c)))
    cm = confusion_matrix(pred, target, c)
    np.testing.assert_array_equal(cm, ref)

    # IoU / precision / recall from sklearn's matrix, class by class, without our code.
    s = segmentation_scores(cm)
    for k in range(c):
        tp = ref[k, k]
        fp = ref[:, k].sum() - tp
        fn = ref[k, :].sum() - tp
        assert s["iou"][k] == pytest.approx(tp / (tp + fp + fn))
        assert s["precision"][k] == pytest.approx(tp / (tp + fp))
        assert s["recall"][k] == pytest.approx(tp / (tp + fn))
    assert s["pixel_accuracy"] == pytest.approx(np.trace(ref) / ref.sum())
    assert s["mprecision"] == pytest.approx(sk.precision_score(target[valid], pred[valid], average="macro"))
    assert s["mrecall"] == pytest.approx(sk.recall_score(target[valid], pred[valid], average="macro"))


def test_tensor_input_matches_numpy():
    cm = confusion_matrix(FakeTensor(PRED.astype(np.int64)), FakeTensor(TARGET), 4)
    np.testing.assert_array_equal(cm, EXPECTED_CM)


def test_meter_pools_pixels_over_images():
    meter = ConfusionMeter(4)
    meter.update(PRED[:2], TARGET[:2]).update(PRED[2:], TARGET[2:])
    np.testing.assert_array_equal(meter.matrix, EXPECTED_CM)
    assert meter.compute()["miou"] == pytest.approx(5 / 9)


@pytest.mark.parametrize("bad", [4, 200])
def test_prediction_out_of_range_raises(bad):
    pred = PRED.copy()
    pred[0, 0] = bad
    with pytest.raises(BenchlibError, match=r"predictions outside \[0, 4\)"):
        confusion_matrix(pred, TARGET, 4)


def test_negative_prediction_and_pred_at_void_pixel_raise():
    pred = PRED.astype(np.int16)
    pred[2, 0] = -1
    with pytest.raises(BenchlibError, match="outside"):
        confusion_matrix(pred, TARGET, 4)
    pred = PRED.copy()
    pred[1, 1] = 255  # a void pixel: still a bad prediction
    with pytest.raises(BenchlibError, match="outside"):
        confusion_matrix(pred, TARGET, 4)


def test_bad_inputs_raise():
    with pytest.raises(BenchlibError, match="shapes differ"):
        confusion_matrix(PRED[:2], TARGET, 4)
    with pytest.raises(BenchlibError, match="integer"):
        confusion_matrix(PRED.astype(np.float32), TARGET, 4)
    target = TARGET.copy()
    target[0, 0] = 9  # unknown label, not void
    with pytest.raises(BenchlibError, match="target labels"):
        confusion_matrix(PRED, target, 4)
    with pytest.raises(BenchlibError, match="num_classes"):
        confusion_matrix(PRED, TARGET, 0)
    with pytest.raises(BenchlibError, match="square"):
        segmentation_scores(np.zeros((2, 3)))
    with pytest.raises(BenchlibError, match="empty"):
        segmentation_scores(np.zeros((2, 2)))


def test_binary_scores_by_hand():
    pred = np.array([1, 1, 1, 0, 1, 0])
    target = np.array([1, 0, 0, 1, 1, 0])
    # TP = 2 (idx 0, 4), FP = 2 (idx 1, 2), FN = 1 (idx 3), TN = 1 (idx 5)
    s = binary_scores(pred, target)
    assert s["precision"] == pytest.approx(0.5)       # 2/4
    assert s["recall"] == pytest.approx(2 / 3)        # 2/3
    assert s["f1"] == pytest.approx(4 / 7)            # 2·0.5·(2/3)/(0.5+2/3) = 2TP/(2TP+FP+FN)
    assert s["accuracy"] == pytest.approx(0.5)        # 3 correct / 6


def test_binary_scores_no_positive_prediction_gives_zero_f1():
    s = binary_scores(np.zeros((2, 2), dtype=bool), np.array([[1, 0], [0, 0]], dtype=bool))
    # P = 0/0 -> 0, R = 0/1 = 0, F1 = 0; 3 of 4 pixels correct
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
    assert s["accuracy"] == pytest.approx(0.75)


def test_binary_scores_against_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    t = rng.integers(0, 2, size=(30, 30))
    p = np.where(rng.random(t.shape) < 0.7, t, 1 - t)
    s = binary_scores(p, t)
    assert s["f1"] == pytest.approx(sk.f1_score(t.ravel(), p.ravel()))
    assert s["precision"] == pytest.approx(sk.precision_score(t.ravel(), p.ravel()))
    assert s["recall"] == pytest.approx(sk.recall_score(t.ravel(), p.ravel()))
    assert s["accuracy"] == pytest.approx(sk.accuracy_score(t.ravel(), p.ravel()))


def test_binary_scores_rejects_non_binary():
    with pytest.raises(BenchlibError, match="binary"):
        binary_scores(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(BenchlibError, match="integer"):
        binary_scores(np.array([0.0, 1.0]), np.array([0, 1]))


def test_a_normalised_confusion_matrix_is_refused():
    import pytest as _pytest

    from benchlib import BenchlibError
    from benchlib.metrics.segmentation import segmentation_scores

    cm = np.array([[8, 2], [1, 9]])
    assert segmentation_scores(cm.astype(float))["miou"] == segmentation_scores(cm)["miou"]
    with _pytest.raises(BenchlibError, match="whole numbers"):
        segmentation_scores(cm / cm.sum(axis=1, keepdims=True))


# --------------------------------------------------------------------------- malformed inputs (issue 30)
@pytest.mark.parametrize("n", [10**6, 4097])
def test_absurd_class_counts_are_refused_before_allocating(n):
    """A million classes would ask for a 10¹²-cell matrix (8 TB) and exhaust memory; refused with
    the memory it would take, by the function and by the meter."""
    need = "7,451 GiB" if n == 10**6 else "128 MiB"   # 8 bytes × n²
    with pytest.raises(BenchlibError, match=rf"num_classes = {n:,}: too many classes .* would take {need}"):
        confusion_matrix(np.zeros(4, np.int64), np.zeros(4, np.int64), n)
    with pytest.raises(BenchlibError, match="too many classes"):
        ConfusionMeter(np.int64(n))
    assert confusion_matrix(np.zeros(4, np.int64), np.zeros(4, np.int64), 4096)[0, 0] == 4
