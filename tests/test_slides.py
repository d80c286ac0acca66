"""Slides: a pyramidal TIFF written here with tifffile, read at two levels, predicted tiled.

The test slide is a mosaic of course images (left half) beside flat grey glass (right half),
with three levels (1, 1/2, 1/4) and a pixel size of 0.5 µm in its resolution tags.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile

from seglab.cli import main
from seglab.io import load_image, load_mask
from seglab.modelfile import save
from seglab.segmenters import make_segmenter
from seglab.slides import SlideLevel, open_level, tissue_mask

MPP = 0.5
GLASS = 230  # grey, flat: what tissue detection must skip


def _levels(base: np.ndarray) -> list[np.ndarray]:
    """Each level the mean of 2 x 2 blocks of the one above, as a scanner's pyramid."""
    levels = [base]
    for _ in range(2):
        a = levels[-1].astype(np.float32)
        levels.append(((a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4).round())
    return [level.astype(np.uint8) for level in levels]


@pytest.fixture(scope="module")
def slide(voced, tmp_path_factory):
    folder = tmp_path_factory.mktemp("slide")
    images = voced / "images"
    tiles = [(load_image(images / f"{k}.png") * 255).round().astype(np.uint8) for k in range(8)]
    left = np.concatenate([np.concatenate(tiles[r * 2 : r * 2 + 2], 1) for r in range(4)], 0)
    base = np.concatenate([left, np.full_like(left, GLASS)], 1)  # 1024 x 1024
    levels = _levels(base)
    path = folder / "slide.tif"
    with tifffile.TiffWriter(path) as tif:
        for k, level in enumerate(levels):
            per_cm = 1e4 / (MPP * 2**k)
            tif.write(
                level,
                tile=(128, 128),
                photometric="rgb",
                compression="zlib",
                resolution=(per_cm, per_cm),
                resolutionunit="CENTIMETER",
                subfiletype=0 if k == 0 else 1,
            )
    return path, levels


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    # thresholds that call the glass cytoplasm: a predicted glass tile cannot pass for a skipped one
    seg = make_segmenter("threshold", t_nucleus=0.45, t_background=0.95).fit([np.zeros((8, 8, 3))])
    path = tmp_path_factory.mktemp("model") / "t.seglab"
    save(seg, path)
    return path, seg


def test_levels_and_pixel_size_are_read_as_written(slide):
    path, levels = slide
    for k in (0, 1):
        level = SlideLevel(path, k)
        assert level.shape == (*levels[k].shape[:2], 3)
        assert level.mpp == pytest.approx(MPP * 2**k)
        assert np.array_equal(level[0:100, 50:300], levels[k][0:100, 50:300])


def test_openslide_reads_the_same_pixels(slide, tmp_path):
    pytest.importorskip("openslide")
    path, levels = slide
    copy = tmp_path / "slide.svs"  # read through OpenSlide (generic tiled TIFF)
    shutil.copy(path, copy)
    level = SlideLevel(copy, 1)
    assert level.reader == "openslide" and level.mpp == pytest.approx(MPP * 2)
    assert np.array_equal(level[10:200, 30:250], levels[1][10:200, 30:250])


def test_level_one_tiled_equals_whole_image_prediction(slide, model, tmp_path):
    path, levels = slide
    model_path, seg = model
    out = tmp_path / "out"
    code = main(["predict", str(model_path), str(path), "--level", "1", "--chunk", "128",
                 "--all-tiles", "-o", str(out)])  # fmt: skip
    assert code == 0
    tiled = tifffile.imread(out / "slide.tif")
    whole = seg.predict(levels[1].astype(np.float32) / 255)  # the same level, whole
    assert np.array_equal(tiled, whole)
    assert (tiled[:, 256:] == 1).all()  # the glass half is cytoplasm to this model


def test_tissue_detection_skips_the_glass(slide, model, tmp_path):
    path, levels = slide
    model_path, seg = model
    tissue, factor = tissue_mask(SlideLevel(path, 0))
    assert factor == 4 and tissue[:, :128].any() and not tissue[:, 130:].any()
    out = tmp_path / "out"
    assert main(["predict", str(model_path), str(path), "--chunk", "128", "-o", str(out)]) == 0
    mask = tifffile.imread(out / "slide.tif")
    whole = seg.predict(levels[0].astype(np.float32) / 255)
    kept = 0
    for r in range(0, 1024, 128):
        for c in range(0, 1024, 128):
            # the map at 1/4: does this 128-pixel tile hold tissue?
            has_tissue = tissue[r // 4 : (r + 128) // 4, c // 4 : (c + 128) // 4].any()
            got, want = mask[r : r + 128, c : c + 128], whole[r : r + 128, c : c + 128]
            assert np.array_equal(got, want if has_tissue else np.zeros_like(want))
            kept += has_tissue
    # the glass half skipped (all but its first column of tiles, next to the cells), the cells kept
    assert 16 <= kept <= 32 + 8
    assert (mask[:, 640:] == 0).all() and (whole[:, 640:] == 1).all()


def test_pixel_size_reaches_the_area_columns(slide, model, tmp_path, capsys):
    pytest.importorskip("rasterio")
    path, _ = slide
    model_path, _ = model
    out = tmp_path / "out"
    args = ["predict", str(model_path), str(path), "--level", "1", "--chunk", "128", "-o", str(out)]
    assert main([*args, "--geojson"]) == 0
    features = json.loads((out / "slide.geojson").read_text())["features"]
    assert features
    for feature in features:
        m = feature["properties"]["measurements"]
        assert m["cell_um2"] == pytest.approx(m["cell_px"] * (2 * MPP) ** 2)
    capsys.readouterr()
    # nc-ratio finds the pixel size in the mask TIFF that predict wrote
    assert main(["nc-ratio", str(out / "slide.tif"), "--per-cell"]) == 0
    header, first = capsys.readouterr().out.splitlines()[:2]
    row = dict(zip(header.split(","), first.split(","), strict=True))
    assert float(row["cell_um2"]) == pytest.approx(int(row["cell_px"]) * (2 * MPP) ** 2)


def test_mpp_picks_the_nearest_finer_level_and_resamples(slide):
    path, levels = slide
    level = open_level(path, mpp=1.0)
    assert level.shape[:2] == levels[1].shape[:2]  # exactly level 1: nothing resampled
    between = open_level(path, mpp=1.5)
    assert between.shape[:2] == (341, 341) and between.mpp == pytest.approx(1.5)
    assert between[0:64, 0:64].shape == (64, 64, 3)


@pytest.mark.parametrize(
    "extra, says",
    [
        (["--level", "3"], "--level 3"),
        (["--mpp", "0.25"], "finer than the slide's base level"),
    ],
)
def test_bad_levels_are_refused_with_one_line(slide, model, tmp_path, capsys, extra, says):
    path, _ = slide
    model_path, _ = model
    out = tmp_path / "out"
    assert main(["predict", str(model_path), str(path), *extra, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]
    assert not out.exists()


def test_a_truncated_slide_is_refused_with_one_line(slide, model, tmp_path, capsys):
    pytest.importorskip("openslide")
    path, _ = slide
    model_path, _ = model
    broken = tmp_path / "broken.svs"
    broken.write_bytes(path.read_bytes()[:5000])
    out = tmp_path / "out"
    assert main(["predict", str(model_path), str(broken), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.svs" in err[0]
    assert not out.exists()


def test_whole_level_prediction_matches_the_mask_file_names(slide, model, tmp_path):
    path, levels = slide
    model_path, _ = model
    png = tmp_path / "level1.png"
    import imageio.v3 as iio

    iio.imwrite(png, levels[1])
    out = tmp_path / "png-out"
    assert main(["predict", str(model_path), str(png), "-o", str(out)]) == 0
    tiled_out = tmp_path / "tiled-out"
    args = ["predict", str(model_path), str(path), "--level", "1", "--all-tiles", "-o"]
    assert main([*args, str(tiled_out)]) == 0
    assert np.array_equal(load_mask(out / "level1.png"), tifffile.imread(tiled_out / "slide.tif"))
