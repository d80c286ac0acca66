"""OME-Zarr (OME-NGFF): images read lazily from their base level, masks written as labels.

A mask is written as an NGFF label image beside the image it was predicted from: the image
pyramid at the root, the mask under ``labels/seglab`` with as many levels (each label level
sampled from the full-resolution mask, never averaged), a colour and a ``class`` property per
label. NGFF 0.4 on Zarr v2 is the default, the version QuPath and Fiji read today; 0.5 (Zarr v3)
on request. Reading and writing go through the ``ome-zarr`` package (the ``interop`` extra).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .errors import ImageReadError, ParameterError, SeglabError
from .io import output_errors

__all__ = ["OmeZarrImage", "is_ome_zarr", "write_labelled_image"]

#: label colours (RGBA), class k at index k - 1: cytoplasm green, nucleus blue, as QuPath's
LABEL_COLOURS = [
    [0, 170, 0, 255],
    [30, 60, 220, 255],
    [230, 160, 0, 255],
    [200, 0, 200, 255],
    [0, 180, 200, 255],
]


def _attributes(path: Path) -> dict | None:
    """The group attributes of a Zarr folder (v2 ``.zattrs`` or v3 ``zarr.json``), or None."""
    v2, v3 = path / ".zattrs", path / "zarr.json"
    try:
        if v2.is_file():
            return json.loads(v2.read_text())
        if v3.is_file():
            meta = json.loads(v3.read_text())
            attributes = meta.get("attributes", {})
            return attributes.get("ome", attributes)  # NGFF 0.5 nests under "ome"
    except (OSError, ValueError) as exc:
        raise ImageReadError(f"{path}: unreadable Zarr metadata ({exc})") from None
    return None


def is_ome_zarr(path) -> bool:
    """True for a Zarr group folder (an OME-Zarr image, or a group that claims to be one)."""
    path = Path(path)
    if not path.is_dir():
        return False
    if (path / ".zgroup").is_file():
        return True
    meta = path / "zarr.json"
    if meta.is_file():
        try:
            return json.loads(meta.read_text()).get("node_type") == "group"
        except ValueError:
            return False
    return False


class OmeZarrImage:
    """The base level of an OME-Zarr image as a lazily read ``(H, W, C)`` array.

    Singleton time and z axes are dropped and the channel axis moved last; the array pickles
    as its path, so each worker opens the store itself.
    """

    def __init__(self, path):
        self.path = Path(path)
        attributes = _attributes(self.path) or {}
        multiscales = attributes.get("multiscales")
        if not multiscales:
            raise ImageReadError(
                f"{self.path}: a Zarr group without OME-NGFF multiscales metadata; seglab reads"
                " OME-Zarr images (NGFF 0.4 or 0.5) or a plain Zarr array"
            )
        first = multiscales[0]
        self.dataset = first["datasets"][0]["path"]
        self.levels = len(first["datasets"])
        axes = [a["name"] if isinstance(a, dict) else a for a in first.get("axes", [])]
        node = self._open()
        if not axes:  # NGFF 0.3 and older: 5-D t, c, z, y, x
            axes = list("tczyx")[-len(node.shape) :]
        if len(axes) != len(node.shape) or "y" not in axes or "x" not in axes:
            raise ImageReadError(f"{self.path}: axes {axes} do not fit shape {node.shape}")
        for name in axes:
            if name not in ("c", "y", "x") and node.shape[axes.index(name)] != 1:
                raise ImageReadError(
                    f"{self.path}: axis {name!r} has {node.shape[axes.index(name)]} planes;"
                    " seglab predicts 2-D images (one time point, one z plane)"
                )
        self.axes = axes
        self.channels = node.shape[axes.index("c")] if "c" in axes else 1
        height, width = node.shape[axes.index("y")], node.shape[axes.index("x")]
        self.shape = (int(height), int(width), int(self.channels))
        self.dtype = np.dtype(node.dtype)
        self.ndim = 3
        self._node = node

    def _open(self):
        import zarr

        try:
            return zarr.open_array(str(self.path / self.dataset), mode="r")
        except Exception as exc:
            raise ImageReadError(f"{self.path}: cannot open level {self.dataset} ({exc})") from None

    def __getitem__(self, key) -> np.ndarray:
        if self._node is None:
            self._node = self._open()
        index = []
        for name in self.axes:
            index.append({"y": key[0], "x": key[1]}.get(name, slice(None)))
        block = np.asarray(self._node[tuple(index)])
        kept = [name for name in self.axes if name in ("c", "y", "x")]
        block = block.reshape([block.shape[i] for i, n in enumerate(self.axes) if n in kept])
        if "c" not in kept:
            block = block[..., None]
            kept.append("c")
        block = np.moveaxis(block, [kept.index("y"), kept.index("x"), kept.index("c")], [0, 1, 2])
        return block[(slice(None), slice(None), *key[2:])] if len(key) > 2 else block

    def __getstate__(self):
        return {**self.__dict__, "_node": None}

    def __dask_tokenize__(self):
        return (str(self.path.resolve()), self.dataset, self.shape)


def _format(version: str):
    from ome_zarr.format import FormatV04, FormatV05

    formats = {"0.4": (FormatV04, 2), "0.5": (FormatV05, 3)}
    if version not in formats:
        raise ParameterError(f"--ngff {version}: seglab writes OME-NGFF 0.4 or 0.5")
    kind, zarr_format = formats[version]
    return kind(), zarr_format


def _level_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    return [(max(1, height >> k), max(1, width >> k)) for k in range(levels)]


def write_labelled_image(
    path,
    image,
    mask,
    class_names: list[str],
    levels: int | None = None,
    chunk: int = 1024,
    version: str = "0.4",
) -> Path:
    """Write an image and its mask as one OME-Zarr: the image pyramid and ``labels/seglab``.

    Parameters
    ----------
    path : path
        The ``.ome.zarr`` folder to write (replaced only when writing succeeds).
    image : (H, W, C) array-like
        The image (a Dask array, or anything Dask can wrap), written as its pyramid.
    mask : (H, W) array-like of int
        The labels, the same height and width.
    class_names : list of str
        ``class_names[k]`` names label ``k``; each label present gets a colour and a property.
    levels : int, optional
        Pyramid levels, each half the one above (default: halving while the shorter side
        stays at least 256 pixels).
    chunk : int
        Zarr chunk side.
    version : {"0.4", "0.5"}
        OME-NGFF version: 0.4 on Zarr v2 (QuPath, Fiji) or 0.5 on Zarr v3.
    """
    import dask.array as da

    try:
        import zarr
        from ome_zarr.writer import write_multiscale, write_multiscale_labels
    except ImportError:
        raise SeglabError(
            'writing OME-Zarr needs ome-zarr: pip install "seglab[interop]"'
        ) from None
    fmt, zarr_format = _format(version)
    path = Path(path)
    image = da.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    mask = da.asarray(mask)
    height, width = image.shape[:2]
    if mask.shape != (height, width):
        raise ParameterError(f"mask {mask.shape} and image {image.shape[:2]} differ in size")
    if levels is None:
        levels = 1
        while min(height, width) >> levels >= 256:
            levels += 1
    shapes = _level_shapes(height, width, levels)
    # Image levels average 2 x 2 blocks of the level above; label levels are sampled from the
    # full-resolution mask (labels must not be averaged).
    image_levels, mask_levels, level = [], [], image
    for k, (h, w) in enumerate(shapes):
        if k:
            level = da.coarsen(np.mean, level, {0: 2, 1: 2}, trim_excess=True)
            level = level.astype(image.dtype) if image.dtype.kind in "iu" else level
        image_levels.append(da.moveaxis(level[:h, :w], -1, 0).rechunk((-1, chunk, chunk)))
        step = 2**k
        mask_levels.append(mask[::step, ::step][:h, :w].astype(np.uint8).rechunk(chunk))
    present = [k for k in range(1, len(class_names))]
    metadata = {
        "colors": [
            {"label-value": k, "rgba": LABEL_COLOURS[(k - 1) % len(LABEL_COLOURS)]} for k in present
        ],
        "properties": [{"label-value": k, "class": class_names[k]} for k in present],
        "source": {"image": "../../"},
    }
    tmp = path.with_name(f".{path.name}.part")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        with output_errors(path):
            root = zarr.open_group(str(tmp), mode="w", zarr_format=zarr_format)
            write_multiscale(image_levels, root, fmt=fmt, axes="cyx", name=path.name)
            write_multiscale_labels(
                mask_levels, root, name="seglab", fmt=fmt, axes="yx", label_metadata=metadata
            )
            if path.exists():
                shutil.rmtree(path)
            tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path
