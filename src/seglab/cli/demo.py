"""``seglab demo``: every method that can run here, on built-in synthetic cells."""

from __future__ import annotations

import argparse

from .common import add_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "demo",
        run,
        "Run every method on built-in synthetic cells: leaderboard, masks and an HTML report."
        " Methods whose extra is not installed are skipped, each named with the extra.",
    )
    p.add_argument("--out", default="seglab-demo", metavar="DIR", help="output folder")
    p.set_defaults(output_folders=("out",))
    p.add_argument("--n", type=int, default=40, help="number of synthetic images (default 40)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args) -> int:
    from ..bench import format_leaderboard
    from ..demo import run_demo

    result = run_demo(args.out, n=args.n, seed=args.seed)
    print(format_leaderboard(result))
    for name, reason in result["skipped"].items():
        print(f"skipped {name}: {reason}")
    return 0
