"""One poll of a watched run: new events and output lines in the order they belong, and
whether the run is still alive (shared by the console and the `--plain` feed)."""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swrun.files import NotRegular, safe_value
from swrun.runlog import peek_header as read_header
from swrun.watch.status import DIED, ENDED, ROTATED, RunState, liveness
from swrun.watch.tail import (
    LogRotated,
    LogTail,
    OutputChunk,
    OutputTail,
    lock_holder,
)

LIVENESS_EVERY = 0.25
"""Seconds between two looks at who holds the log (/proc/locks)."""
_TERMINAL = frozenset({"step_finished", "check_ticked", "step_skipped"})
_KEEP = frozenset({"step", "output_file"})
"""Kept as written: they match the runbook's step ids and name files."""


@dataclass
class Update:
    """What one poll found: `items` in order, each ("event", record) or ("output", chunk)."""

    items: list[tuple[str, Any]] = field(default_factory=list)
    liveness: str | None = None
    """Set when it changed: live, finishing, ended, died or rotated."""
    note: str = ""
    """Why, for rotated."""


class WatchSource:
    """A log and its sidecar, followed; `poll()` never blocks and never locks anything."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.tail = LogTail(path)
        self.outputs = OutputTail(path)
        self.state = RunState()
        self.liveness: str | None = None
        self.holder: int | None = None
        self.rotated = ""
        self._clock = clock
        self._looked = -LIVENESS_EVERY
        self.sidecars: dict[str, list[str]] = {}
        """Step id → its output files' names (for search)."""
        header = read_header(path)
        if header is not None:
            self.state = RunState.of(safe_value(header), [])

    @property
    def over(self) -> bool:
        """Nothing more will come: the run ended and its writer let go, or the log was
        replaced. (A run that died may yet be resumed: it is not over.)"""
        return self.liveness in (ENDED, ROTATED)

    def poll(self) -> Update:
        update = Update()
        if self.liveness == ROTATED:
            return update
        try:
            records = self.tail.poll()
        except LogRotated as exc:
            self.rotated = str(exc)
            self._set(update, ROTATED, str(exc))
            return update
        except FileNotFoundError:
            self.rotated = f"{self.path} does not exist"
            self._set(update, ROTATED, self.rotated)
            return update
        except OSError as exc:  # not a regular file (a FIFO, a device), or unreadable
            self.rotated = str(exc) if isinstance(exc, NotRegular) else \
                f"{self.path}: {exc.strerror}"
            self._set(update, ROTATED, self.rotated)
            return update
        self._take(records, update)
        now = self._clock()
        if records or now - self._looked >= LIVENESS_EVERY or self.liveness is None:
            self._looked = now
            self.holder = lock_holder(self.path)
            if self.holder is None and self.state.finished is None:
                # the writer may have logged its end and let go since the read: read again
                # before calling the run dead
                with contextlib.suppress(LogRotated, OSError):
                    self._take(self.tail.poll(), update)
            self._set(update, liveness(self.state, self.holder))
        return update

    def _take(self, records: list[dict[str, Any]], update: Update) -> None:
        if self.state.run == {} and self.tail.run is not None:
            self.state = RunState.of(safe_value(self.tail.run), [])
        for rec in records:
            if rec.get("type") == "step_started":
                self.outputs.started(rec)
                step = str(rec.get("step"))
                names = self.sidecars.setdefault(step, [])
                names += [n for n in self.outputs.names_of(step) if n not in names]
        chunks = self.outputs.poll()
        by_step: dict[str, list[OutputChunk]] = {}
        for chunk in chunks:
            by_step.setdefault(chunk.step, []).append(chunk)
        last_start = {str(r.get("step")): i for i, r in enumerate(records)
                      if r.get("type") == "step_started"}
        # shown on a terminal (the console and the feed): no escape sequences from the log
        records = [safe_value(rec, _KEEP) for rec in records]
        for i, rec in enumerate(records):
            step = rec.get("step")
            if rec.get("type") in _TERMINAL and isinstance(step, str) and step in by_step:
                if i > last_start.get(step, -1):
                    # the rest of what was read belongs to the latest attempt: before its end
                    update.items += [("output", c) for c in by_step.pop(step)]
                else:  # an earlier attempt, read in the same batch: the lines it wrote
                    by_step[step] = self._before(by_step[step], str(rec.get("at", "")), update)
            self.state.apply(rec)
            update.items.append(("event", rec))
        for left in by_step.values():
            update.items += [("output", c) for c in left]

    @staticmethod
    def _before(chunks: list[OutputChunk], at: str, update: Update) -> list[OutputChunk]:
        """Show the lines of `chunks` written by `at`; return the rest."""
        left = []
        for chunk in chunks:
            done, rest = chunk.split(at) if at else (None, chunk)
            if done is not None:
                update.items.append(("output", done))
            if rest is not None:
                left.append(rest)
        return left

    def _set(self, update: Update, value: str, note: str = "") -> None:
        if value != self.liveness:
            self.liveness = value
            update.liveness = value
            update.note = note

    def close(self) -> None:
        self.tail.close()

    def ended_text(self) -> str:
        """A line for the end states (empty while the run is live)."""
        s = self.state
        if self.liveness == ENDED and s.finished is not None:
            status = str(s.finished.get("status", "?")).replace("_", " ")
            at = s.finished.get("step")
            where = f" at {s.step_name(at)}" if isinstance(at, str) and at else ""
            return f"the run ended: {status}{where}"
        if self.liveness == DIED:
            resume = shlex.join(["swrun", "execute", s.runbook or "RUNBOOK", "--resume",
                                 str(self.path)])
            return (f"the run died: no swrun holds {self.path.name} and it has no end "
                    f"(last event {s.last_at[11:19] or '?'}); resume it with: {resume}")
        if self.liveness == ROTATED:
            return f"the log was rotated: {self.rotated}; nothing more will be shown"
        return ""

    def driver_text(self) -> str:
        """`alice@bastion (pid 4242)`: who drives the run now."""
        who = self.state.operator or "?"
        return f"{who} (pid {self.holder})" if self.holder else who
