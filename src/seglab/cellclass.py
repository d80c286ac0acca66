"""Cells by type: a classifier that learns each cell's class from its measurements.

As ilastik's Object Classification and QuPath's object classifiers do, the class of a cell is
learned from what is measured of it, not from its pixels: :func:`describe_cells` gives one row
of :data:`CELL_FEATURES` per cell (both ratios, areas, the nucleus's and cytoplasm's colour
and optical density, the shape of nucleus and cell, the nucleus's texture), and a
:class:`CellClassifier` (a scikit-learn random forest by default) learns classes from labelled
rows. Labels come from a CSV of labelled cells (:func:`read_cell_labels`: image and cell id,
or a point inside the cell) or from one class per single-cell crop (:func:`read_image_classes`:
the crop's largest cell takes its class); :func:`seglab.celltraining.labelled_cells` finds
them in mask files. The classifier is saved in the ``.seglab`` model file
(:func:`seglab.modelfile.save_cell_classifier`).

Examples
--------
Two kinds of cell, told apart by their nucleus's share of the cell:

>>> from seglab.measure import CellRules, label_cells
>>> def crop(r_nucleus):
...     rows, cols = np.indices((41, 41)) - 20
...     d = np.hypot(rows, cols)
...     mask = np.where(d <= r_nucleus, 2, np.where(d <= 16, 1, 0))
...     image = np.choose(mask, [0.9, 0.6, 0.2])[..., None].repeat(3, -1)
...     return mask, image
>>> X, y = [], []
>>> for r in (4, 5, 6, 12, 13, 14):
...     mask, image = crop(r)
...     cells = label_cells(mask)
...     X.append(describe_cells(mask, cells, image)[0])
...     y.append("small" if r < 9 else "large")
>>> model = CellClassifier(n_estimators=50).fit(np.array(X), y)
>>> mask, image = crop(11)
>>> model.predict(describe_cells(mask, label_cells(mask), image)).tolist()
['large']
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from .datasets import read_image_classes
from .errors import DataSetError, ParameterError, ShapeError
from .io import read_csv_rows
from .measure.nc import CYTOPLASM, NUCLEUS, optical_density

__all__ = [
    "CELL_CLASSIFIERS",
    "CELL_FEATURES",
    "CellClassifier",
    "CellLabel",
    "add_cell_classes",
    "class_counts",
    "classify_cells",
    "crop_cell",
    "describe_cells",
    "find_labelled_cell",
    "read_cell_labels",
    "read_image_classes",
]

#: One row of :func:`describe_cells` per cell, in this order.
CELL_FEATURES = (
    "cell_px",
    "nucleus_px",
    "cytoplasm_px",
    "nucleus_cell_ratio",
    "nc_ratio",
    "nucleus_eccentricity",
    "nucleus_solidity",
    "nucleus_contour_irregularity",
    "nucleus_major_axis",
    "nucleus_minor_axis",
    "cell_eccentricity",
    "cell_solidity",
    "nucleus_red",
    "nucleus_green",
    "nucleus_blue",
    "cytoplasm_red",
    "cytoplasm_green",
    "cytoplasm_blue",
    "nucleus_density",
    "cytoplasm_density",
    "hyperchromasia",
    "nucleus_density_sd",
    "chromatin_texture",
)

#: A cell with no cytoplasm left has an infinite N/C; the feature holds this instead.
NC_CAP = 100.0


def describe_cells(mask, cells, image) -> np.ndarray:
    """The :data:`CELL_FEATURES` of every cell: an ``(n_cells, n_features)`` float array, row
    ``k - 1`` for cell ``k`` of ``cells``; NaN where a feature has no pixels (a cell with no
    cytoplasm has no cytoplasm colour).

    Parameters
    ----------
    mask : (H, W) array of int
        Classes: 1 cytoplasm, 2 nucleus.
    cells : (H, W) array of int
        The mask's cells, 1..n (:func:`seglab.measure.find_cells`).
    image : (H, W) or (H, W, C) array
        The image, values in [0, 1] (grey images count as three equal channels).

    Notes
    -----
    ``nucleus_contour_irregularity`` is perimeter² / (4π area) of the nucleus (1 for a disc,
    larger for a ragged contour); ``nucleus_density`` the mean optical density ``-log10(I)``
    of its pixels, ``hyperchromasia`` that over the cytoplasm's, and ``chromatin_texture`` the
    coefficient of variation of its density.

    Examples
    --------
    >>> mask = np.array([[1, 1, 1, 0], [1, 2, 1, 0], [1, 1, 1, 0]])
    >>> image = np.where(mask == 2, 0.1, 1.0)
    >>> features = describe_cells(mask, (mask > 0).astype(int), image)[0]
    >>> row = dict(zip(CELL_FEATURES, features.round(3).tolist()))
    >>> row["cell_px"], row["nucleus_cell_ratio"], row["nc_ratio"], row["nucleus_density"]
    (9.0, 0.111, 0.125, 1.0)
    """
    from skimage.measure import regionprops

    mask = np.asarray(mask)
    cells = np.asarray(cells)
    if mask.ndim != 2 or mask.shape != cells.shape:
        raise ShapeError(f"mask {mask.shape} and cells {cells.shape} must be one 2-D shape")
    colour = _rgb(image, mask.shape)
    density = optical_density(colour)  # as the per-cell rows' stain columns
    n = int(cells.max(initial=0))
    out = np.full((n, len(CELL_FEATURES)), np.nan)
    if n == 0:
        return out
    for region in regionprops(cells):
        k = region.label
        box = region.slice
        inside = region.image
        in_nucleus = inside & (mask[box] == NUCLEUS)
        in_cytoplasm = inside & (mask[box] == CYTOPLASM)
        n_nucleus, n_cytoplasm = int(in_nucleus.sum()), int(in_cytoplasm.sum())
        row = {
            "cell_px": n_nucleus + n_cytoplasm,
            "nucleus_px": n_nucleus,
            "cytoplasm_px": n_cytoplasm,
            "nucleus_cell_ratio": n_nucleus / max(n_nucleus + n_cytoplasm, 1),
            "nc_ratio": min(n_nucleus / n_cytoplasm, NC_CAP) if n_cytoplasm else NC_CAP,
            "cell_eccentricity": region.eccentricity,
            "cell_solidity": region.solidity,
        }
        pixels = colour[box]
        for part, where in (("nucleus", in_nucleus), ("cytoplasm", in_cytoplasm)):
            if where.any():
                red, green, blue = pixels[where].mean(0)
                row |= {f"{part}_red": red, f"{part}_green": green, f"{part}_blue": blue}
                row[f"{part}_density"] = float(density[box][where].mean())
        if n_nucleus:
            (shape,) = regionprops(in_nucleus.astype(np.uint8)) or (None,)
            values = density[box][in_nucleus]
            row |= {
                "nucleus_eccentricity": shape.eccentricity,
                "nucleus_solidity": shape.solidity,
                "nucleus_contour_irregularity": shape.perimeter**2 / (4 * math.pi * n_nucleus)
                if shape.perimeter > 0
                else 1.0,
                "nucleus_major_axis": shape.axis_major_length,
                "nucleus_minor_axis": shape.axis_minor_length,
                "nucleus_density_sd": float(values.std()),
            }
            mean = float(values.mean())
            row["chromatin_texture"] = float(values.std()) / mean if mean > 0 else np.nan
            cytoplasm = row.get("cytoplasm_density", np.nan)
            row["hyperchromasia"] = mean / cytoplasm if cytoplasm > 0 else np.nan
        out[k - 1] = [row.get(name, np.nan) for name in CELL_FEATURES]
    return out


def _rgb(image, shape) -> np.ndarray:
    """``image`` as float (H, W, 3) in [0, 1]: grey repeated, a fourth channel dropped."""
    if image is None:
        raise ParameterError("cell classes are learned from the cells' colour: give the images")
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[:2] != tuple(shape):
        raise ShapeError(f"image {image.shape[:2]} and mask {tuple(shape)} differ in size")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    return image[..., :3]


def _forest(n_estimators: int = 300, min_samples_leaf: int = 1, random_state: int = 0):
    from sklearn.ensemble import RandomForestClassifier

    # Balanced: abnormal cells are rare on a slide, and a class seen 10x less must still count.
    return RandomForestClassifier(
        n_estimators=n_estimators,
        min_samples_leaf=min_samples_leaf,
        class_weight="balanced",
        oob_score=True,
        n_jobs=-1,
        random_state=random_state,
    )


def _logistic(C: float = 1.0, random_state: int = 0):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=random_state),
    )


#: The classifiers a cell model can use: name -> (description, parameters and defaults).
CELL_CLASSIFIERS = {
    "rf": (
        "random forest on the cells' measurements (balanced classes; handles missing values)",
        {"n_estimators": 300, "min_samples_leaf": 1, "random_state": 0},
    ),
    "logistic": (
        "logistic regression on the standardised measurements (balanced classes)",
        {"C": 1.0, "random_state": 0},
    ),
}


class CellClassifier:
    """Learn a class per cell from its :func:`describe_cells` row (scikit-learn estimator API).

    Parameters
    ----------
    method : {"rf", "logistic"}
        The scikit-learn classifier (:data:`CELL_CLASSIFIERS`); a random forest by default.
    **params
        Its parameters (``n_estimators``, ``min_samples_leaf``, ``random_state`` for ``rf``;
        ``C``, ``random_state`` for ``logistic``).

    Attributes
    ----------
    classes_ : list of str
        The class names, in the order of :meth:`predict_proba`'s columns.
    estimator_ : scikit-learn classifier
        Fitted on the class indices.
    """

    def __init__(self, method: str = "rf", **params):
        if method not in CELL_CLASSIFIERS:
            raise ParameterError(
                f"cell classifier {method!r}: use one of {', '.join(CELL_CLASSIFIERS)}"
            )
        defaults = CELL_CLASSIFIERS[method][1]
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise ParameterError(
                f"cell classifier {method!r} has no parameter {unknown[0]!r}"
                f" (it takes {', '.join(defaults)})"
            )
        self.method = method
        self.params = {**defaults, **params}

    def get_params(self) -> dict:
        """The method and its parameters, as given to the constructor."""
        return {"method": self.method, **self.params}

    def fit(self, X, y) -> CellClassifier:
        """Learn from features ``X`` ``(n_cells, n_features)`` and class names ``y``."""
        X = self._check(X)
        y = np.asarray([str(c) for c in y])
        if len(y) != len(X):
            raise ShapeError(f"{len(X)} cells and {len(y)} classes")
        classes = sorted(set(y.tolist()))
        if len(classes) < 2:
            raise DataSetError(
                f"the labelled cells are all of one class ({classes[0] if classes else 'none'}):"
                " a classifier needs at least two"
            )
        codes = np.searchsorted(np.array(classes), y)
        build = _forest if self.method == "rf" else _logistic
        try:
            with warnings.catch_warnings():
                # a few labelled cells leave some out of every tree's out-of-bag sample;
                # training_summary counts only the cells that have a score
                warnings.filterwarnings("ignore", "Some inputs do not have OOB scores")
                self.estimator_ = build(**self.params).fit(X, codes)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"cell classifier {self.method!r}: {exc}") from exc
        self.classes_ = classes
        self._training_codes = codes  # for training_summary only; not saved
        self.n_features_in_ = X.shape[1]
        self.feature_names_ = (
            list(CELL_FEATURES)
            if X.shape[1] == len(CELL_FEATURES)
            else [f"feature_{i}" for i in range(X.shape[1])]
        )
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_cells, n_classes)``, columns in the order of ``classes_``."""
        X = self._check(X)
        if X.shape[1] != self.n_features_in_:
            raise ShapeError(
                f"{X.shape[1]} features per cell; the classifier learned from {self.n_features_in_}"
            )
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)))
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, self.estimator_.classes_] = self.estimator_.predict_proba(X)
        return proba

    def predict(self, X) -> np.ndarray:
        """The most probable class name of each cell."""
        return np.array(self.classes_, dtype=object)[self.predict_proba(X).argmax(1)]

    def training_summary(self) -> str:
        """Out-of-bag balanced accuracy of a forest (each cell judged by the trees that did
        not see it), or an empty string."""
        oob = getattr(self.estimator_, "oob_decision_function_", None)
        labels = getattr(self, "_training_codes", None)
        if oob is None or labels is None:
            return ""
        from sklearn.metrics import balanced_accuracy_score

        seen = ~np.isnan(oob).any(1)
        score = balanced_accuracy_score(labels[seen], oob[seen].argmax(1))
        return f"out-of-bag balanced accuracy {score:.3f} over {int(seen.sum())} cells"

    @staticmethod
    def _check(X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ShapeError(f"cell features must be (n_cells, n_features), got {X.shape}")
        return X


def classify_cells(rows: list[dict], classifier: CellClassifier, mask, cells, image) -> list[dict]:
    """The per-cell ``rows`` of ``cells`` (row k-1 for cell k) with each cell's class, from
    its :func:`describe_cells` features in ``image``: :func:`add_cell_classes`."""
    return add_cell_classes(rows, classifier, describe_cells(mask, cells, image))


def add_cell_classes(rows: list[dict], classifier: CellClassifier, features) -> list[dict]:
    """Each per-cell row with its ``cell_class`` and ``cell_class_proba`` (the class's
    probability), from ``features`` (:func:`describe_cells`, row k-1 for cell k)."""
    features = np.asarray(features)
    if len(rows) != len(features):
        raise ShapeError(f"{len(rows)} cell rows and {len(features)} feature rows")
    if not rows:
        return rows
    proba = classifier.predict_proba(features)
    best = proba.argmax(1)
    for row, k in zip(rows, range(len(rows)), strict=True):
        row["cell_class"] = classifier.classes_[best[k]]
        row["cell_class_proba"] = float(proba[k, best[k]])
    return rows


@dataclass(frozen=True)
class CellLabel:
    """One labelled cell: its image (a file stem), its class, and either its cell id (as
    ``seglab nc-ratio --per-cell`` numbers the cells) or a pixel ``(row, col)`` inside it."""

    image: str
    label: str
    cell: int | None = None
    point: tuple[float, float] | None = None


def read_cell_labels(path: str | os.PathLike) -> list[CellLabel]:
    """Labelled cells from a CSV with columns ``image``, ``class`` and either ``cell`` (the
    id in ``seglab nc-ratio --per-cell``'s output, whose CSV can be labelled in place) or a
    point inside the cell: ``row`` and ``col``, or ``x`` and ``y`` (QuPath's, in pixels).
    Rows with an empty class are skipped (a table partly labelled)."""
    rows, path = read_csv_rows(path)
    fields = set(rows[0]) if rows else set()
    for needed in ("image", "class"):
        if needed not in fields:
            columns = ", ".join(sorted(fields))
            raise DataSetError(f"{path}: no {needed!r} column (columns: {columns})")
    if "cell" in fields:
        how = "cell"
    elif {"row", "col"} <= fields:
        how = "row-col"
    elif {"x", "y"} <= fields:
        how = "x-y"
    else:
        raise DataSetError(
            f"{path}: name each cell by a 'cell' column, or 'row' and 'col', or 'x' and 'y'"
        )
    labels = []
    for line, row in enumerate(rows, start=2):
        label = (row.get("class") or "").strip()
        image = (row.get("image") or "").strip()
        if not label or image in ("", "all"):  # unlabelled, or an image's summary row
            continue
        try:
            if how == "cell":
                cell = row["cell"].strip()
                if cell == "all":
                    continue
                labels.append(CellLabel(image, label, cell=int(cell)))
            elif how == "row-col":
                labels.append(CellLabel(image, label, point=(float(row["row"]), float(row["col"]))))
            else:
                labels.append(CellLabel(image, label, point=(float(row["y"]), float(row["x"]))))
        except (TypeError, ValueError):
            raise DataSetError(f"{path}, line {line}: the cell is not a number") from None
    if not labels:
        raise DataSetError(f"{path}: no labelled cells (every 'class' is empty)")
    return labels


def find_labelled_cell(label: CellLabel, cells) -> int:
    """The id of the cell ``label`` names in ``cells`` (1..n); DataSetError when it names
    none (an id out of range, a point outside the image or on no cell)."""
    cells = np.asarray(cells)
    n = int(cells.max(initial=0))
    if label.cell is not None:
        if not 1 <= label.cell <= n:
            raise DataSetError(
                f"image {label.image}: no cell {label.cell} (its mask has {n} cells)"
            )
        return label.cell
    row, col = (math.floor(v) for v in label.point)
    h, w = cells.shape
    if not (0 <= row < h and 0 <= col < w):
        raise DataSetError(
            f"image {label.image}: the point (row {row}, col {col}) is outside its {h} x {w} mask"
        )
    cell = int(cells[row, col])
    if cell == 0:
        raise DataSetError(f"image {label.image}: the point (row {row}, col {col}) is on no cell")
    return cell


def crop_cell(cells) -> int:
    """The cell a single-cell crop shows: its largest (0 when it has none).

    Examples
    --------
    >>> crop_cell(np.array([[1, 2, 2], [0, 2, 0]]))
    2
    """
    counts = np.bincount(np.asarray(cells).ravel())
    counts[0] = 0
    return int(counts.argmax()) if counts.size > 1 and counts.max() > 0 else 0


def class_counts(rows: list[dict], classes) -> dict:
    """``{"cells_CLASS": n}`` for every class: how many of the cell ``rows`` have that
    ``cell_class`` (an image's summary counts).

    Examples
    --------
    >>> class_counts([{"cell_class": "b"}, {"cell_class": "b"}], ["a", "b"])
    {'cells_a': 0, 'cells_b': 2}
    """
    return {f"cells_{name}": sum(r.get("cell_class") == name for r in rows) for name in classes}
