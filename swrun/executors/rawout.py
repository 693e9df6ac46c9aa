"""A local step's raw output: the files its processes write, which swrun follows line by line.

A step's stdout and stderr are pipes to two relays (`cat`, in sessions of their own), not
to swrun; the relays copy them into files that swrun follows. When swrun dies (`kill -9`, a
dropped SSH session to the bastion) the step writes on and runs to its end instead of dying
of SIGPIPE at its next line. The files are `<run dir>/out/<token>.stdout` and `.stderr`
(0600, in a 0700 folder; the token is the one of the step's exit file,
`<run dir>/exit/<token>.status`), and `<token>.pos` says how many bytes of each swrun has
handed on (so logged): what a resume finds past that arrived after swrun died. They hold
the output unmasked, so they are removed as soon as the step's end is logged (by a resume,
once it has logged the rest, masked, to the step's sidecar).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

STREAMS = ("stdout", "stderr")
_POS_WIDTH = 20
_READ = 1 << 20
"""Bytes of each stream one look hands on: a step printing faster than that is read in
turns, never all into memory at once."""
LATE_LIMIT = 64 << 20
"""Bytes of each stream a resume reads after the last logged position; the rest is cut."""


@dataclass(frozen=True)
class RawOutput:
    """The raw output files of one step attempt: `<base>.stdout`, `.stderr`, `.pos`."""

    base: Path

    @classmethod
    def beside(cls, exit_file: Path) -> RawOutput:
        """The files of the step whose exit file is `<run dir>/exit/<token>.status`."""
        return cls(exit_file.parent.parent / "out" / exit_file.stem)

    def path(self, name: str) -> Path:
        return self.base.with_name(f"{self.base.name}.{name}")

    @property
    def paths(self) -> tuple[Path, ...]:
        return (*(self.path(s) for s in STREAMS), self.path("pos"))

    def create(self) -> dict[str, int]:
        """Make the (empty) files; the write end of each stream, for the step's process."""
        folder = self.base.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fds: dict[str, int] = {}
        try:
            for stream in STREAMS:
                fd = os.open(self.path(stream), os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                             os.O_APPEND | os.O_CLOEXEC, 0o600)
                fds[stream] = fd
        except BaseException:
            for fd in fds.values():
                os.close(fd)
            self.remove()
            raise
        return fds

    def remove(self) -> None:
        for path in self.paths:
            with contextlib.suppress(OSError):
                path.unlink()

    def writers(self) -> list[int]:
        """Pids of the processes that have one of the stream files open (the step's relays)."""
        wanted = {str(self.path(s)) for s in STREAMS}
        found = []
        for pid in (p for p in os.listdir("/proc") if p.isdigit()):
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                            found.append(int(pid))
                            break
        return found

    def quiesce(self, wait: float = 2.0) -> None:
        """Before a resume reads what arrived after swrun died: the relays that copy the
        step's pipes into the files are given `wait` seconds to copy what is left once the
        step ended, then stopped (a process the step left running keeps them alive)."""
        deadline = time.monotonic() + wait
        while (left := self.writers()) and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def logged(self) -> dict[str, int]:
        """How many bytes of each stream swrun handed on before it stopped (0 when unknown)."""
        try:
            words = self.path("pos").read_text(encoding="ascii").split()
            return {s: max(0, int(w)) for s, w in zip(STREAMS, words, strict=True)}
        except (OSError, ValueError):
            return dict.fromkeys(STREAMS, 0)

    def late(self) -> tuple[list[tuple[str, str]], datetime | None]:
        """What the step wrote after swrun stopped handing its lines on — (stream, line),
        stdout's before stderr's (their order between them is not known) — and when the
        files were last written."""
        start = self.logged()
        lines: list[tuple[str, str]] = []
        newest: float | None = None
        for stream in STREAMS:
            try:
                with open(self.path(stream), "rb") as fh:
                    newest = max(newest or 0.0, os.fstat(fh.fileno()).st_mtime)
                    fh.seek(start[stream])
                    data = fh.read(LATE_LIMIT + 1)
            except OSError:
                continue
            if not data:
                continue
            cut = len(data) > LATE_LIMIT
            text = data[:LATE_LIMIT].decode("utf-8", "replace")
            parts = text.split("\n")
            if parts[-1] == "":
                parts.pop()
            lines += [(stream, p.rstrip("\r")) for p in parts]
            if cut:
                lines.append((stream, f"[swrun: output cut after {LATE_LIMIT >> 20} MiB]"))
        when = datetime.fromtimestamp(newest, UTC) if newest is not None else None
        return lines, when


@dataclass
class Follower:
    """Reads what the step appends to its files: whole lines as they complete, the offsets
    handed on recorded in `.pos` by `commit`."""

    raw: RawOutput
    _fds: dict[str, int] = field(default_factory=dict)
    _partial: dict[str, bytes] = field(default_factory=lambda: dict.fromkeys(STREAMS, b""))
    _done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0))
    _pos: int | None = None
    _said: tuple[int, int] = (0, 0)

    def open(self) -> None:
        for stream in STREAMS:
            self._fds[stream] = os.open(self.raw.path(stream), os.O_RDONLY | os.O_CLOEXEC)
        self._pos = os.open(self.raw.path("pos"), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC,
                            0o600)

    def read(self) -> list[tuple[str, bytes]]:
        """The lines completed since the last call (at most _READ bytes of each stream),
        stdout's first."""
        out: list[tuple[str, bytes]] = []
        for stream, fd in self._fds.items():
            got = 0
            while got < _READ and (chunk := os.read(fd, 1 << 16)):
                got += len(chunk)
                *lines, self._partial[stream] = (self._partial[stream] + chunk).split(b"\n")
                for line in lines:
                    self._done[stream] += len(line) + 1
                    out.append((stream, line))
        return out

    def rest(self) -> list[tuple[str, bytes]]:
        """At the end: the unfinished last line of each stream."""
        out = []
        for stream in STREAMS:
            if self._partial[stream]:
                self._done[stream] += len(self._partial[stream])
                out.append((stream, self._partial[stream]))
                self._partial[stream] = b""
        return out

    def commit(self) -> None:
        """Everything `read` returned is logged: a resume starts after it."""
        now = (self._done["stdout"], self._done["stderr"])
        if self._pos is None or now == self._said:
            return
        text = f"{now[0]:0{_POS_WIDTH}d} {now[1]:0{_POS_WIDTH}d}\n".encode()
        with contextlib.suppress(OSError):  # one write of a fixed size: never half of it
            os.pwrite(self._pos, text, 0)
            self._said = now

    def close(self) -> None:
        for fd in [*self._fds.values(), *([self._pos] if self._pos is not None else [])]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        self._pos = None


def sweep(run_dir: Path, keep: set[str]) -> None:
    """At a resume, under the log's lock (no step of the run is starting): the raw output
    files of steps that never got past their gate (swrun died between starting one and
    logging it), and block files no shell read, are left over: removed. `keep`: the tokens
    of the steps still to be settled."""
    with contextlib.suppress(OSError):
        for path in (run_dir / "out").iterdir():
            if path.name.partition(".")[0] not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()
    with contextlib.suppress(OSError):
        for path in run_dir.glob("swrun-body-*.step"):
            with contextlib.suppress(OSError):
                path.unlink()
