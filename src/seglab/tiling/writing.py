"""Writing a tiled prediction: one row of tiles at a time to a tiled TIFF or a Zarr array."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import OutputPathError, ParameterError, SeglabError, naming
from ..io import output_errors
from .prediction import predict_lazy
from .reading import DamagedTile
from .scheduling import dask_modules, model_carrier, scheduler_context

__all__ = ["TIFF_TILE", "partial_path", "predict_to_file"]

#: TIFF tile side of written masks (a multiple of 16, as TIFF requires).
TIFF_TILE = 256


def _block_rows(
    labels, compute_kwargs, progress: bool, desc: str, first: int = 0
) -> Iterator[np.ndarray]:
    """Compute the mask one row of blocks at a time (each row's blocks in parallel), from row
    ``first`` on."""
    dask, _ = dask_modules()
    from tqdm.auto import tqdm

    n_rows, n_cols = labels.numblocks
    # One row at a time, written before the next is computed. Computing the next row while
    # this one is written (a thread ahead) measured slower and took 2.21 GiB against 1.19 on
    # the 8k slide (benchmarks/scale.py, 2026-12-06): the allocator's arenas of one more
    # thread, and no gain to show for them.
    with tqdm(
        total=n_rows * n_cols,
        initial=first * n_cols,
        desc=desc,
        unit="tile",
        file=sys.stderr,
        disable=None if progress else True,
    ) as bar:
        for i in range(first, n_rows):
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


def partial_path(output: str | os.PathLike) -> Path:
    """Where a tiled prediction into ``output`` keeps its rows of tiles until it is complete:
    a hidden Zarr array beside it, which ``resume=True`` continues after a crash.

    Examples
    --------
    >>> partial_path("out/slide.tif").as_posix()
    'out/.slide.tif.partial.zarr'
    """
    output = Path(output)
    return output.with_name(f".{output.name}.partial.zarr")


#: the partial array's attributes: which job made it, and how many rows of tiles are written
_JOB, _ROWS_DONE = "seglab_job", "seglab_rows_done"


def _job_fingerprint(segmenter, source, labels, normalize: str, tissue) -> str:
    """What must be the same for a partial output to be continued: the image, the model (its
    parameters and its answer on a fixed probe image), the tiles and the settings."""
    import hashlib
    import json

    dask, _ = dask_modules()
    if isinstance(source, (str, os.PathLike)):
        stat = os.stat(source)
        image = [os.fspath(source), stat.st_size, stat.st_mtime_ns]
    else:
        image = [str(getattr(source, "path", "")), dask.base.tokenize(source)]
    probe = np.random.default_rng(0).random((48, 48, int(segmenter.n_channels_)))
    answer = hashlib.sha256(np.ascontiguousarray(segmenter.predict(probe)).tobytes())
    params = {k: repr(v) for k, v in sorted(segmenter.get_params().items())}
    job = {
        "image": image,
        "model": [segmenter.name, params, answer.hexdigest()],
        "tiles": [list(map(list, labels.chunks)), normalize],
        "tissue": dask.base.tokenize(tissue),
    }
    return hashlib.sha256(json.dumps(job, sort_keys=True, default=str).encode()).hexdigest()


def _open_partial(partial: Path, output: Path, labels, job: str, resume: bool):
    """The partial array to write rows into, how many rows it holds already, and whether it
    was made now."""
    import zarr

    if partial.exists():
        if not resume:
            raise OutputPathError(
                f"{output}: an interrupted run left {partial.name} beside it; add --resume to"
                " go on from where it stopped, or remove it to start again"
            )
        try:
            target = zarr.open_array(str(partial), mode="r+")
            attributes = dict(target.attrs)
        except Exception:  # killed while it was being created: start again
            attributes = {}
        if attributes.get(_JOB) == job:
            return target, int(attributes.get(_ROWS_DONE, 0)), False
        if attributes:
            raise OutputPathError(
                f"{output}: {partial.name} beside it was started by another job (another"
                " model, image or settings); remove it to start again"
            )
        shutil.rmtree(partial)
    target = zarr.create_array(
        store=str(partial), shape=labels.shape, chunks=labels.chunksize, dtype=np.uint8
    )
    target.attrs[_JOB] = job
    target.attrs[_ROWS_DONE] = 0
    return target, 0, True


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
    resume: bool = False,
    damaged: Sequence[DamagedTile] = (),
) -> Path:
    """Predict ``source`` tile by tile and write the mask to ``output`` (.tif/.tiff or .zarr).

    The mask is computed one row of tiles at a time on ``scheduler`` ("threads",
    "processes", "synchronous" or a ``dask.distributed`` scheduler address); each row goes to
    a partial Zarr array beside the output (:func:`partial_path`), which becomes the output
    when complete (a TIFF is written from it). A run that stops (killed, out of memory) leaves
    the partial array; ``resume=True`` continues it from its last complete row, and the output
    is then byte for byte an uninterrupted run's. Without ``resume`` a partial array is
    refused. ``tissue`` skips tiles without tissue (:func:`predict_lazy`); ``pixel_size`` (µm
    per pixel) is stored in a TIFF's resolution tags, where `seglab nc-ratio` finds it.
    ``damaged`` tiles of the source (:func:`seglab.tiling.reading.damaged_tiles`) are read as
    zeros and left as background in the mask.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in (".tif", ".tiff", ".zarr"):
        raise ParameterError(f"{output}: a tiled mask is written as .tif, .tiff or .zarr")
    name = Path(str(getattr(source, "path", source))).name
    partial = partial_path(output)
    tmp = _temporary_sibling(output)
    rows_done, made_now = 0, False
    try:
        with (
            output_errors(output),
            scheduler_context(scheduler) as kwargs,
            model_carrier(segmenter, kwargs) as carrier,
        ):
            holes = frozenset((d.row, d.column) for d in damaged)
            labels = predict_lazy(
                segmenter, source, chunk, normalize, tissue, carrier=carrier, damaged=holes
            )
            job = _job_fingerprint(segmenter, source, labels, normalize, (tissue, sorted(holes)))
            output.parent.mkdir(parents=True, exist_ok=True)
            target, rows_done, made_now = _open_partial(partial, output, labels, job, resume)
            tops = np.concatenate([[0], np.cumsum(labels.chunks[0])])
            rows = _block_rows(labels, kwargs, progress, f"predict {name}", first=rows_done)
            for i, row in enumerate(rows, start=rows_done):
                target[tops[i] : tops[i + 1]] = row
                target.attrs[_ROWS_DONE] = rows_done = i + 1  # after the row's data
            for tile in damaged:  # nothing was read there: background
                target[slice(*tile.rows), slice(*tile.columns)] = 0
            target.attrs.clear()  # the finished array holds the mask only
            if suffix == ".zarr":
                if output.is_dir():
                    shutil.rmtree(output)
                os.replace(partial, output)
            else:
                _write_tiff(tmp, target, pixel_size)
                os.replace(tmp, output)
                shutil.rmtree(partial)
    except SeglabError as exc:
        if isinstance(exc, OutputPathError) and made_now and partial.is_dir():
            # the place refused the writes (the disk full): nothing half-written stays
            shutil.rmtree(partial, ignore_errors=True)
        # An in-memory array has no name to give.
        named = naming(exc, source) if isinstance(source, (str, os.PathLike)) else exc
        if named is exc:
            raise
        raise named from exc
    finally:
        # what was computed stays for --resume; an array made now without a row is no help
        if made_now and rows_done == 0 and partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
    return output


def _write_tiff(path: Path, mask, pixel_size: float | None) -> None:
    """The finished mask (a Zarr array) as a tiled TIFF, one band of tiles at a time."""
    import tifffile

    h, w = mask.shape
    bands = (np.asarray(mask[y0 : y0 + TIFF_TILE]) for y0 in range(0, h, TIFF_TILE))
    tifffile.imwrite(
        path,
        data=_tiff_tiles(bands, w, TIFF_TILE),
        shape=(h, w),
        dtype=np.uint8,
        tile=(TIFF_TILE, TIFF_TILE),
        compression="zlib",
        photometric="minisblack",
        **(
            {"resolution": (1e4 / pixel_size, 1e4 / pixel_size)} | {"resolutionunit": "CENTIMETER"}
            if pixel_size
            else {}
        ),
    )
