"""Where a run is, from its event records: who drives it, the step it is at, what it waits
for, and whether it is still alive (shared by `swrun watch` and `swrun ps`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LIVE, FINISHING, ENDED, DIED, ROTATED = "live", "finishing", "ended", "died", "rotated"

_REASONS = {
    "check": "a tick", "tick": "a tick", "confirm": "a go-ahead", "destructive": "a go-ahead",
    "canary": "a go-ahead after the canary hosts",
}


def _step_name(rec: Mapping[str, Any]) -> str:
    n = rec.get("number")
    title = rec.get("title") or rec.get("step") or "?"
    return f"step {n} '{title}'" if isinstance(n, int) else f"'{title}'"


@dataclass
class RunState:
    """Folded from a log's `[run]` header and its event records, in order."""

    run: dict[str, Any] = field(default_factory=dict)
    operator: str = ""
    """Who drives the run now: the last run_started or run_resumed's operator."""
    run_id: str = ""
    current: dict[str, Any] | None = None
    """The step record the run is at: a step_started with no end yet, or operator_waiting."""
    waiting: dict[str, Any] | None = None
    """The last operator_waiting or approval_needed not yet answered."""
    finished: dict[str, Any] | None = None
    """The last run_finished, while no run_resumed followed it."""
    last_at: str = ""
    events: int = 0
    resumes: int = 0
    names: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Step id → its number and title, from the records that carried them."""

    @classmethod
    def of(cls, run: Mapping[str, Any] | None, records: Iterable[Mapping[str, Any]]
           ) -> RunState:
        state = cls(run=dict(run or {}))
        state.operator = str(state.run.get("operator") or "")
        state.run_id = str(state.run.get("id") or "")
        for rec in records:
            state.apply(rec)
        return state

    def apply(self, rec: Mapping[str, Any]) -> None:
        kind = rec.get("type")
        self.events += 1
        self.last_at = str(rec.get("at") or self.last_at)
        step = rec.get("step")
        if isinstance(step, str) and kind != "run_finished" and (
                "number" in rec or "title" in rec):
            self.names[step] = {"step": step, "number": rec.get("number"),
                                "title": rec.get("title")}
        if kind in ("run_started", "run_resumed"):
            self.operator = str(rec.get("operator") or self.operator)
            self.run_id = str(rec.get("run_id") or self.run_id)
            self.finished = None
            self.resumes += kind == "run_resumed"
            self.current = self.waiting = None
        elif kind == "run_finished":
            self.finished = dict(rec)
            self.current = self.waiting = None
        elif kind == "step_started":
            self.current = dict(rec)
            self.waiting = None
        elif kind in ("operator_waiting", "approval_needed"):
            self.current = dict(rec)
            self.waiting = dict(rec)
        elif kind == "approval" and self.waiting is not None:
            self.waiting = {**self.waiting, "count": rec.get("count"),
                            "waiting_for": rec.get("waiting_for")}
        elif kind == "rollback_started":
            self.waiting = None
        elif kind in ("step_finished", "check_ticked", "step_skipped"):
            if self.current is not None and self.current.get("step") == rec.get("step"):
                self.current = None
            if self.waiting is not None and self.waiting.get("step") == rec.get("step"):
                self.waiting = None

    @property
    def started_at(self) -> str:
        return str(self.run.get("started_at") or "")

    @property
    def runbook(self) -> str:
        return str(self.run.get("runbook") or "")

    def step_name(self, step: str) -> str:
        """`step 3 'Migrate'` for a step id (the id itself only if no record named it)."""
        return _step_name(self.names.get(step, {"step": step}))

    def step_text(self) -> str:
        """`step 3 'Migrate'`, or empty when the run is between steps."""
        return _step_name(self.current) if self.current is not None else ""

    def waiting_text(self) -> str:
        """What the run waits for, in words (empty when it waits for nothing)."""
        w = self.waiting
        if w is None:
            if self.current is not None and self.current.get("type") == "step_started":
                if self.current.get("kind") == "wait":
                    return f"the wait of {_step_name(self.current)}"
                return f"{_step_name(self.current)} to finish"
            return ""
        if w.get("type") == "approval_needed":
            needed = int(w.get("approvals") or 0)
            have = int(w.get("count") or 0)
            who = ", ".join(str(x) for x in w.get("waiting_for") or ())
            return (f"{needed - have} approval(s) of {_step_name(w)}"
                    + (f" from {who}" if who else ""))
        who = self.operator or "the operator"
        if w.get("reason") == "failure":  # `waiting for alice: failure of step 11 'Deploy'`
            return f"{who}: failure of {_step_name(w)}"
        what = _REASONS.get(str(w.get("reason")), f"an answer ({w.get('reason')})")
        return f"{who}: {what} at {_step_name(w)}"


def liveness(state: RunState, holder: int | None, rotated: str | None = None) -> str:
    """live, finishing (ended, the writer still closing), ended, died or rotated."""
    if rotated:
        return ROTATED
    if holder is not None:
        return FINISHING if state.finished is not None else LIVE
    return ENDED if state.finished is not None else DIED
