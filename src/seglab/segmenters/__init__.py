"""Registered segmentation methods. Importing this package fills the registry."""

from . import (  # noqa: F401  (registers)
    clustering,
    ensemble,
    pixel,
    probabilistic,
    regions,
    threshold,
    unet,
)
from .base import Segmenter, get_segmenter_class, list_segmenters, make_segmenter, register

__all__ = ["Segmenter", "get_segmenter_class", "list_segmenters", "make_segmenter", "register"]
