"""`rf` (or other methods) on the grey data sets: bacteria scribbles, qbi-em and oasis-brain.

- bacteria: train on the sparse napari scribbles `wt_labels.tif` over `wt_dna.tif`, predict the
  whole image, score IoU and Dice of the cell class against `wt_mask.tif`, both as stored and
  with the mask moved by (-2, -6) (the data README's measured misalignment).
- qbi-em and oasis-brain: train on the train/ part, score the test/ part.

Usage, from the project root: `.venv/bin/python benchmarks/pixel_other_data.py [--methods
rf,unet,ensemble] [--data bacteria,qbi-em,oasis-brain]`
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from seglab.bench import bench_method, run_header
from seglab.data import data_home
from seglab.datasets import make_splits, open_dataset
from seglab.io import load_image, load_mask, load_scribbles
from seglab.metrics import dice, iou
from seglab.segmenters import make_segmenter

DATA = data_home()


def bacteria(method: str = "rf") -> None:
    folder = DATA / "bacteria"
    image = load_image(folder / "wt_dna.tif", normalize="minmax")
    scribbles = load_scribbles(folder / "wt_labels.tif")  # -1 unlabelled, 0 background, 1 cell
    truth = load_mask(folder / "wt_mask.tif")
    start = time.perf_counter()
    seg = make_segmenter(method).fit([image], [scribbles])
    fit = time.perf_counter() - start
    start = time.perf_counter()
    pred = seg.predict(image)
    predict = time.perf_counter() - start
    shifted = np.roll(truth, (-2, -6), axis=(0, 1))
    print(
        f"| bacteria ({method}, scribbles) | IoU {iou(truth, pred):.3f}, Dice "
        f"{dice(truth, pred):.3f} | IoU {iou(shifted, pred):.3f}, Dice {dice(shifted, pred):.3f}"
        f" | {fit:.1f} | {predict:.2f} |"
    )


def given_split(name: str, method: str = "rf") -> None:
    dataset = open_dataset(DATA / name)
    entry, _ = bench_method(method, dataset, make_splits(dataset, "given"))
    dices = ", ".join(f"{k} {v:.3f}" for k, v in list(entry["dice"].items())[1:])
    print(
        f"| {name} ({method}) | score {entry['score']['mean']:.3f} ({dices}) | - | "
        f"{entry['fit_seconds']:.1f} | {entry['predict_seconds_per_image']:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="rf", help="comma-separated (default rf)")
    parser.add_argument(
        "--data", default="bacteria,qbi-em,oasis-brain", help="comma-separated data sets"
    )
    args = parser.parse_args()
    print(run_header() + "\n")
    print("| data | result | result vs mask moved (-2, -6) | fit s | predict s |")
    print("|---|---|---|---|---|")
    for method in args.methods.split(","):
        for name in args.data.split(","):
            if name == "bacteria":
                bacteria(method)
            else:
                given_split(name, method)


if __name__ == "__main__":
    main()
