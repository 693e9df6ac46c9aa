"""Step output sidecar files (`<log>.output/<step>.log`): their names, the sum of what one
already holds, and closing one durably."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from swrun.files import open_regular

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _sidecar_name(number: int | None, step: str, attempt: int, host: str | None) -> str:
    name = _UNSAFE.sub("_", step.replace("/", "__")).lstrip(".") or "step"
    if number is not None:
        name = f"{number:04d}-{name}"
    if attempt > 1:
        name += f"-attempt{attempt}"
    if host:
        name += "@" + (_UNSAFE.sub("_", host).lstrip(".") or "host")
    return name + ".log"


def _sum_so_far(fd: int) -> tuple[Any, int]:
    """The SHA-256 and length of what an opened sidecar already holds (a step run again by
    a resume appends to it); (None, 0) when it cannot be read (it is read back at the end)."""
    h = hashlib.sha256()
    size = 0
    try:
        if os.fstat(fd).st_size:
            with open_regular(Path(f"/proc/self/fd/{fd}")) as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
                    size += len(block)
    except OSError:
        return None, 0
    return h, size


def _close_synced(fd: int) -> None:
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
