"""Errors a user can cause. Every one has a one-line message naming the file or parameter."""

from __future__ import annotations

from typing import TypeVar

__all__ = [
    "DataSetError",
    "ImageReadError",
    "ImageTooLargeError",
    "ModelFileError",
    "OutputPathError",
    "ParameterError",
    "SeglabError",
    "ShapeError",
    "naming",
]


E = TypeVar("E", bound=Exception)


class SeglabError(Exception):
    """Base of every error caused by user input; the CLI prints it on one line and exits 2."""

    def __str__(self) -> str:  # one line, always
        return " ".join(super().__str__().split())


class ImageReadError(SeglabError):
    """An image or mask file is missing, unreadable, truncated or holds invalid values."""


class ImageTooLargeError(SeglabError):
    """An image is too large to hold in memory (use tiled prediction) or is a decompression bomb."""


class DataSetError(SeglabError):
    """A data-set folder has an unknown layout, is empty, or its images and masks do not match."""


class ModelFileError(SeglabError):
    """A `.seglab` model file is malformed, tampered with, or of an unknown format."""


class OutputPathError(SeglabError):
    """An output cannot be written where asked: a folder where a file is wanted, or the reverse."""


class ShapeError(SeglabError):
    """Arrays have the wrong number of dimensions, channels or mismatched sizes."""


class ParameterError(SeglabError, ValueError):
    """A parameter value (method name, split, option) is not valid."""


def naming(exc: E, path) -> E:
    """``exc`` with ``path`` in front of its message, or ``exc`` itself if it names it already.

    Checks deep in a segmenter know the array, not the file it came from; where files are
    predicted, the error must say which one.

    Examples
    --------
    >>> str(naming(ShapeError("wrong channels"), "a.png"))
    'a.png: wrong channels'
    >>> err = ShapeError("a.png: wrong channels")
    >>> naming(err, "a.png") is err
    True
    """
    if str(path) in str(exc):
        return exc
    return type(exc)(f"{path}: {exc}")
