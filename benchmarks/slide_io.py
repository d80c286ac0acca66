"""A 20,000 x 20,000 pyramidal slide, 60% of it bare glass, through `seglab predict --geojson`.

Builds a pyramidal tiled TIFF (levels 1, 1/2, 1/4, 1/8, 1/16, pixel size 0.5 µm) whose left
40% is a mosaic of course images, each framed by 32 pixels of glass so that cells do not join
across images, and whose right 60% is white glass; it is written tile by tile, never
whole in memory. `rf` (defaults, trained on 40 course training images) then predicts it with
`seglab predict SLIDE --geojson` (768-pixel tiles, the default): tissue found on a
low-resolution level, empty tiles skipped, the mask written tile by tile, then every cell
measured tile by tile and written as a QuPath object. Reports wall time, throughput, peak
memory of the process tree, the cells written and the share of tiles skipped. Usage, from
the project root:

    .venv/bin/python benchmarks/slide_io.py [--size 20000] [--chunk 768]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from scale import SEGLAB, fit_course_rf, peak_rss_of  # the sibling script's model and sampler
from seglab.bench import run_header
from seglab.data import course_data_path
from seglab.io import read_array
from seglab.slides import SlideLevel, tissue_mask
from seglab.tiling import chunks_along, tile_geometry, tiles_with_tissue

DATA = course_data_path()  # `seglab data` fetches it
CELL = 320  # a course image (256) framed by 32 pixels of glass on each side
GLASS = 255  # white, as the course images' background: what `rf` learnt to call background
TISSUE_SHARE = 0.4
MPP = 0.5


def _framed_images() -> list[np.ndarray]:
    files = sorted((DATA / "images").glob("*.png"))
    return [
        np.pad(read_array(f)[..., :3], ((32, 32), (32, 32), (0, 0)), constant_values=GLASS)
        for f in files
    ]


def _region(images, size: int, step: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Pixels [y0:y1, x0:x1] of the level reduced by ``step`` (nearest sampling of level 0)."""
    ys = np.arange(y0, y1) * step
    xs = np.arange(x0, x1) * step
    out = np.full((len(ys), len(xs), 3), GLASS, np.uint8)
    tissue_width = int(size * TISSUE_SHARE) // CELL * CELL
    inside_y = ys < size
    inside_x = xs < tissue_width
    if not inside_x.any():
        return out
    rows, cols = ys // CELL, xs // CELL
    per_row = tissue_width // CELL
    for r in np.unique(rows[inside_y]):
        for c in np.unique(cols[inside_x]):
            image = images[(r * per_row + c) % len(images)]
            yy = np.flatnonzero((rows == r) & inside_y)
            xx = np.flatnonzero((cols == c) & inside_x)
            out[yy[:, None], xx[None, :]] = image[ys[yy][:, None] % CELL, xs[xx][None, :] % CELL]
    return out


def write_slide(path: Path, size: int, levels: int = 5) -> None:
    images = _framed_images()
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for k in range(levels):
            step = 2**k
            side = size // step

            def tiles(step=step, side=side):
                for y in range(0, side, 256):
                    for x in range(0, side, 256):
                        tile = np.full((256, 256, 3), GLASS, np.uint8)
                        part = _region(
                            images, size, step, y, min(y + 256, side), x, min(x + 256, side)
                        )
                        tile[: part.shape[0], : part.shape[1]] = part
                        yield tile

            per_cm = 1e4 / (MPP * step)
            tif.write(
                data=tiles(),
                shape=(side, side, 3),
                dtype=np.uint8,
                tile=(256, 256),
                photometric="rgb",
                compression="zlib",
                resolution=(per_cm, per_cm),
                resolutionunit="CENTIMETER",
                subfiletype=0 if k == 0 else 1,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--chunk", type=int, default=768)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seglab-slide-") as tmp:
        tmp = Path(tmp)
        slide = tmp / "slide.tif"
        start = time.perf_counter()
        write_slide(slide, args.size)
        print(f"wrote the slide in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        model = fit_course_rf(tmp / "rf.seglab")
        # the tiles the run should skip, from the same tissue map it computes
        level = SlideLevel(slide, 0)
        tissue, factor = tissue_mask(level)
        chunk, halo = tile_geometry(model, args.chunk)
        chunks = (chunks_along(args.size, chunk, halo),) * 2
        kept = tiles_with_tissue(chunks, tissue, factor, halo)
        command = [*SEGLAB, "predict", str(tmp / "rf.seglab"), str(slide), "--geojson"]
        command += ["--chunk", str(args.chunk), "-o", str(tmp / "out")]
        seconds, peak, code = peak_rss_of(command)
        if code != 0:
            raise SystemExit(f"seglab predict failed with exit code {code}")
        with open(tmp / "out" / "slide.geojson", encoding="utf-8") as f:
            cells = len(json.load(f)["features"])
        megapixels = args.size**2 / 1e6
        print(run_header())
        print(
            f"rf (defaults, trained on 40 course images), {args.size} x {args.size} pyramidal TIFF"
            f" ({megapixels:.0f} Mpx, {1 - TISSUE_SHARE:.0%} bare glass), --chunk {args.chunk},"
            " threads, --geojson"
        )
        print(
            f"wall {seconds:.0f} s ({megapixels / seconds:.2f} Mpx/s of slide), peak memory"
            f" {peak / 2**30:.2f} GiB ({peak / 1e9:.2f} GB), {cells} cells written,"
            f" {1 - kept.mean():.0%} of {kept.size} tiles skipped (no tissue)"
        )


if __name__ == "__main__":
    main()
