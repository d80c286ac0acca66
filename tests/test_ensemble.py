"""The ensemble segmenter: averaged member probabilities, validation, model files."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from seglab.datasets import synthetic_cells
from seglab.errors import ModelFileError, ParameterError
from seglab.modelfile import load, save
from seglab.segmenters import make_segmenter

SMALL = {"features": {"sigmas": [1.0, 2.0], "filters": ["gaussian", "std"]}, "scale": 1}
RF = ["rf", {**SMALL, "n_estimators": 8, "prior_correction": 1}]
LOGISTIC = ["logistic", SMALL]


@pytest.fixture(scope="module")
def cells():
    ds = synthetic_cells(4, size=64, random_state=3)
    return [ds.image(i) for i in range(4)], [ds.mask(i) for i in range(4)]


def test_weighted_average_of_members_fitted_alone(cells):
    images, masks = cells
    seg = make_segmenter("ensemble", members=[RF, LOGISTIC], weights=[1, 3])
    seg.fit(images[:3], masks[:3])
    # the same members fitted on their own, averaged by hand
    rf = make_segmenter(RF[0], **RF[1]).fit(images[:3], masks[:3])
    logistic = make_segmenter(LOGISTIC[0], **LOGISTIC[1]).fit(images[:3], masks[:3])
    expected = 0.25 * rf.predict_proba(images[3]) + 0.75 * logistic.predict_proba(images[3])
    proba = seg.predict_proba(images[3])
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    np.testing.assert_array_equal(seg.predict(images[3]), seg.classes_[expected.argmax(-1)])
    # equal weights by default
    equal = make_segmenter("ensemble", members=[RF, LOGISTIC]).fit(images[:3], masks[:3])
    halves = 0.5 * rf.predict_proba(images[3]) + 0.5 * logistic.predict_proba(images[3])
    np.testing.assert_allclose(equal.predict_proba(images[3]), halves, atol=1e-6)


def test_context_comes_from_the_members(cells):
    images, masks = cells
    seg = make_segmenter("ensemble", members=[RF, ["rf", {"n_estimators": 4, "scale": 2}]])
    seg.fit(images[:2], masks[:2])
    assert seg.halo == max(m.halo for m in seg.members_)
    assert seg.halo > seg.members_[0].halo  # the default bank (sigma 16) reaches further
    assert seg.tile_alignment == 2  # the second member works in 2x2 blocks


def test_parameters_are_checked_before_fitting(cells):
    images, masks = cells
    bad = [
        ({"members": []}, "members"),
        ({"members": "rf"}, "members"),
        ({"members": [["rf"]]}, "pair"),
        ({"members": [["rf", 3]]}, "pair"),
        ({"members": [["ensemble", None]]}, "another ensemble"),
        ({"members": [["threshold", None], RF]}, "no probabilities"),
        ({"members": [RF, LOGISTIC], "weights": [1]}, "weights"),
        ({"members": [RF, LOGISTIC], "weights": [1, -1]}, "weights"),
        ({"members": [RF, LOGISTIC], "weights": [0, 0]}, "weights"),
        ({"members": [["nope", None]]}, "unknown method"),
    ]
    for params, message in bad:
        with pytest.raises(ParameterError, match=message):
            make_segmenter("ensemble", **params).fit(images[:2], masks[:2])


def test_model_file_holds_every_member_and_round_trips(cells, tmp_path):
    images, masks = cells
    seg = make_segmenter("ensemble", members=[RF, LOGISTIC], weights=[2, 1])
    seg.fit(images[:3], masks[:3])
    path = save(seg, tmp_path / "ens.seglab")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    assert {"members/0.seglab", "members/1.seglab"} <= names
    loaded = load(path)
    assert [m.name for m in loaded.members_] == ["rf", "logistic"]
    np.testing.assert_array_equal(loaded.predict_proba(images[3]), seg.predict_proba(images[3]))
    assert loaded.get_params() == seg.get_params()


def _rewrite(path, out, edit):
    """Copy a model file, changing its manifest with ``edit`` (no hash covers model.json)."""
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "model.json":
                manifest = json.loads(data)
                edit(manifest)
                data = json.dumps(manifest).encode()
            dst.writestr(info.filename, data)
    return out


def test_model_file_refuses_missing_or_mismatched_members(cells, tmp_path):
    images, masks = cells
    seg = make_segmenter("ensemble", members=[RF, LOGISTIC]).fit(images[:2], masks[:2])
    path = save(seg, tmp_path / "ens.seglab")

    def three(manifest):
        manifest["params"]["members"].append(LOGISTIC)

    with pytest.raises(ModelFileError, match="names 3 members but the file holds 2"):
        load(_rewrite(path, tmp_path / "three.seglab", three))

    def swapped(manifest):
        manifest["params"]["members"] = [LOGISTIC, RF]

    with pytest.raises(ModelFileError, match="member 0 is 'rf'"):
        load(_rewrite(path, tmp_path / "swapped.seglab", swapped))


def test_a_corrupt_member_inside_is_refused_with_its_name(cells, tmp_path):
    images, masks = cells
    seg = make_segmenter("ensemble", members=[RF, LOGISTIC]).fit(images[:2], masks[:2])
    path = save(seg, tmp_path / "ens.seglab")
    with zipfile.ZipFile(path) as src:
        inner = src.read("members/1.seglab")
        manifest = json.loads(src.read("model.json"))
    # a nested file whose own member was altered, its outer hash made to match
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(inner)) as src, zipfile.ZipFile(buffer, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".npy"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.writestr(info.filename, data)
    import hashlib

    altered = buffer.getvalue()
    manifest["members"]["members/1.seglab"] = {
        "sha256": hashlib.sha256(altered).hexdigest(),
        "size": len(altered),
    }
    out = tmp_path / "bad.seglab"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "model.json":
                data = json.dumps(manifest).encode()
            elif info.filename == "members/1.seglab":
                data = altered
            dst.writestr(info.filename, data)
    with pytest.raises(ModelFileError, match=r"bad\.seglab: members/1\.seglab: .*SHA-256"):
        load(out)


def test_max_minutes_bounds_the_members_that_take_it(cells):
    pytest.importorskip("torch")
    images, masks = cells
    tiny = {"depth": 2, "width": 4, "patch_size": 32, "max_epochs": 2, "verbose": False}
    seg = make_segmenter("ensemble", members=[RF, ["unet", tiny]], max_minutes=5)
    seg.fit(images[:2], masks[:2])
    left = seg.members_[1].get_params()["max_minutes"]
    assert 4.0 < left < 5.0  # what the rf member left of the five minutes
    assert "max_minutes" not in seg.members_[0].get_params()
    own = make_segmenter("ensemble", members=[RF, ["unet", {**tiny, "max_minutes": 0.5}]])
    own.set_params(max_minutes=5).fit(images[:2], masks[:2])
    assert own.members_[1].get_params()["max_minutes"] == 0.5  # the tighter bound wins
    # the members that report on their training (the U-Net) do so through the ensemble
    assert own.training_summary() == f"unet: {own.members_[1].training_summary()}"
    assert own.training_summary().startswith("unet: 2 epochs; kept epoch ")
    with pytest.raises(ParameterError, match="max_minutes"):
        make_segmenter("ensemble", members=[RF], max_minutes=0).fit(images[:2], masks[:2])


def test_cli_trains_an_ensemble_from_json_members_and_predicts(tmp_path, capsys):
    import imageio.v3 as iio

    from seglab.cli import main
    from seglab.io import load_mask, save_mask

    ds = synthetic_cells(5, size=64, random_state=1)
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    for i in range(len(ds)):
        iio.imwrite(root / "images" / f"{i}.png", (ds.image(i) * 255).round().astype(np.uint8))
        save_mask(root / "masks" / f"{i}.png", ds.mask(i))
    members = json.dumps([RF, LOGISTIC])
    model = tmp_path / "e.seglab"
    args = ["train", "ensemble", "--data", str(root), "--set", f"members={members}"]
    assert main([*args, "--set", "weights=[3, 1]", "-o", str(model)]) == 0
    assert main(["predict", str(model), str(root / "images" / "4.png"), "-o", str(tmp_path)]) == 0
    loaded = load(model)
    assert loaded.get_params()["weights"] == [3, 1]
    image = iio.imread(root / "images" / "4.png") / np.float32(255)
    np.testing.assert_array_equal(load_mask(tmp_path / "4.png"), loaded.predict(image))
    capsys.readouterr()
    assert main([*args, "--set", "weights=[1]", "-o", str(tmp_path / "x.seglab")]) == 2
    assert "weights" in capsys.readouterr().err


def test_features_command_ranks_each_member_with_a_bank(cells, tmp_path, capsys):
    from seglab.cli import main

    images, masks = cells
    seg = make_segmenter("ensemble", members=[RF, LOGISTIC]).fit(images[:2], masks[:2])
    path = save(seg, tmp_path / "e.seglab")
    assert main(["features", str(path), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    forest = seg.members_[0]
    importances = forest.classifier_.feature_importances_
    top = forest.feature_names_[int(np.argmax(importances))]
    assert len(lines) == 4 and lines[0].startswith("member 0 rf:")
    assert " ".join(lines[1].split()[3:]) == top  # rank, share, cumulative share, name
    assert lines[3].startswith("member 1 logistic:")  # a bank, but no importances


def test_single_cell_is_the_members_average_cut_to_one_cell(cells, tmp_path):
    from scipy import ndimage as ndi

    images, masks = cells
    seg = make_segmenter("single-cell", members=[RF, LOGISTIC]).fit(images[:3], masks[:3])
    rf = make_segmenter(RF[0], **RF[1]).fit(images[:3], masks[:3])
    logistic = make_segmenter(LOGISTIC[0], **LOGISTIC[1]).fit(images[:3], masks[:3])
    argmax = seg.classes_[
        (rf.predict_proba(images[3]) + logistic.predict_proba(images[3])).argmax(-1)
    ]
    # By hand: the largest 4-connected cell region with its holes, the largest nucleus in it.
    regions, n = ndi.label(argmax > 0)
    assert n > 1  # there is something to cut away
    cell = regions == 1 + np.argmax(ndi.sum(np.ones_like(regions), regions, range(1, n + 1)))
    cell = ndi.binary_fill_holes(cell)
    nuclei, k = ndi.label((argmax == 2) & cell)
    expected = cell.astype(np.uint8)
    if k:
        sizes = ndi.sum(np.ones_like(nuclei), nuclei, range(1, k + 1))
        expected[ndi.binary_fill_holes(nuclei == 1 + np.argmax(sizes))] = 2
    np.testing.assert_array_equal(seg.predict(images[3]), expected)
    # its defaults are those it documents, and it saves and loads like any ensemble
    defaults = make_segmenter("single-cell").get_params()
    assert [m[0] for m in defaults["members"]] == ["hgb", "unet"]
    assert list(defaults["post"]) == [{"op": "single_cell"}]
    save(seg, tmp_path / "one.seglab")
    np.testing.assert_array_equal(load(tmp_path / "one.seglab").predict(images[3]), expected)
    with pytest.raises(ParameterError, match="cannot hold another ensemble"):
        make_segmenter("ensemble", members=[["single-cell", None], RF]).fit(images[:1], masks[:1])
