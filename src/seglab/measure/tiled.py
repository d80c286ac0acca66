"""Per-cell N/C of masks too large for memory, tile by tile: each cell once, measured whole."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..errors import ParameterError, ShapeError

__all__ = ["count_labels", "iter_cells_tiled", "per_cell_nc_tiled"]


def count_labels(mask, tile: int = 2048) -> dict[int, int]:
    """Pixels of each label of a 2-D mask read ``tile`` rows at a time."""
    counts: dict[int, int] = {}
    for y in range(0, int(mask.shape[0]), tile):
        values, n = np.unique(np.asarray(mask[y : y + tile]), return_counts=True)
        for v, k in zip(values.tolist(), n.tolist(), strict=True):
            counts[int(v)] = counts.get(int(v), 0) + int(k)
    return counts


def per_cell_nc_tiled(
    mask,
    image_id: str = "",
    tile: int = 2048,
    halo: int = 256,
    pixel_size: float | None = None,
    high_ratio: float | None = None,
    progress: bool = False,
    tally: dict | None = None,
) -> list[dict]:
    """:func:`seglab.measure.per_cell_nc` of a mask too large for memory, tile by tile.

    Each group of touching cells (a connected region of cytoplasm + nucleus) is measured in
    the one tile that holds its first pixel (row-major), read with ``halo`` pixels of its
    neighbours; so a cell crossing a tile border is counted once and measured whole. Cells
    are numbered as in whole-image measurement (order of first pixel). A group larger than
    the halo raises ParameterError naming a larger ``halo`` to use. See
    :func:`iter_cells_tiled` for the cells one at a time, each with a description (a QuPath
    object, say).
    """
    cells = iter_cells_tiled(
        mask, image_id, tile, halo, pixel_size, high_ratio, progress, tally=tally
    )
    return [row for row, _ in cells]


def iter_cells_tiled(
    mask,
    image_id: str = "",
    tile: int = 2048,
    halo: int = 256,
    pixel_size: float | None = None,
    high_ratio: float | None = None,
    progress: bool = False,
    describe: Callable | None = None,
    tally: dict | None = None,
) -> Iterator[tuple[dict, object]]:
    """The cells of :func:`per_cell_nc_tiled`, in order, as ``(row, description)`` pairs.

    ``describe(mask, cells, rows, offset, high_ratio)`` gives each cell of a block its
    description in full-resolution coordinates (``offset`` is the block's first pixel), for
    example its QuPath object (:func:`seglab.qupath.cell_features`); without it the
    description is None. Cells are yielded one
    row of tiles at a time: once a row of tiles is read, every cell whose first pixel lies
    in it or above is known (later rows own only groups that start below), so only a row of
    tiles' cells (and those of its groups reaching lower) is held in memory. A dict passed as
    ``tally`` gets ``debris``: the fragments left out of the cells, counted as they are met.
    """
    from ..tiling import check_chunk, lazy_array
    from .nc import HIGH_NC_CELL_RATIO

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
                mask, (h, w), (ty, tx), tile, halo, image_id, pixel_size, high_ratio, describe,
                tally if tally is not None else {},
            )  # fmt: skip
        # Later rows of tiles own groups starting below this row, so every cell starting
        # in it or above is found; cells of this row's groups starting lower wait.
        pending.sort(key=lambda item: item[0])
        done = sum(1 for first, _, _ in pending if first[0] < ty + tile)
        for _, row, description in pending[:done]:
            numbered += 1
            row["cell"] = numbered  # as whole-image measurement numbers it
            yield row, description
        del pending[:done]
    bar.close()


#: The widest window a group of touching cells larger than the halo is read in, per side: a
#: second pass reads each such group whole, doubling its window until the group fits.
MAX_GROUP_WINDOW = 8192


def _tile_cells(mask, shape, start, tile, halo, image_id, pixel_size, high_ratio, describe, tally):
    """The cells whose first pixel lies in the tile at ``start``: (first pixel, row,
    description)."""
    from scipy import ndimage as ndi

    from .nc import CYTOPLASM, NUCLEUS

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
    # A group touching a cut edge (not an image edge) was not read whole: it is read again,
    # whole, in a window of its own.
    cut = _cut_groups(groups, n_groups, (y0, y1, x0, x1), (h, w))
    keep = np.zeros(n_groups + 1, bool)
    keep[ids[owned & ~cut[ids]]] = True
    pieces = [((y0, x0), np.where(keep[groups], block, 0))] if keep.any() else []
    seen = set()
    for r, c in zip(first_row[owned & cut[ids]], first_col[owned & cut[ids]], strict=True):
        origin, sub = _whole_group(mask, (h, w), (int(r) + y0, int(c) + x0), (y0, y1, x0, x1))
        # Cut, its part here may start after the group does (above, or left of this tile),
        # and one group may show here as several parts: keep it once, in its first pixel's tile.
        fr, fc = divmod(int(np.flatnonzero(sub)[0]), sub.shape[1])
        first = (fr + origin[0], fc + origin[1])
        if ty <= first[0] < ty + tile and tx <= first[1] < tx + tile and first not in seen:
            seen.add(first)
            pieces.append((origin, sub))
    out = []
    for origin, sub in pieces:
        out += _measure_piece(
            sub, origin, (h, w), image_id, pixel_size, high_ratio, describe, tally
        )
    return out


def _cut_groups(groups, n_groups, window, shape) -> np.ndarray:
    """Which groups of a window touch one of its edges that is not the image's."""
    (y0, y1, x0, x1), (h, w) = window, shape
    cut = np.zeros(n_groups + 1, bool)
    for edge, is_cut in (
        (groups[0], y0 > 0),
        (groups[-1], y1 < h),
        (groups[:, 0], x0 > 0),
        (groups[:, -1], x1 < w),
    ):
        if is_cut:
            cut[edge] = True
    cut[0] = False
    return cut


def _whole_group(mask, shape, point, window):
    """The group of touching cells through ``point``, read whole: its window's corner and the
    window with only that group. The window doubles its margin until the group fits, up to
    :data:`MAX_GROUP_WINDOW` a side; beyond that the group is measured within that window and
    a warning says where."""
    import warnings

    from scipy import ndimage as ndi

    from .nc import CYTOPLASM, NUCLEUS

    (h, w), (py, px) = shape, point
    y0, y1, x0, x1 = window
    margin = max(y1 - y0, x1 - x0)
    while True:
        y0, y1 = max(0, py - margin), min(h, py + margin)
        x0, x1 = max(0, px - margin), min(w, px + margin)
        block = np.asarray(mask[y0:y1, x0:x1])
        groups, n_groups = ndi.label((block == NUCLEUS) | (block == CYTOPLASM))
        mine = groups == groups[py - y0, px - x0]
        fits = not _cut_groups(groups, n_groups, (y0, y1, x0, x1), (h, w))[groups[py - y0, px - x0]]
        if fits or 2 * margin >= MAX_GROUP_WINDOW:
            if not fits:
                warnings.warn(
                    f"a group of touching cells at row {py}, column {px} is wider than"
                    f" {MAX_GROUP_WINDOW} pixels: its cells are measured within that window",
                    stacklevel=2,
                )
            return (y0, x0), np.where(mine, block, 0)
        margin *= 2


def _measure_piece(sub, origin, shape, image_id, pixel_size, high_ratio, describe, tally):
    """Measure the cells of ``sub`` (a window at ``origin`` holding whole groups only)."""
    from .cells import find_cells
    from .nc import per_cell_nc

    (h, w), (y0, x0) = shape, origin
    cells, debris = find_cells(sub, pixel_size=pixel_size)
    tally["debris"] = tally.get("debris", 0) + int(debris.max())
    rows = per_cell_nc(
        sub, image_id=image_id, pixel_size=pixel_size, high_ratio=high_ratio, cells=cells
    )
    _, cell_first = np.unique(cells.ravel(), return_index=True)
    cell_first = cell_first[1:]  # label 0 first
    firsts = []
    for row, index in zip(rows, cell_first, strict=True):
        r, c = divmod(int(index), sub.shape[1])
        row["centroid_row"] += y0
        row["centroid_col"] += x0
        for key, offset in (("min_row", y0), ("max_row", y0), ("min_col", x0), ("max_col", x0)):
            row[key] += offset
        row["touches_border"] = bool(
            row["min_row"] == 0 or row["min_col"] == 0 or row["max_row"] == h - 1
            or row["max_col"] == w - 1
        )  # fmt: skip
        firsts.append((r + y0, c + x0))
    descriptions = [None] * len(rows)
    if describe is not None:
        descriptions = describe(sub, cells, rows, (y0, x0), high_ratio)
    return list(zip(firsts, rows, descriptions, strict=True))
