"""MRF smoothing on the course split: `rf` with and without the `mrf` post step, and the `mrf`
method (the QBI text's probabilistic model), with paired tests against `rf` alone.

Fits the default `rf` once on the course split's 152 training images; the post step changes
only prediction, so each weight reuses that forest (a copy with `post` set). The `mrf` method
is fitted on the same images. For each model the 39 test images give the mean Dice, the N/C
ratio's mean absolute error and its share within ±0.05, predict ms per image, and Wilcoxon
signed-rank p-values of the per-image Dice and N/C absolute error against `rf` alone. Usage,
from the project root (about 6 minutes on 2 cores):

    .venv/bin/python benchmarks/mrf_course.py [--weights 0.5,1,2] [--contrast]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
from scipy.stats import wilcoxon

from seglab.bench import run_header
from seglab.data import course_data_path
from seglab.datasets import make_splits, open_dataset
from seglab.measure import nc_agreement, nc_ratio
from seglab.metrics import image_score
from seglab.segmenters import make_segmenter

DATA = course_data_path()  # `seglab data` fetches it


def score(model, dataset, test) -> dict:
    """Per-image Dice and N/C absolute error of ``model`` on ``test``, and ms per image."""
    dice, predicted, true, seconds = [], [], [], 0.0
    for i in test:
        image, mask = dataset.pair(int(i))
        start = time.perf_counter()
        pred = model.predict(image)
        seconds += time.perf_counter() - start
        dice.append(image_score(mask, pred))
        predicted.append(nc_ratio(pred))
        true.append(nc_ratio(mask))
    return {
        "dice": np.array(dice),
        "error": np.abs(np.array(predicted) - np.array(true)),
        "nc": nc_agreement(predicted, true),  # the figures `seglab bench` reports
        "ms": 1000 * seconds / len(test),
    }


def _p(a: np.ndarray, b: np.ndarray) -> str:
    finite = np.isfinite(a) & np.isfinite(b)
    if np.allclose(a[finite], b[finite]):
        return "-"
    return f"{wilcoxon(a[finite], b[finite]).pvalue:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="0.5,1,2", help="weights of the post step")
    parser.add_argument("--contrast", action="store_true", help="contrast-sensitive weights")
    args = parser.parse_args()
    dataset = open_dataset(DATA)
    ((train, test),) = make_splits(dataset, "course")
    images = [dataset.image(int(i)) for i in train]
    masks = [dataset.mask(int(i)) for i in train]
    rf = make_segmenter("rf").fit(images, masks)
    models = [("rf", rf)]
    for weight in (float(w) for w in args.weights.split(",")):
        smoothed = copy.copy(rf)
        step = {"op": "mrf", "weight": weight, "contrast": args.contrast}
        smoothed.post = [step]
        models.append((f"rf + post mrf, weight {weight:g}", smoothed))
    models.append(("mrf method (defaults)", make_segmenter("mrf").fit(images, masks)))
    results = [(name, score(model, dataset, test)) for name, model in models]
    base = results[0][1]
    print(run_header())
    print(f"course split: {len(train)} training, {len(test)} test images\n")
    print(
        "| model | test Dice | N/C MAE | N/C within ±0.05 | predict ms/img"
        " | p (Dice vs rf) | p (N/C error vs rf) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in results:
        print(
            f"| {name} | {r['dice'].mean():.3f} | {r['nc']['mae']:.3f} | {r['nc']['within']:.2f}"
            f" | {r['ms']:.0f} | {_p(r['dice'], base['dice'])} | {_p(r['error'], base['error'])} |"
        )


if __name__ == "__main__":
    main()
