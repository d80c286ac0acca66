"""What seglab sets up on the workers of a ``dask.distributed`` cluster.

Dask's nanny starts each worker with ``MALLOC_TRIM_THRESHOLD_=65536``, so that workers hand
freed memory back to the system at once. Setting it also fixes glibc's mmap threshold at
128 KiB: every array larger than that (a tile's filter responses, each a few MB) is then a
fresh mapping whose pages the kernel must zero, again for every tile. One tile of the default
``rf`` took 5.5 to 6.0 s on one core so against 4.4 s without (1152 x 1152, 2026-12-07), and
a 2-worker LocalCluster ran 52% behind threads on a 4096 x 4096 slide, all of it in the tiles'
compute (transfers 0.6 s in all). :class:`MallocThresholds` puts back the thresholds glibc
itself reaches for large arrays: mappings only above 32 MiB, and the heap's top returned
above 64 MiB.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["MallocThresholds", "restore_malloc_thresholds"]

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's largest dynamic mmap threshold on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX), and
#: the trim threshold it pairs with it (twice that)
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20


def restore_malloc_thresholds() -> bool:
    """Set this process's malloc thresholds as above; False where the C library is not glibc
    (nothing is changed there)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl, macOS, Windows: no mallopt
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


class MallocThresholds(WorkerPlugin):
    """Runs :func:`restore_malloc_thresholds` on every worker, those that join later too."""

    name = "seglab-malloc-thresholds"

    def setup(self, worker) -> None:
        restore_malloc_thresholds()
