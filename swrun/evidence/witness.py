"""Witnesses: where a signed log's chain head is written down outside the log.

Nothing inside one file can prove what was cut off its end: a log cut back to an earlier
signed part, its later `.sig` block dropped, verifies. So each time a part of a run is
signed, its chain head (seq, length in bytes, SHA-256 of the last table) is also recorded
where the log's writer cannot quietly take it back:

- the machine-wide run registry (`<registry>/witness/<run>.<uid>.witness`, one line per
  signed part, appended, in the sticky registry folder: another user can neither remove
  nor replace it);
- when configured, every notification of `run_finished` (`chain` in the json format's
  record, a `chain` fact elsewhere) and the run's OTLP span (`swrun.chain.*`), which leave
  the machine.

`swrun verify` reads the registry's witness for the log's run (or `--witness FILE`: a
registry witness copied elsewhere, or lines written from a notification) and checks that
the log still reaches the last witnessed head. See docs/evidence.md, "Threat model".
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUFFIX = ".witness"
MAX_WITNESS_BYTES = 1 << 20
_LINE = re.compile(r"run=(?P<run>[0-9A-Za-z_-]+) (?:start=(?P<start>[0-9a-f]{64}) )?"
                   r"seq=(?P<seq>\d+) bytes=(?P<bytes>\d+) head=(?P<head>[0-9a-f]{64})"
                   r"(?: (?P<rest>.*))?$")
_SAFE = re.compile(r"[^0-9A-Za-z_-]")


@dataclass(frozen=True)
class Head:
    """One witnessed chain head."""

    run: str
    seq: int
    size: int
    head: str
    start: str = ""
    """The SHA-256 of the log's `[run]` table: with the run id it names the run (two runs
    that drew the same 8-hex id are told apart). Empty: any log of the run id."""
    source: str = ""
    """Where it was read (a file), for the verdict."""

    def line(self, extra: str = "") -> str:
        start = f"start={self.start} " if self.start else ""
        return f"run={self.run} {start}seq={self.seq} bytes={self.size} head={self.head}" + (
            f" {extra}" if extra else "")


def folder(environ: Mapping[str, str] | None = None) -> Path:
    from swrun.registry import registry_dir

    return registry_dir(environ) / "witness"


def _open_folder(environ: Mapping[str, str] | None = None) -> Path:
    """The witness folder, made and checked as the registry is (registry.sticky_folder);
    RegistryUnusable when it cannot be used safely."""
    from swrun.registry import open_registry, sticky_folder

    open_registry(environ)
    path = folder(environ)
    sticky_folder(path)
    return path


def record(head: Head, *, log: str, signed_at: str,
           environ: Mapping[str, str] | None = None) -> Path | None:
    """Append `head` to this run's witness file in the registry; None when it cannot be
    written (the run goes on: the witness is extra evidence, the signature is the proof)."""
    try:
        where = _open_folder(environ)
    except Exception:  # a registry we cannot use: the lock said so already
        return None
    path = where / f"{_SAFE.sub('_', head.run)}.{os.getuid()}{SUFFIX}"
    line = head.line(f"signed_at={_SAFE.sub('_', signed_at)} log={log}".replace("\n", " "))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
                     | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode) or os.fstat(fd).st_uid != os.getuid():
            return None
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    return path


def parse(text: str, source: str = "") -> list[Head]:
    out = []
    for raw in text.splitlines():
        m = _LINE.match(raw.strip())
        if m:
            out.append(Head(m["run"], int(m["seq"]), int(m["bytes"]), m["head"],
                            m["start"] or "", source))
    return out


def read(path: Path) -> list[Head]:
    from swrun.files import read_regular

    return parse(read_regular(path, MAX_WITNESS_BYTES).decode("utf-8", "replace"), str(path))


def registry_heads(run_id: str, environ: Mapping[str, str] | None = None) -> list[Head]:
    """What the registry witnessed for `run_id`: only files whose owner is the uid in their
    name (nobody can plant a witness in another user's name)."""
    where = folder(environ)
    out: list[Head] = []
    prefix = f"{_SAFE.sub('_', run_id)}."
    with contextlib.suppress(OSError):
        for path in sorted(where.glob(f"{prefix}*{SUFFIX}")):
            uid = path.name[len(prefix):-len(SUFFIX)]
            try:
                if not uid.isdigit() or os.lstat(path).st_uid != int(uid):
                    continue
                out += [h for h in read(path) if h.run == run_id]
            except Exception:  # an unreadable witness is no witness
                continue
    return out


def mine(heads: Iterable[Head], run_id: str, start: str) -> list[Head]:
    """The heads witnessed for this run: its id, and its `[run]` table when they name one."""
    return [h for h in heads if h.run == run_id and (not h.start or h.start == start)]


def check(heads: Iterable[Head], run_id: str, ends: Mapping[int, Any]) -> list[str]:
    """Problems: a witnessed head of this run that the log does not reach (cut back) or
    that it reaches with another table (rewritten). `ends`: byte offset → the log's table
    ending there (chain.Table)."""
    problems = []
    mine = [h for h in heads if h.run == run_id]
    if not mine:
        return []
    last = max(mine, key=lambda h: (h.seq, h.size))
    for h in sorted(mine, key=lambda h: h.seq):
        table = ends.get(h.size)
        if table is None or table.hash != h.head:
            where = f" ({h.source})" if h.source else ""
            cut = h is last and (not ends or max(ends) < h.size)
            problems.append(
                f"the witness{where} saw this run's log signed up to seq {h.seq} ({h.size} "
                f"bytes, head {h.head[:16]}…); the log "
                + ("ends before that: it was cut back" if cut else
                   "does not have that table there: it was rewritten"))
    return problems


def header_hash(log: Path) -> str:
    """The SHA-256 of a log's `[run]` table (its first table), as the chain hashes it."""
    from swrun.evidence.chain import digest, normalize

    with open(log, "rb") as fh:
        raw = normalize(fh.read(1 << 20))
    end = raw.find(b"\n\n")
    return digest(raw[:end + 2]) if end >= 0 else ""


def chain_facts(head: tuple[str, int, int] | None) -> dict[str, Any]:
    """The chain head as a notification or a span carries it (`chain` in records)."""
    if head is None:
        return {}
    digest, size, seq = head
    return {"head": digest, "bytes": size, "seq": seq}
