"""``seglab data``: where the data sets are; the course data is downloaded on first use."""

from __future__ import annotations

import argparse

from .common import add_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    add_command(
        sub,
        "data",
        run,
        "Print the folder that holds the data sets (voced/imagedata is the course data),"
        " downloading the course data first if it is not there: 262 MB once, each file"
        " checked against its SHA-256, kept as 12 MB of PNGs. The variable SEGLAB_DATA names a"
        ' local copy instead. The guide\'s pages read it as data/: ln -s "$(seglab data)" data',
    )


def run(args) -> int:
    from ..data import course_data, data_home

    course_data()
    print(data_home())
    return 0
