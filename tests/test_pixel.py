"""Filter bank and pixel classifiers, checked against independent computations."""

import imageio.v3 as iio
import numpy as np
import pytest
from scipy import ndimage as ndi

from seglab import load, save
from seglab.cli import main
from seglab.errors import ParameterError
from seglab.features import FilterBank
from seglab.io import load_image, load_scribbles
from seglab.segmenters import make_segmenter
from seglab.segmenters.pixel import choose_scale, downscale, upsample


def test_downscale_upsample_by_hand():
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    small = downscale(image, 2)
    np.testing.assert_allclose(small[..., 0], [[2.5, 4.5], [10.5, 12.5]])
    const = np.full((3, 3, 2), 0.25, np.float32)
    np.testing.assert_allclose(upsample(const, 2, (6, 6)), 0.25)
    # A ramp survives the round trip away from the edges (bilinear is exact on ramps).
    ramp = np.tile(np.arange(16, dtype=np.float32), (16, 1))[..., None]
    back = upsample(downscale(ramp, 2), 2, (16, 16))
    np.testing.assert_allclose(back[2:-2, 2:-2], ramp[2:-2, 2:-2], atol=1e-5)


def test_downscale_pads_odd_edges_and_takes_any_dtype():
    image = np.arange(20, dtype=np.uint8).reshape(4, 5, 1)  # a uint8 sum would wrap
    small = downscale(image * 12, 3)
    assert small.dtype == np.float32 and small.shape == (2, 2, 1)
    padded = np.pad(image.astype(np.float64) * 12, ((0, 2), (0, 1), (0, 0)), mode="edge")
    by_hand = [
        [padded[3 * r : 3 * r + 3, 3 * c : 3 * c + 3].mean() for c in (0, 1)] for r in (0, 1)
    ]
    np.testing.assert_allclose(small[..., 0], by_hand, rtol=1e-6)


def test_predict_is_the_argmax_at_a_reduced_work_scale():
    """Weights applied before upsampling give the argmax of the corrected probabilities."""
    rng = np.random.default_rng(5)
    image = ndi.gaussian_filter(rng.random((45, 51, 3)), (2, 2, 0)).astype(np.float32)
    truth = np.digitize(image.mean(-1), np.quantile(image.mean(-1), [0.5, 0.8]))
    seg = make_segmenter(
        "rf", features={"sigmas": [1.0, 4.0]}, scale=2, prior_correction=1, n_estimators=5
    )
    seg.fit([image], [truth])
    proba = seg.predict_proba(image)
    np.testing.assert_array_equal(seg.predict(image), seg.classes_[proba.argmax(-1)])


def test_choose_scale_detects_upsampled_images():
    rng = np.random.default_rng(3)
    small = ndi.gaussian_filter(rng.random((64, 64, 3)), (1.5, 1.5, 0))
    upsampled = np.repeat(np.repeat(small, 2, 0), 2, 1)
    upsampled = ndi.gaussian_filter(upsampled, (1.0, 1.0, 0)).astype(np.float32)
    assert choose_scale([upsampled]) >= 2
    noise = rng.random((128, 128, 3)).astype(np.float32)
    assert choose_scale([noise]) == 1


def test_choose_scale_follows_contrast_not_exposure():
    # A 12-bit camera image in a 16-bit file: 3-px spots on a dark background, values up to
    # 4095 / 65535 after dtype scaling. Any 2x block mean smears a 3-px spot, so the image
    # must stay at full resolution however dim it is; and an upsampled image dimmed to
    # the same range keeps the factor it had at full contrast.
    rng = np.random.default_rng(5)
    spots = np.full((128, 128), 200.0)
    for y, x in rng.integers(4, 124, (40, 2)):
        spots[y - 1 : y + 2, x - 1 : x + 2] += 3000.0
    dim = (spots / 65535).astype(np.float32)[..., None]
    assert float(dim.max()) < 0.06
    assert choose_scale([dim]) == 1
    small = ndi.gaussian_filter(rng.random((64, 64, 3)), (1.5, 1.5, 0))
    upsampled = ndi.gaussian_filter(np.repeat(np.repeat(small, 2, 0), 2, 1), (1.0, 1.0, 0))
    upsampled = upsampled.astype(np.float32)
    dimmed = (0.01 + 0.05 * upsampled).astype(np.float32)
    assert choose_scale([dimmed]) == choose_scale([upsampled]) >= 2


def test_choose_scale_follows_the_majority_not_a_sample():
    # 6 upsampled images at even positions among 14 of noise: every other image (a sample of
    # 10 taken with a stride of 2) is mostly upsampled, the whole set mostly noise.
    rng = np.random.default_rng(4)
    small = ndi.gaussian_filter(rng.random((64, 64, 3)), (1.5, 1.5, 0))
    upsampled = np.repeat(np.repeat(small, 2, 0), 2, 1)
    upsampled = ndi.gaussian_filter(upsampled, (1.0, 1.0, 0)).astype(np.float32)
    noise = [rng.random((128, 128, 3)).astype(np.float32) for _ in range(14)]
    images = [upsampled if i < 12 and i % 2 == 0 else noise.pop() for i in range(20)]
    assert choose_scale(images[::2]) >= 2  # the sample alone: 6 of 10 upsampled
    assert choose_scale(images) == 1


def _texture_pair(seed):
    """Two classes with the same mean grey but different texture: a threshold cannot help."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((64, 64), int)
    truth[:, 32:] = 1
    truth[20:44, 10:24] = 1
    smooth = np.full((64, 64), 0.5)
    rough = 0.5 + 0.25 * np.sign(rng.standard_normal((64, 64)))
    grey = np.where(truth == 1, rough, smooth) + rng.normal(0, 0.01, (64, 64))
    return np.clip(grey, 0, 1).astype(np.float32)[..., None], truth


@pytest.mark.parametrize(
    "name", ["rf", "extra-trees", "tree", "hgb", "knn", "nearest-mean", "logistic", "mlp"]
)
def test_classifiers_learn_texture(name):
    images, masks = zip(*(_texture_pair(s) for s in range(3)), strict=True)
    params = {
        "features": {"sigmas": [1.0, 2.0], "filters": ["gaussian", "std"]},
        "samples_per_class": 300,
        "scale": 1,
    }
    seg = make_segmenter(name, **params).fit(list(images), list(masks))
    image, truth = _texture_pair(7)
    accuracy = (seg.predict(image) == truth).mean()
    assert accuracy > 0.9, accuracy
    proba = seg.predict_proba(image)
    assert proba.shape == (64, 64, 2)
    np.testing.assert_allclose(proba.sum(-1), 1.0, atol=1e-5)


def test_sparse_scribbles_train_a_model():
    image, truth = _texture_pair(0)
    scribbles = np.full(truth.shape, -1)
    scribbles[5:10, 2:12] = 0  # a stroke on the smooth class
    scribbles[50:55, 40:60] = 1  # a stroke on the rough class
    seg = make_segmenter("rf", features={"sigmas": [1.0, 2.0], "filters": ["std"]}, scale=1).fit(
        [image], [scribbles]
    )
    assert (seg.predict(image) == truth).mean() > 0.85


def _reweighted(proba, seg):
    """Prior correction done by hand: each class's probability times its weight, rescaled to
    sum to one at every pixel."""
    out = np.empty_like(proba, dtype=np.float64)
    for y in range(proba.shape[0]):
        for x in range(proba.shape[1]):
            row = [p * w for p, w in zip(proba[y, x], seg.class_weights_, strict=True)]
            out[y, x] = [v / sum(row) for v in row]
    return out


def _skewed_pair():
    """A texture pair whose classes are 3:1, so full prior correction moves ambiguous pixels
    toward the common class."""
    image, truth = _texture_pair(0)
    truth = truth.copy()
    truth[:, :16] = 0
    return image, truth


def test_predict_is_the_argmax_of_the_prior_corrected_probabilities():
    image, truth = _skewed_pair()
    spec = {"sigmas": [1.0], "filters": ["std"]}
    seg = make_segmenter(
        "rf", features=spec, scale=1, prior_correction=1, n_estimators=5, context=False
    )
    seg.fit([image], [truth])
    raw = seg.classifier_.predict_proba(seg._features(image).reshape(-1, 2)).reshape(64, 64, 2)
    expected = _reweighted(raw, seg)
    proba = seg.predict_proba(image)
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    np.testing.assert_array_equal(seg.predict(image), seg.classes_[proba.argmax(-1)])
    assert not np.allclose(proba, raw)  # the weights did something


def test_auto_context_is_the_second_forest_on_smoothed_first_stage_probabilities():
    image, truth = _skewed_pair()
    spec = {"sigmas": [1.0], "filters": ["std"]}
    seg = make_segmenter("rf", features=spec, scale=1, prior_correction=1, n_estimators=5)
    assert seg.context  # the default
    seg.fit([image], [truth])
    features = seg._features(image)
    first = seg.classifier_.predict_proba(features.reshape(-1, 2)).reshape(64, 64, 2)
    # by hand: each class's probability smoothed at sigmas 1, 2, 4 and 8, sigma by sigma
    smoothed = [
        ndi.gaussian_filter(first[..., k], sigma, mode="reflect")
        for sigma in (1.0, 2.0, 4.0, 8.0)
        for k in range(2)
    ]
    stacked = np.concatenate([features, np.stack(smoothed, axis=-1)], axis=-1)
    second = seg.context_classifier_.predict_proba(stacked.reshape(64 * 64, -1))
    expected = _reweighted(second.reshape(64, 64, 2), seg)
    np.testing.assert_allclose(seg.predict_proba(image), expected, atol=1e-5)
    np.testing.assert_array_equal(seg.predict(image), seg.classes_[expected.argmax(-1)])


def test_prior_correction_weights():
    image, truth = _texture_pair(0)
    spec = {"sigmas": [1.0], "filters": ["std"]}
    none = make_segmenter("rf", features=spec, scale=1, prior_correction=0).fit([image], [truth])
    np.testing.assert_allclose(none.class_weights_, 1.0)
    full = make_segmenter("rf", features=spec, scale=1, prior_correction=1).fit([image], [truth])
    prior = np.bincount(truth.ravel()) / truth.size
    np.testing.assert_allclose(full.class_weights_, prior * 2, rtol=1e-5)
    with pytest.raises(ParameterError, match="prior_correction"):
        make_segmenter("rf", features=spec, prior_correction=3).fit([image], [truth])


def test_grey_and_rgba_inputs(tmp_path):
    rng = np.random.default_rng(4)
    rgba = rng.integers(0, 255, (40, 40, 4), dtype=np.uint8)
    iio.imwrite(tmp_path / "a.png", rgba)
    image = load_image(tmp_path / "a.png")
    assert image.shape == (40, 40, 3)
    mask = (image[..., 0] > 0.5).astype(int)
    small_bank = {"sigmas": [1.0, 2.0, 4.0]}  # a 40-px image cannot hold sigma 16
    seg = make_segmenter("rf", scale=1, samples_per_class=100, features=small_bank)
    seg.fit([image], [mask])
    assert seg.predict(image).shape == (40, 40)


def test_features_command_and_round_trip(tmp_path, capsys):
    images, masks = zip(*(_texture_pair(s) for s in range(2)), strict=True)
    seg = make_segmenter(
        "rf", features={"sigmas": [1.0, 2.0], "filters": ["gaussian", "std"]}, scale=1
    ).fit(list(images), list(masks))
    path = save(seg, tmp_path / "rf.seglab")
    loaded = load(path)
    np.testing.assert_array_equal(loaded.predict(images[0]), seg.predict(images[0]))
    assert main(["features", str(path), "--top", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and "std" in lines[1]  # texture is what separates the classes


def test_bacteria_scribbles_load(bacteria):
    scribbles = load_scribbles(bacteria / "wt_labels.tif")
    assert set(np.unique(scribbles)) == {-1, 0, 1}


def test_select_features_keeps_the_most_important_and_computes_only_those(tmp_path):
    images, masks = zip(*(_texture_pair(s) for s in range(3)), strict=True)
    spec = {"sigmas": [1.0, 2.0, 4.0], "filters": ["gaussian", "std", "gradient"]}
    # one stage, so that predict_proba is that one forest on the kept columns
    seg = make_segmenter("rf", features=spec, scale=1, select_features=2, n_jobs=1, context=False)
    seg.fit(list(images), list(masks))
    assert len(seg.selected_features_) == 2 and seg.n_bank_features_ == 10
    # The two kept are the two a forest on the whole bank ranks highest.
    whole = make_segmenter("rf", features=spec, scale=1, n_jobs=1).fit(list(images), list(masks))
    top_two = {name for name, _ in whole.feature_importances()[:2]}
    assert set(seg.selected_features_) == top_two
    # Prediction feeds the forest exactly those columns of the full bank.
    image, truth = _texture_pair(7)
    full = FilterBank(spec)
    columns = [full.names(1).index(n) for n in seg.selected_features_]
    x = full.compute(image)[..., columns].reshape(-1, 2)
    expected = _reweighted(seg.classifier_.predict_proba(x).reshape(64, 64, -1), seg)
    np.testing.assert_allclose(seg.predict_proba(image), expected, atol=1e-6)
    assert (seg.predict(image) == truth).mean() > 0.9
    loaded = load(save(seg, tmp_path / "rf.seglab"))
    np.testing.assert_array_equal(loaded.predict(image), seg.predict(image))
    # A refit starts from the whole bank again.
    seg.set_params(select_features=None).fit(list(images), list(masks))
    assert len(seg.feature_names_) == 10
    with pytest.raises(ParameterError, match="select_features"):
        make_segmenter("rf", features=spec, scale=1, select_features=99).fit(
            list(images), list(masks)
        )
    with pytest.raises(ParameterError, match="learned"):
        make_segmenter("rf", features={**spec, "select": ["ch0"]}, scale=1).fit(
            list(images), list(masks)
        )


def test_knn_searches_each_distinct_row_once_with_the_same_result():
    # An image upsampled 4x repeats every feature row 16 times; the answer must not change.
    images, masks = zip(*(_texture_pair(s) for s in range(2)), strict=True)
    colour_only = {"filters": [], "raw": True}
    seg = make_segmenter("knn", n_neighbors=5, features=colour_only, scale=1)
    seg.fit(list(images), list(masks))
    small = np.random.default_rng(5).random((16, 16, 1)).astype(np.float32)
    image = np.repeat(np.repeat(small, 4, 0), 4, 1)
    features = seg._features(image)
    direct = seg.classifier_.predict_proba(features.reshape(-1, 1)).reshape(64, 64, -1)
    np.testing.assert_allclose(seg.predict_proba(image), _reweighted(direct, seg), atol=1e-6)


@pytest.mark.parametrize(
    "method, params, name",
    [
        ("rf", {"n_estimators": 0}, "n_estimators"),
        ("extra-trees", {"max_depth": 2.5}, "max_depth"),
        ("tree", {"max_depth": 0}, "max_depth"),
        ("knn", {"n_neighbors": 0}, "n_neighbors"),
        ("hgb", {"learning_rate": -1.0}, "learning_rate"),
        ("logistic", {"C": -1.0}, "C"),
        ("mlp", {"hidden": 0}, "hidden"),
    ],
)
def test_bad_classifier_parameter_is_a_parameter_error_before_any_feature(
    monkeypatch, method, params, name
):
    def must_not_run(*args, **kwargs):
        raise AssertionError("features were computed before the parameters were checked")

    monkeypatch.setattr(FilterBank, "compute", must_not_run)
    rng = np.random.default_rng(0)
    images = [rng.random((96, 96, 3))]
    masks = [rng.integers(0, 3, (96, 96))]
    with pytest.raises(ParameterError, match=name):
        make_segmenter(method, **params).fit(images, masks)
