"""``seglab train``: fit a method on the training part of a split and save it."""

from __future__ import annotations

import argparse

from .common import add_command, data_options, open_data, provenance, training_part


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "train", run, "Fit a method on the training part of a split and save it.")
    p.add_argument("method", help="method name (see `seglab methods`)")
    data_options(p)
    p.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="method parameter (repeatable); VALUE is read as JSON when it parses",
    )
    p.add_argument(
        "--scribbles",
        action="store_true",
        help="masks are sparse scribbles: 0 = unlabelled, 1.. = classes",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        metavar="M",
        help="bound the training time in minutes (methods with a max_minutes parameter: unet, "
        "20 by default; ensemble, none by default)",
    )
    p.add_argument("-o", "--output", required=True, metavar="MODEL.seglab")
    p.set_defaults(output_files=("output",))


def run(args) -> int:
    from ..bench import fit_on
    from ..errors import DataSetError
    from ..modelfile import save
    from ..segmenters import make_segmenter
    from ..segmenters.base import parse_params

    params = parse_params(args.set)
    if args.max_minutes is not None:
        params["max_minutes"] = args.max_minutes
    segmenter = make_segmenter(args.method, **params)
    dataset = open_data(args)
    if not dataset.has_masks and segmenter.supervised:
        raise DataSetError(f"{args.data}: {args.method} is supervised and the data has no masks")
    train = training_part(args, dataset, "train")
    seconds = fit_on(segmenter, dataset, train)
    save(segmenter, args.output, trained_on=provenance(args, train))
    print(f"trained {args.method} on {len(train)} images in {seconds:.1f} s -> {args.output}")
    summary = getattr(segmenter, "training_summary", None)
    if summary is not None and (line := summary()):
        print(f"{args.method}: {line}")  # an ensemble's line names its members in turn
    return 0
