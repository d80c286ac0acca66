"""The helpers of benchmarks/experiments/learning_curve.py: nested shares, a model's scores."""

from __future__ import annotations

import numpy as np
import pytest

from seglab.datasets import synthetic_cells

from .._scripts import load_script


@pytest.fixture(scope="module")
def module():
    return load_script("benchmarks/experiments/learning_curve.py")


def test_shares_are_nested_sorted_and_seeded(module):
    ids = np.arange(100, 252)  # 152 ids, as the course's training part
    quarter = module.nested_share(ids, 0.25, seed=0)
    half = module.nested_share(ids, 0.5, seed=0)
    assert quarter.size == 38 and half.size == 76
    assert set(quarter) <= set(half) <= set(ids)
    assert np.all(np.diff(half) > 0)
    assert np.array_equal(module.nested_share(ids, 1.0, seed=3), ids)
    assert not np.array_equal(quarter, module.nested_share(ids, 0.25, seed=1))
    with pytest.raises(ValueError):
        module.nested_share(ids, 0.0, seed=0)


class _Lookup:
    """Predicts each image's true mask, or that mask with the nucleus called cytoplasm."""

    has_proba = False  # labels only, like the threshold methods

    def __init__(self, dataset, drop_nucleus: bool):
        self.dataset, self.drop_nucleus = dataset, drop_nucleus

    def predict(self, image):
        for i in range(len(self.dataset)):
            if np.array_equal(image, self.dataset.image(i)):
                mask = self.dataset.mask(i).copy()
                if self.drop_nucleus:
                    mask[mask == 2] = 1
                return mask
        raise AssertionError("image not in the data set")


def test_scores_are_those_counted_by_hand(module):
    data = synthetic_cells(n=3, size=64, random_state=1)
    ids = [0, 1, 2]
    perfect = module.score_images(_Lookup(data, False), data, ids)
    assert perfect["dice"] == pytest.approx(1.0)
    assert perfect["mae"] == pytest.approx(0.0) and perfect["within"] == 1.0
    # With every nucleus called cytoplasm the predicted ratio is 0, so the mean absolute
    # error is the mean true ratio, nucleus pixels over cytoplasm pixels, counted here.
    true = [(data.mask(i) == 2).sum() / (data.mask(i) == 1).sum() for i in ids]
    blind = module.score_images(_Lookup(data, True), data, ids)
    assert blind["nc"] == [0.0, 0.0, 0.0]
    assert blind["mae"] == pytest.approx(np.mean(true))
    assert blind["within"] == pytest.approx(np.mean(np.array(true) <= 0.05))
