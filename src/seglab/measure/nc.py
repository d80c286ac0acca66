"""The clinical measurement: nucleus-to-cytoplasm (N/C) ratio and its agreement with the truth."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError, ShapeError
from .cells import CellRules, find_cells

__all__ = [
    "CELL_FIELDS",
    "CYTOPLASM",
    "HIGH_NC_CELL_RATIO",
    "NC_ODDS_GRID",
    "NC_RANGE_ODDS",
    "NUCLEUS",
    "image_cell_summary",
    "image_summary_row",
    "nc_agreement",
    "nc_odds_needed",
    "nc_ratio",
    "nc_ratio_range",
    "nc_row",
    "nucleus_cell_ratio",
    "odds_for_coverage",
    "optical_density",
    "per_cell_nc",
    "per_cell_nc_range",
]

CYTOPLASM = 1
NUCLEUS = 2


def nc_ratio(mask, nucleus: int = NUCLEUS, cytoplasm: int = CYTOPLASM) -> float:
    """Nucleus pixels / cytoplasm pixels of a mask; NaN when there is no cytoplasm.

    Examples
    --------
    >>> nc_ratio([[0, 1, 1, 2]])
    0.5
    >>> nc_ratio([[0, 2]])
    nan
    """
    mask = np.asarray(mask)
    n_cytoplasm = int(np.count_nonzero(mask == cytoplasm))
    if n_cytoplasm == 0:
        return float("nan")
    return int(np.count_nonzero(mask == nucleus)) / n_cytoplasm


def nucleus_cell_ratio(mask, nucleus: int = NUCLEUS, cytoplasm: int = CYTOPLASM) -> float:
    """Nucleus pixels / (nucleus + cytoplasm) pixels of a mask; NaN when it has neither.

    Bounded by 0 and 1 where :func:`nc_ratio` is not: the measure of a single-cell crop.

    Examples
    --------
    >>> nucleus_cell_ratio([[0, 1, 1, 2]])
    0.3333333333333333
    >>> nucleus_cell_ratio([[0, 2]]), nucleus_cell_ratio([[0, 0]])
    (1.0, nan)
    """
    mask = np.asarray(mask)
    n_nucleus = int(np.count_nonzero(mask == nucleus))
    n_cell = n_nucleus + int(np.count_nonzero(mask == cytoplasm))
    return n_nucleus / n_cell if n_cell else float("nan")


#: Default factor of :func:`nc_ratio_range`. On the course images' 5-fold out-of-fold
#: predictions the range at 4 holds the true ratio on 76% of images for `rf`, 79% for the
#: ensemble and 59% for the sharper U-Net (docs/research/2026-11-25-nc-range.md); `seglab evaluate`
#: calibrates it for a wanted coverage (:func:`odds_for_coverage`).
NC_RANGE_ODDS = 4.0


def nc_ratio_range(
    proba,
    classes=None,
    odds: float = NC_RANGE_ODDS,
    nucleus: int = NUCLEUS,
    cytoplasm: int = CYTOPLASM,
) -> tuple[float, float]:
    """How far the N/C ratio moves if the nucleus probability were off by a factor ``odds``.

    The argmax mask of ``proba`` is taken twice, once with the nucleus column divided by
    ``odds`` and once multiplied by it, and the N/C ratio of each is returned. Scaling the
    nucleus up only turns pixels into nucleus, so ``low <= nc_ratio(argmax) <= high``. A
    narrow range means the ratio does not hinge on the pixels the model is unsure of; a wide
    one flags an image to check (its width ranks the images' true errors far better than the
    mean per-pixel uncertainty does).

    Parameters
    ----------
    proba : array (H, W, K)
        Class probabilities, columns in the order of ``classes``.
    classes : sequence of int, optional
        The label of each column (a segmenter's ``classes_``); default ``0 .. K-1``.
    odds : float
        Factor > 1 applied to the nucleus column, down then up.

    Returns
    -------
    (low, high) : tuple of float
        NaN where the scaled mask has no cytoplasm; both NaN when ``classes`` has no nucleus.

    Examples
    --------
    >>> p = np.array([[[0.0, 0.7, 0.3], [0.0, 0.4, 0.6], [0.0, 0.1, 0.9], [0.0, 0.9, 0.1]]])
    >>> low, high = nc_ratio_range(p, odds=4.0)  # argmax: 1 2 2 1, ratio 2 / 2 = 1
    >>> round(low, 3), high  # 1 1 2 1 and 2 2 2 1
    (0.333, 3.0)
    """
    masks = _range_masks(proba, classes, odds, nucleus)
    if masks is None:
        return float("nan"), float("nan")
    return nc_ratio(masks[0], nucleus, cytoplasm), nc_ratio(masks[1], nucleus, cytoplasm)


def _range_masks(proba, classes, odds: float, nucleus: int):
    """The argmax masks of ``proba`` with the nucleus column divided, then multiplied, by
    ``odds``; None when no column is the nucleus."""
    proba = np.asarray(proba, dtype=np.float32)
    if proba.ndim != 3:
        raise ShapeError(f"probabilities must be (H, W, K), got shape {proba.shape}")
    if not odds > 1:
        raise ValueError(f"odds must be > 1, got {odds}")
    labels = np.arange(proba.shape[-1]) if classes is None else np.asarray(classes)
    if labels.shape != (proba.shape[-1],):
        raise ShapeError(f"{labels.size} classes for {proba.shape[-1]} probability columns")
    column = np.flatnonzero(labels == nucleus)
    if column.size == 0:
        return None
    masks = []
    for factor in (1.0 / odds, odds):
        scaled = proba.copy()
        scaled[..., column[0]] *= factor
        masks.append(labels[scaled.argmax(-1)])
    return masks


def per_cell_nc_range(
    proba,
    cells,
    classes=None,
    odds: float = NC_RANGE_ODDS,
    nucleus: int = NUCLEUS,
    cytoplasm: int = CYTOPLASM,
) -> np.ndarray:
    """Each cell's N/C range: ``(n_cells, 2)`` low and high ratios, row k-1 for cell k.

    The cells are those of the argmax mask (:func:`~seglab.measure.cells.label_cells`); within
    each, nucleus and cytoplasm pixels are counted in the two masks of :func:`nc_ratio_range`.
    NaN where a cell has no cytoplasm left, or no column is the nucleus.

    Examples
    --------
    >>> p = np.array([[[0.0, 0.7, 0.3], [0.0, 0.4, 0.6], [1.0, 0.0, 0.0],
    ...                [0.0, 0.1, 0.9], [0.0, 0.9, 0.1]]])
    >>> cells = np.array([[1, 1, 0, 2, 2]])
    >>> per_cell_nc_range(p, cells, odds=4.0).tolist()  # cell 1: argmax 1 2, ratio 1
    [[0.0, nan], [1.0, 1.0]]
    """
    cells = np.asarray(cells)
    n = int(cells.max()) if cells.size else 0
    masks = _range_masks(proba, classes, odds, nucleus)
    if masks is None:
        return np.full((n, 2), np.nan)
    flat = cells.ravel()
    out = np.full((n, 2), np.nan)
    for j, mask in enumerate(masks):
        n_nucleus = np.bincount(flat, weights=mask.ravel() == nucleus, minlength=n + 1)[1:]
        n_cytoplasm = np.bincount(flat, weights=mask.ravel() == cytoplasm, minlength=n + 1)[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, j] = np.where(n_cytoplasm > 0, n_nucleus / n_cytoplasm, np.nan)
    return out


#: Odds :func:`nc_odds_needed` tries: 2 ** (k / 2) for k = 1 .. 12, so 1.41 to 64.
NC_ODDS_GRID = tuple(float(2 ** (k / 2)) for k in range(1, 13))


def nc_odds_needed(
    proba,
    true_ratio: float,
    classes=None,
    grid=NC_ODDS_GRID,
    nucleus: int = NUCLEUS,
    cytoplasm: int = CYTOPLASM,
) -> float:
    """The smallest odds in ``grid`` whose N/C range (:func:`nc_ratio_range`) holds
    ``true_ratio``; NaN when none does, or when the true ratio is undefined.

    The range widens as the odds grow, so an image's ratio is held at every odds from this one
    on. Over labelled images these values calibrate the odds for a wanted coverage
    (:func:`odds_for_coverage`).

    Examples
    --------
    >>> p = np.array([[[0.0, 0.7, 0.3], [0.0, 0.4, 0.6], [0.0, 0.1, 0.9], [0.0, 0.9, 0.1]]])
    >>> [round(nc_odds_needed(p, r), 3) for r in (1.0, 3.0, 100.0)]  # 3.0: 0.3 x 2.83 > 0.7
    [1.414, 2.828, nan]
    """
    if not np.isfinite(true_ratio):
        return float("nan")
    for odds in sorted(grid):
        low, high = nc_ratio_range(proba, classes, odds, nucleus, cytoplasm)
        if low <= true_ratio + 1e-12 and true_ratio <= high + 1e-12:
            return float(odds)
    return float("nan")


def odds_for_coverage(needed, coverage: float = 0.8) -> float:
    """The odds whose N/C range should hold the true ratio on a share ``coverage`` of new
    images, from the odds ``needed`` (:func:`nc_odds_needed`) on labelled ones.

    This is split-conformal calibration: the ``ceil((n + 1) * coverage)``-th smallest of the
    n values (NaN counts as larger than any), so that on images exchangeable with the
    labelled ones the expected coverage is at least ``coverage``. NaN when the n images are
    too few for that, or the value needed lies beyond the grid.

    Examples
    --------
    >>> odds_for_coverage([2.0, 4.0, 1.5, 8.0, float("nan")], 0.5)  # 3rd smallest of 5
    4.0
    >>> odds_for_coverage([2.0, 4.0], 0.8)  # ceil(3 * 0.8) = 3 > 2 images
    nan
    """
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be between 0 and 1, got {coverage}")
    values = np.sort(np.asarray(needed, dtype=np.float64))  # NaN sorts last
    k = int(np.ceil((values.size + 1) * coverage))
    return float(values[k - 1]) if k <= values.size else float("nan")


def nc_row(
    image: str, mask: np.ndarray, proba=None, classes=None, odds: float = NC_RANGE_ODDS
) -> dict:
    """One image's N/C figures: pixel counts and ratio of ``mask``; with its probabilities,
    also the N/C range (:func:`nc_ratio_range` at ``odds``) as ``nc_low``, ``nc_high``.

    Examples
    --------
    >>> nc_row("a", np.array([[0, 1, 2, 2]]))
    {'image': 'a', 'nucleus_px': 2, 'cytoplasm_px': 1, 'nc_ratio': 2.0}
    """
    n_nucleus, n_cytoplasm = int((mask == NUCLEUS).sum()), int((mask == CYTOPLASM).sum())
    row = {
        "image": image,
        "nucleus_px": n_nucleus,
        "cytoplasm_px": n_cytoplasm,
        "nc_ratio": n_nucleus / n_cytoplasm if n_cytoplasm else float("nan"),
    }
    if proba is not None:
        row["nc_low"], row["nc_high"] = nc_ratio_range(proba, classes, odds)
    return row


def nc_agreement(predicted, true, tol: float = 0.05) -> dict:
    """Agreement of predicted with true N/C ratios over images.

    Images whose true ratio is undefined (NaN) are left out. Predicted NaNs count as misses in
    ``within`` and are reported in ``nan``; the other statistics use the finite pairs.

    Returns
    -------
    dict
        ``mae``; ``r2`` against the identity line, ``1 - Σ(p-t)² / Σ(t-mean t)²``;
        ``within`` (fraction with ``|p - t| <= tol``); Bland–Altman ``bias`` (mean of p - t)
        and ``loa`` (bias ± 1.96 SD of p - t); ``nan`` (count of undefined predictions);
        ``n`` (images compared).

    Examples
    --------
    >>> a = nc_agreement([0.5, 0.3, np.nan], [0.5, 0.2, 0.4])
    >>> round(a["mae"], 3), round(a["within"], 3), a["nan"]
    (0.05, 0.333, 1)
    """
    p, t = np.asarray(predicted, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 1:
        raise ShapeError(f"predicted {p.shape} and true {t.shape} ratios must be equal 1-D")
    defined = np.isfinite(t)
    p, t = p[defined], t[defined]
    finite = np.isfinite(p)
    n_nan = int((~finite).sum())
    diff = p[finite] - t[finite]
    nan = float("nan")
    result = {
        "mae": nan,
        "r2": nan,
        "within": nan,
        "bias": nan,
        "loa": [nan, nan],
        "nan": n_nan,
        "n": int(t.size),
    }
    if t.size:
        result["within"] = float(np.sum(np.abs(diff) <= tol + 1e-12) / t.size)
    if diff.size:
        tf = t[finite]
        spread = float(np.sum((tf - tf.mean()) ** 2))
        bias = float(diff.mean())
        sd = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
        result.update(
            mae=float(np.abs(diff).mean()),
            r2=1.0 - float(np.sum(diff**2)) / spread if spread > 0 else nan,
            bias=bias,
            loa=[bias - 1.96 * sd, bias + 1.96 * sd],
        )
    return result


#: The Paris System for urine cytology uses nucleus / cell >= 0.7 as a high-grade criterion.
HIGH_NC_CELL_RATIO = 0.7
#: ... and nucleus / cell > 0.5 as one of atypia's.
ATYPIA_CELL_RATIO = 0.5
CELL_FIELDS = (
    "image",
    "cell",
    "cell_px",
    "nucleus_px",
    "cytoplasm_px",
    "nc_ratio",
    "nucleus_cell_ratio",
    "centroid_row",
    "centroid_col",
    "min_row",
    "min_col",
    "max_row",
    "max_col",
    "nucleus_irregularity",
    "touches_border",
    "no_cytoplasm",
    "several_nuclei",
    "high_nc",
)


def per_cell_nc(
    mask,
    image_id: str = "",
    pixel_size: float | None = None,
    high_ratio: float = HIGH_NC_CELL_RATIO,
    nucleus: int = NUCLEUS,
    cytoplasm: int = CYTOPLASM,
    cells: np.ndarray | None = None,
    proba=None,
    classes=None,
    odds: float = NC_RANGE_ODDS,
    rules: CellRules | None = None,
    image=None,
) -> list[dict]:
    """One row per cell: areas, both ratio definitions, centroid, box, nuclear shape and flags.

    ``nc_ratio`` is nucleus / cytoplasm (the course's); ``nucleus_cell_ratio`` is nucleus /
    whole cell (QuPath's and the urine-cytology tools'); ``high_nc`` flags
    ``nucleus_cell_ratio >= high_ratio``. With ``pixel_size`` (µm per pixel), ``*_um2`` area
    columns are added. ``cells`` is the mask's cells
    (:func:`~seglab.measure.cells.find_cells` with ``rules``), when already computed.
    ``nucleus_irregularity`` is 1 - the solidity of the cell's nucleus (0 for a convex one).
    With the ``image`` (grey or RGB, values in [0, 1]), ``hyperchromasia`` is the nucleus's
    mean optical density over its cytoplasm's (how much darker the nucleus stains) and
    ``chromatin_texture`` the coefficient of variation of the nucleus's optical density
    (coarse, clumped chromatin varies more).
    With the mask's probabilities ``proba`` (columns in the order of ``classes``), each row
    also holds the cell's N/C range ``nc_low``, ``nc_high`` (:func:`per_cell_nc_range`) and
    ``high_nc_unsure``: the range reaches both sides of the ``high_ratio`` criterion, so the
    cell's high-grade flag hinges on pixels the model is unsure of (a cell left with no
    cytoplasm counts as above it).
    """
    from scipy import ndimage as ndi

    if pixel_size is not None and not pixel_size > 0:
        raise ParameterError(f"pixel_size={pixel_size}: expected micrometres per pixel, > 0")
    if not 0 < high_ratio <= 1:
        raise ParameterError(f"high_ratio={high_ratio}: a nucleus/cell ratio, expected in (0, 1]")
    mask = np.asarray(mask)
    if cells is None:
        cells = find_cells(mask, proba, classes, pixel_size, rules, nucleus, cytoplasm).cells
    n = int(cells.max())
    if n == 0:
        return []
    index = np.arange(1, n + 1)
    flat = cells.ravel()
    n_nucleus = np.bincount(flat, weights=(mask.ravel() == nucleus), minlength=n + 1)
    n_cyto = np.bincount(flat, weights=(mask.ravel() == cytoplasm), minlength=n + 1)
    centroids = ndi.center_of_mass(np.ones_like(cells), cells, index)
    boxes = ndi.find_objects(cells)
    nuclei, _ = ndi.label(mask == nucleus)
    h, w = mask.shape
    density = None if image is None else optical_density(image, (h, w))
    if proba is not None:
        ranges = per_cell_nc_range(proba, cells, classes, odds, nucleus, cytoplasm)
        # nucleus/cell >= h  <=>  N/C >= h / (1 - h); no cytoplasm left: an infinite ratio
        unbounded = np.where(np.isnan(ranges), np.inf, ranges)
        criterion = high_ratio / (1 - high_ratio) if high_ratio < 1 else np.inf
    rows = []
    for k in index:
        nuc, cyt = int(n_nucleus[k]), int(n_cyto[k])
        box = boxes[k - 1]
        inside = cells[box] == k
        n_nuclei = len(np.setdiff1d(np.unique(nuclei[box][inside]), [0]))
        nucleus_pixels = inside & (mask[box] == nucleus)
        ratio_cell = nuc / (nuc + cyt) if nuc + cyt else float("nan")
        row = {
            "image": image_id,
            "cell": int(k),
            "cell_px": nuc + cyt,
            "nucleus_px": nuc,
            "cytoplasm_px": cyt,
            "nc_ratio": nuc / cyt if cyt else float("nan"),
            "nucleus_cell_ratio": ratio_cell,
            "centroid_row": float(centroids[k - 1][0]),
            "centroid_col": float(centroids[k - 1][1]),
            "min_row": box[0].start,
            "min_col": box[1].start,
            "max_row": box[0].stop - 1,
            "max_col": box[1].stop - 1,
            "nucleus_irregularity": _irregularity(nucleus_pixels),
            "touches_border": bool(
                box[0].start == 0 or box[1].start == 0 or box[0].stop == h or box[1].stop == w
            ),
            "no_cytoplasm": cyt == 0,
            "several_nuclei": n_nuclei > 1,
            "high_nc": bool(ratio_cell >= high_ratio),
        }
        if pixel_size is not None:
            area = float(pixel_size) ** 2
            row.update(
                cell_um2=row["cell_px"] * area, nucleus_um2=nuc * area, cytoplasm_um2=cyt * area
            )
        if density is not None:
            row.update(
                _stain_features(density[box], nucleus_pixels, inside & (mask[box] == cytoplasm))
            )
        if proba is not None:
            low, high = unbounded[k - 1]
            row.update(
                nc_low=float(ranges[k - 1, 0]),
                nc_high=float(ranges[k - 1, 1]),
                high_nc_unsure=bool(low < criterion <= high),
            )
        rows.append(row)
    return rows


def optical_density(image, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Optical density ``-log10(I)`` of an image's brightness (the mean of its channels,
    values in [0, 1]): stain absorbs light, so a darker pixel has a higher density.

    Examples
    --------
    >>> optical_density(np.array([[1.0, 0.1, 0.01]])).round(3).tolist()
    [[0.0, 1.0, 2.0]]
    """
    image = np.asarray(image, dtype=np.float64)
    grey = image.mean(axis=-1) if image.ndim == 3 else image
    if shape is not None and grey.shape != tuple(shape):
        raise ShapeError(f"image {grey.shape} and mask {tuple(shape)} differ in size")
    return 0.0 - np.log10(np.clip(grey, 1e-3, 1.0))  # 0.0 - x: white is 0.0, not -0.0


def _stain_features(density, nucleus_pixels, cytoplasm_pixels) -> dict:
    nan = float("nan")
    if not nucleus_pixels.any():
        return {"hyperchromasia": nan, "chromatin_texture": nan}
    values = density[nucleus_pixels]
    mean = float(values.mean())
    cytoplasm = float(density[cytoplasm_pixels].mean()) if cytoplasm_pixels.any() else nan
    return {
        "hyperchromasia": mean / cytoplasm if cytoplasm > 0 else nan,
        "chromatin_texture": float(values.std() / mean) if mean > 0 else nan,
    }


def _irregularity(pixels) -> float:
    """1 - solidity (area / convex hull area) of a set of pixels; NaN when empty."""
    if not pixels.any():
        return float("nan")
    from skimage.morphology import convex_hull_image

    return float(1.0 - pixels.sum() / convex_hull_image(pixels).sum())


def image_cell_summary(
    rows: list[dict], high_ratio: float = HIGH_NC_CELL_RATIO, top: int = 5
) -> dict:
    """Clinical per-image summaries of :func:`per_cell_nc` rows.

    ``top5_nc`` and ``top5_nucleus_cell`` are the mean ratios of the ``top`` cells with the
    highest ratio (all cells when fewer); ``max_nucleus_px`` is the largest nuclear area;
    ``n_high_nucleus_cell`` counts cells with nucleus / cell >= ``high_ratio`` and
    ``n_high_nc`` cells with nucleus / cytoplasm >= the same criterion,
    ``high_ratio / (1 - high_ratio)`` (0.7 -> 2.33); ``n_atypia_nucleus_cell`` cells with
    nucleus / cell > :data:`ATYPIA_CELL_RATIO`.

    Examples
    --------
    >>> rows = [{"nc_ratio": r, "nucleus_cell_ratio": r / (1 + r), "nucleus_px": n}
    ...         for r, n in [(0.1, 10), (3.0, 90)]]
    >>> s = image_cell_summary(rows, top=1)
    >>> s["top5_nc"], s["max_nucleus_px"], s["n_high_nc"], s["n_high_nucleus_cell"]
    (3.0, 90, 1, 1)
    >>> s["n_atypia_nucleus_cell"]  # 3 / 4 > 0.5, 0.1 / 1.1 is not
    1
    """

    def top_mean(key):
        values = sorted((r[key] for r in rows if np.isfinite(r[key])), reverse=True)[:top]
        return float(np.mean(values)) if values else float("nan")

    nc_threshold = high_ratio / (1 - high_ratio) if high_ratio < 1 else float("inf")
    return {
        "top5_nc": top_mean("nc_ratio"),
        "top5_nucleus_cell": top_mean("nucleus_cell_ratio"),
        "max_nucleus_px": max((int(r["nucleus_px"]) for r in rows), default=0),
        "n_high_nc": sum(
            1 for r in rows if np.isfinite(r["nc_ratio"]) and r["nc_ratio"] >= nc_threshold - 1e-12
        ),
        "n_high_nucleus_cell": sum(
            1
            for r in rows
            if np.isfinite(r["nucleus_cell_ratio"]) and r["nucleus_cell_ratio"] >= high_ratio
        ),
        "n_atypia_nucleus_cell": sum(
            1
            for r in rows
            if np.isfinite(r["nucleus_cell_ratio"]) and r["nucleus_cell_ratio"] > ATYPIA_CELL_RATIO
        ),
    }


def _straddles(cell: dict, cell_ratio: float) -> bool:
    """Whether a cell's N/C range (``nc_low``, ``nc_high``; NaN high: no cytoplasm, unbounded)
    reaches both sides of nucleus / cell ``cell_ratio``."""
    criterion = cell_ratio / (1 - cell_ratio)
    low, high = cell.get("nc_low", float("nan")), cell.get("nc_high", float("nan"))
    high = np.inf if np.isnan(high) else high
    return bool(low <= criterion < high)


def image_summary_row(
    image_id: str,
    cells: list[dict],
    n_nucleus: int,
    n_cytoplasm: int,
    high_ratio: float = HIGH_NC_CELL_RATIO,
    pixel_size: float | None = None,
    nc_range: dict | None = None,
) -> dict:
    """The ``cell="all"`` row that follows an image's cell rows in ``seglab nc-ratio
    --per-cell``: the image's pixel totals and ratios, its flag counts over ``cells`` (rows of
    :func:`per_cell_nc`) and :func:`image_cell_summary`; areas in µm² with ``pixel_size``.
    With ``nc_range`` (``{"nc_low": ..., "nc_high": ...}``, from probabilities), the range,
    the count of cells whose high-N/C flag is unsure by their range (``high_nc_unsure``) and of
    those whose atypia flag (nucleus / cell > 0.5, N/C > 1) is (``atypia_unsure``).

    Examples
    --------
    >>> cells = [{"touches_border": True, "no_cytoplasm": False, "several_nuclei": False,
    ...           "high_nc": False, "nc_ratio": 0.5, "nucleus_cell_ratio": 1 / 3,
    ...           "nucleus_px": 10}]
    >>> row = image_summary_row("a", cells, n_nucleus=10, n_cytoplasm=20, pixel_size=0.5)
    >>> row["cell"], row["nc_ratio"], row["touches_border"], row["nucleus_um2"]
    ('all', 0.5, 1, 2.5)
    """
    total = n_nucleus + n_cytoplasm
    row = {field: "" for field in CELL_FIELDS}
    row.update(
        image=image_id,
        cell="all",
        cell_px=total,
        nucleus_px=n_nucleus,
        cytoplasm_px=n_cytoplasm,
        nc_ratio=n_nucleus / n_cytoplasm if n_cytoplasm else float("nan"),
        nucleus_cell_ratio=n_nucleus / total if total else float("nan"),
        touches_border=sum(c["touches_border"] for c in cells),
        no_cytoplasm=sum(c["no_cytoplasm"] for c in cells),
        several_nuclei=sum(c["several_nuclei"] for c in cells),
        high_nc=sum(c["high_nc"] for c in cells),
        **(
            {
                "high_nc_unsure": sum(c["high_nc_unsure"] for c in cells),
                "atypia_unsure": sum(_straddles(c, ATYPIA_CELL_RATIO) for c in cells),
            }
            if nc_range
            else {}
        ),
    )
    row.update(image_cell_summary(cells, high_ratio))
    row.update(nc_range or {})
    if pixel_size is not None:
        area = pixel_size**2
        row.update(
            cell_um2=total * area,
            nucleus_um2=n_nucleus * area,
            cytoplasm_um2=n_cytoplasm * area,
        )
    return row
