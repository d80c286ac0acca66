import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from seglab.errors import ShapeError
from seglab.measure import nc_agreement, nc_ratio
from seglab.metrics import (
    confusion_matrix,
    dice,
    dice_per_class,
    image_score,
    iou,
    pixel_accuracy,
    roc_auc,
)

TRUE = np.array([[0, 0, 1, 1], [0, 1, 1, 2], [0, 1, 2, 2]])
PRED = np.array([[0, 1, 1, 1], [0, 1, 2, 2], [0, 0, 2, 2]])
# By hand: class 1 true {(0,2),(0,3),(1,1),(1,2),(2,1)} = 5, pred {(0,1),(0,2),(0,3),(1,1)} = 4,
# both {(0,2),(0,3),(1,1)} = 3. Class 2: true 3, pred 4, both 3. Class 0: true 4, pred 4, both 3.


def test_dice_by_hand():
    assert dice(TRUE, PRED, 1) == pytest.approx(2 * 3 / (5 + 4))
    assert dice(TRUE, PRED, 2) == pytest.approx(2 * 3 / (3 + 4))
    assert dice(TRUE, PRED, 0) == pytest.approx(2 * 3 / (4 + 4))


def test_iou_by_hand():
    assert iou(TRUE, PRED, 1) == pytest.approx(3 / (5 + 4 - 3))
    assert iou(TRUE, PRED, 2) == pytest.approx(3 / 4)


def test_empty_classes_score_one():
    zeros = np.zeros((3, 3), int)
    assert dice(zeros, zeros, 2) == 1.0 and iou(zeros, zeros, 2) == 1.0
    assert dice(zeros, np.full((3, 3), 2), 2) == 0.0


def test_image_score_is_mean_of_non_background_dice():
    expected = (2 * 3 / 9 + 2 * 3 / 7) / 2
    assert image_score(TRUE, PRED) == pytest.approx(expected)
    np.testing.assert_allclose(dice_per_class(TRUE, PRED, [0, 1, 2]), [6 / 8, 6 / 9, 6 / 7])


def test_unlabelled_pixels_are_ignored():
    true = np.array([[1, -1, -1]])
    pred = np.array([[1, 1, 0]])
    assert dice(true, pred, 1) == 1.0
    assert pixel_accuracy(true, pred) == 1.0


def test_accuracy_and_confusion_by_hand():
    assert pixel_accuracy(TRUE, PRED) == pytest.approx(9 / 12)
    expected = [[3, 1, 0], [1, 3, 1], [0, 0, 3]]
    np.testing.assert_array_equal(confusion_matrix(TRUE, PRED, 3), expected)


def test_roc_auc_by_hand():
    # Pairs (pos, neg): 0.35>0.1 yes, 0.35>0.4 no, 0.8>both yes: 3 of 4 ordered = 0.75.
    assert roc_auc([[0, 0, 1, 1]], [[0.1, 0.4, 0.35, 0.8]]) == pytest.approx(0.75)
    assert roc_auc([[0, 1]], [[0.0, 1.0]]) == pytest.approx(1.0)


def test_shape_mismatch():
    with pytest.raises(ShapeError):
        dice(np.zeros((2, 2)), np.zeros((2, 3)))


def test_nc_ratio_by_hand():
    assert nc_ratio(TRUE) == pytest.approx(3 / 5)
    assert np.isnan(nc_ratio(np.array([[0, 2]])))
    assert nc_ratio(np.array([[1, 1]])) == 0.0


def test_nc_agreement_by_hand():
    pred = [0.5, 0.3, np.nan, 0.9, 0.2]
    true = [0.5, 0.2, 0.4, 0.8, np.nan]  # last true is undefined: left out
    a = nc_agreement(pred, true)
    # finite pairs: diffs 0, 0.1, 0.1 -> MAE 0.0667; within: 1 of 4 compared (0.3-0.2=0.1 miss)
    assert a["n"] == 4 and a["nan"] == 1
    assert a["mae"] == pytest.approx(0.2 / 3)
    assert a["within"] == pytest.approx(1 / 4)
    assert a["bias"] == pytest.approx(0.2 / 3)
    sd = np.std([0, 0.1, 0.1], ddof=1)
    assert a["loa"][0] == pytest.approx(0.2 / 3 - 1.96 * sd)
    t = np.array([0.5, 0.2, 0.8])
    assert a["r2"] == pytest.approx(1 - 0.02 / np.sum((t - t.mean()) ** 2))


def test_nc_agreement_within_is_inclusive():
    assert nc_agreement([0.55], [0.5])["within"] == 1.0


masks_strategy = st.integers(1, 8).flatmap(
    lambda h: st.integers(1, 8).flatmap(
        lambda w: st.tuples(
            arrays(np.int64, (h, w), elements=st.integers(0, 2)),
            arrays(np.int64, (h, w), elements=st.integers(0, 2)),
        )
    )
)


@given(masks_strategy, st.integers(0, 2))
@settings(max_examples=200, deadline=None)
def test_dice_properties(pair, label):
    a, b = pair
    d = dice(a, b, label)
    assert 0.0 <= d <= 1.0
    assert d == dice(b, a, label)
    assert dice(a, a, label) == 1.0
    j = iou(a, b, label)
    assert j <= d + 1e-12
    assert d == pytest.approx(2 * j / (1 + j))
