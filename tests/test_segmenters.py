from __future__ import annotations

import json
import zipfile

import imageio.v3 as iio
import numpy as np
import pytest
from sklearn.base import clone

import seglab
from seglab import load
from seglab.cli import main
from seglab.datasets import synthetic_cells
from seglab.errors import (
    ParameterError,
    ShapeError,
)
from seglab.segmenters import list_segmenters, make_segmenter
from seglab.segmenters.threshold import luminance


def grey_image(values):
    return np.asarray(values, dtype=np.float32)[..., None]


def test_threshold_rule_by_hand():
    image = grey_image([[0.0, 0.449, 0.45, 0.849, 0.85, 1.0]])
    seg = make_segmenter("threshold").fit([image])
    assert seg.predict(image).tolist() == [[2, 2, 1, 1, 0, 0]]
    assert seg.predict(image).dtype == np.uint8


def test_threshold_uses_luminance_weights():
    # Pure red 1.0 has luminance 0.299 -> nucleus; pure green 0.587 -> cytoplasm.
    image = np.zeros((1, 3, 3), np.float32)
    image[0, 0, 0] = 1.0
    image[0, 1, 1] = 1.0
    image[0, 2] = 1.0
    np.testing.assert_allclose(luminance(image)[0], [0.299, 0.587, 1.0], rtol=1e-6)
    seg = make_segmenter("threshold").fit([image])
    assert seg.predict(image).tolist() == [[2, 1, 0]]


def test_threshold_inverted_thresholds_follow_the_course():
    # With t_background < t_nucleus the course code labels dark pixels nucleus, the rest 0.
    image = grey_image([[0.1, 0.5, 0.9]])
    seg = make_segmenter("threshold", t_nucleus=0.6, t_background=0.3).fit([image])
    assert seg.predict(image).tolist() == [[2, 2, 0]]


def test_sklearn_conventions():
    seg = make_segmenter("threshold", t_nucleus=0.3)
    assert seg.get_params() == {"t_nucleus": 0.3, "t_background": 0.85, "pre": None, "post": None}
    twin = clone(seg)
    assert twin.get_params() == seg.get_params() and twin is not seg
    seg.set_params(t_background=0.9)
    assert seg.t_background == 0.9
    assert seg.halo == 0


def test_registry_errors_and_listing():
    with pytest.raises(ParameterError, match="unknown method 'nope'"):
        make_segmenter("nope")
    with pytest.raises(ParameterError, match="no parameter 'sigma'"):
        make_segmenter("threshold", sigma=2)
    names = {row["name"]: row for row in list_segmenters()}
    assert names["threshold"]["supervised"] is False
    assert names["threshold"]["description"]


def test_predict_before_fit_and_wrong_channels():
    seg = make_segmenter("threshold")
    with pytest.raises(ParameterError, match="not fitted"):
        seg.predict(grey_image([[0.5]]))
    seg.fit([grey_image([[0.5]])])
    with pytest.raises(ShapeError, match="1-channel"):
        seg.predict(np.zeros((2, 2, 3), np.float32))


def test_invalid_threshold_parameter():
    with pytest.raises(ParameterError, match="t_nucleus"):
        make_segmenter("threshold", t_nucleus=3).fit([grey_image([[0.5]])])


def test_no_probabilities_for_threshold():
    seg = make_segmenter("threshold").fit([grey_image([[0.5]])])
    assert not seg.has_proba
    with pytest.raises(ParameterError, match="no probabilities"):
        seg.predict_proba(grey_image([[0.5]]))


def test_fit_validates_masks():
    image = grey_image([[0.5, 0.5]])
    with pytest.raises(ShapeError, match="its mask is"):
        make_segmenter("threshold").fit([image], [np.zeros((3, 3), int)])


_SMALL_BANK = {"scale": 1, "features": {"sigmas": [1.0, 2.0]}, "samples_per_class": 60}


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("rf", {"n_estimators": 4, **_SMALL_BANK}),
        ("logistic", _SMALL_BANK),
        ("rf", {"n_estimators": 4, **_SMALL_BANK, "post": [{"op": "mrf", "weight": 1.0}]}),
        ("rf", {"n_estimators": 4, **_SMALL_BANK, "post": [{"op": "fill_holes", "label": 2}]}),
        ("mrf", {}),
        (
            "ensemble",
            {"members": [["rf", {"n_estimators": 3, **_SMALL_BANK}], ["logistic", _SMALL_BANK]]},
        ),
    ],
    ids=["rf", "logistic", "rf-post-mrf", "rf-post-fill", "mrf", "ensemble"],
)
def test_labels_and_probabilities_from_one_run_equal_predict_and_predict_proba(name, params):
    from seglab import synthetic_cells

    data = synthetic_cells(3, size=64, random_state=1)
    seg = make_segmenter(name, **params)
    seg.fit([data.image(0), data.image(1)], [data.mask(0), data.mask(1)])
    labels, proba = seg.predict_with_proba(data.image(2))
    assert labels.dtype == np.uint8 and proba.dtype == np.float32
    assert np.array_equal(labels, seg.predict(data.image(2)))
    assert np.array_equal(proba, seg.predict_proba(data.image(2)))


def test_one_run_is_refused_for_a_method_without_probabilities():
    seg = make_segmenter("threshold").fit([grey_image([[0.1, 0.9]])])
    with pytest.raises(ParameterError, match="labels only"):
        seg.predict_with_proba(grey_image([[0.1, 0.9]]))


def test_same_seed_same_model_and_predictions(course_like, tmp_path):
    paths = []
    for run in ("a", "b"):
        path = tmp_path / f"{run}.seglab"
        assert (
            main(
                [
                    "train",
                    "kmeans",
                    "--data",
                    str(course_like),
                    "--set",
                    "n_clusters=5",
                    "-o",
                    str(path),
                ]
            )
            == 0
        )
        paths.append(path)
    manifests = []
    for path in paths:
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read("model.json"))
        manifest["trained_on"].pop("date")
        manifests.append(manifest)
    assert manifests[0] == manifests[1]  # same parameters, state and member hashes
    image = synthetic_cells(1, size=64, random_state=11).image(0)
    np.testing.assert_array_equal(load(paths[0]).predict(image), load(paths[1]).predict(image))


def test_an_image_smaller_than_the_filters_reach_is_mirrored_at_its_borders(tmp_path):
    ds = seglab.synthetic_cells(2, size=96, random_state=5)
    # Gaussians only: derivatives take one-sided differences at any image's edge pixels
    bank = {"sigmas": [1.0, 10.0], "filters": ["gaussian"]}
    seg = seglab.make_segmenter("rf", features=bank, n_estimators=3, scale=1)
    seg.fit([ds.image(0)], [ds.mask(0)])
    path = seglab.save(seg, tmp_path / "m.seglab")
    manifest = seglab.modelfile.read_manifest(path)
    assert manifest["scales"]["largest"]["pixels"] == 40  # 4 sigma, recorded in the file
    small = (ds.image(1)[:32, :32] * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "small.png", small)
    out = tmp_path / "out"
    assert main(["predict", str(path), str(tmp_path / "small.png"), "-o", str(out)]) == 0
    # the same as the image mirrored beyond the filters' reach, predicted, and cut back
    mirrored = np.pad(small, ((48, 48), (48, 48), (0, 0)), mode="symmetric")
    expected = seg.predict(mirrored)[48:80, 48:80]
    np.testing.assert_array_equal(iio.imread(out / "small.png"), expected)


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


def test_pixel_classifiers_declare_keyword_only_parameters_once():
    import inspect

    from seglab.segmenters.params import declared_params

    for name in ("rf", "extra-trees", "tree", "hgb", "knn", "nearest-mean", "logistic", "mlp"):
        seg = make_segmenter(name)
        declared = declared_params(seg)
        signature = inspect.signature(type(seg).__init__).parameters
        assert list(signature)[1:] == list(declared), name  # the __init__ is the declaration
        assert all(p.kind is p.KEYWORD_ONLY for p in list(signature.values())[1:]), name
        assert seg.get_params() == {k: p.default for k, p in declared.items()}, name
        with pytest.raises(TypeError):
            type(seg)(5)  # keyword-only
        assert clone(seg).get_params() == seg.get_params()


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"scale": 9}, "scale=9: expected an integer from 1 to 8, or 'auto'"),
        (
            {"prior_correction": 1.5},
            "prior_correction=1.5: expected a number from 0 to 1, or 'auto'",
        ),
        ({"context": "yes"}, "context='yes': expected true or false"),
        ({"samples_per_class": 2.5}, "samples_per_class=2.5: expected an integer of at least 1"),
        ({"max_depth": True}, "max_depth=True: expected an integer of at least 1, or None"),
    ],
)
def test_a_value_a_parameter_does_not_take_is_one_line_naming_it(params, says):
    image = np.zeros((96, 96, 3), np.float32)
    mask = np.zeros((96, 96), np.int64)
    mask[:48] = 1
    with pytest.raises(ParameterError) as error:
        make_segmenter("rf", **params).fit([image], [mask])
    assert str(error.value) == says
