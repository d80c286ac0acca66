"""Blur before, morphology after: composable steps any segmenter takes as ``pre=`` / ``post=``.

Steps are plain dicts, so they travel through ``get_params``, ``clone``, the command line
(``--set 'post=[{"op": "fill_holes", "label": 2}]'``) and model files unchanged:

- pre: ``{"op": "gaussian", "sigma": 1.5}`` (Gaussian blur of every channel);
- post, per class ``label``: ``{"op": "opening" | "closing", "label": L, "radius": R}``,
  ``{"op": "fill_holes", "label": L}`` (optionally ``"max_size": S``),
  ``{"op": "remove_small", "label": L, "min_size": S}``;
- post, for images that each hold one cell (single-cell crops such as Herlev's):
  ``{"op": "single_cell"}`` (optionally ``"nucleus": N``, ``"cytoplasm": C``, default 2 and
  1) keeps the largest connected region of non-background pixels as the cell, holes filled
  as cytoplasm, and in it the largest nucleus region, holes filled (:func:`single_cell`);
- post, first of all, for a method with probabilities: ``{"op": "mrf", "weight": W}``
  (optionally ``"contrast": true``, ``"solver": "graphcut" | "icm"``), the labelling that
  minimises -log p per pixel plus a Potts term between neighbours (:mod:`seglab.mrf`) in place
  of the argmax; the segmenter applies it, with the probabilities, before the other steps.

Pixels a step removes from a class get ``fill`` (default 0, background); pixels it adds take
the class. The course's "targeted cleanup" is::

    [{"op": "remove_small", "label": 2, "min_size": 50}, {"op": "fill_holes", "label": 2},
     {"op": "remove_small", "label": 1, "min_size": 50}]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from .errors import ParameterError

__all__ = [
    "UNBOUNDED_HALO",
    "apply_post",
    "apply_pre",
    "check_steps",
    "single_cell",
    "steps_halo",
    "targeted_cleanup",
]

#: halo of a step whose result can depend on pixels anywhere in the image
UNBOUNDED_HALO = 1 << 30

_PRE_OPS = {"gaussian": {"sigma"}}
_POST_OPS = {
    "opening": {"label", "radius"},
    "closing": {"label", "radius"},
    "fill_holes": {"label"},
    "remove_small": {"label", "min_size"},
    "mrf": {"weight"},
    "single_cell": set(),
}
_OPTIONAL = {"fill", "max_size", "contrast", "solver", "nucleus", "cytoplasm"}
# 4-connectivity, as scikit-image's remove_small_objects and the course code use.
_CONNECTIVITY = ndi.generate_binary_structure(2, 1)


def targeted_cleanup(min_nucleus: int = 50, min_cytoplasm: int = 50) -> list[dict]:
    """The course's Lab 03-v2 cleanup as post steps (nucleus = 2, cytoplasm = 1)."""
    return [
        {"op": "remove_small", "label": 2, "min_size": int(min_nucleus)},
        {"op": "fill_holes", "label": 2},
        {"op": "remove_small", "label": 1, "min_size": int(min_cytoplasm)},
    ]


def check_steps(steps, kind: str) -> list[dict]:
    """Validate ``pre`` or ``post`` steps, returning them as a list of dicts."""
    if steps is None:
        return []
    if isinstance(steps, dict):
        steps = [steps]
    if not isinstance(steps, Sequence) or isinstance(steps, str):
        raise ParameterError(f"{kind}={steps!r}: give a list of steps like {{'op': ...}}")
    ops = _PRE_OPS if kind == "pre" else _POST_OPS
    out = []
    for step in steps:
        if not isinstance(step, dict) or step.get("op") not in ops:
            raise ParameterError(
                f"{kind} step {step!r}: 'op' must be one of {', '.join(sorted(ops))}"
            )
        needed = ops[step["op"]]
        missing = needed - set(step)
        extra = set(step) - needed - _OPTIONAL - {"op"}
        if missing or extra:
            word = f"needs {sorted(missing)}" if missing else f"has unknown keys {sorted(extra)}"
            raise ParameterError(f"{kind} step {step!r} {word}")
        for key in needed - {"label"}:
            value = step[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ParameterError(f"{kind} step {step!r}: {key} must be a number >= 0")
        for key in ("nucleus", "cytoplasm"):
            value = step.get(key, 1)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"{kind} step {step!r}: {key} must be a label >= 1")
        if step["op"] == "mrf":
            if out:
                raise ParameterError(
                    f"post step {step!r} must come first: it replaces the argmax of the"
                    " probabilities, before any step on labels"
                )
            if not isinstance(step.get("contrast", False), bool):
                raise ParameterError(f"post step {step!r}: contrast must be true or false")
            if step.get("solver", "auto") not in ("auto", "graphcut", "icm"):
                raise ParameterError(f"post step {step!r}: solver must be graphcut or icm")
        out.append(step)
    return out


def label_steps(steps) -> list[dict]:
    """The steps :func:`apply_post` applies: all but a leading ``mrf`` (the segmenter's)."""
    return [s for s in check_steps(steps, "post") if s["op"] != "mrf"]


def apply_pre(image: np.ndarray, steps) -> np.ndarray:
    """Apply pre-processing steps to a float32 (H, W, C) image (mode 'nearest' at borders)."""
    for step in check_steps(steps, "pre"):
        sigma = float(step["sigma"])
        if sigma > 0:
            image = ndi.gaussian_filter(image, sigma=(sigma, sigma, 0), mode="nearest")
    return image


def _remove_small(binary: np.ndarray, min_size: int) -> np.ndarray:
    labels, n = ndi.label(binary, structure=_CONNECTIVITY)
    if n == 0:
        return binary
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_size
    keep[0] = False
    return keep[labels]


def _fill_holes(binary: np.ndarray, max_size: int | None) -> np.ndarray:
    filled = ndi.binary_fill_holes(binary)
    if max_size is None:
        return filled
    holes = filled & ~binary
    small_holes = holes & ~_remove_small(holes, int(max_size) + 1)
    return binary | small_holes


def _largest(binary: np.ndarray) -> np.ndarray:
    labels, n = ndi.label(binary, structure=_CONNECTIVITY)
    if n <= 1:
        return binary
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def single_cell(labels: np.ndarray, nucleus: int = 2, cytoplasm: int = 1) -> np.ndarray:
    """The one cell of a single-cell crop: the largest connected region of non-background
    pixels, its holes filled with cytoplasm; in it, the largest nucleus region, its holes
    filled. Everything else becomes background (0) or, for other nuclei, cytoplasm.

    On Herlev's Pap-smear crops (half the training stems fitting `hgb`, the other half
    scored) this raised nucleus Dice from 0.827 to 0.871, and to 0.811 from 0.655 in normal
    superficial cells, whose tiny nuclei lose most to stray specks.

    Examples
    --------
    >>> mask = np.array([[1, 1, 1, 0, 2],
    ...                  [1, 0, 1, 0, 0],
    ...                  [1, 2, 1, 0, 1]])
    >>> single_cell(mask)
    array([[1, 1, 1, 0, 0],
           [1, 1, 1, 0, 0],
           [1, 2, 1, 0, 0]])
    """
    labels = np.asarray(labels)
    cell = ndi.binary_fill_holes(_largest(labels > 0))
    out = np.where(cell, labels, 0)
    nuclei = (out == nucleus) & cell
    out[cell & ~nuclei] = cytoplasm
    if nuclei.any():
        kept = ndi.binary_fill_holes(_largest(nuclei))
        out[nuclei & ~kept] = cytoplasm
        out[kept] = nucleus
    return out.astype(labels.dtype, copy=False)


def apply_post(labels: np.ndarray, steps) -> np.ndarray:
    """Apply post-processing steps to an (H, W) label mask; returns a new mask.

    A leading ``mrf`` step is left out: it needs the probabilities, and
    :meth:`seglab.segmenters.Segmenter.predict` applies it before calling this.
    """
    steps = label_steps(steps)
    if not steps:
        return labels
    labels = labels.copy()
    for step in steps:
        if step["op"] == "single_cell":
            nucleus, cytoplasm = int(step.get("nucleus", 2)), int(step.get("cytoplasm", 1))
            labels = single_cell(labels, nucleus=nucleus, cytoplasm=cytoplasm)
            continue
        label = int(step["label"])
        binary = labels == label
        op = step["op"]
        if op in ("opening", "closing"):
            from skimage.morphology import disk

            footprint = disk(int(step["radius"]))
            func = ndi.binary_opening if op == "opening" else ndi.binary_closing
            new = func(binary, structure=footprint, border_value=0)
            if op == "closing":
                # binary_closing erodes from an all-zero border; keep the original pixels there.
                new |= binary
        elif op == "fill_holes":
            new = _fill_holes(binary, step.get("max_size"))
        else:
            new = _remove_small(binary, int(step["min_size"]))
        labels[binary & ~new] = int(step.get("fill", 0))
        labels[new & ~binary] = label
    return labels


def steps_halo(pre, post) -> int:
    """Context (pixels) the pre and post steps add to a method's own halo.

    Blur reaches 4 sigma; opening/closing twice the radius; removing objects under ``S``
    pixels needs ``S`` pixels of context (a smaller object fits in that window); filling
    holes of any size can depend on the whole image.
    """
    halo = 0
    for step in check_steps(pre, "pre"):
        halo += int(np.ceil(4 * float(step["sigma"])))
    for step in check_steps(post, "post"):
        op = step["op"]
        if op in ("opening", "closing"):
            halo += 2 * int(step["radius"])
        elif op == "remove_small":
            halo += int(step["min_size"])
        elif op == "fill_holes" and step.get("max_size") is not None:
            halo += int(step["max_size"])
        else:
            return UNBOUNDED_HALO
    return halo
