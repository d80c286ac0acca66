"""Threshold methods: the course's grey rule, automatic, multi-level, hysteresis and tuned."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..errors import ParameterError
from ..features import channel as select_channel
from ..features import luminance
from ..metrics import image_score
from ..postprocess import UNBOUNDED_HALO, apply_post, targeted_cleanup
from .base import ClusterMapping, Segmenter, register

__all__ = [
    "AUTO_METHODS",
    "AutoThresholdSegmenter",
    "HysteresisSegmenter",
    "MultiOtsuSegmenter",
    "ThresholdSegmenter",
    "TunedThresholdSegmenter",
    "threshold_intermodes",
]


def _three_class_rule(grey: np.ndarray, t_nucleus: float, t_background: float) -> np.ndarray:
    # Exactly the course's rule, also when t_background < t_nucleus (nucleus then wins).
    labels = np.zeros(grey.shape, dtype=np.uint8)
    labels[grey < t_nucleus] = 2
    labels[(grey >= t_nucleus) & (grey < t_background)] = 1
    return labels


def _check_unit(name: str, value) -> None:
    if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ParameterError(f"{name}={value!r}: must be a number in [0, 1]")


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
    pre, post : list of dict, optional
        Pre- and post-processing steps (see :mod:`seglab.postprocess`).

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

    def __init__(self, t_nucleus: float = 0.45, t_background: float = 0.85, pre=None, post=None):
        self.t_nucleus = t_nucleus
        self.t_background = t_background
        self.pre = pre
        self.post = post

    def _fit(self, images, masks):
        _check_unit("t_nucleus", self.t_nucleus)
        _check_unit("t_background", self.t_background)
        self.classes_ = np.array([0, 1, 2])

    def _predict(self, image):
        return _three_class_rule(luminance(image), self.t_nucleus, self.t_background)


# ----------------------------------------------------------------------------- automatic


def threshold_intermodes(values: np.ndarray, nbins: int = 256, max_iter: int = 10000) -> float:
    """ImageJ's "intermodes": smooth the histogram until it has two maxima; take their midpoint.

    scikit-image has ``threshold_minimum`` (the valley between the two maxima) but not this
    variant, so it is written here. Raises RuntimeError when the histogram never becomes bimodal.
    """
    hist, edges = np.histogram(values, bins=nbins)
    centres = (edges[:-1] + edges[1:]) / 2
    smooth = hist.astype(np.float64)
    for _ in range(max_iter):
        peaks = np.flatnonzero((smooth[1:-1] > smooth[:-2]) & (smooth[1:-1] > smooth[2:])) + 1
        if len(peaks) == 2:
            return float((centres[peaks[0]] + centres[peaks[1]]) / 2)
        if len(peaks) < 2:
            break
        smooth = np.convolve(np.pad(smooth, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    raise RuntimeError("the histogram does not become bimodal")


def _auto_threshold(values: np.ndarray, method: str) -> float:
    import skimage.filters as skf

    functions = {
        "otsu": skf.threshold_otsu,
        "li": skf.threshold_li,
        "yen": skf.threshold_yen,
        "isodata": skf.threshold_isodata,
        "mean": skf.threshold_mean,
        "minimum": skf.threshold_minimum,
        "triangle": skf.threshold_triangle,
        "intermodes": threshold_intermodes,
    }
    if values.min() == values.max():
        return float(values.min())
    try:
        return float(functions[method](values))
    except (RuntimeError, ValueError):
        # minimum/intermodes fail on histograms that never become bimodal: fall back to Otsu.
        return float(skf.threshold_otsu(values))


AUTO_METHODS = ("otsu", "li", "yen", "isodata", "mean", "minimum", "triangle", "intermodes")


class _ClusterSegmenter(Segmenter):
    """A method that finds clusters per image, then maps clusters to classes."""

    def _clusters(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _n_clusters(self) -> int:
        return 2  # below / above one threshold; subclasses with more clusters override

    def _fit(self, images, masks):
        self._validate()
        mapping = ClusterMapping(self._n_clusters())
        for i, image in enumerate(images):
            mapping.add(
                self._clusters(image), luminance(image), None if masks is None else masks[i]
            )
        self.mapping_, self.classes_ = mapping.finish(self.order, self.mapping)

    def _validate(self) -> None:
        pass

    def _predict(self, image):
        return np.asarray(self.mapping_)[self._clusters(image)]

    def _own_halo(self) -> int:
        return UNBOUNDED_HALO  # a threshold computed from the whole image


@register
class AutoThresholdSegmenter(_ClusterSegmenter):
    """Automatic per-image threshold (Otsu, Li, Yen, ...) on luminance or a chosen channel.

    Each image gets its own threshold from its histogram; the two sides are mapped to classes
    (by the training masks when given, else brightest side first).

    Parameters
    ----------
    method : str
        One of otsu, li, yen, isodata, mean, minimum, triangle, intermodes.
    channel : str or int
        ``luminance`` or a channel name/index (see :func:`seglab.features.channel`).
    order : {"brightest-first", "darkest-first"}
        Label order of the two sides when fitted without masks.
    """

    name = "auto-threshold"
    search_space = {"method": ("categorical", list(AUTO_METHODS))}

    def __init__(
        self,
        method: str = "otsu",
        channel="luminance",
        order="brightest-first",
        mapping: str = "majority",
        pre=None,
        post=None,
    ):
        self.method = method
        self.channel = channel
        self.order = order
        self.mapping = mapping
        self.pre = pre
        self.post = post

    def _validate(self):
        if self.method not in AUTO_METHODS:
            raise ParameterError(f"method={self.method!r}: use one of {', '.join(AUTO_METHODS)}")

    def _clusters(self, image):
        values = select_channel(image, self.channel)
        return (values > _auto_threshold(values, self.method)).astype(np.int64)


@register
class MultiOtsuSegmenter(_ClusterSegmenter):
    """K classes from K-1 per-image multi-Otsu thresholds on luminance or a channel.

    With ``classes=3`` on the course images (brightest first): background, cytoplasm, nucleus.
    """

    name = "multi-otsu"
    search_space = {"classes": ("int", 2, 5)}

    def __init__(
        self,
        classes: int = 3,
        channel="luminance",
        order="brightest-first",
        mapping: str = "majority",
        pre=None,
        post=None,
    ):
        self.classes = classes
        self.channel = channel
        self.order = order
        self.mapping = mapping
        self.pre = pre
        self.post = post

    def _n_clusters(self):
        return int(self.classes)

    def _validate(self):
        if not isinstance(self.classes, (int, np.integer)) or not 2 <= self.classes <= 8:
            raise ParameterError(f"classes={self.classes!r}: must be an integer from 2 to 8")

    def _clusters(self, image):
        from skimage.filters import threshold_multiotsu

        values = select_channel(image, self.channel)
        try:
            thresholds = threshold_multiotsu(values, classes=int(self.classes))
        except ValueError:  # too few distinct values: fall back to evenly spaced quantiles
            thresholds = np.quantile(values, np.linspace(0, 1, int(self.classes) + 1)[1:-1])
        return np.digitize(values, thresholds).astype(np.int64)


@register
class HysteresisSegmenter(_ClusterSegmenter):
    """Hysteresis: strict-threshold seeds grown through loose-threshold pixels connected to them.

    With ``polarity="dark"`` (nuclei), seeds are pixels below ``strict`` and grow through
    pixels below ``loose``; ``"bright"`` reverses both. Optionally ``t_background`` splits the
    rest into a bright background and a middle class. Clusters (object, middle, bright) are then
    mapped to classes.
    """

    name = "hysteresis"
    search_space = {
        "strict": ("float", 0.0, 1.0),
        "loose": ("float", 0.0, 1.0),
        "t_background": ("float", 0.5, 1.0),
    }

    def __init__(
        self,
        strict: float = 0.35,
        loose: float = 0.5,
        polarity: str = "dark",
        t_background: float | None = None,
        channel="luminance",
        order="brightest-first",
        mapping: str = "majority",
        pre=None,
        post=None,
    ):
        self.strict = strict
        self.loose = loose
        self.polarity = polarity
        self.t_background = t_background
        self.channel = channel
        self.order = order
        self.mapping = mapping
        self.pre = pre
        self.post = post

    def _n_clusters(self):
        return 2 if self.t_background is None else 3

    def _validate(self):
        if self.polarity not in ("dark", "bright"):
            raise ParameterError(f"polarity={self.polarity!r}: use 'dark' or 'bright'")
        for key in ("strict", "loose"):
            if not isinstance(getattr(self, key), (int, float)):
                raise ParameterError(f"{key}={getattr(self, key)!r}: must be a number")

    def _clusters(self, image):
        values = select_channel(image, self.channel)
        if self.polarity == "dark":
            seeds, grow = values < self.strict, values < max(self.loose, self.strict)
        else:
            seeds, grow = values > self.strict, values > min(self.loose, self.strict)
        regions, n = ndi.label(grow, structure=np.ones((3, 3)))
        keep = np.zeros(n + 1, bool)
        keep[np.unique(regions[seeds])] = True
        keep[0] = False
        objects = keep[regions]
        if self.t_background is None:
            return (~objects).astype(np.int64)  # 0 = object, 1 = the rest
        clusters = np.where(values >= self.t_background, 2, 1)
        clusters[objects] = 0
        return clusters.astype(np.int64)


# ----------------------------------------------------------------------------- tuned


@register
class TunedThresholdSegmenter(Segmenter):
    """The course's two-threshold rule with thresholds found by Bayesian optimisation.

    Optuna's TPE sampler maximises the mean training score over ``t_nucleus`` and
    ``t_background`` (and, when asked, a Gaussian blur sigma and the sizes of the course's
    targeted cleanup). The trial history is kept in the model (``tuning_``).

    Parameters
    ----------
    n_trials : int
        Optimisation trials (the course uses 50).
    tune_blur : bool
        Also tune a Gaussian blur sigma in [0, 3] applied before thresholding.
    cleanup : bool
        Apply the course's targeted cleanup (fill nucleus holes, remove small nucleus and
        cytoplasm fragments) and tune its two sizes in [0, 1000] pixels.
    random_state : int
        Seed of the sampler: same seed, same thresholds.
    """

    name = "tuned-threshold"
    supervised = True

    def __init__(
        self,
        n_trials: int = 50,
        tune_blur: bool = False,
        cleanup: bool = False,
        random_state: int = 0,
        pre=None,
        post=None,
    ):
        self.n_trials = n_trials
        self.tune_blur = tune_blur
        self.cleanup = cleanup
        self.random_state = random_state
        self.pre = pre
        self.post = post

    def _space(self) -> dict:
        space = {"t_nucleus": ("float", 0.0, 1.0), "t_background": ("float", 0.0, 1.0)}
        if self.tune_blur:
            space["sigma"] = ("float", 0.0, 3.0)
        if self.cleanup:
            space["min_nucleus"] = ("int", 0, 1000)
            space["min_cytoplasm"] = ("int", 0, 1000)
        return space

    def _rule(self, grey: np.ndarray, params: dict) -> np.ndarray:
        sigma = params.get("sigma", 0.0)
        if sigma > 0:
            grey = ndi.gaussian_filter(grey, sigma, mode="nearest")
        labels = _three_class_rule(grey, params["t_nucleus"], params["t_background"])
        if self.cleanup:
            labels = apply_post(
                labels, targeted_cleanup(params["min_nucleus"], params["min_cytoplasm"])
            )
        return labels

    def _fit(self, images, masks):
        from ..tune import optimize

        greys = [luminance(im) for im in images]
        n_classes = max(3, int(max(int(m.max()) for m in masks)) + 1)

        def objective(params):
            return float(
                np.mean(
                    [
                        image_score(m, self._rule(g, params), n_classes)
                        for g, m in zip(greys, masks, strict=True)
                    ]
                )
            )

        start = {
            "t_nucleus": 0.45,
            "t_background": 0.85,
            "sigma": 0.0,
            "min_nucleus": 50,
            "min_cytoplasm": 50,
        }
        best, value, history = optimize(
            objective,
            self._space(),
            int(self.n_trials),
            int(self.random_state),
            desc="tune thresholds",
            initial=[start],
        )
        self.thresholds_ = {k: float(v) for k, v in best.items()}
        self.tuning_ = {"best_params": best, "best_value": value, "trials": history}
        self.classes_ = np.array([0, 1, 2])

    def _predict(self, image):
        return self._rule(luminance(image), self.thresholds_)

    def _own_halo(self) -> int:
        return UNBOUNDED_HALO if self.cleanup else int(np.ceil(4 * 3.0))
