import struct
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import seglab.io as sio
from seglab.errors import (
    ImageReadError,
    ImageTooLargeError,
    ParameterError,
    SeglabError,
    ShapeError,
)
from seglab.io import (
    atomic_path,
    check_image,
    list_image_files,
    load_image,
    load_mask,
    load_scribbles,
    remove_stale_parts,
    save_image,
    save_mask,
)

from ._fuzz import FUZZ


def test_png_rgb_uint8_scaled_by_255(tmp_path):
    pixels = np.array([[[0, 51, 255], [255, 0, 102]]], dtype=np.uint8)
    iio.imwrite(tmp_path / "a.png", pixels)
    image = load_image(tmp_path / "a.png")
    assert image.dtype == np.float32 and image.shape == (1, 2, 3)
    np.testing.assert_allclose(image, pixels / 255.0, rtol=1e-6)


def test_rgba_png_drops_alpha(tmp_path):
    pixels = np.zeros((4, 5, 4), dtype=np.uint8)
    pixels[..., 0] = 255
    pixels[..., 3] = 7
    iio.imwrite(tmp_path / "a.png", pixels)
    image = load_image(tmp_path / "a.png")
    assert image.shape == (4, 5, 3)
    assert image[..., 0].min() == 1.0 and image[..., 1:].max() == 0.0


def test_uint16_tiff_grey_scaled_by_65535(tmp_path):
    pixels = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", pixels)
    image = load_image(tmp_path / "a.tif")
    assert image.shape == (2, 2, 1)
    np.testing.assert_allclose(image[..., 0], pixels / 65535.0, rtol=1e-6)


def test_minmax_normalization(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", np.array([[600, 800], [1000, 600]], dtype=np.uint16))
    image = load_image(tmp_path / "a.tif", normalize="minmax")
    np.testing.assert_allclose(image[..., 0], [[0, 0.5], [1, 0]])


def test_jpeg_reads(tmp_path):
    iio.imwrite(tmp_path / "a.jpg", np.full((8, 8, 3), 128, np.uint8))
    image = load_image(tmp_path / "a.jpg")
    assert image.shape == (8, 8, 3) and abs(float(image.mean()) - 128 / 255) < 0.02


def test_course_npy_channels_first_is_transposed(tmp_path):
    chw = np.random.default_rng(0).random((3, 6, 7)).astype(np.float32)
    np.save(tmp_path / "7.npy", chw)
    image = load_image(tmp_path / "7.npy")
    np.testing.assert_array_equal(image, np.moveaxis(chw, 0, -1))


def test_course_npy_equals_png(voced):
    """The course X/{i}.npy is images/{i}.png / 255, channels first (docs/design.md, Data)."""
    png = iio.imread(voced / "images" / "3.png")
    course = (png.astype(np.float32) / 255).transpose(2, 0, 1)
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "3.npy"
    np.save(path, course)
    np.testing.assert_array_equal(load_image(path), load_image(voced / "images" / "3.png"))


@pytest.mark.parametrize(
    "name, content",
    [
        ("garbage.png", b"this is not an image"),
        ("empty.tif", b""),
        ("garbage.jpg", b"\xff\xd8\xff\x00nonsense"),
        ("garbage.npy", b"\x93NUMPY broken"),
    ],
)
def test_bad_bytes_give_image_read_error(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageReadError, match=name):
        load_image(tmp_path / name)


def test_truncated_png(tmp_path):
    iio.imwrite(
        tmp_path / "full.png",
        np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8),
    )
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cut.png"):
        load_image(tmp_path / "cut.png")


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        load_image(tmp_path / "nope.png")
    (tmp_path / "a.bmpx").write_bytes(b"x")
    with pytest.raises(ImageReadError, match="unsupported"):
        load_image(tmp_path / "a.bmpx")


def test_pickled_npy_is_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ImageReadError):
        load_image(tmp_path / "obj.npy")


def test_nan_and_out_of_range_and_bad_shapes():
    with pytest.raises(ImageReadError, match="NaN"):
        check_image(np.array([[0.1, np.nan]], dtype=np.float32))
    with pytest.raises(ImageReadError, match="outside"):
        check_image(np.array([[0.1, 2.0]], dtype=np.float32))
    with pytest.raises(ShapeError, match="2-D or 3-D"):
        check_image(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ShapeError, match="empty"):
        check_image(np.zeros((0, 5)))
    with pytest.raises(ParameterError):
        check_image(np.zeros((2, 2)), normalize="zscore")


def test_every_error_is_a_seglab_error():
    assert issubclass(ImageReadError, SeglabError) and issubclass(ShapeError, SeglabError)


def test_masks_round_trip_in_each_format(tmp_path):
    mask = np.random.default_rng(1).integers(0, 3, (9, 11))
    for suffix in ("png", "tif", "npy"):
        save_mask(tmp_path / f"m.{suffix}", mask)
        np.testing.assert_array_equal(load_mask(tmp_path / f"m.{suffix}"), mask)
    # A PNG stores the labels themselves, not colours.
    assert iio.imread(tmp_path / "m.png").max() == mask.max()


def test_colour_mask_refused_grey_rgb_mask_accepted(tmp_path):
    colour = np.zeros((4, 4, 3), np.uint8)
    colour[0, 0] = [255, 0, 0]
    iio.imwrite(tmp_path / "c.png", colour)
    with pytest.raises(ShapeError, match="colour mask"):
        load_mask(tmp_path / "c.png")
    grey = np.repeat(np.array([[0, 1], [2, 1]], np.uint8)[..., None], 3, axis=-1)
    iio.imwrite(tmp_path / "g.png", grey)
    np.testing.assert_array_equal(load_mask(tmp_path / "g.png"), [[0, 1], [2, 1]])


def test_scribbles_shift_to_minus_one(bacteria):
    labels = load_scribbles(bacteria / "wt_labels.tif")
    raw = tifffile.imread(bacteria / "wt_labels.tif")
    assert labels.shape == raw.shape
    assert (labels == -1).sum() == (raw == 0).sum()
    assert (labels == 1).sum() == (raw == 2).sum()


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_save_mask_overwrites_atomically(tmp_path):
    save_mask(tmp_path / "m.png", np.zeros((3, 3), int))
    save_mask(tmp_path / "m.png", np.ones((3, 3), int))
    assert load_mask(tmp_path / "m.png").min() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]


def test_written_files_get_the_mode_open_gives(tmp_path):
    # mkstemp's private 0600 would hide a lab's masks from its other users
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # open() applies the process umask: the reference mode
    save_mask(tmp_path / "m.png", np.zeros((3, 3), int))
    mode = (tmp_path / "m.png").stat().st_mode & 0o777
    assert mode == plain.stat().st_mode & 0o777


def test_natural_order(tmp_path):
    for name in ("10.png", "2.png", "1.png"):
        iio.imwrite(tmp_path / name, np.zeros((2, 2), np.uint8))
    assert [p.stem for p in list_image_files(tmp_path)] == ["1", "2", "10"]


def test_writers_refuse_a_folder_or_a_file_in_the_way(tmp_path):
    from seglab.errors import OutputPathError
    from seglab.io import check_output_folder

    (tmp_path / "taken").write_text("x")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(OutputPathError, match="is a folder"):
        save_mask(tmp_path / "folder.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(OutputPathError, match="not a folder"):
        save_mask(tmp_path / "taken" / "deeper" / "m.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(OutputPathError, match="is a file"):
        check_output_folder(tmp_path / "taken")
    assert check_output_folder(tmp_path / "new" / "sub") == tmp_path / "new" / "sub"
    # nothing half-written, and the folder in the way left empty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.png", "taken"]
    assert not any((tmp_path / "folder.png").iterdir())


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


def test_stale_parts_only_when_old(tmp_path):
    part = tmp_path / ".x.png.abc.part.png"
    part.write_bytes(b"half")
    assert remove_stale_parts(tmp_path, older_than=3600) == 0 and part.exists()
    assert remove_stale_parts(tmp_path, older_than=0) == 1 and not part.exists()
