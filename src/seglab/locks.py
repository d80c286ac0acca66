"""One writer per output: a lock file beside what a job writes.

A second job on the same output would interleave its files with the first's, or replace a
slide's mask under it; it is refused at once. A lock whose process has died (killed, a crash,
a machine that rebooted) is recognised and taken over, so a crash never blocks the rerun.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputPathError
from .io import cannot_write

__all__ = ["lock_path", "output_lock"]


def lock_path(output: str | os.PathLike) -> Path:
    """The lock file of ``output``: hidden, beside it (``out/`` -> ``.out.lock``).

    Examples
    --------
    >>> lock_path("results/slide.ome.zarr").as_posix()
    'results/.slide.ome.zarr.lock'
    """
    output = Path(output)
    return output.with_name(f".{output.name}.lock")


def _alive(owner: dict) -> bool:
    """Whether the process that wrote ``owner`` may still run: on this machine, checked; on
    another (a shared folder), assumed."""
    if owner.get("host") != socket.gethostname():
        return True
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


#: seconds a lock may stay empty: its writer is between creating and filling it
_FILLING_S = 10.0


def _owner(lock: Path) -> dict | None:
    """Who holds ``lock``: ``{"pid", "host"}``, {} for nobody (gone, or empty for long: its
    writer died between creating and filling it), None while it may still be being filled."""
    import time

    try:
        owner = json.loads(lock.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        try:
            young = time.time() - lock.stat().st_mtime < _FILLING_S
        except OSError:
            return {}
        return None if young else {}
    return owner if isinstance(owner, dict) else {}


@contextlib.contextmanager
def output_lock(output: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of ``output`` for the block; refuse if a live job holds it.

    Raises
    ------
    OutputPathError
        One line naming the output and the process that writes it.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "masks"
    >>> with output_lock(out) as lock:  # doctest: +ELLIPSIS
    ...     with output_lock(out):
    ...         pass
    Traceback (most recent call last):
    ...
    seglab.errors.OutputPathError: ...masks: another seglab job (process ...) is writing it; ...
    >>> lock_path(out).exists()
    False
    """
    lock = lock_path(output)
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(output, exc) from None
    for _ in range(3):  # a dead owner's lock is removed, then taken like a free one
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(lock)
            if owner is None or (owner and _alive(owner)):
                owner = owner or {"pid": "?", "host": "?"}
                raise OutputPathError(
                    f"{output}: another seglab job (process {owner.get('pid')} on"
                    f" {owner.get('host')}) is writing it; wait for it to end, or remove"
                    f" {lock} if that job is gone"
                ) from None
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            continue
        except OSError as exc:
            raise cannot_write(output, exc) from None
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(me, file)
        break
    else:
        raise OutputPathError(f"{output}: could not take its lock {lock}; try again")
    try:
        yield lock
    finally:
        if _owner(lock) == me:
            with contextlib.suppress(OSError):
                lock.unlink()
