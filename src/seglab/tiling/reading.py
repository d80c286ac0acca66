"""Reading images for tiling: TIFF and Zarr files as lazily read arrays, tiles of raw pixels."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ImageReadError, ShapeError
from ..io import check_image
from .scheduling import dask_modules

__all__ = [
    "DamagedTile",
    "damaged_tiles",
    "find_damaged_tiles",
    "is_tiff",
    "larger_than",
    "lazy_array",
    "open_lazy",
    "read_tiles",
    "scale_tile",
]


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


@dataclass(frozen=True)
class DamagedTile:
    """A tile of a file that cannot be decoded: its row and column in the file's tiling, the
    pixels it covers, and why."""

    row: int
    column: int
    rows: tuple[int, int]
    columns: tuple[int, int]
    reason: str


def _tile_grid(node) -> tuple[int, int]:
    return int(node.chunks[0]), int(node.chunks[1])


def find_damaged_tiles(node, where: str) -> list[DamagedTile]:
    """Decode every tile of ``node`` (a row of tiles at a time) and list those that fail."""
    tile_h, tile_w = _tile_grid(node)
    height, width = int(node.shape[0]), int(node.shape[1])
    damaged = []
    for r in range(-(-height // tile_h)):
        band = slice(r * tile_h, min((r + 1) * tile_h, height))
        try:
            node[band, :]
            continue
        except Exception:  # some tile of this row is damaged: which
            pass
        for c in range(-(-width // tile_w)):
            x = slice(c * tile_w, min((c + 1) * tile_w, width))
            try:
                node[band, x]
            except Exception as exc:
                damaged.append(
                    DamagedTile(
                        r, c, (band.start, band.stop), (x.start, x.stop), _reason(where, r, c, exc)
                    )
                )
    return damaged


def _reason(where: str, row: int, column: int, exc: Exception) -> str:
    why = f"{type(exc).__name__}: {exc}"
    return f"{where}: tile at row {row}, column {column} cannot be read: {why}"


def read_tiles(
    node, rows: slice, cols: slice, where: str, damaged: frozenset = frozenset()
) -> np.ndarray:
    """``node[rows, cols]`` of a tiled array (tifffile's Zarr view of a TIFF level, a Zarr
    array); a tile that cannot be decoded is one :class:`ImageReadError` naming it, unless it
    is one of the ``damaged`` ``(row, column)`` tiles, which read as zeros.

    ``where`` names the file (and level) in the message.
    """
    if damaged:
        return _read_around(node, rows, cols, where, damaged)
    try:
        return np.asarray(node[rows, cols])
    except Exception as exc:
        # the region failed: find the tile that does, so the message can name it
        tile_h, tile_w = (int(c) for c in node.chunks[:2])
        y0, y1, _ = rows.indices(node.shape[0])
        x0, x1, _ = cols.indices(node.shape[1])
        for r in range(y0 // tile_h, (y1 - 1) // tile_h + 1):
            for c in range(x0 // tile_w, (x1 - 1) // tile_w + 1):
                try:
                    node[r * tile_h : (r + 1) * tile_h, c * tile_w : (c + 1) * tile_w]
                except Exception as tile_exc:
                    raise ImageReadError(
                        f"{where}: tile at row {r}, column {c} (pixels from y {r * tile_h},"
                        f" x {c * tile_w}, {tile_h} x {tile_w}) cannot be read:"
                        f" {type(tile_exc).__name__}: {tile_exc}"
                    ) from tile_exc
        raise ImageReadError(
            f"{where}: cannot read rows {y0}-{y1}, columns {x0}-{x1}: {exc}"
        ) from exc


def _read_around(node, rows: slice, cols: slice, where: str, damaged: frozenset) -> np.ndarray:
    """``node[rows, cols]`` tile by tile, the ``damaged`` tiles as zeros."""
    tile_h, tile_w = _tile_grid(node)
    y0, y1, _ = rows.indices(node.shape[0])
    x0, x1, _ = cols.indices(node.shape[1])
    out = np.zeros((y1 - y0, x1 - x0, *node.shape[2:]), node.dtype)
    for r in range(y0 // tile_h, (y1 - 1) // tile_h + 1):
        for c in range(x0 // tile_w, (x1 - 1) // tile_w + 1):
            if (r, c) in damaged:
                continue
            ty = slice(max(y0, r * tile_h), min(y1, (r + 1) * tile_h))
            tx = slice(max(x0, c * tile_w), min(x1, (c + 1) * tile_w))
            out[ty.start - y0 : ty.stop - y0, tx.start - x0 : tx.stop - x0] = read_tiles(
                node, ty, tx, where
            )
    return out


class _FileArray:
    """A TIFF or Zarr file as a lazily read array that pickles as its path, so that process
    and distributed workers open the file themselves (tifffile's store holds a lock)."""

    def __init__(self, path: Path, damaged: frozenset = frozenset()):
        self.path = Path(path)
        self.damaged = damaged  # (row, column) tiles to read as zeros
        self._node = lazy_array(self.path)
        self.shape = tuple(int(s) for s in self._node.shape)
        self.dtype = np.dtype(self._node.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        if self._node is None:
            self._node = lazy_array(self.path)
        if isinstance(key, tuple) and len(key) >= 2 and all(isinstance(k, slice) for k in key):
            tiles = read_tiles(self._node, key[0], key[1], str(self.path), self.damaged)
            return tiles[(slice(None), slice(None), *key[2:])]
        return np.asarray(self._node[key])

    def __getstate__(self):
        return {**self.__dict__, "_node": None}

    def __dask_tokenize__(self):
        stat = self.path.stat()
        return (str(self.path.resolve()), stat.st_mtime_ns, stat.st_size, self.shape)


def damaged_tiles(source) -> list[DamagedTile]:
    """The tiles of a TIFF or Zarr file, or of a slide level read by tifffile, that cannot be
    decoded (each decoded once to find out); [] for other sources."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix.lower() in (".tif", ".tiff", ".zarr"):
            return find_damaged_tiles(lazy_array(path), str(path))
        return []
    scan = getattr(source, "damaged_tiles", None)
    return scan() if callable(scan) else []


def open_lazy(source, chunk: int, damaged: frozenset = frozenset()):
    """A lazy ``(H, W, C)`` Dask array of the raw pixels of ``source``, in ``chunk`` tiles.

    ``source`` is a TIFF or Zarr path, or an array (NumPy, Zarr or Dask). Other files
    (PNG, JPEG) are decoded whole: they cannot be read by parts. ``damaged`` ``(row,
    column)`` tiles of the file's own tiling read as zeros (:func:`damaged_tiles`).
    """
    if damaged and not isinstance(source, (str, os.PathLike)):
        source.damaged = frozenset(damaged)  # a slide level: it reads them as zeros
    _, da = dask_modules()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageReadError(f"{path}: no such file")
        from ..omezarr import OmeZarrImage, is_ome_zarr

        if is_ome_zarr(path):
            lazy = OmeZarrImage(path)  # its base level, channels last
            array = da.from_array(
                lazy, chunks=(chunk, chunk, -1), lock=False, meta=np.empty((0, 0, 0), lazy.dtype)
            )
        elif path.suffix.lower() in (".tif", ".tiff", ".zarr") or path.is_dir():
            lazy = _FileArray(path, frozenset(damaged))
            array = da.from_array(
                lazy,
                chunks=(chunk,) * min(2, lazy.ndim) + (-1,) * (lazy.ndim - 2),
                lock=False,
                meta=np.empty((0,) * lazy.ndim, lazy.dtype),
            )
        else:
            from ..io import read_array

            array = da.from_array(read_array(path))
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


def scale_tile(block: np.ndarray, low: float, high: float, normalize: str) -> np.ndarray:
    """A tile's raw pixels as float32 in [0, 1]: by the image's ``low`` and ``high`` with
    ``"minmax"``, else by its dtype, as whole images are."""
    if normalize == "minmax":
        out = block.astype(np.float32)
        return ((out - low) / (high - low) if high > low else np.zeros_like(out)).astype(np.float32)
    return check_image(block, source="tile")


def is_tiff(path: Path) -> bool:
    """Whether ``path`` is named as a TIFF."""
    return path.suffix.lower() in (".tif", ".tiff")


def larger_than(path: Path, chunk: int) -> bool:
    """Whether an image file is larger than ``chunk`` pixels on a side, read from its header
    (no pixels are decoded; an unreadable file is left to the prediction to report)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff", ".zarr"):
            shape = lazy_array(path).shape
        elif suffix == ".npy":
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
            if len(shape) == 3 and shape[0] in (1, 3, 4):  # the course's channels first
                shape = shape[1:]
        else:
            from PIL import Image

            with Image.open(path) as picture:
                shape = picture.size[::-1]
    except Exception:
        return False
    return max(shape[0], shape[1]) > chunk
