"""Region methods: SLIC superpixels and quad trees, each region labelled by its mean features.

Both cut an image into regions, describe each region by its mean colour, cluster those
descriptions with k-means (learned on the training images) and map clusters to classes as
the Segmenter contract (docs/design.md) says: by the training masks when given, else
brightest first.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..features import luminance
from ..postprocess import UNBOUNDED_HALO
from .base import ClusterMapping, Segmenter, register

__all__ = ["QuadTreeSegmenter", "SlicSegmenter", "quadtree_regions"]


def _region_means(image: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """(n_regions, C) mean colour of each region label 0..n-1."""
    n = int(regions.max()) + 1
    counts = np.bincount(regions.ravel(), minlength=n).astype(np.float64)
    means = np.stack(
        [
            np.bincount(regions.ravel(), weights=image[..., c].ravel(), minlength=n)
            for c in range(image.shape[-1])
        ],
        axis=1,
    )
    return (means / np.maximum(counts, 1)[:, None]).astype(np.float32)


def quadtree_regions(
    values: np.ndarray, max_std: float = 0.05, max_range: float | None = None, min_size: int = 4
) -> np.ndarray:
    """Split the image into quadrants while a block's std (or range) exceeds the limit.

    Returns an (H, W) int64 array of block labels 0..n-1. Blocks are never split below
    ``min_size`` pixels a side.

    Examples
    --------
    >>> v = np.zeros((8, 8)); v[:4, :4] = 1
    >>> int(quadtree_regions(v, max_std=0.01, min_size=2).max()) + 1   # four uniform blocks
    4
    """
    h, w = values.shape
    regions = np.zeros((h, w), np.int64)
    stack = [(0, 0, h, w)]
    label = 0
    while stack:
        r, c, bh, bw = stack.pop()
        block = values[r : r + bh, c : c + bw]
        spread_ok = block.std() <= max_std
        if max_range is not None:
            spread_ok = spread_ok and (block.max() - block.min()) <= max_range
        if spread_ok or bh < 2 * min_size or bw < 2 * min_size:
            regions[r : r + bh, c : c + bw] = label
            label += 1
            continue
        h2, w2 = bh // 2, bw // 2
        stack += [
            (r, c, h2, w2),
            (r, c + w2, h2, bw - w2),
            (r + h2, c, bh - h2, w2),
            (r + h2, c + w2, bh - h2, bw - w2),
        ]
    return regions


class _RegionSegmenter(Segmenter):
    def _regions(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _fit(self, images, masks):
        from sklearn.cluster import KMeans

        if not isinstance(self.n_clusters, (int, np.integer)) or self.n_clusters < 2:
            raise ParameterError(f"n_clusters={self.n_clusters!r}: must be an integer >= 2")
        all_regions = [self._regions(im) for im in images]
        descriptors = np.concatenate(
            [_region_means(im, reg) for im, reg in zip(images, all_regions, strict=True)]
        )
        k = min(int(self.n_clusters), len(descriptors))
        model = KMeans(k, n_init=4, random_state=self.random_state).fit(descriptors)
        self.centres_ = model.cluster_centers_.astype(np.float32)
        mapping = ClusterMapping(k)
        for i, (image, regions) in enumerate(zip(images, all_regions, strict=True)):
            mapping.add(
                self._assign(image, regions), luminance(image), None if masks is None else masks[i]
            )
        self.mapping_, self.classes_ = mapping.finish(self.order, self.mapping)

    def _assign(self, image, regions):
        means = _region_means(image, regions)
        centres = np.asarray(self.centres_, np.float32)
        cluster_of_region = ((means[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        return cluster_of_region[regions]

    def _predict(self, image):
        return np.asarray(self.mapping_)[self._assign(image, self._regions(image))]

    def _own_halo(self) -> int:
        return UNBOUNDED_HALO  # regions depend on the whole image's grid


@register
class SlicSegmenter(_RegionSegmenter):
    """SLIC superpixels, each labelled by the k-means cluster of its mean colour.

    Parameters
    ----------
    n_segments : int
        Approximate number of superpixels per image.
    compactness : float
        SLIC's balance of colour and space (higher = squarer superpixels).
    n_clusters : int
        Clusters of superpixel mean colours, mapped to classes.
    """

    name = "slic"
    search_space = {
        "n_segments": ("int", 50, 1500),
        "compactness": ("log", 0.5, 50.0),
        "n_clusters": ("int", 2, 8),
    }

    def __init__(
        self,
        n_segments: int = 400,
        compactness: float = 10.0,
        n_clusters: int = 3,
        order: str = "brightest-first",
        mapping: str = "majority",
        random_state: int = 0,
        pre=None,
        post=None,
    ):
        self.n_segments = n_segments
        self.compactness = compactness
        self.n_clusters = n_clusters
        self.order = order
        self.mapping = mapping
        self.random_state = random_state
        self.pre = pre
        self.post = post

    def _regions(self, image):
        from skimage.segmentation import slic

        labels = slic(
            image,
            n_segments=int(self.n_segments),
            compactness=float(self.compactness),
            channel_axis=-1,
            start_label=0,
            convert2lab=image.shape[-1] == 3,
        )
        # Relabel to 0..n-1 (SLIC may skip labels).
        _, inverse = np.unique(labels, return_inverse=True)
        return inverse.reshape(labels.shape)


@register
class QuadTreeSegmenter(_RegionSegmenter):
    """Quad tree: split blocks while their grey std (or range) is too high; label blocks.

    Each block is labelled by the k-means cluster of its mean colour.
    """

    name = "quadtree"
    search_space = {
        "max_std": ("float", 0.005, 0.2),
        "min_size": ("int", 1, 16),
        "n_clusters": ("int", 2, 8),
    }

    def __init__(
        self,
        max_std: float = 0.05,
        max_range: float | None = None,
        min_size: int = 2,
        n_clusters: int = 3,
        order: str = "brightest-first",
        mapping: str = "majority",
        random_state: int = 0,
        pre=None,
        post=None,
    ):
        self.max_std = max_std
        self.max_range = max_range
        self.min_size = min_size
        self.n_clusters = n_clusters
        self.order = order
        self.mapping = mapping
        self.random_state = random_state
        self.pre = pre
        self.post = post

    def _regions(self, image):
        return quadtree_regions(
            luminance(image), float(self.max_std), self.max_range, max(1, int(self.min_size))
        )
