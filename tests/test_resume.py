"""Long jobs that survive: a real `seglab predict` killed (SIGKILL) at several points and run
again with --resume gives byte for byte what an uninterrupted run gives."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import seglab

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

CHUNK = 64
HEIGHT = 512


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A 512 x 768 tiled TIFF of synthetic cells, and a small rf trained on such cells."""
    import tifffile

    root = tmp_path_factory.mktemp("resume")
    ds = seglab.synthetic_cells(7, size=256, random_state=1)
    tiles = [np.asarray(ds.image(i)) for i in range(1, 7)]
    mosaic = np.concatenate([np.concatenate(tiles[r * 3 : r * 3 + 3], 1) for r in range(2)], 0)
    assert mosaic.shape[0] == HEIGHT
    source = root / "slide.tif"
    tifffile.imwrite(source, (mosaic * 255).astype(np.uint8), tile=(256, 256))
    seg = seglab.make_segmenter(
        "rf", features={"sigmas": [1, 2, 4]}, context=False, n_estimators=8, n_jobs=1, scale=1
    ).fit([ds.image(0)], [ds.mask(0)])
    model = seglab.save(seg, root / "rf.seglab")
    return model, source


def _command(model, inputs, out, *extra):
    return [sys.executable, "-m", "seglab.cli", "predict", str(model), *map(str, inputs),
            "-o", str(out), *map(str, extra)]  # fmt: skip


def _run(args) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=600)


def _rows_done(partial: Path) -> int:
    try:
        meta = json.loads((partial / "zarr.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(meta.get("attributes", {}).get("seglab_rows_done", 0))


def _kill_when(args, ready, timeout=300.0) -> None:
    """Start ``args`` and SIGKILL it as soon as ``ready()`` holds (it must not finish first)."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, "the job ended before the point it was to be killed at"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.fixture(scope="module")
def uninterrupted(job, tmp_path_factory):
    model, source = job
    out = tmp_path_factory.mktemp("whole") / "out"
    done = _run(_command(model, [source], out, "--chunk", CHUNK, "--geojson"))
    assert done.returncode == 0, done.stderr
    files = _files(out)
    assert set(files) == {"slide.tif", "slide.geojson"}
    return files


@pytest.mark.parametrize(
    "point", ["first row", pytest.param("half the rows", marks=pytest.mark.slow), "the cells"]
)
def test_a_slide_killed_then_resumed_is_byte_identical(job, uninterrupted, tmp_path, point):
    from seglab.tiling import partial_path

    model, source = job
    out = tmp_path / "out"
    partial = partial_path(out / "slide.tif")
    rows = HEIGHT // CHUNK
    ready = {
        "first row": lambda: _rows_done(partial) >= 1,
        "half the rows": lambda: _rows_done(partial) >= rows // 2,
        "the cells": lambda: (out / "slide.tif").exists(),
    }[point]
    args = _command(model, [source], out, "--chunk", CHUNK, "--geojson")
    _kill_when(args, ready)
    assert not (out / "slide.geojson").exists()
    if point != "the cells":
        assert 0 < _rows_done(partial) < rows and not (out / "slide.tif").exists()
        # without --resume the partial mask is refused, in one line naming --resume
        refused = _run(args)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1
        assert "--resume" in refused.stderr
    resumed = _run([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert _files(out) == uninterrupted
    assert not partial.exists() and not list(out.parent.glob(".*.lock"))


def test_a_partial_mask_of_another_model_is_not_continued(job, tmp_path):
    from seglab.tiling import partial_path

    model, source = job
    out = tmp_path / "out"
    args = _command(model, [source], out, "--chunk", CHUNK)
    _kill_when(args, lambda: _rows_done(partial_path(out / "slide.tif")) >= 1)
    other = seglab.load(model)
    other.set_params(n_estimators=2)
    other_model = seglab.save(other.fit(*_one_image()), tmp_path / "other.seglab")
    refused = _run([*_command(other_model, [source], out, "--chunk", CHUNK), "--resume"])
    assert refused.returncode == 2 and "another job" in refused.stderr
    assert refused.stderr.count("\n") == 1


def _one_image():
    ds = seglab.synthetic_cells(1, size=128, random_state=9)
    return [ds.image(0)], [ds.mask(0)]


def test_many_files_killed_then_resumed_skip_the_complete_ones(job, tmp_path):
    from seglab.io import save_image

    model, _ = job
    ds = seglab.synthetic_cells(10, size=128, random_state=3)
    inputs = tmp_path / "in"
    for i in range(len(ds)):
        save_image(inputs / f"{i:02d}.png", ds.image(i))
    whole = tmp_path / "whole"
    args = _command(model, [inputs], whole, "--nc", whole / "nc.csv", "--geojson")
    assert _run(args).returncode == 0
    expected = _files(whole)

    out = tmp_path / "out"
    args = _command(model, [inputs], out, "--nc", out / "nc.csv", "--geojson")
    _kill_when(args, lambda: len(list(out.glob("*.geojson"))) >= 4)
    assert 4 <= len(list(out.glob("*.png"))) < 10 and not (out / "nc.csv").exists()
    logged = {json.loads(line)["image"] for line in _whole_lines(out / ".nc-rows.jsonl")}
    complete = {
        f"{stem}.png": (out / f"{stem}.png").stat().st_mtime_ns
        for stem in logged
        if (out / f"{stem}.geojson").exists()
    }
    assert len(complete) >= 3
    resumed = _run([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert _files(out) == expected and not (out / ".nc-rows.jsonl").exists()
    # the images whose outputs (and N/C row) were complete were not predicted again
    assert all((out / name).stat().st_mtime_ns == ns for name, ns in complete.items())


def _whole_lines(path: Path) -> list[str]:
    """The lines of ``path`` that a kill did not cut short."""
    text = path.read_text(encoding="utf-8")
    return text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_cluster_that_loses_a_worker_mid_slide_gives_the_same_mask(job, tmp_path):
    """`--scheduler tcp://...` against a `dask scheduler` and two `dask worker` processes on
    the loopback address; one worker is killed (SIGKILL) half-way through the slide."""
    import os
    import shutil

    distributed = pytest.importorskip("distributed")
    dask_command = shutil.which("dask", path=os.path.dirname(sys.executable))
    if dask_command is None:
        pytest.skip("the dask command is not installed")
    model, source = job
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    started = []

    def start(*args):
        started.append(
            subprocess.Popen(
                [dask_command, *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own group: a kill takes the nanny and its worker
            )
        )
        return started[-1]

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        workers = [
            start("worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1")
            for _ in range(2)
        ]
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        out = tmp_path / "cluster"
        args = _command(model, [source], out, "--chunk", CHUNK, "--scheduler", address)
        from seglab.tiling import partial_path

        partial = partial_path(out / "slide.tif")
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while _rows_done(partial) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the slide was done before a worker could be killed"
        os.killpg(workers[0].pid, signal.SIGKILL)
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
        whole = _run(_command(model, [source], tmp_path / "threads", "--chunk", CHUNK))
        assert whole.returncode == 0, whole.stderr
        assert (out / "slide.tif").read_bytes() == (tmp_path / "threads" / "slide.tif").read_bytes()
    finally:
        for p in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
