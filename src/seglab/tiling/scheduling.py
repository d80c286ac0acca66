"""Scheduling tiles and files on Dask: local schedulers or a cluster, the model sent once.

The model enters a task graph as one key (:func:`model_key`) of what :func:`model_carrier`
gives for the scheduler: the segmenter itself for threads, a file each worker process loads
once, or a future of the model scattered to every worker of a ``dask.distributed`` cluster.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..errors import ParameterError

__all__ = [
    "LOCAL_SCHEDULERS",
    "check_scheduler",
    "dask_modules",
    "model_carrier",
    "model_key",
    "scheduler_context",
]


LOCAL_SCHEDULERS = ("threads", "processes", "synchronous")


def dask_modules():
    try:
        import dask
        import dask.array as da
    except ImportError:  # pragma: no cover - the extra is installed in CI
        raise ParameterError("tiled prediction needs dask: pip install 'seglab[scale]'") from None
    return dask, da


def check_scheduler(scheduler: str | None) -> None:
    """Raise ParameterError for a scheduler that is neither a local one's name nor an address.

    An address is only tried when used; this catches a misspelt name at once, before a
    ``dask.distributed`` client is made for it and left to time out.
    """
    if scheduler is not None and scheduler not in LOCAL_SCHEDULERS and ":" not in scheduler:
        raise ParameterError(
            f"--scheduler {scheduler!r}: use threads, processes, synchronous or the address of"
            " a running dask.distributed scheduler (tcp://host:8786)"
        )


@contextlib.contextmanager
def scheduler_context(scheduler: str | None) -> Iterator[dict]:
    """Keyword arguments for ``dask.compute``: a local scheduler by name, or a
    ``dask.distributed`` client connected to the scheduler at an address."""
    check_scheduler(scheduler)
    if scheduler in (None, "threads", "synchronous"):
        yield {"scheduler": scheduler or "threads"}
    elif scheduler == "processes":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import dask

        # One pool for every compute of this context (a slide is computed row by row), so
        # that each worker process loads the model once (see _CarriedByFile).
        from .._threads import cores

        context = multiprocessing.get_context(dask.config.get("multiprocessing.context", "spawn"))
        with ProcessPoolExecutor(cores(), mp_context=context) as pool:
            yield {"scheduler": "processes", "pool": pool}
    else:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover
            raise ParameterError("--scheduler ADDRESS needs dask.distributed") from None
        try:
            client = Client(scheduler, timeout="5s", set_as_default=False)
        except Exception as exc:
            raise ParameterError(
                f"--scheduler {scheduler!r}: use threads, processes or the address of a running"
                f" dask.distributed scheduler ({type(exc).__name__}: {exc})"
            ) from None
        with client:
            from .workers import MallocThresholds

            # without it, each tile computes about 40% slower on a worker (see workers.py)
            client.register_plugin(MallocThresholds())
            yield {"scheduler": client}


class _CarriedByFile:
    """A segmenter that reaches worker processes as the path of a file it was pickled to.

    Dask's processes scheduler pickles each task with its inputs, so the model went with
    every tile (the default ``rf`` is 46 MB, an 8k slide 64 tiles). This pickles as a path
    and a key; each process loads the file once and keeps the model under its key. The
    file is private to one ``predict_to_file`` call and deleted after it.
    """

    def __init__(self, path: Path, key: str):
        self.path, self.key = str(path), key

    def __reduce__(self):
        return (_carried_segmenter, (self.path, self.key))


_carried: dict = {}


def _carried_segmenter(path: str, key: str):
    """The segmenter of a :class:`_CarriedByFile`, loaded once per process."""
    if key not in _carried:
        import pickle

        _carried.clear()  # one model per process: a new run's replaces the last
        with open(path, "rb") as file:
            _carried[key] = pickle.load(file)
    return _carried[key]


def _is_future(value) -> bool:
    return type(value).__name__ == "Future" and hasattr(value, "key")


def model_key(carrier):
    """``carrier`` as one key of a Dask graph (a scattered future is one already)."""
    import dask

    if _is_future(carrier):
        return dask.delayed(carrier)
    return dask.delayed(carrier, name=f"seglab-model-{uuid.uuid4().hex}")


@contextlib.contextmanager
def model_carrier(segmenter, compute_kwargs: dict) -> Iterator[object]:
    """What stands for ``segmenter`` in the graph under these ``dask.compute`` arguments: the
    segmenter itself for threads, a :class:`_CarriedByFile` for worker processes, and for a
    ``dask.distributed`` client a future of the model sent to every worker once. Computed a
    row of tiles at a time, a graph that held the model itself sent it (41 MB) to the
    scheduler and on to a worker with every row."""
    scheduler = compute_kwargs.get("scheduler")
    if hasattr(scheduler, "scatter"):  # a dask.distributed client
        future = scheduler.scatter(segmenter, broadcast=True, hash=False)
        try:
            yield future
        finally:
            future.release()
        return
    if scheduler != "processes":
        yield segmenter
        return
    import pickle
    import tempfile

    with tempfile.TemporaryDirectory(prefix="seglab-model-") as folder:
        path = Path(folder) / "model.pickle"
        with open(path, "wb") as file:
            pickle.dump(segmenter, file, protocol=pickle.HIGHEST_PROTOCOL)
        yield _CarriedByFile(path, uuid.uuid4().hex)
