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

from .errors import ParameterError, SeglabError, naming
from .io import load_image, save_image, save_mask
from .measure import CYTOPLASM, NC_RANGE_ODDS, NUCLEUS, nc_row
from .uncertainty import normalised_entropy

__all__ = ["output_paths", "predict_file", "predict_files"]


def output_paths(out: Path, stem: str, fmt: str) -> dict[str, Path]:
    """Every file a prediction of ``stem`` may write into ``out``."""
    return {
        "mask": out / f"{stem}.{fmt}",
        "proba": out / f"{stem}_proba.tif",
        "uncertainty": out / f"{stem}_uncertainty.tif",
        "geojson": out / f"{stem}.geojson",
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
    nc_odds: float | None = None,
    geojson: bool = False,
    pixel_size: float | None = None,
    cell_model=None,
) -> dict | None:
    """Predict one image file and write its mask (and probabilities, uncertainty) to ``out``.

    With ``nc_odds``, the image's N/C row is returned (:func:`seglab.measure.nc_row`, its
    range at those odds). With ``geojson``, the mask's cells are written to STEM.geojson as
    QuPath objects (:func:`seglab.qupath.write_cells_geojson`; areas in µm² with
    ``pixel_size``; each cell's class with a ``cell_model``). On any failure, the outputs of
    ``path`` already in ``out`` are removed before the error propagates.
    """
    nc = nc_odds is not None
    paths = output_paths(out, path.stem, fmt)
    try:
        image = load_image(path, normalize=normalize)
        probabilities = None
        if proba or uncertainty or ((nc or geojson) and segmenter.has_proba):
            # one run of the model: the mask is the probabilities' labels
            mask, probabilities = segmenter.predict_with_proba(image)
        else:
            mask = segmenter.predict(image)
        save_mask(paths["mask"], mask)
        if proba:
            save_image(paths["proba"], probabilities)
        if uncertainty:
            save_image(paths["uncertainty"], normalised_entropy(probabilities))
        if geojson:
            from .qupath import write_cells_geojson

            write_cells_geojson(
                paths["geojson"],
                mask,
                path.stem,
                pixel_size,
                proba=probabilities,
                classes=segmenter.classes_ if probabilities is not None else None,
                image=image,
                cell_model=cell_model,
            )
    except SeglabError as exc:
        _remove_outputs(paths)
        named = naming(exc, path)
        if named is exc:
            raise
        raise named from exc
    except BaseException:
        _remove_outputs(paths)
        raise
    return nc_row(path.stem, mask, probabilities, segmenter.classes_, nc_odds) if nc else None


def _predict_or_error(segmenter, path: Path, out: Path, *options) -> tuple[str | None, dict | None]:
    try:
        return None, predict_file(segmenter, path, out, *options)
    except (SeglabError, OSError, ValueError, MemoryError) as exc:
        return str(naming(exc, path)), None


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
    nc_rows: list[dict] | None = None,
    nc_odds: float = NC_RANGE_ODDS,
    geojson: bool = False,
    pixel_size: float | None = None,
    resume: bool = False,
    cell_model=None,
) -> list[str]:
    """Predict ``files`` into ``out``; the list of failures (one line each).

    Without ``keep_going`` the first failure is raised (after removing that file's outputs);
    with it, every file is tried and the failures are returned. ``scheduler`` (threads,
    processes, synchronous or a ``dask.distributed`` address) runs files in parallel. With an
    ``nc_rows`` list, each predicted image's N/C row (:func:`seglab.measure.nc_row`, its
    range at ``nc_odds``) is appended to it, in the order of ``files``. With ``geojson``,
    each mask's cells are also written to STEM.geojson as QuPath objects (areas in µm² with
    ``pixel_size``; each cell classified by a ``cell_model``, a
    :class:`seglab.cellclass.CellClassifier`). With ``resume``, a file whose outputs are all
    there already (and, for ``nc_rows``, whose row an interrupted run logged in ``out``) is
    not predicted again.
    """
    from tqdm.auto import tqdm

    if (proba or uncertainty) and not segmenter.has_proba:
        flag = "--proba" if proba else "--uncertainty"
        raise ParameterError(f"{flag}: method {segmenter.name!r} gives labels only")
    nc = nc_rows is not None
    if nc and not {NUCLEUS, CYTOPLASM} <= {int(c) for c in segmenter.classes_}:
        raise ParameterError(
            f"N/C ratios need nucleus ({NUCLEUS}) and cytoplasm ({CYTOPLASM}) classes; the model"
            f" has {sorted(int(c) for c in segmenter.classes_)}"
        )
    if nc and not nc_odds > 1:
        raise ParameterError(f"the N/C range's odds must be > 1, got {nc_odds}")
    if cell_model is not None and not geojson:
        raise ParameterError("--cell-model classifies the cells written by --geojson: add it")
    options = (
        fmt,
        normalize,
        proba,
        uncertainty,
        nc_odds if nc else None,
        geojson,
        pixel_size,
        cell_model,
    )
    rows_log = _RowsLog(out / ROWS_LOG, resume) if nc else None
    wanted = [
        "mask",
        *(
            k
            for k, on in (("proba", proba), ("uncertainty", uncertainty), ("geojson", geojson))
            if on
        ),
    ]

    def done(path: Path) -> bool:
        paths = output_paths(out, path.stem, fmt)
        return (
            resume
            and all(paths[k].exists() for k in wanted)
            and (rows_log is None or path.stem in rows_log.rows)
        )

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
                if done(path):
                    row = rows_log.rows[path.stem] if rows_log else None
                elif keep_going:
                    error, row = _predict_or_error(segmenter, path, out, *options)
                    if error:
                        failures.append(error)
                else:
                    row = predict_file(segmenter, path, out, *options)
                if nc and row is not None:
                    rows_log.add(row)
                    nc_rows.append(row)
                bar.update(1)
            if rows_log:
                rows_log.close()
            return failures
        import dask

        from .tiling.scheduling import model_carrier, model_key, scheduler_context

        batch = max(8, 4 * (os.cpu_count() or 1))
        with scheduler_context(scheduler) as kwargs, model_carrier(segmenter, kwargs) as carried:
            # one key for the model; worker processes load it once (from a file), a
            # cluster's workers receive it once (a scattered future)
            model = model_key(carried)
            for first in range(0, len(files), batch):
                chunk = files[first : first + batch]
                todo = [p for p in chunk if not done(p)]
                tasks = [
                    dask.delayed(_predict_or_error, pure=False)(model, p, out, *options)
                    for p in todo
                ]
                computed = dict(zip(todo, dask.compute(*tasks, **kwargs), strict=True))
                results = [
                    computed.get(p) or (None, rows_log.rows[p.stem] if rows_log else None)
                    for p in chunk
                ]
                errors = [error for error, _ in results if error]
                if nc:
                    for _, row in results:
                        if row is not None:
                            rows_log.add(row)
                            nc_rows.append(row)
                bar.update(len(chunk))
                if errors and not keep_going:
                    raise SeglabError(errors[0])
                failures.extend(errors)
    if rows_log:
        rows_log.close()
    return failures


#: each predicted image's N/C row, logged in the output folder as it is made, so that a
#: resumed run has the rows of the images it does not predict again; removed when complete
ROWS_LOG = ".nc-rows.jsonl"


def _plain(value):
    """A NumPy scalar as the Python number it holds (an int stays an int in the CSV)."""
    return value.item()


class _RowsLog:
    """The N/C rows of a run, one JSON line each, appended and flushed as they come."""

    def __init__(self, path: Path, resume: bool):
        import json

        self.path, self.rows = path, {}
        if resume and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:  # the last line of a killed run, half-written
                    continue
                self.rows[row["image"]] = row
        elif path.exists():
            path.unlink()

    def add(self, row: dict) -> None:
        import json

        if self.rows.get(row["image"]) == row:
            return
        self.rows[row["image"]] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(json.dumps(row, default=_plain) + "\n")

    def close(self) -> None:
        self.path.unlink(missing_ok=True)
