"""Registered segmentation methods. Importing this package fills the registry."""

from . import clustering, ensemble, pixel, regions, threshold, unet  # noqa: F401  (registers)
from .base import Segmenter, get_segmenter_class, list_segmenters, make_segmenter, register

__all__ = ["Segmenter", "get_segmenter_class", "list_segmenters", "make_segmenter", "register"]
