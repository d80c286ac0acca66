"""The probabilistic model of segmentation of the QBI advanced-segmentation text.

A pixel's class ``k`` is scored by the class's prior ``P(k)`` (its expected area fraction),
the likelihood of the pixel's value ``P(I(x) | k)``, and the likelihood of its neighbours'
values ``P(sum_N I(x') | k)`` (here: the colour blurred at ``sigma``), each class a Gaussian
over those features; then a Markov random field ties neighbouring labels together (Potts term
of ``weight``, :mod:`seglab.mrf`), "a very simple version of Markov random field approaches"
made into the standard one.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..features import luminance
from ..postprocess import UNBOUNDED_HALO
from .base import Segmenter, register
from .clustering import gaussian_log_density, pixel_features

__all__ = ["MRFSegmenter"]


def _precision_cholesky(covariance: np.ndarray) -> np.ndarray:
    lower = np.linalg.cholesky(covariance)
    return (
        __import__("scipy.linalg")
        .linalg.solve_triangular(lower, np.eye(len(covariance)), lower=True)
        .T
    )


@register
class MRFSegmenter(Segmenter):
    """Class prior x Gaussian likelihood of value and neighbourhood, smoothed by an MRF.

    Parameters
    ----------
    weight : float
        Weight of the Potts term between 4-connected neighbours (0: each pixel alone).
    sigma : float
        Blur of the neighbourhood feature (0: the pixel's value alone).
    contrast : bool
        Neighbours across a strong image edge pay less for differing labels.
    n_classes : int
        Classes found without masks (a Gaussian mixture, brightest class first as label 0);
        with masks, the masks' classes.
    max_samples : int
        Training pixels sampled over all images.
    random_state : int
        Seed of the sampling and of the mixture.
    pre, post : list of dict, optional
        Pre- and post-processing steps (see :mod:`seglab.postprocess`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = np.zeros((40, 40), np.uint8)
    >>> truth[10:30, 10:30] = 1
    >>> noisy = 0.3 + 0.4 * truth + rng.normal(0, 0.2, truth.shape)
    >>> image = np.clip(noisy, 0, 1).astype(np.float32)[..., None]
    >>> alone = MRFSegmenter(weight=0.0, sigma=0).fit([image], [truth])
    >>> smoothed = MRFSegmenter(weight=1.0, sigma=0).fit([image], [truth])
    >>> print((alone.predict(image) == truth).mean(), (smoothed.predict(image) == truth).mean())
    0.86625 0.988125
    """

    name = "mrf"
    supervised = False
    search_space = {
        "weight": ("float", 0.0, 4.0),
        "sigma": ("float", 0.0, 3.0),
    }

    def __init__(
        self,
        weight: float = 1.0,
        sigma: float = 1.0,
        contrast: bool = False,
        n_classes: int = 3,
        max_samples: int = 200_000,
        random_state: int = 0,
        pre=None,
        post=None,
    ):
        self.weight = weight
        self.sigma = sigma
        self.contrast = contrast
        self.n_classes = n_classes
        self.max_samples = max_samples
        self.random_state = random_state
        self.pre = pre
        self.post = post

    def _validate(self) -> None:
        if isinstance(self.weight, bool) or not self.weight >= 0 or not np.isfinite(self.weight):
            raise ParameterError(f"weight={self.weight!r}: expected a number, 0 or more")
        if not self.sigma >= 0:
            raise ParameterError(f"sigma={self.sigma!r}: expected a number, 0 or more")
        if not isinstance(self.n_classes, (int, np.integer)) or self.n_classes < 2:
            raise ParameterError(f"n_classes={self.n_classes!r}: expected an integer >= 2")

    def _fit(self, images, masks):
        self._validate()
        rng = np.random.default_rng(self.random_state)
        per_image = max(1, int(self.max_samples) // len(images))
        samples, labels = [], []
        for i, image in enumerate(images):
            features = pixel_features(image, self.sigma, 0.0)
            known = np.ones(len(features), bool) if masks is None else masks[i].ravel() >= 0
            where = np.flatnonzero(known)
            take = rng.choice(where, min(per_image, where.size), replace=False)
            samples.append(features[take])
            if masks is not None:
                labels.append(masks[i].ravel()[take])
        x = np.concatenate(samples).astype(np.float64)
        ridge = 1e-4 * np.eye(x.shape[1])
        if masks is not None:
            y = np.concatenate(labels)
            classes = np.unique(y)
            if len(classes) < 2:
                raise ParameterError("mrf needs at least two classes in the training masks")
            self.classes_ = classes.astype(np.int64)
            self.log_priors_ = np.log([(y == k).mean() for k in classes])
            self.means_ = np.stack([x[y == k].mean(0) for k in classes])
            self.precisions_cholesky_ = np.stack(
                [_precision_cholesky(np.cov(x[y == k].T).reshape(x.shape[1], -1) + ridge)
                 for k in classes]
            )  # fmt: skip
            return
        from sklearn.mixture import GaussianMixture

        mixture = GaussianMixture(
            int(self.n_classes), covariance_type="full", random_state=self.random_state
        ).fit(x)
        channels = images[0].shape[-1]
        brightness = luminance(mixture.means_[:, :channels].reshape(-1, 1, channels))[:, 0]
        order = np.argsort(-brightness)  # brightest first: label 0, as the clustering methods
        self.classes_ = np.arange(int(self.n_classes))
        self.log_priors_ = np.log(mixture.weights_[order])
        self.means_ = mixture.means_[order]
        self.precisions_cholesky_ = mixture.precisions_cholesky_[order]

    def _predict_proba(self, image):
        features = pixel_features(image, self.sigma, 0.0).astype(np.float64)
        log_post = np.stack(
            [
                prior + gaussian_log_density(features, mean, chol)
                for prior, mean, chol in zip(
                    self.log_priors_, self.means_, self.precisions_cholesky_, strict=True
                )
            ],
            -1,
        )
        log_post -= log_post.max(-1, keepdims=True)
        proba = np.exp(log_post)
        proba /= proba.sum(-1, keepdims=True)
        return proba.reshape(*image.shape[:2], -1)

    def _predict(self, image):
        return np.asarray(self.classes_)[self._index_of_proba(self._predict_proba(image), image)]

    def _index_of_proba(self, proba, image):
        from ..mrf import mrf_labels

        return mrf_labels(proba, float(self.weight), image, bool(self.contrast))

    def _scales(self) -> list[dict]:
        blur = {
            "feature": "neighbourhood",
            "scale": f"sigma {self.sigma:g}",
            "pixels": int(np.ceil(4 * self.sigma)),
        }
        return [*super()._scales(), blur]

    def _own_halo(self) -> int:
        if self.weight > 0:
            return UNBOUNDED_HALO  # the MRF's labelling can change with any pixel
        return int(np.ceil(4 * self.sigma))
