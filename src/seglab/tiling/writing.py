"""Writing a tiled prediction: one row of tiles at a time to a tiled TIFF or a Zarr array."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import ParameterError, SeglabError, naming
from ..io import output_errors
from .prediction import predict_lazy
from .scheduling import dask_modules, model_carrier, scheduler_context

__all__ = ["TIFF_TILE", "predict_to_file"]

#: TIFF tile side of written masks (a multiple of 16, as TIFF requires).
TIFF_TILE = 256


def _block_rows(labels, compute_kwargs, progress: bool, desc: str) -> Iterator[np.ndarray]:
    """Compute the mask one row of blocks at a time (each row's blocks in parallel)."""
    dask, _ = dask_modules()
    from tqdm.auto import tqdm

    n_rows, n_cols = labels.numblocks
    # One row at a time, written before the next is computed. Computing the next row while
    # this one is written (a thread ahead) measured slower and took 2.21 GiB against 1.19 on
    # the 8k slide (benchmarks/scale.py, 2026-12-06): the allocator's arenas of one more
    # thread, and no gain to show for them.
    with tqdm(
        total=n_rows * n_cols,
        desc=desc,
        unit="tile",
        file=sys.stderr,
        disable=None if progress else True,
    ) as bar:
        for i in range(n_rows):
            (row,) = dask.compute(labels.blocks[i], **compute_kwargs)
            bar.update(n_cols)
            yield np.asarray(row, np.uint8)


def _tiff_tiles(rows: Iterator[np.ndarray], width: int, tile: int) -> Iterator[np.ndarray]:
    """Re-cut computed block rows into ``tile`` x ``tile`` TIFF tiles, row-major."""
    buffer = np.empty((0, width), np.uint8)
    for row in rows:
        buffer = np.concatenate([buffer, row])
        while buffer.shape[0] >= tile:
            yield from _cut_tiles(buffer[:tile], tile)
            buffer = buffer[tile:]
    if buffer.shape[0]:
        yield from _cut_tiles(buffer, tile)


def _cut_tiles(band: np.ndarray, tile: int) -> Iterator[np.ndarray]:
    for x0 in range(0, band.shape[1], tile):
        piece = band[:, x0 : x0 + tile]
        out = np.zeros((tile, tile), np.uint8)
        out[: piece.shape[0], : piece.shape[1]] = piece
        yield out


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.part.{uuid.uuid4().hex[:8]}")


def predict_to_file(
    segmenter,
    source,
    output: str | os.PathLike,
    chunk: int = 2048,
    scheduler: str | None = "threads",
    normalize: str = "dtype",
    progress: bool = True,
    tissue=None,
    pixel_size: float | None = None,
) -> Path:
    """Predict ``source`` tile by tile and write the mask to ``output`` (.tif/.tiff or .zarr).

    The mask is computed one row of tiles at a time on ``scheduler`` ("threads",
    "processes", "synchronous" or a ``dask.distributed`` scheduler address) and written
    under a temporary name, renamed when complete. ``tissue`` skips tiles without tissue
    (:func:`predict_lazy`); ``pixel_size`` (µm per pixel) is stored in a TIFF's resolution
    tags, where `seglab nc-ratio` finds it.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in (".tif", ".tiff", ".zarr"):
        raise ParameterError(f"{output}: a tiled mask is written as .tif, .tiff or .zarr")
    name = Path(str(getattr(source, "path", source))).name
    tmp = _temporary_sibling(output)
    try:
        with (
            output_errors(output),
            scheduler_context(scheduler) as kwargs,
            model_carrier(segmenter, kwargs) as carrier,
        ):
            labels = predict_lazy(segmenter, source, chunk, normalize, tissue, carrier=carrier)
            h, w = labels.shape
            rows = _block_rows(labels, kwargs, progress, f"predict {name}")
            if suffix == ".zarr":
                import zarr

                target = zarr.create_array(
                    store=str(tmp), shape=(h, w), chunks=labels.chunksize, dtype=np.uint8
                )
                y0 = 0
                for row in rows:
                    target[y0 : y0 + row.shape[0]] = row
                    y0 += row.shape[0]
            else:
                import tifffile

                tifffile.imwrite(
                    tmp,
                    data=_tiff_tiles(rows, w, TIFF_TILE),
                    shape=(h, w),
                    dtype=np.uint8,
                    tile=(TIFF_TILE, TIFF_TILE),
                    compression="zlib",
                    photometric="minisblack",
                    **(
                        {"resolution": (1e4 / pixel_size, 1e4 / pixel_size)}
                        | {"resolutionunit": "CENTIMETER"}
                        if pixel_size
                        else {}
                    ),
                )
        if output.is_dir():
            shutil.rmtree(output)
        os.replace(tmp, output)
    except SeglabError as exc:
        # An in-memory array has no name to give.
        named = naming(exc, source) if isinstance(source, (str, os.PathLike)) else exc
        if named is exc:
            raise
        raise named from exc
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink(missing_ok=True)
        elif tmp.exists():
            tmp.unlink()
    return output
