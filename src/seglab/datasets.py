"""Data sets, splits and the built-in synthetic cells.

A :class:`Dataset` holds images and (optionally) masks, either as arrays in memory or as file
paths read on access, so that large folders are never loaded all at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from .errors import DataSetError, ParameterError, SeglabError
from .io import (
    IMAGE_SUFFIXES,
    MASK_SUFFIXES,
    check_image,
    check_mask,
    list_image_files,
    load_image,
    load_mask,
    load_scribbles,
    read_csv_rows,
)

__all__ = [
    "COURSE_CLASSES",
    "Dataset",
    "class_names_for",
    "course_split",
    "duplicates_across",
    "grouped_kfold_split",
    "kfold_split",
    "make_splits",
    "near_duplicates",
    "open_dataset",
    "random_split",
    "read_image_classes",
    "synthetic_cells",
]

COURSE_CLASSES = ("background", "cytoplasm", "nucleus")
SPLIT_NAMES = (
    "course",
    "given",
    "all",
    "odd-even",
    "random[:SEED]",
    "kfold[:K]",
    "groupkfold[:K]",
)


@dataclass
class Dataset:
    """Images with optional masks, ids and class names.

    ``images`` and ``masks`` hold arrays or paths; paths are read on access by
    :meth:`image` and :meth:`mask`. ``given_split`` is ``(train, test)`` index arrays for a data
    set that comes with its own split (a ``train/`` + ``test/`` folder). ``image_classes``
    maps an id to the class of its whole image (a single cell's diagnosis, say), read from a
    ``classes.csv`` beside ``images/``; bench reports its figures by that class.
    """

    images: Sequence
    masks: Sequence | None = None
    ids: list[str] = field(default_factory=list)
    class_names: tuple[str, ...] | None = None
    source: str = "memory"
    normalize: str = "dtype"
    scribbles: bool = False
    given_split: tuple[np.ndarray, np.ndarray] | None = None
    image_classes: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if len(self.images) == 0:
            raise DataSetError(f"{self.source}: the data set has no images")
        if not self.ids:
            self.ids = [str(i) for i in range(len(self.images))]
        if len(self.ids) != len(self.images):
            raise DataSetError(f"{self.source}: {len(self.ids)} ids for {len(self.images)} images")
        if self.masks is not None and len(self.masks) != len(self.images):
            raise DataSetError(
                f"{self.source}: {len(self.images)} images but {len(self.masks)} masks"
            )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def has_masks(self) -> bool:
        return self.masks is not None

    def describe(self, i: int) -> str:
        """Where image ``i`` comes from, for messages: its file, or the data set and its id."""
        item = self.images[i]
        if isinstance(item, (str, os.PathLike)):
            return str(item)
        return f"{self.source}: image {self.ids[i]}"

    def image(self, i: int) -> np.ndarray:
        """Image ``i`` as float32 (H, W, C) in [0, 1]."""
        item = self.images[i]
        if isinstance(item, (str, os.PathLike)):
            return load_image(item, normalize=self.normalize)
        return check_image(item, source=f"image {self.ids[i]}", normalize=self.normalize)

    def mask(self, i: int) -> np.ndarray:
        """Mask ``i`` as (H, W) int64 labels (-1 = unlabelled for scribbles)."""
        if self.masks is None:
            raise DataSetError(f"{self.source}: the data set has no masks")
        item = self.masks[i]
        if isinstance(item, (str, os.PathLike)):
            mask = load_scribbles(item) if self.scribbles else load_mask(item)
        else:
            mask = check_mask(item, source=f"mask {self.ids[i]}", allow_unlabelled=True)
        return mask

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Image and mask ``i``, checked to have the same height and width."""
        image, mask = self.image(i), self.mask(i)
        if image.shape[:2] != mask.shape:
            raise DataSetError(
                f"{self.source}: image {self.ids[i]} is {image.shape[0]}x{image.shape[1]}"
                f" but its mask is {mask.shape[0]}x{mask.shape[1]}"
            )
        return image, mask

    def __iter__(self) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
        for i in range(len(self)):
            if self.has_masks:
                image, mask = self.pair(i)
                yield self.ids[i], image, mask
            else:
                yield self.ids[i], self.image(i), None

    def subset(self, indices) -> Dataset:
        """A data set of the images at ``indices`` (same class names and settings)."""
        indices = [int(i) for i in indices]
        if not indices:
            raise DataSetError(f"{self.source}: empty subset")
        return Dataset(
            images=[self.images[i] for i in indices],
            masks=None if self.masks is None else [self.masks[i] for i in indices],
            ids=[self.ids[i] for i in indices],
            class_names=self.class_names,
            source=self.source,
            normalize=self.normalize,
            scribbles=self.scribbles,
        )

    def resolved_class_names(self) -> tuple[str, ...]:
        """Class names; found from the masks' labels when not given.

        Labels {0, 1, 2} are the course's background, cytoplasm, nucleus; other label sets are
        named ``background`` (0) and ``class{k}``.
        """
        if self.class_names is None:
            labels: set[int] = set()
            for i in range(len(self)):
                labels.update(int(v) for v in np.unique(self.mask(i)) if v >= 0)
            self.class_names = class_names_for(max(labels) if labels else 0)
        return tuple(self.class_names)


def class_names_for(top_label: int) -> tuple[str, ...]:
    """Names of labels 0..top_label: the course's three when top_label is 2, else generic.

    Examples
    --------
    >>> class_names_for(2), class_names_for(1)
    (('background', 'cytoplasm', 'nucleus'), ('background', 'class1'))
    """
    if top_label == 2:
        return COURSE_CLASSES
    return ("background", *(f"class{k}" for k in range(1, top_label + 1)))


def _match_masks(images: list[Path], mask_dir: Path, source: str) -> list[Path]:
    masks = {p.stem: p for p in list_image_files(mask_dir, MASK_SUFFIXES)}
    missing = [p.stem for p in images if p.stem not in masks]
    if missing:
        raise DataSetError(
            f"{source}: {len(missing)} image(s) have no mask in {mask_dir} (first: {missing[0]!r})"
        )
    return [masks[p.stem] for p in images]


def _open_flat(folder: Path, normalize: str) -> Dataset | None:
    for image_name, mask_name in (("images", "masks"), ("X", "y")):
        image_dir = folder / image_name
        if image_dir.is_dir():
            suffixes = (".npy",) if image_name == "X" else IMAGE_SUFFIXES
            images = list_image_files(image_dir, suffixes)
            if not images:
                raise DataSetError(f"{image_dir}: no image files ({', '.join(suffixes)})")
            mask_dir = folder / mask_name
            masks = _match_masks(images, mask_dir, str(folder)) if mask_dir.is_dir() else None
            ids = [p.stem for p in images]
            return Dataset(
                images=images,
                masks=masks,
                ids=ids,
                source=str(folder),
                normalize=normalize,
                image_classes=_image_classes_beside(folder, ids),
            )
    return None


#: A CSV beside ``images/`` with one class per image (columns ``stem`` and ``class``).
IMAGE_CLASSES_FILE = "classes.csv"


def _image_classes_beside(folder: Path, ids: Sequence[str]) -> dict[str, str] | None:
    """The classes of ``folder``'s images from its ``classes.csv``, for the ids it names; None
    without that file. A file that does not hold per-image classes is refused in one line."""
    path = folder / IMAGE_CLASSES_FILE
    if not path.is_file():
        return None
    classes = read_image_classes(path)
    known = set(ids)
    if not known & set(classes):
        raise DataSetError(f"{path}: names none of the images in {folder / 'images'}")
    return {stem: label for stem, label in classes.items() if stem in known}


def open_dataset(path: str | os.PathLike, normalize: str = "dtype") -> Dataset:
    """Open a data-set folder, detecting its layout.

    Layouts: ``images/`` + ``masks/`` matched by stem; the course's ``X/`` + ``y/`` (``.npy``);
    ``train/`` + ``test/``, each in one of those (kept as :attr:`Dataset.given_split`). A
    ``classes.csv`` beside ``images/`` (``stem,class``) gives each image a class
    (:attr:`Dataset.image_classes`).

    Examples
    --------
    >>> from seglab.data import course_data
    >>> ds = open_dataset(course_data(fetch=False))  # the course data (`seglab data`)
    >>> len(ds), ds.ids[:3]
    (200, ['0', '1', '2'])
    """
    folder = Path(path)
    if not folder.exists():
        raise DataSetError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise DataSetError(f"{folder}: not a folder (give a data-set folder)")
    flat = _open_flat(folder, normalize)
    if flat is not None:
        return flat
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        parts = {}
        for name in ("train", "test"):
            part = _open_flat(folder / name, normalize)
            if part is None or part.masks is None:
                raise DataSetError(f"{folder / name}: expected images/ and masks/ folders")
            parts[name] = part
        train, test = parts["train"], parts["test"]
        n_train = len(train)
        return Dataset(
            images=[*train.images, *test.images],
            masks=[*train.masks, *test.masks],
            ids=[f"train/{i}" for i in train.ids] + [f"test/{i}" for i in test.ids],
            source=str(folder),
            normalize=normalize,
            given_split=(np.arange(n_train), np.arange(n_train, n_train + len(test))),
        )
    raise DataSetError(
        f"{folder}: unknown layout; expected images/ + masks/, X/ + y/, or train/ + test/"
    )


# ----------------------------------------------------------------------------- splits


def course_split(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The course labs' split (docs/design.md, Data), as indices into ``dataset``.

    Images without nucleus pixels (label 2) are dropped; the rest are stratified by quartile of
    ``nucleus / max(cytoplasm, 1)`` and split 80/20 with ``random_state=42``.
    """
    from sklearn.model_selection import train_test_split

    if not dataset.has_masks:
        raise DataSetError(f"{dataset.source}: the course split needs masks")
    kept, ratios = [], []
    for i in range(len(dataset)):
        mask = dataset.mask(i)
        nucleus = int((mask == 2).sum())
        if nucleus == 0:
            continue
        kept.append(i)
        ratios.append(nucleus / max(int((mask == 1).sum()), 1))
    if len(kept) < 10:
        raise DataSetError(
            f"{dataset.source}: the course split needs 3-class masks with nuclei (label 2);"
            f" only {len(kept)} image(s) have any"
        )
    ratios = np.asarray(ratios)
    quartile = np.digitize(ratios, np.percentile(ratios, [25, 50, 75]))
    train, test = train_test_split(
        np.arange(len(kept)), test_size=0.2, stratify=quartile, random_state=42
    )
    kept = np.asarray(kept)
    return kept[train], kept[test]


def with_nuclei(dataset: Dataset) -> Dataset:
    """The images whose masks hold nucleus pixels (label 2): the course's first step.

    On the course data these are the 191 images that :func:`course_split` divides and the
    5-fold benchmarks fold; the subset keeps the images' ids.

    Examples
    --------
    >>> import numpy as np
    >>> masks = [np.array([[0, 2]]), np.array([[0, 1]]), np.array([[2, 1]])]
    >>> ds = Dataset(images=[np.zeros((1, 2))] * 3, masks=masks)
    >>> with_nuclei(ds).ids
    ['0', '2']
    """
    return dataset.subset([i for i in range(len(dataset)) if (dataset.mask(i) == 2).any()])


def random_split(n: int, test_size: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle ``range(n)`` with ``seed`` and hold out ``test_size`` of it."""
    from sklearn.model_selection import train_test_split

    if n < 2:
        raise DataSetError(f"a random split needs at least 2 images, got {n}")
    train, test = train_test_split(np.arange(n), test_size=test_size, random_state=seed)
    return np.sort(train), np.sort(test)


def kfold_split(n: int, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` shuffled folds over ``range(n)``: every image is tested exactly once."""
    from sklearn.model_selection import KFold

    if k < 2 or k > n:
        raise ParameterError(f"kfold:{k}: K must be between 2 and the number of images ({n})")
    folds = KFold(n_splits=k, shuffle=True, random_state=seed).split(np.arange(n))
    return [(np.asarray(tr), np.asarray(te)) for tr, te in folds]


def grouped_kfold_split(
    n: int, groups: Sequence[Sequence[int]], k: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`kfold_split` with each group of images moved into one fold.

    Each group (for example the near-duplicates of :func:`near_duplicates`) joins the test
    fold of its lowest index in ``kfold_split(n, k, seed)``; every other image stays in its
    fold. So no image is tested beside a copy of itself in training, and the images outside
    the groups keep the folds of ``kfold``, which lets the two be compared image by image.
    Folds may differ in size by the groups moved.

    Examples
    --------
    >>> [test.tolist() for _, test in kfold_split(10, k=2)]
    [[1, 2, 4, 8, 9], [0, 3, 5, 6, 7]]
    >>> folds = grouped_kfold_split(10, groups=[[0, 9], [3, 4, 5]], k=2)
    >>> [test.tolist() for _, test in folds]
    [[1, 2, 8], [0, 3, 4, 5, 6, 7, 9]]
    """
    folds = kfold_split(n, k=k, seed=seed)
    fold_of = np.empty(n, dtype=int)
    for f, (_, test) in enumerate(folds):
        fold_of[test] = f
    for group in groups:
        members = sorted({int(i) for i in group})
        if not members:
            continue
        if members[0] < 0 or members[-1] >= n:
            raise ParameterError(f"group {members} holds an index outside 0..{n - 1}")
        fold_of[members] = fold_of[members[0]]
    everything = np.arange(n)
    out = []
    for f in range(k):
        test = everything[fold_of == f]
        if len(test) == 0:
            raise ParameterError(f"groupkfold:{k}: fold {f} is empty once groups are kept together")
        out.append((everything[fold_of != f], test))
    return out


def odd_even_split(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Images with an odd-numbered stem train, even-numbered ones test: a fixed split for data
    sets numbered in the order of their source (the Herlev cells: every class on both sides).

    Examples
    --------
    >>> train, test = odd_even_split(["001", "002", "003", "010"])
    >>> train.tolist(), test.tolist()
    ([0, 2], [1, 3])
    """
    numbers = []
    for stem in ids:
        if not str(stem).isdigit():
            raise ParameterError(f"--split odd-even: image {stem!r} is not numbered")
        numbers.append(int(stem))
    numbers = np.asarray(numbers)
    train, test = np.flatnonzero(numbers % 2 == 1), np.flatnonzero(numbers % 2 == 0)
    if not len(train) or not len(test):
        raise ParameterError("--split odd-even: needs both odd- and even-numbered images")
    return train, test


def make_splits(dataset: Dataset, spec: str | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs for a split spec: course, given, all, odd-even, random[:SEED],
    kfold[:K], groupkfold[:K].

    ``None`` means ``given`` for a data set that has its own split, ``all`` otherwise.
    The course and k-fold variants drop nothing except what the course split drops.
    ``groupkfold`` is ``kfold`` with the :func:`near_duplicates` of each image kept in its fold
    (:func:`grouped_kfold_split`); it reads every image once to find them.
    """
    if spec is None:
        spec = "given" if dataset.given_split is not None else "all"
    name, _, arg = spec.partition(":")
    n = len(dataset)
    if name in ("random", "kfold", "groupkfold") and arg and not arg.lstrip("-").isdigit():
        what = "the seed" if name == "random" else "K"
        raise ParameterError(f"--split {spec}: {what} after the colon must be an integer")
    try:
        if name == "course":
            return [course_split(dataset)]
        if name == "given":
            if dataset.given_split is None:
                raise ParameterError(
                    f"--split given: {dataset.source} has no train/ + test/ folders"
                )
            return [dataset.given_split]
        if name == "all":
            everything = np.arange(n)
            return [(everything, everything)]
        if name == "odd-even" and not arg:
            return [odd_even_split(dataset.ids)]
        if name == "random":
            return [random_split(n, seed=int(arg) if arg else 0)]
        if name == "kfold":
            return kfold_split(n, k=int(arg) if arg else 5)
        if name == "groupkfold":
            k = int(arg) if arg else 5
            if k < 2 or k > n:  # checked before the images are read
                raise ParameterError(
                    f"groupkfold:{k}: K must be between 2 and the number of images ({n})"
                )
            # An unreadable image joins no group here; whoever reads it next reports it
            # (bench's duplicate report at once, or its scoring pass under --keep-going).
            groups = near_duplicates(dataset, skip_unreadable=True)
            return grouped_kfold_split(n, groups, k=k)
    except ValueError as exc:
        if isinstance(exc, ParameterError):
            raise
        raise ParameterError(f"--split {spec}: {exc}") from exc
    raise ParameterError(f"--split {spec!r}: use one of {', '.join(SPLIT_NAMES)}")


NEAR_DUPLICATE_CORRELATION = 0.93
"""Thumbnail correlation at which two images count as the same picture. On the course data the
31 pairs that are one cell (turned, flipped, or at another resolution) correlate at 0.944 or
more, and the most alike distinct cells at 0.905
(docs/research/2026-12-04-near-duplicate-images.md)."""


def _thumbnail(image: np.ndarray, size: int) -> np.ndarray:
    """A grey ``size`` x ``size`` thumbnail, standardised to mean 0 and variance 1 (zeros for a
    flat image, which then matches nothing)."""
    from skimage.transform import resize

    grey = image.mean(axis=-1) if image.ndim == 3 else image
    small = resize(grey.astype(np.float32), (size, size), anti_aliasing=True)
    small = small - small.mean()
    spread = small.std()
    return (small / spread if spread > 0 else small).astype(np.float32)


def near_duplicates(
    dataset: Dataset,
    threshold: float = NEAR_DUPLICATE_CORRELATION,
    size: int = 32,
    skip_unreadable: bool = False,
) -> list[list[int]]:
    """Groups of images that show the same picture, as lists of indices into ``dataset``.

    Two images are near-duplicates when their grey ``size`` x ``size`` thumbnails correlate at
    ``threshold`` or more under one of the eight turns and flips of the square, so a copy
    turned by 90 degrees, flipped, rescaled or slightly re-cropped is found. A data set
    augmented that way before it was published leaks between the training and test parts of
    any split that does not keep such copies together; :func:`duplicates_across` says which
    test images are affected. Groups are the connected components of the pairs; images with
    no near-duplicate are left out. Time and memory grow with the square of the number of
    images (a few seconds for a thousand). With ``skip_unreadable``, an image that cannot be
    read is nobody's duplicate instead of an error (for runs that report such files
    themselves, as ``--keep-going`` does).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.random((64, 64)), rng.random((64, 64))
    >>> near_duplicates(Dataset(images=[a, b, np.rot90(a), a[:, ::-1]]))
    [[0, 2, 3]]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from tqdm.auto import tqdm

    if not 0 < threshold <= 1:
        raise ParameterError(f"threshold must be in (0, 1], got {threshold}")
    if size < 4:
        raise ParameterError(f"size must be at least 4 pixels, got {size}")
    n = len(dataset)

    def thumbnail(i: int) -> np.ndarray:
        try:
            return _thumbnail(dataset.image(i), size)
        except SeglabError:
            if not skip_unreadable:
                raise
            return np.zeros((size, size), np.float32)  # flat: matches nothing

    thumbs = np.stack(
        [
            thumbnail(i)
            for i in tqdm(range(n), desc="thumbnails", unit="img", leave=False, disable=None)
        ]
    )
    flat = thumbs.reshape(n, -1)
    # The eight symmetries of the square, applied to the second image of each pair.
    variants = [
        np.rot90(thumbs[:, :, ::-1] if flip else thumbs, k, axes=(1, 2)).reshape(n, -1)
        for flip in (False, True)
        for k in range(4)
    ]
    rows, cols = [], []
    block = 512  # rows of the correlation matrix at a time, to bound memory
    for start in range(0, n, block):
        part = flat[start : start + block]
        best = np.max([part @ v.T for v in variants], axis=0) / flat.shape[1]
        r, c = np.nonzero(best >= threshold)
        keep = r + start < c  # each pair once, never an image with itself
        rows.append(r[keep] + start)
        cols.append(c[keep])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(component):
        groups.setdefault(int(label), []).append(i)
    return sorted(g for g in groups.values() if len(g) > 1)


def duplicates_across(
    groups: Sequence[Sequence[int]], train: Sequence[int], test: Sequence[int]
) -> list[int]:
    """The test indices that have a near-duplicate (a member of their group) in ``train``.

    Examples
    --------
    >>> duplicates_across([[0, 5], [2, 3]], train=[0, 1, 2, 3], test=[4, 5])
    [5]
    """
    train_set, test_set = {int(i) for i in train}, {int(i) for i in test}
    leaked = set()
    for group in groups:
        members = {int(i) for i in group}
        for i in members & test_set:
            if (members - {i}) & train_set:
                leaked.add(i)
    return sorted(leaked)


# ----------------------------------------------------------------------------- synthetic data


def _smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian-filtered noise."""
    field_ = ndi.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (field_ - field_.mean()) / (field_.std() + 1e-12)


def _star_distance(rng: np.random.Generator, yy, xx, cy, cx, irregularity, elongation, angle):
    """Distance from (cy, cx) scaled by a random star-shaped outline (a few harmonics).

    ``_star_distance(...) <= R`` is an irregular region of radius about ``R``.
    """
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(angle), np.sin(angle)
    u, v = (dx * c + dy * s) / elongation, (-dx * s + dy * c) * elongation
    theta = np.arctan2(v, u)
    r = np.hypot(u, v)
    edge = np.ones_like(theta)
    for k in range(2, 6):
        edge += irregularity * rng.uniform(0, 1) / k * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return r / np.maximum(edge, 0.2)


def _synthetic_cell_image(rng: np.random.Generator, size: int):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    mask = np.zeros((size, size), np.int64)
    n_cells = int(rng.integers(1, 4))
    scale = size / 256.0
    for _ in range(n_cells):
        for _attempt in range(20):  # place cells with little overlap
            radius = rng.uniform(45, 85) * scale / np.sqrt(n_cells) * 1.3
            cy, cx = rng.uniform(radius * 0.7, size - radius * 0.7, size=2)
            cell = (
                _star_distance(
                    rng,
                    yy,
                    xx,
                    cy,
                    cx,
                    rng.uniform(0.3, 0.9),
                    rng.uniform(1.0, 1.6),
                    rng.uniform(0, np.pi),
                )
                <= radius
            )
            if (mask[cell] > 0).mean() < 0.1 and cell.sum() > 400 * scale**2:
                break
        # Target N/C from normal (~0.1) to malignant (>0.8), then fit the nucleus inside.
        ratio = float(np.exp(rng.uniform(np.log(0.08), np.log(1.3))))
        target = cell.sum() * ratio / (1 + ratio)
        inner = ndi.binary_erosion(cell, iterations=max(2, int(4 * scale)))
        if not inner.any():
            inner = cell
        dist = ndi.distance_transform_edt(inner)
        cy_n, cx_n = np.unravel_index(np.argmax(dist + rng.uniform(0, 3, dist.shape)), dist.shape)
        shape = _star_distance(
            rng,
            yy,
            xx,
            cy_n,
            cx_n,
            rng.uniform(0.1, 0.5),
            rng.uniform(1.0, 1.4),
            rng.uniform(0, np.pi),
        )
        # The nucleus is the `target` pixels of `inner` nearest the centre in star distance.
        inside = np.sort(shape[inner])
        k = int(np.clip(round(target), 1, inside.size))
        nucleus = (shape <= inside[k - 1]) & inner
        mask[cell] = 1
        mask[nucleus] = 2
    return mask


def _render(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    size = mask.shape[0]
    # Per-image stain: cytoplasm between blue-grey and pink (Papanicolaou), nucleus dark purple.
    background = np.array([0.99, 0.985, 1.0]) - np.abs(rng.normal(0, 0.01, 3))
    cyto = np.array([0.48, 0.52, 0.70]) + rng.normal(0, 0.05, 3)
    if rng.uniform() < 0.35:  # eosinophilic (pink) cytoplasm
        cyto = np.array([0.80, 0.50, 0.62]) + rng.normal(0, 0.04, 3)
    nucleus = np.array([0.26, 0.25, 0.45]) + rng.normal(0, 0.04, 3)
    # Stain density: thin cytoplasm is pale (near the background's grey, still tinted), dense
    # cytoplasm is dark; chromatin clumps in nuclei with pale patches. So one grey threshold
    # cannot separate the classes, while colour and neighbourhood can.
    thickness = np.clip(
        rng.uniform(0.5, 0.85)
        + rng.uniform(0.4, 0.7) * _smooth_noise(rng, mask.shape, rng.uniform(4, 9)),
        0.08,
        1.5,
    )
    grain = _smooth_noise(rng, mask.shape, 1.0)
    cyto_image = background + (thickness * (1 + rng.uniform(0.15, 0.35) * grain))[..., None] * (
        cyto - background
    )
    chromatin = 0.6 * _smooth_noise(rng, mask.shape, 1.5) + 0.8 * _smooth_noise(rng, mask.shape, 5)
    density = np.clip(1 + rng.uniform(0.15, 0.3) * chromatin, 0.4, 1.5)
    nucleus_image = background + density[..., None] * (nucleus - background)
    image = np.where((mask == 1)[..., None], cyto_image, background)
    image = np.where((mask == 2)[..., None], nucleus_image, image)
    # Debris: small dark specks and pale cytoplasm-coloured flecks in the background.
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(int(rng.integers(2, 12))):
        cy, cx = rng.integers(0, size, 2)
        r = rng.uniform(1.5, 5.0) * size / 256
        spot = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        spot &= mask == 0
        tone = nucleus if rng.uniform() < 0.5 else cyto
        image[spot] = tone + rng.normal(0, 0.03, 3)
    # Optics: blur (the originals were upsampled), uneven illumination, noise.
    image = ndi.gaussian_filter(image, sigma=(rng.uniform(0.8, 2.0),) * 2 + (0,))
    light = 1.0 + rng.uniform(0.01, 0.05) * _smooth_noise(rng, mask.shape, size / 4)
    image *= (light * rng.uniform(0.92, 1.05))[..., None]
    image += rng.normal(0, rng.uniform(0.01, 0.03), image.shape)
    return np.clip(image, 0, 1).astype(np.float32)


def synthetic_cells(n: int = 40, size: int = 256, random_state: int | None = 0) -> Dataset:
    """Synthetic stained urothelial cells with exact 3-class masks.

    Each image holds one to three cells with irregular outlines; nuclei have N/C ratios from
    normal (about 0.1) to malignant (above 0.8), chromatin texture and pale patches; stain,
    illumination, blur and noise change from image to image, and debris lies in the background.
    Labels: 0 background, 1 cytoplasm, 2 nucleus.

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Height and width in pixels.
    random_state : int or None
        Seed; the same seed gives the same images.

    Examples
    --------
    >>> ds = synthetic_cells(2, size=64)
    >>> ds.image(0).shape, sorted(np.unique(ds.mask(0)).tolist())
    ((64, 64, 3), [0, 1, 2])
    """
    if n < 1:
        raise ParameterError(f"n={n}: need at least one image")
    if size < 32:
        raise ParameterError(f"size={size}: images must be at least 32 pixels a side")
    rng = np.random.default_rng(random_state)
    images, masks = [], []
    for _ in range(n):
        mask = _synthetic_cell_image(rng, size)
        images.append(_render(rng, mask))
        masks.append(mask)
    return Dataset(images=images, masks=masks, class_names=COURSE_CLASSES, source="synthetic")


def read_image_classes(path: str | os.PathLike, column: str = "class") -> dict[str, str]:
    """One class per image (single-cell crops): ``{stem: class}`` from a CSV whose first
    column (``stem`` or ``image``) names the image and ``column`` holds its class."""
    rows, path = read_csv_rows(path)
    fields = list(rows[0]) if rows else []
    key = next((f for f in ("stem", "image") if f in fields), None)
    if key is None or column not in fields:
        raise DataSetError(
            f"{path}: expected a 'stem' (or 'image') column and a {column!r} column"
            f" (columns: {', '.join(fields)})"
        )
    classes = {}
    for line, row in enumerate(rows, start=2):
        stem, label = (row.get(key) or "").strip(), (row.get(column) or "").strip()
        if not stem or not label:
            raise DataSetError(f"{path}, line {line}: an empty {key} or {column}")
        classes[stem] = label
    return classes
