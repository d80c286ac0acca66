"""The napari plugin, headless: napari's viewer fixture on a virtual display (pytest-xvfb).

Scribbles are drawn from a course image's true mask as a few short strokes per class; results
are checked against the true mask, against `seglab predict` and `seglab nc-ratio` run through
the CLI, and against Dice and CSV text computed here by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")
if not (os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM")):
    # without a display Qt aborts the whole test run; pytest-xvfb starts Xvfb when it exists
    pytest.fail("napari's tests need Xvfb and Qt's X libraries: run .ci/gui-packages", False)

from scipy import ndimage as ndi

from seglab.cli import main
from seglab.io import load_image, load_mask
from seglab.napari.apply import ApplyWidget
from seglab.napari.cells import CellsWidget
from seglab.napari.layers import PREDICTION, UNCERTAINTY
from seglab.napari.train import TrainWidget

IMAGE = 3  # a course image with cells of each class
FAST_RF = '{"n_estimators": 20, "n_jobs": 2}'


@pytest.fixture
def notifications(monkeypatch):
    """Every error notification's message, in order (and nothing printed as a traceback)."""
    shown: list[str] = []
    from napari.utils import notifications as module

    monkeypatch.setattr(module, "show_error", lambda message: shown.append(str(message)))
    monkeypatch.setattr(module, "show_info", lambda message: None)
    return shown


def strokes(mask: np.ndarray, per_class: int = 4, length: int = 30) -> np.ndarray:
    """napari scribbles (label = class + 1): ``per_class`` horizontal strokes, 3 pixels
    thick and up to ``length`` long, well inside each class's regions."""
    out = np.zeros(mask.shape, np.uint8)
    for c in np.unique(mask):
        inside = ndi.binary_erosion(mask == c, iterations=4)
        rows = np.flatnonzero(inside.any(axis=1))
        for r in rows[np.linspace(0, len(rows) - 1, per_class + 2).astype(int)[1:-1]]:
            cols = np.flatnonzero(inside[r])
            start = cols[len(cols) // 2]
            run = cols[(cols >= start) & (cols < start + length)]
            run = run[: np.argmax(np.diff(run, append=run[-1] + 2) > 1) + 1]  # one piece
            out[r - 1 : r + 2, run] = c + 1
    return out


def dice_by_hand(truth: np.ndarray, pred: np.ndarray, classes=(1, 2)) -> float:
    scores = []
    for c in classes:
        a, b = truth == c, pred == c
        scores.append(2 * (a & b).sum() / (a.sum() + b.sum()))
    return float(np.mean(scores))


def wait_for(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: widget.worker is None, timeout=timeout)


def trained(viewer, qtbot, image, mask, params=FAST_RF, name="course image"):
    viewer.add_image(image, name=name, rgb=image.ndim == 3)
    widget = TrainWidget(viewer)
    widget.image_box.setCurrentText(name)
    widget.param_form.set("n_estimators", 20)
    widget.param_form.set("n_jobs", 2)
    layer = widget.add_scribble_layer()
    layer.data = strokes(mask)
    assert widget.train() is not None
    wait_for(qtbot, widget)
    return widget, layer


@pytest.fixture
def course(voced):
    return load_image(voced / "images" / f"{IMAGE}.png"), load_mask(
        voced / "masks" / f"{IMAGE}.png"
    )


def test_import_seglab_and_its_cli_load_neither_napari_nor_qt():
    code = (
        "import sys, contextlib, io\n"
        "import seglab\n"
        "from seglab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print(sorted(m for m in ('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6',"
        " 'magicgui', 'vispy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_manifest_names_three_widgets_and_two_samples():
    from npe2 import PluginManager

    manager = PluginManager.instance()
    manager.discover()
    manifest = manager.get_manifest("seglab")
    widgets = {w.display_name for w in manifest.contributions.widgets}
    assert widgets == {"Train (scribbles)", "Apply model", "Cells and N/C"}
    assert {s.key for s in manifest.contributions.sample_data} == {
        "synthetic_cells",
        "course_image",
    }


def test_scribbles_train_rf_through_the_widget(make_napari_viewer, qtbot, course, notifications):
    image, mask = course
    viewer = make_napari_viewer()
    widget, layer = trained(viewer, qtbot, image, mask)
    assert not notifications
    assert (layer.data > 0).mean() < 0.05  # a few strokes, not the mask
    assert set(np.unique(layer.data)) == {0, 1, 2, 3}
    prediction = viewer.layers[PREDICTION].data
    assert prediction.shape == mask.shape and prediction.dtype == np.uint8
    assert dice_by_hand(mask, prediction) > 0.75
    uncertainty = viewer.layers[UNCERTAINTY].data
    assert 0 <= uncertainty.min() and uncertainty.max() <= 1 and uncertainty.max() > 0
    # the outputs are updated in place by a second run, never duplicated
    first = viewer.layers[PREDICTION]
    widget.train()
    wait_for(qtbot, widget)
    assert viewer.layers[PREDICTION] is first
    assert [lay.name for lay in viewer.layers].count(PREDICTION) == 1


def test_saved_model_reloaded_gives_the_masks_of_seglab_predict(
    make_napari_viewer, qtbot, course, voced, tmp_path, notifications
):
    image, mask = course
    viewer = make_napari_viewer()
    widget, _ = trained(viewer, qtbot, image, mask)
    live_prediction = np.array(viewer.layers[PREDICTION].data)
    model = widget.save_model(str(tmp_path / "painted.seglab"))
    assert model is not None
    assert (
        main(["predict", model, str(voced / "images" / f"{IMAGE}.png"), "-o", str(tmp_path)]) == 0
    )
    cli_mask = load_mask(tmp_path / f"{IMAGE}.png")
    assert np.array_equal(live_prediction, cli_mask)  # the train widget's own prediction too
    viewer.layers.remove(PREDICTION)
    apply = ApplyWidget(viewer)
    apply.path_edit.setText(model)
    apply.image_box.setCurrentText("course image")
    apply.predict()
    wait_for(qtbot, apply)
    assert np.array_equal(viewer.layers[PREDICTION].data, cli_mask)
    assert not notifications


def test_apply_widget_predicts_a_dask_layer_tile_by_tile(
    make_napari_viewer, qtbot, course, tmp_path, monkeypatch, notifications
):
    import dask.array as da
    import tifffile

    import seglab
    from seglab.napari import apply as apply_module

    image, mask = course
    model = seglab.make_segmenter("rf", n_estimators=10, n_jobs=2)
    model.fit([image], [mask])
    seglab.save(model, tmp_path / "m.seglab")
    row = np.concatenate([image, image[:, ::-1]], axis=1)
    mosaic = (np.concatenate([row, row[::-1]], axis=0) * 255).round().astype(np.uint8)
    tifffile.imwrite(tmp_path / "mosaic.tif", mosaic, tile=(128, 128))
    monkeypatch.setattr(apply_module, "TILE", 256)  # four tiles, borders across cells
    viewer = make_napari_viewer()
    viewer.add_image(da.from_array(mosaic, chunks=(128, 128, 3)), name="lazy", rgb=True)
    apply = ApplyWidget(viewer)
    apply.path_edit.setText(str(tmp_path / "m.seglab"))
    apply.image_box.setCurrentText("lazy")
    apply.predict()
    wait_for(qtbot, apply)
    assert not notifications
    shown = np.asarray(viewer.layers[PREDICTION].data)
    out = tmp_path / "out"
    args = ["predict", str(tmp_path / "m.seglab"), str(tmp_path / "mosaic.tif"), "--chunk", "256"]
    assert main([*args, "-o", str(out)]) == 0
    assert np.array_equal(shown, tifffile.imread(out / "mosaic.tif"))
    # and whole-image prediction, but where two classes tie (a 10-tree forest's votes),
    # which float rounding of a different batch of pixels may break either way
    proba = np.sort(model.predict_proba(mosaic), axis=-1)
    tied = proba[..., -1] - proba[..., -2] < 1e-4
    assert np.array_equal(shown[~tied], model.predict(mosaic)[~tied]) and tied.mean() < 0.01
    uncertainty = np.asarray(viewer.layers[UNCERTAINTY].data)
    assert uncertainty.shape == mosaic.shape[:2] and uncertainty[tied].min() > 0.5
    first_folder = apply._folder
    assert first_folder.is_dir()
    # a multiscale layer: its full-resolution level, tile by tile
    viewer.add_image([mosaic, mosaic[::2, ::2]], name="pyramid", rgb=True, multiscale=True)
    apply.image_box.setCurrentText("pyramid")
    apply.predict()
    wait_for(qtbot, apply)
    assert np.array_equal(np.asarray(viewer.layers[PREDICTION].data), shown)
    # the first result's temporary arrays are deleted once the new ones replace them
    assert apply._folder.is_dir() and not first_folder.exists()
    assert not notifications


def test_cells_table_equals_nc_ratio_per_cell(
    make_napari_viewer, qtbot, voced, tmp_path, capsys, notifications
):
    path = voced / "masks" / f"{IMAGE}.png"
    assert main(["nc-ratio", str(path), "--per-cell", "--pixel-size", "0.5"]) == 0
    cli_lines = capsys.readouterr().out.splitlines()
    viewer = make_napari_viewer()
    viewer.add_labels(load_mask(path), name=str(IMAGE))
    widget = CellsWidget(viewer)
    widget.mask_box.setCurrentText(str(IMAGE))
    widget.pixel_size.setValue(0.5)
    widget.measure()
    wait_for(qtbot, widget)
    exported = widget.export_csv(str(tmp_path / "cells.csv"))
    lines = (tmp_path / "cells.csv").read_text().splitlines()
    cell_lines = [line for line in cli_lines if ",all," not in line]
    assert exported and len(widget.rows) == len(cell_lines) - 1 >= 2
    header = cli_lines[0].split(",")
    # row for row: each exported value equals the CLI's in the same column
    for mine, theirs in zip(lines[1:], cell_lines[1:], strict=True):
        assert dict(zip(lines[0].split(","), mine.split(","), strict=True)) == {
            k: v for k, v in zip(header, theirs.split(","), strict=True) if k in lines[0]
        }
    layer = viewer.layers["seglab cells"]
    assert list(layer.features["index"]) == [row["cell"] for row in widget.rows]
    assert widget.table.rowCount() == len(widget.rows)
    # a row selects and centres its cell
    widget.table.selectRow(1)
    second = widget.rows[1]
    assert layer.selected_label == second["cell"] and layer.show_selected_label
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    assert np.allclose(camera.center[-2:], (second["centroid_row"], second["centroid_col"]))
    # clicking a cell selects its row
    first = widget.rows[0]
    inside = np.argwhere(layer.data == first["cell"])[0]

    class Click:
        position = tuple(float(v) for v in inside)

    widget._clicked(layer, Click())
    assert widget.table.currentRow() == 0 and layer.selected_label == first["cell"]
    # the summary: the top-5 cells' mean N/C and the largest nucleus, computed here
    ratios = sorted((row["nc_ratio"] for row in widget.rows), reverse=True)[:5]
    largest = max(row["nucleus_px"] for row in widget.rows)
    text = widget.summary_label.text()
    assert f"top-5 N/C {np.mean(ratios):.3g}" in text and f"largest nucleus {largest} px" in text


def test_cells_of_a_trained_prediction_carry_the_nc_range_of_nc_ratio_proba(
    make_napari_viewer, qtbot, course, voced, tmp_path, capsys, notifications
):
    image, mask = course
    viewer = make_napari_viewer()
    widget, _ = trained(viewer, qtbot, image, mask)
    model = widget.save_model(str(tmp_path / "m.seglab"))
    source = str(voced / "images" / f"{IMAGE}.png")
    assert main(["predict", model, source, "--proba", "--format", "tif", "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    proba = str(tmp_path / f"{IMAGE}_proba.tif")
    # with the images, as the widget has the image layer: the stain columns too
    images = str(voced / "images")
    assert main(["nc-ratio", proba, "--proba", "--per-cell", "--images", images]) == 0
    cli_lines = [line for line in capsys.readouterr().out.splitlines() if ",all," not in line]
    cells = CellsWidget(viewer)
    cells.mask_box.setCurrentText(PREDICTION)
    cells.measure()
    wait_for(qtbot, cells)
    cells.export_csv(str(tmp_path / "cells.csv"))
    lines = (tmp_path / "cells.csv").read_text().splitlines()
    header = cli_lines[0].split(",")
    assert {"nc_low", "nc_high", "high_nc_unsure"} <= set(lines[0].split(","))
    assert len(lines) == len(cli_lines) >= 3
    for mine, theirs in zip(lines[1:], cli_lines[1:], strict=True):
        expected = dict(zip(header, theirs.split(","), strict=True))
        expected["image"] = PREDICTION  # the CLI names rows by file, the widget by layer
        assert dict(zip(lines[0].split(","), mine.split(","), strict=True)) == {
            k: v for k, v in expected.items() if k in lines[0]
        }
    assert not notifications


def test_the_ui_processes_events_while_training(make_napari_viewer, qtbot, voced, notifications):
    from qtpy.QtCore import QTimer

    tiles = [load_image(voced / "images" / f"{k}.png") for k in range(4)]
    masks = [load_mask(voced / "masks" / f"{k}.png") for k in range(4)]
    image = np.concatenate(
        [np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0
    )
    mask = np.concatenate(
        [np.concatenate(masks[:2], axis=1), np.concatenate(masks[2:], axis=1)], axis=0
    )
    viewer = make_napari_viewer()
    viewer.add_image(image, name="mosaic", rgb=True)
    widget = TrainWidget(viewer)
    widget.image_box.setCurrentText("mosaic")
    layer = widget.add_scribble_layer()
    layer.data = strokes(mask, per_class=8)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    start = time.perf_counter()
    widget.train()
    wait_for(qtbot, widget)
    timer.stop()
    seconds = time.perf_counter() - start
    during = [t for t in ticks if t < start + seconds]
    assert seconds > 0.3 and widget.model is not None and not notifications
    # the event loop ran all along: no gap between timer ticks near the whole run
    gaps = np.diff([start, *during, start + seconds])
    assert gaps.max() < 0.5 * seconds


def test_live_mode_retrains_after_a_stroke_and_scribbles_on_two_images_train_one_model(
    make_napari_viewer, qtbot, voced, notifications
):
    first, second = (load_image(voced / "images" / f"{k}.png") for k in (3, 4))
    masks = [load_mask(voced / "masks" / f"{k}.png") for k in (3, 4)]
    viewer = make_napari_viewer()
    viewer.add_image(first, name="a", rgb=True)
    viewer.add_image(second, name="b", rgb=True)
    widget = TrainWidget(viewer)
    widget.param_form.set("n_estimators", 12)
    widget.image_box.setCurrentText("b")
    layer_b = widget.add_scribble_layer()
    only_nucleus = strokes(masks[1])
    only_nucleus[only_nucleus != 3] = 0  # image b's scribbles: nucleus only
    layer_b.data = only_nucleus
    widget.image_box.setCurrentText("a")
    layer_a = widget.add_scribble_layer()
    scribbles_a = strokes(masks[0])
    scribbles_a[scribbles_a == 3] = 0  # image a's: background and cytoplasm only
    layer_a.data = scribbles_a
    widget.live_check.setChecked(True)
    layer_a.events.paint(value=None)  # what napari emits at the end of a stroke
    # the stroke's preview forest first, then (no further stroke) the full model
    qtbot.waitUntil(lambda: widget.preview_model is not None, timeout=120_000)
    assert widget.model is None
    assert len(widget.preview_model.classifier_.estimators_) == 10
    qtbot.waitUntil(lambda: widget.model is not None, timeout=120_000)
    wait_for(qtbot, widget)
    assert len(widget.model.classifier_.estimators_) == 12 and widget.model.context
    assert list(widget.model.classes_) == [0, 1, 2]  # nucleus learnt from image b
    assert not notifications


def test_bad_input_gives_one_notification_and_keeps_the_outputs(
    make_napari_viewer, qtbot, course, tmp_path, notifications
):
    import seglab

    image, mask = course
    viewer = make_napari_viewer()
    widget, layer = trained(viewer, qtbot, image, mask)
    before = np.array(viewer.layers[PREDICTION].data)
    # a class without scribbles
    layer.data = np.where(layer.data == 3, 0, layer.data).astype(np.uint8)
    widget.train()
    wait_for(qtbot, widget)
    assert notifications[-1] == (
        "class 'nucleus' has no scribbles: paint a few strokes of it (or remove it from the"
        " classes)"
    )
    # scribbles of another shape than the image
    viewer.add_labels(np.zeros((100, 120), np.uint8), name="small")
    widget.scribble_box.setCurrentText("small")
    widget.train()
    wait_for(qtbot, widget)
    assert notifications[-1].startswith("the scribbles are 100x120 but their image is 256x256")
    assert np.array_equal(viewer.layers[PREDICTION].data, before)
    # a 3-channel model on a grey image, and a broken model file
    seglab.save(widget.model, tmp_path / "rgb.seglab")
    (tmp_path / "broken.seglab").write_bytes(b"PK\x03\x04 not a model")
    viewer.add_image(image[..., 0], name="grey")
    apply = ApplyWidget(viewer)
    for model, layer_name, expected in (
        ("rgb.seglab", "grey", "the model was trained on 3-channel images but this image has 1"),
        ("broken.seglab", "course image", "broken.seglab"),
    ):
        apply.path_edit.setText(str(tmp_path / model))
        apply.image_box.setCurrentText(layer_name)
        apply.predict()
        wait_for(qtbot, apply)
        assert expected in notifications[-1] and "\n" not in notifications[-1]
        assert np.array_equal(viewer.layers[PREDICTION].data, before)
    assert len(notifications) == 4


def test_sample_data_open_in_napari(make_napari_viewer, voced):
    viewer = make_napari_viewer()
    viewer.open_sample("seglab", "synthetic_cells")
    viewer.open_sample("seglab", "course_image")
    names = [layer.name for layer in viewer.layers]
    assert names == [
        "synthetic cells",
        "synthetic cells: true mask",
        f"course image {IMAGE}",
        f"course image {IMAGE}: mask",
    ]
    assert np.array_equal(viewer.layers[-1].data, load_mask(voced / "masks" / f"{IMAGE}.png"))


def test_screenshots_of_each_widget_for_the_guide(
    make_napari_viewer, qtbot, course, tmp_path, notifications
):
    """The guide's figures: each widget docked beside its result, through viewer.screenshot.
    ``make docs`` runs this with SEGLAB_SCREENSHOTS=docs/guide/figures; elsewhere they go to a
    temporary folder and are only checked."""
    folder = Path(os.environ.get("SEGLAB_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    image, mask = course
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1200, 760)
    train, _ = trained(viewer, qtbot, image, mask)
    viewer.layers[UNCERTAINTY].visible = False
    model = train.save_model(str(tmp_path / "m.seglab"))
    apply = ApplyWidget(viewer)
    apply.path_edit.setText(model)
    apply.image_box.setCurrentText("course image")
    cells = CellsWidget(viewer)
    cells.mask_box.setCurrentText(PREDICTION)
    cells.pixel_size.setValue(0.5)
    cells.measure()
    wait_for(qtbot, cells)
    cells.table.selectRow(0)
    shots = {}
    for name, widget in (("train", train), ("apply", apply), ("cells", cells)):
        dock = viewer.window.add_dock_widget(widget, name=f"seglab {name}", area="right")
        viewer.layers["seglab cells"].visible = name == "cells"
        viewer.reset_view()
        qtbot.wait(200)  # let Qt lay the dock out and napari draw
        path = folder / f"napari-{name}.png"
        shot = viewer.screenshot(str(path), canvas_only=False, flash=False)
        viewer.window.remove_dock_widget(dock)
        shots[name] = shot
        assert path.stat().st_size > 10_000
    # each shot is the whole window, widget included: wider than the canvas alone, and each
    # widget makes it look different
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    assert all(shot.shape[1] > canvas.shape[1] for shot in shots.values())
    assert not np.array_equal(shots["train"], shots["cells"])
    assert not notifications


def test_a_failed_lazy_prediction_leaves_no_temporary_arrays(course, tmp_path, monkeypatch):
    import dask.array as da

    import seglab
    from seglab.napari.apply import _predict_tiles

    image, mask = course
    model = seglab.make_segmenter("rf", n_estimators=3, n_jobs=1).fit([image], [mask])
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    grey = da.from_array((image[..., 0] * 255).astype(np.uint8), chunks=128)  # 1 channel, not 3
    steps = _predict_tiles(model, grey, rgb=False, normalize="dtype")
    with pytest.raises(seglab.errors.SeglabError):
        list(steps)
    assert list(tmp_path.iterdir()) == []


def test_the_parameter_form_is_typed_by_the_declarations(qtbot):
    from magicgui import widgets

    from seglab.napari.forms import ParamsForm
    from seglab.segmenters import make_segmenter

    form = ParamsForm("rf")
    # the defaults come back as they went in, every one of them
    assert form.values() == make_segmenter("rf").get_params(deep=False)
    fields = form.fields
    assert isinstance(fields["n_estimators"].widget, widgets.SpinBox)
    assert fields["n_estimators"].widget.min == 1  # its declared range
    assert isinstance(fields["context"].widget, widgets.CheckBox)
    assert isinstance(fields["features"].widget, widgets.LineEdit)  # a spec: JSON
    # "auto" and None are check boxes beside the number
    form.set("scale", 2)
    form.set("max_depth", None)
    form.set("prior_correction", 0.25)
    values = form.values()
    assert (values["scale"], values["max_depth"], values["prior_correction"]) == (2, None, 0.25)
    form.set("scale", "auto")
    assert form.values()["scale"] == "auto"
    form.set("features", {"sigmas": [1, 2]})
    assert form.values()["features"] == {"sigmas": [1, 2]}
    # a method that declares nothing: numbers and flags by their default's type, else JSON
    import json

    undeclared = ParamsForm("ensemble")
    as_json = json.loads(json.dumps(make_segmenter("ensemble").get_params(deep=False)))
    assert undeclared.values() == as_json
    for method in ("mlp", "hgb", "logistic"):  # small rates are not rounded away
        assert ParamsForm(method).values() == make_segmenter(method).get_params(deep=False)
    tuned = ParamsForm("tuned-threshold")
    assert isinstance(tuned.fields["n_trials"].widget, widgets.SpinBox)
    assert isinstance(tuned.fields["cleanup"].widget, widgets.CheckBox)
    assert tuned.values() == make_segmenter("tuned-threshold").get_params(deep=False)


def test_layer_pickers_hold_the_layer_and_follow_a_rename(make_napari_viewer, qtbot):
    from seglab.napari.layers import chosen_layer

    viewer = make_napari_viewer()
    first = viewer.add_image(np.zeros((32, 32), np.float32), name="first")
    viewer.add_image(np.ones((32, 32), np.float32), name="second")
    widget = TrainWidget(viewer)
    widget.image_box.setCurrentText("first")
    first.name = "renamed"
    # the picker shows the new name and still holds the same layer
    names = [widget.image_box.itemText(i) for i in range(widget.image_box.count())]
    assert "renamed" in names and "first" not in names
    assert widget.image_box.currentText() == "renamed"
    assert chosen_layer(widget.image_box, viewer) is first
    # a layer added with the old name is another layer, and the choice does not move to it
    viewer.add_image(np.zeros((32, 32), np.float32), name="first")
    assert chosen_layer(widget.image_box, viewer) is first
    viewer.layers.remove(first)
    assert chosen_layer(widget.image_box, viewer) is not first


def test_cells_by_type_label_train_classify_save(
    make_napari_viewer, qtbot, tmp_path, capsys, notifications
):
    # two kinds of cell side by side, told apart by their nucleus's share (a hand rule)
    rows, cols = np.indices((80, 200))
    mask = np.zeros((80, 200), np.uint8)
    truth = {}
    for centre, share in [(20, 0.1), (60, 0.6), (100, 0.15), (140, 0.7), (180, 0.12)]:
        d = np.hypot(rows - 40, cols - centre)
        mask[d <= 18] = 1
        mask[d <= 18 * np.sqrt(share)] = 2
        truth[centre] = "high" if share > 0.5 else "low"
    image = np.choose(mask, [0.9, 0.6, 0.25]).astype(np.float32)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="cells image")
    viewer.add_labels(mask, name="prediction")
    widget = CellsWidget(viewer)
    widget.mask_box.setCurrentText("prediction")
    widget.measure()
    wait_for(qtbot, widget)
    assert len(widget.rows) == 5
    widget.train_classifier()  # nothing labelled yet: a notification, no worker
    assert widget.worker is None and "label cells first" in notifications.pop()
    # label the first two cells: one from the table, one by clicking it
    order = sorted(widget.rows, key=lambda r: r["centroid_col"])
    widget.table.selectRow(widget.rows.index(order[0]))
    widget.set_class("low")
    layer = viewer.layers["seglab cells"]

    class Click:
        position = (40.0, float(order[1]["centroid_col"]))

    widget._clicked(layer, Click())
    widget.class_box.setCurrentText("high")
    widget.set_class()
    assert widget.labels == {order[0]["cell"]: "low", order[1]["cell"]: "high"}
    header = [
        widget.table.horizontalHeaderItem(c).text() for c in range(widget.table.columnCount())
    ]
    column = header.index("class")
    shown = {widget.table.item(r, column).text() for r in range(widget.table.rowCount())}
    assert shown == {"low", "high", ""}
    widget.train_classifier()
    wait_for(qtbot, widget)
    classes = {round(r["centroid_col"]): r["cell_class"] for r in widget.rows}
    assert classes == truth
    assert list(layer.features["cell_class"]) == [r["cell_class"] for r in widget.rows]
    assert "cell_class" in [
        widget.table.horizontalHeaderItem(c).text() for c in range(widget.table.columnCount())
    ]
    # saved, it classifies the same cells from the command line
    path = widget.save_classifier(str(tmp_path / "cells.seglab"))
    from seglab.io import save_image, save_mask

    save_mask(tmp_path / "masks" / "cells.png", mask)
    save_image(tmp_path / "images" / "cells.png", (image * 255).astype(np.uint8))
    argv = ["nc-ratio", str(tmp_path / "masks"), "--per-cell", "--cell-model", path]
    assert main([*argv, "--images", str(tmp_path / "images")]) == 0
    lines = [line.split(",") for line in capsys.readouterr().out.splitlines()]
    at = lines[0].index("cell_class")
    col = lines[0].index("centroid_col")
    cli = {round(float(r[col])): r[at] for r in lines[1:] if r[1] != "all"}
    assert cli == truth
    # loading it again classifies the measured cells in a worker
    widget.classifier = None
    widget.load_classifier(path)
    wait_for(qtbot, widget)
    assert widget.classifier.classes_ == ["high", "low"]
    assert not notifications
