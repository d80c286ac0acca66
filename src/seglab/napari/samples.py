"""napari's File > Open Sample: synthetic cells, and a course image with its mask."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataSetError

#: Where the course images are looked for: this variable, else ``shared/data/voced/imagedata``
#: in the working directory or a folder above it (a seglab checkout beside ../shared).
COURSE_DATA_VARIABLE = "SEGLAB_COURSE_DATA"
COURSE_SAMPLE = 3  # a course image with three cells, nuclei of different sizes


def synthetic_cells_sample() -> list[tuple]:
    """A synthetic stained-cell image and its true mask (:func:`seglab.synthetic_cells`)."""
    from ..datasets import synthetic_cells

    image, mask = synthetic_cells(1, size=384).pair(0)
    return [
        (image, {"name": "synthetic cells", "rgb": True}, "image"),
        (mask, {"name": "synthetic cells: true mask", "opacity": 0.4, "visible": False}, "labels"),
    ]


def course_folder() -> Path:
    """The course data's ``imagedata`` folder (``images/``, ``masks/``), or a DataSetError
    that says where to get it."""
    given = os.environ.get(COURSE_DATA_VARIABLE)
    candidates = [Path(given)] if given else []
    here = Path.cwd().resolve()
    candidates += [p / "shared" / "data" / "voced" / "imagedata" for p in (here, *here.parents)]
    for folder in candidates:
        if (folder / "images").is_dir() and (folder / "masks").is_dir():
            return folder
    raise DataSetError(
        "the course images were not found: set SEGLAB_COURSE_DATA to the imagedata folder of"
        " the VocEd course repository (github.com/emilsar/VocEd)"
    )


def course_image_sample() -> list[tuple]:
    """Course image 3 (urothelial cells, RGB) with its 3-class mask."""
    from ..io import _read_array, load_mask

    folder = course_folder()
    image = _read_array(folder / "images" / f"{COURSE_SAMPLE}.png")[..., :3]
    mask = load_mask(folder / "masks" / f"{COURSE_SAMPLE}.png")
    return [
        (image, {"name": f"course image {COURSE_SAMPLE}", "rgb": True}, "image"),
        (mask, {"name": f"course image {COURSE_SAMPLE}: mask", "opacity": 0.4}, "labels"),
    ]
