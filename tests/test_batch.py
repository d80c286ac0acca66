"""seglab.batch and seglab predict on whole images: the model runs once per image."""

import imageio.v3 as iio
import numpy as np
import pytest

import seglab
from seglab.batch import predict_files
from seglab.cli import main
from seglab.uncertainty import normalised_entropy


@pytest.fixture
def images(tmp_path):
    data = seglab.synthetic_cells(4, size=64, random_state=3)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2, 4):
        iio.imwrite(folder / f"{i}.png", (data.image(i) * 255).round().astype(np.uint8))
    small = {"n_estimators": 4, "scale": 1, "features": {"sigmas": [1.0, 2.0]}}
    model = seglab.make_segmenter("rf", **small).fit(
        [data.image(0), data.image(1)], [data.mask(0), data.mask(1)]
    )
    path = tmp_path / "rf.seglab"
    seglab.save(model, path)
    return folder, path


def _count_model_runs(monkeypatch) -> dict:
    """Count every run of the rf's model on an image, whatever public method asks for it."""
    cls = type(seglab.make_segmenter("rf"))
    runs = {"n": 0}
    for name in ("_predict", "_predict_proba"):
        original = getattr(cls, name)

        def counted(self, image, _original=original):
            runs["n"] += 1
            return _original(self, image)

        monkeypatch.setattr(cls, name, counted)
    return runs


def test_predict_with_every_output_runs_the_model_once_per_image(images, tmp_path, monkeypatch):
    folder, model = images
    runs = _count_model_runs(monkeypatch)
    out = tmp_path / "out"
    argv = ["predict", str(model), str(folder), "-o", str(out), "--proba", "--uncertainty"]
    assert main([*argv, "--nc", str(tmp_path / "nc.csv"), "--geojson"]) == 0
    assert runs["n"] == 2  # two images, one run each
    # and what was written is what the model gives on its own
    segmenter = seglab.load(model)
    for stem in ("2", "3"):
        image = seglab.load_image(folder / f"{stem}.png")
        proba = segmenter.predict_proba(image)
        assert np.array_equal(seglab.load_mask(out / f"{stem}.png"), segmenter.predict(image))
        assert np.allclose(iio.imread(out / f"{stem}_proba.tif"), proba)
        assert np.allclose(iio.imread(out / f"{stem}_uncertainty.tif"), normalised_entropy(proba))


def test_plain_predict_runs_the_model_once_per_image(images, tmp_path, monkeypatch):
    folder, model = images
    runs = _count_model_runs(monkeypatch)
    failures = predict_files(seglab.load(model), sorted(folder.iterdir()), tmp_path / "out")
    assert failures == [] and runs["n"] == 2


def test_normalised_entropy_by_hand():
    # K = 4: uniform is 1; (1/2, 1/2, 0, 0) is log 2 / log 4 = 1/2; certain is 0
    proba = np.array([[[0.25] * 4, [0.5, 0.5, 0, 0], [1, 0, 0, 0]]], np.float32)
    assert np.allclose(normalised_entropy(proba), [[1.0, 0.5, 0.0]])
    assert normalised_entropy(proba[..., :1]).tolist() == [[0.0, 0.0, 0.0]]  # one class
