"""MRF smoothing: on a noisy two-phase image of known truth it halves the argmax's error, and
graph cuts never end above ICM's energy, both energies counted here pair by pair."""

from __future__ import annotations

import numpy as np
import pytest

from seglab.cli import main
from seglab.errors import ParameterError
from seglab.mrf import edge_weights, mrf_labels
from seglab.segmenters import make_segmenter
from seglab.tiling import tile_geometry

pytest.importorskip("maxflow")


def energy(labels, proba, weight, image=None) -> float:
    """-log p per pixel plus weight x (contrast weight) per differing 4-neighbour pair, by loops."""
    h, w = labels.shape
    total = 0.0
    for r in range(h):
        for c in range(w):
            total -= np.log(max(proba[r, c, labels[r, c]], 1e-6))
    pairs = [((r, c), (r, c + 1)) for r in range(h) for c in range(w - 1)]
    pairs += [((r, c), (r + 1, c)) for r in range(h - 1) for c in range(w)]
    if image is not None:
        d2 = [float(((image[p] - image[q]) ** 2).sum()) for p, q in pairs]
        mean = np.mean(d2)
    for k, (p, q) in enumerate(pairs):
        if labels[p] != labels[q]:
            total += weight * (1.0 if image is None else np.exp(-d2[k] / (2 * mean)))
    return total


def two_phase(seed: int, size: int = 48, noise: float = 0.5):
    """A disc on a background, observed through strong Gaussian noise; exact posteriors."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size]
    truth = ((rows - size / 2) ** 2 + (cols - size / 2.5) ** 2 < (size / 3) ** 2).astype(int)
    image = truth + rng.normal(0, noise, truth.shape)
    log_like = -((image[..., None] - np.array([0.0, 1.0])) ** 2) / (2 * noise**2)
    proba = np.exp(log_like - log_like.max(-1, keepdims=True))
    return truth, image, proba / proba.sum(-1, keepdims=True)


@pytest.mark.parametrize("solver", ["graphcut", "icm"])
def test_smoothing_halves_the_argmax_error(solver):
    truth, _, proba = two_phase(0)
    argmax_error = (proba.argmax(-1) != truth).mean()
    assert argmax_error > 0.1  # the noise is strong
    smoothed = mrf_labels(proba, weight=1.0, solver=solver)
    assert (smoothed != truth).mean() < argmax_error / 2


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("contrast", [False, True])
def test_graph_cuts_never_end_above_icm(seed, contrast):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(3) * 0.7, size=(12, 14))
    image = rng.random((12, 14, 3)) if contrast else None
    for weight in (0.3, 1.0, 2.5):
        cut = mrf_labels(proba, weight, image, contrast, solver="graphcut")
        modes = mrf_labels(proba, weight, image, contrast, solver="icm")
        e_cut = energy(cut, proba, weight, image)
        e_modes = energy(modes, proba, weight, image)
        e_argmax = energy(proba.argmax(-1), proba, weight, image)
        assert e_cut <= e_modes + 1e-6 and e_modes <= e_argmax + 1e-6


def test_contrast_weights_by_hand():
    image = np.array([[[0.0], [0.0], [1.0]], [[0.0], [0.0], [1.0]]])
    right, down = edge_weights(image, contrast=True)
    # squared differences: right 0, 1 per row; down 0, 0, 0 -> mean 2 / 7
    assert np.allclose(right, [[1, np.exp(-1 / (2 * 2 / 7))]] * 2)
    assert np.allclose(down, [[1, 1, 1]])


def test_weight_zero_is_the_argmax_and_bad_weights_are_refused():
    _, _, proba = two_phase(1, size=16)
    assert np.array_equal(mrf_labels(proba, 0.0), proba.argmax(-1))
    for bad in (-1.0, float("nan")):
        with pytest.raises(ParameterError, match="weight"):
            mrf_labels(proba, bad)


def _cells():
    import seglab

    cells = seglab.synthetic_cells(6, size=96, random_state=0)
    return [cells.image(i) for i in range(6)], [cells.mask(i) for i in range(6)]


def test_the_post_step_smooths_any_method_with_probabilities():
    images, masks = _cells()
    plain = make_segmenter("rf", n_estimators=5, context=False, random_state=0)
    plain.fit(images[:4], masks[:4])
    post = [{"op": "mrf", "weight": 1.0}, {"op": "fill_holes", "label": 2}]
    smooth = make_segmenter("rf", n_estimators=5, context=False, random_state=0, post=post)
    smooth.fit(images[:4], masks[:4])
    proba = plain.predict_proba(images[4])
    # the same labelling as smoothing the plain model's probabilities by hand, then filling
    from seglab.postprocess import apply_post

    expected = apply_post(plain.classes_[mrf_labels(proba, 1.0)].astype(np.uint8), post[1:])
    assert np.array_equal(smooth.predict(images[4]), expected)
    assert smooth.halo >= 1 << 30
    with pytest.raises(ParameterError, match="whole image"):
        tile_geometry(smooth, 256)  # refused under --chunk, before any work


def test_the_mrf_method_learns_and_saves(tmp_path):
    import seglab

    images, masks = _cells()
    seg = make_segmenter("mrf", weight=1.0).fit(images[:4], masks[:4])
    assert seg.has_proba and list(seg.classes_) == [0, 1, 2]
    seglab.save(seg, tmp_path / "m.seglab")
    again = seglab.load(tmp_path / "m.seglab")
    assert np.array_equal(again.predict(images[5]), seg.predict(images[5]))
    unsupervised = make_segmenter("mrf").fit(images[:4])
    assert unsupervised.predict(images[5]).max() <= 2


@pytest.mark.parametrize(
    "method, post, says",
    [
        ("threshold", '[{"op": "mrf", "weight": 1}]', "needs class probabilities"),
        ("rf", '[{"op": "mrf", "weight": -1}]', "weight must be a number >= 0"),
        ("rf", '[{"op": "fill_holes", "label": 2}, {"op": "mrf", "weight": 1}]', "come first"),
    ],
)
def test_wrong_mrf_parameters_give_one_line(tmp_path, capsys, oasis_brain, method, post, says):
    data = oasis_brain
    out = tmp_path / "m.seglab"
    assert (
        main(["train", method, "--data", str(data), "--set", f"post={post}", "-o", str(out)]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err
    assert not out.exists()


def test_tune_searches_the_post_step_weight_without_refitting(monkeypatch):
    from seglab.segmenters import get_segmenter_class
    from seglab.tune import MRF_WEIGHT, tune

    images, masks = _cells()
    cls = get_segmenter_class("rf")
    fits = []
    original = cls._fit
    monkeypatch.setattr(cls, "_fit", lambda self, *a: fits.append(1) or original(self, *a))
    # every parameter of rf's own search space fixed: only the MRF weight is left to search
    fixed = {name: getattr(cls(), name) for name in cls.search_space}
    fixed.update(n_estimators=5, context=False, post=[{"op": "mrf", "weight": 1.0}])
    best = tune("rf", images, masks, n_trials=4, fixed=fixed)
    weight = best.tuning_["best_params"][MRF_WEIGHT]
    assert set(best.tuning_["best_params"]) == {MRF_WEIGHT} and 0 <= weight <= 4
    assert best.post == [{"op": "mrf", "weight": weight}]
    assert len(fits) == 2  # one fit for the four trials, one refit of the best on all images
