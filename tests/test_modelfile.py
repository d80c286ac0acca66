from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import seglab
from seglab.datasets import synthetic_cells
from seglab.errors import ModelFileError
from seglab.modelfile import FORMAT_VERSION, load, read_manifest, save
from seglab.segmenters import make_segmenter

from ._fuzz import FUZZ


@pytest.fixture()
def model_path(tmp_path):
    seg = make_segmenter("threshold", t_nucleus=0.39, t_background=0.99)
    seg.fit([np.full((4, 4, 3), 0.5, np.float32)])
    seg.extra_table_ = np.arange(6, dtype=np.float32).reshape(2, 3)  # an array member
    return save(seg, tmp_path / "m.seglab", trained_on={"data": "x", "n_images": 1})


def _rewrite(src, dst, members: dict, manifest_edit=None):
    """Copy a model file, replacing members; manifest sizes/hashes follow unless edited."""
    with zipfile.ZipFile(src) as z:
        contents = {n: z.read(n) for n in z.namelist()}
    contents.update(members)
    manifest = json.loads(contents["model.json"])
    for name, data in members.items():
        if name != "model.json" and name in manifest["members"]:
            manifest["members"][name] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            }
    if manifest_edit:
        manifest_edit(manifest)
    contents["model.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for name, data in contents.items():
            z.writestr(name, data)
    return dst


def test_round_trip(model_path):
    seg = load(model_path)
    assert seg.name == "threshold"
    assert seg.get_params() == {"t_nucleus": 0.39, "t_background": 0.99, "pre": None, "post": None}
    np.testing.assert_array_equal(seg.extra_table_, np.arange(6).reshape(2, 3))
    image = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    expected = make_segmenter("threshold", t_nucleus=0.39, t_background=0.99).fit([image])
    np.testing.assert_array_equal(seg.predict(image), expected.predict(image))
    manifest = read_manifest(model_path)
    assert manifest["format_version"] == FORMAT_VERSION and manifest["channels"] == 3
    assert manifest["trained_on"]["n_images"] == 1 and "date" in manifest["trained_on"]


def test_tampered_member_fails_sha(model_path, tmp_path):
    with zipfile.ZipFile(model_path) as z:
        contents = {n: z.read(n) for n in z.namelist()}
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 3), np.float32))
    contents["arrays/extra_table_.npy"] = buffer.getvalue()
    with zipfile.ZipFile(tmp_path / "bad.seglab", "w") as z:
        for n, d in contents.items():
            z.writestr(n, d)
    with pytest.raises(ModelFileError, match="SHA-256"):
        load(tmp_path / "bad.seglab")


def test_pickle_array_refused_without_running(model_path, tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, (f"open({str(tmp_path / 'pwned')!r}, 'w').write('ran')",))

    buffer = io.BytesIO()
    np.save(buffer, np.array([Boom()], dtype=object), allow_pickle=True)
    bad = _rewrite(
        model_path, tmp_path / "bad.seglab", {"arrays/extra_table_.npy": buffer.getvalue()}
    )
    with pytest.raises(ModelFileError, match="refused"):
        load(bad)
    assert not (tmp_path / "pwned").exists()


def test_unlisted_member_refused(model_path, tmp_path):
    bad = _rewrite(model_path, tmp_path / "bad.seglab", {"extra.bin": b"x"})
    with pytest.raises(ModelFileError, match="not listed"):
        load(bad)


def test_missing_member_refused(model_path, tmp_path):
    def add_member(m):
        m["members"]["arrays/ghost_.npy"] = {"sha256": "0" * 64, "size": 10}

    bad = _rewrite(model_path, tmp_path / "bad.seglab", {}, add_member)
    with pytest.raises(ModelFileError, match="missing"):
        load(bad)


@pytest.mark.parametrize("name", ["../evil.npy", "/abs.npy", "arrays/../../x.npy"])
def test_path_outside_archive_refused(model_path, tmp_path, name):
    def add_member(m):
        m["members"][name] = {"sha256": hashlib.sha256(b"x").hexdigest(), "size": 1}

    bad = _rewrite(model_path, tmp_path / "bad.seglab", {name: b"x"}, add_member)
    with pytest.raises(ModelFileError, match="leaves the archive"):
        load(bad)


def test_member_larger_than_declared_refused(model_path, tmp_path):
    bomb = b"\0" * (5 << 20)  # compresses to a few kB

    def declare_small(m):
        m["members"]["arrays/extra_table_.npy"]["size"] = 100

    bad = _rewrite(
        model_path, tmp_path / "bad.seglab", {"arrays/extra_table_.npy": bomb}, declare_small
    )
    with pytest.raises(ModelFileError, match="declared"):
        load(bad)


def test_unknown_format_version_refused(model_path, tmp_path):
    def bump(m):
        m["format_version"] = 99

    with pytest.raises(ModelFileError, match="format_version 99"):
        load(_rewrite(model_path, tmp_path / "bad.seglab", {}, bump))


def test_dunder_state_refused(model_path, tmp_path):
    def dunder(m):
        m["state"]["__class__"] = 1

    with pytest.raises(ModelFileError, match="not learned state"):
        load(_rewrite(model_path, tmp_path / "bad.seglab", {}, dunder))


def test_not_a_zip_and_missing(tmp_path):
    (tmp_path / "x.seglab").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a seglab model"):
        load(tmp_path / "x.seglab")
    with pytest.raises(ModelFileError, match="no such model"):
        load(tmp_path / "y.seglab")


def test_unfitted_cannot_be_saved(tmp_path):
    with pytest.raises(ModelFileError, match="not fitted"):
        save(make_segmenter("threshold"), tmp_path / "m.seglab")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def valid_model_bytes(tmp_path_factory):
    ds = synthetic_cells(2, size=48, random_state=0)
    seg = make_segmenter("kmeans", n_clusters=3).fit([ds.image(0)], [ds.mask(0)])
    path = save(seg, tmp_path_factory.mktemp("m") / "k.seglab")
    return path.read_bytes()


def _check_model_loader(path):
    try:
        load(path)
    except ModelFileError as exc:
        assert "\n" not in str(exc)


@given(st.binary(max_size=600))
@FUZZ
def test_fuzz_model_loader_random_bytes(tmp_path, data):
    (tmp_path / "r.seglab").write_bytes(data)
    with pytest.raises(ModelFileError):
        load(tmp_path / "r.seglab")


@given(st.data())
@FUZZ
def test_fuzz_model_loader_mutated_files(tmp_path, valid_model_bytes, data):
    mutated = bytearray(valid_model_bytes)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(mutated) - 1))
        mutated[at] = data.draw(st.integers(0, 255))
    (tmp_path / "m.seglab").write_bytes(bytes(mutated[: data.draw(st.integers(1, len(mutated)))]))
    _check_model_loader(tmp_path / "m.seglab")


def test_untrusted_estimator_type_refused_without_running(tmp_path):
    """A listed, correctly hashed skops member that holds os.system is still refused."""
    import hashlib

    import skops.io as skio
    from sklearn.preprocessing import FunctionTransformer

    ds = synthetic_cells(1, size=48, random_state=0)
    seg = make_segmenter(
        "rf", scale=1, samples_per_class=50, features={"sigmas": [1.0], "filters": ["gaussian"]}
    )
    seg.fit([ds.image(0)], [ds.mask(0)])
    path = save(seg, tmp_path / "rf.seglab")
    evil = skio.dumps(FunctionTransformer(func=os.system))
    with zipfile.ZipFile(path) as z:
        contents = {n: z.read(n) for n in z.namelist()}
    manifest = json.loads(contents["model.json"])
    member = "estimators/classifier_.skops"
    assert member in manifest["members"]
    contents[member] = evil
    manifest["members"][member] = {"sha256": hashlib.sha256(evil).hexdigest(), "size": len(evil)}
    contents["model.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(tmp_path / "evil.seglab", "w") as z:
        for name, data in contents.items():
            z.writestr(name, data)
    with pytest.raises(ModelFileError, match="untrusted type"):
        load(tmp_path / "evil.seglab")


MODELS = Path(__file__).parent / "data" / "models"


FILES = sorted(MODELS.glob("*.seglab"))


def test_every_method_family_has_a_reference_file():
    families = {p.stem.rsplit("-v", 1)[0] for p in FILES}
    assert {"threshold", "kmeans", "slic", "rf", "unet"} <= families


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_old_model_file_predicts_as_it_did(path):
    manifest = seglab.modelfile.read_manifest(path)
    if manifest["segmenter"] == "unet" and importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    model = seglab.load(path)
    image = seglab.load_image(MODELS / "image.png")
    expected = seglab.load_mask(path.with_suffix(".png"))
    np.testing.assert_array_equal(model.predict(image), expected)
    if path.with_suffix(".npy").exists():
        expected_proba = np.load(path.with_suffix(".npy"), allow_pickle=False)
        np.testing.assert_allclose(model.predict_proba(image), expected_proba, atol=1e-6)
