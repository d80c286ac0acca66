"""Live mode in napari: from a paint stroke to the updated prediction of the field in view.

A 4096 x 4096 mosaic of course images (16 x 16, RGB) in a napari viewer on a virtual display,
the train widget with `rf` in Live mode, and the view fixed on a 1024 x 1024 field.
After a first fit on a few strokes per class in that field (not timed: it computes the field's
filter bank), 20 strokes are painted one at a time, 3 pixels thick and 30 long, each on a
class of the true mask chosen in turn, 1.5 s apart (while the rest of the image is predicted,
which the next stroke stops). For each stroke, the time from napari's paint event to the
moment the field's new prediction is written into the `seglab prediction` layer: it includes
Live mode's 150 ms wait for further strokes, the fit of the preview forest
(`seglab.live.PREVIEW_FOREST`) on the scribbled tiles and the field's prediction from the
kept features. Strokes 1.5 s apart never leave the 2 s pause after which the widget fits the
full model; the first fit is the full model's (the Train button). Runs rf's defaults, then
`scale=2`; on a machine without a display it starts Xvfb itself. Usage, from the project root:

    .venv/bin/python benchmarks/napari_live.py [--strokes 20] [--set scale=2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy import ndimage as ndi

from seglab.bench import run_header
from seglab.data import course_data_path
from seglab.io import load_mask, read_array
from seglab.segmenters.base import parse_param_value

DATA = course_data_path()  # `seglab data` fetches it
SIDE, FIELD = 4096, (1024, 2048, 1024, 2048)  # the field in view: rows, then columns


def mosaic() -> tuple[np.ndarray, np.ndarray]:
    n = SIDE // 256
    ids = [k % 200 for k in range(n * n)]
    images = [read_array(DATA / "images" / f"{k}.png")[..., :3] for k in ids]
    masks = [load_mask(DATA / "masks" / f"{k}.png") for k in ids]
    rows = range(n)
    image = np.concatenate([np.concatenate(images[r * n : (r + 1) * n], axis=1) for r in rows])
    mask = np.concatenate([np.concatenate(masks[r * n : (r + 1) * n], axis=1) for r in rows])
    return image, mask


def stroke_at(mask, inside, rng, c) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of one 3 x 30 stroke on class ``c`` inside the field."""
    y0, y1, x0, x1 = FIELD
    ys, xs = np.nonzero(inside[c][y0:y1, x0:x1])
    k = rng.integers(len(ys))
    r, col = ys[k] + y0, xs[k] + x0
    cols = np.arange(col, min(col + 30, x1))
    cols = cols[inside[c][r, cols]]
    return np.arange(r - 1, r + 2)[:, None], cols[None, :]


def pump(app, until, timeout: float = 120.0) -> None:
    end = time.perf_counter() + timeout
    while not until():
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() > end:
            raise SystemExit("timed out waiting for the widget")


def live_latencies(image, mask, settings: list[str], strokes: int) -> tuple[float, np.ndarray, int]:
    """First fit's seconds, each stroke's latency, and the work scale, in a fresh viewer."""
    import napari
    from qtpy.QtWidgets import QApplication

    from seglab.napari import train as train_module

    train_module.visible_region = lambda layer: FIELD  # the view, fixed
    viewer = napari.Viewer(show=False)
    app = QApplication.instance()
    viewer.add_image(image, name="mosaic", rgb=True)
    widget = train_module.TrainWidget(viewer)
    widget.image_box.setCurrentText("mosaic")
    for pair in settings:  # rf's parameters, as the widget's form takes them
        name, _, value = pair.partition("=")
        widget.param_form.set(name, parse_param_value(value))
    scribbles = widget.add_scribble_layer()
    inside = {c: ndi.binary_erosion(mask == c, iterations=3) for c in (0, 1, 2)}
    rng = np.random.default_rng(0)
    first = np.zeros(mask.shape, np.uint8)
    for c in (0, 1, 2):
        for _ in range(3):
            rows, cols = stroke_at(mask, inside, rng, c)
            first[rows, cols] = c + 1
    scribbles.data = first
    shown: list[float] = []
    original_show = widget._show

    def recording_show(item, layer, n):
        original_show(item, layer, n)
        if tuple(item[0]) == FIELD:
            shown.append(time.perf_counter())

    widget._show = recording_show
    start = time.perf_counter()
    widget.train()
    pump(app, lambda: bool(shown))
    first_fit = time.perf_counter() - start
    widget.live_check.setChecked(True)
    latencies = []
    for k in range(strokes):
        rows, cols = stroke_at(mask, inside, rng, k % 3)
        data = scribbles.data
        data[rows, cols] = k % 3 + 1
        count = len(shown)
        painted = time.perf_counter()
        scribbles.events.paint(value=None)
        pump(app, lambda count=count: len(shown) > count)
        latencies.append(shown[-1] - painted)
        pause = time.perf_counter() + 1.5
        pump(app, lambda pause=pause: time.perf_counter() > pause)
    widget._full_fit.stop()  # nor the full model
    widget._stop.set()  # the rest of the image is not waited for
    pump(app, lambda: widget.worker is None)
    factor = widget._trainer.factor
    viewer.close()
    return first_fit, np.array(latencies), factor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=20)
    parser.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="rf's parameters; default: the defaults, then scale=2 (the work scale rf picks"
        " on the course training images)",
    )
    args = parser.parse_args()
    display = None
    if not os.environ.get("DISPLAY"):  # a headless machine: a virtual display (Xvfb)
        from pyvirtualdisplay import Display

        display = Display(visible=False, size=(1280, 1024))
        display.start()
    try:
        image, mask = mosaic()
        runs = [args.set] if args.set else [[], ["scale=2"]]
        results = [live_latencies(image, mask, settings, args.strokes) for settings in runs]
    finally:
        if display is not None:
            display.stop()
    print(run_header())
    print(
        f"rf in napari's Live mode, {SIDE} x {SIDE} RGB mosaic of course images, a 1024 x 1024"
        f" field in view; stroke to updated field (the preview forest) over {args.strokes}"
        " strokes (incl. the 150 ms wait)"
    )
    for settings, (first_fit, seconds, factor) in zip(runs, results, strict=True):
        print(
            f"  {', '.join(settings) or 'defaults'} (work scale 1/{factor}):"
            f" median {np.median(seconds):.2f} s, 90th percentile"
            f" {np.percentile(seconds, 90):.2f} s, max {seconds.max():.2f} s;"
            f" full model's fit and field {first_fit:.1f} s"
        )


if __name__ == "__main__":
    main()
