"""Headless output: one line per step with its output indented beneath, or JSON lines."""

from __future__ import annotations

import json
import os
from typing import TextIO

from swrun.durations import format_duration
from swrun.events import (
    CheckTicked,
    Event,
    MilestoneMarked,
    NoteAdded,
    RollbackFinished,
    RollbackStarted,
    RunFinished,
    RunResumed,
    RunStarted,
    StepFinished,
    StepOutput,
    StepSkipped,
    StepStatus,
)

ICONS = {
    StepStatus.OK: "✓", StepStatus.FAILED: "✗", StepStatus.TIMED_OUT: "⏱",
    StepStatus.SKIPPED: "↷", StepStatus.TICKED: "☑", StepStatus.ABORTED: "■",
    StepStatus.DRY_RUN: "·",
}
_COLOURS = {
    StepStatus.OK: "32", StepStatus.TICKED: "32", StepStatus.FAILED: "31",
    StepStatus.TIMED_OUT: "31", StepStatus.ABORTED: "31", StepStatus.SKIPPED: "33",
    StepStatus.DRY_RUN: "36",
}
INDENT = "    "


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


class JsonRenderer:
    """`--json`: every event as one JSON object per line on stdout."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: Event) -> None:
        self.out.write(json.dumps(event.to_record(), ensure_ascii=False) + "\n")
        self.out.flush()


class HumanRenderer:
    """`[3/16] ✓ Build application  1.2s`, output indented beneath, a summary at the end."""

    def __init__(self, out: TextIO, total: int, *, colour: bool = False,
                 progress: TextIO | None = None) -> None:
        self.out = out
        self.total = total
        self._rollback = 0
        """Steps in the rollback pass, once it starts (their numbers follow the main steps')."""
        self.colour = colour
        self.progress = progress
        self.rows: dict[str, tuple[str, str, str, str]] = {}
        """Step id → its row in the summary: one per step, its last outcome (a retry after a
        failure replaces the failed row)."""
        self._open_step: str | None = None
        self._bar_shown = False
        self._done = 0
        self._finished: set[str] = set()
        self._resumed_done: int | None = None
        """Steps done before this part, when it is a resume."""
        self.dry_run = False

    def _c(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def _write(self, text: str) -> None:
        if self._bar_shown and self.progress is not None:
            self.progress.write("\r\x1b[K")
            self._bar_shown = False
        self.out.write(text + "\n")

    def _bar(self) -> None:
        if self.progress is None or not self.total:
            return
        width = 30
        filled = int(width * min(self._done, self.total) / self.total)
        bar = "━" * filled + "╺" + " " * (width - filled)
        self.out.flush()
        self.progress.write(f"\r\x1b[K{self._c('35', bar[:width])} {self._done}/{self.total}")
        self.progress.flush()
        self._bar_shown = True

    def _label(self, number: int | None) -> str:
        if number is None:
            return "[-]"
        if self._rollback and number > self.total:  # rollback steps count on their own
            return f"[↺ {number - self.total}/{self._rollback}]"
        return f"[{number}/{self.total}]"

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.dry_run = bool(event.dry_run)
            env = f", environment {event.environment}" if event.environment else ""
            mode = " — DRY RUN, nothing will be executed" if self.dry_run else ""
            self._write(self._c("1", f"{event.title}") + f"  ({event.steps} steps{env}){mode}")
        elif isinstance(event, RunResumed):
            what = f"resuming run {event.run_id}: {event.done} step(s) already done"
            if event.changed_steps:
                what += f", {len(event.changed_steps)} changed since and will run again"
            self._done = event.done
            self._resumed_done = event.done
            self._write(self._c("1", what))
        elif isinstance(event, StepOutput):
            if self._open_step != event.step:
                self._open_step = event.step
                self._write(f"{self._label(event.number)} ▸ {event.title}")
            prefix = f"{event.host}: " if event.host else ""
            line = f"{INDENT}{prefix}{event.line}"
            self._write(self._c("2", line) if event.stream == "stderr" and self.colour else line)
        elif isinstance(event, StepFinished | CheckTicked | StepSkipped):
            self._finish(event)
        elif isinstance(event, NoteAdded):
            self._write(f"{INDENT}✎ {event.by}: {event.note}")
        elif isinstance(event, MilestoneMarked):
            self._write(f"⚑ {event.milestone} ({event.by})")
        elif isinstance(event, RollbackStarted):
            self._rollback = event.steps
            self._write(self._c("33;1", f"↺ rolling back ({event.steps} steps): "
                                f"{event.note or ''}".rstrip()))
        elif isinstance(event, RollbackFinished):
            self._write(self._c("33;1", f"↺ rollback {event.status}"))
        elif isinstance(event, RunFinished):
            self._summary(event)
            return
        self._bar()

    def _finish(self, event: StepFinished | CheckTicked | StepSkipped) -> None:
        status = event.status
        if isinstance(event, StepFinished) and event.will_retry:
            self._write(f"{self._label(event.number)} {self._c('33', '↻')} {event.title}  "
                        f"attempt {event.attempt} {status.value}"
                        + (f" (exit {event.exit_code})" if event.exit_code is not None else ""))
            self._open_step = None
            return
        self._open_step = None
        if event.step not in self._finished:
            self._finished.add(event.step)
            self._done += 1
        icon = self._c(_COLOURS[status], ICONS[status])
        parts = [f"{self._label(event.number)} {icon} {event.title}"]
        duration = ""
        if isinstance(event, StepFinished):
            if event.duration_ms is not None:
                duration = format_duration(event.duration_ms / 1000)
                parts.append(duration)
            if status in (StepStatus.FAILED, StepStatus.TIMED_OUT) and event.exit_code is not None:
                parts.append(f"exit {event.exit_code}")
            if event.error:
                parts.append(event.error)
        else:
            who = "ticked" if isinstance(event, CheckTicked) else "skipped"
            parts.append(f"{who} by {event.by}" + (f": {event.note}" if event.note else ""))
        self._write("  ".join(parts))
        if isinstance(event, StepFinished) and event.command:
            for line in event.command.rstrip("\n").split("\n"):
                self._write(f"{INDENT}{self._c('36', '$')} {line}")
        self.rows[event.step] = (str(event.number or "-"), status.value, duration, event.title)

    def _summary(self, event: RunFinished) -> None:
        rows = list(self.rows.values())
        if rows:
            self._write("")
            w = [max(len(r[i]) for r in [("#", "status", "time", ""), *rows])
                 for i in range(3)]
            self._write(f"{'#'.rjust(w[0])}  {'status'.ljust(w[1])}  {'time'.rjust(w[2])}  step")
            for num, status, dur, title in rows:
                self._write(f"{num.rjust(w[0])}  {status.ljust(w[1])}  {dur.rjust(w[2])}  {title}")
        if self._resumed_done:
            self._write(f"({self._resumed_done} step(s) done before this resume are counted "
                        "below, not listed)")
        counts = _counts(event.counts) or "no steps"
        if event.rollback_counts:
            counts += f"; rollback: {_counts(event.rollback_counts)}"
        active = event.active_ms if event.active_ms is not None else event.duration_ms
        took = format_duration((active or 0) / 1000)
        if self._resumed_done is not None and event.wall_ms is not None:
            took += f" ({format_duration(event.wall_ms / 1000)} since it first started)"
        colour = "32;1" if event.status.value == "completed" else "31;1"
        line = f"run {event.status.value} in {took}: {counts}"
        if event.note:
            line += f" — {event.note}"
        self._write("")
        self._write(self._c(colour, line))
        self.out.flush()


def _counts(counts: dict[str, int]) -> str:
    """`2 ok, 1 ticked`: how many steps ended in each status, statuses in name order."""
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
