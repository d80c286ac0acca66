"""seglab.evaluate and `seglab evaluate`: a model, or predicted masks, scored; failures named."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest

from seglab.cli import main
from seglab.io import save_mask


def _write_data(root, ds):
    """An images/ + masks/ data-set folder of ``ds``."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i in range(len(ds)):
        iio.imwrite(root / "images" / f"{i}.png", (ds.image(i) * 255).round().astype(np.uint8))
        save_mask(root / "masks" / f"{i}.png", ds.mask(i))
    return root


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
