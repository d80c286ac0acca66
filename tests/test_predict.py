"""seglab.predict: inputs expanded and each routed to whole-image or tiled prediction."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

import seglab
from seglab import ImageReadError, ParameterError
from seglab.predict import expand_inputs, predict_inputs


@pytest.fixture
def model():
    data = seglab.synthetic_cells(2, size=64, random_state=5)
    return seglab.make_segmenter("threshold").fit([data.image(0)]), data


def test_inputs_expand_to_files_and_refuse_what_is_not_there(tmp_path):
    (tmp_path / "set" / "images").mkdir(parents=True)
    for name in ("b.png", "a.png", "notes.txt"):
        (tmp_path / "set" / "images" / name).write_bytes(b"")
    (tmp_path / "one.tif").write_bytes(b"")
    (tmp_path / "z.zarr").mkdir()
    files = expand_inputs([tmp_path / "set", tmp_path / "one.tif", tmp_path / "z.zarr"])
    assert [f.name for f in files] == ["a.png", "b.png", "one.tif", "z.zarr"]
    with pytest.raises(ImageReadError, match="no such file"):
        expand_inputs([tmp_path / "missing.png"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageReadError, match="no image files"):
        expand_inputs([tmp_path / "empty"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="share the stem 'a'"):
        expand_inputs([tmp_path / "set", tmp_path / "other"])


def test_small_images_whole_and_large_ones_tiled_give_the_same_masks(model, tmp_path):
    segmenter, data = model
    image = (data.image(1) * 255).round().astype(np.uint8)
    iio.imwrite(tmp_path / "small.png", image[:40, :40])  # within the chunk: whole
    tifffile.imwrite(tmp_path / "large.tif", image, tile=(16, 16))  # larger: tile by tile
    summary = predict_inputs(
        segmenter, [tmp_path / "small.png", tmp_path / "large.tif"], tmp_path / "out", chunk=48
    )
    assert (summary.total, summary.tiled, summary.written, summary.failures) == (2, 1, 2, [])
    for name, mask_name in (("small.png", "small.png"), ("large.tif", "large.tif")):
        expected = segmenter.predict(seglab.load_image(tmp_path / name))
        assert np.array_equal(seglab.load_mask(tmp_path / "out" / mask_name), expected)


def test_a_model_file_is_loaded_after_the_options_are_checked(model, tmp_path):
    with pytest.raises(ParameterError, match="16"):
        predict_inputs(tmp_path / "missing.seglab", [tmp_path], tmp_path / "out", chunk=0)
    segmenter, data = model
    seglab.save(segmenter, tmp_path / "t.seglab")
    iio.imwrite(tmp_path / "a.png", (data.image(1) * 255).round().astype(np.uint8))
    summary = predict_inputs(tmp_path / "t.seglab", [tmp_path / "a.png"], tmp_path / "out")
    assert summary.written == 1 and (tmp_path / "out" / "a.png").exists()


def test_options_that_tiling_cannot_give_are_refused(model, tmp_path):
    segmenter, _ = model
    tifffile.imwrite(tmp_path / "large.tif", np.zeros((64, 64), np.uint8), tile=(16, 16))
    with pytest.raises(ParameterError, match="--nc"):
        predict_inputs(segmenter, [tmp_path / "large.tif"], tmp_path / "out", chunk=32, nc=True)
    tifffile.imwrite(tmp_path / "other.tif", np.zeros((64, 64), np.uint8), tile=(16, 16))
    two = [tmp_path / "large.tif", tmp_path / "other.tif"]
    with pytest.raises(ParameterError, match="one image"):
        predict_inputs(segmenter, two, tmp_path / "o.ome.zarr")
