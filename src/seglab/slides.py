"""Whole-slide images read lazily: a level, its pixel size, and where the tissue is.

Scanner formats (SVS, NDPI, MRXS, SCN, VMS, BIF) are read through OpenSlide, whose wheel
(``openslide-bin``) bundles the C library; pyramidal TIFF through tifffile (pure Python, the
same reader seglab uses for tiled TIFF). A level is an array-like that pickles as its path and
level, so each Dask worker, thread pool or cluster process opens the slide itself: slide handles
do not pickle. Needs the ``interop`` extra for the scanner formats.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np

from .errors import ImageReadError, ParameterError, SeglabError

__all__ = [
    "OPENSLIDE_SUFFIXES",
    "ResampledLevel",
    "SlideLevel",
    "is_slide",
    "open_level",
    "tiff_pixel_size",
    "tissue_mask",
]

#: files read through OpenSlide (pyramidal TIFF goes through tifffile)
OPENSLIDE_SUFFIXES = (".svs", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu", ".bif", ".svslide")
TIFF_SUFFIXES = (".tif", ".tiff")


def is_slide(path) -> bool:
    """True for a scanner format, or a TIFF that holds a pyramid of several levels."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in OPENSLIDE_SUFFIXES:
        return True
    if suffix in TIFF_SUFFIXES and path.is_file():
        return len(_tiff_levels(path)) > 1
    return False


@functools.lru_cache(maxsize=16)
def _openslide(path: str):
    """One OpenSlide handle per file and process (cached: opening parses the whole index)."""
    try:
        import openslide
    except ImportError:
        raise SeglabError(
            f"{path}: reading scanner slides needs OpenSlide: pip install 'seglab[interop]'"
        ) from None
    try:
        return openslide.OpenSlide(path)
    except Exception as exc:  # OpenSlideUnsupportedFormatError, OpenSlideError, OSError
        raise ImageReadError(f"{path}: not a slide OpenSlide can read ({exc})") from None


def _tiff_levels(path: Path) -> list[tuple[int, int]]:
    """(height, width) of each level of a TIFF's first series, base level first."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            return [tuple(int(s) for s in level.shape[:2]) for level in series.levels]
    except Exception as exc:
        raise ImageReadError(f"{path}: cannot open as TIFF ({exc})") from None


def tiff_pixel_size(path: Path) -> float | None:
    """Micrometres per pixel of a TIFF's base level, from its resolution tags, or None.

    Only a resolution in pixels per centimetre is trusted (what slide scanners, OME-TIFF and
    seglab write): pixels per inch is most often a screen's 72 or 96 dpi, not a pixel size.
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages[0].tags
            if "XResolution" not in tags or "ResolutionUnit" not in tags:
                return None
            numerator, denominator = tags["XResolution"].value
            unit = int(tags["ResolutionUnit"].value)
    except Exception:  # not a TIFF, or unreadable tags: no pixel size
        return None
    per_centimetre = numerator / denominator if denominator else 0.0
    if unit != 3 or not per_centimetre > 0:
        return None
    return 1e4 / per_centimetre


class SlideLevel:
    """One level of a slide as a lazily read ``(H, W, 3)`` uint8 array.

    Parameters
    ----------
    path : path
        The slide file.
    level : int
        0 is the full resolution.

    Attributes
    ----------
    shape, dtype, ndim
        As an array's.
    mpp : float or None
        Micrometres per pixel at this level (None when the file does not say).
    downsample : float
        This level's pixel size over the base level's.
    levels : list of (height, width)
        Every level of the slide.
    """

    def __init__(self, path, level: int = 0):
        self.path = Path(path)
        if not self.path.exists():
            raise ImageReadError(f"{self.path}: no such file")
        self.reader = "openslide" if self.path.suffix.lower() in OPENSLIDE_SUFFIXES else "tifffile"
        if self.reader == "openslide":
            slide = _openslide(str(self.path))
            self.levels = [(int(h), int(w)) for w, h in slide.level_dimensions]
            mpp = slide.properties.get("openslide.mpp-x")
            base_mpp = float(mpp) if mpp else None
        else:
            self.levels = _tiff_levels(self.path)
            base_mpp = tiff_pixel_size(self.path)
        if not isinstance(level, (int, np.integer)) or not 0 <= level < len(self.levels):
            raise ParameterError(
                f"--level {level}: {self.path.name} has levels 0 to {len(self.levels) - 1}"
                f" ({', '.join(f'{w}x{h}' for h, w in self.levels)})"
            )
        self.level = int(level)
        height, width = self.levels[self.level]
        self.downsample = self.levels[0][1] / width
        self.mpp = base_mpp * self.downsample if base_mpp else None
        self.shape = (height, width, 3)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 3
        self._node = None

    def _tiff_node(self):
        if self._node is None:
            import tifffile
            import zarr

            store = tifffile.imread(self.path, aszarr=True, level=self.level)
            self._node = zarr.open(store, mode="r")
        return self._node

    def __getitem__(self, key) -> np.ndarray:
        rows, cols = key[0], key[1]
        y0, y1, _ = rows.indices(self.shape[0])
        x0, x1, _ = cols.indices(self.shape[1])
        if self.reader == "openslide":
            slide = _openslide(str(self.path))
            scale = slide.level_downsamples[self.level]
            # read_region takes the top-left corner in level-0 pixels
            corner = (round(x0 * scale), round(y0 * scale))
            region = np.asarray(slide.read_region(corner, self.level, (x1 - x0, y1 - y0)))
            pixels = region[..., :3]
        else:
            from .tiling.reading import read_tiles

            where = f"{self.path}, level {self.level}"
            damaged = getattr(self, "damaged", frozenset())
            pixels = read_tiles(self._tiff_node(), slice(y0, y1), slice(x0, x1), where, damaged)
            if pixels.ndim == 2:
                pixels = np.repeat(pixels[..., None], 3, axis=-1)
            pixels = pixels[..., :3]
        return pixels[(slice(None), slice(None), *key[2:])] if len(key) > 2 else pixels

    def __getstate__(self):
        return {**self.__dict__, "_node": None}

    def __dask_tokenize__(self):
        stat = self.path.stat()
        return (str(self.path.resolve()), self.level, stat.st_mtime_ns, stat.st_size)

    def damaged_tiles(self) -> list:
        """The tiles of this level that cannot be decoded (each tile decoded once); [] for a
        slide read by OpenSlide, which reports a damaged tile only as it reads it."""
        if self.reader == "openslide":
            return []
        from .tiling.reading import find_damaged_tiles

        return find_damaged_tiles(self._tiff_node(), f"{self.path}, level {self.level}")

    def read(self) -> np.ndarray:
        """The whole level in memory (for small levels: thumbnails, tissue detection)."""
        return self[slice(None), slice(None)]


class ResampledLevel:
    """A slide level reduced by ``factor`` (> 1), read and resampled tile by tile.

    Each requested box is read from the matching box of ``level`` and resized with
    anti-aliasing, so a seam between tiles may differ from a whole-level resampling by a
    fraction of a source pixel.
    """

    def __init__(self, level: SlideLevel, factor: float):
        self.level, self.factor = level, float(factor)
        self.path, self.levels = level.path, level.levels
        h, w = level.shape[:2]
        self.shape = (max(1, int(h / factor)), max(1, int(w / factor)), 3)
        self.dtype, self.ndim = level.dtype, 3
        self.downsample = level.downsample * self.factor
        self.mpp = level.mpp * self.factor if level.mpp else None

    def __getitem__(self, key) -> np.ndarray:
        from skimage.transform import resize

        y0, y1, _ = key[0].indices(self.shape[0])
        x0, x1, _ = key[1].indices(self.shape[1])
        f = self.factor
        source = self.level[
            int(y0 * f) : min(math.ceil(y1 * f), self.level.shape[0]),
            int(x0 * f) : min(math.ceil(x1 * f), self.level.shape[1]),
        ]
        out = resize(source, (y1 - y0, x1 - x0), order=1, anti_aliasing=True, preserve_range=True)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def __dask_tokenize__(self):
        return (*self.level.__dask_tokenize__(), self.factor)


def open_level(
    path, level: int | None = None, mpp: float | None = None
) -> SlideLevel | ResampledLevel:
    """The level of a slide to predict: ``level`` by number, or the pixel size ``mpp``.

    With ``mpp`` (micrometres per pixel), the finest level whose pixels are no larger than
    ``mpp`` is read and, when its pixels are smaller, resampled to ``mpp``. A pixel size finer
    than the base level's, or a slide that does not state its pixel size, is refused.
    """
    if level is not None and mpp is not None:
        raise ParameterError("give --level or --mpp, not both")
    base = SlideLevel(path, 0 if level is None else level)
    if mpp is None:
        return base
    if not mpp > 0:
        raise ParameterError(f"--mpp {mpp}: expected micrometres per pixel, > 0")
    if base.mpp is None:
        raise ParameterError(f"--mpp: {base.path.name} does not state its pixel size; use --level")
    if mpp < base.mpp * (1 - 1e-6):
        raise ParameterError(
            f"--mpp {mpp:g} is finer than the slide's base level ({base.mpp:.4g} µm per pixel);"
            f" the finest it has is --mpp {base.mpp:.4g}"
        )
    chosen = 0
    for k, (_, width) in enumerate(base.levels):
        if base.mpp * base.levels[0][1] / width <= mpp * (1 + 1e-6):
            chosen = k
    nearest = SlideLevel(path, chosen) if chosen else base
    factor = mpp / nearest.mpp
    return nearest if math.isclose(factor, 1.0, rel_tol=1e-3) else ResampledLevel(nearest, factor)


def tissue_mask(slide, min_side: int = 256) -> tuple[np.ndarray, float]:
    """Where the tissue is, from the slide's coarsest level at least ``min_side`` pixels long.

    A pixel is tissue when it is coloured (channel spread above 12 of 255) or dark (mean below
    215 of 255), the two ways stained tissue differs from bright, grey glass; the map is
    dilated by a pixel so that tile edges near tissue are kept. Returns the boolean map and its
    downsample against ``slide``'s level (multiply map coordinates by it to get the level's).
    """
    from scipy import ndimage as ndi

    long_enough = [k for k, (h, w) in enumerate(slide.levels) if max(h, w) >= min_side]
    coarse = SlideLevel(slide.path, long_enough[-1] if long_enough else 0)
    pixels = coarse.read().astype(np.int16)
    spread = pixels.max(-1) - pixels.min(-1)
    tissue = (spread > 12) | (pixels.mean(-1) < 215)
    tissue = ndi.binary_dilation(tissue, iterations=1)
    return tissue, slide.shape[1] / coarse.shape[1]


def tile_has_tissue(
    tissue: np.ndarray, factor: float, rows: tuple[int, int], cols: tuple[int, int]
) -> bool:
    """True when the map marks tissue anywhere in the level's pixel box ``rows`` x ``cols``."""
    r0, r1 = int(rows[0] // factor), math.ceil(rows[1] / factor)
    c0, c1 = int(cols[0] // factor), math.ceil(cols[1] / factor)
    return bool(tissue[max(r0, 0) : r1 + 1, max(c0, 0) : c1 + 1].any())


def slide_id(path: os.PathLike) -> str:
    """The stem the outputs of a slide are named by (``slide.ome.tif`` gives ``slide``)."""
    name = Path(path).name
    for suffix in (".ome.tiff", ".ome.tif", ".ome.zarr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem
