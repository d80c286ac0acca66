"""Field-hardening: failures in a batch, stale outputs, uncertainty maps."""

from __future__ import annotations

import json
import os

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import seglab
from seglab.cli import main
from seglab.io import save_mask


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    ds = seglab.synthetic_cells(6, size=64, random_state=4)
    seg = seglab.make_segmenter(
        "nearest-mean", features={"sigmas": [1.0, 2.0], "filters": ["gaussian"]}
    )
    seg.fit([ds.image(i) for i in range(4)], [ds.mask(i) for i in range(4)])
    path = seglab.save(seg, tmp_path_factory.mktemp("model") / "m.seglab")
    return path, seg, ds


@pytest.fixture()
def inputs(tmp_path, model):
    _, _, ds = model
    folder = tmp_path / "in"
    folder.mkdir()
    for name, i in (("a", 4), ("c", 5)):
        iio.imwrite(folder / f"{name}.png", (ds.image(i) * 255).round().astype(np.uint8))
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return folder


def _write_data(root, ds):
    """An images/ + masks/ data-set folder of ``ds``."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i in range(len(ds)):
        iio.imwrite(root / "images" / f"{i}.png", (ds.image(i) * 255).round().astype(np.uint8))
        save_mask(root / "masks" / f"{i}.png", ds.mask(i))
    return root


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


def _evaluate_args(model_path, data_root, json_path) -> list[str]:
    return [
        "evaluate",
        "--model",
        str(model_path),
        "--data",
        str(data_root),
        "--json",
        str(json_path),
    ]


def test_evaluate_gives_each_images_uncertainty_and_its_correlation_with_error(model, tmp_path):
    path, _, ds = model
    root = _write_data(tmp_path / "data", ds)
    args = _evaluate_args(path, root, tmp_path / "e.json")
    assert main(args) == 0
    entry = json.loads((tmp_path / "e.json").read_text())["methods"][0]
    rows = entry["per_image"]
    assert len(rows) == len(ds) and all(0 <= r["uncertainty"] <= 1 for r in rows)
    u = np.array([r["uncertainty"] for r in rows])
    error = 1 - np.array([r["score"] for r in rows])
    expected = np.sum((u - u.mean()) * (error - error.mean())) / (
        np.sqrt(np.sum((u - u.mean()) ** 2)) * np.sqrt(np.sum((error - error.mean()) ** 2))
    )
    assert entry["uncertainty"]["error_correlation"] == pytest.approx(expected)


def test_a_model_needing_more_context_than_the_image_fails_up_front(tmp_path, capsys):
    ds = seglab.synthetic_cells(2, size=96, random_state=5)
    seg = seglab.make_segmenter("rf", features={"sigmas": [1.0, 10.0]}, n_estimators=3, scale=1)
    seg.fit([ds.image(0)], [ds.mask(0)])
    path = seglab.save(seg, tmp_path / "m.seglab")
    manifest = seglab.modelfile.read_manifest(path)
    assert manifest["scales"]["largest"]["pixels"] == 40  # 4 sigma, recorded in the file
    small = tmp_path / "small.png"
    iio.imwrite(small, (ds.image(1)[:32, :32] * 255).astype(np.uint8))
    assert main(["predict", str(path), str(small), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sigma 10" in err[0] and "40 px" in err[0] and "32x32" in err[0]
    assert not (tmp_path / "out" / "small.png").exists()


def test_a_chunk_smaller_than_the_context_names_the_feature(tmp_path, capsys):
    ds = seglab.synthetic_cells(2, size=200, random_state=5)
    seg = seglab.make_segmenter("rf", features={"sigmas": [1.0, 10.0]}, n_estimators=3, scale=1)
    seg.fit([ds.image(0)], [ds.mask(0)])
    path = seglab.save(seg, tmp_path / "m.seglab")
    tifffile.imwrite(tmp_path / "big.tif", (ds.image(1) * 255).astype(np.uint8), photometric="rgb")
    args = [
        "predict",
        str(path),
        str(tmp_path / "big.tif"),
        "--chunk",
        "32",
        "-o",
        str(tmp_path / "o"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--chunk 32" in err and "sigma 10" in err


def _data_with_a_corrupt_image(root, ds):
    _write_data(root, ds)
    (root / "images" / "3.png").write_bytes(b"broken")
    return root


def test_evaluate_and_bench_keep_going_past_a_corrupt_image(model, tmp_path, capsys):
    path, _, ds = model
    root = _data_with_a_corrupt_image(tmp_path / "data", ds)
    args = _evaluate_args(path, root, tmp_path / "e.json")
    assert main(args) == 2  # without --keep-going: stops at the broken file
    assert main([*args, "--keep-going"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"seglab: 1 of {len(ds)} input(s) failed"
    rows = json.loads((tmp_path / "e.json").read_text())["methods"][0]["per_image"]
    assert sorted(r["id"] for r in rows) == sorted(str(i) for i in range(len(ds)) if i != 3)
    bench = [
        "bench",
        "--data",
        str(root),
        "--methods",
        "threshold,nearest-mean",
        "--split",
        "random:0",
    ]
    assert main([*bench, "--keep-going"]) == 2
    assert (
        capsys.readouterr().err.strip().splitlines()[-1]
        == f"seglab: 1 of {len(ds)} input(s) failed"
    )


@pytest.mark.parametrize("tiled", [[], ["--chunk", "32"]], ids=["whole", "tiled"])
def test_a_wrong_channel_count_names_the_file_and_the_remedy(model, tmp_path, capsys, tiled):
    path, _, ds = model
    grey = tmp_path / "grey.png"
    iio.imwrite(grey, (ds.image(0)[..., 0] * 255).round().astype(np.uint8))
    assert main(["predict", str(path), str(grey), "-o", str(tmp_path / "out"), *tiled]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"seglab: error: {grey}: the model was trained on 3-channel images")
    assert line.endswith("use a model trained on 1-channel images")
    assert not [p for p in (tmp_path / "out").iterdir()]  # nothing half-written


def test_evaluate_names_the_image_a_model_cannot_predict(model, tmp_path, capsys):
    path, _, ds = model
    root = tmp_path / "grey"
    (root / "images").mkdir(parents=True)
    for i in range(2):
        iio.imwrite(root / "images" / f"{i}.png", (ds.image(i)[..., 0] * 255).astype(np.uint8))
        save_mask(root / "masks" / f"{i}.png", ds.mask(i))
    args = ["evaluate", "--model", str(path), "--data", str(root), "--split", "all"]
    assert main(args) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{root / 'images' / '0.png'}: the model was trained on 3-channel images" in line
    # With --keep-going every image fails: the error says so and gives the first reason,
    # not just that there was nothing to score.
    assert main([*args, "--keep-going"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("seglab: error: nothing to score: all 2 test image(s) failed")
    assert "3-channel" in line


def test_tiled_prediction_of_an_array_keeps_the_message_short(model, tmp_path):
    from seglab.errors import ShapeError
    from seglab.tiled import predict_to_file

    _, seg, ds = model
    grey = ds.image(0)[..., :1]
    with pytest.raises(ShapeError) as info:
        predict_to_file(seg, grey, tmp_path / "m.tif", chunk=32, progress=False)
    assert str(info.value).startswith("the model was trained on 3-channel images")
    assert not list(tmp_path.iterdir())
