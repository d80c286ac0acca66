"""seglab.live: the preview forest that napari's Live mode fits while the user paints."""

from __future__ import annotations

import numpy as np

import seglab
from seglab.live import PREVIEW_FOREST, LiveTrainer


def _scribbled(size=96):
    ds = seglab.synthetic_cells(1, size=size, random_state=3)
    image, mask = ds.pair(0)
    scribbles = np.zeros(mask.shape, np.uint8)
    scribbles[::5, ::5] = mask[::5, ::5] + 1  # a sparse sample of every class
    return image, scribbles


def test_preview_cuts_the_forest_and_drops_the_context_stage():
    image, _ = _scribbled()
    assert PREVIEW_FOREST == {"n_estimators": 10, "max_depth": 14}
    defaults = LiveTrainer([image], "rf").preview_params()
    assert defaults["n_estimators"] == 10 and defaults["max_depth"] == 14
    assert defaults["context"] is False
    # a forest already smaller keeps its own size; unlimited depth is cut
    small = LiveTrainer([image], "extra-trees", {"n_estimators": 4, "max_depth": None})
    assert small.preview_params() == {"n_estimators": 4, "max_depth": 14, "context": False}
    # a method without a forest is its own preview
    assert LiveTrainer([image], "logistic", {"C": 0.5}).preview_params() == {"C": 0.5}


def test_preview_model_is_the_smaller_forest_and_predicts_regions_exactly():
    image, scribbles = _scribbled()
    trainer = LiveTrainer([image], "rf", {"n_jobs": 1})
    preview = trainer.fit([scribbles], preview=True)
    full = trainer.fit([scribbles])
    assert len(preview.classifier_.estimators_) == 10
    assert max(t.get_depth() for t in preview.classifier_.estimators_) <= 14
    assert not hasattr(preview, "context_classifier_")
    assert len(full.classifier_.estimators_) == 40 and hasattr(full, "context_classifier_")
    labels, _ = trainer.predict_region(preview, 0, (10, 70, 20, 90))
    np.testing.assert_array_equal(labels, preview.predict(image)[10:70, 20:90])
