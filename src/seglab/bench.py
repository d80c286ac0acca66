"""Scoring and benchmarking: one code path for `evaluate`, `bench` and `demo`.

Every figure seglab reports comes from :func:`score_predictions`, so the leaderboard, the JSON
and the report agree by construction.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import sys
import time
from collections.abc import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from .datasets import (
    COURSE_CLASSES,
    NEAR_DUPLICATE_CORRELATION,
    Dataset,
    duplicates_across,
    make_splits,
    near_duplicates,
)
from .errors import DataSetError, ParameterError, SeglabError, naming
from .measure import (
    NC_RANGE_ODDS,
    CellComparison,
    cell_scores,
    compare_cells,
    label_cells,
    nc_agreement,
    nc_odds_needed,
    nc_ratio,
    nc_ratio_range,
    nucleus_cell_ratio,
    odds_for_coverage,
    reference_cells,
)
from .metrics import confusion_matrix, dice_per_class, iou_per_class
from .segmenters.base import Segmenter, make_segmenter

__all__ = [
    "DEFAULT_METHODS",
    "fast_methods",
    "format_leaderboard",
    "image_class_figures",
    "machine_description",
    "nc_range_summary",
    "near_duplicate_report",
    "run_bench",
    "run_header",
    "score_predictions",
]

#: coverage the N/C range's odds are calibrated for in `evaluate` and `bench --uncertainty`
NC_TARGET_COVERAGE = 0.8

#: methods `bench` runs when none are named (fast ones; slow ones are asked for by name)
#: The methods the quick examples and tests use; `seglab bench` defaults to every fast method.
DEFAULT_METHODS: tuple[str, ...] = ("threshold", "tuned-threshold", "kmeans", "rf")


def fast_methods() -> list[str]:
    """Every registered, installed method that fits in seconds (all but the slow ones)."""
    from .segmenters import list_segmenters

    return [r["name"] for r in list_segmenters() if r["available"] and not r["slow"]]


def machine_description() -> str:
    """E.g. ``"2 cores, Linux x86_64"``."""
    return f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def run_header(argv: Sequence[str] | None = None) -> str:
    """The two lines a benchmark script prints first: its command line, machine and date.

    Parameters
    ----------
    argv : sequence of str, optional
        The command line; ``sys.argv`` when omitted (the script's path is shortened to
        ``benchmarks/NAME.py``, as it is run from the project root).

    Examples
    --------
    >>> print(run_header(["benchmarks/unet.py", "--set", "depth=4"]).splitlines()[0])
    command: python benchmarks/unet.py --set depth=4
    """
    argv = list(sys.argv if argv is None else argv)
    script = f"benchmarks/{os.path.basename(argv[0])}"
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    return (
        f"command: python {' '.join([script, *argv[1:]])}\n"
        f"machine: {machine_description()}; date: {date} UTC"
    )


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_course_classes(class_names: Sequence[str]) -> bool:
    return tuple(class_names) == COURSE_CLASSES


def score_predictions(
    pairs: Iterable[tuple], class_names: Sequence[str], proba_classes: Sequence[int] | None = None
) -> dict:
    """Score ``(id, true_mask, predicted_mask)`` triples (the bench JSON of docs/design.md).

    Returns the ``score``, ``dice``, ``iou``, ``nc``, ``cells`` and ``per_image`` parts of the
    bench JSON. The per-image score is the mean Dice over every class but 0; N/C figures are
    given when the classes are the course's (background, cytoplasm, nucleus), and so are the
    per-cell ones (:func:`cell_figures`): the cells of each prediction against the true
    cells (:func:`seglab.measure.reference_cells`). A triple may carry a fourth item, a dict:
    its ``"cells"`` are the prediction's cells as given (a label image, say from a GeoJSON),
    else they are found (:func:`seglab.measure.find_cells`) with its ``"proba"``, columns in
    the order of ``proba_classes``, when it has them.
    """
    labels = list(range(len(class_names)))
    with_nc = _is_course_classes(class_names)
    per_image, dices, ious = [], [], []
    confusion = np.zeros((len(labels), len(labels)), np.int64)
    for image_id, true, pred, *extra in pairs:
        extra = extra[0] if extra else {}
        confusion += confusion_matrix(true, pred, len(labels))
        d = dice_per_class(true, pred, labels)
        dices.append(d)
        ious.append(iou_per_class(true, pred, labels))
        row = {
            "id": str(image_id),
            "score": float(np.mean(d[1:])),
            "dice": {name: float(v) for name, v in zip(class_names[1:], d[1:], strict=True)},
        }
        if with_nc:
            row["nc_true"] = nc_ratio(true)
            row["nc_pred"] = nc_ratio(pred)
            row["nucleus_cell_true"] = nucleus_cell_ratio(true)
            row["nucleus_cell_pred"] = nucleus_cell_ratio(pred)
            found = extra.get("cells")
            if found is None:
                found = label_cells(pred, proba=extra.get("proba"), classes=proba_classes)
            comparison = compare_cells(found, pred, reference_cells(true), true)
            row["cells"] = comparison.to_dict()
        per_image.append(row)
    if not per_image:
        raise DataSetError("nothing to score: no test images")
    scores = np.array([row["score"] for row in per_image])
    dice_mean, iou_mean = np.mean(dices, axis=0), np.mean(ious, axis=0)
    result = {
        "score": {"mean": float(scores.mean()), "std": float(scores.std())},
        "dice": {name: float(v) for name, v in zip(class_names, dice_mean, strict=True)},
        "iou": {name: float(v) for name, v in zip(class_names, iou_mean, strict=True)},
        "nc": None,
        "cells": None,
        "confusion": confusion.tolist(),
        "per_image": per_image,
    }
    if with_nc:
        result["nc"] = _nc_summary(per_image)
        result["cells"] = cell_figures(per_image)
    return result


def cell_figures(rows: list[dict]) -> dict | None:
    """The ``cells`` part of the bench JSON from per-image rows: the per-cell figures of
    :func:`seglab.measure.cell_scores` over every image; None when the rows have no cells."""
    if not rows or "cells" not in rows[0]:
        return None
    total = CellComparison()
    for row in rows:
        total = total + CellComparison.from_dict(row["cells"])
    return cell_scores(total)


def _nc_summary(rows: list[dict]) -> dict:
    """The ``nc`` part of the bench JSON (docs/design.md) from per-image rows: N/C
    (nucleus / cytoplasm) agreement, and under ``nucleus_cell`` that of nucleus / (nucleus +
    cytoplasm), the bounded ratio of a single-cell image."""
    agreement = nc_agreement([r["nc_pred"] for r in rows], [r["nc_true"] for r in rows])
    summary = {
        "mae": agreement["mae"],
        "r2": agreement["r2"],
        "within_0.05": agreement["within"],
        "bias": agreement["bias"],
        "loa": agreement["loa"],
        "nan": agreement["nan"],
    }
    if rows and "nucleus_cell_true" in rows[0]:
        cell = nc_agreement(
            [r["nucleus_cell_pred"] for r in rows], [r["nucleus_cell_true"] for r in rows]
        )
        summary["nucleus_cell"] = {
            "mae": cell["mae"],
            "within_0.05": cell["within"],
            "bias": cell["bias"],
        }
    return summary


def image_class_figures(rows: list[dict], class_names: Sequence[str]) -> dict:
    """Figures of the per-image rows grouped by their ``image_class`` (a single cell's
    diagnosis, say): for each class ``n``, the mean ``score`` and ``dice`` per mask class, and
    with N/C figures the ``nucleus_cell`` agreement (``mae``, ``within_0.05``, ``bias``).
    Rows without a class are left out.

    Examples
    --------
    >>> rows = [{"image_class": "a", "score": 0.8, "dice": {"cell": 0.8}},
    ...         {"image_class": "a", "score": 0.6, "dice": {"cell": 0.6}},
    ...         {"image_class": "b", "score": 1.0, "dice": {"cell": 1.0}}]
    >>> figures = image_class_figures(rows, ["background", "cell"])
    >>> figures["a"]["n"], round(figures["a"]["dice"]["cell"], 3), figures["b"]["score"]
    (2, 0.7, 1.0)
    """
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("image_class") is not None:
            groups.setdefault(row["image_class"], []).append(row)
    out = {}
    for name in sorted(groups):
        group = groups[name]
        entry = {
            "n": len(group),
            "score": float(np.mean([r["score"] for r in group])),
            "dice": {c: float(np.nanmean([r["dice"][c] for r in group])) for c in class_names[1:]},
        }
        if "nucleus_cell_true" in group[0]:
            entry["nucleus_cell"] = _nc_summary(group)["nucleus_cell"]
        out[name] = entry
    return out


def evaluate_segmenter(
    segmenter: Segmenter,
    dataset: Dataset,
    test: Sequence[int],
    desc: str | None = None,
    known_labels: set[int] | None = None,
    uncertainty: bool = False,
    failures: list[str] | None = None,
) -> tuple[dict, float]:
    """Predict and score the images ``test`` of ``dataset``; also the seconds per image.

    With ``known_labels`` (a saved model's classes), a true mask holding any other label is
    refused with a DataSetError before it is predicted. With ``uncertainty`` (methods with
    probabilities), each image's mean per-pixel uncertainty (normalised entropy) is added to
    its row, and the result's ``uncertainty`` holds its correlation with the image's error
    (1 - score); the labels then come from the same run as the probabilities
    (:meth:`~seglab.Segmenter.predict_with_proba`), which the timing includes. With a
    ``failures`` list, an image that cannot be read or predicted is recorded there
    (``"id: reason"``) and skipped instead of stopping the run.
    """
    from .uncertainty import normalised_entropy

    class_names = dataset.resolved_class_names()
    seconds = 0.0
    uncertainty = uncertainty and segmenter.has_proba
    with_nc = _is_course_classes(class_names)
    # Cells are found with the probabilities where the method has them, as `predict` does.
    with_proba = segmenter.has_proba and (uncertainty or with_nc)
    mean_uncertainty: dict[str, float] = {}
    nc_range: dict[str, tuple[float, float, float]] = {}

    failed_before = len(failures) if failures is not None else 0

    def pairs():
        nonlocal seconds
        scored = 0
        for i in tqdm(
            test,
            desc=desc or f"predict {segmenter.name}",
            unit="img",
            file=sys.stderr,
            leave=False,
            disable=None,
        ):
            try:
                image, true = dataset.pair(int(i))
            except SeglabError as exc:
                _skip_or_raise(failures, dataset.ids[int(i)], exc)
                continue
            if known_labels is not None:
                unknown = {int(v) for v in np.unique(true)} - {-1} - known_labels
                if unknown:
                    raise DataSetError(
                        f"{dataset.source}: mask {dataset.ids[int(i)]} has label(s) "
                        f"{sorted(unknown)} that the model does not know (its classes: "
                        f"{sorted(known_labels)})"
                    )
            start = time.perf_counter()
            try:
                if with_proba:  # one run of the model gives both
                    pred, proba = segmenter.predict_with_proba(image)
                else:
                    pred = segmenter.predict(image)
            except SeglabError as exc:
                _skip_or_raise(failures, dataset.ids[int(i)], naming(exc, dataset.describe(int(i))))
                continue
            seconds += time.perf_counter() - start
            if uncertainty:
                mean_uncertainty[dataset.ids[int(i)]] = float(normalised_entropy(proba).mean())
                if with_nc:
                    classes, truth = segmenter.classes_, nc_ratio(true)
                    nc_range[dataset.ids[int(i)]] = (
                        *nc_ratio_range(proba, classes),
                        nc_odds_needed(proba, truth, classes),
                    )
            scored += 1
            yield dataset.ids[int(i)], true, pred, ({"proba": proba} if with_proba else {})
        if not scored and failures and len(failures) > failed_before:
            # Else "no test images" would hide why: say that they all failed, and the first reason.
            raise DataSetError(
                f"nothing to score: all {len(test)} test image(s) failed;"
                f" the first: {failures[failed_before]}"
            )

    classes = segmenter.classes_ if with_proba else None
    result = score_predictions(pairs(), class_names, classes)
    if uncertainty:
        for row in result["per_image"]:
            row["uncertainty"] = mean_uncertainty[row["id"]]
            if with_nc:
                row["nc_low"], row["nc_high"], row["nc_odds_needed"] = nc_range[row["id"]]
        result["uncertainty"] = _uncertainty_summary(result["per_image"])
        if with_nc:
            result["nc_range"] = nc_range_summary(result["per_image"])
    return result, seconds / max(len(test), 1)


def nc_range_summary(
    rows: list[dict], odds: float = NC_RANGE_ODDS, coverage: float = NC_TARGET_COVERAGE
) -> dict:
    """How well per-image N/C ranges (``nc_low``, ``nc_high``) fit the true ratios.

    ``coverage``: share of images whose true ratio lies in the range; ``median_width``;
    ``width_error_spearman``: rank correlation of the range's width with the absolute N/C
    error (how well a wide range flags a wrong ratio). Images with an undefined ratio are
    left out. With rows' ``nc_odds_needed``, ``calibrated_odds`` is the odds for
    ``coverage`` of new images (:func:`seglab.measure.odds_for_coverage`).

    Examples
    --------
    >>> rows = [{"nc_true": 0.5, "nc_pred": 0.5, "nc_low": 0.4, "nc_high": 0.6},
    ...         {"nc_true": 1.0, "nc_pred": 0.5, "nc_low": 0.3, "nc_high": 0.9},
    ...         {"nc_true": 2.0, "nc_pred": 1.0, "nc_low": 0.5, "nc_high": 3.0}]
    >>> s = nc_range_summary(rows)
    >>> round(s["coverage"], 3), round(s["median_width"], 3), s["width_error_spearman"]
    (0.667, 0.6, 1.0)
    """
    from scipy.stats import spearmanr

    values = np.array(
        [[r["nc_true"], r["nc_pred"], r["nc_low"], r["nc_high"]] for r in rows], np.float64
    ).reshape(-1, 4)
    values = values[np.isfinite(values).all(axis=1)]
    true, pred, low, high = values.T
    error, width = np.abs(pred - true), high - low
    varied = len(values) > 2 and error.std() > 0 and width.std() > 0
    nan = float("nan")
    summary = {
        "odds": float(odds),
        "n": len(values),
        "coverage": float(np.mean((low <= true) & (true <= high))) if len(values) else nan,
        "median_width": float(np.median(width)) if len(values) else nan,
        "width_error_spearman": float(spearmanr(width, error)[0]) if varied else nan,
    }
    if rows and "nc_odds_needed" in rows[0]:
        needed = [r["nc_odds_needed"] for r in rows if np.isfinite(r["nc_true"])]
        summary["calibrated_odds"] = {
            "coverage": coverage,
            "odds": odds_for_coverage(needed, coverage),
        }
    return summary


def _uncertainty_summary(rows: list[dict]) -> dict:
    """Mean uncertainty and its Pearson correlation with the per-image error (1 - score)."""
    u = np.array([r["uncertainty"] for r in rows], float)
    error = 1 - np.array([r["score"] for r in rows], float)
    varied = len(rows) > 2 and u.std() > 0 and error.std() > 0
    r = float(np.corrcoef(u, error)[0, 1]) if varied else float("nan")
    return {"mean": float(u.mean()), "error_correlation": r}


def _skip_or_raise(failures: list[str] | None, image_id: str, exc: SeglabError) -> None:
    """Record a failed image in ``failures`` (to skip it), or re-raise without a list."""
    if failures is None:
        raise exc
    failures.append(f"{image_id}: {exc}")


def load_split_part(dataset: Dataset, indices: Sequence[int], failures: list[str] | None = None):
    """Images and masks at ``indices``, loaded with a progress bar (with a ``failures`` list,
    unreadable ones are recorded there and left out)."""
    images, masks = [], []
    for i in tqdm(
        indices,
        desc="load training images",
        unit="img",
        file=sys.stderr,
        leave=False,
        disable=None,
    ):
        try:
            image, mask = dataset.pair(int(i))
        except SeglabError as exc:
            _skip_or_raise(failures, dataset.ids[int(i)], exc)
            continue
        images.append(image)
        masks.append(mask)
    return images, masks


def fit_on(
    segmenter: Segmenter,
    dataset: Dataset,
    train: Sequence[int],
    failures: list[str] | None = None,
) -> float:
    """Fit on the images ``train`` of ``dataset``; the seconds it took."""
    images, masks = load_split_part(dataset, train, failures)
    start = time.perf_counter()
    segmenter.fit(images, masks if segmenter.supervised or dataset.has_masks else None)
    return time.perf_counter() - start


def _merge_folds(fold_results: list[dict], class_names: Sequence[str]) -> dict:
    """Combine k-fold results: every image was tested once, so rescore the union of rows."""
    if len(fold_results) == 1:
        return fold_results[0]
    rows = [row for fold in fold_results for row in fold["per_image"]]
    sizes = [len(fold["per_image"]) for fold in fold_results]
    scores = np.array([row["score"] for row in rows])
    merged = {
        "score": {
            "mean": float(scores.mean()),
            "std": float(scores.std()),
            "folds": [fold["score"]["mean"] for fold in fold_results],
        },
        # Weighted by fold size: the exact mean over all tested images.
        "dice": {
            k: float(np.average([f["dice"][k] for f in fold_results], weights=sizes))
            for k in class_names
        },
        "iou": {
            k: float(np.average([f["iou"][k] for f in fold_results], weights=sizes))
            for k in class_names
        },
        "nc": None,
        "cells": cell_figures(rows),
        "confusion": np.sum([f["confusion"] for f in fold_results], axis=0).tolist(),
        "per_image": rows,
    }
    if fold_results[0]["nc"] is not None:
        merged["nc"] = _nc_summary(rows)
    return merged


def near_duplicate_report(dataset: Dataset, splits, keep_going: bool = False) -> dict | None:
    """Which test images have a near-duplicate in their split's training part.

    A copy of a test image (turned, flipped, rescaled; :func:`seglab.datasets.near_duplicates`)
    among the training images makes its score optimistic. Returns ``None`` when no split holds
    out images of its own (``all``), else a dict of ``threshold``, ``groups`` and
    ``test_with_duplicate_in_train``, with image ids. With ``keep_going``, unreadable images
    are left out of the search (the scoring pass reports them).
    """
    if all(np.array_equal(np.sort(train), np.sort(test)) for train, test in splits):
        return None
    groups = near_duplicates(dataset, skip_unreadable=keep_going)
    leaked = sorted({i for train, test in splits for i in duplicates_across(groups, train, test)})
    return {
        "threshold": NEAR_DUPLICATE_CORRELATION,
        "groups": [[dataset.ids[i] for i in group] for group in groups],
        "test_with_duplicate_in_train": [dataset.ids[i] for i in leaked],
    }


def add_without_duplicates(entry: dict, report: dict | None) -> None:
    """Mark ``entry``'s per-image rows whose image leaks (see :func:`near_duplicate_report`)
    and add its figures over the other test images as ``without_near_duplicates``."""
    if not report or not report["test_with_duplicate_in_train"]:
        return
    leaked = set(report["test_with_duplicate_in_train"])
    rows = entry["per_image"]
    for row in rows:
        row["near_duplicate_in_train"] = row["id"] in leaked
    clean = [row for row in rows if not row["near_duplicate_in_train"]]
    if not clean:
        return
    entry["without_near_duplicates"] = {
        "n": len(clean),
        "score": float(np.mean([row["score"] for row in clean])),
        "nc": _nc_summary(clean) if "nc_true" in clean[0] else None,
        "cells": cell_figures(clean),
    }


def format_near_duplicates(result: dict) -> str:
    """Lines for the leaderboard: how many test images leak, and each method without them."""
    report = result.get("near_duplicates")
    if not report or not report["groups"]:
        return ""
    leaked = report["test_with_duplicate_in_train"]
    if not leaked:  # groupkfold, or a split that happens to keep the copies together
        groups, images = len(report["groups"]), sum(len(g) for g in report["groups"])
        return (
            f"near-duplicates: {groups} group{'s' * (groups != 1)} ({images} images) of turned,"
            " flipped or rescaled copies; no test image has one among its training images"
        )
    shown = ", ".join(leaked[:8]) + (", ..." if len(leaked) > 8 else "")
    lines = [
        f"near-duplicates: {len(leaked)} of {result['n_test']} test images ({shown}) have a"
        " turned, flipped or rescaled copy among the training images; without them:"
    ]
    for m in sorted(result["methods"], key=lambda m: -m["score"]["mean"]):
        clean = m.get("without_near_duplicates")
        if not clean:
            continue
        text = f"  {m['name']}: score {_fmt(clean['score'])}"
        if clean["nc"]:
            text += (
                f", N/C MAE {_fmt(clean['nc']['mae'])},"
                f" within ±0.05 {_fmt(clean['nc']['within_0.05'], 2)}"
            )
        lines.append(text + f" ({clean['n']} images)")
    return "\n".join(lines)


def bench_method(
    name: str,
    dataset: Dataset,
    splits,
    params: dict | None = None,
    uncertainty: bool = False,
    failures: list[str] | None = None,
) -> tuple[dict, list[Segmenter]]:
    """Fit and score one method on every split; the JSON entry and the fitted segmenters."""
    class_names = dataset.resolved_class_names()
    fold_results, fitted = [], []
    fit_seconds = predict_seconds = 0.0
    segmenter = make_segmenter(name, **(params or {}))
    for k, (train, test) in enumerate(splits):
        segmenter = make_segmenter(name, **(params or {}))
        fit_seconds += fit_on(segmenter, dataset, train, failures)
        desc = f"{name}" + (f" fold {k + 1}/{len(splits)}" if len(splits) > 1 else "")
        result, per_image_seconds = evaluate_segmenter(
            segmenter, dataset, test, desc, uncertainty=uncertainty, failures=failures
        )
        predict_seconds += per_image_seconds
        fold_results.append(result)
        fitted.append(segmenter)
    merged = _merge_folds(fold_results, class_names)
    entry = {
        "name": name,
        "params": segmenter.get_params(deep=False),
        **{k: merged[k] for k in ("score", "dice", "iou", "nc", "cells", "confusion")},
        "fit_seconds": fit_seconds / len(splits),
        "predict_seconds_per_image": predict_seconds / len(splits),
        "per_image": merged["per_image"],
    }
    if dataset.image_classes:
        for row in entry["per_image"]:
            row["image_class"] = dataset.image_classes.get(row["id"])
        entry["by_image_class"] = image_class_figures(entry["per_image"], class_names)
    if uncertainty and segmenter.has_proba:
        entry["uncertainty"] = _uncertainty_summary(merged["per_image"])
        if merged["per_image"] and "nc_low" in merged["per_image"][0]:
            entry["nc_range"] = nc_range_summary(merged["per_image"])
    return entry, fitted


def run_bench(
    dataset: Dataset,
    methods: Sequence[str] = DEFAULT_METHODS,
    split: str | None = None,
    params: dict[str, dict] | None = None,
    fitted: dict | None = None,
    uncertainty: bool = False,
    failures: list[str] | None = None,
) -> dict:
    """Fit and score each method on ``split`` of ``dataset``; the bench JSON
    (:func:`bench_payload`).

    ``params`` maps a method name to its parameters; a dict passed as ``fitted`` receives each
    method's fitted segmenter (of the first split), e.g. to draw its masks without refitting.

    Examples
    --------
    >>> from seglab.datasets import synthetic_cells
    >>> out = run_bench(synthetic_cells(4, size=64), ["threshold"], split="random:0")
    >>> out["methods"][0]["name"], out["n_test"]
    ('threshold', 1)
    """

    methods = list(methods)
    if not methods:
        raise ParameterError("no method to bench: name at least one")
    if len(set(methods)) != len(methods):
        twice = next(m for m in methods if methods.count(m) > 1)
        raise ParameterError(f"method {twice!r} is named twice; each is benched once")
    splits = make_splits(dataset, split)
    class_names = dataset.resolved_class_names()
    duplicates = near_duplicate_report(dataset, splits, keep_going=failures is not None)
    entries = []
    for name in methods:
        entry, models = bench_method(
            name, dataset, splits, (params or {}).get(name), uncertainty, failures
        )
        add_without_duplicates(entry, duplicates)
        entries.append(entry)
        if fitted is not None:
            fitted[name] = models[0]
        print(f"seglab: {name}: score {entry['score']['mean']:.4f}", file=sys.stderr)
    n_train = len(splits[0][0]) if len(splits) == 1 else int(np.mean([len(s[0]) for s in splits]))
    return bench_payload(
        data=dataset.source,
        split=split or ("given" if dataset.given_split is not None else "all"),
        n_train=n_train,
        n_test=int(sum(len(s[1]) for s in splits)),
        classes=list(class_names),
        methods=entries,
        near_duplicates=duplicates,
    )


def bench_payload(
    *,
    data: str,
    split: str,
    n_train: int,
    n_test: int,
    classes: Sequence[str],
    methods: list[dict],
    near_duplicates: dict | None = None,
) -> dict:
    """The bench JSON, as ``seglab bench`` and ``seglab evaluate`` write it: the run's
    provenance (seglab's version, date, machine), the data and split, and one entry per
    method (:func:`bench_method`'s, or :func:`seglab.evaluate.evaluate_model`'s)."""
    from . import __version__

    return {
        "seglab": __version__,
        "date": _now(),
        "machine": machine_description(),
        "data": str(data),
        "split": split,
        "n_train": n_train,
        "n_test": n_test,
        "classes": list(classes),
        "methods": methods,
        **({"near_duplicates": near_duplicates} if near_duplicates else {}),
    }


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def format_leaderboard(result: dict) -> str:
    """A plain-text table of a bench result, best score first (with nucleus/cell columns for
    a data set whose images have classes: single-cell crops)."""
    classes = result.get("classes") or list(result["methods"][0]["dice"])
    header = ["method", "score", "±std", *[f"dice:{c}" for c in classes[1:]]]
    with_nc = any(m["nc"] for m in result["methods"])
    # Whole-image nucleus/cell is a cell's ratio where each image is one cell: data sets with a
    # class per image (single-cell crops such as Herlev's).
    with_cell_ratio = any(
        (m["nc"] or {}).get("nucleus_cell") and m.get("by_image_class") for m in result["methods"]
    )
    if with_nc:
        header += ["nc_mae", "nc_r2", "nc±0.05"]
    if with_cell_ratio:
        header += ["nuc/cell_mae", "nuc/cell±0.05"]
    with_cells = any(m.get("cells") for m in result["methods"])
    if with_cells:
        header += ["cell_f1", "cell_prec", "cell_rec", "cell_n/c_mae", "kappa_0.7"]
    header += ["fit_s", "pred_ms"]
    rows = []
    for m in sorted(result["methods"], key=lambda m: -m["score"]["mean"]):
        row = [
            m["name"],
            _fmt(m["score"]["mean"]),
            _fmt(m["score"]["std"]),
            *[_fmt(m["dice"][c]) for c in classes[1:]],
        ]
        if with_nc:
            nc = m["nc"] or {}
            row += [_fmt(nc.get("mae")), _fmt(nc.get("r2"), 2), _fmt(nc.get("within_0.05"), 2)]
        if with_cell_ratio:
            ratio = (m["nc"] or {}).get("nucleus_cell") or {}
            row += [_fmt(ratio.get("mae")), _fmt(ratio.get("within_0.05"), 2)]
        if with_cells:
            cells = m.get("cells") or {}
            row += [
                _fmt(cells.get("f1"), 2),
                _fmt(cells.get("precision"), 2),
                _fmt(cells.get("recall"), 2),
                _fmt((cells.get("nucleus_cell") or {}).get("mae")),
                _fmt(cells["flags"][-1]["kappa"], 2) if cells else "-",
            ]
        row += [_fmt(m["fit_seconds"], 2), _fmt(1000 * m["predict_seconds_per_image"], 1)]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        f"data: {result['data']}  split: {result['split']}  train: {result['n_train']}"
        f"  test: {result['n_test']}",
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    duplicates = format_near_duplicates(result)
    return "\n".join(lines + ([duplicates] if duplicates else []))
