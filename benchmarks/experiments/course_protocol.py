"""Figures of the course protocol on the course data (docs/design.md, Data).

Runs `seglab bench` for the given methods on the course split and prints the leaderboard,
the command, the machine and the date. Usage, from the project root:

    .venv/bin/python benchmarks/experiments/course_protocol.py [--methods threshold,...] \
        [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seglab.bench import format_leaderboard, run_bench
from seglab.data import course_data_path
from seglab.datasets import open_dataset

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = course_data_path()  # `seglab data` fetches it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--methods", default="threshold")
    parser.add_argument("--split", default="course")
    args = parser.parse_args()
    result = run_bench(open_dataset(args.data), args.methods.split(","), args.split)
    script = "benchmarks/experiments/course_protocol.py"
    print(f"command: python {script} {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine: {result['machine']}; date: {result['date']}; seglab {result['seglab']}")
    print(format_leaderboard(result))


if __name__ == "__main__":
    main()
