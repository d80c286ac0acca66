"""`rf` prediction with seglab.forest against scikit-learn's own `predict_proba`, in turns.

Fits `rf` (defaults, or `--param K=V`) on the course split's 152 training images, then predicts
each of the 39 test images twice, once through `seglab.forest.forest_proba` (the default path)
and once through the forest's own `predict_proba`, and reports the median times per image, the
time of the forest alone both ways, and whether the masks are identical. Usage, from the
project root:

    .venv/bin/python benchmarks/experiments/forest_speed.py [--param n_estimators=25 ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from unittest import mock

import numpy as np

from seglab import forest
from seglab.bench import run_header
from seglab.data import course_data_path
from seglab.datasets import make_splits, open_dataset
from seglab.segmenters import make_segmenter

DATA = course_data_path()  # `seglab data` fetches it


def _param(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    dataset = open_dataset(DATA)
    ((train, test),) = make_splits(dataset, "course")
    segmenter = make_segmenter("rf", **dict(_param(p) for p in args.param))
    images, masks = zip(*(dataset.pair(int(i)) for i in train), strict=True)
    segmenter.fit(list(images), list(masks))
    clf = segmenter.classifier_
    timings = {"seglab.forest": [], "sklearn predict_proba": []}
    forest_only = {"seglab.forest": [], "sklearn predict_proba": []}
    identical = True
    for i in test:
        image = dataset.image(int(i))
        x = segmenter._features(image)
        x = x.reshape(-1, x.shape[-1])
        masks_now = []
        for name in timings:
            # the library's path, or the same code with the fast path switched off
            off = mock.patch.object(forest, "supports", lambda model: False)
            with off if name != "seglab.forest" else contextlib.nullcontext():
                start = time.perf_counter()
                masks_now.append(segmenter.predict(image))
                timings[name].append(time.perf_counter() - start)
            start = time.perf_counter()
            if name == "seglab.forest":
                forest.forest_proba(clf, x, segmenter.n_jobs)
            else:
                clf.predict_proba(x)
            forest_only[name].append(time.perf_counter() - start)
        identical &= bool(np.array_equal(*masks_now))
    print(run_header())
    print("\n| path | predict ms/img (median) | forest alone ms/img (median) |")
    print("|---|---|---|")
    for name in timings:
        print(
            f"| {name} | {1000 * np.median(timings[name]):.1f} | "
            f"{1000 * np.median(forest_only[name]):.1f} |"
        )
    ratio = np.median(timings["sklearn predict_proba"]) / np.median(timings["seglab.forest"])
    print(
        f"\nwhole prediction {ratio:.2f}x faster; masks identical on all {len(test)}: {identical}"
    )


if __name__ == "__main__":
    main()
