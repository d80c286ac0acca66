"""Class probabilities of fitted scikit-learn tree ensembles, faster than ``predict_proba``.

scikit-learn's ``RandomForestClassifier.predict_proba`` starts a joblib pool on every call and
has each tree build, normalise and lock-add a float64 array; on the 16k pixels of one work
image (a 256x256 course image at 1/2 scale) that overhead is as large as walking the trees.
:func:`forest_proba` gives the same numbers (to float32 rounding) from the same fitted trees:
each tree's Cython ``apply`` (which releases the GIL) on blocks of pixels in a thread pool that
lives across calls, and each tree's leaf probabilities looked up from a float32 table built
once per forest. Measured in docs/research/2026-12-04-rf-against-scikit-image.md.
"""

from __future__ import annotations

import weakref

import numpy as np

from ._threads import cores, parallel_map

__all__ = ["forest_proba", "supports", "threads_for"]

#: pixels per task: small enough to share a work image between two cores, large enough that
#: the per-call cost of ``apply`` stays small beside the walk
_MIN_BLOCK = 4096
_MAX_BLOCK = 65536

_tables: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _trees(model) -> list:
    """The fitted decision trees of a forest, or the one tree of a decision tree."""
    if hasattr(model, "estimators_"):
        return list(model.estimators_)
    return [model]


def supports(model) -> bool:
    """Whether :func:`forest_proba` can stand in for ``model.predict_proba``.

    True for fitted single-output scikit-learn ``RandomForestClassifier``,
    ``ExtraTreesClassifier`` and ``DecisionTreeClassifier``.
    """
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    kinds = (RandomForestClassifier, ExtraTreesClassifier, DecisionTreeClassifier)
    if not isinstance(model, kinds):
        return False
    if getattr(model, "n_outputs_", None) != 1:
        return False
    if not (hasattr(model, "estimators_") or hasattr(model, "tree_")):
        return False  # not fitted
    return all(hasattr(t, "tree_") for t in _trees(model))


def _leaf_tables(model) -> list[tuple[object, np.ndarray]]:
    """(tree structure, leaf probabilities) pairs, built once per fitted forest.

    The table has one row per node and a column per class (padded to 4 so that a row is 16
    bytes: the gather is then several times faster than with 3 float32 columns).
    """
    trees = _trees(model)
    cached = _tables.get(model)
    # Identity of the tree structures, which the cache holds (so a refit's new trees cannot
    # reuse their addresses): a refit in place is not served stale tables.
    if cached is not None and len(cached) == len(trees):
        pairs = zip(trees, cached, strict=True)
        if all(tree.tree_ is structure for tree, (structure, _) in pairs):
            return cached
    n_classes = int(model.n_classes_)
    width = max(4, n_classes)
    pairs = []
    for tree in trees:
        value = tree.tree_.value[:, 0, :n_classes]
        total = value.sum(axis=1, keepdims=True)
        table = np.zeros((value.shape[0], width), np.float32)
        # as DecisionTreeClassifier.predict_proba: a row that sums to 0 stays 0
        table[:, :n_classes] = np.divide(value, total, out=np.zeros_like(value), where=total > 0)
        pairs.append((tree.tree_, table))
    _tables[model] = pairs
    return pairs


def threads_for(n_jobs: int | None) -> int:
    """Threads for ``n_jobs`` as scikit-learn reads it (None 1, -1 every core, -2 all but
    one), at most one per core.

    Not joblib's ``effective_n_jobs``: inside a daemonic process (a ``dask.distributed``
    worker) that gives 1, since such a process may not start processes; but these are
    threads. On a 2-worker cluster, each worker's tiles then walked the forest on one core.

    Examples
    --------
    >>> threads_for(None), threads_for(1), threads_for(-1) >= 1
    (1, 1, True)
    """
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, cores() + 1 + n_jobs)
    return max(1, min(n_jobs, cores()))


def forest_proba(model, x: np.ndarray, n_jobs: int | None = -1) -> np.ndarray:
    """Mean class probabilities of a fitted tree ensemble, as ``model.predict_proba(x)``.

    Parameters
    ----------
    model : RandomForestClassifier, ExtraTreesClassifier or DecisionTreeClassifier
        Fitted, single output (see :func:`supports`).
    x : (n_samples, n_features) array
        Converted to C-ordered float32, the trees' own dtype.
    n_jobs : int or None
        Threads, as in scikit-learn: None is 1, -1 all cores.

    Returns
    -------
    (n_samples, n_classes) float32 array, the same as ``model.predict_proba(x)`` up to float32
    rounding.

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> x = np.random.default_rng(0).random((200, 3))
    >>> forest = RandomForestClassifier(5, random_state=0).fit(x, x[:, 0] > 0.5)
    >>> bool(np.allclose(forest_proba(forest, x), forest.predict_proba(x), atol=1e-6))
    True
    """
    pairs = _leaf_tables(model)
    n_classes = int(model.n_classes_)
    n = x.shape[0]
    workers = threads_for(n_jobs)
    block = int(np.clip(-(-n // workers), _MIN_BLOCK, _MAX_BLOCK))
    starts = range(0, n, block)

    def walk(start: int) -> np.ndarray:
        # converted block by block: a strided view of a larger feature array (the context
        # stage's spare columns) is never copied whole
        part = np.ascontiguousarray(x[start : start + block], dtype=np.float32)
        acc = np.zeros((part.shape[0], pairs[0][1].shape[1]), np.float32)
        for tree, table in pairs:
            acc += np.take(table, tree.apply(part), axis=0)
        return acc

    parts = parallel_map(walk, starts, workers)
    if not parts:
        return np.zeros((0, n_classes), np.float32)
    total = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return total[:, :n_classes] / np.float32(len(pairs))
