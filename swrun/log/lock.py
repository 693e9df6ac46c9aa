"""The run log's own lock: a flock held by the one swrun writing (or resuming) it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from swrun.errors import LogLockedError


def _lock_holder(fd: int) -> int | None:
    """The pid holding a flock on fd's file, from /proc/locks (Linux); None if unknown."""
    from swrun.procs import file_key, held_locks

    return held_locks().get(file_key(os.fstat(fd))) or None


def _lock(fd: int, path: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _lock_holder(fd)
        os.close(fd)
        who = f"another swrun (pid {pid})" if pid else "another swrun"
        raise LogLockedError(f"{path} is in use by {who}; wait for it to end or stop it "
                             "before resuming") from None
