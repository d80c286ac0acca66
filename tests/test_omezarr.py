"""OME-Zarr: a predicted mask written as an NGFF label pyramid reads back with the ome-zarr
package's own reader; an OME-Zarr image predicts as the same image given as TIFF."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

pytest.importorskip("ome_zarr")
import zarr
from ome_zarr.format import FormatV04
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader
from ome_zarr.writer import write_multiscale

from seglab.cli import main
from seglab.io import load_image
from seglab.modelfile import save
from seglab.segmenters import make_segmenter


@pytest.fixture(scope="module")
def mosaic(voced, tmp_path_factory):
    """A 1024 x 768 RGB mosaic of course images, as a TIFF and as an OME-Zarr (c, y, x)."""
    folder = tmp_path_factory.mktemp("mosaic")
    images = voced / "images"
    tiles = [(load_image(images / f"{k}.png") * 255).round().astype(np.uint8) for k in range(12)]
    image = np.concatenate([np.concatenate(tiles[r * 3 : r * 3 + 3], 1) for r in range(4)], 0)
    tifffile.imwrite(folder / "m.tif", image, tile=(256, 256))
    root = zarr.open_group(str(folder / "m.ome.zarr"), mode="w", zarr_format=2)
    planes = np.moveaxis(image, -1, 0)
    write_multiscale([planes, planes[:, ::2, ::2]], root, fmt=FormatV04(), axes="cyx")
    return folder, image


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    seg = make_segmenter("threshold", t_nucleus=0.45, t_background=0.85).fit([np.zeros((8, 8, 3))])
    path = tmp_path_factory.mktemp("model") / "t.seglab"
    save(seg, path)
    return path, seg


def _nodes(path) -> dict:
    """The ome-zarr reader's nodes by their path's last part."""
    return {
        str(node.zarr.path).rstrip("/").split("/")[-1]: node for node in Reader(parse_url(path))()
    }


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_the_label_pyramid_reads_back_with_ome_zarr(mosaic, model, tmp_path, version):
    folder, image = mosaic
    model_path, seg = model
    out = tmp_path / "m.ome.zarr"
    args = ["predict", str(model_path), str(folder / "m.tif"), "--chunk", "256"]
    assert main([*args, "--ngff", version, "-o", str(out)]) == 0
    assert (out / (".zattrs" if version == "0.4" else "zarr.json")).exists()
    nodes = _nodes(str(out))
    picture, labels = nodes["m.ome.zarr"], nodes["seglab"]
    expected = seg.predict(image.astype(np.float32) / 255)
    # the same levels as the image: 768 -> 384 -> 192 would be under 256, so 2 levels
    assert [d.shape for d in picture.data] == [(3, 1024, 768), (3, 512, 384)]
    assert [d.shape for d in labels.data] == [(1024, 768), (512, 384)]
    assert np.array_equal(np.asarray(picture.data[0]), np.moveaxis(image, -1, 0))
    assert np.array_equal(np.asarray(labels.data[0]), expected)
    assert np.array_equal(np.asarray(labels.data[1]), expected[::2, ::2])  # sampled, not averaged
    colours = labels.metadata["color"]
    assert set(colours) == {1, 2} and all(len(c) == 4 for c in colours.values())
    assert labels.metadata["properties"][1]["class"] == "cytoplasm"
    assert labels.metadata["properties"][2]["class"] == "nucleus"


def test_an_ome_zarr_image_predicts_as_the_same_tiff(mosaic, model, tmp_path):
    folder, _ = mosaic
    model_path, _ = model
    out = tmp_path / "out"
    common = ["predict", str(model_path), "--chunk", "256", "-o", str(out)]
    assert main([*common, str(folder / "m.tif")]) == 0
    assert main([*common, str(folder / "m.ome.zarr")]) == 0
    from_tiff = tifffile.imread(out / "m.tif")
    from_zarr = np.asarray(zarr.open_array(str(out / "m.zarr"), mode="r"))
    assert from_tiff.shape == (1024, 768) and np.array_equal(from_tiff, from_zarr)


def test_a_zarr_group_without_multiscales_is_refused(model, tmp_path, capsys):
    model_path, _ = model
    bare = tmp_path / "bare.ome.zarr"
    zarr.open_group(str(bare), mode="w", zarr_format=2).create_array("x", shape=(8, 8), dtype="u1")
    out = tmp_path / "out"
    assert main(["predict", str(model_path), str(bare), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "multiscales" in err[0]
    assert not out.exists()


def test_one_image_per_ome_zarr(mosaic, model, tmp_path, capsys):
    folder, _ = mosaic
    model_path, _ = model
    out = tmp_path / "two.ome.zarr"
    inputs = [str(folder / "m.tif"), str(folder / "m.ome.zarr")]
    assert main(["predict", str(model_path), *inputs, "-o", str(out)]) == 2
    assert "one image" in capsys.readouterr().err and not out.exists()
