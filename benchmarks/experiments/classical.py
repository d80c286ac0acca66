"""The classical methods (issue 3) on the three real data sets, as Markdown tables.

Every method runs with its defaults, plus a few named variants (tuned thresholds with the
course's targeted cleanup, hysteresis with a background threshold, more clusters), through the
same `seglab.bench` code path as `seglab bench`. Usage, from the project root:

    .venv/bin/python benchmarks/experiments/classical.py [--only voced|qbi-em|oasis-brain]
"""

from __future__ import annotations

import argparse
import math
import sys

from seglab.bench import bench_method, run_header
from seglab.data import data_home
from seglab.datasets import make_splits, open_dataset
from seglab.postprocess import targeted_cleanup

DATA = data_home()

CLEANUP = {"post": targeted_cleanup(50, 200)}
# (label, method, params)
VARIANTS = [
    ("threshold (0.45, 0.85)", "threshold", {}),
    ("threshold + targeted cleanup", "threshold", CLEANUP),
    ("tuned-threshold", "tuned-threshold", {}),
    ("tuned-threshold + tuned cleanup", "tuned-threshold", {"cleanup": True}),
    ("auto-threshold otsu", "auto-threshold", {"method": "otsu"}),
    ("auto-threshold li", "auto-threshold", {"method": "li"}),
    ("auto-threshold yen", "auto-threshold", {"method": "yen"}),
    ("auto-threshold isodata", "auto-threshold", {"method": "isodata"}),
    ("auto-threshold mean", "auto-threshold", {"method": "mean"}),
    ("auto-threshold minimum", "auto-threshold", {"method": "minimum"}),
    ("auto-threshold triangle", "auto-threshold", {"method": "triangle"}),
    ("auto-threshold intermodes", "auto-threshold", {"method": "intermodes"}),
    ("multi-otsu (3)", "multi-otsu", {}),
    ("hysteresis (0.35, 0.5)", "hysteresis", {}),
    ("hysteresis + t_background 0.95", "hysteresis", {"t_background": 0.95}),
    ("kmeans (3)", "kmeans", {}),
    ("kmeans (8) + position 0.5", "kmeans", {"n_clusters": 8, "position_weight": 0.5}),
    ("gmm (3)", "gmm", {}),
    ("gmm (8)", "gmm", {"n_clusters": 8}),
    ("slic (400 superpixels, 3 clusters)", "slic", {}),
    ("slic (8 clusters)", "slic", {"n_clusters": 8}),
    ("quadtree (std 0.05, 3 clusters)", "quadtree", {}),
    ("quadtree (8 clusters)", "quadtree", {"n_clusters": 8}),
]
DATASETS = {
    "voced": (DATA / "voced" / "imagedata", "course"),
    "qbi-em": (DATA / "qbi-em", "given"),
    "oasis-brain": (DATA / "oasis-brain", "given"),
}


def _f(value, digits=3):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def run(name: str) -> None:
    folder, split = DATASETS[name]
    dataset = open_dataset(folder)
    splits = make_splits(dataset, split)
    classes = dataset.resolved_class_names()
    with_nc = tuple(classes) == ("background", "cytoplasm", "nucleus")
    print(
        f"\n### {name}: `{folder.relative_to(DATA.parent.parent)}`, split `{split}` "
        f"({len(splits[0][0])} train / {len(splits[0][1])} test)\n"
    )
    header = ["method", "score", *[f"Dice {c}" for c in classes[1:]]]
    header += ["N/C MAE", "N/C within ±0.05"] if with_nc else []
    header += ["fit s", "predict ms/img"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    rows = []
    for label, method, params in VARIANTS:
        entry, _ = bench_method(method, dataset, splits, params)
        rows.append((label, entry))
        print(f"  {label}: {entry['score']['mean']:.4f}", file=sys.stderr)
    for label, entry in sorted(rows, key=lambda r: -r[1]["score"]["mean"]):
        cells = [label, _f(entry["score"]["mean"]), *[_f(entry["dice"][c]) for c in classes[1:]]]
        if with_nc:
            cells += [_f(entry["nc"]["mae"]), _f(entry["nc"]["within_0.05"], 2)]
        cells += [_f(entry["fit_seconds"], 1), _f(1000 * entry["predict_seconds_per_image"], 1)]
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(DATASETS))
    args = parser.parse_args()
    print(run_header())
    for name in [args.only] if args.only else list(DATASETS):
        run(name)


if __name__ == "__main__":
    main()
