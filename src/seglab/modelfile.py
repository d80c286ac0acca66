"""The ``.seglab`` model file (docs/design.md): a ZIP that never runs code when loaded.

``model.json`` lists every other member with its SHA-256 and size. Learned numpy arrays are
stored as ``arrays/NAME.npy`` (read with ``allow_pickle=False``), fitted scikit-learn
estimators as ``estimators/NAME.skops`` (read by skops trusting only listed types), torch
weights as ``weights.safetensors``; plain JSON values stay in ``model.json``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import posixpath
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import ModelFileError, SeglabError
from .io import atomic_path
from .segmenters.base import Segmenter, make_segmenter

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "from_bytes",
    "load",
    "load_cell_classifier",
    "save",
    "save_cell_classifier",
    "to_bytes",
]

FORMAT = "seglab-model"
FORMAT_VERSION = 1
MANIFEST = "model.json"
#: ``model.json``'s ``kind`` of a cell classifier; a file without ``kind`` holds a segmenter.
CELL_CLASSIFIER = "cell-classifier"
MAX_MANIFEST_BYTES = 4 << 20
#: Types beyond skops' defaults (scikit-learn estimators, numpy) that a model file may hold:
#: scikit-learn's own internal structures of the classifiers seglab registers. Anything else
#: is refused before loading.
TRUSTED_TYPES: list[str] = [
    "numpy.dtype",  # a cell classifier's SimpleImputer records its input's dtype
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.tree._tree.Tree",
]


def _version() -> str:
    from . import __version__

    return __version__


def _is_json_value(value) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True


def _to_json(value):
    """Plain JSON form of parameters (numpy scalars and tuples made plain)."""
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# Stored in model.json's own keys, not as state.
_BOOKKEEPING = {"classes_", "n_channels_", "trained_on_"}


_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _write_member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Write with a fixed timestamp: same model, same bytes."""
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def _deterministic_zip(data: bytes) -> bytes:
    """Canonical bytes for a skops payload: same estimator, same bytes.

    skops names objects (``__id__``) and array files after Python's ``id()`` (memory
    addresses) and stamps its ZIP with the current time. Ids are renumbered in order of first
    appearance (consistently, so shared references stay shared) and times fixed.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        contents = {info.filename: src.read(info) for info in src.infolist()}
    schema = json.loads(contents.pop("schema.json"))
    mapping: dict[str, str] = {}

    def canonical(old) -> str:
        return mapping.setdefault(str(old), str(len(mapping)))

    def walk(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "__id__":
                    out[key] = int(canonical(value))
                elif key == "file" and isinstance(value, str) and value.endswith(".npy"):
                    out[key] = canonical(value[: -len(".npy")]) + ".npy"
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    schema = walk(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        _write_member(dst, "schema.json", json.dumps(schema).encode())
        for name in sorted(
            contents,
            key=lambda n: int(mapping.get(n[:-4], 1 << 62)) if n.endswith(".npy") else 1 << 62,
        ):
            new_name = mapping[name[:-4]] + ".npy" if name[:-4] in mapping else name
            _write_member(dst, new_name, contents[name])
    return out.getvalue()


def _scales_record(segmenter: Segmenter) -> dict:
    """What context the model needs, for the reader of the file (not read back)."""
    from .postprocess import UNBOUNDED_HALO

    halo = int(segmenter.halo)
    return {
        "halo": None if halo >= UNBOUNDED_HALO else halo,
        "depends_on_whole_image": halo >= UNBOUNDED_HALO,
        "largest": segmenter.largest_scale(),
        "work_scale": int(getattr(segmenter, "factor_", 1)),
    }


def _learned_state(segmenter: Segmenter) -> dict:
    return {k: v for k, v in vars(segmenter).items() if _is_state_key(k) and k not in _BOOKKEEPING}


def _is_state_key(key: str) -> bool:
    """Learned state is a plain identifier ending in ``_`` (never ``__dunder__``)."""
    return key.isidentifier() and key.endswith("_") and not key.startswith("_")


def save(segmenter: Segmenter, path: str | os.PathLike, trained_on: dict | None = None) -> Path:
    """Write a fitted segmenter to ``path`` atomically.

    Parameters
    ----------
    segmenter : Segmenter
        A fitted segmenter.
    path : path-like
        Destination, conventionally ending in ``.seglab``.
    trained_on : dict, optional
        Provenance: ``data``, ``split``, ``n_images``; ``date`` is filled in.
    """
    data = to_bytes(segmenter, trained_on)
    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


def to_bytes(segmenter: Segmenter, trained_on: dict | None = None) -> bytes:
    """The bytes of the model file :func:`save` writes (an ensemble stores its members so)."""
    if not hasattr(segmenter, "classes_"):
        raise ModelFileError(f"cannot save {segmenter.name!r}: it is not fitted")
    params = _to_json(segmenter.get_params(deep=False))
    if not _is_json_value(params):
        raise ModelFileError(f"cannot save {segmenter.name!r}: parameters are not plain values")
    members: dict[str, bytes] = {}
    state: dict = {}
    for key, value in _learned_state(segmenter).items():
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise ModelFileError(f"cannot save {key}: object arrays would need pickle")
            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            members[f"arrays/{key}.npy"] = buffer.getvalue()
        elif _is_json_value(_to_json(value)):
            state[key] = _to_json(value)
        elif hasattr(value, "get_params"):  # a fitted scikit-learn estimator
            import skops.io as sio

            members[f"estimators/{key}.skops"] = _deterministic_zip(sio.dumps(value))
        elif hasattr(segmenter, "_state_to_bytes"):
            members.update(segmenter._state_to_bytes(key, value))
        else:
            raise ModelFileError(f"cannot save {key} of type {type(value).__name__}")
    fields = {
        "segmenter": segmenter.name,
        "params": params,
        "classes": [int(c) for c in np.asarray(segmenter.classes_)],
        "channels": int(segmenter.n_channels_),
        "scales": _scales_record(segmenter),
        "state": state,
    }
    return _archive(fields, members, trained_on)


def _archive(fields: dict, members: dict[str, bytes], trained_on: dict | None) -> bytes:
    """The model file's bytes: ``model.json`` (the format, ``fields``, the provenance dated
    now, each member's SHA-256 and size), then the members, with fixed timestamps."""
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "seglab": _version(),
        **fields,
        "trained_on": {
            **(trained_on or {}),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "members": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in sorted(members.items())
        },
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        _write_member(archive, MANIFEST, json.dumps(manifest, indent=1, allow_nan=True).encode())
        for name, data in sorted(members.items()):
            _write_member(archive, name, data)
    return out.getvalue()


def _check_member_name(name: str, path: Path) -> None:
    normal = posixpath.normpath(name)
    if (
        name.startswith(("/", "\\"))
        or "\\" in name
        or ":" in name
        or normal.startswith("..")
        or normal != name
    ):
        raise ModelFileError(f"{path}: member path {name!r} leaves the archive")


def _read_limited(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, path: Path) -> bytes:
    """Read a member, refusing it as soon as it inflates past ``limit`` bytes (zip bombs)."""
    if info.file_size > limit:
        raise ModelFileError(
            f"{path}: member {info.filename!r} is {info.file_size} bytes, more than its"
            f" declared {limit}"
        )
    chunks, total = [], 0
    try:
        with archive.open(info) as fh:
            while chunk := fh.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    raise ModelFileError(
                        f"{path}: member {info.filename!r} inflates past its declared {limit} bytes"
                    )
                chunks.append(chunk)
    except ModelFileError:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        raise ModelFileError(f"{path}: member {info.filename!r} is corrupt ({exc})") from exc
    return b"".join(chunks)


def read_manifest(path: str | os.PathLike) -> dict:
    """The validated ``model.json`` of a model file (nothing else is read)."""
    path = Path(path)
    with _open_archive(path) as archive:
        return _manifest(archive, path)


def _open_archive(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if not path.is_file():
        raise ModelFileError(f"{path}: not a file")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ModelFileError(f"{path}: not a seglab model file ({exc})") from exc


def _manifest(archive: zipfile.ZipFile, path: Path) -> dict:
    names = archive.namelist()
    if len(names) != len(set(names)):
        raise ModelFileError(f"{path}: duplicate member names")
    for name in names:
        _check_member_name(name, path)
    if MANIFEST not in names:
        raise ModelFileError(f"{path}: not a seglab model file (no {MANIFEST})")
    raw = _read_limited(archive, archive.getinfo(MANIFEST), MAX_MANIFEST_BYTES, path)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: {MANIFEST} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a seglab model file (format is not {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format_version {version!r} is not supported by seglab {_version()}"
            f" (it reads version {FORMAT_VERSION}); upgrade seglab"
        )
    kind_keys = (
        (("cell_classifier", str), ("features", list))
        if manifest.get("kind") == CELL_CLASSIFIER
        else (("segmenter", str), ("channels", int))
    )
    for key, kind in (
        *kind_keys,
        ("params", dict),
        ("classes", list),
        ("members", dict),
        ("state", dict),
    ):
        if not isinstance(manifest.get(key), kind):
            raise ModelFileError(f"{path}: {MANIFEST} has no valid {key!r}")
    members = manifest["members"]
    listed, present = set(members), set(names) - {MANIFEST}
    if present - listed:
        raise ModelFileError(f"{path}: member {sorted(present - listed)[0]!r} is not listed")
    if listed - present:
        raise ModelFileError(f"{path}: listed member {sorted(listed - present)[0]!r} is missing")
    for name, entry in members.items():
        _check_member_name(name, path)
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("size"), int)
            or entry["size"] < 0
            or not isinstance(entry.get("sha256"), str)
        ):
            raise ModelFileError(f"{path}: member {name!r} has no valid size and sha256")
    return manifest


def _load_member(name: str, data: bytes, path: Path):
    if name.startswith("arrays/") and name.endswith(".npy"):
        try:
            return np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise ModelFileError(f"{path}: array {name!r} is refused ({exc})") from exc
        except Exception as exc:
            raise ModelFileError(f"{path}: array {name!r} is unreadable ({exc})") from exc
    if name.startswith("estimators/") and name.endswith(".skops"):
        import skops.io as sio

        try:
            untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_TYPES]
        except Exception as exc:
            raise ModelFileError(f"{path}: estimator {name!r} is unreadable ({exc})") from exc
        if untrusted:
            raise ModelFileError(
                f"{path}: estimator {name!r} holds untrusted type {untrusted[0]!r}; refused"
            )
        try:
            return sio.loads(data, trusted=TRUSTED_TYPES)
        except Exception as exc:
            raise ModelFileError(f"{path}: estimator {name!r} is unreadable ({exc})") from exc
    return data  # raw bytes (e.g. safetensors), decoded by the segmenter itself


def load(path: str | os.PathLike) -> Segmenter:
    """Read a model file, verifying every member before any is decoded.

    Refuses (``ModelFileError``) an unknown format or version, unlisted or missing members,
    paths that leave the archive, members larger than declared, SHA-256 mismatches, arrays
    that need pickle and untrusted estimator types.
    """
    path = Path(path)
    with _open_archive(path) as archive:
        return _load_archive(archive, path)


def from_bytes(data: bytes, source: str = "model") -> Segmenter:
    """A segmenter from the bytes of a model file, with every check of :func:`load`;
    ``source`` names it in error messages."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ModelFileError(f"{source}: not a seglab model file ({exc})") from exc
    with archive:
        return _load_archive(archive, Path(source))


def _verified_members(archive: zipfile.ZipFile, manifest: dict, path: Path) -> dict:
    contents = {}
    for name, entry in manifest["members"].items():
        data = _read_limited(archive, archive.getinfo(name), entry["size"], path)
        if len(data) != entry["size"]:
            raise ModelFileError(f"{path}: member {name!r} is shorter than declared")
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ModelFileError(f"{path}: member {name!r} does not match its SHA-256")
        contents[name] = data
    return contents


def _load_archive(archive: zipfile.ZipFile, path: Path) -> Segmenter:
    manifest = _manifest(archive, path)
    if manifest.get("kind") == CELL_CLASSIFIER:
        raise ModelFileError(
            f"{path}: a cell classifier (seglab train-cells), not a segmentation model: give it"
            " as --cell-model"
        )
    contents = _verified_members(archive, manifest, path)
    try:
        segmenter = make_segmenter(manifest["segmenter"], **manifest["params"])
    except SeglabError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    except TypeError as exc:
        raise ModelFileError(f"{path}: invalid parameters ({exc})") from exc
    for key, value in manifest["state"].items():
        if not _is_state_key(key) or key in _BOOKKEEPING:
            raise ModelFileError(f"{path}: state key {key!r} is not learned state")
        setattr(segmenter, key, value)
    for name, data in contents.items():
        key = posixpath.splitext(posixpath.basename(name))[0]
        if name.startswith(("arrays/", "estimators/")) and (
            not _is_state_key(key) or key in _BOOKKEEPING
        ):
            raise ModelFileError(f"{path}: member {name!r} is not learned state")
        value = _load_member(name, data, path)
        if isinstance(value, bytes):
            if not hasattr(segmenter, "_state_from_bytes"):
                raise ModelFileError(f"{path}: member {name!r} is not used by {segmenter.name!r}")
            try:
                segmenter._state_from_bytes(name, value)
            except ModelFileError as exc:
                raise ModelFileError(f"{path}: {exc}") from exc
        else:
            setattr(segmenter, key, value)
    segmenter.classes_ = np.asarray(manifest["classes"])
    segmenter.n_channels_ = manifest["channels"]
    segmenter.trained_on_ = manifest.get("trained_on", {})
    if hasattr(segmenter, "_check_loaded"):
        try:
            segmenter._check_loaded()
        except ModelFileError as exc:
            raise ModelFileError(f"{path}: {exc}") from exc
    return segmenter


def save_cell_classifier(
    classifier, path: str | os.PathLike, trained_on: dict | None = None
) -> Path:
    """Write a fitted :class:`seglab.cellclass.CellClassifier` to ``path`` atomically: its
    scikit-learn estimator as skops, its class names and feature names in ``model.json``."""
    import skops.io as sio

    if not hasattr(classifier, "estimator_"):
        raise ModelFileError("cannot save the cell classifier: it is not fitted")
    members = {"estimators/estimator_.skops": _deterministic_zip(sio.dumps(classifier.estimator_))}
    fields = {
        "kind": CELL_CLASSIFIER,
        "cell_classifier": classifier.method,
        "params": _to_json(classifier.params),
        "classes": list(classifier.classes_),
        "features": list(classifier.feature_names_),
        "state": {},
    }
    data = _archive(fields, members, trained_on)
    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return path


def load_cell_classifier(path: str | os.PathLike):
    """Read a cell classifier written by :func:`save_cell_classifier`, with every check of
    :func:`load`; its features must be the ones this seglab measures."""
    from .cellclass import CELL_FEATURES, CellClassifier

    path = Path(path)
    with _open_archive(path) as archive:
        manifest = _manifest(archive, path)
        if manifest.get("kind") != CELL_CLASSIFIER:
            raise ModelFileError(
                f"{path}: a segmentation model, not a cell classifier (seglab train-cells"
                " makes one)"
            )
        contents = _verified_members(archive, manifest, path)
    if list(contents) != ["estimators/estimator_.skops"]:
        raise ModelFileError(f"{path}: a cell classifier holds one estimator, and only it")
    if manifest["features"] != list(CELL_FEATURES):
        raise ModelFileError(
            f"{path}: learned from other cell features than this seglab measures; train it again"
        )
    classes = manifest["classes"]
    if len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise ModelFileError(f"{path}: {MANIFEST} has no valid 'classes'")
    try:
        classifier = CellClassifier(manifest["cell_classifier"], **manifest["params"])
    except SeglabError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    classifier.estimator_ = _load_member(
        "estimators/estimator_.skops", contents["estimators/estimator_.skops"], path
    )
    classifier.classes_ = classes
    classifier.feature_names_ = list(manifest["features"])
    classifier.n_features_in_ = len(classifier.feature_names_)
    classifier.trained_on_ = manifest.get("trained_on", {})
    return classifier
