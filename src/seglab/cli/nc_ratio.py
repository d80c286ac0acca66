"""``seglab nc-ratio``: the N/C ratio of label masks, per image or per cell, as CSV."""

from __future__ import annotations

import argparse
import sys

from .common import add_command, odds_option


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "nc-ratio",
        run,
        "Nucleus-to-cytoplasm ratio (nucleus px / cytoplasm px) of label masks, as CSV on stdout.",
    )
    p.add_argument(
        "masks",
        nargs="+",
        metavar="MASK",
        help="mask files (1 cytoplasm, 2 nucleus) or folders of them, such as the output"
        " folder of `seglab predict` or a data set's masks/",
    )
    p.add_argument("--csv", metavar="FILE", help="also write the CSV to FILE")
    p.add_argument(
        "--geojson",
        metavar="FILE",
        help="also write the objects for QuPath (File > Object data > Import objects): with"
        " --per-cell each cell with its nucleus and every per-cell column as measurements;"
        " otherwise one polygon per region and class (FILE.geojson.gz is compressed)",
    )
    p.add_argument(
        "--object-type",
        choices=["annotation", "detection"],
        default="annotation",
        help="with --geojson and no --per-cell: the QuPath object type of the regions",
    )
    p.set_defaults(output_files=("csv", "geojson", "report"))
    p.add_argument(
        "--chunk",
        type=int,
        metavar="N",
        help="read TIFF or Zarr masks larger than N pixels a side tile by tile (each cell is"
        " measured once, in the tile holding its first pixel)",
    )
    p.add_argument(
        "--halo",
        type=int,
        default=512,
        metavar="H",
        help="with --chunk: context read around each tile (default 512); a group of touching"
        " cells wider than that is read again, whole, so a larger halo only saves time",
    )
    p.add_argument(
        "--per-cell",
        action="store_true",
        help="one row per cell (each nucleus seeds a cell; cytoplasm goes to the nearest "
        "nucleus along paths inside its region; specks and fragments are left out as debris) "
        "with nucleus/cytoplasm and nucleus/cell ratios, nuclear irregularity and flags, then "
        "a cell=all row per image with its totals, flag counts and debris left out",
    )
    p.add_argument(
        "--pixel-size", type=float, metavar="UM", help="micrometres per pixel: adds areas in µm²"
    )
    p.add_argument(
        "--high-ratio",
        type=float,
        default=0.7,
        metavar="R",
        help="flag cells with nucleus/cell ratio >= R (default 0.7, the Paris "
        "System's high-grade criterion)",
    )
    p.add_argument(
        "--proba",
        action="store_true",
        help="the inputs are probability maps (STEM_proba.tif from `seglab predict --proba`):"
        " the mask is their argmax, and nc_low, nc_high give the ratio with the nucleus"
        " probability divided and multiplied by --odds (a wide range flags a ratio to check)",
    )
    odds_option(p, "--proba")
    p.add_argument(
        "--images",
        metavar="DIR",
        help="with --per-cell: the masks' images (matched by file stem), for each nucleus's"
        " hyperchromasia (its optical density over its cytoplasm's) and chromatin texture,"
        " and for the report's gallery",
    )
    p.add_argument(
        "--cell-model",
        metavar="CELLS.seglab",
        help="with --per-cell and --images: a cell classifier (`seglab train-cells`) gives each"
        " cell its class and that class's probability (cell_class, cell_class_proba), the"
        " summary rows count the cells of each class, and --geojson classifies them so",
    )
    p.add_argument(
        "--report",
        metavar="HTML",
        help="with --per-cell: also write a per-cell HTML report: each image's cells, debris"
        " and cells at the 0.5 and 0.7 nucleus/cell lines, the cells with the highest ratios"
        " in their picture with their outlines and figures, and the ratios' distribution",
    )


def run(args) -> int:
    from ..io import csv_text, write_text
    from ..measure import CELL_FIELDS
    from ..measure.files import measure_masks

    rows = measure_masks(
        args.masks,
        per_cell=args.per_cell,
        proba=args.proba,
        odds=args.odds,
        chunk=args.chunk,
        halo=args.halo,
        pixel_size=args.pixel_size,
        high_ratio=args.high_ratio,
        geojson=args.geojson,
        object_type=args.object_type,
        images=args.images,
        report=args.report,
        cell_model=args.cell_model,
    )
    text = csv_text(rows, CELL_FIELDS)  # cell rows, then image summaries
    if args.csv:
        write_text(args.csv, text)
    sys.stdout.write(text)
    return 0
