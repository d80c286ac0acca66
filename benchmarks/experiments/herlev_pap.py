"""Which settings and clean-up give good nucleus, cytoplasm and N/C figures on Herlev Pap cells?

Fits one method (with ``--set`` parameters) on one part of Herlev and keeps its probabilities
for the other part in a cache folder, then scores every clean-up variant below on them, by
diagnostic class: nucleus and cytoplasm Dice, nucleus/cell MAE and the share within ±0.05.

``--part select`` fits on the odd stems 1, 5, 9, ... and scores on 3, 7, 11, ... (both inside
the training half), so variants are chosen without the test part; ``--part test`` fits on every
odd stem and scores on the even ones (the bench's ``odd-even`` split). Usage, from the project
root::

    .venv/bin/python benchmarks/experiments/herlev_pap.py --method hgb --part select \\
        --cache /tmp/herlev-hgb-select [--set samples_per_class=3000 ...]

A second run with the same ``--cache`` re-scores without fitting.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from seglab.bench import run_header
from seglab.data import data_home
from seglab.datasets import open_dataset
from seglab.metrics import dice_per_class
from seglab.segmenters import make_segmenter
from seglab.segmenters.base import parse_param_value

HERLEV = data_home() / "herlev"


def parts(ids: list[str], part: str) -> tuple[list[int], list[int]]:
    numbers = [int(s) for s in ids]
    if part == "select":
        train = [i for i, n in enumerate(numbers) if n % 4 == 1]
        test = [i for i, n in enumerate(numbers) if n % 4 == 3]
    else:
        train = [i for i, n in enumerate(numbers) if n % 2 == 1]
        test = [i for i, n in enumerate(numbers) if n % 2 == 0]
    return train, test


def largest(mask: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """The connected component of ``mask`` with the largest area (or ``weight`` sum)."""
    labels, n = ndi.label(mask)
    if n <= 1:
        return mask
    sums = ndi.sum(np.ones_like(labels) if weight is None else weight, labels, range(1, n + 1))
    return labels == 1 + int(np.argmax(sums))


def one_cell(
    labels: np.ndarray, proba: np.ndarray, cell_hull: bool = False, nucleus_hull: bool = False
) -> np.ndarray:
    """One cell per crop: the largest cell component, holes filled; a single nucleus in it
    (the component with the most nucleus probability), holes filled. With ``cell_hull`` or
    ``nucleus_hull``, that region is replaced by its convex hull."""
    from skimage.morphology import convex_hull_image

    cell = ndi.binary_fill_holes(largest(labels > 0))
    if cell_hull and cell.any():
        cell = convex_hull_image(cell)
    nucleus = (labels == 2) & cell
    out = np.where(cell, 1, 0).astype(np.uint8)
    if nucleus.any():
        nucleus = ndi.binary_fill_holes(largest(nucleus, proba[..., 2]))
        if nucleus_hull:
            nucleus = convex_hull_image(nucleus) & cell
        out[nucleus] = 2
    return out


def close_nucleus(labels: np.ndarray, radius: int) -> np.ndarray:
    """The nucleus closed by a disk of ``radius`` (inside the cell), holes filled."""
    from skimage.morphology import disk

    nucleus = labels == 2
    closed = ndi.binary_closing(np.pad(nucleus, radius), disk(radius))[
        radius:-radius, radius:-radius
    ]
    closed = ndi.binary_fill_holes(closed) & (labels > 0)
    out = labels.copy()
    out[closed] = 2
    return out


def variants(
    proba: np.ndarray, mrf_weights=(), nucleus_at=(), closings=()
) -> dict[str, np.ndarray]:
    from seglab.mrf import mrf_labels

    argmax = np.argmax(proba, axis=-1).astype(np.uint8)
    out = {
        "argmax": argmax,
        "one-cell": one_cell(argmax, proba),
        "one-cell nucleus-hull": one_cell(argmax, proba, nucleus_hull=True),
        "one-cell cell-hull": one_cell(argmax, proba, cell_hull=True),
    }
    for radius in closings:
        out[f"one-cell nucleus closed r={radius}"] = close_nucleus(out["one-cell"], radius)
    for t in nucleus_at:  # nucleus wherever its probability reaches t, else the argmax
        labels = np.where(proba[..., 2] >= t, 2, np.argmax(proba[..., :2], axis=-1))
        out[f"nucleus at p>={t:g} one-cell"] = one_cell(labels.astype(np.uint8), proba)
    for weight in mrf_weights:
        labels = mrf_labels(proba, weight, None, False, "auto").astype(np.uint8)
        out[f"mrf {weight:g} one-cell"] = one_cell(labels, proba)
    return out


def nucleus_share(mask: np.ndarray) -> float:
    nucleus, cell = np.count_nonzero(mask == 2), np.count_nonzero(mask > 0)
    return nucleus / cell if cell else float("nan")


def summary(rows: list[dict]) -> dict:
    err = np.array([abs(r["share_pred"] - r["share_true"]) for r in rows])
    err = np.where(np.isnan(err), 1.0, err)
    return {
        "n": len(rows),
        "nucleus": float(np.mean([r["nucleus"] for r in rows])),
        "cytoplasm": float(np.mean([r["cytoplasm"] for r in rows])),
        "mae": float(err.mean()),
        "within": float(np.mean(err <= 0.05)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="hgb")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--part", choices=("select", "test"), default="select")
    parser.add_argument("--cache", required=True, type=Path)
    parser.add_argument("--mrf", default="", help="comma-separated MRF weights to try")
    parser.add_argument("--average", type=Path, help="another cache: score the mean of both")
    parser.add_argument("--nucleus-at", default="", help="comma-separated nucleus thresholds")
    parser.add_argument("--close", default="", help="comma-separated nucleus closing radii")
    args = parser.parse_args()
    print(run_header())
    data = open_dataset(HERLEV)
    classes = {r["stem"]: r["class"] for r in csv.DictReader(open(HERLEV / "classes.csv"))}
    train, test = parts(list(data.ids), args.part)
    args.cache.mkdir(parents=True, exist_ok=True)
    params = dict(kv.split("=", 1) for kv in args.set)
    params = {k: parse_param_value(v) for k, v in params.items()}
    if not (args.cache / "done").exists():
        seg = make_segmenter(args.method, **params)
        images, masks = zip(*(data.pair(i) for i in train), strict=True)
        start = time.perf_counter()
        seg.fit(list(images), list(masks))
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        for i in test:
            image, _ = data.pair(i)
            proba = seg.predict_proba(image)
            order = np.argsort(seg.classes_)
            np.save(args.cache / f"{data.ids[i]}.npy", proba[..., order].astype(np.float16))
        pred_s = (time.perf_counter() - start) / len(test)
        (args.cache / "done").write_text(
            json.dumps(
                {"method": args.method, "params": args.set, "fit_s": fit_s, "pred_s": pred_s}
            )
        )
    info = json.loads((args.cache / "done").read_text())
    print(
        f"{info['method']} {info['params']}: fit {info['fit_s']:.0f} s, "
        f"{1000 * info['pred_s']:.0f} ms/image; {len(train)} train, {len(test)} scored"
    )
    rows: dict[str, list[dict]] = {}
    for i in test:
        stem = data.ids[i]
        _, true = data.pair(i)
        proba = np.load(args.cache / f"{stem}.npy").astype(np.float32)
        if args.average:
            proba = (proba + np.load(args.average / f"{stem}.npy").astype(np.float32)) / 2
        weights = [float(w) for w in args.mrf.split(",") if w]
        ts = [float(t) for t in args.nucleus_at.split(",") if t]
        radii = [int(r) for r in args.close.split(",") if r]
        for name, pred in variants(proba, weights, ts, radii).items():
            d = dice_per_class(true, pred, [0, 1, 2])
            rows.setdefault(name, []).append(
                {
                    "class": classes[stem],
                    "cytoplasm": d[1],
                    "nucleus": d[2],
                    "share_true": nucleus_share(true),
                    "share_pred": nucleus_share(pred),
                }
            )
    for name, rs in rows.items():
        s = summary(rs)
        print(
            f"\n{name}: nucleus {s['nucleus']:.3f} cytoplasm {s['cytoplasm']:.3f} "
            f"nucleus/cell MAE {s['mae']:.3f} within ±0.05 {s['within']:.2f}"
        )
        for cls in sorted({r["class"] for r in rs}):
            c = summary([r for r in rs if r["class"] == cls])
            print(
                f"  {cls:<28} n={c['n']:>3} nucleus {c['nucleus']:.3f} cytoplasm "
                f"{c['cytoplasm']:.3f} MAE {c['mae']:.3f} within {c['within']:.2f}"
            )


if __name__ == "__main__":
    main()
