"""Tiled prediction with Dask: images larger than memory, with no seams at tile borders.

An image is read lazily (a tiled or striped TIFF through tifffile's Zarr view, a Zarr array,
or an array already in memory), cut into ``chunk`` x ``chunk`` tiles, and each tile is
predicted together with a border of ``segmenter.halo`` pixels of its neighbours
(``dask.array.map_overlap``); the border is then cut off. Because the halo covers every pixel
an output pixel depends on, and no padding is added at the image's own edges
(``boundary="none"``: the tiles there see the edge exactly as whole-image prediction does),
the tiled result equals whole-image prediction pixel for pixel. Methods that depend on the
whole image (a per-image threshold, superpixels, ...) are refused.

The mask is written block row by block row to a tiled TIFF or a Zarr array, under a
temporary name renamed when complete; neither the image, its features nor the mask is ever
whole in memory. Needs the ``scale`` extra (``pip install seglab[scale]``).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import ImageReadError, ParameterError, SeglabError, ShapeError, naming
from .io import check_image
from .postprocess import UNBOUNDED_HALO
from .uncertainty import normalised_entropy

__all__ = [
    "SCHEDULERS",
    "count_labels",
    "iter_cells_tiled",
    "lazy_array",
    "open_lazy",
    "per_cell_nc_tiled",
    "predict_lazy",
    "predict_to_file",
    "tile_geometry",
]

SCHEDULERS = ("threads", "processes", "synchronous")
#: TIFF tile side of written masks (a multiple of 16, as TIFF requires).
TIFF_TILE = 256


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:  # pragma: no cover - the extra is installed in CI
        raise ParameterError("tiled prediction needs dask: pip install 'seglab[scale]'") from None
    return dask, da


# ---------------------------------------------------------------------- reading
def lazy_array(path: Path):
    """A TIFF (through tifffile's Zarr view) or a Zarr array, read lazily: indexing it reads
    only the tiles it needs; a pyramid gives its full-resolution level."""
    import zarr

    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        try:
            store = tifffile.imread(path, aszarr=True)
        except Exception as exc:
            raise ImageReadError(f"{path}: cannot open as TIFF ({exc})") from exc
        node = zarr.open(store, mode="r")
    else:
        try:
            node = zarr.open(str(path), mode="r")
        except Exception as exc:
            raise ImageReadError(f"{path}: cannot open as Zarr ({exc})") from exc
    if isinstance(node, zarr.Group):  # a pyramid (OME-Zarr, pyramidal TIFF): full resolution
        keys = sorted(node.array_keys())
        if not keys:
            raise ImageReadError(f"{path}: Zarr group holds no array")
        node = node["0"] if "0" in keys else node[keys[0]]
    return node


class _FileArray:
    """A TIFF or Zarr file as a lazily read array that pickles as its path, so that process
    and distributed workers open the file themselves (tifffile's store holds a lock)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._node = lazy_array(self.path)
        self.shape = tuple(int(s) for s in self._node.shape)
        self.dtype = np.dtype(self._node.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        if self._node is None:
            self._node = lazy_array(self.path)
        return np.asarray(self._node[key])

    def __getstate__(self):
        return {**self.__dict__, "_node": None}

    def __dask_tokenize__(self):
        stat = self.path.stat()
        return (str(self.path.resolve()), stat.st_mtime_ns, stat.st_size, self.shape)


def open_lazy(source, chunk: int):
    """A lazy ``(H, W, C)`` Dask array of the raw pixels of ``source``, in ``chunk`` tiles.

    ``source`` is a TIFF or Zarr path, or an array (NumPy, Zarr or Dask). Other files
    (PNG, JPEG) are decoded whole: they cannot be read by parts.
    """
    _, da = _dask()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageReadError(f"{path}: no such file")
        from .omezarr import OmeZarrImage, is_ome_zarr

        if is_ome_zarr(path):
            lazy = OmeZarrImage(path)  # its base level, channels last
            array = da.from_array(
                lazy, chunks=(chunk, chunk, -1), lock=False, meta=np.empty((0, 0, 0), lazy.dtype)
            )
        elif path.suffix.lower() in (".tif", ".tiff", ".zarr") or path.is_dir():
            lazy = _FileArray(path)
            array = da.from_array(
                lazy,
                chunks=(chunk,) * min(2, lazy.ndim) + (-1,) * (lazy.ndim - 2),
                lock=False,
                meta=np.empty((0,) * lazy.ndim, lazy.dtype),
            )
        else:
            from .io import _read_array

            array = da.from_array(_read_array(path))
    elif isinstance(source, da.Array):
        array = source
    else:
        array = da.from_array(source)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ShapeError(f"tiled prediction needs an (H, W) or (H, W, C) image, got {array.shape}")
    if array.shape[-1] == 4:
        array = array[..., :3]
    elif array.shape[-1] == 2:
        array = array[..., :1]
    elif array.shape[-1] not in (1, 3):
        raise ShapeError(
            f"tiled prediction needs channels last with 1, 3 or 4 channels, got {array.shape}"
        )
    return array.rechunk((chunk, chunk, -1))


def _to_unit(block: np.ndarray, low: float, high: float, normalize: str) -> np.ndarray:
    if normalize == "minmax":
        out = block.astype(np.float32)
        return ((out - low) / (high - low) if high > low else np.zeros_like(out)).astype(np.float32)
    return check_image(block, source="tile")


# ---------------------------------------------------------------------- geometry
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


def _chunks_along(length: int, chunk: int, halo: int) -> tuple[int, ...]:
    """Chunk sizes along one axis; a last chunk thinner than the halo joins its neighbour
    (Dask's overlap needs every chunk at least as wide as the overlap)."""
    sizes = [chunk] * (length // chunk) + ([length % chunk] if length % chunk else [])
    if len(sizes) > 1 and sizes[-1] < halo:
        last = sizes.pop()
        sizes[-1] += last
    return tuple(sizes) or (length,)


# ---------------------------------------------------------------------- prediction
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
    image = _to_unit(block, low, high, normalize)
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


def tiles_with_tissue(chunks, tissue: np.ndarray, factor: float, halo: int = 0) -> np.ndarray:
    """Which tiles of a level hold tissue: a boolean grid, one entry per Dask block.

    ``chunks`` are the level's row and column chunk sizes, ``tissue`` a map of the level
    reduced by ``factor`` (:func:`seglab.slides.tissue_mask`); a tile counts when tissue lies
    within ``halo`` pixels of it.
    """
    from .slides import tile_has_tissue

    row_edges = np.cumsum((0, *chunks[0]))
    col_edges = np.cumsum((0, *chunks[1]))
    grid = np.zeros((len(chunks[0]), len(chunks[1])), bool)
    for i in range(len(chunks[0])):
        for j in range(len(chunks[1])):
            rows = (row_edges[i] - halo, row_edges[i + 1] + halo)
            cols = (col_edges[j] - halo, col_edges[j + 1] + halo)
            grid[i, j] = tile_has_tissue(tissue, factor, rows, cols)
    return grid


def predict_lazy(
    segmenter,
    source,
    chunk: int = 2048,
    normalize: str = "dtype",
    tissue=None,
    what: str = "labels",
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

    Examples
    --------
    >>> import seglab
    >>> ds = seglab.synthetic_cells(2, size=96)
    >>> seg = seglab.make_segmenter("threshold").fit([ds.image(0)])
    >>> labels = predict_lazy(seg, ds.image(1), chunk=40)
    >>> bool((labels.compute() == seg.predict(ds.image(1))).all())
    True
    """
    return _predict_lazy(segmenter, source, chunk, normalize, tissue, what, segmenter)


def _predict_lazy(segmenter, source, chunk, normalize, tissue, what, carrier):
    """:func:`predict_lazy`, with ``carrier`` what travels in the graph for the segmenter (see
    :func:`_carrier`)."""
    dask, da = _dask()
    chunk, halo = tile_geometry(segmenter, chunk)
    array = open_lazy(source, chunk)
    h, w = array.shape[:2]
    array = array.rechunk((_chunks_along(h, chunk, halo), _chunks_along(w, chunk, halo), -1))
    low = high = 0.0
    if normalize == "minmax":
        low, high = (float(v) for v in dask.compute(array.min(), array.max()))
    elif normalize != "dtype":
        raise ParameterError(f"normalize={normalize!r}: use 'dtype' or 'minmax'")
    if what not in _DTYPES:
        raise ParameterError(f"what={what!r}: use 'labels', 'entropy' or 'labels+entropy'")
    dtype = _DTYPES[what]
    wanted = None if tissue is None else tiles_with_tissue(array.chunks, *tissue, halo=halo)
    return da.map_overlap(
        _predict_block,
        array,
        depth={0: halo, 1: halo, 2: 0},
        boundary="none",
        trim=True,
        drop_axis=2,
        dtype=dtype,
        meta=np.empty((0, 0), dtype),
        # one key of the graph, not a copy in every task: a dask.distributed cluster sends
        # it to each worker once (it was pickled with each tile: 46 MB for the default rf)
        segmenter=_graph_key(carrier),
        low=low,
        high=high,
        normalize=normalize,
        wanted=wanted,
        what=what,
    )


LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")


def check_scheduler(scheduler: str | None) -> None:
    """Raise ParameterError for a scheduler that is neither a local one's name nor an address.

    An address is only tried when used; this catches a misspelt name at once, before a
    ``dask.distributed`` client is made for it and left to time out.
    """
    if scheduler is not None and scheduler not in LOCAL_SCHEDULERS and ":" not in scheduler:
        raise ParameterError(
            f"--scheduler {scheduler!r}: use threads, processes, synchronous or the address of"
            " a running dask.distributed scheduler (tcp://host:8786)"
        )


@contextlib.contextmanager
def scheduler_context(scheduler: str | None) -> Iterator[dict]:
    """Keyword arguments for ``dask.compute``: a local scheduler by name, or a
    ``dask.distributed`` client connected to the scheduler at an address."""
    check_scheduler(scheduler)
    if scheduler in (None, "threads", "synchronous"):
        yield {"scheduler": scheduler or "threads"}
    elif scheduler == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import dask

        # One pool for every compute of this context (a slide is computed row by row), so
        # that each worker process loads the model once (see _CarriedByFile).
        from ._threads import cores

        context = multiprocessing.get_context(dask.config.get("multiprocessing.context", "spawn"))
        with ProcessPoolExecutor(cores(), mp_context=context) as pool:
            yield {"scheduler": "processes", "pool": pool}
    else:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover
            raise ParameterError("--scheduler ADDRESS needs dask.distributed") from None
        try:
            client = Client(scheduler, timeout="5s", set_as_default=False)
        except Exception as exc:
            raise ParameterError(
                f"--scheduler {scheduler!r}: use threads, processes or the address of a running"
                f" dask.distributed scheduler ({type(exc).__name__}: {exc})"
            ) from None
        with client:
            yield {"scheduler": client}


class _CarriedByFile:
    """A segmenter that reaches worker processes as the path of a file it was pickled to.

    Dask's processes scheduler pickles each task with its inputs, so the model went with
    every tile (the default ``rf`` is 46 MB, an 8k slide 64 tiles). This pickles as a path
    and a key; each process loads the file once and keeps the model under its key. The
    file is private to one ``predict_to_file`` call and deleted after it.
    """

    def __init__(self, path: Path, key: str):
        self.path, self.key = str(path), key

    def __reduce__(self):
        return (_carried_segmenter, (self.path, self.key))


_carried: dict = {}


def _carried_segmenter(path: str, key: str):
    """The segmenter of a :class:`_CarriedByFile`, loaded once per process."""
    if key not in _carried:
        import pickle

        _carried.clear()  # one model per process: a new run's replaces the last
        with open(path, "rb") as file:
            _carried[key] = pickle.load(file)
    return _carried[key]


def _is_future(value) -> bool:
    return type(value).__name__ == "Future" and hasattr(value, "key")


def _graph_key(carrier):
    """``carrier`` as one key of a Dask graph (a scattered future is one already)."""
    import dask

    if _is_future(carrier):
        return dask.delayed(carrier)
    return dask.delayed(carrier, name=f"seglab-model-{uuid.uuid4().hex}")


@contextlib.contextmanager
def _carrier(segmenter, compute_kwargs: dict) -> Iterator[object]:
    """What stands for ``segmenter`` in the graph under these ``dask.compute`` arguments: the
    segmenter itself for threads, a :class:`_CarriedByFile` for worker processes, and for a
    ``dask.distributed`` client a future of the model sent to every worker once. Computed a
    row of tiles at a time, a graph that held the model itself sent it (41 MB) to the
    scheduler and on to a worker with every row."""
    scheduler = compute_kwargs.get("scheduler")
    if hasattr(scheduler, "scatter"):  # a dask.distributed client
        future = scheduler.scatter(segmenter, broadcast=True, hash=False)
        try:
            yield future
        finally:
            future.release()
        return
    if scheduler != "processes":
        yield segmenter
        return
    import pickle
    import tempfile

    with tempfile.TemporaryDirectory(prefix="seglab-model-") as folder:
        path = Path(folder) / "model.pickle"
        with open(path, "wb") as file:
            pickle.dump(segmenter, file, protocol=pickle.HIGHEST_PROTOCOL)
        yield _CarriedByFile(path, uuid.uuid4().hex)


def _block_rows(labels, compute_kwargs, progress: bool, desc: str) -> Iterator[np.ndarray]:
    """Compute the mask one row of blocks at a time (each row's blocks in parallel)."""
    dask, _ = _dask()
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
        with scheduler_context(scheduler) as kwargs, _carrier(segmenter, kwargs) as carrier:
            labels = _predict_lazy(segmenter, source, chunk, normalize, tissue, "labels", carrier)
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
            tmp.unlink()
    return output


# ---------------------------------------------------------------------- measurement
def count_labels(mask, tile: int = 2048) -> dict[int, int]:
    """Pixels of each label of a 2-D mask read ``tile`` rows at a time."""
    counts: dict[int, int] = {}
    for y in range(0, int(mask.shape[0]), tile):
        values, n = np.unique(np.asarray(mask[y : y + tile]), return_counts=True)
        for v, k in zip(values.tolist(), n.tolist(), strict=True):
            counts[int(v)] = counts.get(int(v), 0) + int(k)
    return counts


# ---------------------------------------------------------------------- per-cell N/C
def per_cell_nc_tiled(
    mask,
    image_id: str = "",
    tile: int = 2048,
    halo: int = 256,
    pixel_size: float | None = None,
    high_ratio: float | None = None,
    progress: bool = False,
) -> list[dict]:
    """:func:`seglab.measure.per_cell_nc` of a mask too large for memory, tile by tile.

    Each group of touching cells (a connected region of cytoplasm + nucleus) is measured in
    the one tile that holds its first pixel (row-major), read with ``halo`` pixels of its
    neighbours; so a cell crossing a tile border is counted once and measured whole. Cells
    are numbered as in whole-image measurement (order of first pixel). A group larger than
    the halo raises ParameterError naming a larger ``halo`` to use. See
    :func:`iter_cells_tiled` for the cells one at a time, with their QuPath objects.
    """
    cells = iter_cells_tiled(mask, image_id, tile, halo, pixel_size, high_ratio, progress)
    return [row for row, _ in cells]


def iter_cells_tiled(
    mask,
    image_id: str = "",
    tile: int = 2048,
    halo: int = 256,
    pixel_size: float | None = None,
    high_ratio: float | None = None,
    progress: bool = False,
    qupath: bool = False,
) -> Iterator[tuple[dict, dict | None]]:
    """The cells of :func:`per_cell_nc_tiled`, in order, as ``(row, feature)`` pairs.

    ``feature`` is the cell's QuPath object (:func:`seglab.qupath.cell_features`, in
    full-resolution coordinates) when ``qupath`` is true, else None. Cells are yielded one
    row of tiles at a time: once a row of tiles is read, every cell whose first pixel lies
    in it or above is known (later rows own only groups that start below), so only a row of
    tiles' cells (and those of its groups reaching lower) is held in memory.
    """
    from .measure import HIGH_NC_CELL_RATIO

    if high_ratio is None:
        high_ratio = HIGH_NC_CELL_RATIO
    if isinstance(mask, (str, os.PathLike)):
        mask = lazy_array(Path(mask))
    if len(mask.shape) != 2:
        raise ShapeError(f"per-cell N/C needs a 2-D mask, got shape {tuple(mask.shape)}")
    check_chunk(tile)
    if not isinstance(halo, (int, np.integer)) or halo < 0:
        raise ParameterError(f"--halo {halo}: expected a number of pixels, 0 or more")
    h, w = (int(s) for s in mask.shape)
    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(range(0, h, tile)) * len(range(0, w, tile)),
        desc="cells",
        unit="tile",
        disable=None if progress else True,
    )
    numbered = 0
    pending = []  # (first pixel (row, col), row dict, feature), not yet numbered
    for ty in range(0, h, tile):
        for tx in range(0, w, tile):
            bar.update()
            pending += _tile_cells(
                mask, (h, w), (ty, tx), tile, halo, image_id, pixel_size, high_ratio, qupath
            )
        # Later rows of tiles own groups starting below this row, so every cell starting
        # in it or above is found; cells of this row's groups starting lower wait.
        pending.sort(key=lambda item: item[0])
        done = sum(1 for first, _, _ in pending if first[0] < ty + tile)
        for _, row, feature in pending[:done]:
            numbered += 1
            row["cell"] = numbered
            if feature is not None:
                from .qupath import _feature_id

                feature["id"] = _feature_id(image_id, numbered)  # as whole-image measurement
            yield row, feature
        del pending[:done]
    bar.close()


def _tile_cells(mask, shape, start, tile, halo, image_id, pixel_size, high_ratio, qupath):
    """The cells whose first pixel lies in the tile at ``start``: (first pixel, row, feature)."""
    from scipy import ndimage as ndi

    from .measure import CYTOPLASM, NUCLEUS, label_cells, per_cell_nc

    (h, w), (ty, tx) = shape, start
    y0, y1 = max(0, ty - halo), min(h, ty + tile + halo)
    x0, x1 = max(0, tx - halo), min(w, tx + tile + halo)
    block = np.asarray(mask[y0:y1, x0:x1])
    region = (block == NUCLEUS) | (block == CYTOPLASM)
    groups, n_groups = ndi.label(region)
    if not n_groups:
        return []
    ids, first = np.unique(groups.ravel(), return_index=True)
    first_row, first_col = np.divmod(first[ids > 0], block.shape[1])
    ids = ids[ids > 0]
    owned = (
        (first_row + y0 >= ty)
        & (first_row + y0 < ty + tile)
        & (first_col + x0 >= tx)
        & (first_col + x0 < tx + tile)
    )
    if not owned.any():
        return []
    # A group touching a cut edge (not an image edge) was not read whole.
    cut = np.zeros(n_groups + 1, bool)
    for edge, is_cut in (
        (groups[0], y0 > 0),
        (groups[-1], y1 < h),
        (groups[:, 0], x0 > 0),
        (groups[:, -1], x1 < w),
    ):
        if is_cut:
            cut[edge] = True
    if cut[ids[owned]].any():
        raise ParameterError(
            f"a group of touching cells near row {ty}, column {tx} is larger than the halo of"
            f" {halo} pixels; use a larger halo (at least the largest cell group's extent)"
        )
    keep = np.zeros(n_groups + 1, bool)
    keep[ids[owned]] = True
    sub = np.where(keep[groups], block, 0)
    cells = label_cells(sub)
    rows = per_cell_nc(
        sub, image_id=image_id, pixel_size=pixel_size, high_ratio=high_ratio, cells=cells
    )
    _, cell_first = np.unique(cells.ravel(), return_index=True)
    cell_first = cell_first[1:]  # label 0 first
    firsts = []
    for row, index in zip(rows, cell_first, strict=True):
        r, c = divmod(int(index), block.shape[1])
        row["centroid_row"] += y0
        row["centroid_col"] += x0
        for key, offset in (("min_row", y0), ("max_row", y0), ("min_col", x0), ("max_col", x0)):
            row[key] += offset
        row["touches_border"] = bool(
            row["min_row"] == 0 or row["min_col"] == 0 or row["max_row"] == h - 1
            or row["max_col"] == w - 1
        )  # fmt: skip
        firsts.append((r + y0, c + x0))
    features = [None] * len(rows)
    if qupath:
        from .qupath import cell_features

        features = cell_features(sub, cells, rows, (y0, x0), high_ratio)
    return list(zip(firsts, rows, features, strict=True))
