"""What the seglab widgets share: layers in and out, colours, notifications, workers."""

from __future__ import annotations

import numpy as np

PREDICTION = "seglab prediction"
UNCERTAINTY = "seglab uncertainty"
SCRIBBLES = "seglab scribbles"
#: Keys of the prediction layer's metadata: its class probabilities (H, W, K) and their classes,
#: from which the cells widget gives each cell's N/C range
PROBABILITIES, CLASSES = "seglab_probabilities", "seglab_classes"
#: Class colours (RGBA): class 0, 1, 2 ... (scribble label k is class k - 1)
PALETTE = (
    (0.55, 0.55, 0.55, 1.0),  # background: grey
    (0.15, 0.75, 0.25, 1.0),  # cytoplasm: green
    (0.85, 0.2, 0.6, 1.0),  # nucleus: magenta
    (0.2, 0.45, 0.95, 1.0),
    (0.95, 0.7, 0.1, 1.0),
    (0.1, 0.8, 0.85, 1.0),
    (0.9, 0.35, 0.1, 1.0),
    (0.6, 0.3, 0.9, 1.0),
)


def one_line(exc: BaseException) -> str:
    """An error as one line for a notification: its message's first line."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def notify_error(message: str) -> None:
    """Show ``message`` as a napari error notification (never raised into the console)."""
    from napari.utils.notifications import show_error

    show_error(message)


def notify_info(message: str) -> None:
    from napari.utils.notifications import show_info

    show_info(message)


def fill_layer_box(box, viewer, kind, skip: tuple[str, ...] = (), prefer: str = "") -> None:
    """Refill a combo box with the viewer's layers of type ``kind`` (less those named in
    ``skip``): each item shows the layer's name and holds the layer itself
    (:func:`chosen_layer`). The chosen layer stays chosen, renamed or not; else ``prefer``."""
    current = box.currentData()
    layers = [
        layer for layer in viewer.layers if isinstance(layer, kind) and layer.name not in skip
    ]
    box.blockSignals(True)
    box.clear()
    for layer in layers:
        box.addItem(layer.name, layer)
    index = next((i for i, layer in enumerate(layers) if layer is current), -1)
    if index < 0:
        index = next((i for i, layer in enumerate(layers) if layer.name == prefer), 0)
    if layers:
        box.setCurrentIndex(index)
    box.blockSignals(False)


def chosen_layer(box, viewer):
    """The layer a picker filled by :func:`fill_layer_box` holds, if still in the viewer."""
    layer = box.currentData()
    return layer if layer is not None and layer in viewer.layers else None


def watch_layers(viewer, callback) -> None:
    """Call ``callback`` now and whenever layers are added, removed, reordered or renamed."""
    renamed = set()

    def follow_names(*_):
        for layer in viewer.layers:
            if id(layer) not in renamed:
                layer.events.name.connect(callback)
                renamed.add(id(layer))

    for event in ("inserted", "removed", "reordered"):
        getattr(viewer.layers.events, event).connect(follow_names)
        getattr(viewer.layers.events, event).connect(callback)
    follow_names()
    callback()


def class_colormap(n_classes: int, first_label: int):
    """Labels colours where label ``first_label + c`` shows class c's colour."""
    from napari.utils.colormaps import DirectLabelColormap

    colours = {None: (0.0, 0.0, 0.0, 0.0), 0: (0.0, 0.0, 0.0, 0.0)}
    for c in range(n_classes):
        label = first_label + c
        if label:
            colours[label] = PALETTE[c % len(PALETTE)]
    return DirectLabelColormap(color_dict=colours)


def base_level(layer):
    """The full-resolution data of an Image layer (the first level of a multiscale one)."""
    return layer.data[0] if layer.multiscale else layer.data


def is_lazy(layer) -> bool:
    """Whether an Image layer is predicted tile by tile: multiscale, or not a numpy array
    (dask, zarr), so possibly larger than memory."""
    return bool(layer.multiscale) or not isinstance(layer.data, np.ndarray)


def image_array(layer) -> np.ndarray:
    """An in-memory Image layer as seglab reads images: ``(H, W)``, ``(H, W, 3)`` for RGB, and
    a channel stack ``(C, H, W)`` moved to ``(H, W, C)``."""
    data = np.asarray(base_level(layer))
    if data.ndim == 3 and not layer.rgb:
        data = np.moveaxis(data, 0, -1)
    return data


def spatial_shape(layer) -> tuple[int, int]:
    """Rows and columns of an Image layer's full-resolution data."""
    data = base_level(layer)
    return tuple(int(s) for s in (data.shape[:2] if layer.rgb else data.shape[-2:]))


def visible_region(layer) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: the part of a layer's full-resolution data in the view."""
    corners = np.asarray(layer.corner_pixels)[:, -2:]
    rows, cols = spatial_shape(layer)
    y0, x0 = (int(v) for v in np.clip(corners[0], 0, None))
    y1, x1 = int(min(rows, corners[1][0] + 1)), int(min(cols, corners[1][1] + 1))
    if y1 <= y0 or x1 <= x0:
        return 0, rows, 0, cols
    return y0, y1, x0, x1


def output_layers(viewer, like, shape: tuple[int, int], n_classes: int):
    """The ``seglab prediction`` and ``seglab uncertainty`` layers for an image of ``shape``:
    the existing ones, given new arrays only if their shape differs, else new layers placed
    like the layer ``like``."""
    from napari.layers import Image, Labels

    spatial = {"scale": tuple(like.scale)[-2:], "translate": tuple(like.translate)[-2:]}
    out = []
    for name, kind, make in (
        (PREDICTION, Labels, lambda: np.zeros(shape, np.uint8)),
        (UNCERTAINTY, Image, lambda: np.zeros(shape, np.float32)),
    ):
        layer = viewer.layers[name] if name in viewer.layers else None
        if layer is not None and not isinstance(layer, kind):
            viewer.layers.remove(layer)
            layer = None
        if layer is None:
            if kind is Labels:
                layer = viewer.add_labels(make(), name=name, opacity=0.5, **spatial)
            else:
                layer = viewer.add_image(
                    make(), name=name, colormap="magma", contrast_limits=(0, 1), opacity=0.6,
                    visible=False, **spatial,
                )  # fmt: skip
        elif tuple(layer.data.shape) != tuple(shape) or not isinstance(layer.data, np.ndarray):
            layer.data = make()
        out.append(layer)
    out[0].colormap = class_colormap(n_classes, 0)
    return out[0], out[1]


def write_region(layer, region, values) -> None:
    """Write ``values`` into rows ``y0:y1``, columns ``x0:x1`` of a layer, in place."""
    y0, y1, x0, x1 = region
    layer.data[y0:y1, x0:x1] = values
    layer.refresh()
