"""Does seglab's N/C tell abnormal Pap-smear cells from normal ones? And a cell classifier?

Herlev Pap-smear single cells: the odd stems train, the even ones test. Each crop is one cell,
the largest the cell rules find in its mask (`seglab train-cells --image-classes` takes the
same). Normal against abnormal (the data set's groups), by (a) the nucleus/cell ratio alone,
its cut-off chosen on the training cells for the best balanced accuracy, and (b) the default
cell classifier (`rf` on every cell measurement, trained on the 7 classes; P(abnormal) is the
sum of the abnormal classes' probabilities). Each from the true masks and from the masks of
the default segmentation method (`rf`, trained on the odd stems' images): there the classifier
learns from the cells `rf` finds in its own training images, as a user would train it. A crop
where no cell is found counts as normal with a score of 0. Then the classifier's 7-class
confusion matrix on the true masks. Usage, from the project root:

    .venv/bin/python benchmarks/cell_types.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, roc_auc_score

from seglab.bench import fit_on, run_header
from seglab.cellclass import (
    CELL_FEATURES,
    CellClassifier,
    crop_cell,
    describe_cells,
    read_image_classes,
)
from seglab.datasets import make_splits, open_dataset
from seglab.measure import find_cells
from seglab.segmenters import make_segmenter

RATIO = CELL_FEATURES.index("nucleus_cell_ratio")


def crop_features(masks, images) -> np.ndarray:
    """One feature row per crop (its largest cell); NaN rows where no cell is found."""
    rows = []
    for mask, image in zip(masks, images, strict=True):
        cells = find_cells(mask).cells
        cell = crop_cell(cells)
        row = np.full(len(CELL_FEATURES), np.nan)
        if cell:
            row = describe_cells(mask, cells, image)[cell - 1]
        rows.append(row)
    return np.array(rows)


def best_cut(scores, abnormal) -> float:
    """The cut-off on ``scores`` with the best balanced accuracy (abnormal above it)."""
    candidates = np.unique(scores)
    accuracy = [balanced_accuracy_score(abnormal, scores >= c) for c in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def main() -> int:
    root = os.environ.get("SEGLAB_DATA")
    folder = Path(root) / "herlev" if root else None
    if folder is None or not (folder / "images").is_dir():
        print("herlev: not here (set SEGLAB_DATA to a folder holding herlev/)")
        return 1
    data = open_dataset(folder)
    ((train, test),) = make_splits(data, "odd-even")
    stems = list(data.ids)
    classes = read_image_classes(folder / "classes.csv")
    groups = read_image_classes(folder / "classes.csv", "group")
    images = [data.image(i) for i in range(len(data))]
    true_masks = [data.mask(i) for i in range(len(data))]

    rf = make_segmenter("rf")
    seconds = fit_on(rf, data, train, [])
    predicted = [rf.predict(image) for image in images]
    print(run_header())
    print(
        f"herlev: {len(train)} odd stems train, {len(test)} even stems test; rf trained in"
        f" {seconds:.0f} s"
    )
    y7 = np.array([classes[s] for s in stems])
    abnormal = np.array([groups[s] == "abnormal" for s in stems])
    names = sorted(set(y7.tolist()))
    abnormal_classes = sorted({classes[s] for s in stems if groups[s] == "abnormal"})
    print(
        f"test crops: {int(abnormal[test].sum())} abnormal, {int((~abnormal[test]).sum())} normal"
    )
    print()
    print("| cells from | score | ROC AUC | balanced accuracy | crops without a cell |")
    print("|---|---|---|---|---|")
    confusion = None
    for source, masks in (("true masks", true_masks), ("rf", predicted)):
        features = crop_features(masks, images)
        found = ~np.isnan(features[:, RATIO])
        missing = int((~found[test]).sum())
        ratio = np.where(found, features[:, RATIO], 0.0)
        cut = best_cut(ratio[train], abnormal[train])
        auc = roc_auc_score(abnormal[test], ratio[test])
        accuracy = balanced_accuracy_score(abnormal[test], ratio[test] >= cut)
        print(
            f"| {source} | nucleus/cell alone (abnormal at >= {cut:.2f}) | {auc:.3f} |"
            f" {accuracy:.3f} | {missing} |"
        )
        fit = train[found[train]]
        classifier = CellClassifier().fit(features[fit], y7[fit])
        proba = np.zeros((len(data), len(classifier.classes_)))
        proba[found] = classifier.predict_proba(features[found])
        columns = [classifier.classes_.index(c) for c in abnormal_classes]
        p_abnormal = proba[:, columns].sum(1)
        auc = roc_auc_score(abnormal[test], p_abnormal[test])
        accuracy = balanced_accuracy_score(abnormal[test], p_abnormal[test] >= 0.5)
        print(
            f"| {source} | cell classifier, P(abnormal) >= 0.5 | {auc:.3f} | {accuracy:.3f} |"
            f" {missing} |"
        )
        if confusion is None:
            predicted7 = np.array(classifier.classes_)[proba.argmax(1)]
            predicted7[~found] = ""
            confusion = confusion_matrix(y7[test], predicted7[test], labels=names)
            accuracy7 = balanced_accuracy_score(y7[test], predicted7[test])
    print()
    print(
        f"7 classes, cell classifier on the true masks' cells (rows: true class, columns:"
        f" predicted; balanced accuracy {accuracy7:.3f}):"
    )
    print()
    short = [n.replace("normal_", "n_").replace("_", " ") for n in names]
    print("| true \\ predicted | " + " | ".join(short) + " |")
    print("|---" * (len(names) + 1) + "|")
    for name, row in zip(short, confusion, strict=True):
        print(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
