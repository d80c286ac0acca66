"""Reading and writing images and masks.

Images come back as ``float32 (H, W, C)`` in [0, 1] (channels last; grey images have ``C = 1``),
masks as ``(H, W)`` integer labels. Every writer is atomic: it writes a temporary file in the
destination folder and renames it, so a reader never sees a half-written file.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .errors import (
    DataSetError,
    ImageReadError,
    ImageTooLargeError,
    OutputPathError,
    ParameterError,
    ShapeError,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "atomic_path",
    "cannot_write",
    "check_image",
    "check_mask",
    "check_output_file",
    "check_output_folder",
    "json_text",
    "list_image_files",
    "load_image",
    "load_mask",
    "load_probabilities",
    "load_scribbles",
    "make_output_folder",
    "natural_key",
    "output_errors",
    "read_array",
    "read_csv_rows",
    "save_image",
    "save_mask",
    "write_json",
    "write_text",
]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".npy")
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".npy")
# Largest image (pixels) held in memory whole; beyond it `predict --chunk` tiles the image.
MAX_PIXELS = 1 << 28
NORMALIZATIONS = ("dtype", "minmax")


def natural_key(text: str) -> list:
    """Sort key that orders ``"2"`` before ``"10"``.

    Examples
    --------
    >>> sorted(["10", "2", "1"], key=natural_key)
    ['1', '2', '10']
    """
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def list_image_files(folder: str | os.PathLike, suffixes=IMAGE_SUFFIXES) -> list[Path]:
    """Image files of ``folder`` (non-recursive) in natural order of their stems."""
    folder = Path(folder)
    # Hidden files are skipped: temporary ".*.part.*" files of a killed writer, macOS "._*".
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
    ]
    return sorted(files, key=lambda p: natural_key(p.stem))


def read_array(path: Path) -> np.ndarray:
    """Decode a file into its raw array (dtype and channels as stored, no scaling), turning
    every decoder failure into ImageReadError; :func:`load_image` scales and checks it."""
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if not path.is_file():
        raise ImageReadError(f"{path}: not a file")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageReadError(
            f"{path}: unsupported file type {suffix!r}; use one of {', '.join(IMAGE_SUFFIXES)}"
        )
    try:
        if suffix == ".npy":
            # allow_pickle=False: an .npy file never runs code.
            array = np.load(path, allow_pickle=False)
        elif suffix in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                shape = tif.series[0].shape
                if int(np.prod(shape[:2])) > MAX_PIXELS:
                    raise ImageTooLargeError(
                        f"{path}: {shape[0]}x{shape[1]} pixels is too large to hold in memory;"
                        " use `seglab predict --chunk N` for tiled prediction"
                    )
                array = tif.asarray()
        else:
            import imageio.v3 as iio
            from PIL import Image

            # Pillow warns at 89 Mpx and raises beyond twice that: both are decompression bombs.
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                array = iio.imread(path, plugin="pillow")
    except (ImageReadError, ImageTooLargeError):
        raise
    except MemoryError as exc:
        raise ImageTooLargeError(f"{path}: too large to read into memory") from exc
    except Exception as exc:  # decoders raise anything: OSError, ValueError, SyntaxError, ...
        name = type(exc).__name__
        if _is_decompression_bomb(exc):
            raise ImageTooLargeError(
                f"{path}: refused as a possible decompression bomb ({exc})"
            ) from exc
        raise ImageReadError(f"{path}: cannot decode ({name}: {exc})") from exc
    if not isinstance(array, np.ndarray) or array.dtype == object:
        raise ImageReadError(f"{path}: does not hold a numeric array")
    return array


def _is_decompression_bomb(exc: BaseException | None) -> bool:
    """Pillow's bomb error, possibly wrapped by imageio in another exception."""
    seen = 0
    while exc is not None and seen < 10:
        if "DecompressionBomb" in type(exc).__name__:
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _to_channels_last(array: np.ndarray, source: str) -> np.ndarray:
    if array.ndim == 2:
        return array[:, :, None]
    if array.ndim == 3:
        # The course stores (3, H, W); scikit-image wants (H, W, 3).
        if array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
            array = np.moveaxis(array, 0, -1)
        if array.shape[-1] == 4:  # RGBA: alpha dropped
            array = array[..., :3]
        if array.shape[-1] == 2:  # grey + alpha
            array = array[..., :1]
        return array
    raise ShapeError(f"{source}: an image must be 2-D or 3-D, got shape {array.shape}")


def check_image(image, source: str = "image", normalize: str = "dtype") -> np.ndarray:
    """Validate an array and return it as ``float32 (H, W, C)`` in [0, 1].

    Integer images are scaled by their dtype's range (uint8 / 255, uint16 / 65535); float
    images must already lie in [0, 1]. ``normalize="minmax"`` rescales each image to its own
    minimum and maximum instead (the course's convention for some data sets).

    Parameters
    ----------
    image : array_like
        ``(H, W)``, ``(H, W, C)`` or channels-first ``(C, H, W)`` with ``C`` in 1, 3, 4.
    source : str
        Name used in error messages (a file name or "image").
    normalize : {"dtype", "minmax"}
        How to bring values to [0, 1].

    Examples
    --------
    >>> check_image(np.array([[0, 255]], dtype=np.uint8)).tolist()
    [[[0.0], [1.0]]]
    """
    if normalize not in NORMALIZATIONS:
        raise ParameterError(f"normalize={normalize!r}: use one of {', '.join(NORMALIZATIONS)}")
    array = np.asarray(image)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise ImageReadError(f"{source}: pixel type {array.dtype} is not numeric")
    array = _to_channels_last(array, source)
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ShapeError(f"{source}: image is empty, shape {array.shape}")
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise ImageTooLargeError(
            f"{source}: {array.shape[0]}x{array.shape[1]} pixels is too large to hold in memory;"
            " use `seglab predict --chunk N` for tiled prediction"
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ImageReadError(f"{source}: contains NaN or infinite pixel values")
    if normalize == "minmax":
        out = array.astype(np.float32)
        low, high = float(out.min()), float(out.max())
        out = (out - low) / (high - low) if high > low else np.zeros_like(out)
        return out.astype(np.float32, copy=False)
    if array.dtype == bool:
        return array.astype(np.float32)
    if array.dtype.kind in "iu":
        info = np.iinfo(array.dtype)
        if array.dtype.kind == "i" and array.min() < 0:
            raise ImageReadError(
                f"{source}: signed image has negative values; use --normalize minmax"
            )
        return (array / np.float32(info.max)).astype(np.float32)
    out = array.astype(np.float32, copy=False)
    low, high = float(out.min()), float(out.max())
    if low < 0.0 or high > 1.0:
        raise ImageReadError(
            f"{source}: float values span [{low:.4g}, {high:.4g}], outside [0, 1];"
            " use --normalize minmax"
        )
    return out


def load_image(path: str | os.PathLike, normalize: str = "dtype") -> np.ndarray:
    """Read an image file (PNG, TIFF, JPEG or NPY) as ``float32 (H, W, C)`` in [0, 1].

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(p, np.full((3, 4, 5), 0.5, dtype=np.float32))  # channels first, as the course
    >>> load_image(p).shape
    (4, 5, 3)
    """
    path = Path(path)
    return check_image(read_array(path), source=str(path), normalize=normalize)


def check_mask(mask, source: str = "mask", allow_unlabelled: bool = False) -> np.ndarray:
    """Validate a label mask and return it as ``(H, W)`` int64.

    A mask stored as an image with identical channels (grey saved as RGB) is reduced to one
    channel. Negative labels are refused unless ``allow_unlabelled`` (then only -1 is allowed).
    """
    array = np.asarray(mask)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise ImageReadError(f"{source}: mask type {array.dtype} is not numeric")
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        if not (
            np.array_equal(array[..., 0], array[..., 1])
            and np.array_equal(array[..., 0], array[..., 2])
        ):
            raise ShapeError(
                f"{source}: a colour mask is not supported; store the labels 0, 1, 2..."
            )
        array = array[..., 0]
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ShapeError(f"{source}: a mask must be 2-D, got shape {array.shape}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or not np.array_equal(array, np.round(array)):
            raise ImageReadError(f"{source}: mask values must be whole numbers (labels)")
    labels = array.astype(np.int64)
    low = int(labels.min()) if labels.size else 0
    if low < (-1 if allow_unlabelled else 0):
        raise ImageReadError(f"{source}: negative label {low} in a mask")
    return labels


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a label mask (PNG, TIFF or NPY holding the labels themselves) as ``(H, W)`` int64."""
    path = Path(path)
    return check_mask(read_array(path), source=str(path))


def load_probabilities(path: str | os.PathLike) -> np.ndarray:
    """Read class probabilities ``(H, W, K)`` as written by ``seglab predict --proba``.

    The file must hold a float array with K >= 2 columns last whose rows sum to 1 (within
    0.01); anything else (a mask, an image) is refused with a one-line error.
    """
    path = Path(path)
    array = read_array(path)
    if array.ndim != 3 or array.shape[-1] < 2:
        raise ShapeError(
            f"{path}: probabilities must be (H, W, K) with K >= 2 classes, got shape {array.shape}"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise ImageReadError(
            f"{path}: holds {array.dtype} values, not probabilities (write them with"
            " `seglab predict --proba`)"
        )
    proba = array.astype(np.float32, copy=False)
    sums = proba.sum(-1)
    if proba.size and (
        not np.isfinite(proba).all() or proba.min() < -1e-3 or np.abs(sums - 1).max() > 0.01
    ):
        raise ImageReadError(f"{path}: values are not probabilities (each pixel must sum to 1)")
    return proba


def load_scribbles(path: str | os.PathLike) -> np.ndarray:
    """Read sparse scribbles (0 = unlabelled, 1.. = classes) as labels with -1 = unlabelled.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.npy")
    >>> np.save(p, np.array([[0, 1, 2]]))
    >>> load_scribbles(p).tolist()
    [[-1, 0, 1]]
    """
    return load_mask(path) - 1


def _new_file_mode() -> int:
    """The mode open() gives a new file: 0o666 less the process umask."""
    umask = os.umask(0)  # the only portable way to read it; set back at once
    os.umask(umask)
    return 0o666 & ~umask


# read once, at import, before any worker threads could be creating files
_NEW_FILE_MODE = _new_file_mode()


def _check_can_create_in(path: Path) -> None:
    """Raise OutputPathError unless ``path``'s folder exists or could be made, writable."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"{path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputPathError(f"{path}: no permission to write in {ancestor}")
    # os.access trusts the mode bits; a read-only mount, /proc or /sys (and root, to whom every
    # mode says yes) tell the truth only when a file is made there, so make one and remove it
    try:
        fd, probe = tempfile.mkstemp(prefix=".seglab-probe.", dir=ancestor)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def cannot_write(path: str | os.PathLike, exc: OSError) -> OutputPathError:
    """The one-line error for an output that the system refused to create or write.

    Examples
    --------
    >>> import errno
    >>> str(cannot_write("out/a.png", OSError(errno.ENOSPC, "No space left on device")))
    'out/a.png: cannot write there: no space left on device'
    """
    reason = (exc.strerror or str(exc) or type(exc).__name__).strip()
    return OutputPathError(f"{path}: cannot write there: {reason[:1].lower()}{reason[1:]}")


def check_output_file(path: str | os.PathLike) -> Path:
    """Check that a file can be written at ``path``, before any long work that would make it.

    Missing folders on the way are fine (writers create them); a folder at ``path`` itself, a
    file where a folder of the path should be, or a folder without write permission is not.

    Raises
    ------
    OutputPathError
        With a one-line message naming the path.

    Examples
    --------
    >>> check_output_file("results/model.seglab").name
    'model.seglab'
    >>> check_output_file(".")
    Traceback (most recent call last):
    ...
    seglab.errors.OutputPathError: .: is a folder; give a file name
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path}: is a folder; give a file name")
    _check_can_create_in(path)
    return path


def check_output_folder(path: str | os.PathLike) -> Path:
    """Check that ``path`` is, or can be made, a folder to write files in.

    Raises
    ------
    OutputPathError
        When ``path`` is an existing file, lies under one, or is not writable.
    """
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise OutputPathError(f"{path}: is a file; give a folder for the outputs")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputPathError(f"{path}: no permission to write in it")
        _check_can_create_in(path / "_")
    else:
        _check_can_create_in(path)
    return path


def make_output_folder(path: str | os.PathLike) -> Path:
    """Create the output folder ``path`` (and its parents); a refusal is one line naming it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A failure (or a kill) leaves no file at ``path`` and no stale temporary one after an error.
    """
    path = check_output_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=path.parent
        )
    except OSError as exc:
        raise cannot_write(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with output_errors(path):
            yield tmp_path
        # mkstemp makes the file private (0600); give it the mode open() would have, so
        # colleagues can read the masks and models a lab writes to a shared folder
        os.chmod(tmp_path, _NEW_FILE_MODE)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def output_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn the system's refusal to write ``path`` (the disk full, a size limit, a read-only
    place, no permission) into one :class:`OutputPathError` naming it; other errors pass.

    Examples
    --------
    >>> import errno
    >>> with output_errors("out.tif"):
    ...     raise OSError(errno.EFBIG, "File too large")
    Traceback (most recent call last):
    ...
    seglab.errors.OutputPathError: out.tif: cannot write there: file too large
    """
    try:
        yield
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS:
            raise cannot_write(path, exc) from None
        raise


#: what writing a file can fail with that is the place's fault, not seglab's: the disk or the
#: quota full, a file-size limit, a read-only place, no permission
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


PART_GLOB = ".*.part.*"


def remove_stale_parts(folder: str | os.PathLike, older_than: float = 300.0) -> int:
    """Delete temporary files that a killed writer left in ``folder``; returns how many.

    Only files matching :func:`atomic_path`'s naming and untouched for ``older_than`` seconds
    are removed, so a writer still at work in the same folder is not disturbed.
    """
    import time

    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    now = time.time()
    for part in folder.glob(PART_GLOB):
        with contextlib.suppress(OSError):
            if part.is_file() and now - part.stat().st_mtime >= older_than:
                part.unlink()
                removed += 1
    return removed


def _mask_storage(mask: np.ndarray) -> np.ndarray:
    if mask.min(initial=0) < 0:
        raise ParameterError("cannot save a mask with negative labels")
    top = int(mask.max(initial=0))
    return mask.astype(np.uint8 if top < 256 else np.uint16)


def save_mask(path: str | os.PathLike, mask: np.ndarray) -> Path:
    """Write a label mask atomically as PNG, TIFF or NPY (by suffix); values are the labels."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MASK_SUFFIXES:
        raise ParameterError(f"{path}: masks are saved as .png, .tif or .npy, not {suffix!r}")
    data = _mask_storage(np.asarray(mask))
    with atomic_path(path) as tmp:
        _write_array(tmp, suffix, data)
    return path


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an image atomically; float arrays in [0, 1] become uint8 for PNG/JPEG."""
    path = Path(path)
    suffix = path.suffix.lower()
    data = np.asarray(image)
    if suffix in (".png", ".jpg", ".jpeg") and data.dtype.kind == "f":
        data = np.clip(np.round(data * 255), 0, 255).astype(np.uint8)
    if data.ndim == 3 and data.shape[-1] == 1:
        data = data[..., 0]
    with atomic_path(path) as tmp:
        _write_array(tmp, suffix, data)
    return path


def _write_array(tmp: Path, suffix: str, data: np.ndarray) -> None:
    if suffix == ".npy":
        with open(tmp, "wb") as fh:
            np.save(fh, data, allow_pickle=False)
    elif suffix in (".tif", ".tiff"):
        import tifffile

        # Probabilities (H, W, K) are K planes of values, not an RGB picture.
        kwargs = (
            {"photometric": "minisblack", "planarconfig": "contig"}
            if data.ndim == 3 and data.dtype.kind == "f"
            else {}
        )
        tifffile.imwrite(tmp, data, compression="zlib", **kwargs)
    else:
        import imageio.v3 as iio

        # encoded in memory, written in one go: a failing write (disk full) is then one
        # OSError here, not a second one from the encoder's file handle at garbage collection
        encoded = iio.imwrite("<bytes>", data, extension=suffix)
        with open(tmp, "wb") as fh:
            fh.write(encoded)


def csv_text(rows: list[dict], default_fields: Sequence[str] = ()) -> str:
    """Rows as CSV text, as the CLI writes them: every key of every row, in order of first
    appearance (``default_fields`` when there are no rows); floats to 6 significant digits.

    Examples
    --------
    >>> print(csv_text([{"image": "a", "nc_ratio": 1 / 3}]), end="")
    image,nc_ratio
    a,0.333333
    """
    import csv
    import io
    import math

    def fmt(value):
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.6g}"
        return value

    fields = list(dict.fromkeys(k for row in rows for k in row)) or list(default_fields)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: fmt(v) for k, v in row.items()})
    return buffer.getvalue()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: all of it, or nothing."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _without_nan(value):
    """JSON has no NaN: null instead."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nan(v) for v in value]
    return value


def json_text(payload: dict) -> str:
    """``payload`` as JSON text: NaN and infinities as null, numpy values as numbers.

    Examples
    --------
    >>> print(json_text({"a": float("nan"), "b": np.float32(0.5)}))
    {
     "a": null,
     "b": 0.5
    }
    """
    import json

    return json.dumps(_without_nan(payload), indent=1, default=_json_default)


def write_json(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` as JSON (:func:`json_text`) to ``path`` atomically."""
    write_text(path, json_text(payload) + "\n")


def read_csv_rows(path: str | os.PathLike) -> tuple[list[dict], Path]:
    """The rows of a CSV file as dicts (a BOM is dropped), and its path; DataSetError in one
    line when it is missing, unreadable or empty."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = list(csv.DictReader(file))
    except FileNotFoundError:
        raise DataSetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataSetError(f"{path}: not a readable CSV ({exc})") from None
    if not rows:
        raise DataSetError(f"{path}: no rows")
    return rows, path
