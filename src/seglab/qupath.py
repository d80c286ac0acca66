"""Cells and regions as QuPath objects: GeoJSON that QuPath 0.4 and later import.

A cell is a Feature whose ``geometry`` is the cell, ``nucleusGeometry`` its nucleus, and whose
``properties`` hold ``objectType: "cell"``, a ``classification`` (name and RGB colour: high
N/C or not) and ``measurements``: every numeric per-cell column of
:func:`seglab.measure.per_cell_nc` (booleans as 0 or 1; NaN left out, which QuPath 0.4 cannot
read). Regions of any label image are ``"annotation"`` or ``"detection"`` objects. Polygons
follow pixel edges (:mod:`seglab.contours`), so their areas equal pixel counts; coordinates are
full-resolution pixels. Import in QuPath with File > Object data > Import objects, or by
dragging the file onto the viewer; a ``.geojson.gz`` file is written compressed.
"""

from __future__ import annotations

import gzip
import json
import math
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .contours import label_polygons, polygon_libraries, region_polygons
from .errors import ParameterError
from .io import atomic_path
from .measure import HIGH_NC_CELL_RATIO, NUCLEUS

__all__ = [
    "cell_features",
    "class_colour",
    "read_cells_geojson",
    "region_features",
    "write_cells_geojson",
    "write_geojson",
]

#: classifications of cells by the high-N/C flag, with QuPath's RGB colours
HIGH_NC_CLASS = {"name": "High N/C", "color": [220, 40, 40]}
CELL_CLASS = {"name": "Cell", "color": [40, 150, 70]}
#: colours of region classes 1, 2, ... (cytoplasm green, nucleus blue, as the course draws them)
REGION_COLOURS = [[0, 170, 0], [30, 60, 220], [230, 160, 0], [200, 0, 200], [0, 180, 200]]
_NAMESPACE = uuid.UUID("5b4e0a8e-3c1f-4f5e-9a57-6a1e0d2c9b11")  # seglab's, for stable ids
#: per-cell columns that are not measurements (where the cell is, or which image)
_NOT_MEASURED = {"image", "cell", "min_row", "min_col", "max_row", "max_col"}


def _measurements(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if key in _NOT_MEASURED or isinstance(value, str) or value is None:
            continue
        value = float(value)  # bools and numpy numbers as plain floats
        if math.isfinite(value):
            out[key] = value
    return out


#: QuPath-style colours for cell classes, in the order of a classifier's classes.
_PALETTE = [
    [40, 150, 70],
    [220, 40, 40],
    [30, 90, 220],
    [230, 160, 0],
    [160, 60, 200],
    [0, 170, 190],
    [240, 100, 160],
    [120, 90, 40],
]


def class_colour(name: str, classes) -> list[int]:
    """The RGB colour of cell class ``name``: its place among ``classes``, on a fixed palette.

    Examples
    --------
    >>> class_colour("normal", ["abnormal", "normal"])
    [220, 40, 40]
    """
    classes = list(classes)
    index = classes.index(name) if name in classes else len(classes)
    return list(_PALETTE[index % len(_PALETTE)])


def _classification(row: dict, high: bool, classes) -> dict:
    if classes is not None and "cell_class" in row:
        return {"name": row["cell_class"], "color": class_colour(row["cell_class"], classes)}
    return dict(HIGH_NC_CLASS if high else CELL_CLASS)


def _geometry(geometry) -> dict:
    _, shapely, _ = polygon_libraries()
    return json.loads(shapely.to_geojson(geometry))


def _feature_id(*parts) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(str(p) for p in parts)))


def cell_features(
    mask,
    cells,
    rows: list[dict],
    offset: tuple[int, int] = (0, 0),
    high_ratio: float = HIGH_NC_CELL_RATIO,
    nucleus: int = NUCLEUS,
    classes=None,
) -> list[dict]:
    """QuPath cell objects, one per row of :func:`seglab.measure.per_cell_nc`.

    Parameters
    ----------
    mask : (H, W) array of int
        The class mask (``nucleus`` marks nuclei).
    cells : (H, W) array of int
        The mask's cells (:func:`seglab.measure.label_cells`): row ``k`` describes cell
        ``k + 1``, as ``per_cell_nc`` numbers them.
    rows : list of dict
        The per-cell rows; their numeric columns become the measurements.
    offset : (row, column)
        Where ``mask`` sits in the whole image (a tile's corner).
    high_ratio : float
        Cells with ``nucleus_cell_ratio >= high_ratio`` are classified "High N/C".
    classes : list of str, optional
        The class names of a cell classifier (:mod:`seglab.cellclass`): a row with a
        ``cell_class`` is classified by it instead, in that class's colour.

    Examples
    --------
    >>> from seglab.measure import CellRules, label_cells, per_cell_nc
    >>> mask = np.array([[1, 1, 1, 0], [1, 2, 1, 0], [1, 1, 1, 0]])
    >>> cells = label_cells(mask, rules=CellRules(min_nucleus_px=1, min_cell_px=1))
    >>> (feature,) = cell_features(mask, cells, per_cell_nc(mask, cells=cells))
    >>> feature["properties"]["measurements"]["nucleus_px"], feature["nucleusGeometry"]["type"]
    (1.0, 'Polygon')
    """
    cells = np.asarray(cells)
    cell_shapes = label_polygons(cells, offset)
    nucleus_shapes = label_polygons(np.where(np.asarray(mask) == nucleus, cells, 0), offset)
    features = []
    for k, row in enumerate(rows, start=1):
        ratio = row.get("nucleus_cell_ratio", float("nan"))
        high = bool(ratio >= high_ratio) if math.isfinite(ratio) else False
        feature = {
            "type": "Feature",
            "id": _feature_id(row.get("image", ""), row.get("cell", k)),
            "geometry": _geometry(cell_shapes[k]),
        }
        if k in nucleus_shapes:
            feature["nucleusGeometry"] = _geometry(nucleus_shapes[k])
        feature["properties"] = {
            "objectType": "cell",
            "classification": _classification(row, high, classes),
            "measurements": _measurements(row),
            "isLocked": True,
        }
        features.append(feature)
    return features


def region_features(
    mask,
    class_names: Iterable[str] | None = None,
    object_type: str = "annotation",
    offset: tuple[int, int] = (0, 0),
    image_id: str = "",
) -> list[dict]:
    """One QuPath object per connected region of each class of any label image.

    ``class_names[k]`` names class ``k`` (class 0, the background, is not written); the
    measurements are the region's area in pixels and its class.

    Examples
    --------
    >>> features = region_features(np.array([[1, 0], [2, 2]]), ["bg", "cytoplasm", "nucleus"])
    >>> [f["properties"]["classification"]["name"] for f in features]
    ['cytoplasm', 'nucleus']
    """
    if object_type not in ("annotation", "detection"):
        raise ValueError(f"object_type {object_type!r}: expected annotation or detection")
    names = list(class_names) if class_names is not None else []
    features = []
    for k, (value, geometry) in enumerate(region_polygons(mask, offset=offset)):
        name = names[value] if value < len(names) else f"class {value}"
        colour = REGION_COLOURS[(value - 1) % len(REGION_COLOURS)]
        features.append(
            {
                "type": "Feature",
                "id": _feature_id(image_id, offset, value, k),
                "geometry": _geometry(geometry),
                "properties": {
                    "objectType": object_type,
                    "classification": {"name": name, "color": list(colour)},
                    "measurements": {"area_px": float(geometry.area), "class": float(value)},
                },
            }
        )
    return features


def read_cells_geojson(path, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The cell objects of a GeoJSON file (seglab's, or QuPath's export) as ``(cells, mask)``:
    cell k + 1 where a pixel's centre lies in the k-th cell's polygon, and the class mask
    (1 cytoplasm, 2 nucleus where its ``nucleusGeometry`` lies). Objects that are not cells
    are ignored; a later cell overwrites an earlier one where they overlap."""
    from .errors import ImageReadError

    features_module, _, _ = polygon_libraries()
    try:
        collection = json.loads(Path(path).read_text(encoding="utf-8"))
        features = collection["features"] if isinstance(collection, dict) else collection
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImageReadError(f"{path}: not a GeoJSON feature collection ({exc})") from None
    cells = np.zeros(shape, np.int32)
    nuclei = np.zeros(shape, bool)
    k = 0
    for feature in features:
        properties = feature.get("properties") or {}
        if properties.get("objectType", "cell") != "cell" or not feature.get("geometry"):
            continue
        k += 1
        cell = features_module.rasterize(
            [(feature["geometry"], 1)], out_shape=shape, fill=0, dtype="uint8"
        )
        cells[cell > 0] = k
        if feature.get("nucleusGeometry"):
            nuclei |= (
                features_module.rasterize(
                    [(feature["nucleusGeometry"], 1)], out_shape=shape, fill=0, dtype="uint8"
                )
                > 0
            )
    mask = np.where(cells > 0, np.where(nuclei, 2, 1), 0).astype(np.uint8)
    return cells.astype(np.int64), mask


def write_geojson(path, features: Iterable[dict]) -> Path:
    """Write features as one GeoJSON FeatureCollection, streamed, to ``path`` atomically.

    A path ending in ``.gz`` is gzip-compressed (QuPath 0.4 and later read it). Nothing is
    left at ``path`` if writing fails. Returns the path.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(tmp, "wt", encoding="utf-8") as out:
            for chunk in _collection(features):
                out.write(chunk)
    return path


def write_cells_geojson(
    path,
    mask,
    image_id: str = "",
    pixel_size: float | None = None,
    high_ratio: float = HIGH_NC_CELL_RATIO,
    chunk: int | None = None,
    halo: int = 512,
    progress: bool = False,
    tally: dict | None = None,
    proba=None,
    classes=None,
    image=None,
    cell_model=None,
) -> list[dict]:
    """Measure a mask's cells and write them to ``path`` as QuPath cell objects.

    ``mask`` is an array, or with ``chunk`` a TIFF or Zarr mask (path or lazy array) read tile
    by tile (:func:`seglab.measure.tiled.per_cell_nc_tiled`: each cell once, with ``halo`` pixels of
    context). Returns the per-cell rows, as :func:`seglab.measure.per_cell_nc` gives them.
    A whole mask's probabilities ``proba`` (columns in the order of ``classes``) find its
    cells as ``seglab evaluate`` scores them and give each its N/C range; its ``image`` adds
    the stain columns (hyperchromasia, chromatin texture), and with a ``cell_model``
    (:class:`seglab.cellclass.CellClassifier`) each cell's class, as its QuPath
    classification and in its row.
    """
    from .measure import find_cells, per_cell_nc

    if chunk is None:
        mask = np.asarray(mask)
        found = find_cells(mask, proba, classes, pixel_size)
        if tally is not None:
            tally["debris"] = tally.get("debris", 0) + int(found.debris.max())
        cells = found.cells
        with_proba = {} if proba is None else {"proba": proba, "classes": classes}
        rows = per_cell_nc(
            mask, image_id, pixel_size, high_ratio, cells=cells, image=image, **with_proba
        )
        names = None
        if cell_model is not None:
            from .cellclass import classify_cells

            classify_cells(rows, cell_model, mask, cells, image)
            names = cell_model.classes_
        write_geojson(path, cell_features(mask, cells, rows, high_ratio=high_ratio, classes=names))
        return rows
    if cell_model is not None:
        raise ParameterError("a cell model needs the image's pixels: measure the mask whole")
    from .measure.tiled import iter_cells_tiled

    rows = []

    def streamed() -> Iterator[dict]:  # each cell written as soon as its row of tiles is done
        for row, feature in iter_cells_tiled(
            mask, image_id, chunk, halo, pixel_size, high_ratio, progress, cell_features, tally
        ):
            feature["id"] = _feature_id(image_id, row["cell"])  # as whole-image measurement
            rows.append(row)
            yield feature

    write_geojson(path, streamed())
    return rows


def _collection(features: Iterable[dict]) -> Iterator[str]:
    yield '{"type": "FeatureCollection", "features": ['
    for k, feature in enumerate(features):
        yield ("\n" if k == 0 else ",\n") + json.dumps(feature, allow_nan=False)
    yield "\n]}\n"
