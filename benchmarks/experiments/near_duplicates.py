"""Near-duplicate images in the course data: copies of one cell, and what they do to the scores.

Finds the groups of course images that show the same picture (turned by 90 degrees, flipped,
or at another resolution; `seglab.datasets.near_duplicates`), prints each pair's true N/C
ratios (a pair annotated twice says how far two annotations of one cell can lie apart), which
course-split test images have a copy among the training images, and, with `--proba DIR` (the
out-of-fold probabilities kept by `benchmarks/experiments/ensemble_weights_cv.py save`,
5-fold over the 191 images with a nucleus), the out-of-fold figures of the images whose copy
was in the training folds against the rest. `--split groupkfold` is for maps saved with
`save --split groupkfold`, whose folds keep the copies together (so no image has a copy in
training).
Usage, from the project root:
`.venv/bin/python benchmarks/experiments/near_duplicates.py [--proba DIR [--split groupkfold]]`
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from seglab.bench import run_header
from seglab.data import course_data_path
from seglab.datasets import (
    course_split,
    duplicates_across,
    make_splits,
    near_duplicates,
    open_dataset,
    with_nuclei,
)
from seglab.measure import nc_agreement, nc_ratio
from seglab.metrics import image_score

DATA = course_data_path()  # `seglab data` fetches it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proba", type=Path, metavar="DIR")
    parser.add_argument(
        "--split",
        choices=["kfold", "groupkfold"],
        default="kfold",
        help="the 5 folds the maps under --proba were made on (default kfold)",
    )
    args = parser.parse_args()
    print(run_header())
    dataset = open_dataset(DATA)
    groups = near_duplicates(dataset)
    ratios = {dataset.ids[i]: nc_ratio(dataset.mask(i)) for i in range(len(dataset))}
    members = sum(len(g) for g in groups)
    print(f"{len(groups)} groups of near-duplicates, {members} of {len(dataset)} images")
    print("\n| pair | true N/C | difference |\n|---|---|---|")
    differences = []
    for group in groups:
        ids = [dataset.ids[i] for i in group]
        for n, a in enumerate(ids):
            for b in ids[n + 1 :]:
                difference = abs(ratios[a] - ratios[b])
                differences.append(difference)
                print(f"| {a} / {b} | {ratios[a]:.3f} / {ratios[b]:.3f} | {difference:.3f} |")
    differences = np.array(differences)
    print(
        f"\n{len(differences)} pairs: N/C equal within 0.01 on {np.sum(differences <= 0.01)}"
        f" (one annotation carried over to the copy), within ±0.05 on"
        f" {np.sum(differences <= 0.05)}; the others differ by"
        f" {', '.join(f'{d:.3f}' for d in sorted(differences[differences > 0.01]))}"
    )

    train, test = course_split(dataset)
    leaked = duplicates_across(groups, train, test)
    print(
        f"course split: {len(leaked)} of {len(test)} test images have a copy among the training"
        f" images: {', '.join(dataset.ids[i] for i in leaked)}"
    )
    if args.proba is not None:
        _out_of_fold(args.proba, dataset, groups, args.split)


def _out_of_fold(folder: Path, dataset, groups, split: str = "kfold") -> None:
    """Out-of-fold figures of images with and without a copy in the training folds."""
    data = with_nuclei(dataset)
    position = {key: n for n, key in enumerate(dataset.ids)}
    ratios = {key: nc_ratio(dataset.mask(position[key])) for key in data.ids}
    leaked_ids, same_annotation = set(), set()
    to_full = [position[key] for key in data.ids]
    for train, test in make_splits(data, split):
        leaked = duplicates_across(groups, [to_full[i] for i in train], [to_full[i] for i in test])
        leaked_ids |= {dataset.ids[i] for i in leaked}
        # A copy whose true ratio is within 0.01: the same annotation, seen in training.
        training = {data.ids[i] for i in train}
        for group in groups:
            ids = {dataset.ids[i] for i in group}
            for key in ids & {data.ids[i] for i in test}:
                if any(abs(ratios[key] - ratios[o]) <= 0.01 for o in (ids - {key}) & training):
                    same_annotation.add(key)
    members = {dataset.ids[i] for g in groups for i in g}
    methods = sorted({p.stem.split("_", 1)[1] for p in folder.glob("fold*_*.npz")})
    if {"rf", "unet"} <= set(methods):
        methods.append("rf+unet")
    print(f"\nout of fold ({folder}): {len(leaked_ids)} images have a copy in the training folds")
    print("| method | images | n | Dice | N/C MAE | within ±0.05 |\n|---|---|---|---|---|---|")
    for method in methods:
        rows = {}
        for path in sorted(folder.glob("fold*_rf.npz")):
            fold = path.stem.split("_")[0]
            parts = method.split("+")
            maps = [np.load(folder / f"{fold}_{part}.npz") for part in parts]
            for key in maps[0].files:
                proba = sum(m[key].astype(np.float32) for m in maps)
                predicted, truth = proba.argmax(-1), dataset.mask(position[key])
                rows[key] = (image_score(truth, predicted), nc_ratio(predicted), nc_ratio(truth))
        for label, keep in (
            ("all", lambda k: True),
            ("copy in training", lambda k: k in leaked_ids),
            ("same annotation in training", lambda k: k in same_annotation),
            ("no copy anywhere", lambda k: k not in members),
        ):
            chosen = [rows[k] for k in rows if keep(k)]
            if not chosen:
                continue
            agreement = nc_agreement([r[1] for r in chosen], [r[2] for r in chosen])
            print(
                f"| {method} | {label} | {len(chosen)} | {np.mean([r[0] for r in chosen]):.3f} |"
                f" {agreement['mae']:.3f} | {agreement['within']:.2f} |"
            )


if __name__ == "__main__":
    main()
