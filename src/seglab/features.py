"""Per-pixel features: colour channels and transforms (the filter bank builds on these).

A channel is named by a string: ``luminance`` (0.299 R + 0.587 G + 0.114 B, or the only
channel of a grey image), ``red`` / ``green`` / ``blue`` (or an integer index), ``hue`` /
``saturation`` / ``value`` (HSV), ``L`` / ``a`` / ``b`` (CIE Lab, rescaled to about [0, 1]),
``hematoxylin`` / ``eosin`` / ``dab`` (colour deconvolution, scikit-image's ``rgb2hed``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

from ._threads import parallel_map
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
    "select": None,
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
    select = spec["select"]
    if select is not None and (
        isinstance(select, str) or not all(isinstance(n, str) for n in select) or not select
    ):
        raise ParameterError(f"features select={select!r}: give a non-empty list of feature names")
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


def _reach(filter_name: str, sigma: float, next_sigma: float) -> int:
    """Pixels of context one feature needs: its widest kernel plus derivative stencils."""
    base = int(np.ceil(_TRUNCATE * sigma))
    if filter_name == "dog":
        return int(np.ceil(_TRUNCATE * next_sigma))
    if filter_name in ("log", "hessian", "gradient"):
        return base + 2
    if filter_name == "structure":
        return base + 1 + int(np.ceil(_TRUNCATE * 2 * sigma))
    return base  # gaussian, std


class _Entry(NamedTuple):
    """One feature of the layout: where it comes from and how far it reaches."""

    name: str
    plane: int  # index into the colour planes; -1 for position
    filter: str  # "raw", a FILTERS name, "shift" or "position"
    scale: int  # index into sigmas; -1 where none
    component: int  # 0, or 1 for the second eigenvalue / column / shift index
    reach: int
    sigma: float  # the widest Gaussian it uses (0 for raw and position)


class FilterBank:
    """Declarative multi-scale filter bank, as in ilastik and Trainable Weka.

    Each colour plane is smoothed once per scale; the other filters reuse that Gaussian:
    ``dog`` (this scale minus the next), ``log`` (Laplacian of Gaussian), ``gradient``
    (magnitude), ``hessian`` (two eigenvalues), ``structure`` (two eigenvalues of the structure
    tensor at twice the scale) and ``std`` (local standard deviation). Derivatives are central
    differences of the smoothed plane. Borders are mirrored (``mode="reflect"``).

    A ``select`` list of feature names (as :meth:`names` gives them) keeps only those
    features: the others, and any Gaussian no kept feature needs, are not computed, and the
    halo shrinks to the widest kept feature's reach.

    Parameters
    ----------
    spec : dict
        Keys ``colours``, ``sigmas``, ``filters``, ``raw``, ``position``, ``shifts`` and
        ``select`` (see ``DEFAULT_BANK``); missing keys take the defaults.

    Examples
    --------
    >>> bank = FilterBank({"colours": ["grey"], "sigmas": [1.0], "filters": ["gaussian"]})
    >>> bank.compute(np.zeros((8, 8, 3), np.float32)).shape
    (8, 8, 2)
    >>> bank.names(3)
    ['grey', 'grey gaussian s1']
    >>> FilterBank({**bank.spec, "select": ["grey gaussian s1"]}).names(3)
    ['grey gaussian s1']
    """

    def __init__(self, spec: dict | None = None):
        self.spec = check_bank(spec)

    # ------------------------------------------------------------------ layout
    def _entries(self, plane_names) -> list[_Entry]:
        """Every feature of the full (unselected) bank, in output order."""
        spec, entries = self.spec, []
        sigmas, filters = spec["sigmas"], spec["filters"]
        for p, plane in enumerate(plane_names):
            if spec["raw"]:
                entries.append(_Entry(plane, p, "raw", -1, 0, 0, 0.0))
            for k, s in enumerate(sigmas):
                tag = f"s{s:g}"
                nxt = sigmas[k + 1] if k + 1 < len(sigmas) else 1.6 * s
                reach = {f: _reach(f, s, nxt) for f in filters}
                widest = {
                    f: nxt if f == "dog" else 2 * s if f == "structure" else s for f in filters
                }
                for f in filters:
                    if f == "dog":
                        names = [f"{plane} dog {tag}-s{nxt:g}"]
                    elif f in ("gaussian", "log", "gradient", "std"):
                        names = [f"{plane} {f} {tag}"]
                    else:
                        names = [f"{plane} {f}1 {tag}", f"{plane} {f}2 {tag}"]
                    entries += [
                        _Entry(n, p, f, k, c, reach[f], widest[f]) for c, n in enumerate(names)
                    ]
        for j, (dy, dx) in enumerate(spec["shifts"]):
            reach = max(abs(dy), abs(dx)) + int(np.ceil(_TRUNCATE * sigmas[0]))
            name = f"{plane_names[0]} shift {dy:+d},{dx:+d}"
            entries.append(_Entry(name, 0, "shift", 0, j, reach, sigmas[0]))
        if spec["position"]:
            entries += [_Entry("row", -1, "position", -1, 0, 0, 0.0)]
            entries += [_Entry("column", -1, "position", -1, 1, 0, 0.0)]
        return entries

    def _kept(self, plane_names) -> list[_Entry]:
        entries = self._entries(plane_names)
        select = self.spec["select"]
        if select is None:
            return entries
        known = {e.name for e in entries}
        missing = [name for name in select if name not in known]
        if missing:
            raise ParameterError(
                f"features select: {missing[:3]} not in this bank (its names: "
                f"{', '.join(sorted(known)[:6])}, ...)"
            )
        wanted = set(select)
        return [e for e in entries if e.name in wanted]

    def names(self, n_channels: int) -> list[str]:
        """Feature names, in the order of :meth:`compute`'s last axis."""
        dummy = np.zeros((1, 1, n_channels), np.float32)
        _, plane_names = colour_planes(dummy, self.spec["colours"])
        return [e.name for e in self._kept(plane_names)]

    def _any_image_entries(self) -> list[_Entry]:
        """The kept entries, for any image: plane names depend on the image, so a selection
        is matched against every plane name it could use."""
        if self.spec["select"] is None:
            return self._entries(["x"])  # every plane reaches as far: one stands for all
        planes = ["grey", *_RGB, *_HSV, *_LAB, *_HED, *(f"ch{c}" for c in range(8))]
        wanted = set(self.spec["select"])
        return [e for e in self._entries(planes) if e.name in wanted]

    @property
    def halo(self) -> int:
        """Context in pixels: the widest kept feature's kernel plus derivative stencils."""
        return max((e.reach for e in self._any_image_entries()), default=0)

    @property
    def widest_sigma(self) -> float:
        """The largest Gaussian sigma a kept feature uses (0 if none smooths)."""
        return max((e.sigma for e in self._any_image_entries()), default=0.0)

    def compute(self, image: np.ndarray, spare: int = 0) -> np.ndarray:
        """(H, W, F) float32 features of an (H, W, C) image; with ``spare``, (H, W, F + spare)
        whose last ``spare`` columns are left for the caller to fill (the pixel classifiers'
        context stage writes there instead of concatenating a copy)."""
        planes, plane_names = colour_planes(image, self.spec["colours"])
        kept = self._kept(plane_names)
        h, w = image.shape[:2]
        out = np.empty((h, w, len(kept) + spare), np.float32)
        # One task per colour plane and scale (a Gaussian is shared by that scale's features;
        # only `dog` needs the next scale's too, and computes it again): the filters release
        # the GIL, so the tasks run in parallel.
        tasks: dict[tuple[int, int], list[int]] = {}
        for col, entry in enumerate(kept):
            tasks.setdefault((max(entry.plane, 0), entry.scale), []).append(col)

        def fill(columns: list[int]) -> None:
            plane_filters = _PlaneFilters(planes, self.spec)
            for col in columns:
                out[..., col] = plane_filters.value(kept[col], h, w)

        parallel_map(fill, tasks.values())
        return out


class _PlaneFilters:
    """Filter responses of colour planes, each Gaussian and derivative computed once."""

    def __init__(self, planes: list[np.ndarray], spec: dict):
        self.planes, self.spec, self.sigmas = planes, spec, spec["sigmas"]
        self.cache: dict[tuple, object] = {}

    def _cached(self, key: tuple, make):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def gauss(self, p: int, s: float) -> np.ndarray:
        return self._cached(
            ("g", p, s),
            lambda: ndi.gaussian_filter(self.planes[p], s, mode="reflect", truncate=_TRUNCATE),
        )

    def first(self, p: int, k: int):
        return self._cached(("d1", p, k), lambda: np.gradient(self.gauss(p, self.sigmas[k])))

    def second(self, p: int, k: int):
        def make():
            gy, gx = self.first(p, k)
            gyy, gyx = np.gradient(gy)
            _, gxx = np.gradient(gx)
            return gyy, gyx, gxx

        return self._cached(("d2", p, k), make)

    def value(self, e: _Entry, h: int, w: int) -> np.ndarray:
        """One feature's (H, W) values (or a broadcastable row or column for position)."""
        sigmas, planes = self.sigmas, self.planes
        p, k, c = e.plane, e.scale, e.component
        s = sigmas[k] if k >= 0 else 0.0
        if e.filter == "raw":
            return planes[p]
        if e.filter == "gaussian":
            return self.gauss(p, s)
        if e.filter == "dog":
            nxt = sigmas[k + 1] if k + 1 < len(sigmas) else 1.6 * s
            return self.gauss(p, s) - self.gauss(p, nxt)
        if e.filter == "gradient":
            gy, gx = self.first(p, k)
            return np.hypot(gx, gy)
        if e.filter == "log":
            gyy, _, gxx = self.second(p, k)
            return gxx + gyy
        if e.filter == "hessian":
            return self._cached(("hess", p, k), lambda: _eigen2(*self.second(p, k)[::-1]))[c]
        if e.filter == "structure":

            def tensor():
                gy, gx = self.first(p, k)
                g2 = 2 * s
                return _eigen2(
                    ndi.gaussian_filter(gx * gx, g2, mode="reflect", truncate=_TRUNCATE),
                    ndi.gaussian_filter(gx * gy, g2, mode="reflect", truncate=_TRUNCATE),
                    ndi.gaussian_filter(gy * gy, g2, mode="reflect", truncate=_TRUNCATE),
                )

            return self._cached(("struct", p, k), tensor)[c]
        if e.filter == "std":
            square = ndi.gaussian_filter(
                planes[p] * planes[p], s, mode="reflect", truncate=_TRUNCATE
            )
            return np.sqrt(np.maximum(square - self.gauss(p, s) ** 2, 0))
        if e.filter == "shift":
            dy, dx = self.spec["shifts"][c]
            # value of the (lightly smoothed) first plane dy rows and dx columns away
            return ndi.shift(self.gauss(0, sigmas[0]), (-dy, -dx), order=0, mode="reflect")
        # position
        scale = 1.0 / max(h - 1, w - 1, 1)
        value = np.arange(h if c == 0 else w, dtype=np.float32) * scale
        return value[:, None] if c == 0 else value[None, :]
