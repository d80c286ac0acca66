"""N/C ratios of mask files, as ``seglab nc-ratio`` reports them.

:func:`expand_masks` finds the mask files of the paths a user gives; :func:`measure_masks`
measures each: one row per image (its pixel counts and N/C ratio), or with ``per_cell`` one row
per cell (:func:`seglab.measure.per_cell_nc`) followed by the image's summary row
(:func:`seglab.measure.image_summary_row`). Masks larger than ``chunk`` are read tile by tile;
probability maps (``STEM_proba.tif``) give the masks as their argmax and each ratio its range.
The objects can be written for QuPath as GeoJSON at the same time.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ImageReadError, ParameterError, ShapeError
from .cells import find_cells
from .nc import (
    HIGH_NC_CELL_RATIO,
    NC_RANGE_ODDS,
    image_summary_row,
    nc_ratio_range,
    per_cell_nc,
)

__all__ = ["IMAGE_FIELDS", "expand_masks", "image_files_by_stem", "image_for_mask", "measure_masks"]

#: The columns of a per-image row.
IMAGE_FIELDS = ("image", "nucleus_px", "cytoplasm_px", "nc_ratio")


def expand_masks(inputs: list[str | os.PathLike], proba: bool = False) -> list[Path]:
    """Mask files of the inputs, a folder standing for the masks in it (a data set's masks/).

    A folder that `seglab predict` wrote also holds STEM_proba.tif and STEM_uncertainty.tif:
    with ``proba`` only the former are taken, without it neither.
    """
    from ..io import MASK_SUFFIXES, list_image_files

    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if not path.is_dir() or path.suffix.lower() == ".zarr":
            files.append(path)  # a file, or a Zarr mask; read errors are reported later
            continue
        folder = path / "masks" if (path / "masks").is_dir() else path
        found = [
            f
            for f in list_image_files(folder, MASK_SUFFIXES)
            if f.stem.endswith("_proba") == proba and not f.stem.endswith("_uncertainty")
        ]
        if not found:
            kind = "probability maps (STEM_proba.tif)" if proba else "masks"
            raise ImageReadError(f"{path}: no {kind} ({', '.join(MASK_SUFFIXES)})")
        files.extend(found)
    return files


def measure_masks(
    inputs: list[str | os.PathLike],
    *,
    per_cell: bool = False,
    proba: bool = False,
    odds: float = NC_RANGE_ODDS,
    chunk: int | None = None,
    halo: int = 512,
    pixel_size: float | None = None,
    high_ratio: float = HIGH_NC_CELL_RATIO,
    geojson: str | os.PathLike | None = None,
    object_type: str = "annotation",
    images: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
    cell_model=None,
) -> list[dict]:
    """The N/C rows of mask files ``paths`` (see the module's description).

    Parameters
    ----------
    inputs : list of paths
        Mask files or folders of them (:func:`expand_masks`); with ``proba``, probability
        maps.
    per_cell : bool
        Rows per cell, then each image's summary row, instead of one row per image.
    proba, odds
        The inputs are probability maps; each ratio gets its range ``nc_low``, ``nc_high``
        with the nucleus probability divided and multiplied by ``odds``.
    chunk, halo
        Read TIFF or Zarr masks larger than ``chunk`` pixels a side tile by tile, with
        ``halo`` pixels of context (at least the widest group of touching cells).
    pixel_size : float, optional
        Micrometres per pixel, for areas in µm² (a TIFF written by ``seglab predict`` from a
        slide states its own).
    high_ratio : float
        Flag cells with nucleus / cell at or above it.
    geojson : path, optional
        Also write the objects of the (single) mask for QuPath: each cell with its nucleus and
        columns with ``per_cell``, else one polygon per region and class of ``object_type``.
    images : path, optional
        A folder of the masks' images, matched by file stem: each cell also gets its
        nucleus's hyperchromasia and chromatin texture, and the report's gallery shows it.
    report : path, optional
        Also write the per-cell HTML report (:func:`seglab.cellreport.write_cell_report`):
        the images' summaries, the cells with the highest ratios and their distribution.
    cell_model : CellClassifier or path, optional
        Each cell's class and its probability (``cell_class``, ``cell_class_proba``), from its
        measurements in its image (:mod:`seglab.cellclass`; needs ``images``); the summary
        rows count the cells of each class, and the GeoJSON classifies the cells by it.
    """
    from ..io import load_mask, load_probabilities

    if (images or report or cell_model) and not per_cell:
        raise ParameterError("--images, --report and --cell-model describe cells: add --per-cell")
    if cell_model is not None and not images:
        raise ParameterError("--cell-model classifies cells by their colour too: add --images DIR")
    if isinstance(cell_model, (str, os.PathLike)):
        from ..modelfile import load_cell_classifier

        cell_model = load_cell_classifier(cell_model)
    image_files = image_files_by_stem(images) if images else {}
    crops: list = []

    if proba and chunk is not None:
        raise ParameterError("--proba reads whole probability maps; it does not take --chunk")
    if not odds > 1:
        raise ParameterError(f"--odds must be > 1, got {odds}")
    if chunk is not None:
        from ..tiling import check_chunk

        check_chunk(chunk)  # the rest is checked where it is used, per_cell_nc and tiled
    paths = expand_masks(inputs, proba)
    if geojson and len(paths) > 1:
        raise ParameterError(
            f"--geojson writes one image's objects, and {len(paths)} masks were given: give one"
            " mask (or use `seglab predict --geojson`, which writes one file per image)"
        )
    features: list | None = [] if geojson else None
    rows: list[dict] = []
    for path in paths:
        tally: dict = {"debris": 0}
        nc_range: dict = {}
        probabilities = None
        if proba:
            probabilities = load_probabilities(path)
            low, high = nc_ratio_range(probabilities, odds=odds)
            nc_range = {"nc_low": low, "nc_high": high}
            if path.stem.endswith("_proba"):  # `predict --proba` writes STEM_proba.tif
                path = path.with_name(path.stem[: -len("_proba")] + path.suffix)
        tiled = _read_tiled(path, chunk)
        if tiled:
            from ..tiling import lazy_array
            from .tiled import count_labels

            mask = lazy_array(path)
            if len(mask.shape) != 2:
                raise ShapeError(f"{path}: a mask must be 2-D, got shape {tuple(mask.shape)}")
            counts = count_labels(mask, chunk)
            n_nucleus, n_cytoplasm = counts.get(2, 0), counts.get(1, 0)
        else:
            # columns of a probability map are the labels 0 .. K-1, as `predict --proba` writes
            mask = probabilities.argmax(-1) if proba else load_mask(path)
            n_nucleus, n_cytoplasm = int((mask == 2).sum()), int((mask == 1).sum())
        size = pixel_size
        if size is None and path.suffix.lower() in (".tif", ".tiff"):
            from ..slides import tiff_pixel_size

            size = tiff_pixel_size(path)  # `predict` stores a slide's pixel size
        if not per_cell:
            if features is not None:
                if tiled:
                    raise ParameterError(
                        "--geojson without --per-cell traces the regions of the whole mask;"
                        " for a mask read tile by tile add --per-cell (cells are streamed)"
                    )
                from ..qupath import region_features

                names = ("background", "cytoplasm", "nucleus")
                features += region_features(mask, names, object_type, image_id=path.stem)
            ratio = n_nucleus / n_cytoplasm if n_cytoplasm else float("nan")
            rows.append(
                dict(zip(IMAGE_FIELDS, (path.stem, n_nucleus, n_cytoplasm, ratio), strict=True))
                | nc_range
            )
            continue
        if tiled and cell_model is not None:
            raise ParameterError(
                f"{path}: --cell-model needs the image's pixels, which a mask read tile by tile"
                " (--chunk) does not read; measure it whole"
            )
        if tiled and features is not None:  # cells streamed into the file as they are measured
            from ..qupath import write_cells_geojson

            cells = write_cells_geojson(
                geojson, mask, path.stem, size, high_ratio, chunk, halo, True, tally
            )
            features = None
        elif tiled:
            from .tiled import per_cell_nc_tiled

            cells = per_cell_nc_tiled(mask, path.stem, chunk, halo, size, high_ratio, True, tally)
        else:
            found = find_cells(mask, probabilities, pixel_size=size)
            labels = found.cells
            tally["debris"] = int(found.debris.max())
            image = image_for_mask(image_files, path.stem, mask.shape) if images else None
            cells = per_cell_nc(
                mask,
                path.stem,
                size,
                high_ratio,
                cells=labels,
                image=image,
                **({"proba": probabilities, "odds": odds} if proba else {}),
            )
            if cell_model is not None:
                from ..cellclass import classify_cells

                classify_cells(cells, cell_model, mask, labels, image)
            if report:
                from ..cellreport import cell_crops

                crops += cell_crops(mask, labels, cells, image)
            if features is not None:
                from ..qupath import cell_features

                classes = None if cell_model is None else cell_model.classes_
                features += cell_features(
                    mask, labels, cells, high_ratio=high_ratio, classes=classes
                )
        rows.extend(cells)
        summary = image_summary_row(
            path.stem, cells, n_nucleus, n_cytoplasm, high_ratio, size, nc_range
        )
        summary["debris"] = tally["debris"]
        if cell_model is not None:
            from ..cellclass import class_counts

            summary.update(class_counts(cells, cell_model.classes_))
        rows.append(summary)
    if features is not None:
        from ..qupath import write_geojson

        write_geojson(geojson, features)
    if report:
        from ..cellreport import write_cell_report

        write_cell_report(report, rows, crops)
    return rows


def image_files_by_stem(folder) -> dict:
    """``{stem: path}`` of the image files in ``folder``; ParameterError when there are none."""
    from ..io import IMAGE_SUFFIXES, list_image_files

    files = {p.stem: p for p in list_image_files(folder, IMAGE_SUFFIXES)}
    if not files:
        raise ParameterError(f"--images {folder}: no image files there")
    return files


def image_for_mask(files: dict, stem: str, shape):
    """The image of mask ``stem`` (from :func:`image_files_by_stem`), checked against the
    mask's ``shape``."""
    from ..io import load_image

    if stem not in files:
        raise ParameterError(f"--images: no image named {stem!r} for the mask {stem}")
    image = load_image(files[stem])
    if image.shape[:2] != tuple(shape):
        raise ShapeError(f"{files[stem]}: image {image.shape[:2]} and its mask {shape} differ")
    return image


def _read_tiled(path: Path, chunk: int | None) -> bool:
    """Only TIFF and Zarr can be read tile by tile; other masks are decoded whole anyway."""
    from ..tiling.reading import larger_than

    return (
        chunk is not None
        and path.suffix.lower() in (".tif", ".tiff", ".zarr")
        and larger_than(path, chunk)
    )
