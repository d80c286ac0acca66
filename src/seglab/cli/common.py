"""What every command shares: the subcommand factory, the data options, failure lines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

EPILOG = """\
data: a folder with images/ + masks/ (matched by file stem), the course's X/ + y/ (.npy), or
train/ + test/ each holding one of those. Images are PNG, TIFF, JPEG or NPY, 8/16-bit, grey,
RGB or RGBA; masks hold the labels themselves (0 background, 1 cytoplasm, 2 nucleus, ...).
splits: course (the course labs' 152/39 split), given (a train/ + test/ folder), all, odd-even
(odd-numbered file stems train, even ones test), random[:SEED], kfold[:K], groupkfold[:K]
(k-fold with near-duplicate images, the same picture turned, flipped or rescaled, kept in one
fold).
"""


def add_command(
    sub: argparse._SubParsersAction, name: str, run: Callable, help_text: str
) -> argparse.ArgumentParser:
    """A subcommand that runs ``run(args)``, with the shared epilog on data and splits."""
    p = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=run)
    return p


def data_options(p: argparse.ArgumentParser, required: bool = True) -> None:
    """--data, --split and --normalize, as every command that reads a data set takes them."""
    p.add_argument("--data", required=required, metavar="DIR", help="data-set folder")
    p.add_argument(
        "--split",
        metavar="S",
        default=None,
        help="course, given, all, odd-even, random[:SEED], kfold[:K] or groupkfold[:K] "
        "(default: given for a train/+test/ folder, else all)",
    )
    p.add_argument(
        "--normalize",
        choices=["dtype", "minmax"],
        default="dtype",
        help="scale images by their dtype's range (default) or per-image min-max",
    )


def odds_option(p: argparse.ArgumentParser, with_flag: str) -> None:
    """--odds, the factor of the N/C range, which ``with_flag`` turns on."""
    from ..measure import NC_RANGE_ODDS

    p.add_argument(
        "--odds",
        type=float,
        default=NC_RANGE_ODDS,
        metavar="F",
        help=f"with {with_flag}: the factor of the N/C range (default {NC_RANGE_ODDS:g})",
    )


def open_data(args):
    """The data set of ``--data`` (scribbles with ``--scribbles``)."""
    from ..datasets import open_dataset

    dataset = open_dataset(args.data, normalize=args.normalize)
    if getattr(args, "scribbles", False):
        dataset.scribbles = True
    return dataset


def training_part(args, dataset, command: str):
    """Indices of the training part of a single split (k folds are refused)."""
    from ..datasets import make_splits
    from ..errors import DataSetError

    splits = make_splits(dataset, args.split)
    if len(splits) != 1:
        raise DataSetError(f"--split {args.split}: {command} needs a single split, not k folds")
    return splits[0][0]


def provenance(args, train) -> dict:
    """What a saved model records of its training data."""
    return {"data": str(args.data), "split": args.split or "default", "n_images": len(train)}


def report_failures(failures: list[str] | None, total: int) -> int:
    """Print each failed input and a last line counting them; the exit code."""
    if not failures:
        return 0
    for line in failures:
        print(f"seglab: error: {line}", file=sys.stderr)
    print(f"seglab: {len(failures)} of {total} input(s) failed", file=sys.stderr)
    return 2


def write_json_or_print(path: str, payload: dict) -> None:
    """``--json FILE``: the payload to FILE, or to stdout for ``-``."""
    from ..io import json_text, write_json

    if path == "-":
        print(json_text(payload))
    else:
        write_json(path, payload)
