"""``seglab tune``: Bayesian optimisation of a method's parameters on the training part."""

from __future__ import annotations

import argparse

from .common import add_command, data_options, open_data, provenance, training_part


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "tune",
        run,
        "Bayesian optimisation (Optuna TPE) of a method's parameters on the training part; "
        "saves the refitted best model.",
    )
    p.add_argument("method", help="method name; `seglab methods` lists what each tunes")
    data_options(p)
    p.add_argument("--trials", type=int, default=50, help="optimisation trials (default 50)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    p.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="fix a parameter instead of tuning it (repeatable)",
    )
    p.add_argument("-o", "--output", required=True, metavar="MODEL.seglab")
    p.set_defaults(output_files=("output",))


def run(args) -> int:
    from ..bench import load_split_part
    from ..errors import DataSetError
    from ..modelfile import save
    from ..segmenters.base import parse_params
    from ..tune import tune

    dataset = open_data(args)
    if not dataset.has_masks:
        raise DataSetError(f"{args.data}: tune scores against masks and the data has none")
    train = training_part(args, dataset, "tune")
    images, masks = load_split_part(dataset, train)
    segmenter = tune(
        args.method,
        images,
        masks,
        n_trials=args.trials,
        seed=args.seed,
        fixed=parse_params(args.set),
    )
    save(segmenter, args.output, trained_on=provenance(args, train))
    info = segmenter.tuning_
    best = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in info["best_params"].items()
    )
    print(
        f"best training score {info['best_value']:.4f} after {len(info['trials'])} trials: {best}"
    )
    print(f"saved {args.output}")
    return 0
