"""``seglab train-cells``: learn each cell's class from its measurements, and save it."""

from __future__ import annotations

import argparse

from .common import add_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "train-cells",
        run,
        "Learn a class per cell (normal, abnormal, ...) from the cells' measurements, and save"
        " the cell classifier for nc-ratio --cell-model and predict --cell-model.",
    )
    p.add_argument(
        "masks",
        nargs="+",
        metavar="MASK",
        help="mask files (1 cytoplasm, 2 nucleus), true or predicted, or folders of them; their"
        " cells are found as `seglab nc-ratio --per-cell` finds them",
    )
    p.add_argument(
        "--images", required=True, metavar="DIR", help="the masks' images, matched by file stem"
    )
    labels = p.add_mutually_exclusive_group(required=True)
    labels.add_argument(
        "--labels",
        metavar="CSV",
        help="labelled cells: columns image and class, and the cell's id (column cell, as"
        " `nc-ratio --per-cell` numbers them: its CSV can be labelled in place) or a point"
        " inside it (row and col, or QuPath's x and y in pixels); rows with no class are skipped",
    )
    labels.add_argument(
        "--image-classes",
        metavar="CSV",
        help="one class per single-cell crop: columns stem (or image) and class; each mask's"
        " largest cell takes its image's class",
    )
    p.add_argument(
        "--class-column",
        default="class",
        metavar="NAME",
        help="with --image-classes: the column that holds the class (default class)",
    )
    p.add_argument(
        "--method",
        default="rf",
        help="the classifier: rf (a random forest, default) or logistic; see `seglab methods`",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="classifier parameter (repeatable), such as n_estimators=500",
    )
    p.add_argument("-o", "--output", required=True, metavar="CELLS.seglab")
    p.set_defaults(output_files=("output",))


def run(args) -> int:
    from collections import Counter

    from ..cellclass import CellClassifier, read_cell_labels, read_image_classes
    from ..celltraining import labelled_cells
    from ..modelfile import save_cell_classifier
    from ..segmenters.base import parse_params

    classifier = CellClassifier(args.method, **parse_params(args.set))
    if args.labels:
        found = labelled_cells(args.masks, args.images, cell_labels=read_cell_labels(args.labels))
    else:
        classes = read_image_classes(args.image_classes, args.class_column)
        found = labelled_cells(args.masks, args.images, image_classes=classes, progress=True)
    features, classes, cells = found
    classifier.fit(features, classes)
    trained_on = {
        "masks": [str(m) for m in args.masks][:20],
        "labels": str(args.labels or args.image_classes),
        "n_cells": len(cells),
        "n_images": len({image for image, _ in cells}),
    }
    save_cell_classifier(classifier, args.output, trained_on=trained_on)
    counts = ", ".join(f"{name} {n}" for name, n in sorted(Counter(classes).items()))
    print(
        f"trained a cell classifier ({args.method}) on {len(cells)} cells of"
        f" {trained_on['n_images']} images ({counts}) -> {args.output}"
    )
    if line := classifier.training_summary():
        print(f"cells: {line}")
    return 0
