"""Tiled prediction with Dask: images larger than memory, with no seams at tile borders.

An image is read lazily (a tiled or striped TIFF through tifffile's Zarr view, a Zarr array,
or an array already in memory: :mod:`~seglab.tiling.reading`), cut into ``chunk`` x ``chunk``
tiles, and each tile is predicted together with a border of ``segmenter.halo`` pixels of its
neighbours (``dask.array.map_overlap``: :mod:`~seglab.tiling.prediction`, sizes from
:mod:`~seglab.tiling.geometry`); the border is then cut off. Because the halo covers every
pixel an output pixel depends on, and no padding is added at the image's own edges
(``boundary="none"``: the tiles there see the edge exactly as whole-image prediction does),
the tiled result equals whole-image prediction pixel for pixel. Methods that depend on the
whole image (a per-image threshold, superpixels, ...) are refused.

The mask is written block row by block row to a tiled TIFF or a Zarr array, under a
temporary name renamed when complete (:mod:`~seglab.tiling.writing`); neither the image, its
features nor the mask is ever whole in memory. The rows are computed on a local scheduler or a
``dask.distributed`` cluster, the model sent to each worker once
(:mod:`~seglab.tiling.scheduling`). Needs the ``scale`` extra (``pip install seglab[scale]``).
"""

from .geometry import check_chunk, chunks_along, tile_geometry, tiles_with_tissue
from .prediction import predict_lazy
from .reading import lazy_array, open_lazy
from .scheduling import LOCAL_SCHEDULERS, check_scheduler, scheduler_context
from .writing import TIFF_TILE, partial_path, predict_to_file

__all__ = [
    "LOCAL_SCHEDULERS",
    "TIFF_TILE",
    "check_chunk",
    "check_scheduler",
    "chunks_along",
    "lazy_array",
    "open_lazy",
    "partial_path",
    "predict_lazy",
    "predict_to_file",
    "scheduler_context",
    "tile_geometry",
    "tiles_with_tissue",
]
