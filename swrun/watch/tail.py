"""Following a run log and its output sidecar as they grow, from another process.

Read-only: the log is never locked, written or repaired here. A log grows one whole table
at a time and every table ends with a blank line (docs/run-log.md), so only the bytes up
to the last blank line are read as events; a table still being written waits for the
next poll. Who writes the log is found in /proc/locks (a flock on its inode), never by
taking a lock.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swrun.files import (
    check_fd,
    check_path,
    open_regular,
    regular_size,
    safe_text,
)
from swrun.procs import file_key, held_locks
from swrun.runlog import complete_length

_END = b"\n\n"
READ_BLOCK = 4 << 20
"""At most this many new bytes of the log are read per poll (a big log is caught up in a
few polls, never in one huge read)."""
TAIL_LINES = 1000
"""Output lines kept per sidecar file per poll; the rest are counted, not kept."""


def lock_holder(path: Path, locks: dict[tuple[int, int, int], int] | None = None
                ) -> int | None:
    """The pid holding the flock on `path` (the swrun writing it), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    pid = (held_locks() if locks is None else locks).get(file_key(st))
    return pid or None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LogRotated(Exception):
    """The file at the log's path is not the one being followed any more."""


@dataclass
class LogTail:
    """The events of a run log, read incrementally: `poll()` returns what is new."""

    path: Path
    run: dict[str, Any] | None = None
    """The `[run]` header, once read."""
    offset: int = 0
    """Bytes read so far: always the end of a whole table."""
    warnings: list[str] = field(default_factory=list)
    _fd: int | None = None
    _ino: tuple[int, int, int] | None = None

    def open(self) -> None:
        if self._fd is None:  # a FIFO or a device: NotRegular, never a hang or an endless read
            check_path(self.path)
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            try:
                self._ino = file_key(check_fd(fd, self.path))
            except OSError:
                os.close(fd)
                raise
            self._fd = fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def key(self) -> tuple[int, int, int] | None:
        return self._ino

    def check_rotated(self) -> str | None:
        """Why the path no longer names the file followed (moved, replaced, truncated)."""
        if self._fd is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return f"{self.path} was moved or deleted"
        except OSError as exc:
            return f"{self.path}: {exc.strerror}"
        if file_key(st) != self._ino:
            return f"{self.path} was replaced by another file"
        if os.fstat(self._fd).st_size < self.offset:
            return f"{self.path} was cut shorter than what was already read"
        return None

    def poll(self) -> list[dict[str, Any]]:
        """New whole event tables since the last poll, as records (the header is kept in
        `run`). Raises LogRotated when the file followed was replaced or cut."""
        self.open()
        assert self._fd is not None
        why = self.check_rotated()
        if why is not None:
            raise LogRotated(why)
        size = os.fstat(self._fd).st_size
        if size <= self.offset:
            return []
        raw = os.pread(self._fd, min(size - self.offset, READ_BLOCK), self.offset)
        good = complete_length(raw)
        if not good:
            return []
        chunk = raw[:good]
        self.offset += good
        return self._parse(chunk)

    def _parse(self, chunk: bytes) -> list[dict[str, Any]]:
        try:
            doc = tomllib.loads(chunk.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
            return self._parse_each(chunk)
        return self._take(doc)

    def _parse_each(self, chunk: bytes) -> list[dict[str, Any]]:
        """A chunk that does not parse as a whole: table by table, bad ones said and left."""
        out: list[dict[str, Any]] = []
        for table in chunk.replace(b"\r\n", b"\n").split(_END):
            if not table.strip():
                continue
            try:
                out += self._take(tomllib.loads(table.decode("utf-8")))
            except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
                self.warnings.append(f"{self.path}: a table that is not TOML was left out "
                                     f"({exc})")
        return out

    def _take(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        run = doc.get("run")
        if isinstance(run, dict) and self.run is None:
            self.run = run
        events = doc.get("event", [])
        if not isinstance(events, list):
            return []
        return [e for e in events if isinstance(e, dict) and isinstance(e.get("type"), str)]


@dataclass
class _Sidecar:
    step: str
    host: str | None
    offset: int = 0


@dataclass
class OutputChunk:
    """New lines of one step's output file: the last TAIL_LINES of them, and how many more
    came before those (a flood)."""

    step: str
    host: str | None
    lines: list[str]
    skipped: int = 0
    stamps: list[str] = field(default_factory=list)
    """Each line's time as the output file has it (`2026-…Z`), for placing it by attempt."""

    def split(self, upto: str) -> tuple[OutputChunk | None, OutputChunk | None]:
        """The lines written at or before `upto` (an event's `at`), and the rest."""
        if len(self.stamps) != len(self.lines):
            return None, self
        n = 0
        while n < len(self.lines) and self.stamps[n] and self.stamps[n] <= upto:
            n += 1
        if n == 0:
            return None, self
        if n == len(self.lines):
            return self, None
        return (OutputChunk(self.step, self.host, self.lines[:n], self.skipped, self.stamps[:n]),
                OutputChunk(self.step, self.host, self.lines[n:], 0, self.stamps[n:]))


class OutputTail:
    """The `.output/` sidecar files of the steps that started, followed line by line."""

    def __init__(self, log: Path) -> None:
        self.folder = log.with_suffix(".output")
        self._files: dict[str, _Sidecar] = {}
        self._prefixes: dict[str, str] = {}
        """File name stem of a started attempt → its step: a remote step's `@host` files are
        found by it (its step_started names no host, or a group, not the hosts it ran on)."""

    def started(self, record: dict[str, Any]) -> None:
        """A `step_started` record: its output files are followed from now on."""
        from swrun.runlog import _sidecar_name  # the names the writer gives them

        step = record.get("step")
        if not isinstance(step, str):
            return
        number = record.get("number") if isinstance(record.get("number"), int) else None
        attempt = record.get("attempt") if isinstance(record.get("attempt"), int) else 1
        hosts = record.get("hosts")
        names: list[str | None] = [str(h) for h in hosts] if isinstance(hosts, list) else []
        if not names:
            names = [record.get("host") if isinstance(record.get("host"), str) else None]
        self._prefixes[_sidecar_name(number, step, attempt, None)[:-4]] = step
        for host in names:
            name = _sidecar_name(number, step, attempt, host)
            self._files.setdefault(name, _Sidecar(step, host))
            if host is not None:  # a one-host step writes without @host too (local output)
                self._files.setdefault(_sidecar_name(number, step, attempt, None),
                                       _Sidecar(step, None))

    def names_of(self, step: str) -> list[str]:
        """The output files followed for `step` (all its attempts and hosts)."""
        return [name for name, side in self._files.items() if side.step == step]

    def _discover(self) -> None:
        """Add the `<stem>@<host>.log` files of started attempts not followed yet."""
        if not self._prefixes:
            return
        try:
            names = [e.name for e in os.scandir(self.folder)]
        except OSError:
            return
        for name in names:
            if name in self._files or "@" not in name or not name.endswith(".log"):
                continue
            stem, host = name[:-4].rsplit("@", 1)
            step = self._prefixes.get(stem)
            if step is not None:
                self._files[name] = _Sidecar(step, host)

    def poll(self) -> list[OutputChunk]:
        out: list[OutputChunk] = []
        self._discover()
        for name, side in self._files.items():
            size = regular_size(self.folder / name)  # a FIFO is never opened
            if size is None or size <= side.offset:
                continue
            chunk = self._read(name, side, size)
            if chunk is not None:
                out.append(chunk)
        return out

    def _read(self, name: str, side: _Sidecar, size: int) -> OutputChunk | None:
        kept: deque[bytes] = deque(maxlen=TAIL_LINES)
        count = 0
        try:
            with open_regular(self.folder / name) as fh:
                fh.seek(side.offset)
                left = size - side.offset
                rest = b""
                while left > 0:
                    block = fh.read(min(left, 1 << 20))
                    if not block:
                        break
                    left -= len(block)
                    block = rest + block
                    cut = block.rfind(b"\n") + 1
                    rest = block[cut:]
                    whole = block[:cut]
                    side.offset += len(whole)
                    n = whole.count(b"\n")
                    count += n
                    if n >= TAIL_LINES:
                        kept.clear()
                        kept.extend(whole.split(b"\n")[-TAIL_LINES - 1:-1])
                    else:
                        kept.extend(whole.split(b"\n")[:-1])
        except OSError:
            return None
        if not kept:
            return None
        lines = [_text(raw, side.host) for raw in kept]
        stamps = [raw.split(b" ", 1)[0].decode("ascii", "replace") for raw in kept]
        return OutputChunk(side.step, side.host, lines, max(0, count - len(lines)), stamps)


def _text(raw: bytes, host: str | None) -> str:
    """`2026-…Z stdout compiling` → `compiling` (`web1: compiling` for a host's output),
    without terminal escape sequences."""
    parts = raw.decode("utf-8", "replace").split(" ", 2)
    line = safe_text(parts[2]) if len(parts) == 3 else ""  # shown: no terminal escapes
    return f"{host}: {line}" if host else line


def read_sidecar_lines(folder: Path, names: list[str]) -> list[str]:
    """All lines of some output files (for search), host-prefixed like the output pane."""
    out: list[str] = []
    for name in names:
        host = name.rsplit("@", 1)[1].removesuffix(".log") if "@" in name else None
        with contextlib.suppress(OSError), open_regular(folder / name) as fh:
            out += [_text(raw.rstrip(b"\n"), host) for raw in fh]
    return out
