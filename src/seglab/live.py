"""Interactive training from scribbles: fit, predict a region, fit again after each stroke.

This is the library behind the napari plugin's train widget (:mod:`seglab.napari`), and it
needs neither napari nor Qt. A :class:`LiveTrainer` holds the images being labelled. For the
pixel classifiers (``rf`` and the other filter-bank methods), it keeps each image's filter
bank, tile by tile, between fits: after a paint stroke only the forest is refitted, on the
tiles that hold scribbles, and only the asked region is predicted, from the kept features.
The features of a tile are computed on the tile with the filter bank's context around it,
so they equal those of the whole image, and :meth:`LiveTrainer.predict_region` gives what
the model's ``predict_proba`` gives on the whole image. Other methods are fitted on the
scribbled images and predict the region with their own context around it.

Scribbles follow napari's Labels layers: 0 is unlabelled and label k is class k - 1
(:func:`scribbles_to_mask`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from .errors import DataSetError, ParameterError, ShapeError
from .io import check_image
from .segmenters import Segmenter, make_segmenter
from .segmenters.pixel import (
    CONTEXT_SIGMAS,
    PixelClassifier,
    downscale,
    labels_at_scale,
    upsample,
)

__all__ = [
    "PREVIEW_FOREST",
    "Cancelled",
    "LiveTrainer",
    "scribbles_to_mask",
]

#: Work-scale pixels a side of the tiles whose features are kept.
FEATURE_TILE = 256
#: Features kept at most, in bytes (least recently used tiles go first).
FEATURE_CACHE_BYTES = 1 << 30
#: The preview forest fitted while painting: no context stage, 10 trees of depth 14 at most.
#: On the course split it scores 0.843 Dice against the default's 0.848 at a tenth of the
#: work (docs/research/2026-12-06-rf-smaller-models.md); napari's Live mode shows it after
#: each stroke and fits the full model when painting pauses.
PREVIEW_FOREST = {"n_estimators": 10, "max_depth": 14}


class Cancelled(Exception):
    """Raised inside :meth:`LiveTrainer.predict_region` when its ``should_stop`` says so."""


def scribbles_to_mask(scribbles: np.ndarray) -> np.ndarray:
    """napari scribbles (0 unlabelled, k = class k - 1) as a training mask (-1 unlabelled).

    Examples
    --------
    >>> scribbles_to_mask(np.array([[0, 1, 3]])).tolist()
    [[-1, 0, 2]]
    """
    return np.asarray(scribbles).astype(np.int64) - 1


def check_scribbles(
    images: Sequence[np.ndarray], scribbles: Sequence[np.ndarray | None], class_names=None
) -> list[int]:
    """Indices of the images that hold scribbles; raise a one-line error for bad scribbles:
    a shape other than its image's, no scribbles at all, fewer than two classes, or (given
    ``class_names``) a named class without scribbles or a label past the named classes."""
    if len(scribbles) != len(images):
        raise DataSetError(f"{len(images)} images but {len(scribbles)} scribble layers")
    used, found = [], set()
    for i, (image, marks) in enumerate(zip(images, scribbles, strict=True)):
        if marks is None:
            continue
        marks = np.asarray(marks)
        if marks.shape != image.shape[:2]:
            raise ShapeError(
                f"the scribbles are {'x'.join(map(str, marks.shape))} but their image is"
                f" {image.shape[0]}x{image.shape[1]}: draw them on a layer of the image's shape"
            )
        values = np.unique(marks)
        values = values[values > 0]
        if values.size:
            used.append(i)
            found.update(int(v) for v in values)
    if not used:
        raise DataSetError("no scribbles yet: paint a few strokes of each class")
    if class_names is not None:
        names = list(class_names)
        beyond = sorted(v for v in found if v > len(names))
        if beyond:
            raise DataSetError(
                f"label {beyond[0]} has no class name ({len(names)} classes named:"
                f" {', '.join(names)}); name it or paint with labels 1 to {len(names)}"
            )
        missing = [names[k - 1] for k in range(1, len(names) + 1) if k not in found]
        if missing:
            raise DataSetError(
                f"class {missing[0]!r} has no scribbles: paint a few strokes of it"
                " (or remove it from the classes)"
            )
    if len(found) < 2:
        raise DataSetError("the scribbles hold one class only: paint at least two classes")
    return used


class LiveTrainer:
    """Scribble training on a set of images, reusing their filter bank between fits.

    Parameters
    ----------
    images : sequence of arrays
        The images, ``(H, W)`` or ``(H, W, C)``, any dtype :func:`seglab.io.check_image`
        takes (``normalize`` as there).
    method : str
        A supervised method of the registry.
    params : dict, optional
        The method's parameters.
    cache_bytes : int
        Most bytes of features kept.

    Examples
    --------
    >>> import seglab
    >>> ds = seglab.synthetic_cells(1, size=96)
    >>> image, mask = ds.pair(0)
    >>> scribbles = np.zeros(mask.shape, np.int64)
    >>> scribbles[::7, ::7] = mask[::7, ::7] + 1  # a sparse sample of each class
    >>> trainer = LiveTrainer([image], "rf", {"n_estimators": 5, "n_jobs": 1})
    >>> model = trainer.fit([scribbles])
    >>> labels, proba = trainer.predict_region(model, 0, (0, 96, 0, 96))
    >>> bool((labels == model.predict(image)).all())
    True
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        method: str = "rf",
        params: dict | None = None,
        normalize: str = "dtype",
        cache_bytes: int = FEATURE_CACHE_BYTES,
    ):
        self.images = [
            check_image(im, source=f"image {i}", normalize=normalize) for i, im in enumerate(images)
        ]
        if not self.images:
            raise DataSetError("no images to train on")
        channels = {im.shape[-1] for im in self.images}
        if len(channels) > 1:
            raise ShapeError(f"the images mix channel counts {sorted(channels)}")
        self.method = method
        self.params = dict(params or {})
        self.template = make_segmenter(method, **self.params)
        if not self.template.supervised:
            raise ParameterError(f"method {method!r} is not supervised: it learns no scribbles")
        self.cache_bytes = int(cache_bytes)
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._cached_bytes = 0
        self.cached = isinstance(self.template, PixelClassifier) and not (
            self.template.pre or self.template.post
        )
        if self.cached:
            self.template.set_work_scale(self.images)
            self.factor = self.template.work_scale()
            self.bank = self.template.filter_bank(self.factor)
            self.work_shapes = [
                (math.ceil(im.shape[0] / self.factor), math.ceil(im.shape[1] / self.factor))
                for im in self.images
            ]

    # ------------------------------------------------------------------ features
    def _tile_features(self, index: int, ty: int, tx: int, keep: bool = True) -> np.ndarray:
        key = (index, ty, tx)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        f, halo = self.factor, self.bank.halo
        h, w = self.work_shapes[index]
        y0, x0 = ty * FEATURE_TILE, tx * FEATURE_TILE
        y1, x1 = min(h, y0 + FEATURE_TILE), min(w, x0 + FEATURE_TILE)
        # the tile with the filter bank's reach around it: its features are the whole image's
        cy0, cx0 = max(0, y0 - halo), max(0, x0 - halo)
        cy1, cx1 = min(h, y1 + halo), min(w, x1 + halo)
        crop = self.images[index][cy0 * f : cy1 * f, cx0 * f : cx1 * f]
        feats = self.bank.compute(downscale(crop, f))
        tile = np.ascontiguousarray(feats[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0])
        if not keep:
            return tile
        self._cache[key] = tile
        self._cached_bytes += tile.nbytes
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= old.nbytes
        return tile

    def features(
        self,
        index: int,
        y0: int,
        y1: int,
        x0: int,
        x1: int,
        should_stop=None,
        keep: bool = True,
        spare: int = 0,
    ) -> np.ndarray:
        """The whole filter bank over work-scale rows ``y0:y1`` and columns ``x0:x1`` of
        image ``index``, assembled from kept tiles (computing those not kept, and keeping them
        if ``keep``), with ``spare`` free columns after them (as ``FilterBank.compute``).
        Between tiles, raises :class:`Cancelled` if ``should_stop()`` is true."""
        out = None
        for ty in range(y0 // FEATURE_TILE, (y1 - 1) // FEATURE_TILE + 1):
            for tx in range(x0 // FEATURE_TILE, (x1 - 1) // FEATURE_TILE + 1):
                if should_stop is not None and should_stop():
                    raise Cancelled
                tile = self._tile_features(index, ty, tx, keep)
                if out is None:
                    out = np.empty((y1 - y0, x1 - x0, tile.shape[-1] + spare), np.float32)
                ty0, tx0 = ty * FEATURE_TILE, tx * FEATURE_TILE
                sy0, sy1 = max(y0, ty0), min(y1, ty0 + tile.shape[0])
                sx0, sx1 = max(x0, tx0), min(x1, tx0 + tile.shape[1])
                out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0, : tile.shape[-1]] = tile[
                    sy0 - ty0 : sy1 - ty0, sx0 - tx0 : sx1 - tx0
                ]
        return out

    # ------------------------------------------------------------------ fit / predict
    def preview_params(self) -> dict:
        """The parameters of the preview model: the forest cut to :data:`PREVIEW_FOREST`
        where the method has those parameters (``rf``, ``extra-trees``), else unchanged."""
        params = self.template.get_params()
        if "n_estimators" not in params or "context" not in params:
            return dict(self.params)
        depth = params.get("max_depth")
        return {
            **self.params,
            "n_estimators": min(int(params["n_estimators"]), PREVIEW_FOREST["n_estimators"]),
            "max_depth": PREVIEW_FOREST["max_depth"]
            if depth is None
            else min(int(depth), PREVIEW_FOREST["max_depth"]),
            "context": False,
        }

    def fit(
        self,
        scribbles: Sequence[np.ndarray | None],
        class_names=None,
        progress: Callable[[float], None] | None = None,
        preview: bool = False,
    ) -> Segmenter:
        """A new model fitted on the scribbles (napari's convention; None for an image
        without any). ``progress`` is called with the fraction done. ``preview`` fits the
        smaller forest of :meth:`preview_params` (on the same kept features)."""
        used = check_scribbles(self.images, scribbles, class_names)
        params = self.preview_params() if preview else self.params
        model = make_segmenter(self.method, **params)
        masks = {i: scribbles_to_mask(scribbles[i]) for i in used}
        if not self.cached:
            model.fit([self.images[i] for i in used], [masks[i] for i in used])
            if progress:
                progress(1.0)
            return model
        feats, labels = [], []
        tiles = []
        for i in used:
            work_labels = labels_at_scale(masks[i], self.factor, self.work_shapes[i])
            h, w = self.work_shapes[i]
            for ty in range(0, h, FEATURE_TILE):
                for tx in range(0, w, FEATURE_TILE):
                    part = work_labels[ty : ty + FEATURE_TILE, tx : tx + FEATURE_TILE]
                    if (part >= 0).any():
                        tiles.append((i, ty, tx, part))
        if not tiles:
            raise DataSetError(
                f"the scribbles fall between the pixels {self.method} works on at 1/{self.factor}"
                f" scale: paint with a brush of {self.factor} pixels or more"
            )
        for k, (i, ty, tx, part) in enumerate(tiles):
            feats.append(self._tile_features(i, ty // FEATURE_TILE, tx // FEATURE_TILE))
            labels.append(part)
            if progress:
                progress(0.8 * (k + 1) / len(tiles))
        model.factor_ = self.factor
        model.n_channels_ = int(self.images[0].shape[-1])
        model.fit_features(feats, labels, model.n_channels_)
        if progress:
            progress(1.0)
        return model

    def predict_region(
        self,
        model: Segmenter,
        index: int,
        region: tuple[int, int, int, int],
        should_stop: Callable[[], bool] | None = None,
        keep_features: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Labels ``(h, w)`` uint8 and probabilities ``(h, w, K)`` of ``model`` over rows
        ``y0:y1`` and columns ``x0:x1`` of image ``index`` (``region = (y0, y1, x0, x1)``),
        as the model gives them on the whole image. ``should_stop`` is asked between feature
        tiles; when it answers true, :class:`Cancelled` is raised (a newer stroke, say).
        ``keep_features=False`` computes the features it does not hold without keeping
        them, so that a pass over a large image does not push out those of the view."""
        image = self.images[index]
        y0, y1, x0, x1 = _clip_region(region, image.shape)
        if not self.cached or not isinstance(model, PixelClassifier) or model.post:
            return _predict_with_context(model, image, (y0, y1, x0, x1))
        f = self.factor
        # work-scale context: the context stage's widest Gaussian, and a pixel for upsampling
        reach = 1 + (int(4 * max(CONTEXT_SIGMAS) + 0.5) if model.context else 0)
        h, w = self.work_shapes[index]
        wy0, wx0 = max(0, y0 // f - reach), max(0, x0 // f - reach)
        wy1, wx1 = min(h, -(-y1 // f) + reach), min(w, -(-x1 // f) + reach)
        selected = getattr(model, "selected_features_", None)
        spare = 0 if selected is not None else model.context_columns()
        feats = self.features(index, wy0, wy1, wx0, wx1, should_stop, keep_features, spare)
        if selected is not None:
            names = self.bank.names(model.n_channels_)
            feats = feats[..., [names.index(n) for n in selected]]
        work = model.proba_of_features(feats, spare)
        full = (min(image.shape[0], wy1 * f) - wy0 * f, min(image.shape[1], wx1 * f) - wx0 * f)
        proba = model.prior_corrected(upsample(work, f, full))
        proba = proba[y0 - wy0 * f : y1 - wy0 * f, x0 - wx0 * f : x1 - wx0 * f]
        labels = np.asarray(model.classes_)[proba.argmax(-1)].astype(np.uint8)
        return labels, np.asarray(proba, np.float32)


def _clip_region(region, shape) -> tuple[int, int, int, int]:
    y0, y1, x0, x1 = (int(v) for v in region)
    y0, x0 = max(0, y0), max(0, x0)
    y1, x1 = min(int(shape[0]), y1), min(int(shape[1]), x1)
    if y1 <= y0 or x1 <= x0:
        raise ParameterError(f"region {tuple(region)} holds no pixel of the image")
    return y0, y1, x0, x1


def _predict_with_context(model: Segmenter, image: np.ndarray, region) -> tuple:
    """Labels and probabilities of a region, predicted on it with the model's halo around."""
    y0, y1, x0, x1 = region
    halo = int(model.halo)
    if halo >= image.shape[0] + image.shape[1]:  # whole-image methods
        cy0, cy1, cx0, cx1 = 0, image.shape[0], 0, image.shape[1]
    else:
        align = int(model.tile_alignment)
        cy0, cx0 = max(0, (y0 - halo) // align * align), max(0, (x0 - halo) // align * align)
        cy1, cx1 = min(image.shape[0], y1 + halo), min(image.shape[1], x1 + halo)
    crop = image[cy0:cy1, cx0:cx1]
    labels = model.predict(crop)[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
    if model.has_proba:
        proba = model.predict_proba(crop)[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
    else:  # labels only: certain by construction
        classes = list(np.asarray(model.classes_))
        proba = (labels[..., None] == np.asarray(classes)[None, None]).astype(np.float32)
    return labels, proba
