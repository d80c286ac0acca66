"""One process-wide thread pool for work that releases the GIL (scipy.ndimage filters,
scikit-learn's tree walks), kept across calls: starting a pool per call costs as much as the
work on one small image."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_PREFIX = "seglab-pool"
_pool: ThreadPoolExecutor | None = None


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def executor() -> ThreadPoolExecutor:
    """The shared pool, one thread per core, started on first use."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=cores(), thread_name_prefix=_PREFIX)
    return _pool


def parallel_map(fn, items, workers: int | None = None) -> list:
    """``[fn(item) for item in items]``, on the shared pool when that helps.

    Serial for one item, one worker, or when called from one of the pool's own threads (a
    task that waited on tasks queued behind it could deadlock the pool).
    """
    items = list(items)
    workers = cores() if workers is None else workers
    inside = threading.current_thread().name.startswith(_PREFIX)
    if len(items) < 2 or workers < 2 or inside:
        return [fn(item) for item in items]
    return list(executor().map(fn, items))
