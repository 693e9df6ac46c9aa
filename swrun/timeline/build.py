"""Run logs to one merged Timeline: entries, Gantt bars, milestones and incident metrics."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from swrun.runlog import LogData, read_log
from swrun.secrets import MASK, Masker
from swrun.timeline.annotations import Annotations, load_annotations
from swrun.timeline.model import (
    INCOMPLETE,
    UNFINISHED,
    Bar,
    Entry,
    EntryType,
    HostResult,
    Metrics,
    Milestone,
    MilestoneSource,
    RunInfo,
    Timeline,
)
from swrun.variables import looks_secret

_DONE = frozenset({"ok", "ticked", "skipped"})
_REACHED = frozenset({"ok", "ticked"})
_MIN_SECRET = 4
"""Shorter leaked values are masked in the variables table only, not across all text."""
_TAIL = 5
"""Output lines kept with a failed step."""


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 `at` from a log as an aware datetime; None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def leaked_secrets(logs: Iterable[LogData], secret_names: Iterable[str] = ()) -> list[str]:
    """Values of secret-looking variables that reached a log unmasked."""
    names = set(secret_names)
    found = []
    for data in logs:
        variables = data.run.get("variables")
        if not isinstance(variables, dict):
            continue
        for name, value in variables.items():
            if (looks_secret(name) or name in names) and isinstance(value, str) and value != MASK:
                found.append(value)
    return found


@dataclass
class _Walk:
    """Everything gathered from one log."""

    index: int
    data: LogData
    ann: Annotations
    mask: Masker
    entries: list[tuple[Entry, int]] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    verdict: str = "verified"
    """What checking the log found (`_untrusted`)."""
    operator: str = ""
    operators: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)
    open: dict[tuple[str, int], tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    last_status: dict[str, str] = field(default_factory=dict)
    reached: set[tuple[str, str]] = field(default_factory=set)
    engine_marks: bool = False
    """The log's swrun wrote milestone events for `milestone=` itself: do not derive them."""
    last_step: str | None = None
    segment: datetime | None = None
    active_ms: int = 0
    last_at: datetime | None = None
    outcomes: dict[str, str] = field(default_factory=dict)
    """Step id → its last outcome (main pass), over the whole run."""
    rollback_outcomes: dict[str, str] = field(default_factory=dict)
    rolling_back: bool = False

    def m(self, text: str | None) -> str | None:
        return self.mask.mask(text) if text else text

    def add(self, entry: Entry, order: int = 0) -> None:
        self.entries.append((entry, order))

    def who(self, event: dict[str, Any]) -> str:
        return self.m(_str(event.get("by"))) or self.operator

    def section(self, step: str) -> str:
        if step in self.ann.sections:
            return self.ann.sections[step]
        return step.rsplit("/", 1)[0] if "/" in step else "(top)"

    def milestone(self, name: str, at: datetime, who: str, source: MilestoneSource,
                  seq: int, step: str | None = None, note: str | None = None,
                  section: str | None = None) -> None:
        key = (name, f"{source}:{step or section or ''}")
        if source is not MilestoneSource.MARK:
            if key in self.reached:
                return
            self.reached.add(key)
        self.milestones.append(Milestone(name, at, who, source, self.index, step, note, section))
        self.add(Entry(at=at, type=EntryType.MILESTONE, run=self.index, seq=seq, who=who,
                       title=name, step=step, section=section, note=note, milestone=name,
                       milestone_source=source), order=1)

    def close_open(self, end: datetime) -> None:
        """Steps that started and never ended before `end` (a crash, a kill, a torn event)."""
        for (step, _attempt), (start, ev) in self.open.items():
            host = _str(ev.get("host"))
            hosts = tuple(HostResult(h, None, None, None) for h in ev.get("hosts") or ()
                          if isinstance(h, str))
            title = self.m(_str(ev.get("title"))) or step
            self.add(Entry(
                at=start, type=EntryType.STEP, run=self.index, seq=_int(ev.get("seq")) or 0,
                who=self.operator, title=title, step=step, number=_int(ev.get("number")),
                section=self.section(step), kind=_str(ev.get("kind")), host=host, hosts=hosts,
                status=INCOMPLETE, started_at=start, attempt=_int(ev.get("attempt")),
                note="no end recorded: the run stopped or its log was cut off here"))
            self.bars.append(Bar(self.section(step), _host_label(host, hosts), start,
                                 max(end, start), title, step, INCOMPLETE, self.index, hosts))
        self.open.clear()

    def end_segment(self, at: datetime) -> None:
        if self.segment is not None:
            self.active_ms += max(0, round((at - self.segment).total_seconds() * 1000))
            self.segment = None

    def terminal(self, step: str, status: str, at: datetime, who: str, seq: int) -> None:
        """A step reached an outcome: annotation milestones it completes are reached."""
        (self.rollback_outcomes if self.rolling_back else self.outcomes)[step] = status
        self.last_status[step] = status
        self.last_step = step
        if status in _REACHED:
            for name, source in self.ann.step_milestones.get(step, ()):
                if not self.engine_marks or source is MilestoneSource.FRONT_MATTER:
                    self.milestone(name, at, who, source, seq, step=step)
        for sm in self.ann.section_milestones:
            if step not in sm.steps or (self.engine_marks
                                        and sm.source is not MilestoneSource.FRONT_MATTER):
                continue
            statuses = [self.last_status.get(s) for s in sm.steps]
            if all(s in _DONE for s in statuses) and any(s in _REACHED for s in statuses):
                self.milestone(sm.name, at, who, sm.source, seq, section=sm.section)


def _counted(outcomes: dict[str, str]) -> dict[str, int]:
    """How many steps ended in each status, statuses in name order."""
    return dict(sorted(Counter(outcomes.values()).items()))


def _host_label(host: str | None, hosts: Sequence[HostResult]) -> str:
    if host:
        return host
    if hosts:
        return ", ".join(h.host for h in hosts)
    return "local"


def _hosts(value: Any) -> tuple[HostResult, ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(
        HostResult(str(name), _str(r.get("status")), _int(r.get("exit_code")),
                   _int(r.get("duration_ms")))
        for name, r in value.items() if isinstance(r, dict))


ENGINE_MARK = re.compile(r"reached at step \d+: ")
"""The note of a milestone event the engine writes for `milestone=` (swrun after 5f09000)."""


def _walk(w: _Walk) -> None:
    run = w.data.run
    w.engine_marks = any(e.get("type") == "milestone" and ENGINE_MARK.match(str(e.get("note", "")))
                         for e in w.data.events)
    w.operator = w.m(_str(run.get("operator"))) or "?"
    for ev in w.data.events:
        at = parse_time(ev.get("at"))
        if at is None:
            w.warnings.append(f"{w.data.path}: event seq {ev.get('seq')} has no valid time; "
                              "it was left out")
            continue
        prev_at, w.last_at = w.last_at or at, at
        kind = ev.get("type")
        seq = _int(ev.get("seq")) or 0
        step = _str(ev.get("step"))
        if step and _str(ev.get("title")):
            w.titles[step] = w.m(ev["title"]) or step
        if kind in ("run_started", "run_resumed"):
            # what was open died with the process: it ends at the last event before this one
            w.close_open(prev_at)
            w.end_segment(prev_at)
            w.segment = at
            w.rolling_back = False
            w.operator = w.m(_str(ev.get("operator"))) or w.operator
            if w.operator not in w.operators:
                w.operators.append(w.operator)
            if kind == "run_started":
                detail: dict[str, str | int | bool] = {"steps": _int(ev.get("steps")) or 0}
                if ev.get("dry_run") is True:
                    detail["dry_run"] = True
                w.add(Entry(at=at, type=EntryType.RUN_STARTED, run=w.index, seq=seq,
                            who=w.operator, title=w.m(_str(ev.get("title"))) or "run",
                            detail=detail))
            else:
                detail = {"done": _int(ev.get("done")) or 0}
                if _str(ev.get("next_step")):
                    detail["next_step"] = ev["next_step"]
                changed = ev.get("changed_steps")
                if isinstance(changed, list) and changed:
                    detail["changed_steps"] = ", ".join(str(c) for c in changed)
                w.add(Entry(at=at, type=EntryType.RUN_RESUMED, run=w.index, seq=seq,
                            who=w.operator, title=w.m(_str(run.get("title"))) or "run",
                            detail=detail))
        elif kind == "step_started" and step:
            w.open[(step, _int(ev.get("attempt")) or 1)] = (at, ev)
        elif kind == "step_finished" and step:
            attempt = _int(ev.get("attempt"))
            opened = w.open.pop((step, attempt or 1), None)
            duration = _int(ev.get("duration_ms"))
            start = opened[0] if opened else at - timedelta(milliseconds=duration or 0)
            hosts = _hosts(ev.get("hosts"))
            if not hosts and opened:
                hosts = tuple(HostResult(h, None, None, None)
                              for h in opened[1].get("hosts") or () if isinstance(h, str))
            host = _str(ev.get("host")) or (_str(opened[1].get("host")) if opened else None)
            status = _str(ev.get("status")) or "?"
            will_retry = ev.get("will_retry") is True
            output = ev.get("output") if isinstance(ev.get("output"), list) else []
            failed = status not in _DONE and status != "dry_run"
            title = w.titles.get(step, step)
            who = w.who(ev)
            w.add(Entry(
                at=at, type=EntryType.STEP, run=w.index, seq=seq, who=who, title=title,
                step=step, number=_int(ev.get("number")), section=w.section(step),
                kind=_str(ev.get("kind")), host=host, hosts=hosts, status=status,
                exit_code=_int(ev.get("exit_code")), duration_ms=duration, started_at=start,
                attempt=attempt, will_retry=will_retry, note=w.m(_str(ev.get("note"))),
                error=w.m(_str(ev.get("error"))),
                output_tail=tuple(w.mask.mask_all(str(x) for x in output[-_TAIL:]))
                if failed else ()))
            w.bars.append(Bar(w.section(step), _host_label(host, hosts), start, at, title,
                              step, status, w.index, hosts))
            if not will_retry:
                w.terminal(step, status, at, who, seq)
        elif kind in ("check_ticked", "step_skipped") and step:
            w.open.pop((step, 1), None)
            status = _str(ev.get("status")) or ("ticked" if kind == "check_ticked" else "skipped")
            who = w.who(ev)
            w.add(Entry(at=at, type=EntryType.CHECK if kind == "check_ticked" else EntryType.SKIP,
                        run=w.index, seq=seq, who=who, title=w.titles.get(step, step), step=step,
                        number=_int(ev.get("number")), section=w.section(step),
                        kind=_str(ev.get("kind")), status=status, note=w.m(_str(ev.get("note")))))
            w.terminal(step, status, at, who, seq)
        elif kind == "note_added":
            w.add(Entry(at=at, type=EntryType.NOTE, run=w.index, seq=seq, who=w.who(ev),
                        title=w.titles.get(step, step) if step else "", step=step,
                        note=w.m(_str(ev.get("note")))))
        elif kind == "milestone":
            name = w.m(_str(ev.get("milestone"))) or "milestone"
            note = _str(ev.get("note"))
            if note and ENGINE_MARK.match(note) and w.last_step:
                # written by the engine for a `milestone=` step or section that just finished
                own = [n for n, src in w.ann.step_milestones.get(w.last_step, ())
                       if src is MilestoneSource.STEP]
                section = next((sm.section for sm in w.ann.section_milestones
                                if sm.name == name and w.last_step in sm.steps), None)
                if name in own or section is None:
                    w.milestone(name, at, w.who(ev), MilestoneSource.STEP, seq, step=w.last_step)
                else:
                    w.milestone(name, at, w.who(ev), MilestoneSource.SECTION, seq,
                                section=section)
            else:
                w.milestone(name, at, w.who(ev), MilestoneSource.MARK, seq, note=w.m(note))
        elif kind in ("approval", "approval_refused") and step:
            n = _int(ev.get("number"))
            what = f"step {n}" if n is not None else w.titles.get(step, step)
            if kind == "approval":
                note = (f"approved {what} ({_int(ev.get('count'))} of "
                        f"{_int(ev.get('approvals'))}; key {_str(ev.get('key'))}"
                        f"{', until ' + ev['expires_at'] if _str(ev.get('expires_at')) else ''})")
            else:
                note = f"approval of {what} refused: {w.m(_str(ev.get('error')))}"
            w.add(Entry(at=at, type=EntryType.NOTE, run=w.index, seq=seq,
                        who=w.m(_str(ev.get("by"))) or "?", title=w.titles.get(step, step),
                        step=step, note=note))
        elif kind == "rollback_started":
            w.rolling_back = True
            failed_step = _str(ev.get("step"))
            w.add(Entry(at=at, type=EntryType.ROLLBACK_STARTED, run=w.index, seq=seq,
                        who=w.who(ev), title=w.titles.get(failed_step, failed_step or ""),
                        step=failed_step, note=w.m(_str(ev.get("note"))),
                        detail={"steps": _int(ev.get("steps")) or 0}))
        elif kind == "rollback_finished":
            w.add(Entry(at=at, type=EntryType.ROLLBACK_FINISHED, run=w.index, seq=seq,
                        who=w.operator, title="rollback", status=_str(ev.get("status")),
                        duration_ms=_int(ev.get("duration_ms"))))
        elif kind == "run_finished":
            w.close_open(at)
            w.end_segment(at)
            # counted from the steps, not taken from the event: each step once over the whole
            # run (an older swrun counted only the part since the resume, and retries twice)
            counted: dict[str, str | int | bool] = dict(_counted(w.outcomes))
            counted.update({f"rollback {k}": n for k, n in _counted(w.rollback_outcomes).items()})
            w.add(Entry(at=at, type=EntryType.RUN_FINISHED, run=w.index, seq=seq,
                        who=w.operator, title=w.m(_str(run.get("title"))) or "run",
                        step=step, status=_str(ev.get("status")),
                        duration_ms=_int(ev.get("duration_ms")), note=w.m(_str(ev.get("note"))),
                        detail=counted))
    end = w.last_at or parse_time(run.get("started_at")) or datetime.now(UTC)
    w.close_open(end)
    w.end_segment(end)


def _run_info(w: _Walk) -> RunInfo:
    data, run = w.data, w.data.run
    started = (parse_time(run.get("started_at")) or
               (w.entries[0][0].at if w.entries else datetime.fromtimestamp(0, UTC)))
    variables = run.get("variables") if isinstance(run.get("variables"), dict) else {}
    shown = {}
    for name, value in variables.items():
        secret = looks_secret(name) or name in w.ann.secret_variables
        shown[str(name)] = MASK if secret else w.mask.mask(str(value))
    first = next((e for e in data.events if e.get("type") == "run_started"), {})
    status = (data.status or UNFINISHED) if data.finished else UNFINISHED
    return RunInfo(
        index=w.index, log=str(data.path), run_id=str(run.get("id", "")),
        runbook=str(run.get("runbook", "")), title=w.m(_str(run.get("title"))) or "",
        environment=_str(run.get("environment")), operator=w.m(_str(run.get("operator"))) or "?",
        operators=tuple(w.operators) or (w.operator,), started_at=started,
        ended_at=w.last_at or started, status=status,
        resumes=sum(1 for e in data.events if e.get("type") == "run_resumed"),
        dry_run=first.get("dry_run") is True, duration_ms=w.active_ms, variables=shown,
        warnings=tuple(w.warnings), counts=_counted(w.outcomes),
        verdict=w.verdict,
        rollback_counts=_counted(w.rollback_outcomes))


def _not_one_incident(runs: Sequence[RunInfo], first: datetime) -> Metrics:
    """No figures: milestones of separate runs would measure one run's `detected` against
    another's `acknowledged`."""
    titles = ", ".join(dict.fromkeys(r.title or r.runbook or r.run_id for r in runs))
    return Metrics(start=first, start_source="first_event", time_to_detect_ms=None,
                   time_to_acknowledge_ms=None, time_to_mitigate_ms=None,
                   time_to_resolve_ms=None,
                   reason=f"Key times are not computed: the {len(runs)} logs are separate runs "
                          f"({titles}); give --incident if they are one incident")


def _metrics(milestones: Sequence[Milestone], first: datetime) -> Metrics:
    earliest: dict[str, datetime] = {}
    for m in milestones:
        if m.name not in earliest or m.at < earliest[m.name]:
            earliest[m.name] = m.at

    def between(a: datetime | None, b: datetime | None) -> int | None:
        return None if a is None or b is None else round((b - a).total_seconds() * 1000)

    start = earliest.get("started")
    origin = start or first
    return Metrics(
        start=origin, start_source="milestone" if start else "first_event",
        time_to_detect_ms=between(origin, earliest.get("detected")),
        time_to_acknowledge_ms=between(earliest.get("detected"), earliest.get("acknowledged")),
        time_to_mitigate_ms=between(origin, earliest.get("mitigated")),
        time_to_resolve_ms=between(origin, earliest.get("resolved")),
    )


Trust = Callable[[LogData], list[str]]
"""What does not hold about a log (empty: it holds): `verify.trust_check` for the whole of
`swrun verify`; by default only the log's own chain and output files."""


UNPROVEN = ("unsigned", "unchained")
"""Verdicts of a log nobody changed as far as anyone can tell, but that proves nothing: the
run is marked, and one line says how many there are (not one warning per log)."""


def _untrusted(data: LogData, trust: Trust | None = None) -> tuple[list[str], str]:
    """A log that does not hold is marked, not trusted silently: (warnings, verdict), the
    verdict `verified` or the first problem's status word."""
    from swrun.evidence.verify import UNTRUSTED_MARK, local_problems

    problems = trust(data) if trust is not None else local_problems(data.path, data.events)
    if not problems:
        return [], "verified"
    verdict = problems[0].split()[0].rstrip(":") if trust is not None else "tampered"
    if verdict in UNPROVEN:
        return [], verdict
    return [f"{data.path}: {UNTRUSTED_MARK}: {problem} (see swrun verify {data.path})"
            for problem in problems], verdict


def read_logs(paths: Sequence[str | Path]) -> list[LogData]:
    """Each log once (a path given twice is read once), in the order given."""
    seen: set[Path] = set()
    logs = []
    for p in paths:
        key = Path(os.path.realpath(p))  # never raises, not even on a symlink loop
        if key in seen:
            continue
        seen.add(key)
        logs.append(read_log(p))
    return logs


def build_timeline(logs: Sequence[LogData], *, since: datetime | None = None,
                   until: datetime | None = None, tz: tzinfo = UTC,
                   tz_name: str = "UTC", incident: bool = False,
                   trust: Trust | None = None) -> Timeline:
    """Merge read logs into one timeline; since/until choose what is shown, while milestones
    and metrics are computed from the whole logs. Key times are computed from one log (one
    run, resumes included), or from several when `incident` says they are one incident."""
    warnings: list[str] = []
    anns = []
    for data in logs:
        ann, notes = load_annotations(data.run, data.path)
        anns.append(ann)
        warnings.extend(data.warnings)
        warnings.extend(notes)
    masker = Masker(v for v in leaked_secrets(logs, {n for a in anns for n in a.secret_variables})
                    if len(v) >= _MIN_SECRET)
    walks = []
    for index, (data, ann) in enumerate(zip(logs, anns, strict=True)):
        w = _Walk(index, data, ann, masker)
        _walk(w)
        said, w.verdict = _untrusted(data, trust)
        w.warnings.extend(said)
        walks.append(w)
    runs = tuple(_run_info(w) for w in walks)
    unproven = [r for r in runs if r.verdict in UNPROVEN]
    if unproven:
        words = sorted({r.verdict for r in unproven})
        warnings.append(f"{len(unproven)} of {len(runs)} log(s) {' or '.join(words)}: shown, "
                        "marked, not verified (swrun verify; sign runs with --sign-with)")
    for w, info in zip(walks, runs, strict=True):
        warnings.extend(w.warnings)
        if info.status == UNFINISHED:
            warnings.append(f"{info.log}: the run has no end recorded (it is still running, or "
                            "it stopped without finishing); its timeline ends at its last event")
    keyed = sorted(((e.at, e.run, e.seq, order), e) for w in walks for e, order in w.entries)
    every = [e for _, e in keyed]
    milestones = sorted((m for w in walks for m in w.milestones), key=lambda m: (m.at, m.run))
    bars = sorted((b for w in walks for b in w.bars), key=lambda b: (b.start, b.run))
    first = every[0].at if every else min((r.started_at for r in runs), default=_EPOCH)
    one = incident or len(runs) <= 1
    metrics = _metrics(milestones, first) if one else _not_one_incident(runs, first)

    def shown(at: datetime) -> bool:
        return (since is None or at >= since) and (until is None or at <= until)

    entries = tuple(e for e in every if shown(e.at))
    milestones = [m for m in milestones if shown(m.at)]
    bars = [b for b in bars if (since is None or b.end >= since)
            and (until is None or b.start <= until)]
    if since is not None:
        bars = [replace(b, start=max(b.start, since)) for b in bars]
    if until is not None:
        bars = [replace(b, end=min(b.end, until)) for b in bars]
    start = entries[0].at if entries else (since or first)
    ends = [e.at for e in entries] + [b.end for b in bars]
    end = max(ends) if ends else start
    return Timeline(runs=runs, entries=entries, milestones=tuple(milestones), bars=tuple(bars),
                    metrics=metrics, start=start, end=end, tz=tz, tz_name=tz_name, since=since,
                    until=until, warnings=tuple(warnings), incident=one)


_EPOCH = datetime.fromtimestamp(0, UTC)
