"""Are the cells right? Per-cell detection and ratio agreement, as `seglab evaluate` scores them.

Course split (39 test images): the cells found in the true masks themselves (what the cell
rules cost a perfect mask), then each fast method's. Herlev Pap-smear cells: default `rf`
trained on the odd stems and tested on the even ones; one cell per image there, so it measures
fragments and debris. Cells are matched one to one at IoU >= 0.5 to the true cells of the
reference rule (every nucleus of the true mask seeds a cell, cytoplasm goes to the nearest
nucleus along paths inside its region). Usage, from the project root:

    .venv/bin/python benchmarks/cells.py [--methods threshold,kmeans,rf,unet] [--no-herlev]
        [--no-course]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seglab.bench import cell_figures, evaluate_segmenter, fit_on, run_bench, run_header
from seglab.data import course_data
from seglab.datasets import course_split, make_splits, open_dataset
from seglab.measure import compare_cells, find_cells, reference_cells
from seglab.segmenters import make_segmenter

HEADER = (
    f"{'cells of':<24} {'found':>5} {'true':>5} {'prec':>5} {'recall':>6} {'F1':>5}"
    f" {'n/c MAE':>8} {'ICC':>5} {'k>0.5':>6} {'k>=0.7':>6}"
)


def line(name: str, c: dict) -> str:
    def f(value, digits=2):
        return "-" if value is None or value != value else f"{value:.{digits}f}"

    flags = c["flags"]
    return (
        f"{name:<24} {c['found']:>5} {c['true']:>5} {f(c['precision']):>5}"
        f" {f(c['recall']):>6} {f(c['f1']):>5} {f(c['nucleus_cell']['mae'], 3):>8}"
        f" {f(c['nucleus_cell']['icc']):>5} {f(flags[0]['kappa']):>6} {f(flags[1]['kappa']):>6}"
    )


def true_mask_cells(dataset, test) -> dict:
    rows = []
    for i in test:
        true = dataset.mask(int(i))
        found = find_cells(true).cells
        rows.append({"cells": compare_cells(found, true, reference_cells(true), true).to_dict()})
    return cell_figures(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="threshold,tuned-threshold,kmeans,rf,unet")
    parser.add_argument("--no-herlev", action="store_true")
    parser.add_argument("--no-course", action="store_true")
    args = parser.parse_args()
    print(run_header())
    if not args.no_course:
        course_table(args.methods.split(","))
    if not args.no_herlev:
        herlev_table()


def course_table(methods: list[str]) -> None:
    course = open_dataset(course_data())
    _, test = course_split(course)
    print(f"course split, {len(test)} test images")
    print(HEADER)
    print(line("the true masks", true_mask_cells(course, test)))
    result = run_bench(course, methods, split="course")
    for entry in sorted(result["methods"], key=lambda m: -m["cells"]["f1"]):
        print(line(entry["name"], entry["cells"]))


def herlev_table() -> None:
    herlev = _herlev()
    if herlev is None:
        print("herlev: not here (set SEGLAB_DATA to a folder holding herlev/)")
        return
    data = open_dataset(herlev)
    ((odd, even),) = make_splits(data, "odd-even")
    rf = make_segmenter("rf")
    failures: list[str] = []
    seconds = fit_on(rf, data, odd, failures)
    scored, _ = evaluate_segmenter(rf, data, even, failures=failures)
    print(
        f"herlev: rf trained on the {len(odd)} odd stems in {seconds:.0f} s, tested on"
        f" {len(even)} even stems ({len(scored['per_image'])} scored)"
    )
    print(HEADER)
    print(line("the true masks", true_mask_cells(data, even)))
    print(line("rf", scored["cells"]))
    # one cell per crop: how often the annotation and rf give exactly one
    true_counts = [int(reference_cells(data.mask(i)).max()) for i in even]
    found_counts = [r["cells"]["found"] for r in scored["per_image"]]
    print(
        f"cells per crop: the annotation's reference cells 1 in"
        f" {sum(c == 1 for c in true_counts)} of {len(true_counts)} crops (mean"
        f" {sum(true_counts) / len(true_counts):.2f}); rf's 1 in"
        f" {sum(c == 1 for c in found_counts)} of {len(found_counts)} (mean"
        f" {sum(found_counts) / len(found_counts):.2f})"
    )


def _herlev() -> Path | None:
    import os

    root = os.environ.get("SEGLAB_DATA")
    folder = Path(root) / "herlev" if root else None
    return folder if folder is not None and (folder / "images").is_dir() else None


if __name__ == "__main__":
    sys.exit(main())
