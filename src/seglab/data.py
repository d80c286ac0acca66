"""The course data, fetched the way scientific Python fetches sample data.

The course's 200 urothelial cell images with their 3-class masks (the VocEd segmentation
course, ``imagedata/``) are downloaded once with `pooch <https://www.fatiando.org/pooch>`_ from
their public source, pinned to one commit, each file checked against its SHA-256 in the
registry shipped with seglab (``seglab/registry/voced.txt``). They are then written as the
``images/`` + ``masks/`` PNG layout that every seglab command reads, in a cache folder
(``~/.cache/seglab/data/voced`` on Linux). The PNGs equal the source arrays bit for bit (each image
value is a multiple of 1/255).

The data sets live side by side in one folder, :func:`data_home`: ``voced/imagedata`` (the
course data), and, where you have copies of them, ``bacteria``, ``oasis-brain``, ``qbi-em`` and
``herlev``, which some documentation pages and tests read. The environment variable
``SEGLAB_DATA`` names that folder (a local copy: nothing is downloaded while it holds the
course data); without it the folder is in seglab's cache.

From the command line, ``seglab data`` prints that folder, fetching the course data first if
needed; the documentation's pages read it as ``data/`` (``ln -s "$(seglab data)" data``).
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import DataSetError

__all__ = [
    "COURSE_COMMIT",
    "COURSE_URL",
    "DATA_ENV",
    "course_data",
    "course_data_path",
    "course_registry",
    "data_home",
    "fetch_course_data",
    "local_data",
]

#: The environment variable naming a folder of local copies (``voced/imagedata``, ...).
DATA_ENV = "SEGLAB_DATA"
#: The course repository's commit the registry's hashes were computed at.
COURSE_COMMIT = "9db60597809dc6355329718c400e2a7f74208387"
#: Where the course files are downloaded from: the repository's raw files at that commit.
COURSE_URL = f"https://raw.githubusercontent.com/emilsar/VocEd/{COURSE_COMMIT}/"

_DONE = ".complete"  # written last: a folder without it is an interrupted conversion


def data_home() -> Path:
    """The folder that holds the data sets by name: ``$SEGLAB_DATA`` when set, else seglab's
    cache (``~/.cache/seglab/data`` on Linux)."""
    root = os.environ.get(DATA_ENV)
    if root:
        return Path(root).expanduser()
    import pooch

    return Path(pooch.os_cache("seglab")) / "data"


def local_data(name: str) -> Path | None:
    """``data_home() / name`` when that folder exists, else None (nothing is downloaded)."""
    path = data_home() / name
    return path if path.is_dir() else None


def course_registry() -> dict[str, str]:
    """The course files and their SHA-256, as pooch's registry (``{"imagedata/X/0.npy":
    "sha256:..."}``), read from the file shipped with seglab.

    Examples
    --------
    >>> registry = course_registry()
    >>> len(registry), registry["imagedata/y/7.npy"].startswith("sha256:")
    (400, True)
    """
    text = resources.files("seglab").joinpath("registry/voced.txt").read_text("utf-8")
    registry = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            path, digest, _size = line.split()
            registry[path] = f"sha256:{digest}"
    return registry


def course_data_path() -> Path:
    """Where the course data is, or will be once fetched: ``data_home() / "voced" /
    "imagedata"``. Nothing is read or downloaded (for a script's constants)."""
    return data_home() / "voced" / "imagedata"


def course_data(fetch: bool = True, progress: bool = True) -> Path:
    """The folder of the course data (``images/`` + ``masks/``), downloading it on first use.

    Parameters
    ----------
    fetch : bool
        Download the data when :func:`data_home` does not hold it; with False a
        :class:`~seglab.DataSetError` says how to get it instead.
    progress : bool
        Show a progress bar on stderr while downloading.

    Returns
    -------
    Path
        ``data_home() / "voced" / "imagedata"``.
    """
    folder = course_data_path()
    # a local copy has its images and masks; a fetched one its marker, written last
    if (folder / _DONE).exists() or (
        os.environ.get(DATA_ENV) and (folder / "images").is_dir() and (folder / "masks").is_dir()
    ):
        return folder
    if not fetch:
        raise DataSetError(
            "the course data is not here: run `seglab data` to download it (262 MB, once),"
            f" or set {DATA_ENV} to a folder holding voced/imagedata"
        )
    return fetch_course_data(folder.parent, progress=progress)


def fetch_course_data(
    cache: str | os.PathLike,
    base_url: str = COURSE_URL,
    registry: dict[str, str] | None = None,
    progress: bool = True,
) -> Path:
    """Download the course files into ``cache`` and write them as ``cache/imagedata``
    (``images/`` + ``masks/``).

    Each file is checked against its SHA-256 (a mismatch is an error and leaves nothing);
    the arrays are written as PNGs, ``images/{i}.png`` (RGB uint8) and ``masks/{i}.png``
    (uint8 labels), into a temporary folder renamed when complete, and the downloaded
    ``.npy`` files are then deleted. An interrupted run starts over from the files already
    downloaded.

    Parameters
    ----------
    cache : path
        Folder for the download and the result.
    base_url : str
        Where ``imagedata/X/{i}.npy`` and ``imagedata/y/{i}.npy`` are found.
    registry : dict, optional
        ``{path: "sha256:..."}`` of the files to fetch; the course's by default
        (:func:`course_registry`). Every image needs its mask.
    progress : bool
        Show a progress bar on stderr.
    """
    import logging

    import imageio.v3 as iio
    import pooch
    from tqdm.auto import tqdm

    from .io import save_mask

    registry = course_registry() if registry is None else dict(registry)
    stems = sorted(
        {Path(p).stem for p in registry if p.startswith("imagedata/X/")},
        key=lambda s: (len(s), s),
    )
    cache = Path(cache)
    source = cache / "source"
    fetcher = pooch.create(path=source, base_url=base_url, registry=registry, retry_if_failed=2)
    logging.getLogger("pooch").setLevel(logging.WARNING)  # not one line per file
    final = cache / "imagedata"
    partial = cache / f".imagedata.{uuid.uuid4().hex}.partial"
    try:
        for sub in ("images", "masks"):
            (partial / sub).mkdir(parents=True)
        bar = tqdm(stems, desc="course data", unit="image", file=sys.stderr, disable=not progress)
        for stem in bar:
            image = np.load(_fetch(fetcher, f"imagedata/X/{stem}.npy", base_url))
            mask = np.load(_fetch(fetcher, f"imagedata/y/{stem}.npy", base_url))
            rgb = np.round(np.moveaxis(image, 0, -1) * 255).astype(np.uint8)
            iio.imwrite(partial / "images" / f"{stem}.png", rgb)
            save_mask(partial / "masks" / f"{stem}.png", mask.astype(np.uint8))
        (partial / _DONE).write_text(f"{base_url}\n", encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(source, ignore_errors=True)  # 262 MB of .npy; the PNGs are 12 MB
    return final


def _fetch(fetcher, name: str, base_url: str) -> str:
    """One file, checked; network and hash failures as one line."""
    if name not in fetcher.registry:
        raise DataSetError(f"the course registry has no {name} (every image needs its mask)")
    try:
        return fetcher.fetch(name)
    except ValueError as exc:  # pooch: the SHA-256 does not match
        raise DataSetError(f"{base_url}{name}: {exc}".splitlines()[0]) from exc
    except OSError as exc:  # requests' errors derive from OSError
        raise DataSetError(
            f"could not download {base_url}{name} ({type(exc).__name__}); set {DATA_ENV} to a"
            " local copy of the data"
        ) from exc
