"""The run log's hash chain: every `[[event]]` table carries `prev`, the SHA-256 of the
table before it exactly as written (the `[run]` table for the first event).

A log is a sequence of tables each ending with one blank line (docs/run-log.md), so the
tables are found from the bytes alone: no TOML parser is trusted to give them back. CRLF
line ends (a Windows editor, git's autocrlf) are read as LF: the hash is of the bytes as
swrun wrote them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

CHAIN = "sha256"
"""`[run].chain` of a chained log."""
_PREV = re.compile(rb'^prev = "([0-9a-f]{64})"$', re.M)
_SEQ = re.compile(rb"^seq = (\d+)$", re.M)
_CHAIN_KEY = re.compile(rb'^chain = "([^"]*)"$', re.M)
_SUBTABLE = re.compile(rb"\n\[")


def normalize(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Table:
    start: int
    """Byte offset in the (normalized) log."""
    line: int
    """1-based line of its `[run]` / `[[event]]` line."""
    data: bytes
    """Its bytes, blank line included: what the next table's `prev` is the hash of."""

    @property
    def hash(self) -> str:
        return digest(self.data)

    def _top(self) -> bytes:
        """The table's own keys, before any sub-table (`[event.hosts.web1]`)."""
        cut = _SUBTABLE.search(self.data, 1)
        return self.data[: cut.start() + 1] if cut else self.data

    @property
    def prev(self) -> str | None:
        found = _PREV.search(self._top())
        return found.group(1).decode() if found else None

    @property
    def seq(self) -> int | None:
        found = _SEQ.search(self._top())
        return int(found.group(1)) if found else None

    @property
    def is_header(self) -> bool:
        return self.data.startswith(b"[run]")

    @property
    def chain(self) -> str | None:
        found = _CHAIN_KEY.search(self._top())
        return found.group(1).decode() if found else None

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def name(self) -> str:
        if self.is_header:
            return "the [run] header"
        return f"event seq {self.seq} (line {self.line})" if self.seq is not None else \
            f"the event at line {self.line}"


def tables(raw: bytes) -> tuple[list[Table], int]:
    """The whole tables of a normalized log, and where the last one ends (a torn tail
    after it is not a table)."""
    out: list[Table] = []
    pos = 0
    line = 1
    while True:
        end = raw.find(b"\n\n", pos)
        if end < 0:
            break
        data = raw[pos:end + 2]
        out.append(Table(pos, line, data))
        line += data.count(b"\n")
        pos = end + 2
    return out, pos


def last_hash(raw: bytes) -> str:
    """The hash the next table's `prev` must carry: of the last whole table (normalized)."""
    found, _ = tables(normalize(raw))
    return found[-1].hash if found else digest(b"")


@dataclass
class ChainResult:
    tables: list[Table]
    chained: bool
    """The header says the log is chained (`chain = "sha256"`)."""
    problem: str | None = None
    """The first break, said as one line."""
    unchained_events: int = 0
    """Events without `prev` in a log whose header does not say it is chained."""
    notes: list[str] = field(default_factory=list)

    @property
    def events(self) -> list[Table]:
        return self.tables[1:]


def check(raw: bytes) -> ChainResult:
    """Walk the chain of a normalized log. The first break is named by the event's seq and
    line: changed (the hash of a table is not what the next one records), moved (its `prev`
    is the hash of another table in the log), or missing its `prev`."""
    found, _ = tables(raw)
    if not found or not found[0].is_header:
        return ChainResult(found, False, "no [run] header at the start")
    header = found[0]
    chained = header.chain == CHAIN
    result = ChainResult(found, chained)
    hashes = [t.hash for t in found]
    where = {h: i for i, h in enumerate(hashes)}
    for i in range(1, len(found)):
        table = found[i]
        prev = table.prev
        if prev is None:
            if chained:
                result.problem = f"{table.name()} has no `prev`: it was not written by the " \
                                 "swrun that wrote this log's header"
                return result
            result.unchained_events += 1
            continue
        if prev == hashes[i - 1]:
            continue
        at = where.get(prev)
        if at is not None:
            result.problem = (f"{table.name()} is out of place: it was written right after "
                              f"{found[at].name()}")
            return result
        nxt = found[i + 1] if i + 1 < len(found) else None
        if nxt is not None and nxt.prev is not None and nxt.prev != hashes[i]:
            result.problem = f"{table.name()} was changed since it was written"
        else:
            result.problem = (f"{found[i - 1].name()} was changed since it was written, or "
                              f"an event after it was removed")
        return result
    return result
