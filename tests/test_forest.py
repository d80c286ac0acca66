"""seglab.forest: the fast probabilities equal scikit-learn's own predict_proba."""

import json
import zipfile

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from seglab import forest, load, save
from seglab.datasets import synthetic_cells
from seglab.segmenters import make_segmenter


def _data(n, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6)).astype(np.float32)
    y = np.minimum((x[:, 0] + 0.3 * rng.random(n)) * n_classes / 1.3, n_classes - 1).astype(int)
    return x, y


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomForestClassifier(12, max_depth=8, random_state=0),
        lambda: ExtraTreesClassifier(7, min_samples_leaf=3, random_state=1),
        lambda: DecisionTreeClassifier(max_depth=5, random_state=0),
    ],
)
@pytest.mark.parametrize("n_jobs", [None, -1])
def test_equals_predict_proba(make, n_classes, n_jobs):
    x, y = _data(3000, n_classes)
    model = make().fit(x, y)
    assert forest.supports(model)
    new, _ = _data(9000, n_classes, seed=1)
    got = forest.forest_proba(model, new, n_jobs)
    assert got.shape == (9000, n_classes) and got.dtype == np.float32
    np.testing.assert_allclose(got, model.predict_proba(new), atol=1e-6)


def test_many_blocks_and_float64_input():
    """More pixels than one block holds, given as float64 in Fortran order."""
    x, y = _data(2000, 3)
    model = RandomForestClassifier(4, random_state=0).fit(x, y)
    big = np.asfortranarray(np.random.default_rng(2).random((forest._MAX_BLOCK * 2 + 17, 6)))
    np.testing.assert_allclose(
        forest.forest_proba(model, big, -1), model.predict_proba(big), atol=1e-6
    )


def test_refit_is_not_served_from_the_cache():
    x, y = _data(2000, 3)
    model = RandomForestClassifier(5, random_state=0).fit(x, y)
    forest.forest_proba(model, x)
    model.fit(x, 2 - y)  # new trees, same object
    np.testing.assert_allclose(forest.forest_proba(model, x), model.predict_proba(x), atol=1e-6)


def test_empty_input():
    x, y = _data(500, 2)
    model = RandomForestClassifier(3, random_state=0).fit(x, y)
    assert forest.forest_proba(model, x[:0]).shape == (0, 2)


def test_supports_only_fitted_single_output_trees():
    x, y = _data(500, 2)
    assert not forest.supports(RandomForestClassifier())  # not fitted
    assert not forest.supports(LogisticRegression().fit(x, y))
    two_outputs = RandomForestClassifier(3).fit(x, np.stack([y, 1 - y], axis=1))
    assert not forest.supports(two_outputs)


def test_parallel_map_keeps_order_and_nests_without_deadlock():
    from seglab._threads import parallel_map

    assert parallel_map(lambda v: v * v, range(7)) == [v * v for v in range(7)]
    # a task that maps again runs its inner map serially instead of waiting on the pool
    nested = parallel_map(lambda v: parallel_map(lambda u: u + v, range(3)), range(4))
    assert nested == [[u + v for u in range(3)] for v in range(4)]


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize(
    "make",
    [
        # every tree a single leaf: the forest gives the class shares of each bootstrap
        lambda: RandomForestClassifier(6, min_samples_split=10**6, random_state=0),
        # unlimited depth, leaves of one sample
        lambda: RandomForestClassifier(5, max_depth=None, min_samples_leaf=1, random_state=2),
        lambda: ExtraTreesClassifier(3, max_depth=1, random_state=3),
    ],
)
def test_one_node_and_unlimited_trees(make, n_classes):
    x, y = _data(1500, n_classes, seed=4)
    model = make().fit(x, y)
    new, _ = _data(5000, n_classes, seed=5)
    np.testing.assert_allclose(forest.forest_proba(model, new), model.predict_proba(new), atol=1e-6)


def test_trees_of_bootstraps_missing_a_class():
    """Three samples of two classes: many bootstraps hold one class only, so some trees are
    one leaf whose probabilities are all on that class."""
    x = np.array([[0.0], [1.0], [2.0]], np.float32)
    model = RandomForestClassifier(25, random_state=0).fit(x, [0, 1, 1])
    sizes = {tree.tree_.node_count for tree in model.estimators_}
    assert 1 in sizes and max(sizes) > 1  # the case this test is for
    new = np.linspace(-1, 3, 101, dtype=np.float32)[:, None]
    np.testing.assert_allclose(forest.forest_proba(model, new), model.predict_proba(new), atol=1e-6)


def test_same_seed_same_forest(tmp_path):
    ds = synthetic_cells(2, size=64, random_state=5)
    images, masks = [ds.image(0), ds.image(1)], [ds.mask(0), ds.mask(1)]
    digests = []
    for run in ("a", "b"):
        seg = make_segmenter("rf", samples_per_class=100).fit(images, masks)
        path = save(seg, tmp_path / f"{run}.seglab")
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read("model.json"))
        digests.append((manifest["members"], manifest["state"]))
        np.testing.assert_array_equal(seg.predict(images[1]), load(path).predict(images[1]))
    assert digests[0] == digests[1]
