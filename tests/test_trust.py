"""Issue 5: untrusted inputs end in a SeglabError, outputs are atomic, results repeatable."""

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import seglab.io as sio
from seglab import load, save
from seglab.cli import main
from seglab.datasets import kfold_split, random_split, synthetic_cells
from seglab.errors import ImageTooLargeError, ModelFileError, SeglabError
from seglab.io import load_image, load_mask, remove_stale_parts, save_image, save_mask
from seglab.measure import nc_agreement
from seglab.metrics import dice, iou
from seglab.segmenters import make_segmenter

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

masks_strategy = st.integers(1, 8).flatmap(
    lambda h: st.integers(1, 8).flatmap(
        lambda w: st.tuples(
            arrays(np.int64, (h, w), elements=st.integers(0, 2)),
            arrays(np.int64, (h, w), elements=st.integers(0, 2)),
        )
    )
)


# ----------------------------------------------------------------------------- properties


@given(masks_strategy, st.integers(0, 2))
@settings(max_examples=200, deadline=None)
def test_dice_properties(pair, label):
    a, b = pair
    d = dice(a, b, label)
    assert 0.0 <= d <= 1.0
    assert d == dice(b, a, label)
    assert dice(a, a, label) == 1.0
    j = iou(a, b, label)
    assert j <= d + 1e-12
    assert d == pytest.approx(2 * j / (1 + j))


@given(st.lists(st.tuples(st.floats(0, 3), st.floats(0, 3)), min_size=2, max_size=40))
@settings(max_examples=200, deadline=None)
def test_nc_agreement_properties(pairs):
    p = np.array([x for x, _ in pairs])
    t = np.array([y for _, y in pairs])
    a = nc_agreement(p, t)
    assert a["mae"] >= 0 and 0 <= a["within"] <= 1
    assert a["bias"] == pytest.approx(np.mean(p - t), abs=1e-9)
    assert a["loa"][0] <= a["bias"] <= a["loa"][1]
    perfect = nc_agreement(t, t)
    assert perfect["mae"] == 0 and perfect["within"] == 1
    if np.ptp(t) > 1e-6:
        assert perfect["r2"] == pytest.approx(1.0)


@given(
    arrays(
        np.int64, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.integers(0, 300)
    ),
    st.sampled_from(["png", "tif", "npy"]),
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_mask_round_trip(tmp_path, mask, suffix):
    path = save_mask(tmp_path / f"m.{suffix}", mask)
    np.testing.assert_array_equal(load_mask(path), mask)


@given(
    arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3]))),
    st.sampled_from(["png", "tif", "npy"]),
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_image_round_trip(tmp_path, pixels, suffix):
    path = save_image(tmp_path / f"i.{suffix}", pixels)
    np.testing.assert_allclose(load_image(path), pixels / np.float32(255), rtol=1e-6)


@given(st.integers(2, 120), st.integers(0, 10_000))
@settings(max_examples=100, deadline=None)
def test_random_split_partitions(n, seed):
    train, test = random_split(n, seed=seed)
    assert sorted([*train, *test]) == list(range(n)) and len(test) >= 1


@given(st.integers(2, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(2, n))))
@settings(max_examples=100, deadline=None)
def test_kfold_tests_each_image_once(nk):
    n, k = nk
    tested = np.concatenate([te for _, te in kfold_split(n, k)])
    assert sorted(tested.tolist()) == list(range(n))


# ----------------------------------------------------------------------------- fuzz


def _valid_files(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "v.png", pixels)
    iio.imwrite(tmp_path / "v.jpg", pixels)
    tifffile.imwrite(tmp_path / "v.tif", pixels, compression="zlib")
    np.save(tmp_path / "v.npy", pixels)
    return {s: (tmp_path / f"v.{s}").read_bytes() for s in ("png", "jpg", "tif", "npy")}


def _check_loader(path):
    try:
        image = load_image(path)
    except SeglabError as exc:
        assert "\n" not in str(exc)
        return
    assert image.dtype == np.float32 and image.ndim == 3
    assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1


@given(st.binary(max_size=400), st.sampled_from(["png", "jpg", "tif", "npy"]))
@FUZZ
def test_fuzz_image_loader_random_bytes(tmp_path, data, suffix):
    path = tmp_path / f"f.{suffix}"
    path.write_bytes(data)
    _check_loader(path)


@given(st.data(), st.sampled_from(["png", "jpg", "tif", "npy"]))
@FUZZ
def test_fuzz_image_loader_mutated_files(tmp_path, data, suffix):
    valid = bytearray(_valid_files(tmp_path)[suffix])
    n_flips = data.draw(st.integers(1, 8))
    for _ in range(n_flips):
        at = data.draw(st.integers(0, len(valid) - 1))
        valid[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(valid)))
    path = tmp_path / f"m.{suffix}"
    path.write_bytes(bytes(valid[:cut]))
    _check_loader(path)


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


# ----------------------------------------------------------------------------- large inputs


def _png_header_only(width, height):
    """A PNG whose header claims width x height (a decompression bomb's calling card)."""

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_png_decompression_bomb_refused(tmp_path):
    (tmp_path / "bomb.png").write_bytes(_png_header_only(40_000, 40_000))
    with pytest.raises(ImageTooLargeError, match="bomb"):
        load_image(tmp_path / "bomb.png")


def test_too_large_image_says_use_chunk(tmp_path, monkeypatch):
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((64, 64), np.uint8))
    monkeypatch.setattr(sio, "MAX_PIXELS", 1000)
    with pytest.raises(ImageTooLargeError, match="--chunk"):
        load_image(tmp_path / "big.tif")
    np.save(tmp_path / "big.npy", np.zeros((64, 64), np.uint8))
    with pytest.raises(ImageTooLargeError, match="--chunk"):
        load_image(tmp_path / "big.npy")


# ----------------------------------------------------------------------------- CLI


@pytest.fixture()
def course_like(tmp_path):
    ds = synthetic_cells(4, size=64, random_state=3)
    root = tmp_path / "data"
    for i in range(len(ds)):
        save_image(root / "images" / f"{i}.png", ds.image(i))
        save_mask(root / "masks" / f"{i}.png", ds.mask(i))
    return root


def _run_cli(argv, capsys):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_cli_bad_inputs_exit_2_one_line(course_like, tmp_path, capsys):
    model = tmp_path / "k.seglab"
    assert main(["train", "kmeans", "--data", str(course_like), "-o", str(model)]) == 0
    capsys.readouterr()
    nan_image = tmp_path / "nan.npy"
    np.save(nan_image, np.full((8, 8), np.nan, np.float32))
    grey = tmp_path / "grey.png"
    iio.imwrite(grey, np.zeros((8, 8), np.uint8))
    four_d = tmp_path / "4d.npy"
    np.save(four_d, np.zeros((2, 2, 2, 2), np.float32))
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    unknown = tmp_path / "labels5"
    save_image(unknown / "images" / "a.png", np.zeros((8, 8, 3), np.uint8))
    save_mask(unknown / "masks" / "a.png", np.full((8, 8), 5))
    pickled = tmp_path / "pickled.seglab"
    with zipfile.ZipFile(pickled, "w") as z:
        z.writestr("model.json", json.dumps({"format": "seglab-model", "format_version": 1}))
    cases = [
        (["predict", model, nan_image, "-o", tmp_path / "o1"], "NaN"),
        (["predict", model, grey, "-o", tmp_path / "o2"], "trained on 3-channel images"),
        (["predict", model, four_d, "-o", tmp_path / "o3"], "2-D or 3-D"),
        (["train", "kmeans", "--data", empty, "-o", tmp_path / "e.seglab"], "no image files"),
        (["evaluate", "--model", model, "--data", unknown, "--split", "all"], "does not know"),
        (["predict", pickled, grey, "-o", tmp_path / "o4"], "no valid"),
        (["predict", model, grey, "-o", tmp_path / "o5", "--proba"], "labels only"),
    ]
    for argv, message in cases:
        code, err = _run_cli(argv, capsys)
        assert code == 2, argv
        assert len(err) == 1 and message in err[0], (argv, err)
    for name in ("o1", "o2", "o3", "o4", "o5"):
        out = tmp_path / name
        assert not out.exists() or not any(out.iterdir())
    assert not (tmp_path / "e.seglab").exists()


def test_predict_killed_half_way_leaves_only_complete_files(tmp_path):
    ds = synthetic_cells(1, size=128, random_state=0)
    seg = make_segmenter("kmeans", sigma=2.0).fit([ds.image(0)])
    model = save(seg, tmp_path / "k.seglab")
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(150):
        iio.imwrite(inputs / f"{i}.png", rng.integers(0, 255, (256, 256, 3), dtype=np.uint8))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seglab.cli", "predict", str(model), str(inputs), "-o", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        visible = (
            [p for p in out.glob("*.png") if not p.name.startswith(".")] if out.is_dir() else []
        )
        if len(visible) >= 5:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = sorted(p for p in out.glob("*.png") if not p.name.startswith("."))
    assert 5 <= len(written) < 150, "the run was not stopped half way"
    for path in written:  # every visible output is complete and right
        expected = seg.predict(load_image(inputs / path.name))
        np.testing.assert_array_equal(load_mask(path), expected)
    # A later run clears what the killed one left half-written.
    remove_stale_parts(out, older_than=0)
    assert not list(out.glob(sio.PART_GLOB))


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


def test_stale_parts_only_when_old(tmp_path):
    part = tmp_path / ".x.png.abc.part.png"
    part.write_bytes(b"half")
    assert remove_stale_parts(tmp_path, older_than=3600) == 0 and part.exists()
    assert remove_stale_parts(tmp_path, older_than=0) == 1 and not part.exists()


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


def test_same_seed_same_forest(tmp_path):
    ds = synthetic_cells(2, size=64, random_state=5)
    images, masks = [ds.image(0), ds.image(1)], [ds.mask(0), ds.mask(1)]
    digests = []
    for run in ("a", "b"):
        seg = make_segmenter("rf", samples_per_class=100).fit(images, masks)
        path = save(seg, tmp_path / f"{run}.seglab")
        with zipfile.ZipFile(path) as z:
            manifest = json.loads(z.read("model.json"))
        digests.append((manifest["members"], manifest["state"]))
        np.testing.assert_array_equal(seg.predict(images[1]), load(path).predict(images[1]))
    assert digests[0] == digests[1]
