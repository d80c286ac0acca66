import numpy as np
import pytest
from sklearn.base import clone

from seglab.errors import ParameterError, ShapeError
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
