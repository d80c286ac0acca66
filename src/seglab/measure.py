"""The clinical measurement: nucleus-to-cytoplasm (N/C) ratio and its agreement with the truth."""

from __future__ import annotations

import numpy as np

from .errors import ShapeError

__all__ = ["CYTOPLASM", "NUCLEUS", "nc_agreement", "nc_ratio"]

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
