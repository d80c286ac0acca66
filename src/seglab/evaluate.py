"""Scoring a saved model on a data set, or predicted masks against true ones.

Both give the bench JSON (:func:`seglab.bench.bench_payload`) with one method entry, as
``seglab evaluate`` prints and writes it; :func:`evaluation_notes` says in words what its
uncertainty and N/C range figures mean.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .bench import (
    add_without_duplicates,
    bench_payload,
    evaluate_segmenter,
    near_duplicate_report,
    score_predictions,
)
from .datasets import Dataset, class_names_for, make_splits
from .errors import DataSetError, SeglabError
from .io import MASK_SUFFIXES, list_image_files, load_mask
from .segmenters.base import Segmenter

__all__ = ["evaluate_model", "evaluate_predictions", "evaluation_notes"]

_ENTRY_FIELDS = ("score", "dice", "iou", "nc", "cells", "confusion")


def _entry(name: str, result: dict, seconds: float) -> dict:
    return {
        "name": name,
        "params": {},
        **{k: result[k] for k in _ENTRY_FIELDS},
        **{k: result[k] for k in ("uncertainty", "nc_range") if k in result},
        "fit_seconds": 0.0,
        "predict_seconds_per_image": seconds,
        "per_image": result["per_image"],
    }


def evaluate_model(
    segmenter: Segmenter,
    dataset: Dataset,
    split: str | None = None,
    failures: list[str] | None = None,
) -> dict:
    """Score a fitted ``segmenter`` on the test part of ``split`` of ``dataset``.

    Images are checked for near-duplicates across the split first, as in ``seglab bench``
    (an unreadable file stops the run at once unless ``failures`` is a list, which then
    receives each image that cannot be read or predicted). Methods with probabilities also
    get the uncertainty and N/C range figures.

    Examples
    --------
    >>> import seglab
    >>> data = seglab.synthetic_cells(4, size=48)
    >>> seg = seglab.make_segmenter("threshold").fit([data.image(0)])
    >>> payload = evaluate_model(seg, data, "random:0")
    >>> payload["methods"][0]["name"], payload["n_test"]
    ('threshold', 1)
    """
    if not dataset.has_masks:
        raise DataSetError(f"{dataset.source}: evaluate needs masks")
    splits = make_splits(dataset, split)
    test = np.concatenate([s[1] for s in splits])
    duplicates = near_duplicate_report(dataset, splits, keep_going=failures is not None)
    result, seconds = evaluate_segmenter(
        segmenter,
        dataset,
        test,
        known_labels={int(c) for c in segmenter.classes_},
        uncertainty=segmenter.has_proba,
        failures=failures,
    )
    entry = _entry(segmenter.name, result, seconds)
    add_without_duplicates(entry, duplicates)
    return bench_payload(
        data=str(dataset.source),
        split=split or "default",
        n_train=0,
        n_test=len(test),
        classes=list(result["dice"]),
        methods=[entry],
        near_duplicates=duplicates,
    )


def evaluate_predictions(
    pred: str | os.PathLike,
    true: str | os.PathLike,
    failures: list[str] | None = None,
) -> dict:
    """Score the masks in folder ``pred`` against those in ``true``, matched by file stem.

    A prediction may also be a GeoJSON of cell objects (``STEM.geojson``, as ``seglab predict
    --geojson`` or QuPath writes them): its cells are scored as they are, and its mask is
    theirs (cells' polygons cytoplasm, their nuclei nucleus). A true mask without a
    prediction is an error, unless ``failures`` is a list: it is then recorded there and the
    others are scored. ``n_test`` counts the true masks.
    """
    pred_files = {p.stem: p for p in list_image_files(pred, MASK_SUFFIXES)}
    for path in sorted(Path(pred).glob("*.geojson")):
        pred_files.setdefault(path.stem, path)
    true_files = list_image_files(true, MASK_SUFFIXES)
    if not true_files:
        raise DataSetError(f"{true}: no mask files")
    missing = [p.stem for p in true_files if p.stem not in pred_files]
    if missing and failures is None:
        raise DataSetError(
            f"{pred}: no predicted mask for {missing[0]!r} ({len(missing)} missing;"
            " --keep-going scores the others)"
        )
    masks = []
    for p in true_files:
        if p.stem in missing:
            failures.append(f"{pred}: no predicted mask for {p.stem!r}")
            continue
        try:
            true_mask = load_mask(p)
            if pred_files[p.stem].suffix == ".geojson":
                from .qupath import read_cells_geojson

                cells, mask = read_cells_geojson(pred_files[p.stem], true_mask.shape)
                masks.append((p.stem, true_mask, mask, {"cells": cells}))
            else:
                masks.append((p.stem, true_mask, load_mask(pred_files[p.stem])))
        except SeglabError as exc:
            if failures is None:
                raise
            failures.append(str(exc))
    if not masks:
        raise DataSetError(f"{pred}: no prediction matches a mask of {true}")
    for stem, t, p, *_ in masks:
        if t.shape != p.shape:
            raise DataSetError(f"{stem}: true mask {t.shape} and prediction {p.shape} differ")
    top = max(int(max(t.max(), p.max())) for _, t, p, *_ in masks)
    result = score_predictions(masks, class_names_for(top))
    return bench_payload(
        data=str(Path(true)),
        split="-",
        n_train=0,
        n_test=len(masks),
        classes=list(result["dice"]),
        methods=[_entry("predictions", result, 0.0)],
    )


def evaluation_notes(entry: dict) -> list[str]:
    """What a method entry's uncertainty and N/C range figures say, one sentence a line."""
    lines = []
    if "uncertainty" in entry:
        u = entry["uncertainty"]
        lines.append(
            f"mean uncertainty {u['mean']:.3f}; correlation of an image's mean uncertainty with"
            f" its error (1 - score): {u['error_correlation']:+.2f} (per-image values in --json)"
        )
    if "nc_range" in entry:
        r = entry["nc_range"]
        lines.append(
            f"N/C range (nucleus probability / and x {r['odds']:g}): holds the true ratio on"
            f" {r['coverage']:.0%} of images, median width {r['median_width']:.2f}; rank"
            f" correlation of its width with the N/C error {r['width_error_spearman']:+.2f}"
        )
        calibrated = r.get("calibrated_odds", {})
        if calibrated and math.isfinite(calibrated["odds"]):
            lines.append(
                f"for {calibrated['coverage']:.0%} coverage on images like these: --odds"
                f" {calibrated['odds']:.3g} (split-conformal, from these {r['n']} images)"
            )
        elif calibrated:
            lines.append(
                f"too few images, or too wide a spread, to calibrate the odds for"
                f" {calibrated['coverage']:.0%} coverage"
            )
    return lines
