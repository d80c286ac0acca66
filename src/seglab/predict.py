"""Predicting inputs of any kind: each routed to whole-image, tiled, slide or OME-Zarr prediction.

:func:`expand_inputs` turns the paths a user gives (files, folders, Zarr arrays) into image
files; :func:`predict_inputs` predicts each the way it must be read:

- a scanner slide (or any TIFF when a level or pixel size is asked for): the chosen level,
  tile by tile, skipping tiles without tissue;
- an OME-Zarr image, or an image larger than ``chunk`` pixels a side: tile by tile, read and
  written lazily (:mod:`seglab.tiling`);
- any other image: whole, many files in parallel on a Dask scheduler if asked
  (:mod:`seglab.batch`);

into a folder of masks named by stem, or, for an output named ``*.ome.zarr``, one image and its
mask as an OME-Zarr label image.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ImageReadError, ParameterError, SeglabError
from .measure import NC_RANGE_ODDS

__all__ = [
    "SLIDE_TILE",
    "PredictSummary",
    "expand_inputs",
    "predict_inputs",
]

# Tile side for slides and OME-Zarr when no chunk is given. Each of the two tiles in flight
# holds `rf`'s filter bank over the tile and its context: on an 8,000-pixel slide, 768-pixel
# tiles peak at 1.12 GiB in 56 s, 1024 at 1.35 GiB in 50 s, and 2048 would pass 2 GiB
# (docs/research/2026-12-06-slide-memory-streamed.md).
SLIDE_TILE = 768


@dataclass
class PredictSummary:
    """What :func:`predict_inputs` did: where, how many inputs, which failed."""

    output: Path
    total: int
    tiled: int = 0
    failures: list[str] = field(default_factory=list)
    #: each predicted image's N/C row (:func:`seglab.measure.nc_row`), when asked for
    nc_rows: list[dict] | None = None
    ome_zarr: bool = False
    #: tiles that could not be decoded and were left as background (with ``keep_going``)
    damaged: list[str] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.total - len(self.failures)


def expand_inputs(inputs: list[str | os.PathLike]) -> list[Path]:
    """Image files of ``inputs``: files as they are, a ``.zarr`` folder as one image, and any
    other folder as the images in it (or in its ``images/`` or ``X/``). Refuses a missing
    path, a folder without images and two inputs with one stem (their masks would collide)."""
    from .io import IMAGE_SUFFIXES, list_image_files

    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir() and path.suffix.lower() == ".zarr":
            files.append(path)  # a Zarr array is one image
        elif path.is_dir():
            folder = path / "images" if (path / "images").is_dir() else path
            folder = path / "X" if (path / "X").is_dir() else folder
            found = list_image_files(folder)
            if not found:
                raise ImageReadError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif not path.exists():
            raise ImageReadError(f"{path}: no such file")
        else:
            files.append(path)
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise ImageReadError(f"two inputs share the stem {dup!r}; their masks would collide")
    return files


def predict_inputs(
    segmenter,
    inputs: list[str | os.PathLike],
    output: str | os.PathLike,
    *,
    fmt: str = "png",
    normalize: str = "dtype",
    proba: bool = False,
    uncertainty: bool = False,
    nc: bool = False,
    odds: float = NC_RANGE_ODDS,
    geojson: bool = False,
    pixel_size: float | None = None,
    chunk: int | None = None,
    scheduler: str | None = None,
    level: int | None = None,
    mpp: float | None = None,
    all_tiles: bool = False,
    ngff: str = "0.4",
    keep_going: bool = False,
    resume: bool = False,
    cell_model=None,
) -> PredictSummary:
    """Predict every input with ``segmenter``, each routed as the module says.

    Parameters
    ----------
    segmenter : Segmenter or path
        A fitted segmenter, or a ``.seglab`` model file (loaded once for every input, after
        the options are checked).
    inputs : list of paths
        Files or folders (:func:`expand_inputs`).
    output : path
        A folder of masks (``STEM.png``, or ``.tif``/``.zarr`` for tiled ones), or
        ``OUT.ome.zarr`` for one image and its mask as OME-Zarr.
    fmt, normalize, proba, uncertainty, geojson, pixel_size
        As :func:`seglab.batch.predict_files`; ``proba`` and ``uncertainty`` are refused for
        tiled inputs.
    nc, odds
        Collect each image's N/C row (with its range at ``odds``) in the summary's
        ``nc_rows``; refused for tiled inputs, whose masks ``seglab nc-ratio`` measures.
    chunk, scheduler
        Tile side for images larger than it (slides and OME-Zarr are always tiled, by
        :data:`SLIDE_TILE` unless given), and the Dask scheduler.
    level, mpp, all_tiles
        Slides: the pyramid level or the pixel size to predict, and whether to predict tiles
        without tissue.
    ngff : {"0.4", "0.5"}
        The OME-NGFF version of an ``.ome.zarr`` output.
    keep_going : bool
        Record failed inputs in the summary instead of stopping at the first.
    resume : bool
        Go on with the job an earlier run of the same command left unfinished: a tiled mask
        from its last complete row of tiles, a folder of outputs without the inputs whose
        outputs are complete. Without it, the partial mask of an interrupted run is refused.
    cell_model : CellClassifier or path, optional
        With ``geojson``: each cell's class (:mod:`seglab.cellclass`), as its QuPath
        classification; whole images only.
    """
    from .io import make_output_folder, remove_stale_parts
    from .locks import output_lock
    from .omezarr import OmeZarrImage, is_ome_zarr
    from .slides import is_slide, open_level
    from .tiling import check_chunk, check_scheduler
    from .tiling.reading import is_tiff, larger_than

    if chunk is not None:
        check_chunk(chunk)
    check_scheduler(scheduler)
    if pixel_size is not None and not pixel_size > 0:
        raise ParameterError(f"--pixel-size {pixel_size}: expected micrometres, > 0")
    if isinstance(segmenter, (str, os.PathLike)):
        from .modelfile import load

        segmenter = load(segmenter)
    if cell_model is not None and not geojson:
        raise ParameterError("--cell-model classifies the cells written by --geojson: add it")
    if isinstance(cell_model, (str, os.PathLike)):
        from .modelfile import load_cell_classifier

        cell_model = load_cell_classifier(cell_model)
    for flag, wanted in (("--proba", proba), ("--uncertainty", uncertainty)):
        if wanted and not segmenter.has_proba:
            raise ParameterError(f"{flag}: method {segmenter.name!r} gives labels only")
    files = expand_inputs(inputs)
    slide_options = level is not None or mpp is not None
    slides = [p for p in files if is_slide(p) or (slide_options and is_tiff(p))]
    if slide_options and not slides:
        raise ParameterError("--level and --mpp choose a level of a slide; no input is a slide")
    failures, unopened = [], []
    levels = {}  # each slide opened, and its level checked, before anything is written
    for path in files:
        try:
            if path in slides:
                levels[path] = open_level(path, level, mpp)
            elif is_ome_zarr(path):
                OmeZarrImage(path)  # its metadata checked
        except SeglabError as exc:
            if not keep_going:
                raise
            failures.append(str(exc))
            unopened.append(path)
    files = [p for p in files if p not in unopened]
    # one job per output: a second one would interleave its files with this one's
    with output_lock(output):
        tiling = _Tiling(
            segmenter, chunk, scheduler, normalize, pixel_size, all_tiles, resume, keep_going
        )
        if str(output).lower().endswith(".ome.zarr"):
            if failures:
                raise SeglabError(failures[0])
            for flag, used in (("--proba", proba), ("--uncertainty", uncertainty)):
                if used:
                    raise ParameterError(f"{flag} is not written into an OME-Zarr; use -o FOLDER")
            if nc or geojson:
                raise ParameterError("--nc and --geojson write beside masks; use -o FOLDER")
            if len(files) != 1:
                raise ParameterError(
                    f"-o {output}: an OME-Zarr holds one image; {len(files)} given"
                )
            tiling.to_ome_zarr(files[0], Path(output), levels.get(files[0]), ngff)
            return PredictSummary(
                Path(output), total=1, tiled=1, ome_zarr=True, damaged=tiling.damage
            )
        out = make_output_folder(output)
        remove_stale_parts(out)  # left by an earlier run that was killed
        large = [
            p for p in files if p in levels or is_ome_zarr(p) or (chunk and larger_than(p, chunk))
        ]
        if large and (proba or uncertainty):
            raise ParameterError("--proba and --uncertainty are not available with --chunk tiling")
        if large and nc:
            raise ParameterError(
                f"--nc: {large[0]} is predicted tile by tile; measure its mask with"
                " `seglab nc-ratio OUT --chunk N` instead"
            )
        if large and cell_model is not None:
            raise ParameterError(
                f"--cell-model: {large[0]} is predicted tile by tile, and its cells are measured"
                " without its pixels; classify the cells of whole images"
            )
        small = [p for p in files if p not in large]
        nc_rows: list[dict] | None = [] if nc else None
        for path in large:
            try:
                tiling.to_folder(path, out, levels.get(path), geojson)
            except SeglabError as exc:
                if not keep_going:
                    raise
                failures.append(str(exc))
        from .batch import predict_files

        failures += predict_files(
            segmenter,
            small,
            out,
            fmt=fmt,
            normalize=normalize,
            proba=proba,
            uncertainty=uncertainty,
            scheduler=scheduler,
            keep_going=keep_going,
            nc_rows=nc_rows,
            nc_odds=odds,
            geojson=geojson,
            pixel_size=pixel_size,
            resume=resume,
            cell_model=cell_model,
        )
        return PredictSummary(
            out,
            total=len(files) + len(unopened),
            tiled=len(large),
            failures=failures,
            nc_rows=nc_rows,
            damaged=tiling.damage,
        )


@dataclass
class _Tiling:
    """Tile-by-tile prediction of one input with the run's settings."""

    segmenter: object
    chunk: int | None
    scheduler: str | None
    normalize: str
    pixel_size: float | None
    all_tiles: bool
    resume: bool = False
    keep_going: bool = False
    #: what went wrong and was worked around: a damaged tile left as background, one line each
    damage: list[str] = field(default_factory=list)

    def mask_file(self, path: Path, mask_path: Path, level=None, predict: bool = True):
        """Predict ``path`` into ``mask_path``: a slide at its ``level``
        (:func:`seglab.slides.open_level`), skipping tiles without tissue unless
        ``all_tiles``; with ``predict`` False only what it would read. Returns what was read
        (the level, or the path) and the pixel size in µm, if known."""
        from .slides import tissue_mask
        from .tiling import predict_to_file

        source, tissue, pixel_size = path, None, self.pixel_size
        if level is not None:
            source, pixel_size = level, pixel_size or level.mpp
            if predict and not self.all_tiles and len(level.levels) > 1:
                tissue = tissue_mask(level)
        if not predict:
            return source, pixel_size
        damaged = []
        if self.keep_going:  # each tile decoded once: the damaged ones are left as background
            from .tiling.reading import damaged_tiles

            damaged = damaged_tiles(source)
            self.damage += [f"{d.reason}; left as background" for d in damaged]
        predict_to_file(
            self.segmenter,
            source,
            mask_path,
            chunk=self.chunk or SLIDE_TILE,
            scheduler=self.scheduler,
            normalize=self.normalize,
            tissue=tissue,
            pixel_size=pixel_size,
            resume=self.resume,
            damaged=damaged,
        )
        return source, pixel_size

    def to_folder(self, path: Path, out: Path, level, geojson: bool) -> None:
        """OUT/STEM.tif (or .zarr), then its cells to STEM.geojson if asked."""
        from .slides import slide_id
        from .tiling import partial_path

        stem = slide_id(path)
        suffix = ".zarr" if path.suffix.lower() == ".zarr" else ".tif"
        mask_path = out / f"{stem}{suffix}"
        geojson_path = out / f"{stem}.geojson"
        # a resumed job keeps a mask that is complete (written whole, then renamed)
        complete = self.resume and mask_path.exists() and not partial_path(mask_path).exists()
        if complete and (not geojson or geojson_path.exists()):
            return
        _, pixel_size = self.mask_file(path, mask_path, level, predict=not complete)
        if geojson:
            from .qupath import write_cells_geojson

            write_cells_geojson(
                geojson_path,
                mask_path,
                stem,
                pixel_size,
                chunk=self.chunk or SLIDE_TILE,
                progress=True,
            )

    def to_ome_zarr(self, path: Path, out: Path, level, ngff: str) -> None:
        """One image and its mask as an OME-Zarr (image + labels/seglab)."""
        import dask
        import dask.array as da

        from .datasets import class_names_for
        from .omezarr import write_labelled_image
        from .tiling import open_lazy, scheduler_context

        chunk = self.chunk or SLIDE_TILE
        mask_path = out.with_name(f".{out.name}.mask.zarr")  # predicted once, then pyramided
        try:
            source, _ = self.mask_file(path, mask_path, level)
            mask = da.from_zarr(str(mask_path))
            names = list(class_names_for(max(int(c) for c in self.segmenter.classes_)))
            with scheduler_context(self.scheduler) as kwargs, dask.config.set(**kwargs):
                write_labelled_image(
                    out,
                    open_lazy(source, chunk),
                    mask,
                    names,
                    chunk=min(chunk, 1024),
                    version=ngff,
                )
        finally:
            shutil.rmtree(mask_path, ignore_errors=True)
