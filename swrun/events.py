"""Typed run events: what the engine yields, the log records and both front ends render.

Every event carries `seq` (1, 2, 3... within a log, continuing across resumes) and `at`
(a timezone-aware UTC datetime). `to_record()` gives the flat dict written to the run log
and printed by `--json`; None-valued fields are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar


class StepStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    TICKED = "ticked"
    ABORTED = "aborted"
    DRY_RUN = "dry_run"


DONE_STATUSES = frozenset({StepStatus.OK, StepStatus.SKIPPED, StepStatus.TICKED})
"""A step that ended like this is not run again on --resume."""
FAILED_STATUSES = frozenset({StepStatus.FAILED, StepStatus.TIMED_OUT})


class RunStatus(StrEnum):
    COMPLETED = "completed"
    """Every selected step ended ok/ticked/skipped (or dry_run)."""
    FAILED = "failed"
    ABORTED = "aborted"
    OPERATOR_NEEDED = "operator_needed"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(at: datetime) -> str:
    """RFC 3339 UTC with milliseconds: 2026-11-22T06:35:47.123Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@dataclass(frozen=True, kw_only=True)
class Event:
    type: ClassVar[str] = "event"
    seq: int = 0
    at: datetime = field(default_factory=utcnow)

    def to_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seq": self.seq, "at": format_time(self.at), "type": self.type}
        for f in fields(self):
            if f.name in ("seq", "at"):
                continue
            value = getattr(self, f.name)
            if value is None or value == () or value == {}:
                continue
            if isinstance(value, StrEnum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@dataclass(frozen=True, kw_only=True)
class StepEvent(Event):
    """Fields shared by events about one step."""

    step: str
    number: int | None = None
    title: str | None = None
    kind: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    type: ClassVar[str] = "run_started"
    run_id: str
    title: str
    runbook: str
    operator: str
    environment: str | None = None
    steps: int = 0
    dry_run: bool | None = None
    kube_context: str | None = None
    """The Kubernetes context the run's kubectl/oc steps use (swrun.kube), when it has any."""


@dataclass(frozen=True, kw_only=True)
class RunResumed(Event):
    type: ClassVar[str] = "run_resumed"
    run_id: str
    operator: str
    done: int = 0
    """Steps already finished before this resume."""
    next_step: str | None = None
    changed_steps: tuple[str, ...] = ()
    """Steps finished before whose content has changed since; they run again."""
    runbook_changed: bool | None = None
    runbook_sha256: str | None = None
    """The runbook's SHA-256 as this part runs it (`[run].sha256` is the first part's)."""
    operator_key: str | None = None
    """The fingerprint of the key this part of the run is signed with (verify checks it)."""
    kube_context: str | None = None
    """The Kubernetes context this part's kubectl/oc steps use (the run's first one)."""


@dataclass(frozen=True, kw_only=True)
class StepStarted(StepEvent):
    type: ClassVar[str] = "step_started"
    attempt: int | None = None
    host: str | None = None
    hosts: tuple[str, ...] = ()
    hash: str | None = None
    """The step's content hash as it starts (what a resume logs if it finished unseen)."""
    pid: int | None = None
    """A local process group's leader (its pid is the group id): what finds the step's
    processes again after swrun died, with `pid_start` and `boot_id` against pid reuse."""
    pgid: int | None = None
    pid_start: int | None = None
    """The leader's start time, clock ticks after boot (/proc/<pid>/stat field 22)."""
    boot_id: str | None = None
    exit_file: str | None = None
    """Where the leader writes the command's exit status (relative to the log's folder)."""


@dataclass(frozen=True, kw_only=True)
class StepProcesses(StepEvent):
    """A remote host's process group of a running step, logged as soon as the host names it:
    what a resume after swrun died checks (and stops) on that host."""

    type: ClassVar[str] = "step_processes"
    attempt: int | None = None
    host: str
    pgid: int
    start: int | None = None
    """The leader's start time on the host, clock ticks after its boot (/proc stat field 22)."""
    boot_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class StepOutput(StepEvent):
    """One line of output. Goes to the step's sidecar file, not to the log's event list."""

    type: ClassVar[str] = "step_output"
    line: str
    stream: str = "stdout"
    host: str | None = None
    attempt: int | None = None
    """Set only on the lines a resume logs for the step the dead run left running: the
    attempt they belong to (otherwise the attempt that started last)."""


@dataclass(frozen=True, kw_only=True)
class StepFinished(StepEvent):
    type: ClassVar[str] = "step_finished"
    status: StepStatus
    exit_code: int | None = None
    duration_ms: int | None = None
    attempt: int | None = None
    will_retry: bool | None = None
    host: str | None = None
    by: str | None = None
    note: str | None = None
    error: str | None = None
    hash: str | None = None
    command: str | None = None
    """Dry runs only: the block with variables shown resolved (secrets masked)."""
    output: tuple[str, ...] = ()
    """The last lines of output (at most 100)."""
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-host results of a fan-out: status, exit_code, duration_ms."""
    data: dict[str, Any] = field(default_factory=dict)
    """Typed results of data/cloud steps."""
    leftover: str | None = None
    """Logged by a resume for the step the run that died left running: `finished` (it
    ended on its own), `waited` (the resume waited for it), `stopped` (the resume stopped
    it) or `gone` (it ended with no exit status recorded)."""


@dataclass(frozen=True, kw_only=True)
class CheckTicked(StepEvent):
    type: ClassVar[str] = "check_ticked"
    status: StepStatus = StepStatus.TICKED
    by: str
    note: str | None = None
    hash: str | None = None


@dataclass(frozen=True, kw_only=True)
class StepSkipped(StepEvent):
    type: ClassVar[str] = "step_skipped"
    status: StepStatus = StepStatus.SKIPPED
    by: str
    note: str | None = None
    hash: str | None = None


@dataclass(frozen=True, kw_only=True)
class NoteAdded(Event):
    type: ClassVar[str] = "note_added"
    note: str
    by: str
    step: str | None = None


@dataclass(frozen=True, kw_only=True)
class MilestoneMarked(Event):
    type: ClassVar[str] = "milestone"
    milestone: str
    by: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class OperatorWaiting(StepEvent):
    """The engine is waiting for a person (a check, a confirm gate, a failure decision)."""

    type: ClassVar[str] = "operator_waiting"
    reason: str


@dataclass(frozen=True, kw_only=True)
class ApprovalNeeded(StepEvent):
    """A step waits for people other than the operator to approve it (four-eyes): what they
    approve is bound to the run, the step's content hash and its resolved command."""

    type: ClassVar[str] = "approval_needed"
    approvals: int
    """How many approvals the step needs."""
    count: int = 0
    """How many valid ones it has so far."""
    hash: str | None = None
    command: str | None = None
    """Where it runs and what, variables filled in, secrets masked: what an approver sees."""
    command_sha256: str | None = None
    waiting_for: tuple[str, ...] = ()
    """Who may still approve (allowed_signers or the front matter's approvers, minus the
    operator and those who already did)."""
    operator_key: str | None = None
    """The fingerprint of the operator's signing key (an approval with it is refused)."""
    allowed_signers: str | None = None
    """The allowed_signers file approvals are checked against."""
    valid_for: int | None = None
    """The longest an approval may be valid for, in seconds."""
    secrets: dict[str, str] | None = None
    """Secret variables the step uses → HMAC-SHA256 of the value under a per-run key: the
    approver saw `****`, so the approval is bound to the values by these keyed hashes (part
    of `command_sha256`), never by the values or plain hashes of them."""


@dataclass(frozen=True, kw_only=True)
class ApprovalGiven(StepEvent):
    """One valid approval of a step, checked against allowed_signers."""

    type: ClassVar[str] = "approval"
    by: str
    """The signer's principal in allowed_signers."""
    key: str
    """The signing key's fingerprint."""
    approvals: int
    count: int
    approved_at: str | None = None
    expires_at: str | None = None
    file: str | None = None
    """The signed approval file, kept under `<log>.approvals/` (relative to the log's folder)."""
    file_sha256: str | None = None
    """The SHA-256 of that file as the run accepted it (verify checks the file against it)."""
    waiting_for: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ApprovalRefused(StepEvent):
    """An approval file that does not count, and why (self-approval, duplicate, expired,
    for another run or a changed step, not signed by a listed key)."""

    type: ClassVar[str] = "approval_refused"
    error: str
    by: str | None = None
    key: str | None = None
    file: str | None = None


@dataclass(frozen=True, kw_only=True)
class RollbackStarted(Event):
    type: ClassVar[str] = "rollback_started"
    by: str
    step: str | None = None
    """The failed step that led to the rollback."""
    note: str | None = None
    steps: int = 0


@dataclass(frozen=True, kw_only=True)
class RollbackFinished(Event):
    type: ClassVar[str] = "rollback_finished"
    status: str
    duration_ms: int | None = None


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    type: ClassVar[str] = "run_finished"
    status: RunStatus
    step: str | None = None
    """Where the run stopped, when it did not complete."""
    note: str | None = None
    duration_ms: int | None = None
    """This part of the run: since its start or resume."""
    active_ms: int | None = None
    """The whole run's active time: every part's, across resumes (crash gaps left out)."""
    wall_ms: int | None = None
    """From the run's first start to this end, gaps included."""
    counts: dict[str, int] = field(default_factory=dict)
    """Main-pass steps of the whole run by outcome: each step once, with its last outcome."""
    rollback_counts: dict[str, int] = field(default_factory=dict)
    """The same for rollback steps (left out when no rollback step ran)."""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (RunStarted, RunResumed, StepStarted, StepProcesses, StepOutput, StepFinished,
                CheckTicked, StepSkipped, NoteAdded, MilestoneMarked, OperatorWaiting,
                ApprovalNeeded, ApprovalGiven, ApprovalRefused, RollbackStarted, RollbackFinished,
                RunFinished)
}
