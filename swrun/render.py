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
from swrun.ssh.fanout import STATUS, STATUS_MARK, compact
from swrun.words import plural

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
                 progress: TextIO | None = None, interleave: bool | None = None) -> None:
        self.out = out
        self.interleave = interleave if interleave is not None else \
            os.environ.get("SWRUN_INTERLEAVE", "") not in ("", "0")
        """Print every host's lines as they come (`--interleave`); by default a fan-out's
        output is grouped: each host's lines are printed together when that host is done."""
        self._blocks: dict[str, list[tuple[str, str]]] = {}
        """Host → its buffered (line, stream) of the open step, in first-seen order."""
        self._live: str | None = None
        """The one host whose lines print as they come (the first to speak); the others'
        are held until it is done, so a single-host step is never held back and each host's
        lines stay together."""
        self._done_hosts: set[str] = set()
        self.host_rows: dict[str, list[str]] = {}
        """Step id → its hosts by outcome (`web[001-080] not run`), under its summary row."""
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
            steps = plural(event.steps, "step")
            self._write(self._c("1", f"{event.title}") + f"  ({steps}{env}){mode}")
        elif isinstance(event, RunResumed):
            what = f"resuming run {event.run_id}: {event.done} step(s) already done"
            if event.changed_steps:
                what += f", {len(event.changed_steps)} changed since and will run again"
            self._done = event.done
            self._resumed_done = event.done
            self._write(self._c("1", what))
        elif isinstance(event, StepOutput):
            if self._open_step != event.step:
                self._flush_blocks()
                self._open_step = event.step
                self._write(f"{self._label(event.number)} ▸ {event.title}")
            if event.host and not self.interleave:
                self._grouped(event.host, event.line, event.stream)
                return
            self._line(event.host, event.line, event.stream)
        elif isinstance(event, StepFinished | CheckTicked | StepSkipped):
            self._finish(event)
        elif isinstance(event, NoteAdded):
            self._write(f"{INDENT}✎ {event.by}: {event.note}")
        elif isinstance(event, MilestoneMarked):
            self._write(f"⚑ {event.milestone} ({event.by})")
        elif isinstance(event, RollbackStarted):
            self._rollback = event.steps
            self._write(self._c("33;1", f"↺ rolling back ({plural(event.steps, 'step')}): "
                                f"{event.note or ''}".rstrip()))
        elif isinstance(event, RollbackFinished):
            self._write(self._c("33;1", f"↺ rollback {event.status}"))
        elif isinstance(event, RunFinished):
            self._summary(event)
            return
        self._bar()

    def _line(self, host: str | None, text: str, stream: str) -> None:
        prefix = f"{host}: " if host else ""
        line = f"{INDENT}{prefix}{text}"
        if stream == STATUS and text.startswith(STATUS_MARK + "ok"):
            line = self._c("32", line)
        elif stream == STATUS:
            line = self._c("31", line)
        elif stream == "stderr":
            line = self._c("2", line)
        self._write(line)

    def _grouped(self, host: str, text: str, stream: str) -> None:
        if self._live is None:
            self._live = host
            self._flush_block(host)
        if host != self._live:
            self._blocks.setdefault(host, []).append((text, stream))
            if stream == STATUS:
                self._done_hosts.add(host)
            return
        self._blocks.setdefault(host, []).append((text, stream))
        self._flush_block(host)
        if stream != STATUS:
            return
        # the live host is done: every host done meanwhile, then the next one still running
        self._live = None
        for other in [h for h in self._blocks if h in self._done_hosts]:
            self._flush_block(other)
        if self._blocks:
            self._live = next(iter(self._blocks))
            self._flush_block(self._live)

    def _flush_block(self, host: str) -> None:
        """One host's lines together; its status line only when it did not end ok (a fleet of
        quiet successes is summed up once, under the step)."""
        for text, stream in self._blocks.pop(host, []):
            if stream == STATUS and text.startswith(STATUS_MARK + "ok"):
                continue
            self._line(host, text, stream)

    def _flush_blocks(self) -> None:
        """At the step's end: what is still held (hosts that sent no status line), in order."""
        for host in [h for h in self._blocks if h in self._done_hosts] + list(self._blocks):
            self._flush_block(host)
        self._live = None
        self._done_hosts.clear()

    def _finish(self, event: StepFinished | CheckTicked | StepSkipped) -> None:
        self._flush_blocks()
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
        if isinstance(event, StepFinished) and len(event.hosts) > 1:
            rows = host_outcomes(event.hosts)
            self.host_rows[event.step] = rows
            for row in rows:
                self._write(f"{INDENT}{row}")
        else:
            self.host_rows.pop(event.step, None)
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
            for step, (num, status, dur, title) in self.rows.items():
                self._write(f"{num.rjust(w[0])}  {status.ljust(w[1])}  {dur.rjust(w[2])}  {title}")
                for row in self.host_rows.get(step, ()):
                    self._write(f"{' ' * (w[0] + w[1] + w[2] + 6)}{row}")
        if self._resumed_done:
            self._write(f"({self._resumed_done} step(s) done before this resume are counted "
                        "below, not listed)")
        counts = _counts(event.counts) or "no steps"
        never = self.total - sum(event.counts.values())
        if never > 0 and event.counts:  # a run that stopped early: the steps it never reached
            counts += f", {never} not run"
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


_OUTCOME_ORDER = ("ok", "failed", "timed_out", "unreachable", "aborted", "skipped")


def host_outcomes(hosts: dict[str, dict[str, object]]) -> list[str]:
    """A fan-out's hosts by outcome, one line each: `✓ 97 ok: web[001-097]`,
    `✗ 2 unreachable: db[3,7]`, `↷ 80 not run: web[101-180]`."""
    by: dict[str, list[str]] = {}
    for host, rec in hosts.items():
        by.setdefault(str(rec.get("status", "?")), []).append(host)
    out = []
    for status in sorted(by, key=lambda s: (_OUTCOME_ORDER.index(s) if s in _OUTCOME_ORDER
                                            else len(_OUTCOME_ORDER), s)):
        names = by[status]
        icon = "✓" if status == "ok" else "↷" if status == "skipped" else "✗"
        what = "not run" if status == "skipped" else status
        out.append(f"{icon} {len(names)} {what}: {compact(names)}")
    return out


def _counts(counts: dict[str, int]) -> str:
    """`2 ok, 1 ticked`: how many steps ended in each status, statuses in name order."""
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
