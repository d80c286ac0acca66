"""QuPath GeoJSON: polygons rasterised back give the label images exactly, valid, in QuPath's form.

Rasterising here is independent of the tracing: a pixel belongs to a polygon when its centre
lies inside it (shapely's point-in-polygon), which is what a pixel-edge polygon means.
"""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest

shapely = pytest.importorskip("shapely")
pytest.importorskip("rasterio")

from seglab.cli import main  # noqa: E402
from seglab.io import csv_text, load_mask  # noqa: E402
from seglab.measure import NUCLEUS, label_cells, per_cell_nc  # noqa: E402
from seglab.measure.tiled import iter_cells_tiled, per_cell_nc_tiled  # noqa: E402
from seglab.qupath import (  # noqa: E402
    cell_features,
    region_features,
    write_cells_geojson,
    write_geojson,
)


def rasterise(geometries: list[dict], shape: tuple[int, int]) -> np.ndarray:
    """Label k + 1 where a pixel's centre is inside geometry k (GeoJSON dicts)."""
    out = np.zeros(shape, np.int64)
    for k, geometry in enumerate(geometries):
        polygon = shapely.geometry.shape(geometry)
        if polygon.is_empty:
            continue
        x0, y0, x1, y1 = (int(v) for v in polygon.bounds)  # pixel corners: whole numbers
        rows, cols = np.mgrid[y0:y1, x0:x1]
        inside = shapely.contains_xy(polygon, cols + 0.5, rows + 0.5)
        assert not out[y0:y1, x0:x1][inside].any(), "two polygons overlap"
        out[y0:y1, x0:x1][inside] = k + 1
    return out


def read(path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        # QuPath 0.4 cannot read NaN: the file must not hold any
        collection = json.load(f, parse_constant=lambda name: pytest.fail(f"{name} in file"))
    assert collection["type"] == "FeatureCollection"
    return collection["features"]


def check_qupath_form(feature: dict, object_type: str) -> None:
    """The keys and types QuPath's GeoJSON import documents."""
    assert feature["type"] == "Feature" and isinstance(feature["id"], str)
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    properties = feature["properties"]
    assert properties["objectType"] == object_type
    classification = properties["classification"]
    assert isinstance(classification["name"], str) and classification["name"]
    colour = classification["color"]
    assert isinstance(colour, list) and len(colour) == 3
    assert all(isinstance(c, int) and 0 <= c <= 255 for c in colour)
    for name, value in properties["measurements"].items():
        assert isinstance(name, str) and isinstance(value, float) and math.isfinite(value)
    for key in ("geometry", "nucleusGeometry"):
        if key in feature:
            assert shapely.geometry.shape(feature[key]).is_valid, key


@pytest.mark.parametrize("stem", ["25", "60", "115", "169"])
def test_cells_round_trip_on_course_masks(stem, voced, tmp_path):
    mask = load_mask(voced / "masks" / f"{stem}.png")
    rows = write_cells_geojson(tmp_path / "cells.geojson", mask, stem, pixel_size=0.5)
    features = read(tmp_path / "cells.geojson")
    assert len(features) == len(rows) > 0
    cells = label_cells(mask)
    assert np.array_equal(rasterise([f["geometry"] for f in features], mask.shape), cells)
    nuclei = np.where(mask == NUCLEUS, cells, 0)
    for k, feature in enumerate(features, start=1):
        check_qupath_form(feature, "cell")
        cell = shapely.geometry.shape(feature["geometry"])
        assert cell.area == (cells == k).sum()  # pixel edges: area is the pixel count
        measurements = feature["properties"]["measurements"]
        assert measurements["cell_px"] == (cells == k).sum()
        assert measurements["nucleus_px"] == (nuclei == k).sum()
        assert measurements["cell_um2"] == pytest.approx((cells == k).sum() * 0.25)
        high = measurements["nucleus_cell_ratio"] >= 0.7
        assert feature["properties"]["classification"]["name"] == ("High N/C" if high else "Cell")
        if (nuclei == k).any():
            drawn = rasterise([feature["nucleusGeometry"]], mask.shape)
            assert np.array_equal(drawn > 0, nuclei == k)
        else:
            assert "nucleusGeometry" not in feature


def test_holes_and_diagonal_touches_stay_valid_and_exact():
    # a ring (with a hole) and two pixels touching only at a corner, in one cell
    mask = np.zeros((9, 9), np.int64)
    mask[1:6, 1:6] = 1
    mask[3, 3] = 0  # a hole
    mask[2, 2] = 2
    mask[6, 6] = 1  # corner contact with the ring
    mask[7, 7] = 1
    cells = (mask > 0).astype(np.int64)
    rows = per_cell_nc(mask, cells=cells)
    (feature,) = cell_features(mask, cells, rows)
    polygon = shapely.geometry.shape(feature["geometry"])
    assert polygon.is_valid and polygon.area == (mask > 0).sum()
    assert np.array_equal(rasterise([feature["geometry"]], mask.shape), cells)


def test_regions_round_trip_and_gzip(voced, tmp_path):
    mask = load_mask(voced / "masks" / "17.png")
    features = region_features(mask, ["background", "cytoplasm", "nucleus"], "detection")
    write_geojson(tmp_path / "regions.geojson.gz", features)
    with open(tmp_path / "regions.geojson.gz", "rb") as f:
        assert f.read(2) == b"\x1f\x8b"  # gzip's magic number
    back = read(tmp_path / "regions.geojson.gz")
    drawn = np.zeros(mask.shape, np.int64)
    for feature in back:
        check_qupath_form(feature, "detection")
        value = int(feature["properties"]["measurements"]["class"])
        assert (
            feature["properties"]["classification"]["name"] == ["", "cytoplasm", "nucleus"][value]
        )
        inside = rasterise([feature["geometry"]], mask.shape) > 0
        assert not drawn[inside].any()
        drawn[inside] = value
    assert np.array_equal(drawn, mask)


def _mosaic(voced, size: int) -> np.ndarray:
    folder = voced / "masks"
    n = size // 256
    # a background frame around each mask, so that cells do not join across the mosaic
    masks = [np.pad(load_mask(folder / f"{k % 200}.png")[2:-2, 2:-2], 2) for k in range(n * n)]
    return np.block([[masks[r * n + c] for c in range(n)] for r in range(n)])


@pytest.mark.parametrize("size", [1024, pytest.param(4096, marks=pytest.mark.slow)])
def test_tiled_cells_round_trip_on_a_mosaic(size, voced, tmp_path):
    mosaic = _mosaic(voced, size)
    rows = write_cells_geojson(tmp_path / "tiled.geojson", mosaic, "m", chunk=700, halo=300)
    features = read(tmp_path / "tiled.geojson")
    # the same rows as without the GeoJSON (compared as CSV text: NaN ratios are equal there)
    assert csv_text(rows) == csv_text(per_cell_nc_tiled(mosaic, "m", tile=700, halo=300))
    assert len(features) == len(rows) == label_cells(mosaic).max()
    # Polygons in whole-slide coordinates: together they draw the cells and nuclei exactly.
    cells = rasterise([f["geometry"] for f in features], mosaic.shape)
    assert np.array_equal(cells > 0, mosaic > 0)
    nuclei = rasterise([f.get("nucleusGeometry", _EMPTY) for f in features], mosaic.shape)
    assert np.array_equal(nuclei > 0, mosaic == NUCLEUS)
    assert np.array_equal(nuclei[nuclei > 0], cells[nuclei > 0])  # each nucleus in its cell
    for k, (feature, row) in enumerate(zip(features, rows, strict=True), start=1):
        check_qupath_form(feature, "cell")
        assert (
            (cells == k).sum() == row["cell_px"] == feature["properties"]["measurements"]["cell_px"]
        )
        assert (nuclei == k).sum() == row["nucleus_px"]
    # The same objects as whole-image measurement, cell for cell.
    whole = write_cells_geojson(tmp_path / "whole.geojson", mosaic, "m")
    whole_features = read(tmp_path / "whole.geojson")
    assert [f["id"] for f in features] == [f["id"] for f in whole_features]
    same = [
        shapely.geometry.shape(a["geometry"]).equals(shapely.geometry.shape(b["geometry"]))
        for a, b in zip(features, whole_features, strict=True)
    ]
    # Touching cells are split by a watershed whose ties can fall the other way in a tile
    # (8 of 623 cells at 4096 x 4096, each by a few border pixels); the rest are identical.
    assert sum(same) >= 0.98 * len(same)
    assert sum(r["cell_px"] for r in rows) == sum(r["cell_px"] for r in whole)


_EMPTY = {"type": "Polygon", "coordinates": []}


class _RecordingMask:
    """A mask that notes the last row it was read up to."""

    def __init__(self, array):
        self.array, self.shape, self.rows_read = array, array.shape, 0

    def __getitem__(self, key):
        self.rows_read = max(self.rows_read, key[0].stop)
        return self.array[key]


def test_tiled_cells_are_streamed_one_row_of_tiles_at_a_time(voced):
    mosaic = _RecordingMask(_mosaic(voced, 1024))
    cells = iter_cells_tiled(mosaic, "m", tile=256, halo=64, describe=cell_features)
    row, feature = next(cells)
    # the first cell comes after the first row of tiles (and its halo), not after the mask
    assert mosaic.rows_read == 256 + 64
    assert row["cell"] == 1 and feature["properties"]["measurements"]["cell_px"] == row["cell_px"]
    assert sum(1 for _ in cells) + 1 == label_cells(mosaic.array).max()
    assert mosaic.rows_read == 1024


def test_cli_writes_cells_and_refuses_several_masks(voced, tmp_path, capsys):
    masks = voced / "masks"
    out = tmp_path / "cells.geojson"
    assert main(["nc-ratio", str(masks / "3.png"), "--per-cell", "--geojson", str(out)]) == 0
    assert len(read(out)) == label_cells(load_mask(masks / "3.png")).max()
    capsys.readouterr()
    other = tmp_path / "two.geojson"
    code = main(["nc-ratio", str(masks / "3.png"), str(masks / "4.png"), "--geojson", str(other)])
    assert code == 2 and not other.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--geojson" in err[0]
