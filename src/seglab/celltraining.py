"""Labelled cells of mask files: the training set of a cell classifier.

The masks' cells are found as ``seglab nc-ratio --per-cell`` finds them, so the ids in its
output name them; each labelled cell is described by :func:`seglab.cellclass.describe_cells`.
"""

from __future__ import annotations

import os

import numpy as np

from .cellclass import (
    CellLabel,
    crop_cell,
    describe_cells,
    find_labelled_cell,
)
from .errors import DataSetError, ParameterError

__all__ = ["labelled_cells"]


def labelled_cells(
    masks,
    images: str | os.PathLike,
    cell_labels: list[CellLabel] | None = None,
    image_classes: dict[str, str] | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, list[str], list[tuple[str, int]]]:
    """The features and classes of the labelled cells of mask files, for
    :meth:`CellClassifier.fit`.

    Parameters
    ----------
    masks : list of paths
        Mask files or folders of them (1 cytoplasm, 2 nucleus), true or predicted; their cells
        are found as ``seglab nc-ratio --per-cell`` finds them, so its cell ids name them.
    images : path
        The folder of the masks' images, matched by file stem.
    cell_labels : list of CellLabel, optional
        Labelled cells (:func:`read_cell_labels`); every one must name a cell.
    image_classes : dict, optional
        One class per single-cell crop (:func:`read_image_classes`): each mask's largest
        cell takes its image's class. Every mask must have a class, and every image named
        must be in ``images`` (the file may name more images than the masks given).

    Returns
    -------
    X : (n, n_features) array
        :func:`describe_cells` rows of the labelled cells.
    y : list of str
        Their classes.
    cells : list of (image, cell id)
        Which cells they are.
    """
    from tqdm.auto import tqdm

    from .io import load_mask
    from .measure import find_cells
    from .measure.files import expand_masks, image_files_by_stem, image_for_mask

    if (cell_labels is None) == (image_classes is None):
        raise ParameterError("give labelled cells or one class per image, one of the two")
    paths = expand_masks(list(masks) if isinstance(masks, (list, tuple)) else [masks])
    by_stem = {p.stem: p for p in paths}
    files = image_files_by_stem(images)
    wanted: dict[str, list[CellLabel]] = {}
    if cell_labels is not None:
        for label in cell_labels:
            if label.image not in by_stem:
                raise DataSetError(f"labelled cell in image {label.image!r}: no mask of that name")
            wanted.setdefault(label.image, []).append(label)
    else:
        # A class file may describe a whole data set and the masks a part of it (the
        # training part), but it may not name images that are not there.
        unknown = sorted(set(image_classes) - set(files))
        if unknown:
            raise DataSetError(
                f"the class file names {len(unknown)} image(s) not in {images}, such as"
                f" {unknown[0]!r}"
            )
        missing = sorted(set(by_stem) - set(image_classes))
        if missing:
            raise DataSetError(f"mask {missing[0]!r} has no class in the class file")
        wanted = {stem: [] for stem in by_stem}
    rows, classes, which = [], [], []
    quiet = None if progress else True
    for stem in tqdm(sorted(wanted), desc="cells", unit="image", disable=quiet):
        mask = load_mask(by_stem[stem])
        image = image_for_mask(files, stem, mask.shape)
        cells = find_cells(mask).cells
        if image_classes is not None:
            cell = crop_cell(cells)
            if cell == 0:
                continue  # a crop whose mask holds no cell (no nucleus): nothing to learn
            chosen = [(cell, image_classes[stem])]
        else:
            chosen = [(find_labelled_cell(label, cells), label.label) for label in wanted[stem]]
        features = describe_cells(mask, cells, image)
        for cell, label in chosen:
            rows.append(features[cell - 1])
            classes.append(label)
            which.append((stem, cell))
    if not rows:
        raise DataSetError("no labelled cell was found in the masks")
    return np.array(rows), classes, which
