"""Where `rf`'s prediction of one course image spends its time, part by part.

`rf` (defaults) is fitted on 40 course training images (`scale.py`'s model), then each of the
39 course test images is predicted part by part, each part timed on its own and run serially
(one thread), so that the parts add up: reduction to the work scale, colour planes, the filter
bank by filter kind and by scale (each (plane, scale) group's Gaussian is counted with the
group's first filter, `gaussian`), the forest's two stages, the context stage's blurs, and the
return to full resolution with the prior correction and the argmax. The last line is the
ordinary `predict` of the same images (threads, as users run it), for comparison. Medians
per image, in milliseconds. Usage, from the project root:

    .venv/bin/python benchmarks/experiments/rf_profile.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scale import DATA, fit_course_rf  # benchmarks/scale.py's model
from seglab import forest
from seglab._threads import parallel_map
from seglab.bench import run_header
from seglab.datasets import course_split, open_dataset
from seglab.features import _PlaneFilters, colour_planes
from seglab.segmenters.pixel import downscale, upsample


def _timed(parts: dict, key: str, fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    parts[key].append(1000 * (time.perf_counter() - start))
    return out


def profile_image(model, image, parts: dict) -> np.ndarray:
    """Predict one image part by part, serially; each part's milliseconds go to ``parts``."""
    factor = model.work_scale()
    bank = model.filter_bank(factor)
    small = _timed(parts, "reduce to the work scale", downscale, image, factor)
    planes, names = _timed(parts, "colour planes", colour_planes, small, bank.spec["colours"])
    kept = bank._kept(names)
    h, w = small.shape[:2]
    spare = model.context_columns()
    features = np.empty((h, w, len(kept) + spare), np.float32)
    filters: dict = {}
    bank_ms: dict[str, float] = defaultdict(float)  # this image's total per kind and per scale
    for col, entry in enumerate(kept):
        group = (max(entry.plane, 0), entry.scale)
        if group not in filters:
            filters[group] = _PlaneFilters(planes, bank.spec)
        start = time.perf_counter()
        features[..., col] = filters[group].value(entry, h, w)
        ms = 1000 * (time.perf_counter() - start)
        sigma = f"sigma {bank.spec['sigmas'][entry.scale]:g}" if entry.scale >= 0 else "no scale"
        bank_ms[f"bank: {entry.filter}"] += ms
        bank_ms[f"bank at {sigma}"] += ms
    for key, ms in bank_ms.items():
        parts[key].append(ms)
    n = len(kept)
    x = features[..., :n].reshape(-1, n)
    proba = _timed(parts, "forest, stage 1", forest.forest_proba, model.classifier_, x, None)
    proba = proba.reshape(h, w, -1)
    if model.context:
        context = _timed(parts, "context: blurs", model._context, proba)
        features[..., n:] = context
        stacked = features.reshape(-1, n + spare)
        proba = _timed(
            parts, "forest, stage 2", forest.forest_proba, model.context_classifier_, stacked, None
        ).reshape(h, w, -1)

    def finish(values):
        weights = np.asarray(model.class_weights_, np.float32)
        scores = upsample(values * weights, factor, image.shape[:2])
        return np.asarray(model.classes_)[scores.argmax(-1)]

    return _timed(parts, "full resolution, prior, argmax", finish, proba)


def main() -> None:
    dataset = open_dataset(DATA)
    _, test = course_split(dataset)
    images = [dataset.pair(int(i))[0] for i in test]
    with tempfile.TemporaryDirectory() as tmp:
        model = fit_course_rf(Path(tmp) / "rf.seglab")
    parts: dict[str, list[float]] = defaultdict(list)
    same = []
    parallel_map(lambda k: k, [1, 2])  # the shared pool started outside the timings
    for image in images[:2]:  # warm-up: the forest's leaf tables, the pool
        model.predict(image)
    for image in images:
        labels = profile_image(model, image, parts)
        same.append(np.array_equal(labels, model.predict(image)))
        start = time.perf_counter()
        model.predict(image)
        parts["predict, whole (threads)"].append(1000 * (time.perf_counter() - start))
    print(run_header())
    print(
        f"rf (defaults, trained on 40 course images; work scale 1/{model.work_scale()},"
        f" {model.n_bank_features_} bank features, context stage"
        f" {'on' if model.context else 'off'}),"
        f" {len(images)} course test images of 256 x 256; median ms per image, serial parts;"
        f" masks equal to predict's: {sum(same)}/{len(same)}"
    )
    order = [k for k in parts if not k.startswith(("bank: ", "bank at ", "predict"))]
    serial = sum(np.median(parts[k]) for k in order) + sum(
        np.median(v) for k, v in parts.items() if k.startswith("bank: ")
    )
    rows = [*order[:2], *sorted(k for k in parts if k.startswith("bank: ")), *order[2:]]
    for key in rows:
        ms = float(np.median(parts[key]))
        print(f"  {key:<34} {ms:7.2f} ms  {ms / serial:5.1%}")
    for key in sorted(k for k in parts if k.startswith("bank at ")):
        print(f"  ({key}: {float(np.median(parts[key])):.2f} ms)")
    print(f"  {'sum of the serial parts':<34} {serial:7.2f} ms")
    whole = float(np.median(parts["predict, whole (threads)"]))
    print(f"  {'predict, whole (threads)':<34} {whole:7.2f} ms")


if __name__ == "__main__":
    main()
