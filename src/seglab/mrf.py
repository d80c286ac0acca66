"""Markov random field smoothing: the labelling that best trades per-pixel probability for
agreement between neighbours.

The energy of a labelling ``L`` of an image with class probabilities ``P`` is::

    E(L) = sum_p -log P[p, L_p]  +  weight * sum_{p~q} w_pq [L_p != L_q]

over 4-connected neighbours ``p~q`` (the Potts model). ``w_pq`` is 1, or with ``contrast``
``exp(-|I_p - I_q|^2 / (2 s^2))`` (``s^2`` the image's mean squared neighbour difference), so
a border costs less where the image has an edge. The minimum is found by graph cuts
(alpha-expansion, Boykov, Veksler and Zabih 2001) through PyMaxflow when it is installed, else
by iterated conditional modes (ICM), which needs nothing but NumPy and stops at a local minimum.
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError, ShapeError

__all__ = ["edge_weights", "icm", "mrf_labels", "potts_energy", "unary_costs"]

#: smallest probability, so that -log P stays finite
EPSILON = 1e-6


def unary_costs(proba) -> np.ndarray:
    """``-log`` of class probabilities ``(H, W, K)``, clipped away from infinity."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 3:
        raise ShapeError(f"class probabilities must be (H, W, K), got shape {proba.shape}")
    return -np.log(np.clip(proba, EPSILON, 1.0))


def edge_weights(image=None, shape=None, contrast: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the horizontal ``(H, W-1)`` and vertical ``(H-1, W)`` neighbour pairs.

    All ones; with ``contrast``, ``exp(-d^2 / (2 s^2))`` of each pair's squared colour difference
    ``d^2``, ``s^2`` its mean over the image.

    Examples
    --------
    >>> right, down = edge_weights(np.array([[0.0, 0.0, 1.0]]), contrast=True)
    >>> right.round(3).tolist(), down.shape
    ([[1.0, 0.368]], (0, 3))
    """
    if image is None:
        h, w = shape
        return np.ones((h, w - 1)), np.ones((h - 1, w))
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[:, :, None]
    right = ((image[:, 1:] - image[:, :-1]) ** 2).sum(-1)
    down = ((image[1:] - image[:-1]) ** 2).sum(-1)
    if not contrast:
        return np.ones_like(right), np.ones_like(down)
    mean = np.concatenate([right.ravel(), down.ravel()]).mean() if right.size + down.size else 0
    if not mean > 0:
        return np.ones_like(right), np.ones_like(down)
    return np.exp(-right / (2 * mean)), np.exp(-down / (2 * mean))


def potts_energy(labels, unary, weight: float, right, down) -> float:
    """The energy of ``labels`` (indices into the last axis of ``unary``)."""
    labels = np.asarray(labels)
    data = np.take_along_axis(unary, labels[..., None], axis=-1).sum()
    smooth = (right * (labels[:, 1:] != labels[:, :-1])).sum()
    smooth += (down * (labels[1:] != labels[:-1])).sum()
    return float(data + weight * smooth)


def _neighbour_cost(labels, k: int, weight: float, right, down) -> np.ndarray:
    """For every pixel, the weighted count of its neighbours whose label is not ``k``."""
    differs = labels != k
    cost = np.zeros(labels.shape)
    cost[:, :-1] += right * differs[:, 1:]
    cost[:, 1:] += right * differs[:, :-1]
    cost[:-1] += down * differs[1:]
    cost[1:] += down * differs[:-1]
    return weight * cost


def icm(unary, weight: float, right, down, labels=None, iterations: int = 20) -> np.ndarray:
    """Iterated conditional modes: each pixel takes its best label given its neighbours.

    Pixels are updated in two checkerboard halves (no two neighbours at once), so each sweep
    never raises the energy; it stops when a sweep changes nothing.
    """
    labels = unary.argmin(-1) if labels is None else np.array(labels)
    h, w, n = unary.shape
    checker = (np.add.outer(np.arange(h), np.arange(w)) % 2).astype(bool)
    for _ in range(iterations):
        changed = False
        for half in (checker, ~checker):
            costs = np.stack(
                [unary[..., k] + _neighbour_cost(labels, k, weight, right, down) for k in range(n)],
                -1,
            )
            best = costs.argmin(-1)
            # keep the current label on ties, so the energy never goes up
            current = np.take_along_axis(costs, labels[..., None], -1)[..., 0]
            better = half & (costs.min(-1) < current - 1e-12)
            changed |= bool(better.any())
            labels = np.where(better, best, labels)
        if not changed:
            break
    return labels


def _expansion(maxflow, labels, alpha: int, unary, weight: float, right, down) -> np.ndarray:
    """One alpha-expansion move: the best labelling where each pixel keeps its label or takes
    ``alpha`` (x = 1), as a minimum cut (Kolmogorov and Zabih's construction)."""
    h, w, _ = unary.shape
    graph = maxflow.Graph[float]()
    nodes = graph.add_grid_nodes((h, w))
    keep = np.take_along_axis(unary, labels[..., None], -1)[..., 0]
    cost1 = unary[..., alpha].copy()  # pays when x = 1 (takes alpha)
    cost0 = np.where(labels == alpha, np.inf, keep)  # a pixel already alpha stays alpha
    cost0 = np.where(np.isinf(cost0), 1e9, cost0)
    for axis, weights in ((1, right), (0, down)):
        if weights.size == 0:
            continue
        p = [slice(None), slice(None)]
        q = [slice(None), slice(None)]
        p[axis], q[axis] = slice(None, -1), slice(1, None)
        p, q = tuple(p), tuple(q)
        lp, lq = labels[p], labels[q]
        wpq = weight * weights
        a = wpq * (lp != lq)  # both keep
        b = wpq * (lp != alpha)  # p keeps, q takes alpha
        c = wpq * (alpha != lq)  # p takes alpha, q keeps
        # d = 0: both take alpha
        # E = a + (c - a) x_p + (0 - c) x_q + (b + c - a) (1 - x_p) x_q
        extra_p, extra_q = c - a, -c
        cost1[p] += np.maximum(extra_p, 0)
        cost0[p] += np.maximum(-extra_p, 0)
        cost1[q] += np.maximum(extra_q, 0)
        cost0[q] += np.maximum(-extra_q, 0)
        capacity = np.zeros((h, w))
        capacity[p] = np.maximum(b + c - a, 0)  # >= 0 for the Potts metric
        structure = np.zeros((3, 3))
        structure[(1, 2) if axis == 1 else (2, 1)] = 1
        graph.add_grid_edges(nodes, weights=capacity, structure=structure, symmetric=False)
    # sink segment = x = 1: a node there cuts its source link, so the source capacity is cost1
    graph.add_grid_tedges(nodes, cost1, cost0)
    graph.maxflow()
    takes = graph.get_grid_segments(nodes)
    return np.where(takes, alpha, labels)


def alpha_expansion(unary, weight: float, right, down, sweeps: int = 5) -> np.ndarray:
    """Graph-cut minimisation of the Potts energy (needs PyMaxflow)."""
    import maxflow

    labels = unary.argmin(-1)
    energy = potts_energy(labels, unary, weight, right, down)
    for _ in range(sweeps):
        improved = False
        for alpha in range(unary.shape[-1]):
            candidate = _expansion(maxflow, labels, alpha, unary, weight, right, down)
            new = potts_energy(candidate, unary, weight, right, down)
            if new < energy - 1e-9:
                labels, energy, improved = candidate, new, True
        if not improved:
            break
    return labels


def mrf_labels(
    proba, weight: float = 1.0, image=None, contrast: bool = False, solver: str = "auto"
) -> np.ndarray:
    """The labelling (indices into the classes of ``proba``) that minimises the Potts energy.

    Parameters
    ----------
    proba : (H, W, K) array
        Class probabilities.
    weight : float
        Cost of a border between two neighbours, against ``-log P`` per pixel; 0 gives the
        argmax.
    image : (H, W[, C]) array, optional
        The image, for ``contrast``.
    contrast : bool
        Borders across strong image edges cost less.
    solver : {"auto", "graphcut", "icm"}
        Graph cuts when PyMaxflow is installed ("auto"), else ICM.

    Examples
    --------
    >>> proba = np.full((3, 3, 2), 0.4)
    >>> proba[..., 1] = 0.6
    >>> proba[1, 1] = (0.7, 0.3)  # one pixel alone against its neighbours
    >>> mrf_labels(proba, weight=1.0, solver="icm")[1, 1], mrf_labels(proba, 0.0)[1, 1]
    (np.int64(1), np.int64(0))
    """
    if not np.isfinite(weight) or weight < 0:
        raise ParameterError(f"mrf weight {weight}: expected a number, 0 or more")
    if solver not in ("auto", "graphcut", "icm"):
        raise ParameterError(f"mrf solver {solver!r}: use auto, graphcut or icm")
    unary = unary_costs(proba)
    if weight == 0 or unary.shape[-1] == 1:
        return unary.argmin(-1)
    if contrast and image is None:
        raise ParameterError("a contrast-sensitive mrf needs the image")
    right, down = edge_weights(image if contrast else None, unary.shape[:2], contrast)
    if solver != "icm":
        try:
            return alpha_expansion(unary, weight, right, down)
        except ImportError:
            if solver == "graphcut":
                raise ParameterError('mrf solver "graphcut" needs PyMaxflow') from None
    return icm(unary, weight, right, down)
