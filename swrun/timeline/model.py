"""The timeline as pure data: runs, entries, milestones, Gantt bars and incident metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum


class EntryType(StrEnum):
    RUN_STARTED = "run_started"
    RUN_RESUMED = "run_resumed"
    STEP = "step"
    """A step attempt that ran (or started and has no end recorded: status `incomplete`)."""
    CHECK = "check"
    SKIP = "skip"
    NOTE = "note"
    MILESTONE = "milestone"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_FINISHED = "rollback_finished"
    RUN_FINISHED = "run_finished"


class MilestoneSource(StrEnum):
    MARK = "mark"
    """The operator marked it during the run (a `milestone` event)."""
    STEP = "step"
    """A step with `milestone=` finished ok."""
    SECTION = "section"
    """Every step of a section with `milestone=` was done."""
    FRONT_MATTER = "front_matter"
    """The step or section named in the front matter's `[milestones]` was done."""


INCIDENT_MILESTONES = ("started", "detected", "acknowledged", "mitigated", "resolved")
"""Milestones that feed the time-to-X metrics; any other name is shown but not measured."""

INCOMPLETE = "incomplete"
"""Status of a step that started but has no end in its log (crash, kill, torn event)."""
UNFINISHED = "unfinished"
"""Status of a run whose log has no run_finished after its last start or resume."""

FAILED_STATUSES = frozenset(
    {"failed", "timed_out", "aborted", "rolled_back", "rollback_failed", INCOMPLETE})
"""Entries and bars with these statuses are highlighted as failures."""


@dataclass(frozen=True)
class RunInfo:
    """One run log that went into the timeline."""

    index: int
    """Position in the merged timeline's run list (entries point here)."""
    log: str
    """The log path as given."""
    run_id: str
    runbook: str
    title: str
    environment: str | None
    operator: str
    """Who started the run."""
    operators: tuple[str, ...]
    """Who started or resumed it, in order of first appearance."""
    started_at: datetime
    ended_at: datetime
    """Time of the log's last event."""
    status: str
    """The last run_finished status, or `unfinished`."""
    resumes: int
    dry_run: bool
    duration_ms: int
    """Active time: the sum of each start/resume segment, crash gaps left out."""
    variables: dict[str, str]
    """As logged; secret ones masked."""
    warnings: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    """Main-pass steps by outcome over the whole run: each step once, its last outcome."""
    rollback_counts: dict[str, int] = field(default_factory=dict)
    """The same for rollback steps."""
    verdict: str = "verified"
    """What checking the log found: `verified`, or `swrun verify`'s status word (`tampered`,
    `untrusted`, `unsigned`, `unchained`…); without a full check only the chain and output
    files are checked. Anything but `verified` is shown, marked, never silently trusted."""

    @property
    def trusted(self) -> bool:
        return self.verdict == "verified"


@dataclass(frozen=True)
class HostResult:
    host: str
    status: str | None
    exit_code: int | None
    duration_ms: int | None


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: datetime
    type: EntryType
    run: int
    """Index into `Timeline.runs`."""
    seq: int
    """The event's seq in its log (entries derived from one event share it)."""
    who: str
    title: str
    """The step title, the milestone name, or the run title."""
    step: str | None = None
    number: int | None = None
    section: str | None = None
    kind: str | None = None
    host: str | None = None
    hosts: tuple[HostResult, ...] = ()
    status: str | None = None
    exit_code: int | None = None
    duration_ms: int | None = None
    started_at: datetime | None = None
    attempt: int | None = None
    will_retry: bool = False
    note: str | None = None
    error: str | None = None
    output_tail: tuple[str, ...] = ()
    milestone: str | None = None
    milestone_source: MilestoneSource | None = None
    detail: dict[str, str | int | bool] = field(default_factory=dict)
    """Type-specific extras (rollback step count, resume next step, run counts...)."""

    @property
    def failed(self) -> bool:
        """Highlighted: a failed, timed-out, aborted or incomplete step; a failed run."""
        return self.status in FAILED_STATUSES


@dataclass(frozen=True)
class Milestone:
    name: str
    at: datetime
    who: str
    source: MilestoneSource
    run: int
    step: str | None = None
    """The step whose end reached it (step and front-matter sources)."""
    note: str | None = None
    section: str | None = None
    """The section whose end reached it (section and front-matter sources)."""


@dataclass(frozen=True)
class Bar:
    """A step attempt on the Gantt chart."""

    section: str
    host: str
    """The step's host, its fan-out hosts joined, or `local`; a chart row is a section+host."""
    start: datetime
    end: datetime
    title: str
    step: str
    status: str
    run: int
    hosts: tuple[HostResult, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES


@dataclass(frozen=True)
class Metrics:
    """Incident times, from the earliest mark of each milestone (None when not reached, or
    when the logs are not one incident: then `reason` says why)."""

    start: datetime
    start_source: str
    """`milestone` (a `started` milestone) or `first_event`."""
    time_to_detect_ms: int | None
    """detected - start."""
    time_to_acknowledge_ms: int | None
    """acknowledged - detected."""
    time_to_mitigate_ms: int | None
    """mitigated - start."""
    time_to_resolve_ms: int | None
    """resolved - start."""
    reason: str | None = None
    """Why the figures are not computed (logs of separate runs, not named one incident)."""


@dataclass(frozen=True)
class Timeline:
    runs: tuple[RunInfo, ...]
    entries: tuple[Entry, ...]
    """Ordered by time, then run, then seq; only those within since/until."""
    milestones: tuple[Milestone, ...]
    bars: tuple[Bar, ...]
    metrics: Metrics
    start: datetime
    """Time of the first entry shown: offsets count from here."""
    end: datetime
    tz: tzinfo
    tz_name: str
    since: datetime | None = None
    until: datetime | None = None
    warnings: tuple[str, ...] = ()
    incident: bool = True
    """The logs are one incident (one run, or `--incident`): key times are computed."""

    def offset_ms(self, at: datetime) -> int:
        return round((at - self.start).total_seconds() * 1000)
