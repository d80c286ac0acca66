"""k-fold cross-validation of a method over the course's 191 images (those with a nucleus).

The course split is one draw of 39 test images; with coarse masks its Dice has a standard
error of about 0.02, so this gives every one of the 191 images a turn as a test image.
Usage, from the project root:
`.venv/bin/python benchmarks/crossval.py [--method rf] [--k 5] [--split groupkfold] [--param
dice_background=true ...] [--json FILE] [--save-proba DIR]`
With `--save-proba DIR` each fold's model also writes its test images' probabilities to
`DIR/fold{k}_{method}.npz`, the format of `benchmarks/experiments/ensemble_weights_cv.py`
(whose `score` then averages two methods without refitting either) and
`nc_border_sensitivity.py --proba`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from seglab.bench import bench_method, run_header
from seglab.data import course_data_path
from seglab.datasets import make_splits, open_dataset, with_nuclei

DATA = course_data_path()  # `seglab data` fetches it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="rf")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument(
        "--split",
        choices=("kfold", "groupkfold"),
        default="kfold",
        help="kfold (default) or groupkfold (near-duplicate images kept in one fold), with --k",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter of the method (VALUE read as JSON where it parses); repeatable",
    )
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the entry (per-image figures too)"
    )
    parser.add_argument(
        "--save-proba",
        type=Path,
        metavar="DIR",
        help="keep the out-of-fold probabilities (float16 .npz per fold) in DIR",
    )
    args = parser.parse_args()
    params = dict(_assignment(text) for text in args.param)
    dataset = with_nuclei(open_dataset(DATA))
    dataset.class_names = ("background", "cytoplasm", "nucleus")
    splits = make_splits(dataset, f"{args.split}:{args.k}")
    entry, fitted = bench_method(args.method, dataset, splits, params)
    if args.save_proba is not None:
        _save_proba(args.save_proba, args.method, dataset, splits, fitted)
    if args.json is not None:
        args.json.write_text(json.dumps(entry, indent=1, default=float))
    print(run_header())
    folds = ", ".join(f"{v:.3f}" for v in entry["score"]["folds"])
    nc = entry["nc"]
    print(
        f"{args.method}{_describe(params)}, {args.k}-fold {args.split}"
        f" over {len(dataset)} images: Dice "
        f"{entry['score']['mean']:.3f} (folds {folds}; sd over folds "
        f"{np.std(entry['score']['folds'], ddof=1):.3f}), N/C MAE {nc['mae']:.3f}, "
        f"within ±0.05 {nc['within_0.05']:.2f}, bias {nc['bias']:+.3f}"
    )


def _save_proba(folder: Path, method: str, dataset, splits, fitted) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, ((_, test), segmenter) in enumerate(zip(splits, fitted, strict=True)):
        probs = {
            dataset.ids[int(i)]: segmenter.predict_proba(dataset.image(int(i))).astype(np.float16)
            for i in test
        }
        np.savez_compressed(folder / f"fold{k}_{method}.npz", **probs)


def _assignment(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"--param {text!r}: expected KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _describe(params: dict) -> str:
    return f" ({', '.join(f'{k}={v!r}' for k, v in params.items())})" if params else ""


if __name__ == "__main__":
    main()
