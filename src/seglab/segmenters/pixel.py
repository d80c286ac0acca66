"""Supervised pixel classifiers over the declarative filter bank (ilastik-style).

Every method here shares one pipeline: optional work at reduced scale (for images upsampled
from small originals), the filter bank, class-balanced sampling of labelled pixels (masks may
be sparse scribbles, -1 = unlabelled), a scikit-learn classifier, and optionally a second
"auto-context" stage that also sees the first stage's smoothed probabilities. Probabilities
are resampled to full resolution and corrected for the balanced sampling (the class weights
below) before the argmax, so ``predict`` is the argmax of ``predict_proba``.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy import ndimage as ndi

from .. import forest
from .._threads import parallel_map
from ..errors import DataSetError, ParameterError
from ..features import FilterBank, check_bank
from .base import Segmenter, register
from .params import Param, check_params, declare

__all__ = ["PixelClassifier", "choose_scale", "downscale", "labels_at_scale", "upsample"]

#: RMS change, as a fraction of each image's intensity range (under 3 grey levels of an 8-bit
#: image that spans 0-255), that a down-and-up round trip may cause for `scale="auto"` to work
#: at that reduced scale. On the course images (medians over the training parts: 0.009-0.010
#: at 1/2, 0.013-0.015 at 1/3) it picks 1/2, which beat full resolution on every fold of the 5-fold
#: cross-validation (docs/research/2026-12-03-five-fold-cross-validation.md); 0.008 picked full
#: resolution.
AUTO_SCALE_TOLERANCE = 0.011
CONTEXT_SIGMAS = (1.0, 2.0, 4.0, 8.0)


def downscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Block means over ``factor`` x ``factor`` pixels (edges padded by replication)."""
    if factor == 1:
        return image
    h, w = image.shape[:2]
    ph, pw = -h % factor, -w % factor
    if ph or pw:
        pad = [(0, ph), (0, pw)] + [(0, 0)] * (image.ndim - 2)
        image = np.pad(image, pad, mode="edge")
    # A sum of strided slices: 6x faster than a mean over a reshaped block axis (which
    # numpy reduces with poor memory access), equal to float32 rounding.
    image = np.asarray(image, dtype=np.float32)
    total = image[::factor, ::factor].copy()
    for dy in range(factor):
        for dx in range(factor):
            if dy or dx:
                total += image[dy::factor, dx::factor]
    total /= np.float32(factor * factor)
    return total


def _linear_weights(n_out: int, n_in: int, factor: int):
    """Source indices and weights of centre-aligned linear interpolation along one axis."""
    position = (np.arange(n_out, dtype=np.float32) - (factor - 1) / 2) / factor
    position = np.clip(position, 0, n_in - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, n_in - 1)
    return low, high, (position - low).astype(np.float32)


def upsample(values: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling of block values (H/f, W/f, K) back to ``shape``, centre-aligned.

    Separable: two passes of two gathers each, several times faster than map_coordinates.
    """
    if factor == 1:
        return values
    lo, hi, w = _linear_weights(shape[0], values.shape[0], factor)
    rows = values[lo] * (1 - w)[:, None, None] + values[hi] * w[:, None, None]
    lo, hi, w = _linear_weights(shape[1], values.shape[1], factor)
    return rows[:, lo] * (1 - w)[None, :, None] + rows[:, hi] * w[None, :, None]


#: Most images :func:`choose_scale` measures, evenly spaced over the set.
AUTO_SCALE_SAMPLE = 256


def choose_scale(
    images,
    max_factor: int = 4,
    tolerance: float = AUTO_SCALE_TOLERANCE,
    max_images: int = AUTO_SCALE_SAMPLE,
) -> int:
    """The largest factor whose down-and-up round trip changes the training images by at
    most ``tolerance`` (median over the images of the RMS change over the image's range).

    The change is taken relative to each image's range (maximum minus minimum), so that
    the choice follows the image's contrast, not its exposure: a 12-bit camera image stored
    as 16 bits spans about 0-0.06 after dtype scaling, and in absolute units any round trip
    of it looks small, and its fine structures would be worked on at 1/4 scale. An image
    that spans [0, 1] is measured as in absolute units.

    Up to ``max_images`` evenly spaced images are measured, all of a smaller set. Measuring
    10 (before 2026-11-30) made the choice a draw on data whose images come from originals
    of different resolutions: on the course images it swung between 1 and 3 from one
    cross-validation fold to the next.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.random((64, 64, 1)).astype(np.float32)
    >>> choose_scale([noise]), choose_scale([0.01 * noise])  # dim noise is still noise
    (1, 1)
    """
    n = len(images)
    picks = np.unique(np.linspace(0, n - 1, min(n, max_images)).round().astype(int))
    sample = [images[i] for i in picks]
    spreads = [float(np.max(image) - np.min(image)) for image in sample]
    best = 1
    for factor in range(2, max_factor + 1):
        errors = []
        for image, spread in zip(sample, spreads, strict=True):
            if min(image.shape[:2]) < 16 * factor:
                return best
            back = upsample(downscale(image, factor), factor, image.shape[:2])
            rms = float(np.sqrt(np.mean((back - image) ** 2)))
            errors.append(rms / spread if spread > 0 else 0.0)  # a flat image loses nothing
        if np.median(errors) > tolerance:
            break
        best = factor
    return best


def labels_at_scale(mask: np.ndarray, factor: int, shape) -> np.ndarray:
    """The label at each block's centre pixel (unlabelled stays -1)."""
    if factor == 1:
        return mask
    centre = factor // 2
    small = mask[centre::factor, centre::factor]
    out = np.full(shape, -1, np.int64)
    out[: small.shape[0], : small.shape[1]] = small[: shape[0], : shape[1]]
    return out


class PixelClassifier(Segmenter):
    """Base of the filter-bank classifiers; subclasses give ``_make_classifier``.

    Its feature stage is public, for code that computes the features itself (the napari
    trainer keeps them per tile and fits on the tiles that hold scribbles):
    :meth:`set_work_scale` and :meth:`work_scale` (the factor images are reduced by),
    :meth:`filter_bank` (the features at that scale), :meth:`fit_features` (fitting on them),
    :meth:`context_columns`, :meth:`proba_of_features` and :meth:`prior_corrected` (predicting
    from them). ``fit`` and ``predict_proba`` are these steps in turn.
    """

    supervised = True

    def _make_classifier(self):
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def filter_bank(self, factor: int) -> FilterBank:
        """The filter bank of the ``features`` parameter at work scale 1/``factor`` (its
        sigmas and shifts divided by it), holding only the selected features once fitted."""
        spec = check_bank(self.features)
        if spec["select"] is not None:
            # names carry work-scale sigmas, unknown before fit: selection is learned instead
            raise ParameterError(
                "features: 'select' is learned by the pixel classifiers; "
                "use select_features=N (rf, extra-trees, tree)"
            )
        # Sigmas are in full-resolution pixels: divide by the work factor.
        spec = {
            **spec,
            "sigmas": [s / factor for s in spec["sigmas"]],
            "shifts": [[round(dy / factor), round(dx / factor)] for dy, dx in spec["shifts"]],
            "select": getattr(self, "selected_features_", None),
        }
        return FilterBank(spec)

    def work_scale(self) -> int:
        """The factor images are reduced by before the filter bank (1 before fitting)."""
        return int(getattr(self, "factor_", 1))

    def _features(self, image: np.ndarray, spare: int = 0) -> np.ndarray:
        factor = self.work_scale()
        return self.filter_bank(factor).compute(downscale(image, factor), spare)

    @staticmethod
    def _context(proba: np.ndarray) -> np.ndarray:
        # one Gaussian per scale, in parallel (ndimage releases the GIL): the same numbers
        blurred = parallel_map(
            lambda s: ndi.gaussian_filter(proba, (s, s, 0), mode="reflect"), CONTEXT_SIGMAS
        )
        return np.concatenate(blurred, axis=-1)

    def context_columns(self) -> int:
        """Columns the context stage adds to the filter bank's (0 without it): the ``spare``
        of :meth:`proba_of_features`."""
        return len(CONTEXT_SIGMAS) * len(self.classes_) if self.context else 0

    def _sample(self, features, labels, rng) -> tuple[np.ndarray, np.ndarray]:
        flat_labels = labels.ravel()
        flat = features.reshape(-1, features.shape[-1])
        xs, ys = [], []
        for label in np.unique(flat_labels):
            if label < 0:
                continue
            where = np.flatnonzero(flat_labels == label)
            take = rng.choice(where, min(int(self.samples_per_class), where.size), replace=False)
            xs.append(flat[take])
            ys.append(flat_labels[take])
        if not xs:
            return np.empty((0, flat.shape[1]), np.float32), np.empty(0, np.int64)
        return np.concatenate(xs), np.concatenate(ys)

    def _proba_small(self, clf, features) -> np.ndarray:
        h, w, f = features.shape
        x = features.reshape(-1, f)
        if forest.supports(clf):  # the same numbers; the forest step ~1.5x faster (seglab.forest)
            return forest.forest_proba(clf, x, getattr(self, "n_jobs", None)).reshape(h, w, -1)
        return clf.predict_proba(x).reshape(h, w, -1).astype(np.float32)

    # ------------------------------------------------------------------ fit / predict
    def _fit(self, images, masks):
        self.set_work_scale(images)
        self.__dict__.pop("selected_features_", None)  # a refit starts from the whole bank
        factor = self.work_scale()
        bank = self.filter_bank(factor)
        from tqdm.auto import tqdm

        feats, labels = [], []
        pairs = zip(images, masks, strict=True)
        # disable=None: a bar on a terminal only, so logs and tests stay quiet
        for image, mask in tqdm(
            pairs,
            total=len(images),
            desc=f"{self.name} features",
            unit="img",
            file=sys.stderr,
            disable=None,
            leave=False,
        ):
            f = bank.compute(downscale(image, factor))
            feats.append(f)
            labels.append(labels_at_scale(mask, factor, f.shape[:2]))
        self.fit_features(feats, labels, int(images[0].shape[-1]))

    def set_work_scale(self, images) -> None:
        """Choose the work scale (``factor_``, see :meth:`work_scale`) for these training
        images and check the parameters that the filter bank does not."""
        check_params(self)  # before any feature is computed
        self.factor_ = choose_scale(images) if self.scale == "auto" else int(self.scale)

    def fit_features(self, feats: list, labels: list, n_channels: int) -> None:
        """Fit on features already computed: everything of ``fit`` after the filter bank.

        ``feats`` are the whole bank's work-scale features of each training image (or of
        parts of images: seglab.live fits on the tiles that hold scribbles), ``labels`` the
        labels at that scale (-1 unlabelled).
        """
        self.__dict__.pop("selected_features_", None)  # names below are the whole bank's
        rng = np.random.default_rng(self.random_state)
        samples = [self._sample(f, lab, rng) for f, lab in zip(feats, labels, strict=True)]
        x = np.concatenate([s[0] for s in samples])
        y = np.concatenate([s[1] for s in samples])
        if len(np.unique(y)) < 2:
            raise DataSetError(f"{self.name}: the training masks hold fewer than two classes")
        self.classes_ = np.unique(y)
        self.feature_names_ = self.filter_bank(self.work_scale()).names(n_channels)
        self.n_bank_features_ = len(self.feature_names_)
        if getattr(self, "select_features", None) is not None:
            keep = self._select(x, y)
            feats = [f[..., keep] for f in feats]
            samples = [(sx[:, keep], sy) for sx, sy in samples]
            x = x[:, keep]
            self.selected_features_ = [self.feature_names_[k] for k in keep]
            self.feature_names_ = self.selected_features_
        self.class_weights_ = self._calibrate(feats, labels, samples, rng)
        self.classifier_ = self._make_classifier().fit(x, y)
        if self.context:
            self._fit_context(feats, labels, rng)

    def _select(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Columns of the ``select_features`` most important features (impurity importance of
        a first fit on all of them), in bank order so that prediction computes only those."""
        n = self.select_features
        total = x.shape[1]
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 1 <= n <= total:
            raise ParameterError(
                f"select_features={n!r}: give a number of features from 1 to {total}"
            )
        importances = self._make_classifier().fit(x, y).feature_importances_
        return np.sort(np.argsort(-importances, kind="stable")[: int(n)])

    def _calibrate(self, feats, labels, samples, rng) -> np.ndarray:
        """Class weights that undo the class-balanced sampling's bias on areas.

        Balanced sampling makes rare classes look as likely as common ones, so their areas
        are over-predicted. Weights ``(prior * K) ** alpha`` move the decision back toward
        the true class frequencies; ``alpha`` is the given ``prior_correction`` or, for
        "auto", the value that best matches class areas on 20% of the training images held
        out from a first fit.
        """
        counts = np.zeros(len(self.classes_))
        for lab in labels:
            valid = lab[lab >= 0]
            counts += np.bincount(
                np.searchsorted(self.classes_, valid), minlength=len(self.classes_)
            )[: len(self.classes_)]
        prior = counts / max(counts.sum(), 1)
        base = np.maximum(prior * len(self.classes_), 1e-6)
        alpha = self.prior_correction
        if alpha == "auto":
            alpha = self._auto_alpha(feats, labels, samples, base, rng)
        elif not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ParameterError(f"prior_correction={alpha!r}: use 'auto' or a number in [0, 1]")
        self.prior_correction_ = float(alpha)
        return (base**alpha).astype(np.float32)

    def _auto_alpha(self, feats, labels, samples, base, rng) -> float:
        n = len(feats)
        if n < 5:
            return 0.0
        held = rng.permutation(n)[: max(1, n // 5)]
        keep = np.setdiff1d(np.arange(n), held)
        x = np.concatenate([samples[i][0] for i in keep])
        y = np.concatenate([samples[i][1] for i in keep])
        if len(np.unique(y)) < len(self.classes_):
            return 0.0
        clf = self._make_classifier().fit(x, y)
        probas = [self._proba_small(clf, feats[i]) for i in held]
        alphas = np.linspace(0, 1, 11)
        errors = []
        for alpha in alphas:
            weights = base**alpha
            error = 0.0
            for proba, i in zip(probas, held, strict=True):
                pred = np.argmax(proba * weights, axis=-1)[labels[i] >= 0]
                true = np.searchsorted(self.classes_, labels[i][labels[i] >= 0])
                k = len(self.classes_)
                error += np.abs(
                    np.bincount(pred, minlength=k) - np.bincount(true, minlength=k)
                ).sum() / max(true.size, 1)
            errors.append(error)
        return float(alphas[int(np.argmin(errors))])

    def _fit_context(self, feats, labels, rng):
        # Stage-1 probabilities of the training images come from models that did not see
        # them (2-fold cross-fitting), so stage 2 learns how far stage 1 can be trusted.
        n = len(feats)
        order = rng.permutation(n)
        halves = [order[: n // 2], order[n // 2 :]] if n >= 2 else [order, order]
        probas: list[np.ndarray | None] = [None] * n
        for k in (0, 1):
            fit_part, apply_part = halves[1 - k], halves[k]
            samples = [self._sample(feats[i], labels[i], rng) for i in fit_part]
            x = np.concatenate([s[0] for s in samples])
            y = np.concatenate([s[1] for s in samples])
            clf = self._make_classifier().fit(x, y)
            for i in apply_part:
                proba = np.zeros((*feats[i].shape[:2], len(self.classes_)), np.float32)
                proba[..., np.searchsorted(self.classes_, clf.classes_)] = self._proba_small(
                    clf, feats[i]
                )
                probas[i] = proba
        samples = [
            self._sample(np.concatenate([feats[i], self._context(probas[i])], -1), labels[i], rng)
            for i in range(n)
        ]
        x = np.concatenate([s[0] for s in samples])
        y = np.concatenate([s[1] for s in samples])
        self.context_classifier_ = self._make_classifier().fit(x, y)

    def _work_proba(self, image) -> np.ndarray:
        """The classifier's probabilities at the work scale, before prior correction."""
        spare = self.context_columns()
        return self.proba_of_features(self._features(image, spare), spare)

    def proba_of_features(self, features: np.ndarray, spare: int = 0) -> np.ndarray:
        """Work-scale probabilities from the (selected) bank features of an image or region.

        With ``spare`` = :meth:`context_columns`, the last columns of ``features`` are free
        and receive the context: no concatenated copy (on a 1024-pixel slide tile with its
        context, 0.2 GB less at once).
        """
        n = features.shape[-1] - spare
        proba = self._proba_small(self.classifier_, features[..., :n])
        if self.context:
            context = self._context(proba)
            if spare == context.shape[-1]:
                features[..., n:] = context
                stacked = features
            else:
                stacked = np.concatenate([features[..., :n], context], axis=-1)
            proba = self._proba_small(self.context_classifier_, stacked)
        return proba

    def _predict_proba(self, image):
        return self.prior_corrected(
            upsample(self._work_proba(image), self.work_scale(), image.shape[:2])
        )

    def prior_corrected(self, proba: np.ndarray) -> np.ndarray:
        """Probabilities under the true class frequencies, not the balanced sample's.

        The classifier learned from class-balanced samples; weighting by ``class_weights_``
        (see :meth:`_calibrate`) and renormalising moves its posteriors back toward the
        training images' class frequencies, so that the argmax of :meth:`predict_proba` is
        :meth:`predict` and the probabilities can be averaged with other models'.
        """
        weights = getattr(self, "class_weights_", None)
        if weights is None:
            return proba
        weighted = proba * np.asarray(weights, np.float32)
        total = weighted.sum(axis=-1, keepdims=True)
        return np.divide(weighted, total, out=np.copy(proba), where=total > 0)

    def _predict(self, image):
        # The argmax of predict_proba, without its work: weighting commutes with the linear
        # upsampling, and renormalising does not move an argmax.
        proba = self._work_proba(image)
        weights = getattr(self, "class_weights_", None)
        if weights is not None:
            proba = proba * np.asarray(weights, np.float32)
        scores = upsample(proba, self.work_scale(), image.shape[:2])
        return np.asarray(self.classes_)[scores.argmax(-1)]

    def _own_halo(self) -> int:
        factor = self.work_scale()
        halo = self.filter_bank(factor).halo
        if self.context:
            halo += int(np.ceil(4 * max(CONTEXT_SIGMAS))) + self.filter_bank(factor).halo
        return halo * factor + factor

    @property
    def tile_alignment(self) -> int:
        return self.work_scale()  # work-scale blocks must not straddle tiles

    def _scales(self) -> list[dict]:
        spec = check_bank(self.features)
        if getattr(self, "selected_features_", None) is not None:
            factor = self.work_scale()
            widest = self.filter_bank(factor).widest_sigma * factor
            filters = sorted(
                {name.split(" ")[1].rstrip("12") for name in self.selected_features_ if " " in name}
            )
            return [
                *super()._scales(),
                {
                    "feature": f"selected features ({', '.join(filters)})",
                    "scale": f"sigma {widest:g}",
                    "pixels": int(np.ceil(4 * widest)),
                },
            ]
        widest = max(spec["sigmas"])
        scale = {
            "feature": f"feature bank ({', '.join(spec['filters'])})",
            "scale": f"sigma {widest:g}",
            # the widest kernel's reach (4 sigma), in full-resolution pixels as sigmas are
            "pixels": int(np.ceil(4 * widest * (1.6 if "dog" in spec["filters"] else 1.0))),
        }
        return [*super()._scales(), scale]

    def feature_importances(self) -> list[tuple[str, float]]:
        """(feature name, importance) pairs, most important first, where the model has them."""
        clf = self.classifier_
        importances = getattr(clf, "feature_importances_", None)
        if importances is None:
            raise ParameterError(f"method {self.name!r} does not report feature importances")
        names = list(self.feature_names_)
        return sorted(zip(names, map(float, importances), strict=True), key=lambda p: -p[1])


def bank_params(samples_per_class: int = 1000, context: bool = False) -> dict[str, Param]:
    """The parameters every filter-bank classifier takes (see ``_COMMON_DOC``), with its own
    defaults for ``samples_per_class`` and ``context``."""
    return {
        "features": Param(None, allow_none=True),
        "samples_per_class": Param(samples_per_class, "int", low=1),
        "scale": Param("auto", "int", low=1, high=8, special=("auto",)),
        "context": Param(context, "bool"),
        "prior_correction": Param("auto", "float", low=0, high=1, special=("auto",)),
        "random_state": Param(0, "int", allow_none=True),
        "pre": Param(None, allow_none=True),
        "post": Param(None, allow_none=True),
    }


N_JOBS = Param(-1, "int", allow_none=True)
SELECT_FEATURES = Param(None, "int", low=1, allow_none=True)


_COMMON_DOC = """
    Parameters shared by the filter-bank classifiers
    ------------------------------------------------
    features : dict, optional
        Filter-bank spec (see :class:`seglab.features.FilterBank`); sigmas in full-resolution
        pixels.
    samples_per_class : int
        Labelled pixels sampled per class per training image (class-balanced).
    scale : "auto" or int
        Work at 1/scale resolution; "auto" picks the largest factor that the training images
        survive (images upsampled from small originals lose nothing).
    context : bool
        Add a second, auto-context stage that sees the first stage's smoothed probabilities.
        On by default in ``rf``, where it lowers the cross-validated N/C error; it doubles
        fitting time, costs about 1.8x the prediction time and widens the halo.
    prior_correction : "auto" or float in [0, 1]
        How far to undo the class-balanced sampling's bias toward rare classes when choosing
        labels (0 = not at all, 1 = fully); "auto" calibrates it on held-out training images.
"""
_SELECT_DOC = """    select_features : int, optional
        Keep only this many features, the most important to a first fit on all of them
        (impurity importance), and refit; prediction then computes only those features.
"""


@register
@declare(
    {
        "n_estimators": Param(40, "int", low=1),
        # 20, not 14: better Dice and N/C error on every fold of the 5-fold CV
        # (docs/research/2026-12-03-five-fold-cross-validation.md);
        # 28 adds nothing, and each level costs prediction time and file size.
        "max_depth": Param(20, "int", low=1, allow_none=True),
        "min_samples_leaf": Param(2, "int", low=1),
        # On: better Dice (127 of 191 images) and N/C error (0.247 against 0.266) in the 5-fold
        # CV, paired p < 0.01 on both (docs/research/2026-12-03-five-fold-cross-validation.md);
        # prediction runs the forest twice.
        **bank_params(samples_per_class=800, context=True),
        "n_jobs": N_JOBS,
        "select_features": SELECT_FEATURES,
    }
)
class RandomForestSegmenter(PixelClassifier):
    """Random forest on the filter bank (the ilastik / Trainable Weka recipe)."""

    __doc__ = (__doc__ or "") + _COMMON_DOC + _SELECT_DOC
    name = "rf"
    search_space = {
        "n_estimators": ("int", 20, 200),
        "max_depth": ("int", 6, 24),
        "samples_per_class": ("int", 200, 4000),
    }

    def _make_classifier(self):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=int(self.n_estimators),
            max_depth=self.max_depth,
            min_samples_leaf=int(self.min_samples_leaf),
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )


@register
@declare(
    {
        "n_estimators": Param(40, "int", low=1),
        "max_depth": Param(16, "int", low=1, allow_none=True),
        "min_samples_leaf": Param(2, "int", low=1),
        **bank_params(samples_per_class=800),
        "n_jobs": N_JOBS,
        "select_features": SELECT_FEATURES,
    }
)
class ExtraTreesSegmenter(PixelClassifier):
    """Extremely randomised trees on the filter bank (faster to fit than a random forest)."""

    __doc__ = (__doc__ or "") + _COMMON_DOC + _SELECT_DOC
    name = "extra-trees"
    search_space = RandomForestSegmenter.search_space

    def _make_classifier(self):
        from sklearn.ensemble import ExtraTreesClassifier

        return ExtraTreesClassifier(
            n_estimators=int(self.n_estimators),
            max_depth=self.max_depth,
            min_samples_leaf=int(self.min_samples_leaf),
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        )


@register
@declare(
    {
        "max_depth": Param(10, "int", low=1, allow_none=True),
        **bank_params(samples_per_class=1000),
        "select_features": SELECT_FEATURES,
    }
)
class DecisionTreeSegmenter(PixelClassifier):
    """One decision tree on the filter bank (readable, fast, less accurate)."""

    __doc__ = (__doc__ or "") + _COMMON_DOC + _SELECT_DOC
    name = "tree"
    search_space = {"max_depth": ("int", 3, 20)}

    def _make_classifier(self):
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(max_depth=self.max_depth, random_state=self.random_state)


@register
@declare(
    {
        "max_iter": Param(100, "int", low=1),
        "learning_rate": Param(0.1, "float", low=0, open_low=True),
        "max_leaf_nodes": Param(31, "int", low=2),
        **bank_params(samples_per_class=1000),
    }
)
class HistGradientBoostingSegmenter(PixelClassifier):
    """Histogram gradient boosting on the filter bank (fast to fit on many samples)."""

    __doc__ = (__doc__ or "") + _COMMON_DOC
    name = "hgb"
    search_space = {
        "max_iter": ("int", 30, 300),
        "learning_rate": ("log", 0.02, 0.5),
        "max_leaf_nodes": ("int", 8, 63),
    }

    def _make_classifier(self):
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=int(self.max_iter),
            learning_rate=float(self.learning_rate),
            max_leaf_nodes=int(self.max_leaf_nodes),
            early_stopping=False,
            random_state=self.random_state,
        )


@register
@declare(
    {
        "n_neighbors": Param(15, "int", low=1),
        **bank_params(samples_per_class=200),
        "n_jobs": N_JOBS,
    }
)
class KNNSegmenter(PixelClassifier):
    """k nearest neighbours on standardised filter-bank features (the course's Lab 05, extended)."""

    __doc__ = (__doc__ or "") + _COMMON_DOC
    name = "knn"
    search_space = {"n_neighbors": ("int", 1, 50)}

    def _make_classifier(self):
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(
            StandardScaler(), KNeighborsClassifier(int(self.n_neighbors), n_jobs=self.n_jobs)
        )

    def _proba_small(self, clf, features) -> np.ndarray:
        # A neighbour search per pixel is k-NN's whole cost. Images upsampled from small
        # originals repeat their feature rows many times over: search each distinct row once.
        h, w, f = features.shape
        rows = features.reshape(-1, f)
        distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
        if len(distinct) > 0.8 * len(rows):
            return super()._proba_small(clf, features)
        proba = clf.predict_proba(distinct).astype(np.float32)
        return proba[inverse.reshape(-1)].reshape(h, w, -1)


@register
@declare(
    {
        **bank_params(samples_per_class=1000),
    }
)
class NearestMeanSegmenter(PixelClassifier):
    """Nearest class mean of standardised filter-bank features (the simplest classifier)."""

    __doc__ = (__doc__ or "") + _COMMON_DOC
    name = "nearest-mean"

    def _make_classifier(self):
        from sklearn.neighbors import NearestCentroid
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), NearestCentroid())


@register
@declare(
    {
        "C": Param(1.0, "float", low=0, open_low=True),
        **bank_params(samples_per_class=1000),
    }
)
class LogisticSegmenter(PixelClassifier):
    """Multinomial logistic regression on standardised filter-bank features."""

    __doc__ = (__doc__ or "") + _COMMON_DOC
    name = "logistic"
    search_space = {"C": ("log", 1e-3, 100.0)}

    def _make_classifier(self):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=float(self.C), max_iter=500))


@register
@declare(
    {
        "hidden": Param(64, "int", low=1),
        "alpha": Param(1e-4, "float", low=0),
        "max_iter": Param(200, "int", low=1),
        **bank_params(samples_per_class=1000),
    }
)
class MLPSegmenter(PixelClassifier):
    """A small multi-layer perceptron on standardised filter-bank features."""

    __doc__ = (__doc__ or "") + _COMMON_DOC
    name = "mlp"
    search_space = {"alpha": ("log", 1e-6, 1e-1), "hidden": ("int", 16, 256)}

    def _make_classifier(self):
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(
            StandardScaler(),
            MLPClassifier(
                (int(self.hidden), int(self.hidden)),
                alpha=float(self.alpha),
                max_iter=int(self.max_iter),
                early_stopping=True,
                random_state=self.random_state,
            ),
        )
