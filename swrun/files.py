"""Reading files swrun did not just write (logs, signatures, approvals, bundles, output
sidecars): regular files only, never more than a limit, and text shown safe for a terminal.

A FIFO waits for a writer that may never come, `/dev/zero` never ends and a directory has
no bytes: each is refused with one line before anything is read. Opening uses O_NONBLOCK so
a FIFO swapped in between the check and the open cannot hang the reader either.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

MiB = 1 << 20

MAX_RUNBOOK_BYTES = 10 * MiB
"""A runbook larger than this is refused before it is read (swrun/parser.py)."""
MAX_LOG_BYTES = 256 * MiB
"""A run log larger than this is refused (output goes to sidecars: a log of 100,000 events
is ~50 MB)."""
MAX_SIG_BYTES = 16 * MiB
"""A `.sig` file: one signature block per signing, a few hundred bytes each."""
MAX_APPROVAL_BYTES = 1 * MiB
"""An approval file: one small table and a signature."""
MAX_BUNDLE_BYTES = 2 << 30
"""An evidence bundle (a tar of a log, its sidecars and approvals)."""

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class NotRegular(OSError):
    """The path is not a regular file, or is larger than the reader accepts. Its `str()`
    is one line naming the path and what it is."""

    def __init__(self, path: str | Path, why: str) -> None:
        super().__init__(why)
        self.path = str(path)
        self.why = why
        self.strerror = why  # callers that print `exc.strerror` say why

    def __str__(self) -> str:
        return f"{self.path}: {self.why}"


def kind_of(mode: int) -> str:
    """`a FIFO`, `a character device`, … for a mode that is not a regular file's."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _check(mode: int, path: str | Path) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", str(path))
    if not stat.S_ISREG(mode):
        raise NotRegular(path, f"not a regular file ({kind_of(mode)})")


def _too_large(path: str | Path, limit: int, size: int | None) -> NotRegular:
    shown = f" ({size} bytes)" if size is not None else ""
    return NotRegular(path, f"larger than {_size(limit)}{shown}")


def _size(n: int) -> str:
    return f"{n // MiB} MB" if n >= MiB else f"{n} bytes"


@contextmanager
def open_regular(path: str | Path, limit: int | None = None) -> Iterator[BinaryIO]:
    """The file opened for reading, if it is a regular file (a symlink to one is fine) no
    larger than `limit`; NotRegular otherwise (IsADirectoryError for a directory),
    FileNotFoundError and other OSErrors as they come. Stream from it; `read_regular`
    reads it whole."""
    _check(os.stat(path).st_mode, path)  # before opening: opening a FIFO may block
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())  # the file opened, should the path have changed since
        _check(info.st_mode, path)
        if limit is not None and info.st_size > limit:
            raise _too_large(path, limit, info.st_size)
        yield fh


def check_path(path: str | Path) -> os.stat_result:
    """NotRegular (IsADirectoryError) unless `path` is a regular file or a link to one: for
    a file about to be opened some other way (for writing, say)."""
    info = os.stat(path)
    _check(info.st_mode, path)
    return info


def check_fd(fd: int, path: str | Path, limit: int | None = None) -> os.stat_result:
    """For a file opened some other way (for writing, say): NotRegular unless it is a
    regular file no larger than `limit`."""
    info = os.fstat(fd)
    _check(info.st_mode, path)
    if limit is not None and info.st_size > limit:
        raise _too_large(path, limit, info.st_size)
    return info


def read_regular(path: str | Path, limit: int) -> bytes:
    """The whole of a regular file no larger than `limit` bytes; NotRegular for anything
    else (a FIFO, a device, a directory, a file past the limit)."""
    with open_regular(path, limit) as fh:
        data = fh.read(limit + 1)  # a file may grow while it is read
    if len(data) > limit:
        raise _too_large(path, limit, None)
    return data


def regular_size(path: str | Path) -> int | None:
    """The size of a regular file (following links), None for anything else or on error:
    for followers that stat before they open (a FIFO is never opened)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


# -- text shown on a terminal ----------------------------------------------------------------

_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clear screen
    r"|\x1b[\]PX^_][^\x07\x1b\n]*(?:\x07|\x1b\\)?"  # OSC (window title), DCS, SOS, PM, APC
    r"|\x9b[0-?]*[ -/]*[@-~]"  # the 8-bit CSI
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"  # their 8-bit forms
    r"|\x1b[ -/]*[0-~]?"  # any other escape, and a lone ESC
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # other C0/C1 controls (tab and newline stay)
)


def safe_value(value: Any, keep: frozenset[str] = frozenset(), depth: int = 0) -> Any:
    """A record read from a file with `safe_text` applied to every string in it (but the
    values of the keys in `keep`, which name files and match other records)."""
    if isinstance(value, str):
        return safe_text(value)
    if depth > 64:
        return value
    if isinstance(value, dict):
        return {k: v if k in keep else safe_value(v, keep, depth + 1)
                for k, v in value.items()}
    if isinstance(value, list):
        return [safe_value(v, keep, depth + 1) for v in value]
    return value


def safe_text(text: str) -> str:
    """`text` from a file, made safe to print: terminal control sequences (window title,
    clear screen, cursor moves, colours) removed, other control characters too; tab and
    newline kept. Linear time: each alternative consumes what it matches without
    backtracking into another."""
    if text.isprintable():
        return text
    return _CONTROL.sub("", text)
