"""Polygons from label images, traced along pixel edges.

A pixel is the unit square between its corners, so a polygon's area equals its region's pixel
count exactly and holes are kept. Tracing is rasterio's (``rasterio.features.shapes``, 4-connected:
8-connected tracing makes self-touching rings that QuPath 0.6 rejects); the parts of one label
are merged with shapely. Coordinates are ``x`` = column, ``y`` = row, in full-resolution pixels
once ``offset`` (the tile's top-left corner) is added. Needs the ``interop`` extra
(``pip install "seglab[interop]"``).
"""

from __future__ import annotations

import numpy as np

from .errors import SeglabError, ShapeError

__all__ = ["label_polygons", "region_polygons"]


def polygon_libraries():
    """rasterio's ``features``, ``shapely`` and ``affine.Affine``, or a one-line SeglabError
    naming the extra that brings them (they are optional)."""
    try:
        import shapely
        from affine import Affine
        from rasterio import features
    except ImportError as exc:  # an optional part: say how to get it
        raise SeglabError(
            f"polygons need rasterio and shapely ({exc.name} is missing): "
            'pip install "seglab[interop]"'
        ) from None
    return features, shapely, Affine


def label_polygons(labels, offset: tuple[int, int] = (0, 0)) -> dict:
    """Each label's region as one shapely (Multi)Polygon, traced along pixel edges.

    Parameters
    ----------
    labels : (H, W) array of int
        0 is no region; every other value one region (it may have several parts and holes).
    offset : (row, column)
        Added to every coordinate: the top-left pixel of ``labels`` in the whole image.

    Returns
    -------
    dict
        ``{label: geometry}`` for every label present; each geometry is valid and its area
        equals the label's pixel count.

    Examples
    --------
    >>> labels = np.array([[1, 1, 0], [1, 0, 2]])
    >>> polygons = label_polygons(labels, offset=(10, 20))
    >>> polygons[1].area, polygons[2].bounds
    (3.0, (22.0, 11.0, 23.0, 12.0))
    """
    features, shapely, affine = polygon_libraries()
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ShapeError(f"polygons need a 2-D label image, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.int32).max):
        raise ShapeError("polygons need labels from 0 to 2**31 - 1")
    transform = affine.translation(offset[1], offset[0])
    parts: dict[int, list] = {}
    # rasterio traces int32; each (label, 4-connected part) comes back as one polygon
    data = labels.astype(np.int32, copy=False)
    for geometry, value in features.shapes(
        data, mask=data > 0, connectivity=4, transform=transform
    ):
        parts.setdefault(int(value), []).append(shapely.geometry.shape(geometry))
    out = {}
    for label, polygons in parts.items():
        merged = polygons[0] if len(polygons) == 1 else shapely.union_all(polygons)
        if not merged.is_valid:  # never seen with 4-connected tracing; kept as a guard
            merged = shapely.make_valid(merged)
        out[label] = merged
    return out


def region_polygons(mask, classes=None, offset: tuple[int, int] = (0, 0)) -> list[tuple]:
    """One polygon per connected region of each class of a mask.

    Parameters
    ----------
    mask : (H, W) array of int
        Class labels; 0 (background) is left out.
    classes : iterable of int, optional
        The classes to trace (default: every class present but 0).
    offset : (row, column)
        Added to every coordinate, as in :func:`label_polygons`.

    Returns
    -------
    list of (class, geometry)
        In order of class, then of each region's first pixel (row-major).

    Examples
    --------
    >>> mask = np.array([[1, 0, 1], [2, 2, 0]])
    >>> [(c, g.area) for c, g in region_polygons(mask)]
    [(1, 1.0), (1, 1.0), (2, 2.0)]
    """
    from scipy import ndimage as ndi

    mask = np.asarray(mask)
    if classes is None:
        classes = [int(c) for c in np.unique(mask) if c != 0]
    out = []
    for value in classes:
        regions, _ = ndi.label(mask == value)  # 4-connected, as the tracing
        polygons = label_polygons(regions, offset)
        out += [(int(value), polygons[k]) for k in sorted(polygons)]
    return out
