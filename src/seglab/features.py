"""Per-pixel features: colour channels and transforms (the filter bank builds on these).

A channel is named by a string: ``luminance`` (0.299 R + 0.587 G + 0.114 B, or the only
channel of a grey image), ``red`` / ``green`` / ``blue`` (or an integer index), ``hue`` /
``saturation`` / ``value`` (HSV), ``L`` / ``a`` / ``b`` (CIE Lab, rescaled to about [0, 1]),
``hematoxylin`` / ``eosin`` / ``dab`` (colour deconvolution, scikit-image's ``rgb2hed``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .errors import ParameterError, ShapeError

__all__ = [
    "CHANNELS",
    "DEFAULT_BANK",
    "FILTERS",
    "FilterBank",
    "channel",
    "check_bank",
    "luminance",
]

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


# ----------------------------------------------------------------------------- filter bank

#: colour spaces a filter bank can expand an RGB image into
COLOUR_SPACES = ("rgb", "grey", "hsv", "lab", "hed")
#: filters, each applied per channel at each scale
FILTERS = ("gaussian", "dog", "log", "gradient", "hessian", "structure", "std")
DEFAULT_BANK = {
    "colours": ["rgb"],
    "sigmas": [1.0, 2.0, 4.0, 8.0, 16.0],
    "filters": ["gaussian", "gradient", "hessian", "std"],
    "raw": True,
    "position": False,
    "shifts": [],
}
_TRUNCATE = 4.0  # Gaussian kernels reach 4 sigma


def check_bank(spec: dict | None) -> dict:
    """A complete, validated filter-bank spec (missing keys take DEFAULT_BANK's values)."""
    spec = {**DEFAULT_BANK, **(spec or {})}
    unknown = set(spec) - set(DEFAULT_BANK)
    if unknown:
        raise ParameterError(
            f"features: unknown key(s) {sorted(unknown)}; use {', '.join(DEFAULT_BANK)}"
        )
    for colour in spec["colours"]:
        if colour not in COLOUR_SPACES:
            raise ParameterError(
                f"features colours: {colour!r} is not one of {', '.join(COLOUR_SPACES)}"
            )
    for name in spec["filters"]:
        if name not in FILTERS:
            raise ParameterError(f"features filters: {name!r} is not one of {', '.join(FILTERS)}")
    sigmas = spec["sigmas"]
    if not sigmas or any(not isinstance(s, (int, float)) or s <= 0 for s in sigmas):
        raise ParameterError(f"features sigmas={sigmas!r}: give positive numbers")
    if list(sigmas) != sorted(sigmas):
        raise ParameterError(f"features sigmas={sigmas!r}: give them in increasing order")
    for shift in spec["shifts"]:
        if len(shift) != 2 or any(not isinstance(v, int) for v in shift):
            raise ParameterError(f"features shifts: {shift!r} is not a [dy, dx] pair of integers")
    return spec


def colour_planes(image: np.ndarray, colours) -> tuple[list[np.ndarray], list[str]]:
    """The (H, W) planes of the requested colour spaces; grey images give their one channel."""
    if image.shape[-1] < 3:
        return [image[..., c] for c in range(image.shape[-1])], [
            f"ch{c}" for c in range(image.shape[-1])
        ]
    planes, names = [], []
    for space in dict.fromkeys(colours):
        if space == "rgb":
            planes += [image[..., 0], image[..., 1], image[..., 2]]
            names += ["red", "green", "blue"]
        elif space == "grey":
            planes.append(luminance(image))
            names.append("grey")
        else:
            keys = {"hsv": _HSV, "lab": _LAB, "hed": _HED}[space]
            converted = _convert(image[..., :3], space)  # once per space, not per channel
            planes += [converted[..., k] for k in range(3)]
            names += list(keys)
    return [np.ascontiguousarray(p, dtype=np.float32) for p in planes], names


def _convert(rgb: np.ndarray, space: str) -> np.ndarray:
    """All three channels of a colour space, scaled as :func:`channel` scales them."""
    if space == "hsv":
        from skimage.color import rgb2hsv

        return rgb2hsv(rgb).astype(np.float32)
    if space == "lab":
        from skimage.color import rgb2lab

        lab = rgb2lab(rgb)
        return np.stack(
            [lab[..., 0] / 100.0, (lab[..., 1] + 128.0) / 255.0, (lab[..., 2] + 128.0) / 255.0],
            axis=-1,
        ).astype(np.float32)
    from skimage.color import rgb2hed

    return rgb2hed(rgb).astype(np.float32)


def _eigen2(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (larger, smaller) of the symmetric 2x2 field [[a, b], [b, c]]."""
    mean = (a + c) / 2
    root = np.sqrt(((a - c) / 2) ** 2 + b * b)
    return mean + root, mean - root


class FilterBank:
    """Declarative multi-scale filter bank, as in ilastik and Trainable Weka.

    Each colour plane is smoothed once per scale; the other filters reuse that Gaussian:
    ``dog`` (this scale minus the next), ``log`` (Laplacian of Gaussian), ``gradient``
    (magnitude), ``hessian`` (two eigenvalues), ``structure`` (two eigenvalues of the structure
    tensor at twice the scale) and ``std`` (local standard deviation). Derivatives are central
    differences of the smoothed plane. Borders are mirrored (``mode="reflect"``).

    Parameters
    ----------
    spec : dict
        Keys ``colours``, ``sigmas``, ``filters``, ``raw``, ``position`` and ``shifts`` (see
        ``DEFAULT_BANK``); missing keys take the defaults.

    Examples
    --------
    >>> bank = FilterBank({"colours": ["grey"], "sigmas": [1.0], "filters": ["gaussian"]})
    >>> bank.compute(np.zeros((8, 8, 3), np.float32)).shape
    (8, 8, 2)
    >>> bank.names(3)
    ['grey', 'grey gaussian s1']
    """

    def __init__(self, spec: dict | None = None):
        self.spec = check_bank(spec)

    @property
    def halo(self) -> int:
        """Context in pixels: the widest kernel plus the derivative stencils."""
        sigmas, filters = self.spec["sigmas"], set(self.spec["filters"])
        widest = max(sigmas) * (1.6 if "dog" in filters else 1.0)
        halo = int(np.ceil(_TRUNCATE * widest))
        if filters & {"log", "hessian", "gradient"}:
            halo = max(halo, int(np.ceil(_TRUNCATE * max(sigmas))) + 2)
        if "structure" in filters:
            halo = max(
                halo,
                int(np.ceil(_TRUNCATE * max(sigmas)))
                + 1
                + int(np.ceil(_TRUNCATE * 2 * max(sigmas))),
            )
        shifts = self.spec["shifts"]
        if shifts:
            halo = max(
                halo,
                max(max(abs(dy), abs(dx)) for dy, dx in shifts)
                + int(np.ceil(_TRUNCATE * min(sigmas))),
            )
        return halo

    def names(self, n_channels: int) -> list[str]:
        """Feature names, in the order of :meth:`compute`'s last axis."""
        dummy = np.zeros((1, 1, n_channels), np.float32)
        _, plane_names = colour_planes(dummy, self.spec["colours"])
        return self._layout(plane_names)

    def _layout(self, plane_names) -> list[str]:
        spec, names = self.spec, []
        sigmas, filters = spec["sigmas"], spec["filters"]
        for plane in plane_names:
            if spec["raw"]:
                names.append(plane)
            for k, s in enumerate(sigmas):
                tag = f"s{s:g}"
                for f in filters:
                    if f == "gaussian":
                        names.append(f"{plane} gaussian {tag}")
                    elif f == "dog":
                        nxt = sigmas[k + 1] if k + 1 < len(sigmas) else 1.6 * s
                        names.append(f"{plane} dog {tag}-s{nxt:g}")
                    elif f in ("log", "gradient", "std"):
                        names.append(f"{plane} {f} {tag}")
                    else:
                        names += [f"{plane} {f}1 {tag}", f"{plane} {f}2 {tag}"]
        for dy, dx in spec["shifts"]:
            names.append(f"{plane_names[0]} shift {dy:+d},{dx:+d}")
        if spec["position"]:
            names += ["row", "column"]
        return names

    def compute(self, image: np.ndarray) -> np.ndarray:
        """(H, W, F) float32 features of an (H, W, C) image."""
        spec = self.spec
        planes, plane_names = colour_planes(image, spec["colours"])
        sigmas, filters = spec["sigmas"], spec["filters"]
        h, w = image.shape[:2]
        out = np.empty((h, w, len(self._layout(plane_names))), np.float32)
        col = 0

        def put(value):
            nonlocal col
            out[..., col] = value
            col += 1

        def gauss(plane, s):
            return ndi.gaussian_filter(plane, s, mode="reflect", truncate=_TRUNCATE)

        for plane in planes:
            if spec["raw"]:
                put(plane)
            smoothed = [gauss(plane, s) for s in sigmas]
            for k, s in enumerate(sigmas):
                g = smoothed[k]
                need_d1 = {"gradient", "structure"} & set(filters)
                need_d2 = {"log", "hessian"} & set(filters)
                if need_d1 or need_d2:
                    gy, gx = np.gradient(g)
                for f in filters:
                    if f == "gaussian":
                        put(g)
                    elif f == "dog":
                        nxt = smoothed[k + 1] if k + 1 < len(sigmas) else gauss(plane, 1.6 * s)
                        put(g - nxt)
                    elif f == "gradient":
                        put(np.hypot(gx, gy))
                    elif f in ("log", "hessian"):
                        gyy, gyx = np.gradient(gy)
                        _, gxx = np.gradient(gx)
                        if f == "log":
                            put(gxx + gyy)
                        else:
                            big, small = _eigen2(gxx, gyx, gyy)
                            put(big)
                            put(small)
                    elif f == "structure":
                        big, small = _eigen2(
                            gauss(gx * gx, 2 * s), gauss(gx * gy, 2 * s), gauss(gy * gy, 2 * s)
                        )
                        put(big)
                        put(small)
                    elif f == "std":
                        put(np.sqrt(np.maximum(gauss(plane * plane, s) - g * g, 0)))
        if spec["shifts"]:
            base = gauss(planes[0], sigmas[0])
            for dy, dx in spec["shifts"]:
                # value of the (lightly smoothed) first plane dy rows and dx columns away
                put(ndi.shift(base, (-dy, -dx), order=0, mode="reflect"))
        if spec["position"]:
            rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
            scale = 1.0 / max(h - 1, w - 1, 1)
            put(rows * scale)
            put(cols * scale)
        return out
