"""Reading a run log back: the framing (every table ends with a blank line; a tail that does
not was cut off mid-write and is dropped), the limits (size, nesting, schema), the key types
(keys.py) and the `[run]` header alone (`peek_header`)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from swrun.errors import RunLogError
from swrun.files import MAX_LOG_BYTES, NotRegular, open_regular, read_regular
from swrun.log.keys import _EVENT_KEYS, _RUN_KEYS, _misfit

SCHEMA_VERSION = 1
"""The `[run].schema` this swrun writes; logs with a higher one are refused."""

_END = b"\n\n"
"""Every table ends with a blank line, and no table contains one."""
_END_CRLF = b"\n\r\n"
"""The same blank line in a log converted to CRLF line ends (TOML allows either)."""
_MAX_DEPTH = 64
"""Values nested deeper than this are refused: no swrun writes them, and readers that
walk values (the timeline's masking, renderers) must not run out of stack on a crafted log."""
_LIFECYCLE = frozenset({"run_started", "run_resumed", "run_finished"})
_HEADER_PEEK_LIMIT = 1 << 20


@dataclass(frozen=True)
class LogData:
    """A run log as read back: the `[run]` header and the event records, in file order."""

    path: Path
    run: dict[str, Any]
    events: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    """A dropped torn last event, said as one line each."""

    @property
    def lifecycle(self) -> list[dict[str, Any]]:
        """run_started, run_resumed and run_finished events, in order."""
        return [e for e in self.events if e.get("type") in _LIFECYCLE]

    @property
    def finished(self) -> bool:
        """The run ended, and was not resumed since."""
        life = self.lifecycle
        return bool(life) and life[-1].get("type") == "run_finished"

    @property
    def status(self) -> str | None:
        """The status of the last run_finished event, if any."""
        ends = [e for e in self.events if e.get("type") == "run_finished"]
        return str(ends[-1].get("status")) if ends else None

    @property
    def last_seq(self) -> int:
        return max((e["seq"] for e in self.events if isinstance(e.get("seq"), int)), default=0)


def _not_a_log(path: Path, why: str) -> RunLogError:
    return RunLogError(f"{path}: not a swrun run log ({why})")


def complete_length(raw: bytes) -> int:
    """How many leading bytes are whole tables (the rest is a torn last table)."""
    if raw.endswith((_END, _END_CRLF)):
        return len(raw)
    ends = [i + len(end) for end in (_END, _END_CRLF) if (i := raw.rfind(end)) >= 0]
    return max(ends, default=0)


def _first_end(raw: bytes) -> int:
    """Where the first table ends (just after its blank line), or -1."""
    ends = [i + len(end) for end in (_END, _END_CRLF) if (i := raw.find(end)) >= 0]
    return min(ends) if ends else -1


def _too_deep(value: Any) -> bool:
    """Nested deeper than _MAX_DEPTH, found without recursion."""
    todo = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if depth > _MAX_DEPTH:
            return True
        if isinstance(item, dict):
            todo.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            todo.extend((v, depth + 1) for v in item)
    return False


def parse_bytes(path: Path, raw: bytes) -> tuple[LogData, int]:
    """The log in `raw` and the length of its intact part."""
    if not raw:
        raise _not_a_log(path, "the file is empty")
    good = complete_length(raw)
    try:
        text = raw[:good].decode("utf-8")
        if not good and not raw.startswith(b"[run]"):
            raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_a_log(path, "not UTF-8 text") from None
    if not good and raw.startswith(b"[run]"):
        raise _not_a_log(path, "its [run] table was cut off while it was written")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _not_a_log(path, f"TOML error: {exc}") from None
    except RecursionError:
        raise _not_a_log(path, "values nested too deeply") from None
    if _too_deep(doc):
        raise _not_a_log(path, "values nested too deeply")
    run = doc.get("run")
    if not isinstance(run, dict):
        raise _not_a_log(path, "no [run] table")
    schema = run.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise _not_a_log(path, "[run] has no schema number")
    if schema > SCHEMA_VERSION:
        raise RunLogError(f"{path}: written by a newer swrun (log schema {schema}, this swrun "
                          f"reads up to {SCHEMA_VERSION})")
    events = doc.get("event", [])
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise _not_a_log(path, "`event` is not a list of [[event]] tables")
    misfit = _misfit(run, _RUN_KEYS)
    if misfit:
        raise _not_a_log(path, f"in [run], {misfit}")
    for number, event in enumerate(events, 1):
        misfit = _misfit(event, _EVENT_KEYS)
        if misfit:
            raise _not_a_log(path, f"in event {number}, {misfit}")
    warnings = []
    if good < len(raw):
        found = re.search(rb"\nseq = (\d+)\r?\n", raw[good:])
        which = f"event seq {int(found.group(1))}" if found else "last event"
        warnings.append(f"{path}: the {which} was cut off while it was written "
                        f"({len(raw) - good} bytes); it was dropped")
    return LogData(path, run, events, warnings), good


def read_log(path: str | Path) -> LogData:
    """Load a run log; a torn last event is dropped with a warning, anything else raises."""
    path = Path(path)
    try:
        raw = read_regular(path, MAX_LOG_BYTES)
    except FileNotFoundError:
        raise RunLogError(f"{path}: no such run log") from None
    except NotRegular as exc:
        raise RunLogError(str(exc)) from None
    except OSError as exc:
        raise RunLogError(f"{path}: cannot read the run log: {exc.strerror}") from None
    return parse_bytes(path, raw)[0]


def peek_header(path: Path) -> dict[str, Any] | None:
    """The `[run]` table alone, read without loading the events; None if it is not there."""
    try:
        with open_regular(path) as fh:
            head = b""
            while _first_end(head) < 0 and len(head) < _HEADER_PEEK_LIMIT:
                block = fh.read(65536)
                if not block:
                    break
                head += block
    except OSError:
        return None
    end = _first_end(head)
    if end < 0:
        return None
    try:
        run = tomllib.loads(head[:end].decode("utf-8")).get("run")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    return run if isinstance(run, dict) else None


def parse_at(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)
