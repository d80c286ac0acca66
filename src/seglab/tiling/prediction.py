"""Tiled prediction: a lazy mask (or uncertainty) of an image, tile by tile with a halo."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError
from ..uncertainty import normalised_entropy
from .geometry import chunks_along, tile_geometry, tiles_with_tissue
from .reading import open_lazy, scale_tile
from .scheduling import dask_modules, model_key

__all__ = ["predict_lazy"]


#: what a tile's prediction gives, and its dtype
_DTYPES = {"labels": np.uint8, "entropy": np.float32, "labels+entropy": np.complex64}


def _predict_block(
    block: np.ndarray,
    segmenter,
    low: float,
    high: float,
    normalize: str,
    wanted: np.ndarray | None = None,
    what: str = "labels",
    block_info=None,
):
    shape = block.shape[:2]
    dtype = _DTYPES[what]
    if wanted is not None:
        i, j = block_info[0]["chunk-location"][:2]
        if not wanted[i, j]:  # no tissue here: background, without reading the features
            return np.zeros(shape, dtype)
    image = scale_tile(block, low, high, normalize)
    if what == "labels" or (what == "labels+entropy" and not segmenter.has_proba):
        labels = segmenter.predict(image)
        entropy = np.zeros(labels.shape, np.float32)  # labels only: no uncertainty to show
    elif what == "entropy" and not segmenter.has_proba:
        return np.zeros(shape, dtype)
    else:  # one run of the model for both
        labels, proba = segmenter.predict_with_proba(image)
        entropy = normalised_entropy(proba)
    if what == "labels":
        return labels
    if what == "entropy":
        return entropy
    return (labels + 1j * entropy).astype(np.complex64)  # both exact in float32


def predict_lazy(
    segmenter,
    source,
    chunk: int = 2048,
    normalize: str = "dtype",
    tissue=None,
    what: str = "labels",
    carrier=None,
    damaged: frozenset = frozenset(),
):
    """Lazy ``(H, W)`` uint8 labels of ``source`` predicted tile by tile.

    Parameters
    ----------
    segmenter : Segmenter
        A fitted segmenter whose ``halo`` is bounded.
    source : path or array
        See :func:`open_lazy`.
    chunk : int
        Tile side in pixels (rounded up to the method's alignment).
    normalize : {"dtype", "minmax"}
        As for whole images; "minmax" first computes the image's minimum and maximum.
    tissue : (array of bool, float), optional
        A tissue map and its downsample (:func:`seglab.slides.tissue_mask`): tiles without
        tissue are background (0) and are neither read nor predicted.
    what : {"labels", "entropy", "labels+entropy"}
        ``"entropy"`` gives instead the float32 uncertainty of each pixel,
        :func:`seglab.uncertainty.normalised_entropy` of the probabilities (0 for a method
        without); ``"labels+entropy"`` both from one run of the model per tile, as one
        complex64 array: the labels its real part, the uncertainty its imaginary part.
    carrier : optional
        What stands for the segmenter in the graph, from
        :func:`seglab.tiling.scheduling.model_carrier` for the scheduler that will compute
        it (a file worker processes load, a future on a cluster); the segmenter itself by
        default.
    damaged : set of (row, column)
        Tiles of the file's own tiling that cannot be decoded, read as zeros
        (:func:`seglab.tiling.reading.damaged_tiles`).

    Examples
    --------
    >>> import seglab
    >>> ds = seglab.synthetic_cells(2, size=96)
    >>> seg = seglab.make_segmenter("threshold").fit([ds.image(0)])
    >>> labels = predict_lazy(seg, ds.image(1), chunk=40)
    >>> bool((labels.compute() == seg.predict(ds.image(1))).all())
    True
    """
    dask, da = dask_modules()
    chunk, halo = tile_geometry(segmenter, chunk)
    array = open_lazy(source, chunk, damaged)
    h, w = array.shape[:2]
    array = array.rechunk((chunks_along(h, chunk, halo), chunks_along(w, chunk, halo), -1))
    low = high = 0.0
    if normalize == "minmax":
        low, high = (float(v) for v in dask.compute(array.min(), array.max()))
    elif normalize != "dtype":
        raise ParameterError(f"normalize={normalize!r}: use 'dtype' or 'minmax'")
    if what not in _DTYPES:
        raise ParameterError(f"what={what!r}: use 'labels', 'entropy' or 'labels+entropy'")
    dtype = _DTYPES[what]
    wanted = None if tissue is None else tiles_with_tissue(array.chunks, *tissue, halo=halo)
    # An axis in one tile needs no overlap: the tile is the whole image along it (and Dask
    # refuses an overlap deeper than the array, as an image smaller than the halo would ask).
    depth = {axis: halo if len(array.chunks[axis]) > 1 else 0 for axis in (0, 1)}
    return da.map_overlap(
        _predict_block,
        array,
        depth={**depth, 2: 0},
        boundary="none",
        trim=True,
        drop_axis=2,
        dtype=dtype,
        meta=np.empty((0, 0), dtype),
        # one key of the graph, not a copy in every task: a dask.distributed cluster sends
        # it to each worker once (it was pickled with each tile: 46 MB for the default rf)
        segmenter=model_key(segmenter if carrier is None else carrier),
        low=low,
        high=high,
        normalize=normalize,
        wanted=wanted,
        what=what,
    )
