"""Every failure to create or write an output is one line naming the path, exit 2, and leaves
no partial file: a parent that cannot be made, no permission, a file-size limit (the disk full,
as the writer sees it) on each kind of output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="/proc, /sys and RLIMIT_FSIZE")


def _seglab(args, limit_bytes: int | None = None, cwd=None) -> subprocess.CompletedProcess:
    """Run the seglab command in a child process, its file-size limit at ``limit_bytes``."""

    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-m", "seglab.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        preexec_fn=limit if limit_bytes is not None else None,
        timeout=300,
    )


def _one_line_naming(result, path) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert str(path) in result.stderr and "internal error" not in result.stderr


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def image(tmp_path_factory, model) -> Path:
    from seglab.io import save_image

    _, _, ds = model
    return save_image(tmp_path_factory.mktemp("in") / "cell.png", ds.image(4))


@pytest.mark.parametrize(
    "output",
    ["/proc/seglab-none/out", "/proc/seglab-out.png", "/sys/seglab-none"],
    ids=["parent-cannot-be-made", "file-in-proc", "no-permission"],
)
def test_an_output_the_system_refuses_is_one_line(model, image, output):
    result = _seglab(["predict", model[0], image, "-o", output])
    _one_line_naming(result, output)
    assert not Path(output).exists()


def test_an_unwritable_csv_is_refused_before_any_mask_is_written(model, image, tmp_path):
    result = _seglab(["predict", model[0], image, "-o", tmp_path / "out", "--nc", "/proc/nc.csv"])
    _one_line_naming(result, "/proc/nc.csv")
    assert not (tmp_path / "out").exists()


def _cut_half_way(args, written: Path, cwd: Path):
    """Run ``args`` once whole, to learn how large ``written`` is, then again with a file-size
    limit of half that (the disk full, as the writer sees it), from an empty ``cwd``."""
    whole = _seglab(args, cwd=cwd)
    assert whole.returncode == 0, whole.stderr
    size = written.stat().st_size
    written.unlink()
    return _seglab(args, limit_bytes=size // 2, cwd=cwd)


@pytest.mark.parametrize(
    "extra, written",
    [([], "masks/cell.png"), (["--proba"], "masks/cell_proba.tif")],
    ids=["mask", "probabilities"],
)
def test_a_full_disk_is_one_line_and_leaves_no_partial_file(model, image, tmp_path, extra, written):
    result = _cut_half_way(
        ["predict", model[0], image, "-o", tmp_path / "masks", *extra], tmp_path / written, tmp_path
    )
    _one_line_naming(result, tmp_path / written)
    assert not (tmp_path / written).exists()
    # nothing half-written is left, not even a temporary file
    assert all(not Path(name).name.startswith(".") for name in _files_under(tmp_path))


@pytest.mark.parametrize("output", ["--csv", "--geojson"])
def test_a_table_on_a_full_disk_is_one_line_and_leaves_no_partial_file(
    model, image, tmp_path, output
):
    masks = tmp_path / "masks"
    assert _seglab(["predict", model[0], image, "-o", masks]).returncode == 0
    written = tmp_path / f"cells{'.csv' if output == '--csv' else '.geojson'}"
    result = _cut_half_way(["nc-ratio", masks, "--per-cell", output, written], written, tmp_path)
    _one_line_naming(result, written)
    assert _files_under(tmp_path) == ["masks/cell.png"]


def test_a_model_file_on_a_full_disk_is_one_line(course_like, tmp_path):
    out = tmp_path / "models" / "m.seglab"
    result = _seglab(
        ["train", "threshold", "--data", course_like, "--split", "random:0", "-o", out],
        limit_bytes=200,
    )
    _one_line_naming(result, out)
    assert _files_under(tmp_path / "models") == []


@pytest.mark.parametrize("suffix", [".tif", ".ome.zarr"])
def test_a_tiled_output_on_a_full_disk_is_one_line_and_leaves_nothing(model, tmp_path, suffix):
    import tifffile

    from seglab.datasets import synthetic_cells

    big = synthetic_cells(1, size=384, random_state=2).image(0)
    source = tmp_path / "in" / "big.tif"
    source.parent.mkdir()
    tifffile.imwrite(source, (np.asarray(big) * 255).astype(np.uint8), tile=(128, 128))
    out = tmp_path / "out" / f"big{suffix}"
    result = _seglab(["predict", model[0], source, "--chunk", "128", "-o", out], limit_bytes=2000)
    _one_line_naming(result, out)
    assert _files_under(tmp_path / "out") == [] if (tmp_path / "out").exists() else True
    assert os.listdir(tmp_path / "in") == ["big.tif"]


def test_a_second_job_on_the_same_output_is_refused_at_once(model, image, tmp_path):
    out = tmp_path / "masks"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from seglab.locks import output_lock\n"
            f"with output_lock({str(out)!r}):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = _seglab(["predict", model[0], image, "-o", out])
        _one_line_naming(result, out)
        assert f"process {holder.pid}" in result.stderr
        assert not (out / "cell.png").exists()
    finally:
        holder.kill()
        holder.wait()
    # its holder killed, the lock is stale: the next job takes it over, and removes it at the end
    from seglab.locks import lock_path

    assert lock_path(out).exists()
    result = _seglab(["predict", model[0], image, "-o", out])
    assert result.returncode == 0, result.stderr
    assert (out / "cell.png").exists() and not lock_path(out).exists()


def _pyramid_with_a_corrupt_tile(path: Path, corrupt: bool = True) -> tuple[int, int]:
    """A two-level pyramidal TIFF (tiles of 128) whose level-0 tile 5 is garbage: its row and
    column."""
    import tifffile

    from seglab.datasets import synthetic_cells

    ds = synthetic_cells(6, size=256, random_state=1)
    tiles = [np.asarray(ds.image(i)) for i in range(6)]
    image = (np.concatenate([np.concatenate(tiles[r::2], 1) for r in range(2)], 0) * 255).astype(
        np.uint8
    )  # 512 x 768: 4 rows of 6 tiles
    with tifffile.TiffWriter(path) as tif:
        tif.write(image, tile=(128, 128), compression="zlib", subifds=1, photometric="rgb")
        tif.write(image[::2, ::2], tile=(128, 128), compression="zlib", subfiletype=1)
    if not corrupt:
        return 0, 5
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].dataoffsets[5]
    with open(path, "r+b") as file:
        file.seek(offset + 10)
        file.write(b"\xff" * 40)
    return 0, 5


def test_a_corrupt_tile_of_a_slide_is_one_line_naming_the_level_and_tile(model, tmp_path):
    slide = tmp_path / "slide.tif"
    row, column = _pyramid_with_a_corrupt_tile(slide)
    result = _seglab(["predict", model[0], slide, "--chunk", "128", "-o", tmp_path / "out"])
    _one_line_naming(result, slide)
    assert "level 0" in result.stderr and f"row {row}, column {column}" in result.stderr
    assert not (tmp_path / "out").exists() or _files_under(tmp_path / "out") == []


def test_with_keep_going_a_corrupt_tile_is_background_and_the_rest_is_written(model, tmp_path):
    import tifffile

    slide, clean = tmp_path / "in" / "slide.tif", tmp_path / "clean" / "slide.tif"
    slide.parent.mkdir()
    clean.parent.mkdir()
    row, column = _pyramid_with_a_corrupt_tile(slide)
    _pyramid_with_a_corrupt_tile(clean, corrupt=False)
    args = ["predict", model[0], "--chunk", "128", "--keep-going"]
    result = _seglab([*args, slide, "-o", tmp_path / "out"])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and f"level 0: tile at row {row}, column {column}" in lines[0]
    assert "left as background" in lines[0] and "1 damaged tile" in lines[1]
    assert _seglab([*args, clean, "-o", tmp_path / "whole"]).returncode == 0
    mask = tifffile.imread(tmp_path / "out" / "slide.tif")
    whole = tifffile.imread(tmp_path / "whole" / "slide.tif")
    y, x = row * 128, column * 128
    assert not mask[y : y + 128, x : x + 128].any()
    # beyond the damaged tile and the model's reach around it, the mask is the clean slide's
    reach = int(model[1].halo)
    outside = np.ones(mask.shape, bool)
    outside[max(0, y - reach) : y + 128 + reach, max(0, x - reach) : x + 128 + reach] = False
    np.testing.assert_array_equal(mask[outside], whole[outside])
