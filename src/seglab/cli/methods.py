"""``seglab methods``: the registered methods, their parameters and what ``tune`` searches."""

from __future__ import annotations

import argparse

from .common import add_command, write_json_or_print


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "methods",
        run,
        "List the registered methods and the cell classifiers, with their parameters.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    from ..cellclass import CELL_CLASSIFIERS
    from ..segmenters import list_segmenters

    rows = list_segmenters()
    cell_rows = [
        {"name": name, "description": text, "params": params}
        for name, (text, params) in CELL_CLASSIFIERS.items()
    ]
    if args.json:
        write_json_or_print("-", {"methods": rows, "cell_classifiers": cell_rows})
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        kind = "supervised" if r["supervised"] else "unsupervised"
        status = "" if r["available"] else f"  [needs: {r['install']}]"
        print(f"{r['name'].ljust(width)}  {kind:12}  {r['description']}{status}")
        if r["params"]:
            params = ", ".join(f"{k}={v!r}" for k, v in r["params"].items())
            print(" " * (width + 2) + "params: " + params)
        if r["search_space"]:
            print(" " * (width + 2) + "tunes:  " + ", ".join(r["search_space"]))
    print()
    print("cell classifiers (seglab train-cells --method NAME --set NAME=VALUE):")
    for r in cell_rows:
        params = ", ".join(f"{k}={v!r}" for k, v in r["params"].items())
        print(f"{r['name'].ljust(width)}  {'cells':12}  {r['description']}")
        print(" " * (width + 2) + "params: " + params)
    return 0
