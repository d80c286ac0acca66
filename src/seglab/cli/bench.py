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


def run(args) -> int:
    from ..bench import fast_methods, format_leaderboard
    from ..report import bench_and_report

    if args.methods is None:
        methods = fast_methods()
    else:  # run_bench refuses an empty list and a method named twice
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    dataset = open_data(args)
    failures: list[str] | None = [] if args.keep_going else None
    result = bench_and_report(
        dataset,
        methods,
        args.split,
        json_path=args.json,
        report_path=args.report,
        uncertainty=args.uncertainty,
        failures=failures,
    )
    print(format_leaderboard(result))
    unique = sorted(set(failures or []))  # every method meets the same bad files
    return report_failures(unique, len(dataset))
