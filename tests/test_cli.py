import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import imageio.v3 as iio
import numpy as np
import pytest

import seglab.io as sio
from seglab import save
from seglab.cli import main
from seglab.datasets import synthetic_cells
from seglab.io import load_image, load_mask, remove_stale_parts, save_image, save_mask
from seglab.segmenters import make_segmenter


@pytest.fixture()
def small_data(tmp_path):
    """A tiny images/ + masks/ folder from the synthetic cells."""
    from seglab.datasets import synthetic_cells

    ds = synthetic_cells(6, size=64, random_state=1)
    root = tmp_path / "data"
    for i in range(len(ds)):
        (root / "images").mkdir(parents=True, exist_ok=True)
        iio.imwrite(root / "images" / f"{i}.png", (ds.image(i) * 255).round().astype(np.uint8))
        save_mask(root / "masks" / f"{i}.png", ds.mask(i))
    return root


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "methods", "train", "predict", "evaluate", "nc-ratio", "bench"):
        assert command in out


def test_usage_error_exits_2():
    with pytest.raises(SystemExit) as exc:
        main(["train"])
    assert exc.value.code == 2


def test_methods(capsys):
    assert main(["methods"]) == 0
    assert "threshold" in capsys.readouterr().out
    assert main(["methods", "--json"]) == 0
    names = [m["name"] for m in json.loads(capsys.readouterr().out)["methods"]]
    assert "threshold" in names and "kmeans" in names


def test_demo_lightens_every_slow_method():
    # the demo trains every registered method: a slow one at its defaults (the ensemble's
    # full U-Net) turned a one-minute demo into half an hour
    from seglab.demo import DEMO_PARAMS
    from seglab.segmenters import list_segmenters

    slow = {r["name"] for r in list_segmenters() if r["slow"]}
    assert slow and slow <= set(DEMO_PARAMS)
    for name, params in DEMO_PARAMS["ensemble"]["members"]:
        assert params == DEMO_PARAMS[name]


def test_train_predict_evaluate_round(small_data, tmp_path, capsys):
    model = tmp_path / "t.seglab"
    assert (
        main(
            [
                "train",
                "threshold",
                "--data",
                str(small_data),
                "--split",
                "random:0",
                "--set",
                "t_nucleus=0.5",
                "-o",
                str(model),
            ]
        )
        == 0
    )
    out = tmp_path / "pred"
    # Inputs: a folder, and a course-style channels-first .npy file.
    chw = np.moveaxis(iio.imread(small_data / "images" / "0.png"), -1, 0) / np.float32(255)
    np.save(tmp_path / "7.npy", chw.astype(np.float32))
    assert (
        main(
            [
                "predict",
                str(model),
                str(small_data / "images" / "1.png"),
                str(tmp_path / "7.npy"),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["1.png", "7.png"]
    # The mask written for 7.npy equals the rule applied by hand to the same pixels.
    grey = chw[0] * 0.299 + chw[1] * 0.587 + chw[2] * 0.114
    expected = np.where(grey < 0.5, 2, np.where(grey < 0.85, 1, 0))
    np.testing.assert_array_equal(load_mask(out / "7.png"), expected)
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(model),
                "--data",
                str(small_data),
                "--split",
                "random:0",
                "--json",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["n_test"] == 2 and result["methods"][0]["name"] == "threshold"


def test_evaluate_pred_true_matches_direct_dice(tmp_path, capsys):
    true = np.array([[0, 1, 1, 2], [0, 1, 2, 2]])
    pred = np.array([[0, 1, 2, 2], [0, 0, 2, 2]])
    save_mask(tmp_path / "t" / "a.png", true)
    save_mask(tmp_path / "p" / "a.png", pred)
    assert (
        main(
            [
                "evaluate",
                "--pred",
                str(tmp_path / "p"),
                "--true",
                str(tmp_path / "t"),
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    row = json.loads((tmp_path / "r.json").read_text())["methods"][0]
    # cytoplasm: true 3, pred 1 (only (0,1)), both 1 -> 2/4; nucleus: true 3, pred 4, both 3
    assert row["score"]["mean"] == pytest.approx((0.5 + 6 / 7) / 2)
    assert row["nc"]["mae"] == pytest.approx(abs(4 / 1 - 3 / 3))


def test_evaluate_keep_going_scores_the_masks_that_have_a_prediction(tmp_path, capsys):
    true = np.array([[0, 1, 1, 2], [0, 1, 2, 2]])
    save_mask(tmp_path / "t" / "a.png", true)
    save_mask(tmp_path / "t" / "b.png", true)  # no prediction for b
    save_mask(tmp_path / "p" / "a.png", true)
    argv = ["evaluate", "--pred", str(tmp_path / "p"), "--true", str(tmp_path / "t")]
    assert main(argv) == 2
    assert "'b'" in capsys.readouterr().err
    assert main([*argv, "--keep-going", "--json", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "seglab: error: " + str(tmp_path / "p") + ": no predicted mask for 'b'",
        "seglab: 1 of 2 input(s) failed",
    ]
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["n_test"] == 1 and result["methods"][0]["score"]["mean"] == 1.0


def test_nc_ratio_on_true_masks_equals_direct_ratio(voced, tmp_path, capsys):
    paths = [voced / "masks" / f"{i}.png" for i in (0, 2, 34, 199)]
    assert main(["nc-ratio", *map(str, paths), "--csv", str(tmp_path / "nc.csv")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "image,nucleus_px,cytoplasm_px,nc_ratio"
    for path, line in zip(paths, lines[1:], strict=True):
        raw = iio.imread(path)
        direct = (raw == 2).sum() / (raw == 1).sum()
        assert float(line.split(",")[-1]) == pytest.approx(direct, abs=1e-6)
    assert (tmp_path / "nc.csv").read_text().strip().splitlines() == lines


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "nope", "--data", "{data}", "-o", "{tmp}/m.seglab"], "unknown method"),
        (
            ["train", "threshold", "--data", "{tmp}/missing", "-o", "{tmp}/m.seglab"],
            "no such folder",
        ),
        (
            [
                "train",
                "threshold",
                "--data",
                "{data}",
                "--split",
                "holdout",
                "-o",
                "{tmp}/m.seglab",
            ],
            "use one of",
        ),
        (
            [
                "train",
                "threshold",
                "--data",
                "{data}",
                "--set",
                "t_nucleus",
                "-o",
                "{tmp}/m.seglab",
            ],
            "NAME=VALUE",
        ),
        (["predict", "{tmp}/missing.seglab", "{data}", "-o", "{tmp}/out"], "no such model"),
        (["nc-ratio", "{tmp}/missing.png"], "no such file"),
        (["evaluate", "--pred", "{tmp}"], "evaluate needs"),
        (["bench", "--data", "{data}", "--methods", "nope"], "unknown method"),
        (["nc-ratio", "{data}/masks/0.png", "--per-cell", "--pixel-size", "-1"], "pixel_size"),
        (["nc-ratio", "{data}/masks/0.png", "--per-cell", "--high-ratio", "3"], "high_ratio"),
        (["features", "{tmp}/missing.seglab", "--top", "0"], "--top"),
        (
            [
                "train",
                "threshold",
                "--data",
                "{data}",
                "--split",
                "random:x",
                "-o",
                "{tmp}/m.seglab",
            ],
            "seed",
        ),
        (["bench", "--data", "{data}", "--methods", " , "], "at least one"),
        (["bench", "--data", "{data}", "--methods", "threshold,threshold"], "twice"),
        (["predict", "{tmp}/missing.seglab", "{data}", "-o", "{tmp}/out", "--chunk", "0"], "16"),
        (["predict", "{tmp}/m.seglab", "{data}", "-o", "{tmp}/out", "--scheduler", "x"], "tcp"),
    ],
)
def test_bad_input_exits_2_with_one_line(small_data, tmp_path, capsys, argv, message):
    argv = [a.format(data=small_data, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("seglab: error:") and message in err[0]
    assert not (tmp_path / "m.seglab").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "threshold", "--data", "{data}", "-o", "{tmp}"], "is a folder"),
        (["train", "threshold", "--data", "{data}", "-o", "{file}/m.seglab"], "not a folder"),
        (["predict", "{model}", "{data}/images", "-o", "{file}"], "is a file"),
        (["predict", "{model}", "{data}/images", "-o", "{tmp}/out", "--nc", "{tmp}"], "folder"),
        (["nc-ratio", "{data}/masks", "--csv", "{tmp}"], "is a folder"),
        (["bench", "--data", "{data}", "--methods", "threshold", "--report", "{tmp}"], "folder"),
        (["demo", "--out", "{file}"], "is a file"),
    ],
)
def test_unwritable_output_is_refused_before_any_work(
    small_data, tmp_path, capsys, monkeypatch, argv, message
):
    import seglab.cli as cli

    model = tmp_path / "t.seglab"
    assert main(["train", "threshold", "--data", str(small_data), "-o", str(model)]) == 0
    (tmp_path / "taken").write_text("a file where a folder is asked for")

    def must_not_run(args):
        raise AssertionError("the command ran before its output path was checked")

    for command in (cli.train, cli.predict, cli.nc_ratio, cli.bench, cli.demo):
        monkeypatch.setattr(command, "run", must_not_run)
    # main() builds its parser on each call, so it picks up the patched commands
    argv = [
        a.format(data=small_data, tmp=tmp_path, file=tmp_path / "taken", model=model) for a in argv
    ]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("seglab: error:") and message in err[0]
    assert (tmp_path / "taken").read_text().startswith("a file")
    assert not (tmp_path / "out").exists()


def test_corrupt_image_in_predict_exits_2(small_data, tmp_path, capsys):
    model = tmp_path / "t.seglab"
    main(["train", "threshold", "--data", str(small_data), "-o", str(model)])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    assert (
        main(["predict", str(model), str(tmp_path / "broken.png"), "-o", str(tmp_path / "out")])
        == 2
    )
    assert "broken.png" in capsys.readouterr().err


def test_internal_error_exits_1(monkeypatch, capsys):
    import seglab.cli as cli

    def explode(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli.methods, "run", explode)
    assert main(["methods"]) == 1
    err = capsys.readouterr().err
    assert "internal error" in err and "Traceback" not in err


def test_console_script_exit_code_via_subprocess(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "seglab.cli", "nc-ratio", str(tmp_path / "none.png")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_bench_json_shape(small_data, tmp_path, capsys):
    assert (
        main(
            [
                "bench",
                "--data",
                str(small_data),
                "--split",
                "random:0",
                "--methods",
                "threshold",
                "--json",
                str(tmp_path / "b.json"),
                "--report",
                str(tmp_path / "r.html"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "b.json").read_text())
    for key in ("seglab", "date", "machine", "data", "split", "n_train", "n_test", "methods"):
        assert key in result
    method = result["methods"][0]
    for key in (
        "name",
        "params",
        "score",
        "dice",
        "iou",
        "nc",
        "fit_seconds",
        "predict_seconds_per_image",
        "per_image",
    ):
        assert key in method
    assert set(method["nc"]) >= {"mae", "r2", "within_0.05", "bias", "loa", "nan"}
    assert set(method["per_image"][0]) >= {"id", "score", "dice", "nc_true", "nc_pred"}
    assert "leaderboard" in (tmp_path / "r.html").read_text()


def test_nc_ratio_chunk_on_a_png_reads_it_whole(small_data, capsys):
    mask = small_data / "masks" / "0.png"  # 64 px a side, so larger than the chunk
    assert main(["nc-ratio", str(mask), "--chunk", "16"]) == 0
    row = capsys.readouterr().out.strip().splitlines()[1].split(",")
    labels = load_mask(mask)
    assert int(row[1]) == np.count_nonzero(labels == 2)
    assert int(row[2]) == np.count_nonzero(labels == 1)


def test_evaluate_names_test_images_with_a_copy_in_training(small_data, tmp_path, capsys):
    from seglab.datasets import make_splits, open_dataset

    train, test = make_splits(open_dataset(small_data), "random:0")[0]
    # Overwrite the first test image and its mask with a turned copy of a training image.
    source, target = int(train[0]), int(test[0])
    image = iio.imread(small_data / "images" / f"{source}.png")
    iio.imwrite(small_data / "images" / f"{target}.png", np.rot90(image).copy())
    save_mask(
        small_data / "masks" / f"{target}.png",
        np.rot90(load_mask(small_data / "masks" / f"{source}.png")),
    )
    model = tmp_path / "t.seglab"
    argv = ["--data", str(small_data), "--split", "random:0"]
    assert main(["train", "threshold", *argv, "-o", str(model)]) == 0
    capsys.readouterr()
    report = tmp_path / "e.json"
    assert main(["evaluate", "--model", str(model), *argv, "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert f"near-duplicates: 1 of 2 test images ({target})" in out
    result = json.loads(report.read_text())
    assert result["near_duplicates"]["test_with_duplicate_in_train"] == [str(target)]
    rows = result["methods"][0]["per_image"]
    other = next(r for r in rows if r["id"] != str(target))
    assert result["methods"][0]["without_near_duplicates"]["score"] == pytest.approx(other["score"])


def _run_cli(argv, capsys):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_cli_bad_inputs_exit_2_one_line(course_like, tmp_path, capsys):
    model = tmp_path / "k.seglab"
    assert main(["train", "kmeans", "--data", str(course_like), "-o", str(model)]) == 0
    capsys.readouterr()
    nan_image = tmp_path / "nan.npy"
    np.save(nan_image, np.full((8, 8), np.nan, np.float32))
    grey = tmp_path / "grey.png"
    iio.imwrite(grey, np.zeros((8, 8), np.uint8))
    four_d = tmp_path / "4d.npy"
    np.save(four_d, np.zeros((2, 2, 2, 2), np.float32))
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    unknown = tmp_path / "labels5"
    save_image(unknown / "images" / "a.png", np.zeros((8, 8, 3), np.uint8))
    save_mask(unknown / "masks" / "a.png", np.full((8, 8), 5))
    pickled = tmp_path / "pickled.seglab"
    with zipfile.ZipFile(pickled, "w") as z:
        z.writestr("model.json", json.dumps({"format": "seglab-model", "format_version": 1}))
    cases = [
        (["predict", model, nan_image, "-o", tmp_path / "o1"], "NaN"),
        (["predict", model, grey, "-o", tmp_path / "o2"], "trained on 3-channel images"),
        (["predict", model, four_d, "-o", tmp_path / "o3"], "2-D or 3-D"),
        (["train", "kmeans", "--data", empty, "-o", tmp_path / "e.seglab"], "no image files"),
        (["evaluate", "--model", model, "--data", unknown, "--split", "all"], "does not know"),
        (["predict", pickled, grey, "-o", tmp_path / "o4"], "no valid"),
        (["predict", model, grey, "-o", tmp_path / "o5", "--proba"], "labels only"),
    ]
    for argv, message in cases:
        code, err = _run_cli(argv, capsys)
        assert code == 2, argv
        assert len(err) == 1 and message in err[0], (argv, err)
    for name in ("o1", "o2", "o3", "o4", "o5"):
        out = tmp_path / name
        assert not out.exists() or not any(out.iterdir())
    assert not (tmp_path / "e.seglab").exists()


def test_predict_killed_half_way_leaves_only_complete_files(tmp_path):
    ds = synthetic_cells(1, size=128, random_state=0)
    seg = make_segmenter("kmeans", sigma=2.0).fit([ds.image(0)])
    model = save(seg, tmp_path / "k.seglab")
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(150):
        iio.imwrite(inputs / f"{i}.png", rng.integers(0, 255, (256, 256, 3), dtype=np.uint8))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seglab.cli", "predict", str(model), str(inputs), "-o", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        visible = (
            [p for p in out.glob("*.png") if not p.name.startswith(".")] if out.is_dir() else []
        )
        if len(visible) >= 5:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = sorted(p for p in out.glob("*.png") if not p.name.startswith("."))
    assert 5 <= len(written) < 150, "the run was not stopped half way"
    for path in written:  # every visible output is complete and right
        expected = seg.predict(load_image(inputs / path.name))
        np.testing.assert_array_equal(load_mask(path), expected)
    # A later run clears what the killed one left half-written.
    remove_stale_parts(out, older_than=0)
    assert not list(out.glob(sio.PART_GLOB))


def test_bench_set_gives_one_method_its_parameters(small_data, tmp_path, capsys):
    from seglab.datasets import make_splits, open_dataset
    from seglab.metrics import dice_per_class
    from seglab.postprocess import single_cell

    out = tmp_path / "b.json"
    args = ["bench", "--data", str(small_data), "--split", "random:0", "--json", str(out)]
    args += ["--methods", "threshold,kmeans", "--set", "threshold:t_nucleus=0.3"]
    args += ["--set", 'threshold:post=[{"op": "single_cell"}]']
    assert main(args) == 0
    entries = {m["name"]: m for m in json.loads(out.read_text())["methods"]}
    assert entries["threshold"]["params"]["t_nucleus"] == 0.3
    assert entries["kmeans"]["params"]["post"] is None
    # The same by hand: grey threshold at 0.3 / the default background one, then one cell.
    data = open_dataset(small_data)
    _, test = make_splits(data, "random:0")[0]
    t_background = entries["threshold"]["params"]["t_background"]
    for i, row in zip(test, entries["threshold"]["per_image"], strict=True):
        image, true = data.pair(int(i))
        grey = image[..., :3] @ np.array([0.299, 0.587, 0.114])  # the course's luma
        labels = np.where(grey < 0.3, 2, np.where(grey < t_background, 1, 0))
        expected = dice_per_class(true, single_cell(labels), [1, 2])
        assert [row["dice"]["cytoplasm"], row["dice"]["nucleus"]] == pytest.approx(expected)
    for bad, says in (
        ("t_nucleus=0.3", "METHOD:NAME=VALUE"),
        ("rf:n_estimators=3", "is not benched here"),
        ("threshold:nope=1", "nope"),
    ):
        command = ["bench", "--data", str(small_data), "--methods", "threshold", "--set", bad]
        assert main(command) == 2
        assert says in capsys.readouterr().err
