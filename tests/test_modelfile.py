import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

from seglab.errors import ModelFileError
from seglab.modelfile import FORMAT_VERSION, load, read_manifest, save
from seglab.segmenters import make_segmenter


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
