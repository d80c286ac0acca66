"""Threshold methods: the course's two-threshold grey rule."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from .base import Segmenter, register

__all__ = ["ThresholdSegmenter", "luminance"]

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luminance(image: np.ndarray) -> np.ndarray:
    """Grey value of an (H, W, C) image: ``0.299 R + 0.587 G + 0.114 B``, or the channel itself.

    Examples
    --------
    >>> float(luminance(np.ones((1, 1, 3), np.float32))[0, 0])
    1.0
    """
    if image.shape[-1] == 1:
        return image[..., 0]
    return image[..., :3] @ LUMA


@register
class ThresholdSegmenter(Segmenter):
    """Two grey thresholds: nucleus below t_nucleus, background at or above t_background.

    Pixels in between are cytoplasm. On grey images the single channel is the grey value.

    Parameters
    ----------
    t_nucleus : float
        Grey value (in [0, 1]) below which a pixel is nucleus (label 2).
    t_background : float
        Grey value at or above which a pixel is background (label 0).

    Examples
    --------
    >>> img = np.array([[[0.2], [0.6], [0.9]]], dtype=np.float32)
    >>> ThresholdSegmenter().fit([img]).predict(img).tolist()
    [[2, 1, 0]]
    """

    name = "threshold"
    supervised = False
    search_space = {
        "t_nucleus": ("float", 0.0, 1.0),
        "t_background": ("float", 0.0, 1.0),
    }

    def __init__(self, t_nucleus: float = 0.45, t_background: float = 0.85):
        self.t_nucleus = t_nucleus
        self.t_background = t_background

    def _fit(self, images, masks):
        for key in ("t_nucleus", "t_background"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
                raise ParameterError(f"{key}={value!r}: must be a number in [0, 1]")
        self.classes_ = np.array([0, 1, 2])

    def _predict(self, image):
        grey = luminance(image)
        # Exactly the course's rule, also when t_background < t_nucleus (nucleus then wins).
        labels = np.zeros(grey.shape, dtype=np.uint8)
        labels[grey < self.t_nucleus] = 2
        labels[(grey >= self.t_nucleus) & (grey < self.t_background)] = 1
        return labels
