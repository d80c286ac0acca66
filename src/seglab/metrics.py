"""Segmentation scores: Dice, IoU, per-image score, accuracy, confusion matrix, ROC/AUC.

Pixels whose true label is negative (-1 = unlabelled) are ignored everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ShapeError

__all__ = [
    "confusion_matrix",
    "dice",
    "dice_per_class",
    "image_score",
    "iou",
    "iou_per_class",
    "pixel_accuracy",
    "roc_auc",
    "roc_curve",
]


def _check_pair(true, pred) -> tuple[np.ndarray, np.ndarray]:
    true, pred = np.asarray(true), np.asarray(pred)
    if true.shape != pred.shape:
        raise ShapeError(f"true mask {true.shape} and predicted mask {pred.shape} differ in shape")
    valid = true >= 0
    if not valid.all():
        return true[valid], pred[valid]
    return true.ravel(), pred.ravel()


def _overlap(true, pred, label: int) -> tuple[int, int, int]:
    t, p = true == label, pred == label
    return int(np.count_nonzero(t & p)), int(np.count_nonzero(t)), int(np.count_nonzero(p))


def dice(true, pred, label: int = 1) -> float:
    """Dice coefficient ``2|A∩B| / (|A| + |B|)`` of one label; 1.0 when both are empty.

    Examples
    --------
    >>> dice([[1, 1, 0, 0]], [[1, 0, 0, 0]])
    0.6666666666666666
    >>> dice([[0, 0]], [[0, 0]], label=2)
    1.0
    """
    true, pred = _check_pair(true, pred)
    both, n_true, n_pred = _overlap(true, pred, label)
    return 1.0 if n_true + n_pred == 0 else 2.0 * both / (n_true + n_pred)


def iou(true, pred, label: int = 1) -> float:
    """Intersection over union ``|A∩B| / |A∪B|`` of one label; 1.0 when both are empty.

    Examples
    --------
    >>> iou([[1, 1, 0, 0]], [[1, 0, 0, 0]])
    0.5
    """
    true, pred = _check_pair(true, pred)
    both, n_true, n_pred = _overlap(true, pred, label)
    union = n_true + n_pred - both
    return 1.0 if union == 0 else both / union


def dice_per_class(true, pred, labels: Sequence[int]) -> np.ndarray:
    """Dice of each label in ``labels``, in that order."""
    true, pred = _check_pair(true, pred)
    out = []
    for label in labels:
        both, n_true, n_pred = _overlap(true, pred, label)
        out.append(1.0 if n_true + n_pred == 0 else 2.0 * both / (n_true + n_pred))
    return np.asarray(out)


def iou_per_class(true, pred, labels: Sequence[int]) -> np.ndarray:
    """IoU of each label in ``labels``, in that order."""
    true, pred = _check_pair(true, pred)
    out = []
    for label in labels:
        both, n_true, n_pred = _overlap(true, pred, label)
        union = n_true + n_pred - both
        out.append(1.0 if union == 0 else both / union)
    return np.asarray(out)


def image_score(true, pred, n_classes: int = 3) -> float:
    """The per-image score: mean Dice over every class but 0 (background).

    For the course data, the mean of cytoplasm and nucleus Dice.

    Examples
    --------
    >>> image_score([[0, 1, 2, 2]], [[0, 1, 1, 2]])  # cytoplasm 2/3, nucleus 2/3
    0.6666666666666666
    """
    if n_classes < 2:
        raise ShapeError(f"n_classes={n_classes}: a score needs at least two classes")
    return float(np.mean(dice_per_class(true, pred, range(1, n_classes))))


def pixel_accuracy(true, pred) -> float:
    """Fraction of labelled pixels whose predicted label is right."""
    true, pred = _check_pair(true, pred)
    return float(np.mean(true == pred)) if true.size else float("nan")


def confusion_matrix(true, pred, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` pixel counts; row = true label, column = predicted label.

    Examples
    --------
    >>> confusion_matrix([[0, 1, 1]], [[0, 1, 0]], 2).tolist()
    [[1, 0], [1, 1]]
    """
    true, pred = _check_pair(true, pred)
    keep = (pred >= 0) & (pred < n_classes) & (true < n_classes)
    index = true[keep].astype(np.int64) * n_classes + pred[keep].astype(np.int64)
    return np.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def roc_curve(true_binary, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False- and true-positive rates and thresholds of a score map against a binary truth.

    A thin wrapper over :func:`sklearn.metrics.roc_curve` that ignores unlabelled pixels.
    """
    from sklearn.metrics import roc_curve as sk_roc_curve

    true_binary, score = np.asarray(true_binary), np.asarray(score, dtype=np.float64)
    if true_binary.shape != score.shape:
        raise ShapeError(f"truth {true_binary.shape} and score {score.shape} differ in shape")
    valid = true_binary >= 0
    return sk_roc_curve(true_binary[valid] > 0, score[valid])


def roc_auc(true_binary, score) -> float:
    """Area under the ROC curve of a score map against a binary truth.

    Examples
    --------
    >>> roc_auc([[0, 0, 1, 1]], [[0.1, 0.4, 0.35, 0.8]])
    0.75
    """
    fpr, tpr, _ = roc_curve(true_binary, score)
    return float(np.trapezoid(tpr, fpr))
