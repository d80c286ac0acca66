"""seglab.features: the filter bank's features against scipy and by hand, its names and halo."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from seglab.errors import ParameterError
from seglab.features import FilterBank


def test_gaussian_feature_equals_scipy():
    rng = np.random.default_rng(0)
    image = rng.random((20, 24, 3)).astype(np.float32)
    bank = FilterBank({"colours": ["rgb"], "sigmas": [1.5], "filters": ["gaussian"], "raw": False})
    features = bank.compute(image)
    assert bank.names(3) == ["red gaussian s1.5", "green gaussian s1.5", "blue gaussian s1.5"]
    for c in range(3):
        expected = ndi.gaussian_filter(image[..., c], 1.5, mode="reflect", truncate=4.0)
        np.testing.assert_allclose(features[..., c], expected, rtol=1e-5, atol=1e-6)


def test_gradient_hessian_log_by_hand():
    # f = 0.01 * (x**2 + 2 y**2) + 0.003 x: gradient (0.02x + 0.003, 0.04y), second
    # derivatives fxx = 0.02, fyy = 0.04, fxy = 0. Central differences are exact for
    # quadratics; smoothing a quadratic adds only a constant. Check the interior.
    y, x = np.mgrid[-10:11, -10:11].astype(np.float64)
    f = 0.01 * (x**2 + 2 * y**2) + 0.003 * x + 0.5
    image = f.astype(np.float32)[..., None]
    bank = FilterBank({"sigmas": [1.0], "filters": ["gradient", "hessian", "log"], "raw": False})
    out = bank.compute(image)
    names = bank.names(1)
    inner = (slice(6, 15), slice(6, 15))
    grad = out[..., names.index("ch0 gradient s1")][inner]
    np.testing.assert_allclose(grad, np.hypot(0.02 * x + 0.003, 0.04 * y)[inner], atol=2e-4)
    np.testing.assert_allclose(out[..., names.index("ch0 hessian1 s1")][inner], 0.04, atol=2e-4)
    np.testing.assert_allclose(out[..., names.index("ch0 hessian2 s1")][inner], 0.02, atol=2e-4)
    np.testing.assert_allclose(out[..., names.index("ch0 log s1")][inner], 0.06, atol=3e-4)


def test_local_std_by_hand():
    checker = (np.indices((32, 32)).sum(0) % 2).astype(np.float32)  # 0/1: std 0.5
    bank = FilterBank({"sigmas": [3.0], "filters": ["std"], "raw": False})
    std = bank.compute(checker[..., None])[..., 0]
    assert std[16, 16] == pytest.approx(0.5, abs=0.01)
    flat = bank.compute(np.full((16, 16, 1), 0.3, np.float32))
    assert np.abs(flat).max() < 1e-3


def test_bank_names_match_columns_and_bad_specs():
    bank = FilterBank()
    image = np.random.default_rng(1).random((16, 16, 3)).astype(np.float32)
    assert bank.compute(image).shape[-1] == len(bank.names(3))
    grey_bank = FilterBank({"shifts": [[0, 3], [-2, 0]], "position": True})
    assert grey_bank.compute(image[..., :1]).shape[-1] == len(grey_bank.names(1))
    with pytest.raises(ParameterError, match="colours"):
        FilterBank({"colours": ["cmyk"]})
    with pytest.raises(ParameterError, match="increasing"):
        FilterBank({"sigmas": [4, 1]})
    with pytest.raises(ParameterError, match="unknown key"):
        FilterBank({"sigma": [1]})


def test_bank_halo_is_honest():
    rng = np.random.default_rng(2)
    image = ndi.gaussian_filter(rng.random((90, 90, 3)), (2, 2, 0)).astype(np.float32)
    bank = FilterBank(
        {
            "sigmas": [1.0, 3.0],
            "filters": ["gaussian", "dog", "gradient", "hessian", "structure", "std"],
        }
    )
    full = bank.compute(image)
    h = bank.halo
    r0, r1 = 40, 50
    crop = image[r0 - h : r1 + h, r0 - h : r1 + h]
    np.testing.assert_allclose(bank.compute(crop)[h:-h, h:-h], full[r0:r1, r0:r1], atol=1e-5)


def test_selected_bank_computes_the_chosen_columns_only():
    spec = {
        "colours": ["rgb", "hsv"],
        "sigmas": [0.5, 1.0, 3.0],
        "filters": ["gaussian", "dog", "log", "gradient", "hessian", "structure", "std"],
        "shifts": [[2, -3]],
        "position": True,
    }
    image = np.random.default_rng(4).random((30, 34, 3)).astype(np.float32)
    full_bank = FilterBank(spec)
    names = full_bank.names(3)
    chosen = names[3::11]
    bank = FilterBank({**spec, "select": chosen})
    assert bank.names(3) == chosen
    columns = [names.index(n) for n in chosen]
    np.testing.assert_array_equal(bank.compute(image), full_bank.compute(image)[..., columns])
    # The halo shrinks to the kept feature's own reach: a Gaussian at sigma 1 reaches 4 px,
    # a gradient at sigma 0.5 two more than its kernel (central differences), ceil(2) + 2.
    assert FilterBank({**spec, "select": ["red gaussian s1"]}).halo == 4
    assert FilterBank({**spec, "select": ["hue gradient s0.5"]}).halo == 4
    assert FilterBank({**spec, "select": ["red gaussian s1"]}).halo < full_bank.halo
    with pytest.raises(ParameterError, match="not in this bank"):
        FilterBank({**spec, "select": ["red gaussian s7"]}).compute(image)
    with pytest.raises(ParameterError, match="select"):
        FilterBank({**spec, "select": "red"})
