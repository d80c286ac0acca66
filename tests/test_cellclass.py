"""Cells by type: the cell features, the classifier, its file, and the commands that use it."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from seglab.cellclass import (
    CELL_FEATURES,
    CellClassifier,
    CellLabel,
    crop_cell,
    describe_cells,
    find_labelled_cell,
    read_cell_labels,
    read_image_classes,
)
from seglab.cli import main
from seglab.errors import DataSetError, ModelFileError, ParameterError
from seglab.io import save_image, save_mask
from seglab.measure import label_cells
from seglab.modelfile import load, load_cell_classifier, save_cell_classifier
from seglab.qupath import class_colour

#: The hand rule the synthetic cells follow: a cell is "high" when its nucleus covers more
#: than this share of it (as atypia's nucleus/cell > 0.5 does).
RULE = 0.5


def synthetic_cell(rng, share: float, size: int = 64):
    """One single-cell crop: a disc cell whose disc nucleus covers ``share`` of it, in
    Pap-like colours with noise; its mask and image."""
    radius = rng.uniform(18, 26)
    r_nucleus = radius * math.sqrt(share)
    centre = size / 2 + rng.uniform(-2, 2, 2)
    rows, cols = np.indices((size, size))
    d = np.hypot(rows - centre[0], cols - centre[1])
    mask = np.where(d <= r_nucleus, 2, np.where(d <= radius, 1, 0)).astype(np.uint8)
    colours = np.array([[0.92, 0.9, 0.88], [0.75, 0.55, 0.7], [0.3, 0.25, 0.5]])
    image = colours[mask] + rng.normal(0, 0.02, (size, size, 3))
    return mask, np.clip(image, 0, 1)


def shares(rng, n: int):
    """Shares of nucleus per cell on both sides of the rule, 0.1 away from it."""
    return np.concatenate(
        [rng.uniform(0.08, RULE - 0.1, n // 2), rng.uniform(RULE + 0.1, 0.85, n - n // 2)]
    )


def by_rule(share: float) -> str:
    return "high" if share > RULE else "low"


def features_and_classes(rng, n: int):
    X, y = [], []
    for share in shares(rng, n):
        mask, image = synthetic_cell(rng, share)
        cells = label_cells(mask)
        assert cells.max() == 1
        X.append(describe_cells(mask, cells, image)[0])
        y.append(by_rule(share))
    return np.array(X), y


def features_of(mask, image) -> dict:
    """The features of the one cell of ``mask`` (every labelled pixel), by name."""
    row = describe_cells(mask, (mask > 0).astype(int), image)[0]
    return dict(zip(CELL_FEATURES, row, strict=True))


def test_describe_cells_by_hand():
    # a 6 x 6 cell whose 2 x 2 nucleus is dark (I = 0.1) and cytoplasm light (I = 0.5)
    mask = np.zeros((8, 8), int)
    mask[1:7, 1:7] = 1
    mask[3:5, 3:5] = 2
    image = np.where(mask == 2, 0.1, np.where(mask == 1, 0.5, 1.0))
    row = features_of(mask, image)
    assert (row["cell_px"], row["nucleus_px"], row["cytoplasm_px"]) == (36, 4, 32)
    assert row["nucleus_cell_ratio"] == pytest.approx(4 / 36)
    assert row["nc_ratio"] == pytest.approx(4 / 32)
    assert row["nucleus_red"] == pytest.approx(0.1) and row["cytoplasm_blue"] == pytest.approx(0.5)
    assert row["nucleus_density"] == pytest.approx(1.0)  # -log10(0.1)
    assert row["cytoplasm_density"] == pytest.approx(-math.log10(0.5))
    assert row["hyperchromasia"] == pytest.approx(1.0 / -math.log10(0.5))
    assert row["nucleus_density_sd"] == 0 and row["chromatin_texture"] == 0
    assert row["nucleus_solidity"] == 1 and row["cell_solidity"] == 1


def test_shape_features_tell_round_from_ragged():
    rows, cols = np.indices((61, 61)) - 30
    angle = np.arctan2(rows, cols)
    d = np.hypot(rows, cols)
    round_nucleus = d <= 10
    ragged_nucleus = d <= 10 * (1 + 0.35 * np.sin(7 * angle))  # a seven-pointed star
    long_nucleus = (rows / 5.0) ** 2 + (cols / 14.0) ** 2 <= 1
    values = {}
    for name, nucleus in (
        ("round", round_nucleus),
        ("ragged", ragged_nucleus),
        ("long", long_nucleus),
    ):
        mask = np.where(nucleus, 2, np.where(d <= 25, 1, 0))
        values[name] = features_of(mask, np.full(mask.shape, 0.5))
    assert values["round"]["nucleus_eccentricity"] < 0.2
    assert values["long"]["nucleus_eccentricity"] > 0.9  # sqrt(1 - (5/14)^2) = 0.93
    assert values["ragged"]["nucleus_solidity"] < values["round"]["nucleus_solidity"] - 0.1
    irregular = "nucleus_contour_irregularity"
    assert values["ragged"][irregular] > values["round"][irregular] + 0.3
    assert values["round"][irregular] == pytest.approx(1.0, abs=0.15)  # a disc: 1


def test_a_cell_without_cytoplasm_has_no_cytoplasm_colour():
    mask = np.array([[0, 0, 0], [0, 2, 0], [0, 0, 0]])
    row = features_of(mask, np.ones((3, 3)))
    assert row["nucleus_cell_ratio"] == 1 and math.isnan(row["cytoplasm_red"])


def test_classifier_follows_the_hand_rule():
    rng = np.random.default_rng(0)
    X, y = features_and_classes(rng, 40)
    Xt, yt = features_and_classes(rng, 40)
    for method in ("rf", "logistic"):
        model = CellClassifier(method).fit(X, y)
        assert model.classes_ == ["high", "low"]
        assert model.predict(Xt).tolist() == yt, method
        proba = model.predict_proba(Xt)
        assert proba.shape == (40, 2) and np.allclose(proba.sum(1), 1)


def test_classifier_refuses_one_class_and_unknown_parameters():
    X = np.zeros((4, len(CELL_FEATURES)))
    with pytest.raises(DataSetError, match="one class"):
        CellClassifier().fit(X, ["a"] * 4)
    with pytest.raises(ParameterError, match="no parameter 'depth'"):
        CellClassifier("rf", depth=3)
    with pytest.raises(ParameterError, match="use one of"):
        CellClassifier("svm")


def test_file_round_trip(tmp_path, model):
    rng = np.random.default_rng(1)
    X, y = features_and_classes(rng, 20)
    classifier = CellClassifier(n_estimators=30).fit(X, y)
    path = save_cell_classifier(classifier, tmp_path / "cells.seglab", trained_on={"n_cells": 20})
    again = load_cell_classifier(path)
    assert again.classes_ == classifier.classes_
    assert np.array_equal(again.predict_proba(X), classifier.predict_proba(X))
    assert again.get_params() == classifier.get_params()
    with pytest.raises(ModelFileError, match="cell classifier"):
        load(path)  # not a segmenter
    segmenter_file, _, _ = model
    with pytest.raises(ModelFileError, match="not a cell classifier"):
        load_cell_classifier(segmenter_file)


def test_a_tampered_cell_classifier_is_refused(tmp_path):
    import zipfile

    rng = np.random.default_rng(2)
    classifier = CellClassifier(n_estimators=5).fit(*features_and_classes(rng, 10))
    path = save_cell_classifier(classifier, tmp_path / "cells.seglab")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["model.json"])
    manifest["features"] = manifest["features"][:-1]
    members["model.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(tmp_path / "bad.seglab", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError, match="other cell features"):
        load_cell_classifier(tmp_path / "bad.seglab")


def test_labels_name_cells_by_id_or_point(tmp_path):
    cells = np.array([[0, 1, 1], [2, 2, 0]])
    assert find_labelled_cell(CellLabel("a", "x", cell=2), cells) == 2
    assert find_labelled_cell(CellLabel("a", "x", point=(0.5, 2.2)), cells) == 1
    with pytest.raises(DataSetError, match="no cell 3"):
        find_labelled_cell(CellLabel("a", "x", cell=3), cells)
    with pytest.raises(DataSetError, match="on no cell"):
        find_labelled_cell(CellLabel("a", "x", point=(0, 0)), cells)
    with pytest.raises(DataSetError, match="outside"):
        find_labelled_cell(CellLabel("a", "x", point=(5, 0)), cells)
    assert crop_cell(cells) in (1, 2) and crop_cell(np.zeros((2, 2), int)) == 0

    path = tmp_path / "labels.csv"
    path.write_text("image,x,y,class\na,2.5,0.5,normal\nb,1,1,\n")
    assert read_cell_labels(path) == [CellLabel("a", "normal", point=(0.5, 2.5))]
    path.write_text("image,cell,nc_ratio,class\na,1,0.2,normal\na,all,0.2,\na,2,0.9,abnormal\n")
    assert [(lab.cell, lab.label) for lab in read_cell_labels(path)] == [
        (1, "normal"),
        (2, "abnormal"),
    ]
    path.write_text("image,class\na,normal\n")
    with pytest.raises(DataSetError, match="name each cell"):
        read_cell_labels(path)
    path.write_text("stem,class,group\n001,carcinoma,abnormal\n")
    assert read_image_classes(path, "group") == {"001": "abnormal"}


def test_class_colours_are_fixed_by_place():
    assert class_colour("a", ["a", "b"]) != class_colour("b", ["a", "b"])
    assert class_colour("b", ["a", "b"]) == class_colour("b", ["a", "b", "c"])


@pytest.fixture()
def crops(tmp_path):
    """Twenty synthetic single-cell crops (images/, masks/, classes.csv by the hand rule),
    stems 01..20, and the rule's class of each."""
    rng = np.random.default_rng(3)
    root = tmp_path / "crops"
    truth = {}
    for k, share in enumerate(rng.permutation(shares(rng, 20)), start=1):
        mask, image = synthetic_cell(rng, share)
        stem = f"{k:02d}"
        save_image(root / "images" / f"{stem}.png", (image * 255).astype(np.uint8))
        save_mask(root / "masks" / f"{stem}.png", mask)
        truth[stem] = by_rule(share)
    with open(root / "classes.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["stem", "class"])
        writer.writerows(sorted(truth.items()))
    return root, truth


def test_train_cells_then_classify_them(crops, tmp_path, capsys):
    root, truth = crops
    odd = [str(root / "masks" / f"{s}.png") for s in truth if int(s) % 2]
    model = tmp_path / "cells.seglab"
    argv = ["train-cells", *odd, "--images", str(root / "images")]
    assert main([*argv, "--image-classes", str(root / "classes.csv"), "-o", str(model)]) == 0
    assert "on 10 cells of 10 images" in capsys.readouterr().out
    even = [str(root / "masks" / f"{s}.png") for s in truth if int(s) % 2 == 0]
    for mask in even:
        stem = mask.rsplit("/", 1)[1][:-4]
        geojson = tmp_path / f"{stem}.geojson"
        code = main(
            [
                "nc-ratio",
                mask,
                "--per-cell",
                "--images",
                str(root / "images"),
                "--cell-model",
                str(model),
                "--geojson",
                str(geojson),
            ]
        )
        assert code == 0
        rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
        (cell,) = [r for r in rows if r["cell"] != "all"]
        (summary,) = [r for r in rows if r["cell"] == "all"]
        assert cell["cell_class"] == truth[stem]
        assert 0.5 <= float(cell["cell_class_proba"]) <= 1
        assert int(summary[f"cells_{truth[stem]}"]) == 1
        (feature,) = json.loads(geojson.read_text())["features"]
        assert feature["properties"]["classification"]["name"] == truth[stem]
        assert "cell_class_proba" in feature["properties"]["measurements"]
    # the report counts the cells of each class
    report = tmp_path / "cells.html"
    argv = ["nc-ratio", *even, "--per-cell", "--images", str(root / "images")]
    assert main([*argv, "--cell-model", str(model), "--report", str(report)]) == 0
    page = report.read_text()
    table = page.split("<table id='classes'>")[1].split("</table>")[0]
    for name in ("high", "low"):
        n = sum(truth[m.rsplit("/", 1)[1][:-4]] == name for m in even)
        assert f"<tr><td>{name}</td><td>{n}</td>" in table


def test_train_cells_from_a_labelled_nc_ratio_table(crops, tmp_path, capsys):
    root, truth = crops
    assert main(["nc-ratio", str(root / "masks"), "--per-cell"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    for row in rows:  # a user labels the table in place
        row["class"] = truth[row["image"]] if row["cell"] != "all" else ""
    table = tmp_path / "labelled.csv"
    with open(table, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    model = tmp_path / "cells.seglab"
    argv = ["train-cells", str(root / "masks"), "--images", str(root / "images")]
    assert main([*argv, "--labels", str(table), "-o", str(model), "--method", "logistic"]) == 0
    assert load_cell_classifier(model).method == "logistic"


def test_bad_labels_give_one_line_and_exit_2(crops, tmp_path, capsys):
    root, truth = crops
    images = ["--images", str(root / "images")]
    out = ["-o", str(tmp_path / "m.seglab")]
    masks = str(root / "masks")

    def refused(*argv, match):
        capsys.readouterr()
        assert main(list(argv)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and match in err, err
        assert not (tmp_path / "m.seglab").exists()

    labels = tmp_path / "labels.csv"
    labels.write_text("image,cell,class\n01,7,high\n02,1,low\n")
    refused("train-cells", masks, *images, "--labels", str(labels), *out, match="no cell 7")
    labels.write_text("image,row,col,class\n01,0,0,high\n02,32,32,low\n")
    refused("train-cells", masks, *images, "--labels", str(labels), *out, match="on no cell")
    labels.write_text("image,cell,class\n99,1,high\n02,1,low\n")
    refused("train-cells", masks, *images, "--labels", str(labels), *out, match="no mask")
    classes = tmp_path / "classes.csv"
    classes.write_text(
        "stem,class\n" + "".join(f"{s},{c}\n" for s, c in truth.items()) + "x9,low\n"
    )
    refused("train-cells", masks, *images, "--image-classes", str(classes), *out, match="'x9'")
    classes.write_text("stem,class\n" + "".join(f"{s},same\n" for s in truth))
    refused("train-cells", masks, *images, "--image-classes", str(classes), *out, match="one class")
    classes.write_text("stem,class\n01,high\n")
    refused("train-cells", masks, *images, "--image-classes", str(classes), *out, match="no class")
    refused("nc-ratio", masks, "--per-cell", "--cell-model", str(classes), match="--images")


def test_predict_geojson_classifies_cells(crops, tmp_path, capsys):
    import seglab

    root, _ = crops
    model = tmp_path / "cells.seglab"
    argv = ["train-cells", str(root / "masks"), "--images", str(root / "images")]
    assert main([*argv, "--image-classes", str(root / "classes.csv"), "-o", str(model)]) == 0
    dataset = seglab.open_dataset(root)
    segmenter = seglab.make_segmenter("kmeans").fit([dataset.image(i) for i in range(4)])
    seglab.save(segmenter, tmp_path / "seg.seglab")
    out = tmp_path / "out"
    argv = ["predict", str(tmp_path / "seg.seglab"), str(root / "images"), "-o", str(out)]
    assert main([*argv, "--cell-model", str(model)]) == 2  # without --geojson
    assert "add it" in capsys.readouterr().err
    assert main([*argv, "--geojson", "--cell-model", str(model)]) == 0
    names = set()
    for path in out.glob("*.geojson"):
        for feature in json.loads(path.read_text())["features"]:
            names.add(feature["properties"]["classification"]["name"])
    assert names and names <= {"high", "low"}


def test_methods_lists_the_cell_classifiers(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "cell classifiers" in out and "n_estimators=300" in out and "C=1.0" in out
    assert main(["methods", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["cell_classifiers"]
    assert {row["name"] for row in listed} == {"rf", "logistic"}
    assert CellClassifier("rf").get_params() == {"method": "rf", **listed[0]["params"]}
