"""Our `rf` against scikit-image's trainable-segmentation recipe, side by side in one run.

The anchor is scikit-image's `multiscale_basic_features` (sigma 1-16, intensity, edges and
texture of each RGB channel) with `RandomForestClassifier(100, max_depth=10)` trained on 500
sampled pixels per class per image. Both use all cores (n_jobs=-1), both fit on the course
split's 152 training images and predict its 39 test images, taking turns on each image so
that the predict times are compared under the same machine speed. Usage, from the project root:

    .venv/bin/python benchmarks/pixel_classifiers.py [--methods rf,extra-trees,...]
        [--variant rf:select_features=30,n_estimators=25 ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from seglab.bench import run_header
from seglab.data import course_data_path
from seglab.datasets import make_splits, open_dataset
from seglab.measure import nc_agreement, nc_ratio
from seglab.metrics import image_score
from seglab.segmenters import make_segmenter

DATA = course_data_path()  # `seglab data` fetches it


class SkimageAnchor:
    """scikit-image's multiscale features + a random forest (its documented recipe)."""

    name = "skimage anchor"

    def __init__(self, random_state: int = 0):
        self.rng = np.random.default_rng(random_state)
        self.forest = RandomForestClassifier(
            100, max_depth=10, n_jobs=-1, random_state=random_state
        )

    @staticmethod
    def features(image):
        from skimage.feature import multiscale_basic_features

        return multiscale_basic_features(image, channel_axis=-1, sigma_min=1, sigma_max=16)

    def fit(self, images, masks):
        xs, ys = [], []
        for image, mask in zip(images, masks, strict=True):
            feats = self.features(image)
            feats = feats.reshape(-1, feats.shape[-1])
            labels = mask.ravel()
            for k in np.unique(labels):
                where = np.flatnonzero(labels == k)
                take = self.rng.choice(where, min(500, where.size), replace=False)
                xs.append(feats[take])
                ys.append(labels[take])
        self.forest.fit(np.concatenate(xs), np.concatenate(ys))
        return self

    def predict(self, image):
        feats = self.features(image)
        h, w, f = feats.shape
        return self.forest.predict(feats.reshape(-1, f)).reshape(h, w)


def fit(model, dataset, train) -> float:
    """Fit on the training images; the seconds it took."""
    images, masks = zip(*(dataset.pair(int(i)) for i in train), strict=True)
    start = time.perf_counter()
    model.fit(list(images), list(masks))
    return time.perf_counter() - start


def evaluate(models, dataset, test) -> list[dict]:
    """Scores and predict times of fitted models on the test images.

    The models take turns on each image, so that a change in the machine's speed during the
    run (these machines drift by tens of percent over minutes) falls on all of them alike.
    """
    scores = [[] for _ in models]
    pred_nc = [[] for _ in models]
    seconds = [[] for _ in models]
    true_nc = []
    for i in test:
        image, mask = dataset.pair(int(i))
        true_nc.append(nc_ratio(mask))
        for k, model in enumerate(models):
            start = time.perf_counter()
            pred = model.predict(image)
            seconds[k].append(time.perf_counter() - start)
            scores[k].append(image_score(mask, pred))
            pred_nc[k].append(nc_ratio(pred))
    results = []
    for k in range(len(models)):
        agreement = nc_agreement(pred_nc[k], true_nc)
        results.append(
            {
                "predict": float(np.median(seconds[k])),
                "score": float(np.mean(scores[k])),
                "mae": agreement["mae"],
                "within": agreement["within"],
            }
        )
    return results


def _value(text: str):
    """A variant's value: JSON where it parses (numbers, lists, dicts), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _assignments(text: str) -> dict:
    """``k=v,k=v`` where a value may hold commas inside brackets (JSON lists and dicts)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return {k: _value(v) for k, v in (p.split("=", 1) for p in parts if p)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="rf")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:K=V,K=V",
        help="also a method with these parameters (values as JSON where they parse, e.g. "
        'features={"sigmas":[1,2,4]})',
    )
    args = parser.parse_args()
    dataset = open_dataset(DATA)
    ((train, test),) = make_splits(dataset, "course")
    print(run_header())
    models = [("skimage anchor", SkimageAnchor())]
    models += [(f"seglab {name}", make_segmenter(name)) for name in args.methods.split(",")]
    for variant in args.variant:
        name, _, assignments = variant.partition(":")
        models.append((f"seglab {variant}", make_segmenter(name, **_assignments(assignments))))
    fit_seconds = []
    for name, model in models:
        fit_seconds.append(fit(model, dataset, train))
        print(f"  {name} fitted in {fit_seconds[-1]:.0f} s", file=sys.stderr)
    results = evaluate([model for _, model in models], dataset, test)
    rows = [
        (name, {**r, "fit": f})
        for (name, _), r, f in zip(models, results, fit_seconds, strict=True)
    ]
    anchor_predict = rows[0][1]["predict"]
    print(
        "\n| method | test Dice | N/C MAE | N/C within ±0.05 | fit s | predict ms/img (median) "
        "| speed-up vs anchor |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['score']:.3f} | {r['mae']:.3f} | {r['within']:.2f} | "
            f"{r['fit']:.0f} | {1000 * r['predict']:.0f} | {anchor_predict / r['predict']:.1f}x |"
        )


if __name__ == "__main__":
    main()
