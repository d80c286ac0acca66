"""Can a model's nucleus border be moved toward the annotator's at full resolution?

The U-Net works at 1/3 scale and its nucleus border lies a median 3 px from the annotator's,
which is what keeps its N/C ratios outside ±0.05 (`nc_border_sensitivity.py`). Three checks
on the out-of-fold probabilities kept by `benchmarks/experiments/ensemble_weights_cv.py save`:

1. Edges: where the two nucleus borders are more than 2 px apart, is the annotator's on a
   stronger image edge (Sobel of the smoothed grey image) than the model's? If it were, the
   full-resolution image would hold what the model misses.
2. Edge snapping: the predicted nucleus moved by a morphological geodesic active contour on
   the full-resolution image (scikit-image), kept inside the predicted cell; scored against
   the plain argmax, paired, for every setting tried.
3. `--learned`: a small full-resolution network (five convolutions, dilations up to 8, 16
   channels) that sees the image and the model's log-probabilities and adds a correction to
   them, trained for each fold on the other folds' out-of-fold maps and scored on the fold's
   own (needs torch; about 7 minutes on 2 cores). The maps it trains on came from models
   that saw the scored fold's masks, which can only flatter it.

Usage, from the project root:
`.venv/bin/python benchmarks/experiments/border_refinement.py --proba DIR [--method unet]
[--learned]`
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from scipy.stats import wilcoxon
from skimage import color, filters, segmentation

from seglab.data import course_data_path
from seglab.datasets import open_dataset
from seglab.measure import nc_agreement, nc_ratio
from seglab.metrics import image_score

DATA = course_data_path()  # `seglab data` fetches it
CYTOPLASM, NUCLEUS = 1, 2
#: border pixels farther than this from the other border count as disagreeing
APART_PX = 2


def load_out_of_fold(folder: Path, method: str) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The saved out-of-fold probabilities by image id, and each id's fold."""
    maps, fold_of = {}, {}
    for path in sorted(folder.glob(f"fold*_{method}.npz")):
        fold = int(path.name[4 : path.name.index("_")])
        saved = np.load(path)
        for key in saved.files:
            maps[key] = saved[key].astype(np.float32)
            fold_of[key] = fold
    if not maps:
        raise SystemExit(f"no fold*_{method}.npz in {folder}")
    return maps, fold_of


def disagreeing_edges(grey: np.ndarray, truth: np.ndarray, predicted: np.ndarray, sigma: float):
    """Mean edge strength on the true and the predicted nucleus border where they are apart.

    (nan, nan) when either border has fewer than 10 such pixels.
    """
    true_border = segmentation.find_boundaries(truth == NUCLEUS, mode="thick")
    pred_border = segmentation.find_boundaries(predicted == NUCLEUS, mode="thick")
    only_true = true_border & (ndi.distance_transform_edt(~pred_border) > APART_PX)
    only_pred = pred_border & (ndi.distance_transform_edt(~true_border) > APART_PX)
    if only_true.sum() < 10 or only_pred.sum() < 10:
        return float("nan"), float("nan")
    edges = filters.sobel(filters.gaussian(grey, sigma))
    return float(edges[only_true].mean()), float(edges[only_pred].mean())


def snap_nucleus(grey: np.ndarray, predicted: np.ndarray, sigma: float, iterations: int):
    """The predicted nucleus moved onto nearby edges, inside the predicted cell."""
    nucleus = predicted == NUCLEUS
    if not nucleus.any():
        return predicted
    speed = segmentation.inverse_gaussian_gradient(grey, alpha=100, sigma=sigma)
    snapped = segmentation.morphological_geodesic_active_contour(
        speed, iterations, init_level_set=nucleus, smoothing=1, balloon=0
    ).astype(bool)
    out = predicted.copy()
    out[nucleus & ~snapped] = CYTOPLASM
    out[snapped & (predicted > 0)] = NUCLEUS
    return out


def figures(masks, preds):
    """Per-image Dice, the N/C agreement summary and per-image absolute N/C errors."""
    dice = np.array([image_score(m, p) for m, p in zip(masks, preds, strict=True)])
    ratios = [nc_ratio(p) for p in preds]
    truths = [nc_ratio(m) for m in masks]
    error = np.nan_to_num(np.abs(np.array(ratios, float) - np.array(truths, float)), nan=9)
    return dice, nc_agreement(ratios, truths), error


def compare(name: str, masks, base_figures, refined=None) -> None:
    """One table row: the refined masks' figures, paired against the plain argmax's."""
    d0, a0, e0 = base_figures
    d1, a1, e1 = (d0, a0, e0) if refined is None else figures(masks, refined)
    row = f"| {name} | {d1.mean():.3f} | {a1['mae']:.3f} | {a1['within']:.2f} | {a1['bias']:+.3f} |"
    if refined is None:
        print(row + " - | - | - |")
        return
    w0, w1 = e0 <= 0.05 + 1e-12, e1 <= 0.05 + 1e-12
    print(
        f"{row} {wilcoxon(d1, d0).pvalue:.3f} | {wilcoxon(e1, e0).pvalue:.3f} | "
        f"{(w1 & ~w0).sum()} / {(~w1 & w0).sum()} |"
    )


def learned_refinement(images, maps, masks, fold_of, ids, steps: int, seed: int = 0):
    """Out-of-fold predictions of a small full-resolution refinement network (see above)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pixels = np.concatenate([im.reshape(-1, 3) for im in images])
    mean, std = pixels.mean(0), pixels.std(0)
    inputs = [
        torch.from_numpy(
            np.concatenate([(im - mean) / std, np.log(np.clip(p, 1e-4, 1))], -1)
            .transpose(2, 0, 1)
            .astype(np.float32)
        )
        for im, p in zip(images, maps, strict=True)
    ]
    targets = [torch.from_numpy(m.astype(np.int64)) for m in masks]

    class Refine(nn.Module):
        def __init__(self, width: int = 16):
            super().__init__()
            layers: list[nn.Module] = [nn.Conv2d(6, width, 3, padding=1), nn.ReLU()]
            for dilation in (2, 4, 8):
                layers += [nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation)]
                layers += [nn.ReLU()]
            layers.append(nn.Conv2d(width, 3, 1))
            nn.init.zeros_(layers[-1].weight)  # starts as the model's own probabilities
            nn.init.zeros_(layers[-1].bias)
            self.body = nn.Sequential(*layers)

        def forward(self, x):
            return x[:, 3:] + self.body(x)

    refined = [None] * len(ids)
    crop, batch = 128, 12
    for fold in sorted(set(fold_of.values())):
        train = [n for n, k in enumerate(ids) if fold_of[k] != fold]
        started = time.perf_counter()
        net = Refine()
        optimizer = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps)
        for _ in range(steps):
            xs, ys = [], []
            for n in rng.choice(train, batch):
                i, j = rng.integers(0, masks[n].shape[0] - crop + 1, 2)
                x = inputs[n][:, i : i + crop, j : j + crop]
                y = targets[n][i : i + crop, j : j + crop]
                turns = int(rng.integers(4))
                x, y = torch.rot90(x, turns, (1, 2)), torch.rot90(y, turns, (0, 1))
                if rng.random() < 0.5:
                    x, y = x.flip(2), y.flip(1)
                xs.append(x)
                ys.append(y)
            loss = F.cross_entropy(net(torch.stack(xs)), torch.stack(ys))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        with torch.no_grad():
            for n, k in enumerate(ids):
                if fold_of[k] == fold:
                    refined[n] = net(inputs[n][None])[0].argmax(0).numpy()
        print(f"  fold {fold}: {time.perf_counter() - started:.0f} s", flush=True)
    return refined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proba", type=Path, metavar="DIR", required=True)
    parser.add_argument("--method", default="unet")
    parser.add_argument("--learned", action="store_true", help="also train the refinement net")
    parser.add_argument("--steps", type=int, default=600, help="training steps a fold")
    args = parser.parse_args()
    maps_by_id, fold_of = load_out_of_fold(args.proba, args.method)
    data = open_dataset(DATA)
    index = {key: n for n, key in enumerate(data.ids)}
    ids = sorted(maps_by_id, key=lambda k: index[k])
    images = [data.image(index[k])[..., :3] for k in ids]
    greys = [color.rgb2gray(im) for im in images]
    masks = [np.asarray(data.mask(index[k])) for k in ids]
    maps = [maps_by_id[k] for k in ids]
    base = [p.argmax(-1) for p in maps]
    print(f"{len(ids)} out-of-fold {args.method} maps from {args.proba}")

    print(f"\nEdge strength where the nucleus borders are more than {APART_PX} px apart:")
    for sigma in (0.5, 1.0, 2.0):
        pairs = np.array(
            [disagreeing_edges(g, m, p, sigma) for g, m, p in zip(greys, masks, base, strict=True)]
        )
        pairs = pairs[~np.isnan(pairs).any(axis=1)]
        true_edge, pred_edge = pairs[:, 0], pairs[:, 1]
        print(
            f"  sigma {sigma}: annotator's border {np.median(true_edge):.4f}, model's "
            f"{np.median(pred_edge):.4f} (median over {len(pairs)} images); the annotator's is "
            f"on the stronger edge in {(true_edge > pred_edge).sum()}, paired Wilcoxon p "
            f"{wilcoxon(true_edge, pred_edge).pvalue:.3f}"
        )

    print(
        "\n| refinement | Dice | N/C MAE | within ±0.05 | bias | Dice p | N/C error p "
        "| gained / lost |"
    )
    print("|---|---|---|---|---|---|---|---|")
    base_figures = figures(masks, base)
    compare("none (argmax)", masks, base_figures)
    for sigma in (1.0, 2.0):
        for iterations in (2, 5, 10):
            snapped = [
                snap_nucleus(g, p, sigma, iterations) for g, p in zip(greys, base, strict=True)
            ]
            compare(
                f"edge snapping, sigma {sigma}, {iterations} iterations",
                masks,
                base_figures,
                snapped,
            )
    if args.learned:
        refined = learned_refinement(images, maps, masks, fold_of, ids, args.steps)
        compare(f"learned, full resolution, {args.steps} steps", masks, base_figures, refined)


if __name__ == "__main__":
    main()
