"""``seglab evaluate``: score a model on a data set's test part, or predicted masks."""

from __future__ import annotations

import argparse

from .common import (
    add_command,
    data_options,
    open_data,
    report_failures,
    write_json_or_print,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "evaluate",
        run,
        "Score a model on a data set's test part, or predicted masks against true ones.",
    )
    p.add_argument("--model", metavar="MODEL.seglab")
    data_options(p, required=False)
    p.add_argument(
        "--pred",
        metavar="DIR",
        help="folder of predicted masks, or of GeoJSON cell objects (STEM.geojson, from"
        " `seglab predict --geojson` or QuPath), whose cells are scored as they are",
    )
    p.add_argument("--true", metavar="DIR", help="folder of true masks (matched by stem)")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON")
    p.set_defaults(output_files=("json",))
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="skip images that cannot be read or predicted (with --pred: masks without a"
        " prediction), score the others; the exit code is then 2",
    )


def run(args) -> int:
    from ..bench import format_leaderboard
    from ..errors import ParameterError
    from ..evaluate import evaluate_model, evaluate_predictions, evaluation_notes
    from ..modelfile import load

    failures: list[str] | None = [] if args.keep_going else None
    if args.model and args.data:
        payload = evaluate_model(load(args.model), open_data(args), args.split, failures)
        n_inputs = payload["n_test"]
    elif args.pred and args.true:
        payload = evaluate_predictions(args.pred, args.true, failures)
        n_inputs = payload["n_test"] + len(failures or [])
    else:
        raise ParameterError("evaluate needs either --model and --data, or --pred and --true")
    print(format_leaderboard(payload))
    for line in evaluation_notes(payload["methods"][0]):
        print(line)
    if args.json:
        write_json_or_print(args.json, payload)
    return report_failures(failures, n_inputs)
