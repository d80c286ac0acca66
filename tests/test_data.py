"""seglab.data: the course data fetched from its pinned source, checked, cached, or local."""

import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest

from seglab import DataSetError, load_mask
from seglab.data import course_data, course_registry, data_home, fetch_course_data


@pytest.fixture
def served(tmp_path):
    """Two course-like images and masks as .npy files on an HTTP server on the loopback."""
    root = tmp_path / "served"
    rng = np.random.default_rng(0)
    registry = {}
    arrays = {}
    for stem in ("0", "1"):
        image = (rng.integers(0, 256, (3, 8, 6)) / 255).astype(np.float32)  # multiples of 1/255
        mask = rng.integers(0, 3, (8, 6)).astype(np.int64)
        for kind, array in (("X", image), ("y", mask)):
            path = root / "imagedata" / kind / f"{stem}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, array)
            registry[f"imagedata/{kind}/{stem}.npy"] = (
                "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
            )
        arrays[stem] = (image, mask)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", registry, arrays
    finally:
        server.shutdown()
        server.server_close()


def test_download_checks_each_file_and_writes_images_and_masks(served, tmp_path):
    url, registry, arrays = served
    folder = fetch_course_data(tmp_path / "cache", url, registry, progress=False)
    assert folder == tmp_path / "cache" / "imagedata"
    import imageio.v3 as iio

    for stem, (image, mask) in arrays.items():
        png = iio.imread(folder / "images" / f"{stem}.png")
        # the source holds uint8 / 255 in float32, channels first
        assert np.array_equal(png, np.moveaxis(np.round(image * 255), 0, -1).astype(np.uint8))
        assert np.array_equal(load_mask(folder / "masks" / f"{stem}.png"), mask)
    assert not (tmp_path / "cache" / "source").exists()  # the .npy files are removed
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["imagedata"]


def test_a_file_whose_hash_differs_is_refused_and_nothing_is_left(served, tmp_path):
    url, registry, _ = served
    wrong = dict(registry, **{"imagedata/y/1.npy": "sha256:" + "0" * 64})
    with pytest.raises(DataSetError, match="imagedata/y/1.npy"):
        fetch_course_data(tmp_path / "cache", url, wrong, progress=False)
    assert not (tmp_path / "cache" / "imagedata").exists()
    assert not list((tmp_path / "cache").glob(".imagedata*"))


def test_an_unreachable_source_is_one_line_naming_the_variable(served, tmp_path):
    _, registry, _ = served
    with pytest.raises(DataSetError, match="SEGLAB_DATA") as error:
        fetch_course_data(tmp_path / "cache", "http://127.0.0.1:9/", registry, progress=False)
    assert "\n" not in str(error.value)


def test_the_shipped_registry_is_the_course_files():
    registry = course_registry()
    assert sorted(registry) == sorted(
        f"imagedata/{kind}/{i}.npy" for kind in ("X", "y") for i in range(200)
    )
    assert all(len(v) == len("sha256:") + 64 for v in registry.values())


def test_seglab_data_variable_names_a_local_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGLAB_DATA", str(tmp_path))
    assert data_home() == tmp_path
    with pytest.raises(DataSetError, match="seglab data"):
        course_data(fetch=False)
    for sub in ("images", "masks"):
        (tmp_path / "voced" / "imagedata" / sub).mkdir(parents=True)
    assert course_data(fetch=False) == tmp_path / "voced" / "imagedata"
