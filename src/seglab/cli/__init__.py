"""The ``seglab`` command. Each command is a module here: its arguments (``add_parser``) and a
``run(args)`` that calls one library function and prints what it returns.

Exit codes: 0 success; 2 bad input or usage (one line on stderr); 1 an unexpected error;
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import (
    bench,
    data,
    demo,
    evaluate,
    features,
    methods,
    nc_ratio,
    predict,
    train,
    train_cells,
    tune,
)
from .common import EPILOG

__all__ = ["build_parser", "main"]

#: In the order ``seglab --help`` lists them.
COMMANDS = (
    demo,
    methods,
    train,
    tune,
    predict,
    evaluate,
    nc_ratio,
    train_cells,
    features,
    bench,
    data,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(
        prog="seglab",
        description="Segment microscopy images (threshold to U-Net), score them, and measure "
        "the nucleus-to-cytoplasm (N/C) ratio.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"seglab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _check_outputs(args) -> None:
    """Refuse an unwritable output path at once, not after a long fit has made its content."""
    from ..io import check_output_file, check_output_folder

    for name in getattr(args, "output_files", ()):
        if getattr(args, name, None):
            check_output_file(getattr(args, name))
    for name in getattr(args, "output_folders", ()):
        check_output_folder(getattr(args, name))


def main(argv: list[str] | None = None) -> int:
    """Run ``seglab`` with ``argv`` (the process's arguments by default); the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..errors import SeglabError

    try:
        _check_outputs(args)
        return int(args.func(args) or 0)
    except SeglabError as exc:
        print(f"seglab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seglab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"seglab: internal error: {type(exc).__name__}: {exc} (run with --debug for the "
            "traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
