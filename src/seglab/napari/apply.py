"""The apply widget: a ``.seglab`` model file on any Image layer.

In-memory images are predicted whole, as ``seglab predict`` does; dask, zarr and multiscale
layers (possibly larger than memory) tile by tile on their full-resolution level through
:func:`seglab.tiling.predict_lazy`, into zarr arrays on disk that the output layers read.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..errors import ParameterError
from .layers import (
    CLASSES,
    PROBABILITIES,
    base_level,
    chosen_layer,
    fill_layer_box,
    image_array,
    is_lazy,
    notify_error,
    one_line,
    output_layers,
    spatial_shape,
    watch_layers,
    write_region,
)

if TYPE_CHECKING:
    import napari

#: Tile side for layers predicted tile by tile.
TILE = 1024


class ApplyWidget(QWidget):
    """Predict an Image layer with a saved seglab model (``.seglab``)."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self.worker = None
        self.model = None
        self._folder: Path | None = None  # the temporary zarr arrays the layers show, if lazy
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("model.seglab")
        self.browse_button = QPushButton("Open...")
        self.image_box = QComboBox()
        self.normalize_box = QComboBox()
        self.normalize_box.addItems(["dtype", "minmax"])
        self.predict_button = QPushButton("Predict")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        chooser = QHBoxLayout()
        chooser.addWidget(self.path_edit)
        chooser.addWidget(self.browse_button)
        form = QFormLayout()
        form.addRow("model", chooser)
        form.addRow("image", self.image_box)
        form.addRow("normalize", self.normalize_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.predict_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch()

        self.browse_button.clicked.connect(self._browse)
        self.predict_button.clicked.connect(lambda: self.predict())
        watch_layers(viewer, self._refresh_layers)

    def _refresh_layers(self, *_) -> None:
        from napari.layers import Image

        fill_layer_box(self.image_box, self.viewer, Image)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open seglab model", "", "seglab (*.seglab)")
        if path:
            self.path_edit.setText(path)

    def predict(self):
        """Load the model and predict the chosen layer in a worker thread."""
        if self.worker is not None:
            notify_error("a prediction is running: wait for it to finish")
            return None
        try:
            path = self.path_edit.text().strip()
            if not path:
                raise ParameterError("choose a .seglab model file first")
            layer = chosen_layer(self.image_box, self.viewer)
            if layer is None:
                raise ParameterError("choose an Image layer first")
        except ParameterError as exc:
            notify_error(one_line(exc))
            return None
        name = layer.name
        from napari.qt.threading import thread_worker

        lazy = is_lazy(layer)
        source = base_level(layer) if lazy else image_array(layer)
        worker = thread_worker(self._run, ignore_errors=True, start_thread=False)(
            path, source, lazy, layer.rgb, self.normalize_box.currentText()
        )
        worker.yielded.connect(self.progress.setValue)
        worker.returned.connect(lambda result: self._show(result, layer))
        worker.errored.connect(self._failed)
        worker.finished.connect(self._finished)
        self.worker = worker
        self.predict_button.setEnabled(False)
        self.progress.setValue(0)
        self.status.setText(f"predicting {name}...")
        worker.start()
        return worker

    def _run(self, path: str, source, lazy: bool, rgb: bool, normalize: str):
        from ..io import check_image
        from ..modelfile import load
        from ..uncertainty import normalised_entropy

        model = load(path)
        yield 5
        if not lazy:
            image = check_image(source, normalize=normalize)
            if model.has_proba:  # one run of the model for the labels and the uncertainty
                labels, proba = model.predict_with_proba(image)
                uncertainty = normalised_entropy(proba)
            else:
                labels, proba = model.predict(image), None
                uncertainty = np.zeros(labels.shape, np.float32)
            yield 95
            return model, labels, uncertainty, proba, None
        labels, uncertainty, folder = yield from _predict_tiles(model, source, rgb, normalize)
        return model, labels, uncertainty, None, folder  # no probabilities kept for a lazy layer

    def _show(self, result, layer) -> None:
        model, labels, uncertainty, proba, folder = result
        self.model = model
        n_classes = int(max(model.classes_)) + 1
        prediction, unsure = output_layers(self.viewer, layer, spatial_shape(layer), n_classes)
        if isinstance(labels, np.ndarray):
            write_region(prediction, (0, labels.shape[0], 0, labels.shape[1]), labels)
            write_region(unsure, (0, labels.shape[0], 0, labels.shape[1]), uncertainty)
        else:  # zarr arrays on disk, read by the layers as they draw
            prediction.data, unsure.data = labels, uncertainty
        # the last lazy result's folder is no longer shown (the layers are updated in place)
        previous, self._folder = self._folder, folder
        if previous is not None and previous != folder:
            shutil.rmtree(previous, ignore_errors=True)
        prediction.metadata.pop(PROBABILITIES, None)
        if proba is not None:
            prediction.metadata[PROBABILITIES] = proba
            prediction.metadata[CLASSES] = [int(c) for c in model.classes_]
        self.progress.setValue(100)
        self.status.setText(f"predicted {layer.name} with {model.name}")

    def _failed(self, exc: BaseException) -> None:
        self.progress.setValue(0)
        self.status.setText(f"failed: {one_line(exc)}")
        notify_error(one_line(exc))

    def _finished(self) -> None:
        self.worker = None
        self.predict_button.setEnabled(True)


def _predict_tiles(model, source, rgb: bool, normalize: str):
    """Predict a lazy layer row of tiles by row into zarr arrays (labels, uncertainty) in a
    temporary folder; yields percentages, returns the two arrays and the folder."""
    import dask
    import dask.array as da
    import zarr

    from ..tiling import predict_lazy

    array = source if isinstance(source, da.Array) else da.from_array(source)
    if array.ndim == 3 and not rgb:
        array = da.moveaxis(array, 0, -1)  # a channel stack (C, H, W)
    # labels and uncertainty of a tile from one task, one run of the model
    both = predict_lazy(model, array, TILE, normalize, what="labels+entropy")
    folder = Path(tempfile.mkdtemp(prefix="seglab-napari-"))
    # gone with the session at the latest; the widget deletes it once a newer result replaces it
    atexit.register(shutil.rmtree, folder, True)
    try:
        stores = [
            zarr.open(str(folder / f"{name}.zarr"), mode="w", shape=both.shape, dtype=dtype)
            for name, dtype in (("labels", np.uint8), ("entropy", np.float32))
        ]
        rows = both.numblocks[0]
        edges = np.cumsum((0, *both.chunks[0]))
        for i in range(rows):
            (row,) = dask.compute(both.blocks[i])  # labels + 1j * entropy
            stores[0][edges[i] : edges[i + 1]] = row.real.astype(np.uint8)
            stores[1][edges[i] : edges[i + 1]] = row.imag
            yield 5 + int(95 * (i + 1) / rows)
    except BaseException:  # a failed or stopped run leaves nothing half-written behind
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return stores[0], stores[1], folder
