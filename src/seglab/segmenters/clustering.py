"""Clustering of per-pixel feature vectors: k-means and Gaussian mixtures.

Features are the colour, the colour blurred at ``sigma`` and, when ``position_weight > 0``,
the pixel's (row, column) divided by the longer side, times that weight (the QBI lecture's
"k-means with position"). Clusters are learned on a sample of training pixels and mapped to
classes as the Segmenter contract (docs/design.md) says.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..errors import ParameterError
from ..features import luminance
from ..postprocess import UNBOUNDED_HALO
from .base import ClusterMapping, Segmenter, register

__all__ = ["GMMSegmenter", "KMeansSegmenter", "gaussian_log_density", "pixel_features"]


def pixel_features(image: np.ndarray, sigma: float, position_weight: float) -> np.ndarray:
    """(H*W, F) float32: colour, blurred colour (if sigma > 0), weighted position."""
    h, w, c = image.shape
    parts = [image.reshape(-1, c)]
    if sigma > 0:
        blurred = ndi.gaussian_filter(image, (sigma, sigma, 0), mode="nearest")
        parts.append(blurred.reshape(-1, c))
    if position_weight > 0:
        rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
        # One scale for both axes (the longer side -> 1), so distances stay isotropic.
        scale = position_weight / max(h - 1, w - 1, 1)
        parts.append(scale * np.stack([rows.ravel(), cols.ravel()], axis=1))
    return np.concatenate(parts, axis=1).astype(np.float32)


def gaussian_log_density(features: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """log N(x; mean, cov) of each row of ``features``, from the Cholesky factor ``chol`` of
    the precision (scikit-learn's ``precisions_cholesky_``: precision = chol @ chol.T)."""
    y = (features - mean) @ chol
    log_det = np.sum(np.log(np.diag(chol)))
    return -0.5 * (features.shape[1] * np.log(2 * np.pi) + (y**2).sum(1)) + log_det


class _PixelClusterSegmenter(Segmenter):
    def _make_model(self):
        raise NotImplementedError

    def _validate(self):
        if not isinstance(self.n_clusters, (int, np.integer)) or self.n_clusters < 2:
            raise ParameterError(f"n_clusters={self.n_clusters!r}: must be an integer >= 2")
        if self.sigma < 0 or self.position_weight < 0:
            raise ParameterError("sigma and position_weight must be >= 0")

    def _fit(self, images, masks):
        self._validate()
        rng = np.random.default_rng(self.random_state)
        per_image = max(1, int(self.max_samples) // len(images))
        samples = []
        for image in images:
            features = pixel_features(image, self.sigma, self.position_weight)
            take = rng.choice(len(features), min(per_image, len(features)), replace=False)
            samples.append(features[take])
        model = self._make_model().fit(np.concatenate(samples))
        self._store(model)
        mapping = ClusterMapping(int(self.n_clusters))
        for i, image in enumerate(images):
            mapping.add(
                self._clusters(image), luminance(image), None if masks is None else masks[i]
            )
        self.mapping_, self.classes_ = mapping.finish(self.order, self.mapping)

    def _predict(self, image):
        return np.asarray(self.mapping_)[self._clusters(image)]

    def _scales(self) -> list[dict]:
        blur = {
            "feature": "blurred colour",
            "scale": f"sigma {self.sigma:g}",
            "pixels": int(np.ceil(4 * self.sigma)),
        }
        return [*super()._scales(), blur]

    def _own_halo(self) -> int:
        if self.position_weight > 0:
            return UNBOUNDED_HALO  # position is relative to the whole image's size
        return int(np.ceil(4 * self.sigma))


@register
class KMeansSegmenter(_PixelClusterSegmenter):
    """k-means clusters of colour (+ blurred colour, + position), mapped to classes.

    Parameters
    ----------
    n_clusters : int
        Clusters; more clusters than classes is fine when masks map them.
    sigma : float
        Blur of the second colour feature (0 = none).
    position_weight : float
        Weight of the (row, column) feature in [0, 1] (0 = none).
    max_samples : int
        Training pixels sampled over all images.
    order : {"brightest-first", "darkest-first"}
        Label order of clusters when fitted without masks.
    """

    name = "kmeans"
    search_space = {
        "n_clusters": ("int", 2, 8),
        "sigma": ("float", 0.0, 4.0),
        "position_weight": ("float", 0.0, 1.0),
    }

    def __init__(
        self,
        n_clusters: int = 3,
        sigma: float = 2.0,
        position_weight: float = 0.0,
        max_samples: int = 200_000,
        order: str = "brightest-first",
        mapping: str = "majority",
        random_state: int = 0,
        pre=None,
        post=None,
    ):
        self.n_clusters = n_clusters
        self.sigma = sigma
        self.position_weight = position_weight
        self.max_samples = max_samples
        self.order = order
        self.mapping = mapping
        self.random_state = random_state
        self.pre = pre
        self.post = post

    def _make_model(self):
        from sklearn.cluster import KMeans

        return KMeans(int(self.n_clusters), n_init=4, random_state=self.random_state)

    def _store(self, model):
        self.centres_ = model.cluster_centers_.astype(np.float32)

    def _clusters(self, image):
        features = pixel_features(image, self.sigma, self.position_weight)
        centres = np.asarray(self.centres_, np.float32)
        # argmin ||x - c||² = argmin (||c||² - 2 x·c): one matrix product.
        distance = (centres**2).sum(1)[None, :] - 2 * features @ centres.T
        return distance.argmin(1).reshape(image.shape[:2])


@register
class GMMSegmenter(_PixelClusterSegmenter):
    """Gaussian-mixture clusters of colour (+ blurred colour, + position), mapped to classes.

    Same features as ``kmeans``; each cluster has its own full covariance, so elongated or
    differently spread colour clouds are separated better.
    """

    name = "gmm"
    search_space = KMeansSegmenter.search_space

    def __init__(
        self,
        n_clusters: int = 3,
        sigma: float = 2.0,
        position_weight: float = 0.0,
        max_samples: int = 100_000,
        order: str = "brightest-first",
        mapping: str = "majority",
        random_state: int = 0,
        pre=None,
        post=None,
    ):
        self.n_clusters = n_clusters
        self.sigma = sigma
        self.position_weight = position_weight
        self.max_samples = max_samples
        self.order = order
        self.mapping = mapping
        self.random_state = random_state
        self.pre = pre
        self.post = post

    def _make_model(self):
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(
            int(self.n_clusters),
            covariance_type="full",
            random_state=self.random_state,
            reg_covar=1e-5,
        )

    def _store(self, model):
        self.weights_ = model.weights_
        self.means_ = model.means_
        self.precisions_cholesky_ = model.precisions_cholesky_

    def _clusters(self, image):
        features = pixel_features(image, self.sigma, self.position_weight).astype(np.float64)
        # Log-density of each component (as sklearn's _estimate_log_gaussian_prob), so the
        # model is stored as plain arrays rather than a pickled estimator.
        log_prob = np.empty((len(features), len(self.weights_)))
        for k, (mean, chol) in enumerate(zip(self.means_, self.precisions_cholesky_, strict=True)):
            log_prob[:, k] = gaussian_log_density(features, mean, chol)
        log_prob += np.log(self.weights_)
        return log_prob.argmax(1).reshape(image.shape[:2])
