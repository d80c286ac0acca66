"""napari's File > Open Sample: synthetic cells, and a course image with its mask."""

from __future__ import annotations

from pathlib import Path

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
    """The course data's folder (``images/``, ``masks/``) from :func:`seglab.data.course_data`,
    or a DataSetError that says how to get it (nothing is downloaded from napari's menu)."""
    from ..data import course_data

    return course_data(fetch=False)


def course_image_sample() -> list[tuple]:
    """Course image 3 (urothelial cells, RGB) with its 3-class mask."""
    from ..io import load_mask, read_array

    folder = course_folder()
    image = read_array(folder / "images" / f"{COURSE_SAMPLE}.png")[..., :3]
    mask = load_mask(folder / "masks" / f"{COURSE_SAMPLE}.png")
    return [
        (image, {"name": f"course image {COURSE_SAMPLE}", "rgb": True}, "image"),
        (mask, {"name": f"course image {COURSE_SAMPLE}: mask", "opacity": 0.4}, "labels"),
    ]
