"""The train widget: scribbles in a Labels layer, a supervised method, Train or Live.

The widget collects the layers and parameters; :class:`seglab.live.LiveTrainer` does the work
in a napari ``thread_worker``, so napari stays responsive. The trainer keeps each image's
filter bank between fits: in Live mode each paint stroke fits a smaller preview forest on the
scribbled tiles and predicts the part of the image in view first, then the rest tile by tile;
when painting pauses, the full model follows.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
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
from ..live import Cancelled, LiveTrainer
from ..uncertainty import normalised_entropy
from .layers import (
    CLASSES,
    PROBABILITIES,
    SCRIBBLES,
    chosen_layer,
    class_colormap,
    fill_layer_box,
    image_array,
    notify_error,
    notify_info,
    one_line,
    output_layers,
    spatial_shape,
    visible_region,
    watch_layers,
    write_region,
)

if TYPE_CHECKING:
    import napari

#: Images up to this many pixels are predicted in one piece; larger ones by the view, then tiles.
WHOLE_IMAGE_PIXELS = 1024 * 1024
#: Full-resolution tile side for the rest of a large image (small: a stroke stops the rest at
#: the next feature tile, and a tile's forest runs to its end)
REST_TILE = 512
#: Milliseconds after the last paint stroke before Live mode retrains (napari reports a stroke
#: when the button is released; the wait gathers a quick series of strokes into one fit)
LIVE_DELAY_MS = 150
#: Milliseconds without a stroke before Live mode replaces its preview forest
#: (seglab.live.PREVIEW_FOREST) by the full model
FULL_FIT_DELAY_MS = 2000
HELP = (
    "Scribbles: label 0 is unlabelled (napari's eraser); paint label 1 for the first class"
    " named below, label 2 for the second, and so on (seglab's class = label - 1)."
)


class _Progress(QObject):
    """Carries the worker thread's fit progress to the widget (a queued Qt signal)."""

    changed = Signal(float)


def _regions(shape: tuple[int, int], view: tuple[int, int, int, int]) -> list[tuple]:
    """The visible region first, then the tiles of the rest of an image, nearest first."""
    rows, cols = shape
    if rows * cols <= WHOLE_IMAGE_PIXELS:
        return [(0, rows, 0, cols)]
    y0, y1, x0, x1 = view
    rest = []
    for ty in range(0, rows, REST_TILE):
        for tx in range(0, cols, REST_TILE):
            tile = (ty, min(rows, ty + REST_TILE), tx, min(cols, tx + REST_TILE))
            inside = tile[0] >= y0 and tile[1] <= y1 and tile[2] >= x0 and tile[3] <= x1
            if not inside:
                rest.append(tile)
    centre = ((y0 + y1) / 2, (x0 + x1) / 2)
    rest.sort(
        key=lambda t: ((t[0] + t[1]) / 2 - centre[0]) ** 2 + ((t[2] + t[3]) / 2 - centre[1]) ** 2
    )
    return [view, *rest]


class TrainWidget(QWidget):
    """Train a seglab model from scribbles painted in napari.

    Pick an Image layer and a Labels layer of scribbles ("Add scribble layer" makes one for
    the image, its labels named and coloured by the classes). Every scribble layer made here
    stays tied to its image, so scribbles on several images train one model. "Train" fits in
    a worker thread; "Live" fits a preview after each paint stroke and the full model when
    painting pauses. The result goes to the
    ``seglab prediction`` and ``seglab uncertainty`` layers; "Save model" writes the same
    ``.seglab`` file as ``seglab train``.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self.model = None
        self.worker = None
        self.last_seconds: float | None = None
        self._trainer: LiveTrainer | None = None
        self._trainer_key = None
        self._pending: str | None = None  # "live" or "full": the run asked for during one
        self.preview_model = None  # Live mode's last preview forest
        self._running_live = False
        self._undo: list = []  # regions of the output layers before a run, restored if it fails
        self._proba = None  # the prediction's probabilities, for the cells widget's N/C ranges
        self._stop = threading.Event()
        self._connected: set[int] = set()

        self.image_box = QComboBox()
        self.scribble_box = QComboBox()
        self.add_button = QPushButton("Add scribble layer")
        self.classes_edit = QLineEdit("background, cytoplasm, nucleus")
        self.method_box = QComboBox()
        self.normalize_box = QComboBox()
        self.normalize_box.addItems(["dtype", "minmax"])
        self.params_widget = QWidget()
        self.params_form = QFormLayout(self.params_widget)
        self.param_form = None  # the method's parameters (forms.ParamsForm)
        self.train_button = QPushButton("Train")
        self.live_check = QCheckBox("Live: preview after each stroke, full model on a pause")
        self.save_button = QPushButton("Save model...")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel(HELP)
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("image", self.image_box)
        form.addRow("scribbles", self.scribble_box)
        form.addRow("", self.add_button)
        form.addRow("classes", self.classes_edit)
        form.addRow("method", self.method_box)
        form.addRow("normalize", self.normalize_box)
        buttons = QHBoxLayout()
        for button in (self.train_button, self.save_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.params_widget)
        layout.addWidget(self.live_check)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch()

        from ..segmenters import list_segmenters

        for row in list_segmenters():
            if row["supervised"] and row["available"]:
                self.method_box.addItem(row["name"])
        self.method_box.setCurrentText("rf")
        self._fill_params()

        self._fit_progress = _Progress()
        self._fit_progress.changed.connect(lambda f: self.progress.setValue(int(80 * f)))
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(LIVE_DELAY_MS)
        self._debounce.timeout.connect(lambda: self.train(live=True))
        self._full_fit = QTimer(self)
        self._full_fit.setSingleShot(True)
        self._full_fit.setInterval(FULL_FIT_DELAY_MS)
        self._full_fit.timeout.connect(lambda: self.train())

        self.method_box.currentTextChanged.connect(self._fill_params)
        self.add_button.clicked.connect(self.add_scribble_layer)
        self.train_button.clicked.connect(lambda: self.train())
        self.save_button.clicked.connect(lambda: self.save_model())
        watch_layers(viewer, self._refresh_layers)

    # ------------------------------------------------------------------ form
    def _fill_params(self, *_) -> None:
        """The chosen method's parameters as a typed form (spin boxes, check boxes, choices)."""
        from .forms import ParamsForm

        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self.param_form = ParamsForm(self.method_box.currentText())
        self.params_form.addRow(self.param_form.native)

    def params(self) -> dict:
        """The method's parameters from the form."""
        return self.param_form.values()

    def class_names(self) -> list[str]:
        names = [n.strip() for n in self.classes_edit.text().split(",") if n.strip()]
        if len(names) < 2:
            raise ParameterError("name at least two classes, separated by commas")
        return names

    def _refresh_layers(self, *_) -> None:
        from napari.layers import Image, Labels

        fill_layer_box(self.image_box, self.viewer, Image)
        fill_layer_box(self.scribble_box, self.viewer, Labels)
        for layer in self.viewer.layers:
            if isinstance(layer, Labels) and id(layer) not in self._connected:
                layer.events.paint.connect(self._painted)
                self._connected.add(id(layer))

    def _layer(self, box: QComboBox, what: str):
        layer = chosen_layer(box, self.viewer)
        if layer is None:
            raise ParameterError(f"choose {what} first")
        return layer

    def add_scribble_layer(self):
        """A Labels layer of the image's shape for scribbles, its labels coloured by class."""
        try:
            image = self._layer(self.image_box, "an Image layer")
            names = self.class_names()
        except ParameterError as exc:
            notify_error(one_line(exc))
            return None
        layer = self.viewer.add_labels(
            np.zeros(spatial_shape(image), np.uint8),
            name=f"{SCRIBBLES} ({image.name})",
            scale=tuple(image.scale)[-2:],
            translate=tuple(image.translate)[-2:],
            metadata={"seglab_image": image.name, "seglab_classes": names},
        )
        layer.colormap = class_colormap(len(names), 1)
        layer.brush_size = 5
        layer.selected_label = 1
        layer.mode = "paint"
        self.scribble_box.setCurrentText(layer.name)
        self.status.setText(
            HELP + " " + ", ".join(f"label {k + 1} = {n}" for k, n in enumerate(names)) + "."
        )
        return layer

    # ------------------------------------------------------------------ training
    def _pairs(self) -> list:
        """(image layer, scribble layer) pairs to train on: the chosen pair first (the one
        predicted and shown), then every scribble layer tied to another image by this widget."""
        from napari.layers import Image, Labels

        image = self._layer(self.image_box, "an Image layer")
        scribbles = self._layer(self.scribble_box, "a Labels layer of scribbles")
        pairs = [(image, scribbles)]
        for layer in self.viewer.layers:
            tied = layer.metadata.get("seglab_image") if isinstance(layer, Labels) else None
            if layer is scribbles or tied not in self.viewer.layers:
                continue
            other = self.viewer.layers[tied]
            if isinstance(other, Image) and other is not image:
                pairs.append((other, layer))
        return pairs

    def _painted(self, *_) -> None:
        if self.live_check.isChecked():
            self._full_fit.stop()  # still painting
            self._debounce.start()

    def train(self, live: bool = False):
        """Fit in a worker thread (one at a time: a call during a run reruns after it).

        ``live`` fits the preview forest (:data:`seglab.live.PREVIEW_FOREST`) and, unless a
        stroke comes first, the full model follows after :data:`FULL_FIT_DELAY_MS`.
        """
        if self.worker is not None:
            self._pending = "live" if live else "full"
            # the newer request makes the rest of the old prediction moot: the run stops at
            # its next tile, and _finished starts the new one
            self._stop.set()
            return None
        try:
            pairs = self._pairs()
            names = self.class_names()
            method, params = self.method_box.currentText(), self.params()
            normalize = self.normalize_box.currentText()
            view = visible_region(pairs[0][0])
        except ParameterError as exc:
            notify_error(one_line(exc))
            return None
        images = [image for image, _ in pairs]
        key = (tuple(id(im.data) for im in images), method, json.dumps(params), normalize)
        scribbles = [np.array(layer.data) for _, layer in pairs]  # a copy: painting goes on
        shape = spatial_shape(images[0])
        from napari.qt.threading import thread_worker

        worker = thread_worker(self._run, ignore_errors=True, start_thread=False)(
            key, [image_array(im) for im in images] if key != self._trainer_key else None,
            scribbles, names, method, params, normalize, _regions(shape, view), live,
        )  # fmt: skip
        worker.yielded.connect(lambda item: self._show(item, images[0], len(names)))
        worker.returned.connect(lambda model: self._done(model, live))
        worker.errored.connect(self._failed)
        worker.finished.connect(self._finished)
        self.worker = worker
        self._undo = []
        self._running_live = live
        self._stop.clear()
        self._started = time.perf_counter()
        self.train_button.setEnabled(False)
        self.progress.setValue(0)
        self.status.setText("training..." if not live else "live: training the preview...")
        worker.start()
        return worker

    def _run(self, key, arrays, scribbles, names, method, params, normalize, regions, preview):
        trainer = self._trainer if arrays is None else None
        if trainer is None:
            trainer = LiveTrainer(arrays, method, params, normalize)
            self._trainer, self._trainer_key = trainer, key
        model = trainer.fit(
            scribbles, names, progress=self._fit_progress.changed.emit, preview=preview
        )
        for k, region in enumerate(regions):
            try:  # the field in view always; the rest until a newer stroke asks to stop
                stop = None if k == 0 else self._stop.is_set
                labels, proba = trainer.predict_region(model, 0, region, stop, k == 0)
            except Cancelled:
                return model
            entropy = normalised_entropy(proba)
            yield region, labels, proba, entropy, model.classes_, (k + 1) / len(regions)
        return model

    def _show(self, item, image_layer, n_classes: int) -> None:
        region, labels, proba, uncertainty, classes, done = item
        prediction, unsure = output_layers(
            self.viewer, image_layer, spatial_shape(image_layer), n_classes
        )
        y0, y1, x0, x1 = region
        # what this region held, put back if the run fails (a region's copy, not the image's)
        self._undo.append(
            (region, np.array(prediction.data[y0:y1, x0:x1]), np.array(unsure.data[y0:y1, x0:x1]))
        )
        shape = (*spatial_shape(image_layer), proba.shape[-1])
        if self._proba is None or self._proba.shape != shape:
            self._proba = np.zeros(shape, np.float32)  # kept across runs, written region by region
        self._proba[y0:y1, x0:x1] = proba
        write_region(prediction, region, labels)
        write_region(unsure, region, uncertainty)
        if self._running_live and len(self._undo) == 1 and self.live_check.isChecked():
            # the preview's field is shown: the full model follows unless a stroke comes
            # first (which stops this timer) or another run is already asked for
            if self._pending is None:
                self._full_fit.start()
        if done == 1:
            prediction.metadata[PROBABILITIES] = self._proba
            prediction.metadata[CLASSES] = list(classes)
        self.progress.setValue(80 + int(20 * done))

    def _done(self, model, preview: bool = False) -> None:
        self.last_seconds = time.perf_counter() - self._started
        self.progress.setValue(100)
        if not preview:
            self.model = model
            self.status.setText(f"trained {model.name} in {self.last_seconds:.1f} s")
            return
        self.preview_model = model
        self.status.setText(
            f"live preview in {self.last_seconds:.1f} s; the full model follows when painting"
            f" pauses for {FULL_FIT_DELAY_MS / 1000:g} s"
        )

    def _failed(self, exc: BaseException) -> None:
        from .layers import PREDICTION, UNCERTAINTY

        for region, labels, uncertainty in reversed(self._undo):  # the outputs as they were
            for name, data in ((PREDICTION, labels), (UNCERTAINTY, uncertainty)):
                if name in self.viewer.layers:
                    write_region(self.viewer.layers[name], region, data)
        self.progress.setValue(0)
        self.status.setText(f"failed: {one_line(exc)}")
        notify_error(one_line(exc))

    def _finished(self) -> None:
        self.worker = None
        self.train_button.setEnabled(True)
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.train(live=pending == "live")

    # ------------------------------------------------------------------ saving
    def save_model(self, path: str | None = None):
        """Write the trained model as a ``.seglab`` file (the file ``seglab train`` writes)."""
        if self.model is None:
            notify_error(
                "no full model yet: pause painting for a moment or press Train"
                if self.preview_model is not None
                else "no model yet: train first"
            )
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Save seglab model", "model.seglab", "seglab model (*.seglab)"
            )
            if not path:
                return None
        from ..modelfile import save

        try:
            save(self.model, path)
        except Exception as exc:  # any failure is a notification, never a traceback
            notify_error(one_line(exc))
            return None
        notify_info(f"saved {path}")
        return path
