"""Out-of-fold rf and U-Net probabilities on the 5 CV folds, then the ensemble at any U-Net weight.

`crossval.py --method ensemble` prints one line at equal weights; this keeps each member's
probabilities (float16, under --out), so every weight and post-processing can be scored on the
same 191 out-of-fold predictions without refitting. Same images and folds as `crossval.py`.
Usage, from the project root (about 1.5-3 hours on 2 cores, almost all of it the U-Nets):
`.venv/bin/python benchmarks/experiments/ensemble_weights_cv.py save --out /tmp/probs` then
`.venv/bin/python benchmarks/experiments/ensemble_weights_cv.py score --out /tmp/probs`.
`save --methods rf` (or `unet`) fits one member only, so the two can run separately; a fold
whose file is already under --out is skipped, so an interrupted run resumes. `save --split
groupkfold` uses the folds that keep near-duplicate images together.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from seglab.data import course_data_path
from seglab.datasets import make_splits, open_dataset, with_nuclei
from seglab.measure import nc_agreement, nc_ratio
from seglab.metrics import image_score
from seglab.segmenters.base import make_segmenter, parse_params

DATA = course_data_path()  # `seglab data` fetches it


def _param(text: str) -> tuple[str, object]:
    """One ``KEY=VALUE`` of --param, read by the CLI\'s own --set parser."""
    ((key, value),) = parse_params([text]).items()
    return key, value


WEIGHTS = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)


def _dataset():
    return with_nuclei(open_dataset(DATA))


def save(
    out: Path,
    methods: tuple[str, ...] = ("rf", "unet"),
    params: dict | None = None,
    split: str = "kfold",
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = _dataset()
    for k, (train, test) in enumerate(make_splits(data, split)):
        todo = [m for m in methods if not (out / f"fold{k}_{m}.npz").exists()]
        if not todo:  # resume: a fold already saved is not fitted again
            continue
        images = [data.image(int(i)) for i in train]
        masks = [data.mask(int(i)) for i in train]
        for method in todo:
            start = time.perf_counter()
            segmenter = make_segmenter(method, **(params or {})).fit(images, masks)
            probs = {
                data.ids[int(i)]: segmenter.predict_proba(data.image(int(i))).astype(np.float16)
                for i in test
            }
            np.savez_compressed(out / f"fold{k}_{method}.npz", **probs)
            summary = getattr(segmenter, "training_summary", None)
            how = f" ({summary()})" if summary is not None else ""
            print(f"fold {k} {method}: {time.perf_counter() - start:.0f} s{how}", flush=True)


def score(out: Path) -> None:
    data = _dataset()
    index = {key: i for i, key in enumerate(data.ids)}
    rows: dict[float, tuple[list, list]] = {w: ([], []) for w in WEIGHTS}
    truth = []
    for k in range(5):
        rf = np.load(out / f"fold{k}_rf.npz")
        unet = np.load(out / f"fold{k}_unet.npz")
        for key in rf.files:
            true = data.mask(index[key])
            truth.append(nc_ratio(true))
            a, b = rf[key].astype(np.float32), unet[key].astype(np.float32)
            for w, (scores, predicted) in rows.items():
                pred = ((1 - w) * a + w * b).argmax(-1)
                scores.append(image_score(true, pred))
                predicted.append(nc_ratio(pred))
    for w, (scores, predicted) in rows.items():
        nc = nc_agreement(np.array(predicted), np.array(truth))
        print(
            f"U-Net weight {w:.2f}: Dice {np.mean(scores):.3f}, N/C MAE {nc['mae']:.3f}, "
            f"within ±0.05 {nc['within']:.2f}, bias {nc['bias']:+.3f} ({len(scores)} images)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["save", "score"])
    parser.add_argument("--out", type=Path, required=True, help="folder of the probabilities")
    parser.add_argument(
        "--methods",
        default="rf,unet",
        help="with save: the members to fit, comma-separated (to fit them in separate runs)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=_param,
        metavar="KEY=VALUE",
        help="with save: a parameter of the methods fitted (VALUE read as JSON where it parses; "
        "e.g. max_minutes=null, so that a slow machine does not shorten the U-Net); repeatable",
    )
    parser.add_argument(
        "--split",
        choices=["kfold", "groupkfold"],
        default="kfold",
        help="with save: the 5 folds of kfold (default) or of groupkfold (near-duplicates kept "
        "in one fold); do not mix the two under one --out",
    )
    args = parser.parse_args()
    if args.step == "save":
        save(args.out, tuple(args.methods.split(",")), dict(args.param), args.split)
    else:
        score(args.out)


if __name__ == "__main__":
    main()
