"""Tile geometry: tile sides and context (halo) for a method, tiles of a level that hold tissue."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from ..postprocess import UNBOUNDED_HALO

__all__ = ["check_chunk", "chunks_along", "tile_geometry", "tiles_with_tissue"]


def check_chunk(chunk) -> None:
    """Raise ParameterError unless ``chunk`` is a tile side of at least 16 pixels."""
    if not isinstance(chunk, (int, np.integer)) or chunk < 16:
        raise ParameterError(f"--chunk {chunk}: expected an integer of at least 16 pixels")


def tile_geometry(segmenter, chunk: int) -> tuple[int, int]:
    """``(chunk, halo)`` for ``segmenter``: both rounded up to its tile alignment.

    Raises ParameterError for methods that depend on the whole image, and when ``chunk`` is
    smaller than the halo (a tile must hold the context its neighbours' pixels need).
    """
    check_chunk(chunk)
    halo = int(segmenter.halo)
    if halo >= UNBOUNDED_HALO:
        raise ParameterError(
            f"method {segmenter.name!r} depends on the whole image (its result at a pixel can"
            " change with any other pixel), so it cannot be tiled; predict without --chunk"
        )
    align = int(getattr(segmenter, "tile_alignment", 1))
    halo = math.ceil(halo / align) * align
    chunk = math.ceil(chunk / align) * align
    if chunk < halo:
        largest = segmenter.largest_scale()
        why = f" ({largest['feature']} at {largest['scale']})" if largest else ""
        raise ParameterError(
            f"--chunk {chunk} is smaller than the {halo} pixels of context that "
            f"{segmenter.name!r} needs around each pixel{why}; use --chunk {halo} or more"
        )
    return int(chunk), int(halo)


def chunks_along(length: int, chunk: int, halo: int) -> tuple[int, ...]:
    """Tile sizes along an axis of ``length``: ``chunk`` each, a last one shorter than
    ``halo`` merged into the one before (a tile must hold its neighbours' context)."""
    """Chunk sizes along one axis; a last chunk thinner than the halo joins its neighbour
    (Dask's overlap needs every chunk at least as wide as the overlap)."""
    sizes = [chunk] * (length // chunk) + ([length % chunk] if length % chunk else [])
    if len(sizes) > 1 and sizes[-1] < halo:
        last = sizes.pop()
        sizes[-1] += last
    return tuple(sizes) or (length,)


def tiles_with_tissue(chunks, tissue: np.ndarray, factor: float, halo: int = 0) -> np.ndarray:
    """Which tiles of a level hold tissue: a boolean grid, one entry per Dask block.

    ``chunks`` are the level's row and column chunk sizes, ``tissue`` a map of the level
    reduced by ``factor`` (:func:`seglab.slides.tissue_mask`); a tile counts when tissue lies
    within ``halo`` pixels of it.
    """
    from ..slides import tile_has_tissue

    row_edges = np.cumsum((0, *chunks[0]))
    col_edges = np.cumsum((0, *chunks[1]))
    grid = np.zeros((len(chunks[0]), len(chunks[1])), bool)
    for i in range(len(chunks[0])):
        for j in range(len(chunks[1])):
            rows = (row_edges[i] - halo, row_edges[i + 1] + halo)
            cols = (col_edges[j] - halo, col_edges[j + 1] + halo)
            grid[i, j] = tile_has_tissue(tissue, factor, rows, cols)
    return grid
