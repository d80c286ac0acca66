"""How far a one-pixel border moves the N/C ratio: what "within ±0.05" asks of a model.

The course masks are hand-drawn at 256 x 256. For each of the 191 images with a nucleus this
moves the true nucleus border outwards (into the cytoplasm) or inwards by r pixels, and the
cell border likewise, and reports how often the N/C ratio then changes by more than 0.05: a
model whose borders are everywhere r pixels off the annotator's would score at most that share
within ±0.05. With `--proba DIR` (the out-of-fold probabilities kept by
`benchmarks/experiments/ensemble_weights_cv.py save`) it also gives the model's own border error.
Usage, from the project root:
`.venv/bin/python benchmarks/nc_border_sensitivity.py [--radii 1,2,3] [--proba DIR --method unet]`
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import disk

from seglab.bench import run_header
from seglab.data import course_data_path
from seglab.datasets import open_dataset, with_nuclei
from seglab.measure import nc_ratio
from seglab.segmenters.pixel import downscale, upsample

DATA = course_data_path()  # `seglab data` fetches it
BACKGROUND, CYTOPLASM, NUCLEUS = 0, 1, 2


def nucleus_border_moved(mask: np.ndarray, r: int) -> np.ndarray:
    """The mask with the nucleus grown (r > 0) into the cytoplasm or shrunk (r < 0) by |r| px."""
    nucleus = mask == NUCLEUS
    out = mask.copy()
    if r > 0:
        grown = ndi.binary_dilation(nucleus, disk(r))
        out[grown & (mask == CYTOPLASM)] = NUCLEUS
    elif r < 0:
        kept = ndi.binary_erosion(nucleus, disk(-r), border_value=1)
        out[nucleus & ~kept] = CYTOPLASM
    return out


def cell_border_moved(mask: np.ndarray, r: int) -> np.ndarray:
    """The mask with the cell grown (r > 0, new pixels cytoplasm) or shrunk (r < 0) by |r| px."""
    cell = mask != BACKGROUND
    out = mask.copy()
    if r > 0:
        out[ndi.binary_dilation(cell, disk(r)) & ~cell] = CYTOPLASM
    elif r < 0:
        kept = ndi.binary_erosion(cell, disk(-r), border_value=1)
        out[cell & ~kept] = BACKGROUND
    return out


def round_trip(mask: np.ndarray, factor: int) -> np.ndarray:
    """The mask as a perfect model working at 1/factor would give it back.

    The one-hot labels are block-averaged to the working scale, resampled bilinearly to the
    full size (as the segmenters do with their probabilities) and the argmax taken.
    """
    onehot = np.stack([mask == c for c in (BACKGROUND, CYTOPLASM, NUCLEUS)], -1)
    small = downscale(onehot.astype(np.float32), factor)
    return upsample(small, factor, mask.shape).argmax(-1)


def border_distance(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Median symmetric distance in pixels between two nucleus borders (nan if one is empty).

    Each border pixel of either mask counts with its distance to the other mask's border; the
    median is that of a typical border pixel, not swayed by a stray blob far away.
    """
    a, b = truth == NUCLEUS, predicted == NUCLEUS
    if not a.any() or not b.any():
        return float("nan")
    edge_a = a & ~ndi.binary_erosion(a, border_value=1)
    edge_b = b & ~ndi.binary_erosion(b, border_value=1)
    to_b = ndi.distance_transform_edt(~edge_b)[edge_a]
    to_a = ndi.distance_transform_edt(~edge_a)[edge_b]
    return float(np.median(np.concatenate([to_b, to_a])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radii", default="1,2,3")
    parser.add_argument("--proba", type=Path, metavar="DIR")
    parser.add_argument("--method", default="unet")
    args = parser.parse_args()
    radii = [int(r) for r in args.radii.split(",")]
    data = with_nuclei(open_dataset(DATA))
    masks = [data.mask(i) for i in range(len(data))]
    true_nc = np.array([nc_ratio(m) for m in masks])

    print(run_header())
    print(f"{len(masks)} images; true N/C median {np.median(true_nc):.2f}\n")
    print("| border moved | by | N/C moves > 0.05 | median abs. change | within ±0.05 at most |")
    print("|---|---|---|---|---|")
    for label, move in (("nucleus", nucleus_border_moved), ("cell", cell_border_moved)):
        for r in radii:
            for signed in (r, -r):
                moved = np.array([nc_ratio(move(m, signed)) for m in masks])
                change = np.abs(moved - true_nc)
                print(
                    f"| {label} | {signed:+d} px | {np.mean(change > 0.05):.2f} | "
                    f"{np.median(change):.3f} | {np.mean(change <= 0.05):.2f} |"
                )
    for factor in (2, 3, 4):
        moved = np.array([nc_ratio(round_trip(m, factor)) for m in masks])
        change = np.abs(moved - true_nc)
        print(
            f"| true mask through 1/{factor} scale and back | - | {np.mean(change > 0.05):.2f} | "
            f"{np.median(change):.3f} | {np.mean(change <= 0.05):.2f} |"
        )
    if args.proba is not None:
        _model_borders(args.proba, args.method, data, masks, true_nc)


def _model_borders(folder: Path, method: str, data, masks, true_nc) -> None:
    index = {key: n for n, key in enumerate(data.ids)}
    distances, errors = [], []
    for path in sorted(folder.glob(f"fold*_{method}.npz")):
        probs = np.load(path)
        for key in probs.files:
            n = index[key]
            predicted = np.argmax(probs[key], axis=-1)
            distances.append(border_distance(masks[n], predicted))
            errors.append(abs(nc_ratio(predicted) - true_nc[n]))
    distances, errors = np.array(distances), np.array(errors)
    print(
        f"{method} (out of fold, {errors.size} images): nucleus border off by "
        f"{np.nanmedian(distances):.2f} px (median over images of the median border distance; "
        f"25th-75th pct {np.nanpercentile(distances, 25):.2f}-"
        f"{np.nanpercentile(distances, 75):.2f}), N/C within ±0.05 {np.mean(errors <= 0.05):.2f}"
    )


if __name__ == "__main__":
    main()
