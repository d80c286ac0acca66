"""Predicting many files: one model load, streamed inputs, per-file failures, no stale outputs.

Each input is read, predicted and written on its own (never all in memory); every output is
written under a temporary name and renamed when complete. When an input fails, the outputs
it would have written are removed, so that a mask left by an earlier run never passes for
this run's result. Files run in this process one after another, or in parallel on a Dask
scheduler (``scheduler=``), with the model entering the task graph once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import ParameterError, SeglabError
from .io import load_image, save_image, save_mask

__all__ = ["entropy_uncertainty", "output_paths", "predict_file", "predict_files"]


def entropy_uncertainty(proba: np.ndarray) -> np.ndarray:
    """Per-pixel entropy of class probabilities ``(H, W, K)``, divided by ``log K``: 0 where
    one class has all the probability, 1 where all classes are equally likely.

    Examples
    --------
    >>> entropy_uncertainty(np.array([[[1.0, 0.0], [0.5, 0.5]]])).round(6).tolist()
    [[0.0, 1.0]]
    """
    proba = np.asarray(proba, np.float64)
    k = proba.shape[-1]
    if k < 2:
        return np.zeros(proba.shape[:-1], np.float32)
    p = np.clip(proba, 0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return np.clip(terms.sum(-1) / np.log(k), 0, 1).astype(np.float32)


def output_paths(out: Path, stem: str, fmt: str) -> dict[str, Path]:
    """Every file a prediction of ``stem`` may write into ``out``."""
    return {
        "mask": out / f"{stem}.{fmt}",
        "proba": out / f"{stem}_proba.tif",
        "uncertainty": out / f"{stem}_uncertainty.tif",
    }


def _remove_outputs(paths: dict[str, Path]) -> None:
    for path in paths.values():
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def predict_file(
    segmenter,
    path: Path,
    out: Path,
    fmt: str = "png",
    normalize: str = "dtype",
    proba: bool = False,
    uncertainty: bool = False,
) -> None:
    """Predict one image file and write its mask (and probabilities, uncertainty) to ``out``.

    On any failure, the outputs of ``path`` already in ``out`` are removed before the error
    propagates.
    """
    paths = output_paths(out, path.stem, fmt)
    try:
        image = load_image(path, normalize=normalize)
        if proba or uncertainty:
            probabilities = segmenter.predict_proba(image)
        save_mask(paths["mask"], segmenter.predict(image))
        if proba:
            save_image(paths["proba"], probabilities)
        if uncertainty:
            save_image(paths["uncertainty"], entropy_uncertainty(probabilities))
    except BaseException:
        _remove_outputs(paths)
        raise


def _predict_or_error(segmenter, path: Path, out: Path, *options) -> str | None:
    try:
        predict_file(segmenter, path, out, *options)
    except (SeglabError, OSError, ValueError, MemoryError) as exc:
        return f"{path}: {exc}" if str(path) not in str(exc) else str(exc)
    return None


def predict_files(
    segmenter,
    files: Sequence[Path],
    out: Path,
    fmt: str = "png",
    normalize: str = "dtype",
    proba: bool = False,
    uncertainty: bool = False,
    scheduler: str | None = None,
    keep_going: bool = False,
    progress: bool = True,
) -> list[str]:
    """Predict ``files`` into ``out``; the list of failures (one line each).

    Without ``keep_going`` the first failure is raised (after removing that file's outputs);
    with it, every file is tried and the failures are returned. ``scheduler`` (threads,
    processes, synchronous or a ``dask.distributed`` address) runs files in parallel.
    """
    from tqdm.auto import tqdm

    if (proba or uncertainty) and not segmenter.has_proba:
        flag = "--proba" if proba else "--uncertainty"
        raise ParameterError(f"{flag}: method {segmenter.name!r} gives labels only")
    options = (fmt, normalize, proba, uncertainty)
    failures: list[str] = []
    bar = tqdm(
        total=len(files),
        desc="predict",
        unit="img",
        file=sys.stderr,
        disable=None if progress else True,
    )
    with bar:
        if scheduler is None:
            for path in files:
                if keep_going:
                    error = _predict_or_error(segmenter, path, out, *options)
                    if error:
                        failures.append(error)
                else:
                    predict_file(segmenter, path, out, *options)
                bar.update(1)
            return failures
        import dask

        from .tiled import scheduler_context

        model = dask.delayed(segmenter, pure=True, traverse=False)
        batch = max(8, 4 * (os.cpu_count() or 1))
        with scheduler_context(scheduler) as kwargs:
            for first in range(0, len(files), batch):
                chunk = files[first : first + batch]
                tasks = [
                    dask.delayed(_predict_or_error, pure=False)(model, p, out, *options)
                    for p in chunk
                ]
                errors = [e for e in dask.compute(*tasks, **kwargs) if e]
                bar.update(len(chunk))
                if errors and not keep_going:
                    raise SeglabError(errors[0])
                failures.extend(errors)
    return failures
