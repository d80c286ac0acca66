"""Train the `unet` method on the course split and print its learning curve and test figures.

Fits the default configuration (or the one given with --set) on the course split's 152
training images of the course data (seglab.data), prints the per-epoch training loss and
validation score, then scores the 39 test images through the same code path as `seglab bench`.
Usage, from the project root:

    .venv/bin/python benchmarks/unet.py [--set NAME=VALUE ...] [--save MODEL.seglab]
"""

from __future__ import annotations

import argparse

from seglab.bench import bench_method, run_header
from seglab.data import course_data_path
from seglab.datasets import make_splits, open_dataset
from seglab.modelfile import save
from seglab.segmenters.base import parse_params

DATA = course_data_path()  # `seglab data` fetches it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--save", metavar="MODEL.seglab", help="also save the trained model")
    parser.add_argument("--split", default="course", help="course (default) or kfold:K")
    args = parser.parse_args()
    params = parse_params(args.set)  # as `seglab train --set`: VALUE read as JSON where it parses
    dataset = open_dataset(DATA)
    dataset.class_names = ("background", "cytoplasm", "nucleus")
    splits = make_splits(dataset, args.split)
    entry, fitted = bench_method("unet", dataset, splits, params)
    print(run_header())
    for k, model in enumerate(fitted):
        print(f"fold {k + 1}: learning curve (epoch, seconds, loss, validation score):")
        for row in model.history_:
            val = row["val_score"]
            print(
                f"  {row['epoch']:3d} {row['seconds']:7.1f}s loss {row['loss']:.4f}"
                f" val {'-' if val is None else f'{val:.4f}'}"
            )
        print(
            f"  {model.training_summary()}; "
            f"trained in {model.training_seconds_ / 60:.1f} min at scale 1/{model.factor_}"
        )
    nc = entry["nc"]
    print(
        f"unet on {args.split} split: test Dice {entry['score']['mean']:.3f} "
        f"± {entry['score']['std']:.3f} (cytoplasm {entry['dice']['cytoplasm']:.3f}, nucleus "
        f"{entry['dice']['nucleus']:.3f}), N/C MAE {nc['mae']:.3f}, R² {nc['r2']:.3f},"
        f" within ±0.05 {nc['within_0.05']:.2f}, bias {nc['bias']:+.3f};"
        f" fit {entry['fit_seconds'] / 60:.1f} min"
        f" per fold, predict {entry['predict_seconds_per_image'] * 1000:.0f} ms per image"
    )
    if args.save and len(fitted) == 1:
        save(fitted[0], args.save, trained_on={"data": str(DATA), "split": args.split})
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
