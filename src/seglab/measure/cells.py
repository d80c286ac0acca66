"""Cells of a mask: which pixels make one cell.

Two rules live here. :func:`reference_cells` is the fixed rule that turns a true mask into the
cells every per-cell score is measured against (it is never tuned). :func:`label_cells` is how
seglab finds cells in a predicted mask: the same geodesic split, after the clean-up a predicted
mask needs (nucleus specks that would seed cells of their own, fragments too small to be cells),
with what it leaves out marked as debris rather than reported as cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import ParameterError, ShapeError

__all__ = [
    "CellRules",
    "FoundCells",
    "find_cells",
    "geodesic_split",
    "label_cells",
    "reference_cells",
    "renumber_by_first_pixel",
]

CYTOPLASM = 1
NUCLEUS = 2


def renumber_by_first_pixel(labels) -> np.ndarray:
    """``labels`` renumbered 1..n in the order of each label's first pixel (row-major).

    Examples
    --------
    >>> renumber_by_first_pixel(np.array([[0, 7, 7, 3], [5, 0, 3, 3]])).tolist()
    [[0, 1, 1, 2], [3, 0, 2, 2]]
    """
    labels = np.asarray(labels)
    values, first = np.unique(labels.ravel(), return_index=True)
    order = values[np.argsort(first)]
    order = order[order > 0]
    lookup = np.zeros(int(labels.max(initial=0)) + 1, np.int64)
    lookup[order] = np.arange(1, len(order) + 1)
    return lookup[labels]


def geodesic_split(region, seeds) -> np.ndarray:
    """Split ``region`` between labelled ``seeds``: each pixel goes to the seed nearest to it
    along paths inside its connected part of ``region`` (4-connected parts; path lengths
    measured with Euclidean steps in 8 directions).

    Parts of ``region`` that hold no seed are left 0. Seeds outside ``region`` are ignored.

    Examples
    --------
    A bar with a seed at each end splits in the middle; the part on the right has no seed:

    >>> region = np.array([[1, 1, 1, 1, 1, 1, 0, 1]], bool)
    >>> seeds = np.array([[1, 0, 0, 0, 0, 2, 0, 0]])
    >>> geodesic_split(region, seeds).tolist()
    [[1, 1, 1, 2, 2, 2, 0, 0]]
    """
    from scipy import ndimage as ndi

    region = np.asarray(region, bool)
    seeds = np.asarray(seeds)
    if region.shape != seeds.shape or region.ndim != 2:
        raise ShapeError(f"region {region.shape} and seeds {seeds.shape} must be one 2-D shape")
    seeds = np.where(region, seeds, 0)
    cells = np.zeros(region.shape, np.int64)
    # Each 4-connected part on its own, in its own box: MCP steps diagonally, and would
    # otherwise cross between parts that touch at a corner only; and a part's cells then do
    # not depend on what lies around it (a tile of a slide gives the whole image's cells).
    parts, _ = ndi.label(region)
    for k, box in enumerate(ndi.find_objects(parts), start=1):
        inside = parts[box] == k
        part_seeds = np.where(inside, seeds[box], 0)
        if part_seeds.any():
            cells[box][inside] = _nearest_seed(inside, part_seeds)[inside]
    return cells


def _nearest_seed(inside: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The label of the seed each pixel of ``inside`` is reached from on its shortest path."""
    from scipy import ndimage as ndi
    from skimage.graph import MCP_Geometric

    # Paths start from the seeds' rims only (pixels with an 8-neighbour outside their seed): a
    # shortest path out of a seed leaves it from its rim, so the costs are the same, and MCP
    # runs 3 to 5 times faster than from every seed pixel (course test masks, 2 cores).
    own = np.where(inside, seeds, -1)
    rim = (seeds > 0) & (
        (ndi.maximum_filter(own, size=3, mode="constant", cval=-1) != own)
        | (ndi.minimum_filter(own, size=3, mode="constant", cval=-1) != own)
    )
    mcp = MCP_Geometric(np.where(inside, 1.0, np.inf))
    _, traceback = mcp.find_costs(np.argwhere(rim))
    h, w = inside.shape
    rows, cols = np.indices((h, w))
    offsets = np.asarray(mcp.offsets)
    reached = inside & (traceback >= 0) & (seeds == 0)  # seed pixels keep their own label
    step = np.where(reached, traceback, 0)
    previous = np.arange(h * w).reshape(h, w)  # seeds and unreached pixels point to themselves
    previous[reached] = ((rows - offsets[step, 0]) * w + (cols - offsets[step, 1]))[reached]
    previous = previous.ravel()
    while True:  # pointer jumping: log(path length) rounds
        further = previous[previous]
        if np.array_equal(further, previous):
            break
        previous = further
    return np.where(inside, seeds.ravel()[previous].reshape(h, w), 0)


def reference_cells(mask, nucleus: int = NUCLEUS, cytoplasm: int = CYTOPLASM) -> np.ndarray:
    """The true cells of an annotated mask, by one fixed rule, as an (H, W) label image.

    Every connected nucleus component (4-connected, as throughout) seeds one cell; the
    cytoplasm of a connected cytoplasm + nucleus region goes to the seed nearest to it along
    paths inside that region (:func:`geodesic_split`); a region without any nucleus is one
    cell. Cells are numbered by their first pixel. This is the rule seglab's per-cell scores
    compare against; it has no parameter to tune.

    Examples
    --------
    Two nuclei share one region; the cytoplasm on the right holds no nucleus:

    >>> m = np.array([[2, 1, 1, 1, 2, 0, 1]])
    >>> reference_cells(m).tolist()
    [[1, 1, 1, 2, 2, 0, 3]]
    """
    from scipy import ndimage as ndi

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ShapeError(f"cells need a 2-D mask, got shape {mask.shape}")
    region = (mask == nucleus) | (mask == cytoplasm)
    seeds, _ = ndi.label(mask == nucleus)
    cells = geodesic_split(region, seeds)
    rest, _ = ndi.label(region & (cells == 0))
    cells = np.where(rest > 0, rest + cells.max(), cells)
    return renumber_by_first_pixel(cells)


@dataclass(frozen=True)
class CellRules:
    """How :func:`find_cells` cleans a predicted mask before splitting it into cells.

    Areas are in µm² when the pixel size is known and in pixels otherwise (the ``*_px``
    fallbacks, sized for the course images at about 0.5 µm per pixel).

    Parameters
    ----------
    bridge_um, bridge_px : float
        Nucleus fragments this close are joined into one seed across pixels the model gives
        at least ``bridge_probability`` of being nucleus (a morphological closing of that
        radius, limited to those pixels): a pixel classifier breaks a large nucleus into
        pieces. A true mask has no such pixels between its nuclei, so they stay apart.
    bridge_probability : float
        See ``bridge_um``.
    min_nucleus_um2, min_nucleus_px : float
        A nucleus fragment smaller than this seeds no cell: a speck, not a nucleus.
    dwarfed_nucleus : float
        A nucleus fragment under this share of the largest nucleus of its connected region
        seeds no cell unless the model is sure of it (``sure_nucleus``): the specks a pixel
        classifier leaves in a cytoplasm would otherwise cut one cell into many.
    sure_nucleus : float
        Mean nucleus probability at which a fragment seeds a cell whatever its share. A mask
        without probabilities is sure of every pixel, so on a true mask every nucleus counts.
    min_cell_um2, min_cell_px : float
        A cell smaller than this is debris.
    nucleus_free : {"edge", "cell", "debris"}
        What a region without a nucleus is: ``"cell"``, a cell as in the reference rule (the
        default: on the course images most are cells cut by the image's edge, and predicted
        fragments are caught by the smallest cell area); ``"edge"``, a cell only when it
        touches the image's edge, debris elsewhere; ``"debris"``, never a cell.
    """

    bridge_um: float = 2.0
    bridge_px: float = 4
    bridge_probability: float = 0.2
    min_nucleus_um2: float = 5.0
    min_nucleus_px: float = 20
    dwarfed_nucleus: float = 0.1
    sure_nucleus: float = 0.8
    min_cell_um2: float = 6.0
    min_cell_px: float = 25
    nucleus_free: str = "cell"

    def __post_init__(self):
        if self.nucleus_free not in ("edge", "cell", "debris"):
            raise ParameterError(
                f"nucleus_free={self.nucleus_free!r}: expected 'edge', 'cell' or 'debris'"
            )
        for name in (
            "bridge_um",
            "bridge_px",
            "min_nucleus_um2",
            "min_nucleus_px",
            "min_cell_um2",
            "min_cell_px",
        ):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.integer, np.floating)) and value >= 0):
                raise ParameterError(f"{name}={value!r}: expected an area, 0 or more")
        for name in ("dwarfed_nucleus", "sure_nucleus", "bridge_probability"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.integer, np.floating)) and 0 <= value):
                raise ParameterError(f"{name}={value!r}: expected a share, 0 or more")

    def in_pixels(self, pixel_size: float | None) -> tuple[float, float, float]:
        """The bridge radius, the smallest nucleus and the smallest cell in pixels, at
        ``pixel_size`` µm per pixel (the ``*_px`` values when it is None)."""
        if pixel_size is None:
            return float(self.bridge_px), float(self.min_nucleus_px), float(self.min_cell_px)
        if not pixel_size > 0:
            raise ParameterError(f"pixel_size={pixel_size}: expected micrometres per pixel, > 0")
        area = float(pixel_size) ** 2
        return (
            self.bridge_um / float(pixel_size),
            self.min_nucleus_um2 / area,
            self.min_cell_um2 / area,
        )


class FoundCells(NamedTuple):
    """The cells of a mask (:func:`find_cells`) and what was left out as debris, both as
    (H, W) label images (0 = neither); cells are numbered by their first pixel."""

    cells: np.ndarray
    debris: np.ndarray


def _nucleus_probability(mask, proba, classes, nucleus):
    if proba is None:
        return (np.asarray(mask) == nucleus).astype(np.float32)
    proba = np.asarray(proba)
    labels = np.arange(proba.shape[-1]) if classes is None else np.asarray(classes)
    if proba.shape[:2] != np.shape(mask) or labels.shape != (proba.shape[-1],):
        raise ShapeError(
            f"probabilities {proba.shape} ({labels.size} classes) do not fit the mask"
            f" {np.shape(mask)}"
        )
    column = np.flatnonzero(labels == nucleus)
    if column.size == 0:
        return (np.asarray(mask) == nucleus).astype(np.float32)
    return proba[..., column[0]].astype(np.float32)


def find_cells(
    mask,
    proba=None,
    classes=None,
    pixel_size: float | None = None,
    rules: CellRules | None = None,
    nucleus: int = NUCLEUS,
    cytoplasm: int = CYTOPLASM,
) -> FoundCells:
    """The cells of a mask, and the debris left out of them.

    The rule is :func:`reference_cells`' (nuclei seed cells, cytoplasm goes to the nearest
    nucleus along paths inside its region), applied after the clean-up of ``rules``: nucleus
    fragments close together are joined across pixels the probabilities half-believe to be
    nucleus; fragments too small, or dwarfed by a larger nucleus of their region and unsure by the
    probabilities ``proba`` (columns in the order of ``classes``), seed nothing; a cell under
    the smallest cell area is debris, and so is a region without a nucleus if
    ``rules.nucleus_free`` says so. On a true mask (no probabilities) only the size rules act.

    Examples
    --------
    A speck of nucleus (probability 0.6) beside a large nucleus does not cut the cell in two;
    the 4-pixel fragment on the right is debris:

    >>> m = np.zeros((8, 30), int); m[1:7, 1:24] = 1; m[2:6, 2:14] = 2; m[3:5, 18:20] = 2
    >>> m[3:5, 27:29] = 1
    >>> p = np.zeros((8, 30, 3)); p[..., 2] = (m == 2) * 1.0; p[3:5, 18:20, 2] = 0.6
    >>> found = find_cells(m, p, rules=CellRules(min_nucleus_px=2, min_cell_px=5))
    >>> int(found.cells.max()), int(found.debris.max())
    (1, 1)
    >>> int(find_cells(m, rules=CellRules(min_nucleus_px=2, min_cell_px=5)).cells.max())
    2
    """
    from scipy import ndimage as ndi

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ShapeError(f"cells need a 2-D mask, got shape {mask.shape}")
    rules = rules or CellRules()
    bridge, min_nucleus, min_cell = rules.in_pixels(pixel_size)
    region = (mask == nucleus) | (mask == cytoplasm)
    regions, n_regions = ndi.label(region)
    probability = _nucleus_probability(mask, proba, classes, nucleus)
    nuclei = mask == nucleus
    if bridge >= 1 and proba is not None and nuclei.any():
        from skimage.morphology import closing, disk

        joined = closing(nuclei, disk(round(bridge))).astype(bool)
        nuclei |= joined & region & (probability >= rules.bridge_probability)
    seeds, n_seeds = ndi.label(nuclei)
    if n_seeds:
        index = np.arange(n_seeds + 1)
        sizes = np.bincount(seeds.ravel(), minlength=n_seeds + 1)
        sure = np.asarray(ndi.mean(probability, seeds, index))
        # Each fragment's region (any of its pixels: a fragment lies in one region).
        owner = np.zeros(n_seeds + 1, np.int64)
        owner[seeds.ravel()] = regions.ravel()
        largest = np.zeros(n_regions + 1)
        np.maximum.at(largest, owner[1:], sizes[1:])
        dwarfed = (sizes < rules.dwarfed_nucleus * largest[owner]) & (sure < rules.sure_nucleus)
        drop = (sizes < min_nucleus) | dwarfed
        drop[0] = True
        seeds = np.where(drop[seeds], 0, seeds)
    cells = geodesic_split(region, seeds)
    rest, n_rest = ndi.label(region & (cells == 0))
    if n_rest and rules.nucleus_free != "debris":
        kept = np.full(n_rest + 1, rules.nucleus_free == "cell")
        kept[np.concatenate([rest[0], rest[-1], rest[:, 0], rest[:, -1]])] = True
        kept[0] = False
        cells = np.where(kept[rest], rest + cells.max(), cells)
    sizes = np.bincount(cells.ravel())
    small = sizes < min_cell
    small[0] = False
    cells = np.where(small[cells], 0, cells)
    debris, _ = ndi.label(region & (cells == 0))
    return FoundCells(renumber_by_first_pixel(cells), debris.astype(np.int64))


def label_cells(
    mask,
    nucleus: int = NUCLEUS,
    cytoplasm: int = CYTOPLASM,
    proba=None,
    classes=None,
    pixel_size: float | None = None,
    rules: CellRules | None = None,
) -> np.ndarray:
    """The cells of :func:`find_cells` as an (H, W) int label image (0 = not a cell).

    Examples
    --------
    >>> m = np.zeros((6, 14), int); m[:, :] = 1; m[2:4, 1:5] = 2; m[2:4, 9:13] = 2
    >>> label_cells(m, rules=CellRules(min_nucleus_px=4)).max()
    np.int64(2)
    """
    found = find_cells(mask, proba, classes, pixel_size, rules, nucleus, cytoplasm)
    return found.cells
