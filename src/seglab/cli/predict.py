"""``seglab predict``: apply a model to images, slides and OME-Zarr; one mask per input."""

from __future__ import annotations

import argparse
import sys

from ..predict import SLIDE_TILE
from .common import add_command, odds_option


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "predict", run, "Apply a model to images; one mask per input, named by its stem."
    )
    p.add_argument("model", metavar="MODEL.seglab")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUTDIR",
        help="output folder (one mask per input, named by its stem); OUT.ome.zarr writes one"
        " image and its mask as an OME-Zarr label image instead",
    )
    p.set_defaults(output_folders=("output",), output_files=("nc",))
    p.add_argument(
        "--format",
        choices=["png", "tif", "npy"],
        default="png",
        help="mask file format; a PNG holds the labels 0, 1, 2 (default png)",
    )
    p.add_argument(
        "--proba",
        action="store_true",
        help="also write STEM_proba.tif with class probabilities (H, W, K)",
    )
    p.add_argument(
        "--uncertainty",
        action="store_true",
        help="also write STEM_uncertainty.tif: per-pixel entropy of the probabilities, 0-1",
    )
    p.add_argument(
        "--nc",
        metavar="FILE.csv",
        help="also write each image's N/C ratio to FILE.csv (as `seglab nc-ratio`), with the"
        " N/C range nc_low, nc_high for methods with probabilities: the ratio with the nucleus"
        " probability divided and multiplied by --odds (a wide range flags a ratio to check)",
    )
    odds_option(p, "--nc")
    p.add_argument(
        "--geojson",
        action="store_true",
        help="also write STEM.geojson: each cell with its nucleus and per-cell measurements as"
        " QuPath objects (File > Object data > Import objects); slides cell by cell",
    )
    p.add_argument(
        "--ngff",
        choices=["0.4", "0.5"],
        default="0.4",
        help="with -o OUT.ome.zarr: the OME-NGFF version, 0.4 on Zarr v2 (QuPath, Fiji read it;"
        " the default) or 0.5 on Zarr v3",
    )
    p.add_argument(
        "--level",
        type=int,
        metavar="N",
        help="slides (SVS, NDPI, MRXS, SCN, pyramidal TIFF): predict pyramid level N"
        " (0, the default, is full resolution)",
    )
    p.add_argument(
        "--mpp",
        type=float,
        metavar="UM",
        help="slides: predict at UM micrometres per pixel (the nearest finer level, resampled)",
    )
    p.add_argument(
        "--all-tiles",
        action="store_true",
        help="slides: predict every tile; by default tiles without tissue (found on a"
        " low-resolution level) are left as background",
    )
    p.add_argument(
        "--cell-model",
        metavar="CELLS.seglab",
        help="with --geojson: a cell classifier (`seglab train-cells`) gives each cell its class,"
        " as its QuPath classification, and the class's probability as a measurement",
    )
    p.add_argument(
        "--pixel-size",
        type=float,
        metavar="UM",
        help="micrometres per pixel of the predicted image, for the µm² columns of --geojson"
        " (default: the slide's own, where it states one)",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="go on after an input fails, and leave a tile of a slide that cannot be decoded"
        " as background; the exit code is 2 if any input failed or tile was left",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="go on with the job an earlier run of this command left unfinished (killed, out"
        " of memory): a slide from its last complete row of tiles, a folder of images without"
        " those whose outputs are all written",
    )
    p.add_argument("--normalize", choices=["dtype", "minmax"], default="dtype")
    p.add_argument(
        "--chunk",
        type=int,
        metavar="N",
        help="predict images larger than N pixels a side tile by tile with Dask, reading them"
        " lazily (tiled TIFF or Zarr) and writing STEM.tif (or STEM.zarr) tile by tile;"
        f" slides and OME-Zarr are always tiled, by {SLIDE_TILE} pixels unless N is given",
    )
    p.add_argument(
        "--scheduler",
        metavar="S",
        help="Dask scheduler for tiles and for many files in parallel: threads, processes,"
        " synchronous, or the address of a dask.distributed scheduler (tcp://host:8786)",
    )


def run(args) -> int:
    from ..io import csv_text, write_text
    from ..measure.files import IMAGE_FIELDS
    from ..predict import predict_inputs

    summary = predict_inputs(
        args.model,
        args.inputs,
        args.output,
        fmt=args.format,
        normalize=args.normalize,
        proba=args.proba,
        uncertainty=args.uncertainty,
        nc=bool(args.nc),
        odds=args.odds,
        geojson=args.geojson,
        pixel_size=args.pixel_size,
        chunk=args.chunk,
        scheduler=args.scheduler,
        level=args.level,
        mpp=args.mpp,
        all_tiles=args.all_tiles,
        ngff=args.ngff,
        keep_going=args.keep_going,
        resume=args.resume,
        cell_model=args.cell_model,
    )
    for line in summary.damaged:
        print(f"seglab: error: {line}", file=sys.stderr)
    if summary.ome_zarr:
        print(
            f"wrote {summary.output} (the image, and its mask as labels/seglab,"
            f" OME-NGFF {args.ngff})"
        )
        return _damage_told(summary)
    for line in summary.failures:
        print(f"seglab: error: {line}", file=sys.stderr)
    tiled = f" ({summary.tiled} tiled)" if summary.tiled else ""
    print(f"wrote {summary.written} mask(s){tiled} to {summary.output}")
    if args.nc:
        write_text(args.nc, csv_text(summary.nc_rows, IMAGE_FIELDS))
        print(f"wrote the N/C ratios of {len(summary.nc_rows)} image(s) to {args.nc}")
    if summary.failures:
        print(
            f"seglab: {len(summary.failures)} of {summary.total} input(s) failed", file=sys.stderr
        )
        return 2
    return _damage_told(summary)


def _damage_told(summary) -> int:
    """2, with a count, when damaged tiles were left as background; else 0."""
    if not summary.damaged:
        return 0
    print(f"seglab: {len(summary.damaged)} damaged tile(s) left as background", file=sys.stderr)
    return 2
