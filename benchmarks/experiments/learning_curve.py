"""Is a model short of capacity or of data? Its fit of its own training images, and its
test figures against the number of training images.

Two questions about the N/C targets of issues 6 and 7, on the course split of
the course data (seglab.data), for the U-Net (default) or any method (``--method rf``):

- ``fit``: can the model place the annotator's borders at all? It trains on the 152
  training images with the given parameters (for the question, ``augment=0`` and
  ``val_fraction=0``: nothing stops it from fitting them), then scores the training images and
  the 39 test images, with test-time flips as the model has them and without.
- ``curve``: how do the test figures move with the number of training images? For each share
  and seed it trains on a random share of the training images (nested: for one seed, each
  share's images hold the smaller shares') and scores the 39 test images.

Usage, from the project root::

    .venv/bin/python benchmarks/experiments/learning_curve.py fit --set scale=4 \
        --set soft_labels=true --set augment=0 --set val_fraction=0 --set max_epochs=720 \
        --set max_minutes=null
    .venv/bin/python benchmarks/experiments/learning_curve.py curve --shares 0.25,0.5,0.75 \
        --seeds 0,1,2 --set scale=4 --set soft_labels=true --set max_minutes=null
    .venv/bin/python benchmarks/experiments/learning_curve.py fit --method rf
    .venv/bin/python benchmarks/experiments/learning_curve.py curve --method rf \
        --shares 0.25,0.5,0.75,1

Each fit prints one JSON line; ``--json FILE`` also keeps every row with the per-image ratios.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from seglab.bench import evaluate_segmenter
from seglab.data import course_data_path
from seglab.datasets import Dataset, make_splits, open_dataset
from seglab.segmenters import make_segmenter
from seglab.segmenters.base import parse_params

DATA = course_data_path()  # `seglab data` fetches it


def nested_share(ids: Sequence[int], share: float, seed: int) -> np.ndarray:
    """The first ``round(share * len(ids))`` of one seeded shuffle of ``ids``, sorted.

    For one seed, a larger share holds every image of a smaller one, so a learning curve
    adds images rather than drawing a new set at each point.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share={share}: expected 0 < share <= 1")
    order = np.random.default_rng(1000 + seed).permutation(np.asarray(ids))
    return np.sort(order[: max(1, round(share * len(order)))])


def score_images(segmenter, dataset: Dataset, ids: Sequence[int]) -> dict:
    """Mean Dice (cytoplasm and nucleus) and N/C agreement of ``segmenter`` on ``ids``,
    scored as `seglab bench` scores them."""
    result, _ = evaluate_segmenter(segmenter, dataset, ids, desc="score")
    nc = result["nc"]
    return {
        "dice": float(result["score"]["mean"]),
        "mae": nc["mae"],
        "within": nc["within_0.05"],
        "bias": nc["bias"],
        "nc": [float(row["nc_pred"]) for row in result["per_image"]],
    }


def _line(row: dict) -> str:
    return json.dumps({k: v for k, v in row.items() if k != "nc"})


def _quiet(method: str, params: dict) -> dict:
    """``params`` with ``verbose=False`` where the method takes it (the U-Net's progress bar)."""
    quiet = "verbose" in make_segmenter(method).get_params()
    return {"verbose": False, **params} if quiet else dict(params)


def run_fit(dataset: Dataset, train, test, method: str, params: dict) -> list[dict]:
    segmenter = make_segmenter(method, **_quiet(method, params))
    start = time.perf_counter()
    segmenter.fit([dataset.image(i) for i in train], [dataset.mask(i) for i in train])
    minutes = (time.perf_counter() - start) / 60
    summary = getattr(segmenter, "training_summary", lambda: method)()
    print(f"{summary}; {minutes:.1f} min", flush=True)
    rows = []
    flipped = getattr(segmenter, "test_flips", False)
    for flips in (True, False) if flipped else (False,):
        if flipped:
            segmenter.test_flips = flips
        for part, ids in (("train", train), ("test", test)):
            row = {"images": part, "test_flips": flips, **score_images(segmenter, dataset, ids)}
            rows.append(row)
            print(_line(row), flush=True)
    return rows


def run_curve(
    dataset: Dataset, train, test, method: str, params: dict, shares, seeds
) -> list[dict]:
    rows = []
    for share in shares:
        for seed in seeds:
            ids = nested_share(train, share, seed)
            segmenter = make_segmenter(method, **_quiet(method, {**params, "random_state": seed}))
            start = time.perf_counter()
            segmenter.fit([dataset.image(i) for i in ids], [dataset.mask(i) for i in ids])
            row = {
                "share": share,
                "n": int(ids.size),
                "seed": seed,
                "fit_min": round((time.perf_counter() - start) / 60, 2),
                "kept_epoch": getattr(segmenter, "best_epoch_", None),
                **score_images(segmenter, dataset, test),
            }
            rows.append(row)
            print(_line(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("fit", "curve"))
    parser.add_argument("--method", default="unet", help="a registered method (default unet)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--shares", default="0.25,0.5,0.75", help="curve: shares of the images")
    parser.add_argument("--seeds", default="0,1,2", help="curve: seeds (subset and training)")
    parser.add_argument("--json", metavar="FILE", help="also write every row, per-image ratios")
    args = parser.parse_args()
    params = parse_params(args.set)  # as `seglab train --set`: VALUE read as JSON where it parses
    dataset = open_dataset(DATA)
    ((train, test),) = make_splits(dataset, "course")
    if args.mode == "fit":
        rows = run_fit(dataset, train, test, args.method, params)
    else:
        shares = [float(s) for s in args.shares.split(",")]
        seeds = [int(s) for s in args.seeds.split(",")]
        rows = run_curve(dataset, train, test, args.method, params, shares, seeds)
    if args.json:
        Path(args.json).write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
