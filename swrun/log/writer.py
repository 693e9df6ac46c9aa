"""Writing a run log: `RunLog` creates or continues one (repairing a torn tail), appends each
event as one fsynced table that carries the hash chain's `prev`, sends output lines to the
step's sidecar file and names it, with its SHA-256, in the step_finished record."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import threading
from datetime import date, datetime, time
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import tomli_w

from swrun.errors import RunLogError
from swrun.events import Event, StepOutput, format_time
from swrun.evidence.chain import CHAIN, digest, last_hash, normalize
from swrun.files import MAX_LOG_BYTES, NotRegular, check_fd, check_path, open_regular
from swrun.log.lock import _lock
from swrun.log.reader import SCHEMA_VERSION, parse_bytes
from swrun.log.sidecars import _close_synced, _sidecar_name, _sum_so_far

if TYPE_CHECKING:
    from swrun.registry import RunbookLock


_NO_SYNC = frozenset({"step_started", "notification"})
_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(value: Any) -> Any:
    """What TOML can hold: None dropped (recursively), enums and odd types as strings."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value if v is not None]
    if isinstance(value, Enum):
        return _clean(value.value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from undecodable process output
            return _SURROGATE.sub("\ufffd", value)
        return value
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return format_time(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _table_text(name: str, record: dict[str, Any], array: bool) -> bytes:
    # dumped as a plain table, then renamed: tomli_w writes a list of small dicts inline
    text = tomli_w.dumps({name: record}).removeprefix(f"[{name}]\n")
    text = (f"[[{name}]]\n" if array else f"[{name}]\n") + text
    # tomli_w never writes a raw newline inside a value, so every line is structural
    return ("\n".join(line for line in text.split("\n") if line) + "\n\n").encode("utf-8")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class RunLog:
    """An open run log, locked for this process until `close()`."""

    def __init__(self, path: Path, fd: int, next_seq: int) -> None:
        self.path = path
        self.output_dir = path.with_suffix(".output")
        """Where step output goes: `<log without .toml>.output/`."""
        self.warnings: list[str] = []
        """What `open_append` had to repair."""
        self._fd: int | None = fd
        self._next_seq = next_seq
        self._mutex = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._sidecars: dict[tuple[str, int, str | None], tuple[int, str]] = {}
        self._sums: dict[tuple[str, int, str | None], tuple[Any, int]] = {}
        """Each open sidecar's SHA-256 and length so far, kept as its lines are written."""
        self._held: list[RunbookLock] = []
        self._head = digest(b"")
        """The hash of the last table written: the next event's `prev`."""
        self._size = 0
        """The log's length in bytes (as swrun writes them: LF line ends)."""
        self._head_seq = 0

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, header: dict[str, Any]) -> RunLog:
        """A new log (mode 0600) starting with a `[run]` table; an existing file is refused."""
        path = Path(path)
        schema = header.get("schema")
        run = {"schema": SCHEMA_VERSION if schema is None else schema,
               "chain": header.get("chain", CHAIN),  # every event carries `prev`
               **{k: v for k, v in header.items() if k not in ("schema", "chain")}}
        text = _table_text("run", _clean(run), array=False)
        exists = RunLogError(f"{path} already exists; a new run needs a new log (or --resume "
                             "it)")
        if os.path.lexists(path):
            raise exists
        # the header goes into a file of its own that is then linked into place: the log
        # either does not exist or starts with a whole [run] table, even after a kill -9 or
        # a full disk at start (an empty log would block both a rerun and a resume)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC,
                         0o600)
        except OSError as exc:
            raise RunLogError(f"{path}: cannot create the run log: {exc.strerror}") from None
        log = cls(path, fd, 1)
        try:
            os.fchmod(fd, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody else knows this file
            log._write(text)
            os.link(tmp, path)  # never replaces an existing file
        except FileExistsError:
            log.close()
            raise exists from None
        except OSError as exc:
            log.close()
            raise RunLogError(f"{path}: cannot create the run log: {exc.strerror}") from None
        except BaseException:
            log.close()
            raise
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        _fsync_dir(path.parent)
        return log

    @classmethod
    def open_append(cls, path: str | Path) -> RunLog:
        """Lock an existing log to continue it (--resume), cutting a torn last event off first.

        The torn bytes are kept in `<log>.torn`."""
        path = Path(path)
        try:
            check_path(path)  # a FIFO or a device is refused before it is opened
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | os.O_NONBLOCK)
        except NotRegular as exc:
            raise RunLogError(str(exc)) from None
        except FileNotFoundError:
            raise RunLogError(f"{path}: no such run log") from None
        except OSError as exc:
            raise RunLogError(f"{path}: cannot open the run log: {exc.strerror}") from None
        try:
            check_fd(fd, path, MAX_LOG_BYTES)
        except OSError as exc:
            os.close(fd)
            raise RunLogError(str(exc) if isinstance(exc, NotRegular) else
                              f"{path}: cannot open the run log: {exc.strerror}") from None
        _lock(fd, path)
        log = cls(path, fd, 1)
        try:
            chunks = []
            left = MAX_LOG_BYTES + 1
            while left > 0 and (block := os.read(fd, min(left, 1 << 20))):
                chunks.append(block)
                left -= len(block)
            raw = b"".join(chunks)
            if len(raw) > MAX_LOG_BYTES:
                raise NotRegular(path, f"larger than {MAX_LOG_BYTES >> 20} MB")
            data, good = parse_bytes(path, raw)
            if good < len(raw):
                torn = path.with_name(path.name + ".torn")
                tfd = os.open(torn, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
                try:
                    os.write(tfd, raw[good:])
                    os.fsync(tfd)
                finally:
                    os.close(tfd)
                os.ftruncate(fd, good)
                os.fsync(fd)
                log.warnings.append(f"{path}: moved a torn last event ({len(raw) - good} bytes) "
                                    f"to {torn.name}")
        except NotRegular as exc:
            log.close()
            raise RunLogError(str(exc)) from None
        except OSError as exc:
            log.close()
            raise RunLogError(f"{path}: cannot repair the run log: {exc.strerror}") from None
        except BaseException:
            log.close()
            raise
        log._next_seq = data.last_seq + 1
        log._head = last_hash(raw[:good])  # the chain goes on from the last whole table
        log._size = len(normalize(raw[:good]))
        log._head_seq = data.last_seq
        return log

    # -- writing ---------------------------------------------------------------------------
    @property
    def next_seq(self) -> int:
        """1 + the highest seq in the log."""
        return self._next_seq

    @property
    def head(self) -> tuple[str, int, int]:
        """The chain head: the hash of the last table written, the log's length in bytes
        and the seq of its last event (0: only the header) — what a signature covers."""
        with self._mutex:
            return self._head, self._size, self._head_seq

    def append(self, event: Event) -> None:
        """Write one event durably; output lines go to the step's sidecar file instead."""
        with self._mutex:
            if self._fd is None:
                raise RunLogError(f"{self.path}: the run log is closed")
            if isinstance(event, StepOutput):
                self._output(event)
                return
            record = _clean(event.to_record())
            record = {**{k: record.pop(k) for k in ("seq", "at", "type") if k in record},
                      "prev": self._head, **record}
            step = record.get("step")
            if event.type == "step_started" and isinstance(step, str):
                self._attempts[step] = record.get("attempt") or 1
            elif event.type == "step_finished" and isinstance(step, str):
                self._link_output(record, step)
            # step_started and a notification's delivery record need no fsync of their own:
            # the next step boundary is fsync'd moments later, and a kill -9 loses nothing
            # the kernel already holds (only a power cut could, and then only that record).
            self._write(_table_text("event", record, array=True),
                        sync=event.type not in _NO_SYNC)
            if isinstance(event.seq, int):
                self._next_seq = max(self._next_seq, event.seq + 1)
                self._head_seq = event.seq
            for held in self._held:  # the registry entry follows the step (swrun ps)
                held.see(record)

    def _write(self, data: bytes, sync: bool = True) -> None:
        assert self._fd is not None
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            done = os.write(self._fd, data)
            while done < len(data):  # a short write only happens when the disk is nearly full
                done += os.write(self._fd, data[done:])
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):  # never leave half a table to follow
                os.ftruncate(self._fd, end)
            raise RunLogError(f"{self.path}: cannot write the run log: {exc.strerror}") from None
        self._head = digest(data)
        self._size += len(data)

    def _output(self, event: StepOutput) -> None:
        attempt = event.attempt or self._attempts.get(event.step, 1)
        key = (event.step, attempt, event.host)
        try:
            if key not in self._sidecars:
                name = _sidecar_name(event.number, event.step, attempt, event.host)
                if not self.output_dir.is_dir():
                    self.output_dir.mkdir(mode=0o700)
                    os.chmod(self.output_dir, 0o700)
                fd = os.open(self.output_dir / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND
                             | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
                try:
                    check_fd(fd, self.output_dir / name)  # a FIFO put there would block
                except OSError:
                    os.close(fd)
                    raise
                os.fchmod(fd, 0o600)
                self._sidecars[key] = (fd, f"{self.output_dir.name}/{name}")
                self._sums[key] = _sum_so_far(fd)
            fd = self._sidecars[key][0]
            line = _clean(event.line.rstrip("\r\n")).replace("\n", "\\n")
            data = f"{format_time(event.at)} {event.stream} {line}\n".encode()
            done = os.write(fd, data)
            h, size = self._sums[key]
            if h is not None:
                h.update(data[:done])
                self._sums[key] = (h, size + done)
        except OSError as exc:
            raise RunLogError(f"{self.output_dir}: cannot write step output: "
                              f"{exc.strerror}") from None

    def _link_output(self, record: dict[str, Any], step: str) -> None:
        """Close this attempt's sidecar files and name them in the step_finished record."""
        attempt = record.get("attempt") or self._attempts.get(step, 1)
        files: dict[str | None, str] = {}
        sums: dict[str, tuple[Any, int]] = {}
        for key in [k for k in self._sidecars if k[:2] == (step, attempt)]:
            fd, rel = self._sidecars.pop(key)
            os.close(fd)  # no fsync of its own: the step_finished naming it is the one
            files[key[2]] = rel
            sums[rel] = self._sums.pop(key, (None, 0))
        if not files and record.get("leftover"):
            # a resume settling the step the dead run left running: the output it got
            # before it died is in the sidecar, which this event then vouches for
            number = record.get("number")
            name = _sidecar_name(number if isinstance(number, int) else None, step,
                                 attempt if isinstance(attempt, int) else 1, None)
            if (self.output_dir / name).is_file():
                files[None] = f"{self.output_dir.name}/{name}"
        if not files:
            return
        hosts = record.get("hosts")
        if isinstance(hosts, dict):
            for host in [h for h in files if h in hosts and isinstance(hosts[h], dict)]:
                hosts[host].update(self._sidecar_fields(files.pop(host), sums))
        if len(files) == 1:
            record.update(self._sidecar_fields(next(iter(files.values())), sums))
        elif files:
            if None in files:
                record.update(self._sidecar_fields(files.pop(None), sums))
            per_host = record.setdefault("hosts", {})
            for host, rel in files.items():
                per_host.setdefault(str(host), {}).update(self._sidecar_fields(rel, sums))

    def _sidecar_fields(self, rel: str, sums: dict[str, tuple[Any, int]] | None = None
                        ) -> dict[str, Any]:
        """`output_file` and, for `swrun verify`, the file's SHA-256 and length now (a resume
        that runs the step again appends: the later event covers the longer file) — from
        the bytes this log wrote to it when it kept their sum (`sums`), else read back."""
        fields: dict[str, Any] = {"output_file": rel}
        h, size = (sums or {}).get(rel, (None, 0))
        if h is not None:
            fields.update(output_sha256=h.hexdigest(), output_bytes=size)
            return fields
        try:
            with open_regular(self.path.parent / rel) as fh:
                h = hashlib.sha256()
                size = 0
                while block := fh.read(1 << 20):
                    h.update(block)
                    size += len(block)
        except OSError:
            return fields
        fields.update(output_sha256=h.hexdigest(), output_bytes=size)
        return fields

    # -- closing ---------------------------------------------------------------------------
    def hold(self, lock: RunbookLock | None) -> None:
        """Keep `lock` until this log is closed (the runbook's lock lives as long as the run)."""
        if lock is not None:
            self._held.append(lock)

    def close(self) -> None:
        """Flush the sidecar files and release the lock(s); closing twice is harmless."""
        with self._mutex:
            for held in self._held:
                held.release()
            self._held.clear()
            for fd, _ in self._sidecars.values():
                _close_synced(fd)
            self._sidecars.clear()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
