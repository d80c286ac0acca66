"""Per-pixel features: colour channels and transforms (the filter bank builds on these).

A channel is named by a string: ``luminance`` (0.299 R + 0.587 G + 0.114 B, or the only
channel of a grey image), ``red`` / ``green`` / ``blue`` (or an integer index), ``hue`` /
``saturation`` / ``value`` (HSV), ``L`` / ``a`` / ``b`` (CIE Lab, rescaled to about [0, 1]),
``hematoxylin`` / ``eosin`` / ``dab`` (colour deconvolution, scikit-image's ``rgb2hed``).
"""

from __future__ import annotations

import numpy as np

from .errors import ParameterError, ShapeError

__all__ = ["CHANNELS", "channel", "luminance"]

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_RGB = {"red": 0, "green": 1, "blue": 2}
_HSV = {"hue": 0, "saturation": 1, "value": 2}
_LAB = {"L": 0, "a": 1, "b": 2}
_HED = {"hematoxylin": 0, "eosin": 1, "dab": 2}
CHANNELS = ("luminance", *_RGB, *_HSV, *_LAB, *_HED)


def luminance(image: np.ndarray) -> np.ndarray:
    """Grey value of an (H, W, C) image: ``0.299 R + 0.587 G + 0.114 B``, or the channel itself.

    Examples
    --------
    >>> float(luminance(np.ones((1, 1, 3), np.float32))[0, 0])
    1.0
    """
    if image.shape[-1] == 1:
        return image[..., 0]
    return image[..., :3] @ LUMA


def channel(image: np.ndarray, name: str | int = "luminance") -> np.ndarray:
    """One (H, W) float32 channel of an (H, W, C) image, by name or index.

    Examples
    --------
    >>> img = np.zeros((1, 1, 3), np.float32); img[..., 0] = 1.0  # pure red
    >>> round(float(channel(img, "hue")[0, 0]), 3), float(channel(img, "red")[0, 0])
    (0.0, 1.0)
    """
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        if not 0 <= name < image.shape[-1]:
            raise ParameterError(f"channel={name}: the image has {image.shape[-1]} channel(s)")
        return image[..., int(name)]
    if name == "luminance":
        return luminance(image)
    if name not in CHANNELS:
        raise ParameterError(f"channel={name!r}: use an index or one of {', '.join(CHANNELS)}")
    if image.shape[-1] < 3:
        raise ShapeError(f"channel={name!r} needs an RGB image; this one has 1 channel")
    rgb = image[..., :3]
    if name in _RGB:
        return rgb[..., _RGB[name]]
    if name in _HSV:
        from skimage.color import rgb2hsv

        return rgb2hsv(rgb)[..., _HSV[name]].astype(np.float32)
    if name in _LAB:
        from skimage.color import rgb2lab

        lab = rgb2lab(rgb)[..., _LAB[name]]
        # L is 0..100, a and b about -128..127: bring all to about [0, 1].
        scaled = lab / 100.0 if name == "L" else (lab + 128.0) / 255.0
        return scaled.astype(np.float32)
    from skimage.color import rgb2hed

    return rgb2hed(rgb)[..., _HED[name]].astype(np.float32)
