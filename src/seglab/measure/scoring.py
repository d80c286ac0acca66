"""Are the cells right? Per-cell detection and N/C agreement of found cells with true ones.

Cells are matched one to one at IoU >= 0.5 (:func:`match_cells`); detection is scored by
precision, recall and F1 over the matches; the matched cells' ratios are compared by mean
absolute error, Bland-Altman bias and limits, and the intraclass correlation; the high-N/C flag
by Cohen's kappa. :func:`cell_scores` gathers them over many images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ShapeError
from .cells import CYTOPLASM, NUCLEUS

__all__ = [
    "CELL_MATCH_IOU",
    "HIGH_NC_FLAGS",
    "CellComparison",
    "cell_scores",
    "cohen_kappa",
    "compare_cells",
    "icc_agreement",
    "match_cells",
]

#: Cells match when their intersection over union is at least this; above 0.5 a cell can
#: overlap at most one other that much, so matches are one to one.
CELL_MATCH_IOU = 0.5
#: Nucleus / cell criteria of the high-N/C flag: > 0.5 atypia, >= 0.7 high grade (Paris System).
HIGH_NC_FLAGS = (0.5, 0.7)


def match_cells(found, true, min_iou: float = CELL_MATCH_IOU) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(found label, true label, IoU)`` of two label images at IoU >=
    ``min_iou``, the assignment with the largest total IoU.

    Examples
    --------
    >>> found = np.array([[1, 1, 1, 0, 2, 2]])
    >>> true = np.array([[1, 1, 0, 0, 2, 0]])
    >>> match_cells(found, true)  # 2/3 and 1/2
    [(1, 1, 0.6666666666666666), (2, 2, 0.5)]
    """
    from scipy.optimize import linear_sum_assignment

    found, true = np.asarray(found), np.asarray(true)
    if found.shape != true.shape:
        raise ShapeError(f"found cells {found.shape} and true cells {true.shape} differ")
    area_found = np.bincount(found.ravel())
    area_true = np.bincount(true.ravel())
    both = (found > 0) & (true > 0)
    pairs, inter = np.unique(
        np.stack([found[both], true[both]]).astype(np.int64), axis=1, return_counts=True
    )
    if not inter.size:
        return []
    f, t = pairs
    iou = inter / (area_found[f] + area_true[t] - inter)
    keep = iou >= min_iou - 1e-12
    f, t, iou = f[keep], t[keep], iou[keep]
    if not iou.size:
        return []
    rows, f_index = np.unique(f, return_inverse=True)
    cols, t_index = np.unique(t, return_inverse=True)
    table = np.zeros((rows.size, cols.size))
    table[f_index, t_index] = iou
    chosen_rows, chosen_cols = linear_sum_assignment(table, maximize=True)
    matches = [
        (int(rows[r]), int(cols[c]), float(table[r, c]))
        for r, c in zip(chosen_rows, chosen_cols, strict=True)
        if table[r, c] > 0
    ]
    return sorted(matches)


def _cell_ratios(mask, cells, nucleus, cytoplasm) -> tuple[np.ndarray, np.ndarray]:
    """Nucleus / cell and nucleus / cytoplasm of each cell label 0..max (NaN where undefined)."""
    n = int(cells.max(initial=0)) + 1
    flat = cells.ravel()
    n_nucleus = np.bincount(flat, weights=mask.ravel() == nucleus, minlength=n)
    n_cytoplasm = np.bincount(flat, weights=mask.ravel() == cytoplasm, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        cell = np.where(n_nucleus + n_cytoplasm > 0, n_nucleus / (n_nucleus + n_cytoplasm), np.nan)
        nc = np.where(n_cytoplasm > 0, n_nucleus / n_cytoplasm, np.nan)
    return cell, nc


@dataclass
class CellComparison:
    """The cells of one or more images compared with the true ones (:func:`compare_cells`).

    ``found_cell`` / ``true_cell`` are the nucleus / cell ratios of the matched pairs,
    ``found_nc`` / ``true_nc`` their nucleus / cytoplasm ratios; ``found_ratios`` and
    ``true_ratios`` the nucleus / cell ratios of every found and every true cell.
    """

    n_found: int = 0
    n_true: int = 0
    found_cell: list = field(default_factory=list)
    true_cell: list = field(default_factory=list)
    found_nc: list = field(default_factory=list)
    true_nc: list = field(default_factory=list)
    found_ratios: list = field(default_factory=list)
    true_ratios: list = field(default_factory=list)

    @property
    def n_matched(self) -> int:
        return len(self.found_cell)

    def __add__(self, other: CellComparison) -> CellComparison:
        return CellComparison(
            *(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__)
        )

    def to_dict(self) -> dict:
        """A plain dict (a bench JSON per-image row's ``cells``); :meth:`from_dict` reads it."""
        return {
            "found": self.n_found,
            "true": self.n_true,
            "matched": self.n_matched,
            "pairs": [
                list(p)
                for p in zip(
                    self.found_cell, self.true_cell, self.found_nc, self.true_nc, strict=True
                )
            ],
            "found_ratios": list(self.found_ratios),
            "true_ratios": list(self.true_ratios),
        }

    @classmethod
    def from_dict(cls, row: dict) -> CellComparison:
        def numbers(values):  # JSON writes NaN as null
            return [float("nan") if v is None else float(v) for v in values]

        pairs = [numbers(column) for column in zip(*row["pairs"], strict=True)] or [[]] * 4
        return cls(
            row["found"],
            row["true"],
            *pairs,
            numbers(row["found_ratios"]),
            numbers(row["true_ratios"]),
        )


def compare_cells(
    found_cells,
    found_mask,
    true_cells,
    true_mask,
    min_iou: float = CELL_MATCH_IOU,
    nucleus: int = NUCLEUS,
    cytoplasm: int = CYTOPLASM,
) -> CellComparison:
    """Match the ``found_cells`` of ``found_mask`` to the ``true_cells`` of ``true_mask`` and
    keep what :func:`cell_scores` needs. Each cell's ratios come from its own mask.

    Examples
    --------
    >>> mask = np.array([[2, 1, 1, 0, 2, 1]])
    >>> c = compare_cells([[1, 1, 1, 0, 2, 2]], mask, [[1, 1, 1, 0, 0, 0]], mask)
    >>> c.n_found, c.n_true, c.n_matched, c.found_cell, c.found_ratios
    (2, 1, 1, [0.3333333333333333], [0.3333333333333333, 0.5])
    >>> CellComparison.from_dict(c.to_dict()) == c
    True
    """
    found_cells, true_cells = np.asarray(found_cells), np.asarray(true_cells)
    found_mask, true_mask = np.asarray(found_mask), np.asarray(true_mask)
    for cells, mask in ((found_cells, found_mask), (true_cells, true_mask)):
        if cells.shape != mask.shape:
            raise ShapeError(f"cells {cells.shape} and their mask {mask.shape} differ")
    found_ids = np.setdiff1d(np.unique(found_cells), [0])
    true_ids = np.setdiff1d(np.unique(true_cells), [0])
    found_cell, found_nc = _cell_ratios(found_mask, found_cells, nucleus, cytoplasm)
    true_cell, true_nc = _cell_ratios(true_mask, true_cells, nucleus, cytoplasm)
    pairs = match_cells(found_cells, true_cells, min_iou)
    f = [p[0] for p in pairs]
    t = [p[1] for p in pairs]
    return CellComparison(
        n_found=int(found_ids.size),
        n_true=int(true_ids.size),
        found_cell=found_cell[f].tolist(),
        true_cell=true_cell[t].tolist(),
        found_nc=found_nc[f].tolist(),
        true_nc=true_nc[t].tolist(),
        found_ratios=found_cell[found_ids].tolist(),
        true_ratios=true_cell[true_ids].tolist(),
    )


def cohen_kappa(a, b) -> float:
    """Cohen's kappa of two binary ratings; NaN when there are none, 1 when both agree on one
    class throughout (chance agreement is then 1, and scikit-learn's formula gives NaN).

    Examples
    --------
    >>> cohen_kappa([1, 1, 0, 0], [1, 0, 0, 0])  # observed 3/4, chance 1/2
    0.5
    """
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.size == 0:
        return float("nan")
    if np.array_equal(a, b):
        return 1.0
    observed = float(np.mean(a == b))
    chance = float(a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean()))
    return (observed - chance) / (1 - chance)


def icc_agreement(x, y) -> float:
    """Intraclass correlation of two measurements of the same items: ICC(2,1), two-way random
    effects, absolute agreement, single measurement (Shrout and Fleiss, 1979). NaN under 2
    items or when the items do not vary.

    Examples
    --------
    >>> icc_agreement([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
    >>> round(icc_agreement([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]), 4)  # a constant bias of 1
    0.6667
    """
    data = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    data = data[np.isfinite(data).all(axis=1)]
    n, k = data.shape
    if n < 2:
        return float("nan")
    grand = data.mean()
    ms_rows = k * np.sum((data.mean(axis=1) - grand) ** 2) / (n - 1)
    ms_cols = n * np.sum((data.mean(axis=0) - grand) ** 2) / (k - 1)
    residual = data - data.mean(axis=1, keepdims=True) - data.mean(axis=0) + grand
    ms_error = np.sum(residual**2) / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_error + k * (ms_cols - ms_error) / n
    if denominator <= 0:
        return float("nan")
    return float((ms_rows - ms_error) / denominator)


def _agreement(found, true) -> dict:
    """MAE, Bland-Altman bias and 95% limits, and ICC of paired ratios (finite pairs)."""
    f, t = np.asarray(found, float), np.asarray(true, float)
    ok = np.isfinite(f) & np.isfinite(t)
    diff = f[ok] - t[ok]
    nan = float("nan")
    if not diff.size:
        return {"mae": nan, "bias": nan, "loa": [nan, nan], "icc": nan, "n": 0}
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
    return {
        "mae": float(np.abs(diff).mean()),
        "bias": bias,
        "loa": [bias - 1.96 * sd, bias + 1.96 * sd],
        "icc": icc_agreement(f[ok], t[ok]),
        "n": int(diff.size),
    }


def _flag(threshold: float, comparison: CellComparison) -> dict:
    """Agreement on nucleus / cell >= ``threshold`` (> for 0.5, the atypia criterion)."""

    def high(values):
        values = np.asarray(values, float)
        with np.errstate(invalid="ignore"):
            return values > threshold if threshold == 0.5 else values >= threshold - 1e-12

    found, true = high(comparison.found_cell), high(comparison.true_cell)
    return {
        "threshold": threshold,
        "kappa": cohen_kappa(found, true),
        "both": int(np.sum(found & true)),
        "found_only": int(np.sum(found & ~true)),
        "true_only": int(np.sum(~found & true)),
        "neither": int(np.sum(~found & ~true)),
        "found_high": int(high(comparison.found_ratios).sum()),
        "true_high": int(high(comparison.true_ratios).sum()),
    }


def cell_scores(comparison: CellComparison, flags=HIGH_NC_FLAGS) -> dict:
    """The per-cell figures of a :class:`CellComparison`.

    Returns
    -------
    dict
        ``found``, ``true``, ``matched`` counts; detection ``precision`` (matched / found),
        ``recall`` (matched / true) and ``f1``; ``nucleus_cell`` and ``nc``: agreement of the
        matched cells' ratios (``mae``, Bland-Altman ``bias`` and ``loa``, ``icc``, ``n``);
        ``flags``: for each nucleus / cell criterion (> 0.5, >= 0.7), Cohen's ``kappa`` over
        the matched cells, their 2 x 2 counts (``both``, ``found_only``, ``true_only``,
        ``neither``) and the cells flagged on each side over all cells (``found_high``,
        ``true_high``).

    Examples
    --------
    >>> c = CellComparison(n_found=3, n_true=2, found_cell=[0.2, 0.8], true_cell=[0.3, 0.8],
    ...                    found_nc=[0.25, 4.0], true_nc=[0.43, 4.0],
    ...                    found_ratios=[0.2, 0.8, 0.9], true_ratios=[0.3, 0.8])
    >>> s = cell_scores(c)
    >>> round(s["precision"], 3), s["recall"], s["f1"], round(s["nucleus_cell"]["mae"], 3)
    (0.667, 1.0, 0.8, 0.05)
    >>> s["flags"][1]["found_high"], s["flags"][1]["true_high"]
    (2, 1)
    """
    matched = comparison.n_matched
    nan = float("nan")
    precision = matched / comparison.n_found if comparison.n_found else nan
    recall = matched / comparison.n_true if comparison.n_true else nan
    total = comparison.n_found + comparison.n_true
    return {
        "found": comparison.n_found,
        "true": comparison.n_true,
        "matched": matched,
        "precision": precision,
        "recall": recall,
        "f1": 2 * matched / total if total else nan,
        "nucleus_cell": _agreement(comparison.found_cell, comparison.true_cell),
        "nc": _agreement(comparison.found_nc, comparison.true_nc),
        "flags": [_flag(threshold, comparison) for threshold in flags],
    }
