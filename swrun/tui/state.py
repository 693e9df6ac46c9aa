"""What the console shows, built only from run-event records (live or from a resumed log)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from swrun.model import Runbook, Step

TAIL_LINES = 1000
"""Output lines kept per step for viewing; the sidecar file has all of them."""
PENDING, WAITING, RUNNING = "pending", "waiting", "running"
DONE = frozenset({"ok", "ticked", "skipped"})
FAILED = frozenset({"failed", "timed_out", "aborted"})


@dataclass
class StepState:
    """One step as the operator sees it."""

    status: str = PENDING
    started: float | None = None
    """Clock reading when the current attempt started (for the live elapsed time)."""
    duration_ms: int | None = None
    by: str | None = None
    note: str | None = None
    exit_code: int | None = None
    error: str | None = None
    attempt: int | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))


@dataclass
class Note:
    at: str
    by: str
    text: str


def activity_line(rec: Mapping[str, Any]) -> Note | None:
    """What an event record adds to the run's activity (notes, milestones, ticks, skips,
    failures, retries, rollbacks, who did what), or None for events that add nothing."""
    kind = rec.get("type")
    at, by = str(rec.get("at", "")), str(rec.get("by") or "")
    n = rec.get("number")
    what = f"{n}. {rec.get('title', rec.get('step'))}" if n is not None else \
        f"↺ {rec.get('title', rec.get('step'))}"
    note = f": {rec['note']}" if rec.get("note") else ""
    if kind == "note_added":
        return Note(at, by, f"✎ {rec.get('note', '')}")
    if kind == "milestone":
        return Note(at, by, f"⚑ {rec.get('milestone')}{note}")
    if kind == "check_ticked":
        return Note(at, by, f"☑ ticked {what}{note}")
    if kind == "step_skipped":
        return Note(at, by, f"↷ skipped {what}{note}")
    if kind == "step_finished" and rec.get("status") not in ("ok", "dry_run"):
        retry = " (will retry)" if rec.get("will_retry") else ""
        return Note(at, by, f"✗ {what} {rec.get('status')}{retry}")
    if kind == "rollback_started":
        return Note(at, by, f"↺ rollback started{note}")
    if kind == "rollback_finished":
        return Note(at, by, f"↺ rollback {rec.get('status')}")
    if kind == "run_resumed":
        return Note(at, str(rec.get("operator") or ""), "▶ run resumed")
    return None


def earlier_activity(records: Iterable[Mapping[str, Any]]) -> list[Note]:
    """The activity of a resumed log's earlier part(s), as the pane showed it live, with
    the run's start and end and the steps that ran ok (so the operator sees what was done)."""
    out: list[Note] = []
    for rec in records:
        kind, at = rec.get("type"), str(rec.get("at", ""))
        if kind == "run_started":
            out.append(Note(at, str(rec.get("operator") or ""), "▶ run started"))
        elif kind == "step_finished" and rec.get("status") == "ok":
            n = rec.get("number")
            what = f"{n}. " if n is not None else "↺ "
            out.append(Note(at, "", f"✓ {what}{rec.get('title', rec.get('step'))} ok"))
        elif kind == "run_finished":
            status = str(rec.get("status", "")).replace("_", " ")
            out.append(Note(at, "", f"■ run {status}"))
        elif (line := activity_line(rec)) is not None:
            out.append(line)
    return out


class RunView:
    """Per-step state, progress and notes of one run."""

    def __init__(self, runbook: Runbook, clock: Callable[[], float]) -> None:
        self.runbook = runbook
        self.clock = clock
        self.steps: dict[str, StepState] = {s.id: StepState() for s in runbook.actionable}
        self.current: str | None = None
        self.started: float | None = None
        self.finished: Mapping[str, Any] | None = None
        self.notes: list[Note] = []
        self.activity: list[Note] = []
        """Who did what, in order: see activity_line."""
        self.milestones: dict[str, str] = {}
        """Milestone name → when it was first marked (RFC 3339), automatic or by hand."""
        self.run_id: str | None = None
        self.rolling_back = False

    @property
    def main(self) -> tuple[Step, ...]:
        return self.runbook.main_steps

    @property
    def done(self) -> int:
        return sum(1 for s in self.main if self.steps[s.id].status in DONE)

    @property
    def total(self) -> int:
        return len(self.main)

    def elapsed(self, step_id: str) -> float | None:
        st = self.steps.get(step_id)
        if st is None or st.status != RUNNING or st.started is None:
            return None
        return max(0.0, self.clock() - st.started)

    def apply(self, rec: Mapping[str, Any]) -> str | None:
        """Apply one event record; returns the id of the step it changed, if any."""
        kind = rec.get("type")
        step_id = rec.get("step")
        line = activity_line(rec)
        if line is not None:
            self.activity.append(line)
        if kind in ("run_started", "run_resumed"):
            self.run_id = rec.get("run_id")
            if self.started is None:
                self.started = self.clock()
            return None
        if kind in ("note_added", "milestone"):
            text = rec.get("note", "") if kind == "note_added" else \
                f"⚑ {rec['milestone']}" + (f": {rec['note']}" if rec.get("note") else "")
            self.notes.append(Note(str(rec.get("at", "")), str(rec.get("by", "")), text))
            if kind == "milestone":
                self.milestones.setdefault(str(rec["milestone"]), str(rec.get("at", "")))
            return None
        if kind in ("rollback_started", "rollback_finished"):
            self.rolling_back = kind == "rollback_started"  # the header says it while it runs
            return None
        if kind == "run_finished":
            self.finished = rec
            self.current = None
            for st in self.steps.values():  # nothing counts on once the run is over
                st.started = None
            return None
        if step_id not in self.steps:
            return None
        st = self.steps[step_id]
        if kind == "operator_waiting":
            if rec.get("reason") != "failure":  # a failed step stays drawn as failed
                st.status = WAITING
            self.current = step_id
        elif kind == "step_started":
            st.status = RUNNING
            st.started = self.clock()
            st.attempt = rec.get("attempt")
            st.exit_code = st.error = None
            self.current = step_id
        elif kind == "step_finished":
            st.status = "failed" if rec.get("will_retry") else str(rec["status"])
            st.duration_ms = rec.get("duration_ms")
            st.exit_code = rec.get("exit_code")
            st.error = rec.get("error")
            st.started = None
            if not st.tail and rec.get("output"):
                st.tail.extend(rec["output"])
        elif kind in ("check_ticked", "step_skipped"):
            st.status = str(rec.get("status", "ticked" if kind == "check_ticked" else "skipped"))
            st.by = rec.get("by")
            st.note = rec.get("note")
            st.started = None
        return step_id

    def next_unfinished(self, after: Step | None = None) -> Step | None:
        seen = after is None
        for s in self.main:
            if not seen:
                seen = s.id == after.id  # type: ignore[union-attr]
                continue
            if self.steps[s.id].status not in DONE:
                return s
        return None

    def unfinished_between(self, start: str | None, target: Step) -> list[Step]:
        """Main steps from `start` (inclusive) up to `target` (exclusive) that are not done."""
        out: list[Step] = []
        inside = start is None
        for s in self.main:
            if s.id == target.id:
                return out
            inside = inside or s.id == start
            if inside and self.steps[s.id].status not in DONE:
                out.append(s)
        return []  # target is not ahead in the main pass
