"""The Segmenter interface (docs/design.md) and the registry of methods."""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from ..errors import DataSetError, ParameterError, ShapeError
from ..io import check_image, check_mask
from ..postprocess import apply_post, apply_pre, check_steps, steps_halo

__all__ = [
    "Segmenter",
    "get_segmenter_class",
    "list_segmenters",
    "make_segmenter",
    "register",
]

_REGISTRY: dict[str, type[Segmenter]] = {}


class Segmenter(BaseEstimator):
    """Base of every method: scikit-learn estimator conventions on images and masks.

    Subclasses implement ``_fit(images, masks)`` and ``_predict(image)`` (and optionally
    ``_predict_proba(image)``); the public methods here validate inputs at the boundary, so
    the subclasses may trust theirs. Constructor keywords are stored unchanged; learned state
    ends in ``_``.
    """

    name: ClassVar[str] = ""
    supervised: ClassVar[bool] = False
    #: minutes, not seconds, to fit: left out of `seglab bench`'s default set
    slow: ClassVar[bool] = False
    search_space: ClassVar[dict] = {}
    #: extras (``pip install seglab[EXTRA]``) and the modules they provide
    extras: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ public API
    def fit(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None = None):
        """Learn from images (float32 (H, W, C)) and, for supervised methods, masks.

        Masks may hold -1 for unlabelled pixels (scribbles). Returns ``self``.
        """
        images = [check_image(im, source=f"training image {i}") for i, im in enumerate(images)]
        if not images:
            raise DataSetError(f"{self.name}: no training images")
        channels = {im.shape[-1] for im in images}
        if len(channels) > 1:
            raise ShapeError(f"training images mix channel counts {sorted(channels)}")
        if masks is not None:
            masks = [
                check_mask(m, source=f"training mask {i}", allow_unlabelled=True)
                for i, m in enumerate(masks)
            ]
            if len(masks) != len(images):
                raise DataSetError(f"{len(images)} training images but {len(masks)} masks")
            for i, (im, m) in enumerate(zip(images, masks, strict=True)):
                if m.size and int(m.max()) > 255:
                    raise DataSetError(f"training mask {i}: label {int(m.max())} > 255")
                if im.shape[:2] != m.shape:
                    raise ShapeError(
                        f"training image {i} is {im.shape[0]}x{im.shape[1]}"
                        f" but its mask is {m.shape[0]}x{m.shape[1]}"
                    )
        elif self.supervised:
            raise DataSetError(f"{self.name} is supervised: fit needs masks")
        self.n_channels_ = int(images[0].shape[-1])
        self._check_steps()
        pre = getattr(self, "pre", None)
        if pre:
            images = [apply_pre(im, pre) for im in images]
        self._fit(images, masks)
        return self

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Labels ``(H, W)`` uint8, values from ``classes_``."""
        image = self._check_predict_input(image)
        post = check_steps(getattr(self, "post", None), "post")
        if post and post[0]["op"] == "mrf":
            labels = self._labels_of_proba(self._predict_proba(image), image, post)
        else:
            labels = np.asarray(self._predict(image)).astype(np.uint8, copy=False)
        return apply_post(labels, post)

    def predict_proba(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities ``(H, W, K)`` float32, columns in the order of ``classes_``."""
        if not self.has_proba:
            raise ParameterError(f"method {self.name!r} gives labels only, no probabilities")
        image = self._check_predict_input(image)
        return np.asarray(self._predict_proba(image), dtype=np.float32)

    def predict_with_proba(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels and class probabilities from one run of the model: ``(labels, proba)``.

        The labels are those of :meth:`predict` (the probabilities' argmax, or the method's
        own rule on them, then the post steps) and the probabilities those of
        :meth:`predict_proba`, for the cost of the latter alone.

        Examples
        --------
        >>> import seglab
        >>> ds = seglab.synthetic_cells(3, size=64)
        >>> seg = seglab.make_segmenter("rf", n_estimators=5, scale=1,
        ...                             features={"sigmas": [1.0, 2.0]})
        >>> seg = seg.fit([ds.image(0), ds.image(1)], [ds.mask(0), ds.mask(1)])
        >>> labels, proba = seg.predict_with_proba(ds.image(2))
        >>> proba.shape, bool((labels == seg.predict(ds.image(2))).all())
        ((64, 64, 3), True)
        """
        if not self.has_proba:
            raise ParameterError(f"method {self.name!r} gives labels only, no probabilities")
        image = self._check_predict_input(image)
        post = check_steps(getattr(self, "post", None), "post")
        proba = self._predict_proba(image)
        labels = self._labels_of_proba(proba, image, post)
        return apply_post(labels, post), np.asarray(proba, dtype=np.float32)

    def _labels_of_proba(self, proba: np.ndarray, image: np.ndarray, post: list) -> np.ndarray:
        """The labels this method gives for its probabilities ``proba`` of ``image`` (before
        the post steps other than an ``mrf`` one): the argmax, or the MRF's labelling."""
        if post and post[0]["op"] == "mrf":
            from ..mrf import mrf_labels

            step = post[0]
            contrast = bool(step.get("contrast", False))
            index = mrf_labels(
                proba,
                float(step["weight"]),
                image if contrast else None,
                contrast,
                step.get("solver", "auto"),
            )
        else:
            index = self._index_of_proba(proba, image)
        return np.asarray(self.classes_)[index].astype(np.uint8)

    def _index_of_proba(self, proba: np.ndarray, image: np.ndarray) -> np.ndarray:
        """Column of ``classes_`` chosen for each pixel from its probabilities; the argmax
        unless a method decides otherwise (an MRF over them, say)."""
        return np.asarray(proba).argmax(-1)

    @property
    def has_proba(self) -> bool:
        """Whether this method implements :meth:`predict_proba`."""
        return type(self)._predict_proba is not Segmenter._predict_proba

    @property
    def halo(self) -> int:
        """Pixels of context one output pixel depends on: the method's own plus pre/post's."""
        return self._own_halo() + steps_halo(
            getattr(self, "pre", None), getattr(self, "post", None)
        )

    def _own_halo(self) -> int:
        """Context the method itself needs (0 for pixel-wise rules)."""
        return 0

    def largest_scale(self) -> dict | None:
        """The widest filter this method applies, as ``{"feature", "scale", "pixels"}``
        (``pixels``: context it needs on each side, in full-resolution pixels), or None.

        A tile must hold that much context around the pixels it predicts; an image narrower
        than ``pixels`` is fine (filters mirror it at its borders, as scikit-image's do).
        """
        candidates = [c for c in self._scales() if c["pixels"] > 0]
        return max(candidates, key=lambda c: c["pixels"]) if candidates else None

    def _scales(self) -> list[dict]:
        """Every filter with its scale and context; subclasses add their own."""
        out = []
        for step in check_steps(getattr(self, "pre", None), "pre"):
            sigma = float(step["sigma"])
            out.append(
                {
                    "feature": "pre gaussian",
                    "scale": f"sigma {sigma:g}",
                    "pixels": int(np.ceil(4 * sigma)),
                }
            )
        for step in check_steps(getattr(self, "post", None), "post"):
            if step["op"] in ("opening", "closing"):
                out.append(
                    {
                        "feature": f"post {step['op']}",
                        "scale": f"radius {step['radius']}",
                        "pixels": int(step["radius"]),
                    }
                )
        return out

    @property
    def tile_alignment(self) -> int:
        """Tiles must start at multiples of this many pixels to give whole-image results
        (methods that work on blocks of pixels, or on a grid of windows, need it)."""
        return 1

    def _check_steps(self) -> None:
        check_steps(getattr(self, "pre", None), "pre")
        post = check_steps(getattr(self, "post", None), "post")
        if post and post[0]["op"] == "mrf" and not self.has_proba:
            raise ParameterError(
                f"post step mrf needs class probabilities; method {self.name!r} gives labels"
                " only (use a pixel classifier, clustering with probabilities, or unet)"
            )

    # ------------------------------------------------------------------ for subclasses
    def _fit(self, images: list[np.ndarray], masks: list[np.ndarray] | None) -> None:
        raise NotImplementedError

    def _predict(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _predict_proba(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _check_predict_input(self, image) -> np.ndarray:
        if not hasattr(self, "classes_"):
            raise ParameterError(f"method {self.name!r} is not fitted yet: call fit first")
        image = check_image(image)
        if image.shape[-1] != self.n_channels_:
            raise ShapeError(
                f"the model was trained on {self.n_channels_}-channel images"
                f" but this image has {image.shape[-1]}; use a model trained on"
                f" {image.shape[-1]}-channel images"
            )
        return apply_pre(image, getattr(self, "pre", None))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


def register(cls: type[Segmenter]) -> type[Segmenter]:
    """Class decorator: make ``cls`` available as ``make_segmenter(cls.name)``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise TypeError(f"segmenter name {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _missing_modules(cls: type[Segmenter]) -> list[str]:
    return [mod for mod in cls.requires if importlib.util.find_spec(mod) is None]


def get_segmenter_class(name: str) -> type[Segmenter]:
    """The registered class called ``name``; a ParameterError lists the known names."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ParameterError(f"unknown method {name!r}; known methods: {known}") from None
    missing = _missing_modules(cls)
    if missing:
        extra = ",".join(cls.extras) or "all"
        raise ParameterError(
            f"method {name!r} needs {', '.join(missing)}: pip install 'seglab[{extra}]'"
        )
    return cls


def parse_param_value(text: str):
    """A parameter's value from text, as ``--set NAME=VALUE`` reads it: JSON where it
    parses (numbers, true/false, null, lists, objects), else the text itself.

    Examples
    --------
    >>> parse_param_value("40"), parse_param_value("null"), parse_param_value("auto")
    (40, None, 'auto')
    """
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_params(pairs: Sequence[str] | None) -> dict:
    """Parameters from ``NAME=VALUE`` texts, as ``--set`` gives them (each value read by
    :func:`parse_param_value`).

    Examples
    --------
    >>> parse_params(["n_estimators=10", 'features={"sigmas": [1, 2]}'])
    {'n_estimators': 10, 'features': {'sigmas': [1, 2]}}
    """
    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set {pair!r}: write it as NAME=VALUE")
        params[key.strip()] = parse_param_value(value.strip())
    return params


def make_segmenter(name: str, **params) -> Segmenter:
    """A new segmenter of the registered method ``name`` with ``params``.

    Examples
    --------
    >>> seg = make_segmenter("threshold", t_nucleus=0.4)
    >>> seg.get_params()["t_nucleus"]
    0.4
    """
    cls = get_segmenter_class(name)
    accepted = inspect.signature(cls.__init__).parameters
    unknown = [key for key in params if key not in accepted]
    if unknown:
        valid = ", ".join(p for p in accepted if p != "self")
        raise ParameterError(f"method {name!r} has no parameter {unknown[0]!r}; it takes: {valid}")
    return cls(**params)


def list_segmenters() -> list[dict]:
    """Registered methods: name, one-line description, supervised, extras, available, params."""
    rows = []
    for name in sorted(_REGISTRY):
        cls = _REGISTRY[name]
        doc = inspect.getdoc(cls) or ""
        missing = _missing_modules(cls)
        rows.append(
            {
                "name": name,
                "description": doc.splitlines()[0] if doc else "",
                "supervised": cls.supervised,
                "slow": cls.slow,
                "extras": list(cls.extras),
                "available": not missing,
                "install": f"pip install 'seglab[{','.join(cls.extras)}]'" if missing else "",
                "params": cls().get_params(deep=False) if not missing else {},
                "search_space": {k: list(v) for k, v in cls.search_space.items()},
            }
        )
    return rows


class ClusterMapping:
    """Maps cluster ids to class labels (the Segmenter contract in docs/design.md).

    With masks, each cluster takes the majority true class of its training pixels (clusters
    with no labelled pixel take the class of the nearest cluster in mean luminance). Without
    masks, clusters are ordered by mean luminance, brightest first (or darkest first) and take
    labels 0, 1, 2, ...

    Accumulate with :meth:`add` over the training images, then call :meth:`finish`.
    """

    def __init__(self, n_clusters: int):
        self.n_clusters = n_clusters
        self.luminance_sum = np.zeros(n_clusters)
        self.count = np.zeros(n_clusters)
        self.votes: np.ndarray | None = None

    def add(self, clusters: np.ndarray, grey: np.ndarray, mask: np.ndarray | None) -> None:
        flat = clusters.ravel().astype(np.int64)
        self.count += np.bincount(flat, minlength=self.n_clusters)[: self.n_clusters]
        self.luminance_sum += np.bincount(flat, weights=grey.ravel(), minlength=self.n_clusters)[
            : self.n_clusters
        ]
        if mask is not None:
            labelled = mask.ravel() >= 0
            labels = mask.ravel()[labelled]
            n_labels = int(labels.max(initial=0)) + 1
            votes = np.zeros((self.n_clusters, n_labels))
            np.add.at(votes, (flat[labelled], labels), 1)
            if self.votes is None:
                self.votes = votes
            else:
                if self.votes.shape[1] < n_labels:
                    self.votes = np.pad(self.votes, ((0, 0), (0, n_labels - self.votes.shape[1])))
                self.votes[:, :n_labels] += votes

    def finish(
        self, order: str = "brightest-first", mapping: str = "majority"
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(mapping, classes)``: mapping[k] is the label of cluster k.

        ``mapping="balanced"`` gives each cluster the class it is most over-represented in
        (votes divided by each class's pixel count), so that a rare class such as
        mitochondria in EM is not outvoted by the background in every cluster.
        """
        if order not in ("brightest-first", "darkest-first"):
            raise ParameterError(f"order={order!r}: use 'brightest-first' or 'darkest-first'")
        if mapping not in ("majority", "balanced"):
            raise ParameterError(f"mapping={mapping!r}: use 'majority' or 'balanced'")
        if mapping == "balanced" and self.votes is not None:
            totals = self.votes.sum(axis=0, keepdims=True)
            self.votes = np.divide(
                self.votes, totals, out=np.zeros_like(self.votes), where=totals > 0
            )
        mean = np.where(self.count > 0, self.luminance_sum / np.maximum(self.count, 1), np.nan)
        if self.votes is not None and self.votes.sum() > 0:
            mapping = np.argmax(self.votes, axis=1)
            voted = self.votes.sum(axis=1) > 0
            for k in np.flatnonzero(~voted):
                candidates = np.flatnonzero(voted)
                if np.isfinite(mean[k]):
                    nearest = candidates[np.nanargmin(np.abs(mean[candidates] - mean[k]))]
                else:
                    nearest = candidates[0]
                mapping[k] = mapping[nearest]
            classes = np.flatnonzero(self.votes.sum(axis=0) > 0)
            return mapping.astype(np.int64), classes
        key = np.nan_to_num(mean, nan=-np.inf if order == "brightest-first" else np.inf)
        ranking = np.argsort(-key if order == "brightest-first" else key, kind="stable")
        mapping = np.empty(self.n_clusters, np.int64)
        mapping[ranking] = np.arange(self.n_clusters)
        return mapping, np.arange(self.n_clusters)
