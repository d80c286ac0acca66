"""How unsure a prediction is: the normalised entropy of its class probabilities."""

from __future__ import annotations

import numpy as np

__all__ = ["normalised_entropy"]


def normalised_entropy(proba: np.ndarray) -> np.ndarray:
    """Per-pixel entropy of class probabilities ``(H, W, K)`` divided by ``log K``: 0 where
    one class has all the probability, 1 where all classes are equally likely.

    Parameters
    ----------
    proba : (H, W, K) array
        Class probabilities; values are clipped to [0, 1].

    Returns
    -------
    (H, W) float32 array in [0, 1]; zeros when ``K < 2``.

    Examples
    --------
    >>> normalised_entropy(np.array([[[1.0, 0.0], [0.5, 0.5]]])).round(6).tolist()
    [[0.0, 1.0]]
    """
    proba = np.asarray(proba, np.float64)
    k = proba.shape[-1]
    if k < 2:
        return np.zeros(proba.shape[:-1], np.float32)
    p = np.clip(proba, 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return np.clip(terms.sum(-1) / np.log(k), 0, 1).astype(np.float32) + np.float32(0)  # no -0.0
