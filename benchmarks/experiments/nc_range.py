"""How well the N/C range (`seglab.measure.nc_ratio_range`) tells which images' ratios to check.

Reads the out-of-fold probabilities kept by `ensemble_weights_cv.py save` (5 folds, 191 course
images, each predicted by an `rf` and a U-Net that did not see it) and, for `rf`, the U-Net and
their equal-weight ensemble at several odds factors, prints:

- coverage: the share of images whose true N/C lies in the range;
- the range's median width;
- Spearman's rank correlation of the width with the image's absolute N/C error, beside two
  simpler flags: the predicted ratio itself (large ratios have large errors) and the mean
  per-pixel uncertainty over the predicted cell (normalised entropy, what `--uncertainty`
  maps show);
- flagging the widest 20% of images: how many of the 10% worst images it catches, and the N/C
  MAE and share within ±0.05 of the images left unflagged;
- the split-conformal calibration of the odds (`seglab.measure.odds_for_coverage`, what
  `seglab evaluate` prints): 500 times, odds calibrated for 80% coverage on 40 random images,
  coverage measured on the other 151.

Usage, from the project root (a minute, after `ensemble_weights_cv.py save --out DIR`):
`.venv/bin/python benchmarks/experiments/nc_range.py --out DIR`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from seglab.data import course_data_path
from seglab.datasets import open_dataset
from seglab.measure import nc_odds_needed, nc_ratio, nc_ratio_range, odds_for_coverage
from seglab.uncertainty import normalised_entropy

DATA = course_data_path()  # `seglab data` fetches it
ODDS = (2.0, 4.0, 8.0)
FLAGGED = 0.2  # share of images a lab would re-check
TARGET = 0.8  # coverage the odds are calibrated for


def _members(out: Path):
    """(image id, rf probabilities, U-Net probabilities) for every out-of-fold image."""
    for k in range(5):
        rf, unet = np.load(out / f"fold{k}_rf.npz"), np.load(out / f"fold{k}_unet.npz")
        for key in rf.files:
            yield key, rf[key].astype(np.float32), unet[key].astype(np.float32)


def _flag_figures(score: np.ndarray, error: np.ndarray) -> str:
    flagged = score >= np.quantile(score, 1 - FLAGGED)
    worst = error >= np.quantile(error, 0.9)
    rest = error[~flagged]
    return (
        f"{spearmanr(score, error)[0]:+.2f} | {int(worst[flagged].sum())}/{int(worst.sum())} | "
        f"{rest.mean():.3f} | {np.mean(rest <= 0.05 + 1e-12):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="folder written by ensemble_weights_cv.py save"
    )
    args = parser.parse_args()
    full = open_dataset(DATA)
    index = {key: i for i, key in enumerate(full.ids)}
    table: dict[str, dict] = {}
    for key, rf, unet in _members(args.out):
        truth = nc_ratio(full.mask(index[key]))
        for name, proba in (("rf", rf), ("unet", unet), ("ensemble", 0.5 * (rf + unet))):
            rows = table.setdefault(
                name, {"true": [], "pred": [], "uncertainty": [], "range": [], "needed": []}
            )
            mask = proba.argmax(-1)
            rows["true"].append(truth)
            rows["pred"].append(nc_ratio(mask))
            rows["uncertainty"].append(float(normalised_entropy(proba)[mask > 0].mean()))
            rows["range"].append([nc_ratio_range(proba, odds=odds) for odds in ODDS])
            rows["needed"].append(nc_odds_needed(proba, truth))
    print(f"{len(table['rf']['true'])} images, 5-fold out-of-fold predictions, {args.out}\n")
    print(
        "| method | N/C MAE | flag | coverage | median width | Spearman with |error| | "
        f"worst 10% caught by the top {FLAGGED:.0%} | MAE unflagged | within ±0.05 unflagged |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rows in table.items():
        true, pred = np.array(rows["true"]), np.array(rows["pred"])
        error = np.abs(pred - true)
        ranges = np.array(rows["range"])  # (images, odds, 2)
        head = f"| {name} | {error.mean():.3f} |"
        print(f"{head} predicted N/C | - | - | {_flag_figures(pred, error)} |")
        print(
            f"{head} mean uncertainty over the cell | - | - | "
            f"{_flag_figures(np.array(rows['uncertainty']), error)} |"
        )
        for j, odds in enumerate(ODDS):
            low, high = ranges[:, j, 0], ranges[:, j, 1]
            width = high - low
            coverage = np.mean((low <= true + 1e-12) & (true <= high + 1e-12))
            print(
                f"{head} range, odds {odds:g} | {coverage:.2f} | {np.median(width):.2f} | "
                f"{_flag_figures(width, error)} |"
            )
    _calibration(table)


def _calibration(table: dict, n_calibrate: int = 40, repeats: int = 500) -> None:
    rng = np.random.default_rng(0)
    print(
        f"\nOdds calibrated for {TARGET:.0%} coverage on {n_calibrate} images, coverage on the"
        f" rest ({repeats} random splits):\n"
    )
    print(
        "| method | calibrated odds (median, 10th-90th pct) | held-out coverage: mean | 10th pct |"
    )
    print("|---|---|---|---|")
    for name, rows in table.items():
        needed = np.array(rows["needed"])  # NaN: no odds on the grid holds the truth
        odds, held_out = [], []
        for _ in range(repeats):
            order = rng.permutation(needed.size)
            calibrate, rest = needed[order[:n_calibrate]], needed[order[n_calibrate:]]
            chosen = odds_for_coverage(calibrate, TARGET)
            odds.append(chosen)
            held_out.append(np.mean(rest <= chosen) if np.isfinite(chosen) else np.nan)
        odds, held_out = np.array(odds), np.array(held_out)
        low, mid, high = np.nanquantile(odds, [0.1, 0.5, 0.9])
        print(
            f"| {name} | {mid:.3g} ({low:.3g}-{high:.3g}) | {np.nanmean(held_out):.2f} | "
            f"{np.nanquantile(held_out, 0.1):.2f} |"
        )


if __name__ == "__main__":
    main()
