"""Tiled prediction equals whole-image prediction pixel for pixel; tiled files; per-cell N/C."""

from __future__ import annotations

import pickle
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

import seglab
from seglab.cli import main
from seglab.errors import ParameterError
from seglab.measure import per_cell_nc

pytest.importorskip("dask")
tifffile = pytest.importorskip("tifffile")
zarr = pytest.importorskip("zarr")

from seglab.measure.tiled import per_cell_nc_tiled  # noqa: E402
from seglab.tiling import (  # noqa: E402
    predict_lazy,
    predict_to_file,
    tile_geometry,
)
from seglab.tiling.reading import larger_than  # noqa: E402

SMALL_BANK = {"sigmas": [1, 2, 4], "filters": ["gaussian", "gradient", "hessian"]}


@pytest.fixture(scope="module")
def cells():
    ds = seglab.synthetic_cells(4, size=256, random_state=2)
    images = [ds.image(i) for i in range(4)]
    masks = [ds.mask(i) for i in range(4)]
    # A test image that no chunk size below divides: 203 x 177.
    big = np.concatenate([images[2], images[3]], axis=1)[:203, 100:277]
    return images[:2], masks[:2], np.ascontiguousarray(big)


def _fit(name, cells, **params):
    images, masks, _ = cells
    return seglab.make_segmenter(name, **params).fit(images, masks)


@pytest.mark.parametrize(
    "name, params, chunk",
    [
        ("threshold", {}, 40),
        ("threshold", {"pre": [{"op": "gaussian", "sigma": 2}]}, 37),
        ("rf", {"features": SMALL_BANK, "n_estimators": 5, "n_jobs": 1, "scale": 2}, 64),
        ("rf", {"features": SMALL_BANK, "n_estimators": 5, "n_jobs": 1, "scale": 1}, 50),
        ("extra-trees", {"features": SMALL_BANK, "n_estimators": 5, "n_jobs": 1}, 70),
        ("kmeans", {"sigma": 2.0}, 45),
        ("gmm", {}, 33),
        (
            "ensemble",
            {
                "members": [
                    ["rf", {"features": SMALL_BANK, "n_estimators": 5, "n_jobs": 1, "scale": 2}],
                    ["extra-trees", {"features": SMALL_BANK, "n_estimators": 5, "n_jobs": 1}],
                ]
            },
            60,
        ),
    ],
)
def test_tiled_equals_whole_image(cells, name, params, chunk):
    segmenter = _fit(name, cells, **params)
    image = cells[2]
    chunk = max(chunk, tile_geometry(segmenter, 16 * 64)[1])  # at least the halo
    _, halo = tile_geometry(segmenter, chunk)
    assert image.shape[0] % chunk and image.shape[1] % chunk  # chunks do not divide it
    tiled = predict_lazy(segmenter, image, chunk=chunk).compute(scheduler="synchronous")
    np.testing.assert_array_equal(tiled, segmenter.predict(image))
    assert halo == segmenter.halo or segmenter.tile_alignment > 1


def test_tiled_uint8_image_uses_the_same_scaling(cells):
    segmenter = _fit("threshold", cells)
    image8 = (cells[2] * 255).round().astype(np.uint8)
    tiled = predict_lazy(segmenter, image8, chunk=50).compute()
    np.testing.assert_array_equal(tiled, segmenter.predict(image8))


def test_unet_tiled_equals_its_sliding_window(cells):
    pytest.importorskip("torch")
    segmenter = _fit(
        "unet",
        cells,
        depth=3,
        width=4,
        patch_size=32,
        max_epochs=1,
        verbose=False,
        test_flips=False,
        scale=2,
    )
    image = cells[2]
    chunk, halo = tile_geometry(segmenter, 70)
    assert chunk % segmenter.tile_alignment == 0 and halo % segmenter.tile_alignment == 0
    tiled = predict_lazy(segmenter, image, chunk=chunk).compute(scheduler="synchronous")
    np.testing.assert_array_equal(tiled, segmenter.predict(image))


@pytest.mark.parametrize(
    "name, params",
    [
        ("auto-threshold", {}),
        ("kmeans", {"position_weight": 1.0}),
        ("threshold", {"post": [{"op": "fill_holes", "label": 2}]}),
    ],
)
def test_whole_image_methods_are_refused(cells, name, params):
    segmenter = _fit(name, cells, **params)
    with pytest.raises(ParameterError, match="whole image"):
        predict_lazy(segmenter, cells[2], chunk=64)


def test_a_chunk_smaller_than_the_halo_is_refused(cells):
    segmenter = _fit("rf", cells, features=SMALL_BANK, n_estimators=3, n_jobs=1)
    with pytest.raises(ParameterError, match="smaller than the"):
        predict_lazy(segmenter, cells[2], chunk=16)


@pytest.mark.parametrize("suffix, scheduler", [(".tif", "processes"), (".zarr", "threads")])
def test_predict_to_file_from_a_tiled_tiff(cells, tmp_path, suffix, scheduler):
    segmenter = _fit("threshold", cells, pre=[{"op": "gaussian", "sigma": 1.5}])
    image8 = (cells[2] * 255).round().astype(np.uint8)
    source = tmp_path / "slide.tif"
    tifffile.imwrite(source, image8, tile=(64, 64), photometric="rgb")
    out = predict_to_file(
        segmenter,
        source,
        tmp_path / f"mask{suffix}",
        chunk=48,
        scheduler=scheduler,
        progress=False,
    )
    written = tifffile.imread(out) if suffix == ".tif" else zarr.open(str(out), mode="r")[:]
    np.testing.assert_array_equal(written, segmenter.predict(image8))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["slide.tif", out.name])


def test_the_model_is_one_key_of_the_graph(cells):
    """Every tile's task depends on one key holding the model, rather than carrying the model
    in its arguments: dask.distributed then sends the model to each worker once, where it
    went with each task (106 times for 100 tiles, against 7, on a 2-worker LocalCluster)."""
    segmenter = _fit("rf", cells, features=SMALL_BANK, n_estimators=3, n_jobs=1, context=False)
    labels = predict_lazy(segmenter, cells[2], chunk=segmenter.halo)
    graph = dict(labels.__dask_graph__())
    holding = [key for key, value in graph.items() if value is segmenter]
    holding += [key for key, value in graph.items() if getattr(value, "value", None) is segmenter]
    assert len(holding) == 1
    tiles = [v for k, v in graph.items() if isinstance(k, tuple) and "_predict_block" in k[0]]
    assert len(tiles) == labels.numblocks[0] * labels.numblocks[1] >= 9
    assert all(holding[0] in task.dependencies for task in tiles)


def test_worker_processes_load_the_model_once(cells):
    from seglab.tiling.scheduling import model_carrier

    segmenter = _fit("threshold", cells)
    with model_carrier(segmenter, {"scheduler": "processes"}) as carried:
        shipped = pickle.dumps(carried)
        assert len(shipped) < 300  # a path and a key, not the model
        first, second = pickle.loads(shipped), pickle.loads(shipped)
        assert first is second  # the second task finds it loaded
        np.testing.assert_array_equal(first.predict(cells[2]), segmenter.predict(cells[2]))
        folder = Path(carried.path).parent
    assert not folder.exists()  # the file is gone with the run
    with model_carrier(segmenter, {"scheduler": "threads"}) as carried:
        assert carried is segmenter


def test_predict_to_file_on_a_distributed_cluster(cells, tmp_path):
    distributed = pytest.importorskip("distributed")
    segmenter = _fit("threshold", cells)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        out = predict_to_file(
            segmenter,
            cells[2],
            tmp_path / "m.tif",
            chunk=64,
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    np.testing.assert_array_equal(tifffile.imread(out), segmenter.predict(cells[2]))


def test_many_files_on_a_distributed_cluster_get_the_model_once(cells, tmp_path):
    distributed = pytest.importorskip("distributed")
    from seglab.batch import predict_files
    from seglab.io import save_image

    segmenter = _fit("threshold", cells)
    for k, image in enumerate([*cells[0], cells[2]]):
        save_image(tmp_path / f"{k}.png", image)
    files = sorted(tmp_path.glob("*.png"))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        failures = predict_files(
            segmenter, files, tmp_path / "out", scheduler=cluster.scheduler_address,
            progress=False,
        )  # fmt: skip
        with distributed.Client(cluster) as client:
            assert client.has_what() and not any(client.has_what().values())  # released
    assert failures == []
    for path in files:
        np.testing.assert_array_equal(
            seglab.load_mask(tmp_path / "out" / path.name),
            segmenter.predict(seglab.load_image(path)),
        )


def test_a_bad_scheduler_address_is_one_clear_error(cells, tmp_path):
    segmenter = _fit("threshold", cells)
    with pytest.raises(ParameterError, match="scheduler"):
        predict_to_file(
            segmenter, cells[2], tmp_path / "m.tif", chunk=64, scheduler="tcp://127.0.0.1:1"
        )
    assert list(tmp_path.iterdir()) == []


def test_per_cell_tiled_counts_each_cell_once(voced):
    # A 2 x 2 mosaic of true course masks, cut into tiles that split many cells.
    # Each mask gets a background margin so that no group of cells is wider than 256 px.
    masks = [np.pad(seglab.load_mask(voced / "masks" / f"{i}.png"), 10) for i in (0, 1, 5, 7)]
    mosaic = np.block([[masks[0], masks[1]], [masks[2], masks[3]]]).astype(np.uint8)
    whole = per_cell_nc(mosaic)
    tiled = per_cell_nc_tiled(mosaic, tile=100, halo=260)
    assert len(tiled) == len(whole) > 4
    for a, b in zip(tiled, whole, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], float):
                assert a[key] == pytest.approx(b[key], nan_ok=True), key
            else:
                assert a[key] == b[key], key
    assert sum(r["cell_px"] for r in tiled) == int(np.isin(mosaic, (1, 2)).sum())


def test_per_cell_tiled_measures_a_cell_wider_than_the_halo_whole():
    mask = np.zeros((60, 60), np.uint8)
    mask[5:55, 5:55] = 1
    mask[20:30, 20:30] = 2
    (row,) = per_cell_nc_tiled(mask, tile=20, halo=10)  # the cell is read again, whole
    assert (row["nucleus_px"], row["cytoplasm_px"]) == (100, 2500 - 100)
    with pytest.raises(ParameterError, match="halo -3"):
        per_cell_nc_tiled(mask, tile=20, halo=-3)
    with pytest.raises(ParameterError, match="at least 16"):
        per_cell_nc_tiled(mask, tile=8, halo=10)


def test_cli_predict_and_per_cell_on_a_tiled_tiff(cells, tmp_path, voced):
    import csv

    from seglab.cli import main

    segmenter = _fit("threshold", cells, pre=[{"op": "gaussian", "sigma": 1.0}])
    model = seglab.save(segmenter, tmp_path / "t.seglab")
    image8 = (cells[2] * 255).round().astype(np.uint8)
    tifffile.imwrite(tmp_path / "slide.tif", image8, tile=(32, 32), photometric="rgb")
    out = tmp_path / "out"
    assert (
        main(["predict", str(model), str(tmp_path / "slide.tif"), "--chunk", "64", "-o", str(out)])
        == 0
    )
    written = tifffile.imread(out / "slide.tif")
    np.testing.assert_array_equal(written, segmenter.predict(image8))

    # Per-cell N/C of a tiled mask equals the whole-mask rows (cells cross tile borders).
    masks = [np.pad(seglab.load_mask(voced / "masks" / f"{i}.png"), 10) for i in (2, 10)]
    mosaic = np.concatenate(masks, axis=1).astype(np.uint8)
    tifffile.imwrite(tmp_path / "mask.tif", mosaic, tile=(64, 64))
    seglab.save_mask(tmp_path / "mask.png", mosaic)
    for name, extra in (("whole", []), ("tiled", ["--chunk", "96", "--halo", "280"])):
        source = tmp_path / ("mask.png" if name == "whole" else "mask.tif")
        args = ["nc-ratio", str(source), "--per-cell", "--csv", str(tmp_path / f"{name}.csv")]
        assert main(args + extra) == 0
    read = [list(csv.DictReader(open(tmp_path / f"{n}.csv"))) for n in ("whole", "tiled")]
    assert len(read[0]) == len(read[1]) > 3
    for a, b in zip(*read, strict=True):
        assert {k: v for k, v in a.items() if "centroid" not in k} == {
            k: v for k, v in b.items() if "centroid" not in k
        }
        for key in ("centroid_row", "centroid_col"):
            if a[key]:
                assert float(a[key]) == pytest.approx(float(b[key]))


def test_labels_and_entropy_of_a_tile_come_from_one_task(cells):
    from seglab.tiling import predict_lazy

    seg = _fit("rf", cells, n_estimators=4, scale=1, features={"sigmas": [1.0, 2.0]})
    image = cells[2]
    both = predict_lazy(seg, image, chunk=64, what="labels+entropy")
    # one task per tile: as many tasks in its graph as in the labels' alone
    labels_only = predict_lazy(seg, image, chunk=64)
    assert len(dict(both.__dask_graph__())) == len(dict(labels_only.__dask_graph__()))
    pair = both.compute()
    assert pair.shape == image.shape[:2] and pair.dtype == np.complex64
    assert np.array_equal(pair.real.astype(np.uint8), seg.predict(image))
    entropy = predict_lazy(seg, image, chunk=64, what="entropy").compute()
    assert np.array_equal(pair.imag, entropy)


def test_a_chunk_smaller_than_the_context_names_the_feature(tmp_path, capsys):
    ds = seglab.synthetic_cells(2, size=200, random_state=5)
    seg = seglab.make_segmenter("rf", features={"sigmas": [1.0, 10.0]}, n_estimators=3, scale=1)
    seg.fit([ds.image(0)], [ds.mask(0)])
    path = seglab.save(seg, tmp_path / "m.seglab")
    tifffile.imwrite(tmp_path / "big.tif", (ds.image(1) * 255).astype(np.uint8), photometric="rgb")
    args = [
        "predict",
        str(path),
        str(tmp_path / "big.tif"),
        "--chunk",
        "32",
        "-o",
        str(tmp_path / "o"),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--chunk 32" in err and "sigma 10" in err


def test_tiled_prediction_of_an_array_keeps_the_message_short(model, tmp_path):
    from seglab.errors import ShapeError
    from seglab.tiling import predict_to_file

    _, seg, ds = model
    grey = ds.image(0)[..., :1]
    with pytest.raises(ShapeError) as info:
        predict_to_file(seg, grey, tmp_path / "m.tif", chunk=32, progress=False)
    assert str(info.value).startswith("the model was trained on 3-channel images")
    assert not list(tmp_path.iterdir())


def test_size_is_read_from_the_header(tmp_path):
    iio.imwrite(tmp_path / "wide.png", np.zeros((10, 300), np.uint8))
    tifffile.imwrite(tmp_path / "tall.tif", np.zeros((300, 10), np.uint8), tile=(16, 16))
    np.save(tmp_path / "course.npy", np.zeros((3, 20, 20), np.float32))  # channels first
    assert larger_than(tmp_path / "wide.png", 299) and not larger_than(tmp_path / "wide.png", 300)
    assert larger_than(tmp_path / "tall.tif", 256)
    assert not larger_than(tmp_path / "course.npy", 20) and larger_than(tmp_path / "course.npy", 19)
    (tmp_path / "broken.png").write_bytes(b"nope")
    assert not larger_than(tmp_path / "broken.png", 1)  # left to the prediction to report
