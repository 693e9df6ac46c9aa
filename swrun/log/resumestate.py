"""What a resumed run needs from its log: which steps are done, every step's last outcome,
the active time, the carried shell states and the milestones already marked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from swrun.events import DONE_STATUSES
from swrun.log.reader import parse_at

if TYPE_CHECKING:
    from swrun.log.reader import LogData


_TERMINAL = frozenset({"step_finished", "check_ticked", "step_skipped"})
_DONE = frozenset(s.value for s in DONE_STATUSES)


@dataclass(frozen=True)
class ResumeState:
    """What a resumed run needs from its log."""

    run_id: str
    sha256: str
    """The runbook's sha256 when the run started."""
    done: dict[str, str]
    """Step id → content hash, for steps whose last outcome was ok, ticked or skipped."""
    next_seq: int
    outcomes: dict[str, str] = field(default_factory=dict)
    """Step id → the last outcome of every main-pass step that finished, rollbacks or not."""
    rollback_outcomes: dict[str, str] = field(default_factory=dict)
    """The same for the rollback steps."""
    active_ms: int = 0
    """The parts' active time: each start or resume to its run_finished, or to the part's
    last event when it has none (it crashed); the gaps between parts are left out."""
    started_at: datetime | None = None
    """The first run_started's time (else `[run].started_at`)."""
    shell_states: tuple[dict[str, Any], ...] = ()
    """Each ok step's logged `shell_state`, in order (what later local shell steps start from)."""
    milestones: frozenset[str] = frozenset()
    """The milestones already marked (a mark is once per run: a later one logs nothing)."""


def active_ms(events: list[dict[str, Any]]) -> int:
    """Active time of a log's parts, from the event times: each `run_started`/`run_resumed`
    to its `run_finished`, or to the last event before the next part (or the end) when the
    part has none; the time between parts is left out."""
    total = 0
    begun: datetime | None = None
    last: datetime | None = None
    for event in events:
        at = parse_at(event.get("at"))
        if at is None:
            continue
        kind = event.get("type")
        if kind in ("run_started", "run_resumed"):
            if begun is not None and last is not None:
                total += max(0, round((last - begun).total_seconds() * 1000))
            begun = at
        elif kind == "run_finished" and begun is not None:
            total += max(0, round((at - begun).total_seconds() * 1000))
            begun = None
        last = at
    if begun is not None and last is not None:
        total += max(0, round((last - begun).total_seconds() * 1000))
    return total


def resume_state(log: LogData) -> ResumeState:
    """Which steps are done, judged by each step's last terminal event. A rollback undoes
    what ran before it, so nothing before a `rollback_started` counts as done, and the
    rollback's own steps never do (a later failure rolls back afresh). Every step's last
    outcome, the active time and the first start carry the whole run's summary on."""
    done: dict[str, str] = {}
    outcomes: dict[str, str] = {}
    rollback_outcomes: dict[str, str] = {}
    rolling_back = False
    for event in log.events:
        step = event.get("step")
        kind = event.get("type")
        if kind == "rollback_started":
            done.clear()
            rolling_back = True
            continue
        if kind == "run_resumed":
            rolling_back = False
        if kind not in _TERMINAL or not isinstance(step, str):
            continue
        if event.get("will_retry") is True:
            continue
        status = str(event.get("status") or ("ticked" if kind == "check_ticked" else
                                             "skipped" if kind == "step_skipped" else "?"))
        if rolling_back:
            rollback_outcomes[step] = status
            continue
        outcomes[step] = status
        if status in _DONE:
            done[step] = str(event.get("hash", ""))
        else:
            done.pop(step, None)
    first = next((e for e in log.events if e.get("type") == "run_started"), {})
    shell_states = tuple(
        e["data"]["shell_state"] for e in log.events
        if e.get("type") == "step_finished" and e.get("status") == "ok"
        and isinstance(e.get("data"), dict) and isinstance(e["data"].get("shell_state"), dict))
    return ResumeState(
        run_id=str(log.run.get("id", "")),
        sha256=str(log.run.get("sha256", "")),
        done=done,
        next_seq=log.last_seq + 1,
        outcomes=outcomes,
        rollback_outcomes=rollback_outcomes,
        active_ms=active_ms(log.events),
        started_at=parse_at(first.get("at")) or parse_at(log.run.get("started_at")),
        shell_states=shell_states,
        milestones=frozenset(str(e.get("milestone")) for e in log.events
                             if e.get("type") == "milestone"),
    )
