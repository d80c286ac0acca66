"""The cells widget: the cells of a prediction, their N/C table, linked to the layer.

The cells and their rows are those of ``seglab nc-ratio --per-cell``
(:func:`seglab.measure.label_cells`, :func:`seglab.measure.per_cell_nc`): both ratio
definitions, areas (in µm² given the pixel size), the flags, and each cell's N/C range when
the prediction came from seglab's widgets with its probabilities (as ``nc-ratio --proba``).
The rows become the ``seglab cells`` layer's features (column ``index`` is the cell's
label). Selecting a row selects and centres its cell; clicking a cell selects its row.

Cells by type (:mod:`seglab.cellclass`): with a cell classifier loaded, or trained here from
cells the user labels (select a cell in the table or click it, choose or type its class, "Set
class"), each row gets its ``cell_class`` and ``cell_class_proba``; training and classifying
run in a worker, and the classifier can be saved for ``seglab nc-ratio --cell-model``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..errors import ParameterError
from ..measure import HIGH_NC_CELL_RATIO
from .layers import (
    CLASSES,
    PREDICTION,
    PROBABILITIES,
    chosen_layer,
    fill_layer_box,
    notify_error,
    notify_info,
    one_line,
    watch_layers,
)

if TYPE_CHECKING:
    import napari

CELLS = "seglab cells"
#: Columns shown in the table (every column is in the layer's features and the CSV).
SHOWN = (
    "cell",
    "class",
    "cell_class",
    "cell_class_proba",
    "nc_ratio",
    "nucleus_cell_ratio",
    "cell_px",
    "nucleus_px",
    "cell_um2",
    "nucleus_um2",
    "nc_low",
    "nc_high",
    "nucleus_irregularity",
    "hyperchromasia",
    "chromatin_texture",
    "high_nc",
    "high_nc_unsure",
    "touches_border",
    "several_nuclei",
)


class CellsWidget(QWidget):
    """Measure the cells of a prediction (labels 0 background, 1 cytoplasm, 2 nucleus)."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self.worker = None
        self.rows: list[dict] = []
        self.summary: dict = {}
        self.cells_layer = None
        self.mask_box = QComboBox()
        self.pixel_size = QDoubleSpinBox()
        self.pixel_size.setDecimals(4)
        self.pixel_size.setRange(0.0, 1000.0)
        self.pixel_size.setSpecialValueText("unknown")  # 0: areas in pixels only
        self.pixel_size.setSuffix(" µm/px")
        self.high_ratio = QDoubleSpinBox()
        self.high_ratio.setDecimals(2)
        self.high_ratio.setRange(0.01, 1.0)
        self.high_ratio.setSingleStep(0.05)
        self.high_ratio.setValue(HIGH_NC_CELL_RATIO)
        self.measure_button = QPushButton("Measure cells")
        self.summary_label = QLabel("")
        self.summary_label.setWordWrap(True)
        self.table = QTableWidget()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.export_button = QPushButton("Export CSV...")
        # cells by type: the user's labels, and the classifier they train or load
        self.labels: dict[int, str] = {}
        self.classifier = None
        self.class_box = QComboBox()
        self.class_box.setEditable(True)  # a new class is typed in
        self.class_box.addItems(["normal", "abnormal"])
        self.set_class_button = QPushButton("Set class")
        self.train_button = QPushButton("Train cell classifier")
        self.load_button = QPushButton("Load...")
        self.save_button = QPushButton("Save...")
        self.class_label = QLabel("no cell classifier")
        self.class_label.setWordWrap(True)
        self._cells_data = None  # (mask, cells, image) of the measured prediction

        form = QFormLayout()
        form.addRow("prediction", self.mask_box)
        form.addRow("pixel size", self.pixel_size)
        form.addRow("high N/C at nucleus/cell", self.high_ratio)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.measure_button)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.table)
        labelling = QHBoxLayout()
        labelling.addWidget(QLabel("class of the selected cell"))
        labelling.addWidget(self.class_box)
        labelling.addWidget(self.set_class_button)
        layout.addLayout(labelling)
        model_row = QHBoxLayout()
        model_row.addWidget(self.train_button)
        model_row.addWidget(self.load_button)
        model_row.addWidget(self.save_button)
        layout.addLayout(model_row)
        layout.addWidget(self.class_label)
        layout.addWidget(self.export_button)

        self.measure_button.clicked.connect(lambda: self.measure())
        self.export_button.clicked.connect(lambda: self.export_csv())
        self.set_class_button.clicked.connect(lambda: self.set_class())
        self.train_button.clicked.connect(lambda: self.train_classifier())
        self.load_button.clicked.connect(lambda: self.load_classifier())
        self.save_button.clicked.connect(lambda: self.save_classifier())
        self.table.itemSelectionChanged.connect(self._row_selected)
        watch_layers(viewer, self._refresh_layers)

    def _refresh_layers(self, *_) -> None:
        from napari.layers import Labels

        fill_layer_box(self.mask_box, self.viewer, Labels, skip=(CELLS,), prefer=PREDICTION)

    def measure(self):
        """Label and measure the cells of the chosen prediction in a worker thread."""
        layer = chosen_layer(self.mask_box, self.viewer)
        if layer is None:
            notify_error("choose a prediction (a Labels layer) first")
            return None
        if self.worker is not None:
            return None
        mask = np.asarray(layer.data[0] if layer.multiscale else layer.data)
        from napari.qt.threading import thread_worker

        size = self.pixel_size.value() or None
        proba = layer.metadata.get(PROBABILITIES)
        if proba is not None and tuple(proba.shape[:2]) != mask.shape:
            proba = None  # probabilities of another prediction: no ranges
        classes = layer.metadata.get(CLASSES)
        image = _image_beside(self.viewer, mask.shape)
        worker = thread_worker(_measure, ignore_errors=True, start_thread=False)(
            mask, layer.name, size, self.high_ratio.value(), proba, classes, image, self.classifier
        )
        worker.returned.connect(lambda result: self._show(result, layer))
        return self._start(worker)

    def _start(self, worker):
        worker.errored.connect(lambda exc: notify_error(one_line(exc)))
        worker.finished.connect(self._finished)
        self.worker = worker
        for button in self._buttons():
            button.setEnabled(False)
        worker.start()
        return worker

    def _buttons(self):
        return (self.measure_button, self.train_button, self.load_button, self.save_button)

    def _finished(self) -> None:
        self.worker = None
        for button in self._buttons():
            button.setEnabled(True)

    def _show(self, result, mask_layer) -> None:
        cells, rows, summary, data = result
        self._cells_data = data
        self.labels = {}  # labels name the cells of the last measurement
        self.rows, self.summary = rows, summary
        spatial = {"scale": mask_layer.scale, "translate": mask_layer.translate}
        if CELLS in self.viewer.layers:
            layer = self.viewer.layers[CELLS]
            layer.data = cells
            layer.scale, layer.translate = spatial["scale"], spatial["translate"]
        else:
            layer = self.viewer.add_labels(cells, name=CELLS, opacity=0.4, **spatial)
            layer.mouse_drag_callbacks.append(self._clicked)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        layer.features = {
            "index": np.array([row["cell"] for row in rows], np.int64),
            **{c: np.array([row.get(c) for row in rows]) for c in columns},
        }
        self.cells_layer = layer
        self._fill_table()
        self.summary_label.setText(_summary_text(len(rows), summary))

    def _fill_table(self) -> None:
        rows = self.rows
        if self.labels:  # the user's labels, as `seglab train-cells --labels` reads them
            for row in rows:
                row["class"] = self.labels.get(int(row["cell"]), "")
        else:
            for row in rows:
                row.pop("class", None)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        shown = [c for c in SHOWN if c in columns]
        self.table.blockSignals(True)
        self.table.clear()
        self.table.setColumnCount(len(shown))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels(shown)
        for r, row in enumerate(rows):
            for c, key in enumerate(shown):
                value = row[key]
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.blockSignals(False)
        if self.cells_layer is not None:
            for key in ("class", "cell_class", "cell_class_proba"):
                if key in columns:
                    self.cells_layer.features[key] = [row.get(key, "") for row in rows]

    def set_class(self, name: str | None = None) -> None:
        """Label the selected cell (chosen in the table or clicked) with ``name``, or with the
        class in the box; an empty name takes its label away."""
        name = (self.class_box.currentText() if name is None else name).strip()
        selected = self.table.selectionModel().selectedRows() if self.rows else []
        if not selected:
            notify_error("select a cell first: a row of the table, or click the cell")
            return
        cell = int(self.rows[selected[0].row()]["cell"])
        if name:
            self.labels[cell] = name
            if self.class_box.findText(name) < 0:
                self.class_box.addItem(name)
        else:
            self.labels.pop(cell, None)
        index = selected[0].row()
        self._fill_table()
        self.table.blockSignals(True)
        self.table.selectRow(index)
        self.table.blockSignals(False)

    def train_classifier(self):
        """Train a cell classifier on the labelled cells in a worker, then classify every
        cell of the table."""
        if self.worker is not None:
            return None
        if self._cells_data is None or not self.labels:
            notify_error("label cells first: select a cell, choose its class, Set class")
            return None
        from napari.qt.threading import thread_worker

        worker = thread_worker(_train_and_classify, ignore_errors=True, start_thread=False)(
            *self._cells_data, dict(self.labels), self.rows
        )
        worker.returned.connect(self._classified)
        return self._start(worker)

    def _classified(self, result) -> None:
        self.classifier, rows = result
        self.rows = rows
        self._fill_table()
        self._describe_classifier()

    def _describe_classifier(self) -> None:
        if self.classifier is None:
            self.class_label.setText("no cell classifier")
            return
        counts = {}
        for row in self.rows:
            if "cell_class" in row:
                counts[row["cell_class"]] = counts.get(row["cell_class"], 0) + 1
        shown = ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
        self.class_label.setText(
            f"cell classifier: {', '.join(self.classifier.classes_)}"
            + (f"; cells by class: {shown}" if shown else "")
        )

    def load_classifier(self, path: str | None = None):
        """Load a cell classifier (``seglab train-cells``) in a worker and classify the cells."""
        if self.worker is not None:
            return None
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self, "Load cell classifier", "", "seglab (*.seglab)"
            )
            if not path:
                return None
        from napari.qt.threading import thread_worker

        worker = thread_worker(_load_and_classify, ignore_errors=True, start_thread=False)(
            path, self._cells_data, self.rows
        )
        worker.returned.connect(self._classified)
        return self._start(worker)

    def save_classifier(self, path: str | None = None):
        """Save the cell classifier for ``seglab nc-ratio --cell-model``."""
        if self.classifier is None:
            notify_error("no cell classifier yet: train one or load one")
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Save cell classifier", "cells.seglab", "seglab (*.seglab)"
            )
            if not path:
                return None
        from ..modelfile import save_cell_classifier

        try:
            save_cell_classifier(self.classifier, path, trained_on={"source": "napari"})
        except Exception as exc:  # a notification, never a traceback
            notify_error(one_line(exc))
            return None
        notify_info(f"saved the cell classifier to {path}")
        return path

    def select_cell(self, cell: int) -> None:
        """Select cell ``cell`` (its label) in the layer and the table, and centre it."""
        if self.cells_layer is None:
            return
        index = [row["cell"] for row in self.rows].index(cell)
        row = self.rows[index]
        self.cells_layer.selected_label = cell
        self.cells_layer.show_selected_label = True
        centre = np.array([row["centroid_row"], row["centroid_col"]], float)
        world = (
            centre * np.asarray(self.cells_layer.scale)[-2:]
            + np.asarray(self.cells_layer.translate)[-2:]
        )
        # napari 0.9 moved the camera to viewer.scene; earlier releases have viewer.camera
        camera = self.viewer.scene.camera if hasattr(self.viewer, "scene") else self.viewer.camera
        camera.center = tuple(world)
        if self.table.currentRow() != index:
            self.table.blockSignals(True)
            self.table.selectRow(index)
            self.table.blockSignals(False)

    def _row_selected(self) -> None:
        selected = self.table.selectionModel().selectedRows()
        if selected:
            self.select_cell(int(self.rows[selected[0].row()]["cell"]))

    def _clicked(self, layer, event) -> None:
        value = layer.get_value(event.position, world=True)
        if value:
            self.select_cell(int(value))

    def export_csv(self, path: str | None = None):
        """Write the table's rows (every column) as CSV, as ``seglab nc-ratio --per-cell``."""
        if not self.rows:
            notify_error("no cells yet: measure a prediction first")
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export cells", "cells.csv", "CSV (*.csv)")
            if not path:
                return None
        from ..io import csv_text, write_text
        from ..measure import CELL_FIELDS

        try:
            write_text(path, csv_text(self.rows, CELL_FIELDS))
        except Exception as exc:  # a notification, never a traceback
            notify_error(one_line(exc))
            return None
        notify_info(f"wrote {len(self.rows)} cells to {path}")
        return path


def _image_beside(viewer, shape) -> np.ndarray | None:
    """The first single-scale image layer of the mask's size, scaled to [0, 1] (for the stain
    columns); None when there is none."""
    from napari.layers import Image

    for layer in viewer.layers:
        if isinstance(layer, Image) and not layer.multiscale:
            data = np.asarray(layer.data)
            if data.shape[:2] == tuple(shape) and data.ndim in (2, 3):
                if np.issubdtype(data.dtype, np.integer):
                    return data / np.iinfo(data.dtype).max
                return np.clip(data.astype(np.float64), 0, 1)
    return None


def _measure(
    mask: np.ndarray,
    image_id: str,
    pixel_size,
    high_ratio: float,
    proba,
    classes,
    image=None,
    classifier=None,
):
    from ..measure import image_cell_summary, label_cells, per_cell_nc

    if mask.ndim != 2:
        raise ParameterError(f"the prediction must be 2-D, got shape {mask.shape}")
    cells = label_cells(mask, proba=proba, classes=classes, pixel_size=pixel_size)
    ranges = {} if proba is None else {"proba": proba, "classes": classes}
    rows = per_cell_nc(mask, image_id, pixel_size, high_ratio, cells=cells, image=image, **ranges)
    if classifier is not None and image is not None:
        from ..cellclass import classify_cells

        classify_cells(rows, classifier, mask, cells, image)
    return cells, rows, image_cell_summary(rows, high_ratio), (mask, cells, image)


def _train_and_classify(mask, cells, image, labels: dict, rows: list[dict]):
    """A cell classifier fitted on the labelled cells, and ``rows`` with every cell's class."""
    from ..cellclass import CellClassifier, add_cell_classes, describe_cells

    if image is None:
        raise ParameterError(
            "cell classes are learned from the cells' colour: open the prediction's image"
        )
    features = describe_cells(mask, cells, image)
    ids = sorted(labels)
    classifier = CellClassifier().fit(features[[k - 1 for k in ids]], [labels[k] for k in ids])
    return classifier, add_cell_classes([dict(r) for r in rows], classifier, features)


def _load_and_classify(path, data, rows: list[dict]):
    """The cell classifier in ``path``, and ``rows`` with every cell's class (when measured
    cells with their image are there)."""
    from ..cellclass import classify_cells
    from ..modelfile import load_cell_classifier

    classifier = load_cell_classifier(path)
    if data is None or data[2] is None or not rows:
        return classifier, rows
    mask, cells, image = data
    return classifier, classify_cells([dict(r) for r in rows], classifier, mask, cells, image)


def _summary_text(n_cells: int, summary: dict) -> str:
    if not n_cells:
        return "no cells (no cytoplasm or nucleus in the prediction)"
    return (
        f"{n_cells} cells; top-5 N/C {summary['top5_nc']:.3g}"
        f" (nucleus/cell {summary['top5_nucleus_cell']:.3g});"
        f" largest nucleus {summary['max_nucleus_px']} px;"
        f" high N/C: {summary['n_high_nucleus_cell']} cells"
    )
