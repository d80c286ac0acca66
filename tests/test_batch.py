"""seglab.batch and seglab predict on whole images: the model runs once per image."""

from __future__ import annotations

import os

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import seglab
from seglab.batch import predict_files
from seglab.cli import main
from seglab.io import save_mask
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


@pytest.fixture()
def inputs(tmp_path, model):
    _, _, ds = model
    folder = tmp_path / "in"
    folder.mkdir()
    for name, i in (("a", 4), ("c", 5)):
        iio.imwrite(folder / f"{name}.png", (ds.image(i) * 255).round().astype(np.uint8))
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return folder


def _old_outputs(out):
    """Masks from an earlier run, all zeros, dated a day ago."""
    out.mkdir()
    for stem in "abc":
        save_mask(out / f"{stem}.png", np.zeros((64, 64), np.uint8))
        old = os.path.getmtime(out / f"{stem}.png") - 86400
        os.utime(out / f"{stem}.png", (old, old))


def test_keep_going_reports_failures_and_removes_the_failed_inputs_old_mask(
    model, inputs, tmp_path, capsys
):
    path, seg, _ = model
    out = tmp_path / "out"
    _old_outputs(out)
    code = main(["predict", str(path), str(inputs), "-o", str(out), "--keep-going"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "seglab: 1 of 3 input(s) failed"
    assert any("b.png" in line for line in err)
    assert not (out / "b.png").exists()  # the earlier run's mask does not pass for new
    for stem in "ac":
        written = seglab.load_mask(out / f"{stem}.png")
        np.testing.assert_array_equal(
            written, seg.predict(seglab.load_image(inputs / f"{stem}.png"))
        )


def test_without_keep_going_the_batch_stops_at_the_failure(model, inputs, tmp_path):
    path, _, _ = model
    out = tmp_path / "out"
    _old_outputs(out)
    before_c = os.path.getmtime(out / "c.png")
    assert main(["predict", str(path), str(inputs), "-o", str(out)]) == 2
    assert not (out / "b.png").exists()
    assert os.path.getmtime(out / "a.png") > before_c  # a was done before b failed
    assert os.path.getmtime(out / "c.png") == before_c  # c was never reached: left untouched
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


def test_keep_going_on_a_dask_scheduler(model, inputs, tmp_path):
    path, _, _ = model
    out = tmp_path / "out"
    _old_outputs(out)
    args = ["predict", str(path), str(inputs), "-o", str(out), "--keep-going"]
    assert main([*args, "--scheduler", "threads"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]


def test_uncertainty_map_is_the_normalised_entropy(model, inputs, tmp_path):
    path, _, _ = model
    (inputs / "b.png").unlink()
    out = tmp_path / "out"
    assert (
        main(["predict", str(path), str(inputs), "-o", str(out), "--proba", "--uncertainty"]) == 0
    )
    proba = tifffile.imread(out / "a_proba.tif").astype(np.float64)
    u = tifffile.imread(out / "a_uncertainty.tif")
    assert u.dtype == np.float32 and u.shape == proba.shape[:2]
    by_hand = np.zeros(proba.shape[:2])
    for k in range(proba.shape[-1]):
        p = proba[..., k]
        by_hand -= np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)
    np.testing.assert_allclose(u, by_hand / np.log(proba.shape[-1]), atol=1e-5)
    assert 0 <= u.min() and u.max() <= 1


def test_uncertainty_of_a_labels_only_method_is_one_clear_error(tmp_path, inputs, capsys):
    ds = seglab.synthetic_cells(2, size=64)
    seg = seglab.make_segmenter("threshold").fit([ds.image(0)])
    path = seglab.save(seg, tmp_path / "t.seglab")
    assert (
        main(["predict", str(path), str(inputs), "-o", str(tmp_path / "o"), "--uncertainty"]) == 2
    )
    assert "labels only" in capsys.readouterr().err
