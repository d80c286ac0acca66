"""The cells widget: the cells of a prediction, their N/C table, linked to the layer.

The cells and their rows are those of ``seglab nc-ratio --per-cell``
(:func:`seglab.measure.label_cells`, :func:`seglab.measure.per_cell_nc`): both ratio
definitions, areas (in µm² given the pixel size), the flags, and each cell's N/C range when
the prediction came from seglab's widgets with its probabilities (as ``nc-ratio --proba``).
The rows become the ``seglab cells`` layer's features (column ``index`` is the cell's
label). Selecting a row selects and centres its cell; clicking a cell selects its row.
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

        form = QFormLayout()
        form.addRow("prediction", self.mask_box)
        form.addRow("pixel size", self.pixel_size)
        form.addRow("high N/C at nucleus/cell", self.high_ratio)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.measure_button)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.table)
        layout.addWidget(self.export_button)

        self.measure_button.clicked.connect(lambda: self.measure())
        self.export_button.clicked.connect(lambda: self.export_csv())
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
            mask, layer.name, size, self.high_ratio.value(), proba, classes, image
        )
        worker.returned.connect(lambda result: self._show(result, layer))
        worker.errored.connect(lambda exc: notify_error(one_line(exc)))
        worker.finished.connect(self._finished)
        self.worker = worker
        self.measure_button.setEnabled(False)
        worker.start()
        return worker

    def _finished(self) -> None:
        self.worker = None
        self.measure_button.setEnabled(True)

    def _show(self, result, mask_layer) -> None:
        cells, rows, summary = result
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
        self.summary_label.setText(_summary_text(len(rows), summary))

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
    mask: np.ndarray, image_id: str, pixel_size, high_ratio: float, proba, classes, image=None
):
    from ..measure import image_cell_summary, label_cells, per_cell_nc

    if mask.ndim != 2:
        raise ParameterError(f"the prediction must be 2-D, got shape {mask.shape}")
    cells = label_cells(mask, proba=proba, classes=classes, pixel_size=pixel_size)
    ranges = {} if proba is None else {"proba": proba, "classes": classes}
    rows = per_cell_nc(mask, image_id, pixel_size, high_ratio, cells=cells, image=image, **ranges)
    return cells, rows, image_cell_summary(rows, high_ratio)


def _summary_text(n_cells: int, summary: dict) -> str:
    if not n_cells:
        return "no cells (no cytoplasm or nucleus in the prediction)"
    return (
        f"{n_cells} cells; top-5 N/C {summary['top5_nc']:.3g}"
        f" (nucleus/cell {summary['top5_nucleus_cell']:.3g});"
        f" largest nucleus {summary['max_nucleus_px']} px;"
        f" high N/C: {summary['n_high_nucleus_cell']} cells"
    )
