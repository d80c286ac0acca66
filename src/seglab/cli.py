"""The ``seglab`` command (DESIGN.md section 4). It only parses arguments and calls the library.

Exit codes: 0 success; 2 bad input or usage (one line on stderr); 1 an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__
from .measure import NC_RANGE_ODDS

EPILOG = """\
data: a folder with images/ + masks/ (matched by file stem), the course's X/ + y/ (.npy), or
train/ + test/ each holding one of those. Images are PNG, TIFF, JPEG or NPY, 8/16-bit, grey,
RGB or RGBA; masks hold the labels themselves (0 background, 1 cytoplasm, 2 nucleus, ...).
splits: course (the course labs' 152/39 split), given (a train/ + test/ folder), all,
random[:SEED], kfold[:K], groupkfold[:K] (k-fold with near-duplicate images, the same picture
turned, flipped or rescaled, kept in one fold).
"""


# Tile side for slides and OME-Zarr when --chunk is not given. Each of the two tiles in flight
# holds `rf`'s filter bank over the tile and its context: on an 8,000-pixel slide, 768-pixel
# tiles peak at 1.12 GiB in 56 s, 1024 at 1.35 GiB in 50 s, and 2048 would pass 2 GiB
# (docs/research/2026-12-06-slide-memory-streamed.md).
SLIDE_TILE = 768


def _parse_value(text: str):
    from .segmenters.base import parse_param_value

    return parse_param_value(text)


def _parse_sets(pairs: list[str] | None) -> dict:
    from .errors import ParameterError

    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ParameterError(f"--set {pair!r}: write it as NAME=VALUE")
        params[key.strip()] = _parse_value(value.strip())
    return params


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _clean_nan(value):
    """JSON has no NaN: write null instead."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_nan(v) for v in value]
    return value


def _write_json(path: str, payload: dict) -> None:
    from .io import atomic_path

    text = json.dumps(_clean_nan(payload), indent=1, default=_json_default)
    if path == "-":
        print(text)
        return
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text + "\n", encoding="utf-8")


def _training_part(args, dataset, command: str):
    """Indices of the training part of a single split (k folds are refused)."""
    from .datasets import make_splits
    from .errors import DataSetError

    splits = make_splits(dataset, args.split)
    if len(splits) != 1:
        raise DataSetError(f"--split {args.split}: {command} needs a single split, not k folds")
    return splits[0][0]


def _provenance(args, train) -> dict:
    return {"data": str(args.data), "split": args.split or "default", "n_images": len(train)}


def _open_data(args):
    from .datasets import open_dataset

    dataset = open_dataset(args.data, normalize=args.normalize)
    if getattr(args, "scribbles", False):
        dataset.scribbles = True
    return dataset


# ----------------------------------------------------------------------------- parser
# Each command's arguments are declared by an add_*_parser function next to its handler;
# build_parser only assembles them.


def _add_command(
    sub: argparse._SubParsersAction, name: str, func, help_text: str
) -> argparse.ArgumentParser:
    """A subcommand that runs ``func(args)``, with the shared epilog on data and splits."""
    p = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=func)
    return p


def _data_options(p: argparse.ArgumentParser, required: bool = True) -> None:
    """--data, --split and --normalize, as every command that reads a data set takes them."""
    p.add_argument("--data", required=required, metavar="DIR", help="data-set folder")
    p.add_argument(
        "--split",
        metavar="S",
        default=None,
        help="course, given, all, random[:SEED], kfold[:K] or groupkfold[:K] "
        "(default: given for a train/+test/ folder, else all)",
    )
    p.add_argument(
        "--normalize",
        choices=["dtype", "minmax"],
        default="dtype",
        help="scale images by their dtype's range (default) or per-image min-max",
    )


# ----------------------------------------------------------------------------- commands


def cmd_methods(args) -> int:
    from .segmenters import list_segmenters

    rows = list_segmenters()
    if args.json:
        _write_json("-", {"methods": rows})
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        kind = "supervised" if r["supervised"] else "unsupervised"
        status = "" if r["available"] else f"  [needs: {r['install']}]"
        print(f"{r['name'].ljust(width)}  {kind:12}  {r['description']}{status}")
        if r["params"]:
            print(
                " " * (width + 2)
                + "params: "
                + ", ".join(f"{k}={v!r}" for k, v in r["params"].items())
            )
        if r["search_space"]:
            print(" " * (width + 2) + "tunes:  " + ", ".join(r["search_space"]))
    return 0


def add_methods_parser(sub: argparse._SubParsersAction) -> None:
    """`seglab methods`'s arguments."""
    p = _add_command(
        sub, "methods", cmd_methods, "List the registered methods and their parameters."
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_train(args) -> int:
    from .bench import fit_on
    from .errors import DataSetError
    from .modelfile import save
    from .segmenters import make_segmenter

    params = _parse_sets(args.set)
    if args.max_minutes is not None:
        params["max_minutes"] = args.max_minutes
    segmenter = make_segmenter(args.method, **params)
    dataset = _open_data(args)
    if not dataset.has_masks and segmenter.supervised:
        raise DataSetError(f"{args.data}: {args.method} is supervised and the data has no masks")
    train = _training_part(args, dataset, "train")
    seconds = fit_on(segmenter, dataset, train)
    save(segmenter, args.output, trained_on=_provenance(args, train))
    print(f"trained {args.method} on {len(train)} images in {seconds:.1f} s -> {args.output}")
    summary = getattr(segmenter, "training_summary", None)
    if summary is not None and (line := summary()):
        print(f"{args.method}: {line}")  # an ensemble's line names its members in turn
    return 0


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    """`seglab train`'s arguments."""
    p = _add_command(
        sub, "train", cmd_train, "Fit a method on the training part of a split and save it."
    )
    p.add_argument("method", help="method name (see `seglab methods`)")
    _data_options(p)
    p.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="method parameter (repeatable); VALUE is read as JSON when it parses",
    )
    p.add_argument(
        "--scribbles",
        action="store_true",
        help="masks are sparse scribbles: 0 = unlabelled, 1.. = classes",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        metavar="M",
        help="bound the training time in minutes (methods with a max_minutes parameter: unet, "
        "20 by default; ensemble, none by default)",
    )
    p.add_argument("-o", "--output", required=True, metavar="MODEL.seglab")
    p.set_defaults(output_files=("output",))


def cmd_tune(args) -> int:
    from .bench import load_split_part
    from .errors import DataSetError
    from .modelfile import save
    from .tune import tune

    dataset = _open_data(args)
    if not dataset.has_masks:
        raise DataSetError(f"{args.data}: tune scores against masks and the data has none")
    train = _training_part(args, dataset, "tune")
    images, masks = load_split_part(dataset, train)
    segmenter = tune(
        args.method,
        images,
        masks,
        n_trials=args.trials,
        seed=args.seed,
        fixed=_parse_sets(args.set),
    )
    save(segmenter, args.output, trained_on=_provenance(args, train))
    info = segmenter.tuning_
    print(
        f"best training score {info['best_value']:.4f} after {len(info['trials'])} trials: "
        + ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in info["best_params"].items()
        )
    )
    print(f"saved {args.output}")
    return 0


def add_tune_parser(sub: argparse._SubParsersAction) -> None:
    """`seglab tune`'s arguments."""
    p = _add_command(
        sub,
        "tune",
        cmd_tune,
        "Bayesian optimisation (Optuna TPE) of a method's parameters on the training part; "
        "saves the refitted best model.",
    )
    p.add_argument("method", help="method name; `seglab methods` lists what each tunes")
    _data_options(p)
    p.add_argument("--trials", type=int, default=50, help="optimisation trials (default 50)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    p.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="fix a parameter instead of tuning it (repeatable)",
    )
    p.add_argument("-o", "--output", required=True, metavar="MODEL.seglab")
    p.set_defaults(output_files=("output",))


def _expand_inputs(inputs: list[str]) -> list[Path]:
    from .errors import ImageReadError
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


def cmd_predict(args) -> int:
    from .batch import predict_files
    from .errors import ParameterError, SeglabError
    from .io import remove_stale_parts
    from .modelfile import load
    from .tiled import check_chunk, check_scheduler

    if args.chunk is not None:
        check_chunk(args.chunk)
    check_scheduler(args.scheduler)
    if args.pixel_size is not None and not args.pixel_size > 0:
        raise ParameterError(f"--pixel-size {args.pixel_size}: expected micrometres, > 0")
    segmenter = load(args.model)  # once, for every input
    for flag, wanted in (("--proba", args.proba), ("--uncertainty", args.uncertainty)):
        if wanted and not segmenter.has_proba:
            raise ParameterError(f"{flag}: method {segmenter.name!r} gives labels only")
    files = _expand_inputs(args.inputs)
    from .slides import is_slide, open_level

    slide_options = args.level is not None or args.mpp is not None
    slides = [p for p in files if is_slide(p) or (slide_options and _is_tiff(p))]
    if slide_options and not slides:
        raise ParameterError("--level and --mpp choose a level of a slide; no input is a slide")
    from .omezarr import OmeZarrImage, is_ome_zarr

    failures, unopened = [], []
    levels = {}  # each slide opened, and its level checked, before anything is written
    for path in files:
        try:
            if path in slides:
                levels[path] = open_level(path, args.level, args.mpp)
            elif is_ome_zarr(path):
                OmeZarrImage(path)  # its metadata checked
        except SeglabError as exc:
            if not args.keep_going:
                raise
            failures.append(str(exc))
            unopened.append(path)
    files = [p for p in files if p not in unopened]
    if args.output.lower().endswith(".ome.zarr"):
        if failures:
            raise SeglabError(failures[0])
        return _predict_ome_zarr(segmenter, files, args, levels)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(out)  # left by an earlier run that was killed
    large = [
        p
        for p in files
        if p in levels or is_ome_zarr(p) or (args.chunk and _larger_than(p, args.chunk))
    ]
    if large and (args.proba or args.uncertainty):
        raise ParameterError("--proba and --uncertainty are not available with --chunk tiling")
    if large and args.nc:
        raise ParameterError(
            f"--nc: {large[0]} is predicted tile by tile; measure its mask with"
            " `seglab nc-ratio OUT --chunk N` instead"
        )
    small = [p for p in files if p not in large]
    nc_rows: list[dict] | None = [] if args.nc else None
    for path in large:
        try:
            _predict_large(segmenter, path, out, args, levels.get(path))
        except SeglabError as exc:
            if not args.keep_going:
                raise
            failures.append(str(exc))
    failures += predict_files(
        segmenter,
        small,
        out,
        fmt=args.format,
        normalize=args.normalize,
        proba=args.proba,
        uncertainty=args.uncertainty,
        scheduler=args.scheduler,
        keep_going=args.keep_going,
        nc_rows=nc_rows,
        nc_odds=args.odds,
        geojson=args.geojson,
        pixel_size=args.pixel_size,
    )
    for line in failures:
        print(f"seglab: error: {line}", file=sys.stderr)
    total = len(files) + len(unopened)
    done = total - len(failures)
    tiled = f" ({len(large)} tiled)" if large else ""
    print(f"wrote {done} mask(s){tiled} to {out}")
    if args.nc:
        _write_text(
            args.nc, _csv_text(nc_rows, ["image", "nucleus_px", "cytoplasm_px", "nc_ratio"])
        )
        print(f"wrote the N/C ratios of {len(nc_rows)} image(s) to {args.nc}")
    if failures:
        print(f"seglab: {len(failures)} of {total} input(s) failed", file=sys.stderr)
        return 2
    return 0


def _predict_ome_zarr(segmenter, files: list[Path], args, levels: dict) -> int:
    """`predict -o OUT.ome.zarr`: one image and its mask as an OME-Zarr (image + labels)."""
    import dask

    from .datasets import class_names_for
    from .errors import ParameterError
    from .omezarr import write_labelled_image
    from .tiled import open_lazy, scheduler_context

    if len(files) != 1:
        raise ParameterError(f"-o {args.output}: an OME-Zarr holds one image; {len(files)} given")
    for flag, used in (("--proba", args.proba), ("--uncertainty", args.uncertainty)):
        if used:
            raise ParameterError(f"{flag} is not written into an OME-Zarr; use -o FOLDER")
    if args.nc or args.geojson:
        raise ParameterError("--nc and --geojson write beside masks; use -o FOLDER")
    (path,) = files
    chunk = args.chunk or SLIDE_TILE
    out = Path(args.output)
    mask_path = out.with_name(f".{out.name}.mask.zarr")  # predicted once, then pyramided
    try:
        source, _ = _predict_mask_file(segmenter, path, mask_path, args, levels.get(path))
        import dask.array as da

        mask = da.from_zarr(str(mask_path))
        names = list(class_names_for(max(int(c) for c in segmenter.classes_)))
        with scheduler_context(args.scheduler) as kwargs, dask.config.set(**kwargs):
            write_labelled_image(
                out, open_lazy(source, chunk), mask, names, chunk=min(chunk, 1024),
                version=args.ngff,
            )  # fmt: skip
    finally:
        import shutil

        shutil.rmtree(mask_path, ignore_errors=True)
    print(f"wrote {out} (the image, and its mask as labels/seglab, OME-NGFF {args.ngff})")
    return 0


def _is_tiff(path: Path) -> bool:
    return path.suffix.lower() in (".tif", ".tiff")


def _predict_mask_file(segmenter, path: Path, mask_path: Path, args, level=None):
    """Predict ``path`` tile by tile into ``mask_path``: a slide at its ``level``
    (:func:`seglab.slides.open_level`), skipping tiles without tissue unless --all-tiles.
    Returns what was read (the level, or the path) and the pixel size in µm, if known."""
    from .slides import tissue_mask
    from .tiled import predict_to_file

    source, tissue, pixel_size = path, None, args.pixel_size
    if level is not None:
        source, pixel_size = level, pixel_size or level.mpp
        if not args.all_tiles and len(level.levels) > 1:
            tissue = tissue_mask(level)
    predict_to_file(
        segmenter,
        source,
        mask_path,
        chunk=args.chunk or SLIDE_TILE,
        scheduler=args.scheduler,
        normalize=args.normalize,
        tissue=tissue,
        pixel_size=pixel_size,
    )
    return source, pixel_size


def _predict_large(segmenter, path: Path, out: Path, args, level=None) -> None:
    """Predict one image tile by tile into OUT/STEM.tif (or .zarr), then its cells to
    STEM.geojson if asked."""
    from .slides import slide_id

    stem = slide_id(path)
    suffix = ".zarr" if path.suffix.lower() == ".zarr" else ".tif"
    mask_path = out / f"{stem}{suffix}"
    _, pixel_size = _predict_mask_file(segmenter, path, mask_path, args, level)
    chunk = args.chunk or SLIDE_TILE
    if args.geojson:
        from .qupath import write_cells_geojson

        write_cells_geojson(
            out / f"{stem}.geojson", mask_path, stem, pixel_size, chunk=chunk, progress=True
        )


def add_predict_parser(sub: argparse._SubParsersAction) -> None:
    """`seglab predict`'s arguments."""
    p = _add_command(
        sub,
        "predict",
        cmd_predict,
        "Apply a model to images; one mask per input, named by its stem.",
    )
    p.add_argument("model", metavar="MODEL.seglab")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUTDIR",
        help="output folder (one mask per input, named by its stem); OUT.ome.zarr writes one"
        " image and its mask as an OME-Zarr label image instead",
    )
    p.set_defaults(output_folders=("output",), output_files=("nc",))
    p.add_argument(
        "--format",
        choices=["png", "tif", "npy"],
        default="png",
        help="mask file format; a PNG holds the labels 0, 1, 2 (default png)",
    )
    p.add_argument(
        "--proba",
        action="store_true",
        help="also write STEM_proba.tif with class probabilities (H, W, K)",
    )
    p.add_argument(
        "--uncertainty",
        action="store_true",
        help="also write STEM_uncertainty.tif: per-pixel entropy of the probabilities, 0-1",
    )
    p.add_argument(
        "--nc",
        metavar="FILE.csv",
        help="also write each image's N/C ratio to FILE.csv (as `seglab nc-ratio`), with the"
        " N/C range nc_low, nc_high for methods with probabilities: the ratio with the nucleus"
        " probability divided and multiplied by --odds (a wide range flags a ratio to check)",
    )
    p.add_argument(
        "--odds",
        type=float,
        default=NC_RANGE_ODDS,
        metavar="F",
        help=f"with --nc: the factor of the N/C range (default {NC_RANGE_ODDS:g})",
    )
    p.add_argument(
        "--geojson",
        action="store_true",
        help="also write STEM.geojson: each cell with its nucleus and per-cell measurements as"
        " QuPath objects (File > Object data > Import objects); slides cell by cell",
    )
    p.add_argument(
        "--ngff",
        choices=["0.4", "0.5"],
        default="0.4",
        help="with -o OUT.ome.zarr: the OME-NGFF version, 0.4 on Zarr v2 (QuPath, Fiji read it;"
        " the default) or 0.5 on Zarr v3",
    )
    p.add_argument(
        "--level",
        type=int,
        metavar="N",
        help="slides (SVS, NDPI, MRXS, SCN, pyramidal TIFF): predict pyramid level N"
        " (0, the default, is full resolution)",
    )
    p.add_argument(
        "--mpp",
        type=float,
        metavar="UM",
        help="slides: predict at UM micrometres per pixel (the nearest finer level, resampled)",
    )
    p.add_argument(
        "--all-tiles",
        action="store_true",
        help="slides: predict every tile; by default tiles without tissue (found on a"
        " low-resolution level) are left as background",
    )
    p.add_argument(
        "--pixel-size",
        type=float,
        metavar="UM",
        help="micrometres per pixel of the predicted image, for the µm² columns of --geojson"
        " (default: the slide's own, where it states one)",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="go on after an input fails; the exit code is 2 if any failed",
    )
    p.add_argument("--normalize", choices=["dtype", "minmax"], default="dtype")
    p.add_argument(
        "--chunk",
        type=int,
        metavar="N",
        help="predict images larger than N pixels a side tile by tile with Dask, reading them"
        " lazily (tiled TIFF or Zarr) and writing STEM.tif (or STEM.zarr) tile by tile;"
        f" slides and OME-Zarr are always tiled, by {SLIDE_TILE} pixels unless N is given",
    )
    p.add_argument(
        "--scheduler",
        metavar="S",
        help="Dask scheduler for tiles and for many files in parallel: threads, processes,"
        " synchronous, or the address of a dask.distributed scheduler (tcp://host:8786)",
    )


def _larger_than(path: Path, chunk: int) -> bool:
    """Whether an image file is larger than ``chunk`` pixels on a side, read from its header
    (no pixels are decoded; an unreadable file is left to the prediction to report)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff", ".zarr"):
            from .tiled import _zarr_array

            shape = _zarr_array(path).shape
        elif suffix == ".npy":
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
            if len(shape) == 3 and shape[0] in (1, 3, 4):  # the course's channels first
                shape = shape[1:]
        else:
            from PIL import Image

            with Image.open(path) as picture:
                shape = picture.size[::-1]
    except Exception:
        return False
    return max(shape[0], shape[1]) > chunk


def cmd_evaluate(args) -> int:
    from .bench import (
        add_without_duplicates,
        evaluate_segmenter,
        format_leaderboard,
        machine_description,
        near_duplicate_report,
        score_predictions,
    )
    from .datasets import make_splits
    from .errors import DataSetError, ParameterError, SeglabError
    from .io import MASK_SUFFIXES, list_image_files, load_mask
    from .modelfile import load

    failures: list[str] | None = [] if args.keep_going else None
    if args.model and args.data:
        segmenter = load(args.model)
        dataset = _open_data(args)
        if not dataset.has_masks:
            raise DataSetError(f"{args.data}: evaluate needs masks")
        splits = make_splits(dataset, args.split)
        test = np.concatenate([s[1] for s in splits])
        # Before any prediction, as in bench: an unreadable file stops the run at once.
        duplicates = near_duplicate_report(dataset, splits, keep_going=failures is not None)
        known = {int(c) for c in segmenter.classes_}
        result, seconds = evaluate_segmenter(
            segmenter,
            dataset,
            test,
            known_labels=known,
            uncertainty=segmenter.has_proba,
            failures=failures,
        )
        name, data, split = segmenter.name, str(args.data), args.split or "default"
        n_inputs = len(test)
    elif args.pred and args.true:
        pred_files = {p.stem: p for p in list_image_files(args.pred, MASK_SUFFIXES)}
        true_files = list_image_files(args.true, MASK_SUFFIXES)
        if not true_files:
            raise DataSetError(f"{args.true}: no mask files")
        missing = [p.stem for p in true_files if p.stem not in pred_files]
        if missing and failures is None:
            raise DataSetError(
                f"{args.pred}: no predicted mask for {missing[0]!r} ({len(missing)} missing;"
                " --keep-going scores the others)"
            )
        masks = []
        for p in true_files:
            if p.stem in missing:
                failures.append(f"{args.pred}: no predicted mask for {p.stem!r}")
                continue
            try:
                masks.append((p.stem, load_mask(p), load_mask(pred_files[p.stem])))
            except SeglabError as exc:
                if failures is None:
                    raise
                failures.append(str(exc))
        if not masks:
            raise DataSetError(f"{args.pred}: no prediction matches a mask of {args.true}")
        top = max(int(max(t.max(), p.max())) for _, t, p in masks)
        from .datasets import class_names_for

        classes = class_names_for(top)
        for stem, t, p in masks:
            if t.shape != p.shape:
                raise DataSetError(f"{stem}: true mask {t.shape} and prediction {p.shape} differ")
        result = score_predictions(masks, classes)
        seconds, name, data, split = 0.0, "predictions", str(args.true), "-"
        test, n_inputs = masks, len(true_files)
        duplicates = None
    else:
        raise ParameterError("evaluate needs either --model and --data, or --pred and --true")
    payload = {
        "seglab": __version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_description(),
        "data": data,
        "split": split,
        "n_train": 0,
        "n_test": len(test),
        "classes": list(result["dice"]),
        "methods": [
            {
                "name": name,
                "params": {},
                **{k: result[k] for k in ("score", "dice", "iou", "nc", "confusion")},
                **{k: result[k] for k in ("uncertainty", "nc_range") if k in result},
                "fit_seconds": 0.0,
                "predict_seconds_per_image": seconds,
                "per_image": result["per_image"],
            }
        ],
        **({"near_duplicates": duplicates} if duplicates else {}),
    }
    add_without_duplicates(payload["methods"][0], duplicates)
    print(format_leaderboard(payload))
    if "uncertainty" in result:
        u = result["uncertainty"]
        print(
            f"mean uncertainty {u['mean']:.3f}; correlation of an image's mean uncertainty with"
            f" its error (1 - score): {u['error_correlation']:+.2f} (per-image values in --json)"
        )
    if "nc_range" in result:
        r = result["nc_range"]
        print(
            f"N/C range (nucleus probability / and x {r['odds']:g}): holds the true ratio on"
            f" {r['coverage']:.0%} of images, median width {r['median_width']:.2f}; rank"
            f" correlation of its width with the N/C error {r['width_error_spearman']:+.2f}"
        )
        calibrated = r.get("calibrated_odds", {})
        if calibrated and math.isfinite(calibrated["odds"]):
            print(
                f"for {calibrated['coverage']:.0%} coverage on images like these: --odds"
                f" {calibrated['odds']:.3g} (split-conformal, from these {r['n']} images)"
            )
        elif calibrated:
            print(
                f"too few images, or too wide a spread, to calibrate the odds for"
                f" {calibrated['coverage']:.0%} coverage"
            )
    if args.json:
        _write_json(args.json, payload)
    return _report_failures(failures, n_inputs)


def add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    """`seglab evaluate`'s arguments."""
    p = _add_command(
        sub,
        "evaluate",
        cmd_evaluate,
        "Score a model on a data set's test part, or predicted masks against true ones.",
    )
    p.add_argument("--model", metavar="MODEL.seglab")
    _data_options(p, required=False)
    p.add_argument("--pred", metavar="DIR", help="folder of predicted masks")
    p.add_argument("--true", metavar="DIR", help="folder of true masks (matched by stem)")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON")
    p.set_defaults(output_files=("json",))
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="skip images that cannot be read or predicted (with --pred: masks without a"
        " prediction), score the others; the exit code is then 2",
    )


def _report_failures(failures: list[str] | None, total: int) -> int:
    """Print each failed input and a last line counting them; the exit code."""
    if not failures:
        return 0
    for line in failures:
        print(f"seglab: error: {line}", file=sys.stderr)
    print(f"seglab: {len(failures)} of {total} input(s) failed", file=sys.stderr)
    return 2


def _csv_text(rows: list[dict], default_fields) -> str:
    from .io import csv_text

    return csv_text(rows, default_fields)


def _write_text(path, text: str) -> None:
    from .io import write_text

    write_text(path, text)


def _expand_masks(inputs: list[str], proba: bool) -> list[Path]:
    """Mask files of the inputs, a folder standing for the masks in it (a data set's masks/).

    A folder that `seglab predict` wrote also holds STEM_proba.tif and STEM_uncertainty.tif:
    with ``proba`` only the former are taken, without it neither.
    """
    from .errors import ImageReadError
    from .io import MASK_SUFFIXES, list_image_files

    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if not path.is_dir() or path.suffix.lower() == ".zarr":
            files.append(path)  # a file, or a Zarr mask; read errors are reported later
            continue
        folder = path / "masks" if (path / "masks").is_dir() else path
        found = [
            f
            for f in list_image_files(folder, MASK_SUFFIXES)
            if f.stem.endswith("_proba") == proba and not f.stem.endswith("_uncertainty")
        ]
        if not found:
            kind = "probability maps (STEM_proba.tif)" if proba else "masks"
            raise ImageReadError(f"{path}: no {kind} ({', '.join(MASK_SUFFIXES)})")
        files.extend(found)
    return files


def cmd_nc_ratio(args) -> int:
    from .errors import ParameterError
    from .io import load_mask, load_probabilities
    from .measure import CELL_FIELDS, image_cell_summary, label_cells, nc_ratio_range, per_cell_nc

    if args.proba and args.chunk is not None:
        raise ParameterError("--proba reads whole probability maps; it does not take --chunk")
    if not args.odds > 1:
        raise ParameterError(f"--odds must be > 1, got {args.odds}")
    if args.chunk is not None:
        from .tiled import check_chunk

        check_chunk(args.chunk)  # the rest is checked where it is used, per_cell_nc and tiled
    paths = _expand_masks(args.masks, args.proba)
    if args.geojson and len(paths) > 1:
        raise ParameterError(
            f"--geojson writes one image's objects, and {len(paths)} masks were given: give one"
            " mask (or use `seglab predict --geojson`, which writes one file per image)"
        )
    features = [] if args.geojson else None
    rows = []
    for path in paths:
        nc_range = {}
        if args.proba:
            proba = load_probabilities(path)
            low, high = nc_ratio_range(proba, odds=args.odds)
            nc_range = {"nc_low": low, "nc_high": high}
            if path.stem.endswith("_proba"):  # `predict --proba` writes STEM_proba.tif
                path = path.with_name(path.stem[: -len("_proba")] + path.suffix)
        # only TIFF and Zarr can be read tile by tile; other masks are decoded whole anyway
        tiled = (
            args.chunk is not None
            and path.suffix.lower() in (".tif", ".tiff", ".zarr")
            and _larger_than(path, args.chunk)
        )
        if tiled:
            from .tiled import _zarr_array, count_labels, per_cell_nc_tiled

            mask = _zarr_array(path)
            if len(mask.shape) != 2:
                from .errors import ShapeError

                raise ShapeError(f"{path}: a mask must be 2-D, got shape {tuple(mask.shape)}")
            counts = count_labels(mask, args.chunk)
            n_nucleus, n_cytoplasm = counts.get(2, 0), counts.get(1, 0)
        else:
            # columns of a probability map are the labels 0 .. K-1, as `predict --proba` writes
            mask = proba.argmax(-1) if args.proba else load_mask(path)
            n_nucleus, n_cytoplasm = int((mask == 2).sum()), int((mask == 1).sum())
        ratio = n_nucleus / n_cytoplasm if n_cytoplasm else float("nan")
        pixel_size = args.pixel_size
        if pixel_size is None and _is_tiff(path):  # `predict` stores a slide's pixel size
            from .slides import tiff_pixel_size

            pixel_size = tiff_pixel_size(path)
        if not args.per_cell:
            if args.geojson:
                if tiled:
                    raise ParameterError(
                        "--geojson without --per-cell traces the regions of the whole mask;"
                        " for a mask read tile by tile add --per-cell (cells are streamed)"
                    )
                from .qupath import region_features

                names = ("background", "cytoplasm", "nucleus")
                features += region_features(mask, names, args.object_type, image_id=path.stem)
            rows.append(
                {
                    "image": path.stem,
                    "nucleus_px": n_nucleus,
                    "cytoplasm_px": n_cytoplasm,
                    "nc_ratio": ratio,
                    **nc_range,
                }
            )
            continue
        if tiled and args.geojson:  # cells streamed into the file as they are measured
            from .qupath import write_cells_geojson

            cells = write_cells_geojson(
                args.geojson, mask, path.stem, pixel_size, args.high_ratio, args.chunk,
                args.halo, progress=True,
            )  # fmt: skip
            features = None
        elif tiled:
            cells = per_cell_nc_tiled(
                mask, path.stem, args.chunk, args.halo, pixel_size, args.high_ratio, True
            )
        else:
            labels = label_cells(mask)
            cells = per_cell_nc(
                mask,
                path.stem,
                pixel_size,
                args.high_ratio,
                cells=labels,
                **({"proba": proba, "odds": args.odds} if args.proba else {}),
            )
            if features is not None:
                from .qupath import cell_features

                features += cell_features(mask, labels, cells, high_ratio=args.high_ratio)
        rows.extend(cells)
        total = n_nucleus + n_cytoplasm
        summary = {field: "" for field in CELL_FIELDS}
        summary.update(
            image=path.stem,
            cell="all",
            cell_px=total,
            nucleus_px=n_nucleus,
            cytoplasm_px=n_cytoplasm,
            nc_ratio=ratio,
            nucleus_cell_ratio=n_nucleus / total if total else float("nan"),
            touches_border=sum(c["touches_border"] for c in cells),
            no_cytoplasm=sum(c["no_cytoplasm"] for c in cells),
            several_nuclei=sum(c["several_nuclei"] for c in cells),
            high_nc=sum(c["high_nc"] for c in cells),
            **({"high_nc_unsure": sum(c["high_nc_unsure"] for c in cells)} if args.proba else {}),
        )
        summary.update(image_cell_summary(cells, args.high_ratio))
        summary.update(nc_range)
        if pixel_size is not None:
            area = pixel_size**2
            summary.update(
                cell_um2=total * area,
                nucleus_um2=n_nucleus * area,
                cytoplasm_um2=n_cytoplasm * area,
            )
        rows.append(summary)
    text = _csv_text(rows, CELL_FIELDS)  # cell rows, then image summaries
    if args.csv:
        _write_text(args.csv, text)
    if features is not None:
        from .qupath import write_geojson

        write_geojson(args.geojson, features)
    sys.stdout.write(text)
    return 0


def add_nc_ratio_parser(sub: argparse._SubParsersAction) -> None:
    """`seglab nc-ratio`'s arguments."""
    p = _add_command(
        sub,
        "nc-ratio",
        cmd_nc_ratio,
        "Nucleus-to-cytoplasm ratio (nucleus px / cytoplasm px) of label masks, as CSV on stdout.",
    )
    p.add_argument(
        "masks",
        nargs="+",
        metavar="MASK",
        help="mask files (1 cytoplasm, 2 nucleus) or folders of them, such as the output"
        " folder of `seglab predict` or a data set's masks/",
    )
    p.add_argument("--csv", metavar="FILE", help="also write the CSV to FILE")
    p.add_argument(
        "--geojson",
        metavar="FILE",
        help="also write the objects for QuPath (File > Object data > Import objects): with"
        " --per-cell each cell with its nucleus and every per-cell column as measurements;"
        " otherwise one polygon per region and class (FILE.geojson.gz is compressed)",
    )
    p.add_argument(
        "--object-type",
        choices=["annotation", "detection"],
        default="annotation",
        help="with --geojson and no --per-cell: the QuPath object type of the regions",
    )
    p.set_defaults(output_files=("csv", "geojson"))
    p.add_argument(
        "--chunk",
        type=int,
        metavar="N",
        help="read TIFF or Zarr masks larger than N pixels a side tile by tile (each cell is"
        " measured once, in the tile holding its first pixel)",
    )
    p.add_argument(
        "--halo",
        type=int,
        default=512,
        metavar="H",
        help="with --chunk: context read around each tile; at least the widest group of"
        " touching cells (default 512)",
    )
    p.add_argument(
        "--per-cell",
        action="store_true",
        help="one row per cell (connected cytoplasm + nucleus, touching cells split by a "
        "watershed seeded at the nuclei) with nucleus/cytoplasm and nucleus/cell ratios and "
        "flags, then a cell=all row per image with its totals and flag counts",
    )
    p.add_argument(
        "--pixel-size", type=float, metavar="UM", help="micrometres per pixel: adds areas in µm²"
    )
    p.add_argument(
        "--high-ratio",
        type=float,
        default=0.7,
        metavar="R",
        help="flag cells with nucleus/cell ratio >= R (default 0.7, the Paris "
        "System's high-grade criterion)",
    )
    p.add_argument(
        "--proba",
        action="store_true",
        help="the inputs are probability maps (STEM_proba.tif from `seglab predict --proba`):"
        " the mask is their argmax, and nc_low, nc_high give the ratio with the nucleus"
        " probability divided and multiplied by --odds (a wide range flags a ratio to check)",
    )
    p.add_argument(
        "--odds",
        type=float,
        default=NC_RANGE_ODDS,
        metavar="F",
        help=f"with --proba: the factor of the N/C range (default {NC_RANGE_ODDS:g})",
    )


def cmd_features(args) -> int:
    from .errors import ParameterError
    from .modelfile import load

    if args.top < 1:
        raise ParameterError(f"--top {args.top}: expected a number of features, 1 or more")
    segmenter = load(args.model)
    # an ensemble reports each member that has a filter bank, under its own heading
    members = getattr(segmenter, "members_", None) or [segmenter]
    banked = [(i, m) for i, m in enumerate(members) if hasattr(m, "feature_importances")]
    if not banked:
        ensemble = members[0] is not segmenter
        what = "no member of the ensemble has" if ensemble else f"method {segmenter.name!r} has no"
        raise ParameterError(f"{args.model}: {what} filter bank")
    if members[0] is segmenter:
        _print_feature_ranking(segmenter, args.top, "")
        return 0
    for i, member in banked:
        try:
            _print_feature_ranking(member, args.top, f"member {i} ")
        except ParameterError as error:  # e.g. logistic: a bank but no importances
            print(f"member {i} {member.name}: {error}")
    return 0


def add_features_parser(sub: argparse._SubParsersAction) -> None:
    """`seglab features`'s arguments."""
    p = _add_command(
        sub,
        "features",
        cmd_features,
        "What a pixel classifier relies on: its filter-bank features ranked by importance. "
        "To keep only the N most important (prediction then computes only those), train with "
        "--set select_features=N (rf, extra-trees, tree). For an ensemble, each member "
        "that has a filter bank.",
    )
    p.add_argument("model", metavar="MODEL.seglab")
    p.add_argument("--top", type=int, default=30, help="how many to list (default 30)")


def _print_feature_ranking(segmenter, top: int, prefix: str) -> None:
    ranked = segmenter.feature_importances()
    total = sum(v for _, v in ranked) or 1.0
    bank_size = getattr(segmenter, "n_bank_features_", len(ranked))
    kept = f"{len(ranked)} of {bank_size} features kept" if bank_size > len(ranked) else None
    print(
        f"{prefix}{segmenter.name}: {kept or f'{len(ranked)} features'}, "
        f"scale 1/{segmenter.factor_}, "
        f"prior correction {getattr(segmenter, 'prior_correction_', 0):.1f}"
    )
    cumulative = 0.0
    for rank, (name, value) in enumerate(ranked[:top], start=1):
        cumulative += value / total
        print(f"{rank:4d}  {value / total:6.3f}  {cumulative:6.3f}  {name}")


def _bench_and_report(
    dataset,
    methods,
    split,
    json_path,
    report_path,
    out_masks=None,
    params=None,
    uncertainty=False,
    failures=None,
):
    from .bench import format_leaderboard, run_bench

    fitted: dict = {}
    result = run_bench(
        dataset,
        methods,
        split,
        params=params,
        fitted=fitted,
        uncertainty=uncertainty,
        failures=failures,
    )
    print(format_leaderboard(result))
    if json_path:
        _write_json(json_path, result)
    if report_path or out_masks:
        from .report import write_bench_report

        write_bench_report(dataset, result, fitted, report_path, split, out_masks)
    return result


def cmd_bench(args) -> int:
    from .bench import fast_methods

    if args.methods is None:
        methods = fast_methods()
    else:  # run_bench refuses an empty list and a method named twice
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    dataset = _open_data(args)
    failures: list[str] | None = [] if args.keep_going else None
    _bench_and_report(
        dataset,
        methods,
        args.split,
        args.json,
        args.report,
        uncertainty=args.uncertainty,
        failures=failures,
    )
    unique = sorted(set(failures or []))  # every method meets the same bad files
    return _report_failures(unique, len(dataset))


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    """`seglab bench`'s arguments."""
    p = _add_command(
        sub, "bench", cmd_bench, "Fit and score methods on one split: leaderboard, JSON, report."
    )
    _data_options(p)
    p.add_argument(
        "--methods", metavar="A,B", help="comma-separated methods (default: the fast ones)"
    )
    p.add_argument("--json", metavar="FILE", help="write the result as JSON (DESIGN.md §5)")
    p.add_argument("--report", metavar="FILE.html", help="write a self-contained HTML report")
    p.set_defaults(output_files=("json", "report"))
    p.add_argument(
        "--uncertainty",
        action="store_true",
        help="also measure each test image's mean uncertainty (entropy of the probabilities)"
        " and its correlation with the image's error, for methods with probabilities",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="skip images that cannot be read; the exit code is then 2",
    )


#: Lighter settings for the slow methods so that the demo runs in under two minutes; the
#: leaderboard's "params" show them. `seglab bench` uses each method's defaults.
_DEMO_PIXEL = {
    "scale": 2,
    "samples_per_class": 150,
    "prior_correction": 0.5,
    "features": {"sigmas": [1.0, 2.0, 4.0, 8.0]},
}
DEMO_PARAMS = {
    "tuned-threshold": {"n_trials": 25},
    "rf": {**_DEMO_PIXEL, "n_estimators": 25},
    "extra-trees": {**_DEMO_PIXEL, "n_estimators": 25},
    "hgb": {**_DEMO_PIXEL, "max_iter": 25},
    "mlp": {**_DEMO_PIXEL, "max_iter": 40, "hidden": 32},
    "logistic": _DEMO_PIXEL,
    "knn": {**_DEMO_PIXEL, "samples_per_class": 40},
    "tree": _DEMO_PIXEL,
    "nearest-mean": _DEMO_PIXEL,
    "slic": {"n_segments": 200},
    "unet": {"width": 8, "depth": 4, "max_epochs": 15, "max_minutes": 1.0, "test_flips": False},
}
# the ensemble of the two demo models above, as the leaderboard shows them
DEMO_PARAMS["ensemble"] = {"members": [["rf", DEMO_PARAMS["rf"]], ["unet", DEMO_PARAMS["unet"]]]}


def cmd_demo(args) -> int:
    from .datasets import synthetic_cells
    from .segmenters import list_segmenters

    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"seglab demo: {args.n} synthetic cell images, 80/20 split, every method", file=sys.stderr
    )
    dataset = synthetic_cells(args.n, random_state=args.seed)
    methods = [r["name"] for r in list_segmenters() if r["available"]]
    _bench_and_report(
        dataset,
        methods,
        f"random:{args.seed}",
        str(out / "bench.json"),
        str(out / "report.html"),
        out / "masks",
        params=DEMO_PARAMS,
    )
    print(
        f"\nwrote {out / 'bench.json'}, {out / 'report.html'} and example masks in "
        f"{out / 'masks'} ({time.perf_counter() - start:.0f} s)"
    )
    return 0


def add_demo_parser(sub: argparse._SubParsersAction) -> None:
    """`seglab demo`'s arguments."""
    p = _add_command(
        sub,
        "demo",
        cmd_demo,
        "Run every method on built-in synthetic cells: leaderboard, masks and an HTML report.",
    )
    p.add_argument("--out", default="seglab-demo", metavar="DIR", help="output folder")
    p.set_defaults(output_folders=("out",))
    p.add_argument("--n", type=int, default=40, help="number of synthetic images (default 40)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seglab",
        description="Segment microscopy images (threshold to U-Net), score them, and measure "
        "the nucleus-to-cytoplasm (N/C) ratio.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"seglab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_demo_parser(sub)
    add_methods_parser(sub)
    add_train_parser(sub)
    add_tune_parser(sub)
    add_predict_parser(sub)
    add_evaluate_parser(sub)
    add_nc_ratio_parser(sub)
    add_features_parser(sub)
    add_bench_parser(sub)
    return parser


def _check_outputs(args) -> None:
    """Refuse an unwritable output path at once, not after a long fit has made its content."""
    from .io import check_output_file, check_output_folder

    for name in getattr(args, "output_files", ()):
        if getattr(args, name, None):
            check_output_file(getattr(args, name))
    for name in getattr(args, "output_folders", ()):
        check_output_folder(getattr(args, name))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .errors import SeglabError

    try:
        _check_outputs(args)
        return int(args.func(args) or 0)
    except SeglabError as exc:
        print(f"seglab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seglab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"seglab: internal error: {type(exc).__name__}: {exc} (run with --debug for the "
            "traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
