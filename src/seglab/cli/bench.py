"""``seglab bench``: fit and score methods on one split; leaderboard, JSON and report."""

from __future__ import annotations

import argparse

from .common import add_command, data_options, open_data, report_failures


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "bench", run, "Fit and score methods on one split: leaderboard, JSON, report."
    )
    data_options(p)
    p.add_argument(
        "--methods", metavar="A,B", help="comma-separated methods (default: the fast ones)"
    )
    p.add_argument(
        "--json",
        metavar="FILE",
        help="write the result as JSON (its fields: docs/design.md, the bench JSON)",
    )
    p.add_argument("--report", metavar="FILE.html", help="write a self-contained HTML report")
    p.add_argument(
        "--set",
        action="append",
        metavar="METHOD:NAME=VALUE",
        help="a parameter of one benched method (repeatable); VALUE is read as JSON where it"
        """ parses, e.g. 'hgb:post=[{"op": "single_cell"}]'""",
    )
    p.set_defaults(output_files=("json", "report"))
    p.add_argument(
        "--uncertainty",
        action="store_true",
        help="also measure each test image's mean uncertainty (entropy of the probabilities)"
        " and its correlation with the image's error, for methods with probabilities",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="skip images that cannot be read; the exit code is then 2",
    )


def method_params(pairs: list[str] | None, methods: list[str]) -> dict[str, dict]:
    """``{method: {name: value}}`` from ``METHOD:NAME=VALUE`` texts, each method one of
    ``methods``."""
    from ..errors import ParameterError
    from ..segmenters.base import parse_params

    by_method: dict[str, list[str]] = {}
    for pair in pairs or []:
        key, _, _ = pair.partition("=")
        method, colon, _ = key.partition(":")
        if not colon or not method.strip():
            raise ParameterError(f"--set {pair!r}: write it as METHOD:NAME=VALUE")
        if method.strip() not in methods:
            raise ParameterError(
                f"--set {pair!r}: {method.strip()!r} is not benched here (--methods"
                f" {','.join(methods)})"
            )
        by_method.setdefault(method.strip(), []).append(pair.partition(":")[2])
    return {method: parse_params(texts) for method, texts in by_method.items()}


def run(args) -> int:
    from ..bench import fast_methods, format_leaderboard
    from ..report import bench_and_report

    if args.methods is None:
        methods = fast_methods()
    else:  # run_bench refuses an empty list and a method named twice
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    params = method_params(args.set, methods)
    dataset = open_data(args)
    failures: list[str] | None = [] if args.keep_going else None
    result = bench_and_report(
        dataset,
        methods,
        args.split,
        json_path=args.json,
        report_path=args.report,
        params=params,
        uncertainty=args.uncertainty,
        failures=failures,
    )
    print(format_leaderboard(result))
    unique = sorted(set(failures or []))  # every method meets the same bad files
    return report_failures(unique, len(dataset))
