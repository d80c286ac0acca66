"""Model files written by earlier seglab versions keep loading and predicting the same."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import seglab

MODELS = Path(__file__).parent / "data" / "models"
FILES = sorted(MODELS.glob("*.seglab"))


def test_every_method_family_has_a_reference_file():
    families = {p.stem.rsplit("-v", 1)[0] for p in FILES}
    assert {"threshold", "kmeans", "slic", "rf", "unet"} <= families


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_old_model_file_predicts_as_it_did(path):
    manifest = seglab.modelfile.read_manifest(path)
    if manifest["segmenter"] == "unet" and importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    model = seglab.load(path)
    image = seglab.load_image(MODELS / "image.png")
    expected = seglab.load_mask(path.with_suffix(".png"))
    np.testing.assert_array_equal(model.predict(image), expected)
    if path.with_suffix(".npy").exists():
        expected_proba = np.load(path.with_suffix(".npy"), allow_pickle=False)
        np.testing.assert_allclose(model.predict_proba(image), expected_proba, atol=1e-6)
