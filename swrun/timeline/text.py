"""Words and times shared by the renderers: what an entry says, clock times, offsets."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from swrun.durations import format_duration
from swrun.timeline.model import Entry, EntryType, MilestoneSource, Timeline

ICONS = {"ok": "✓", "failed": "✗", "timed_out": "⏱", "skipped": "↷", "ticked": "☑",
         "aborted": "■", "dry_run": "·", "incomplete": "…"}


def iso(at: datetime, tz: tzinfo = UTC) -> str:
    """RFC 3339 with milliseconds in `tz`; UTC is written with `Z`."""
    local = at.astimezone(tz)
    text = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"
    offset = local.utcoffset()
    if not offset:
        return text + "Z"
    return text + local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]


def clock(at: datetime, tz: tzinfo, with_date: bool) -> str:
    local = at.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def zone_label(tl: Timeline) -> str:
    """`UTC`, or `Europe/Berlin (UTC+01:00)` with the offset at the timeline's start."""
    if tl.tz_name == "UTC":
        return "UTC"
    off = tl.start.astimezone(tl.tz).strftime("%z")
    return f"{tl.tz_name} (UTC{off[:3]}:{off[3:]})"


def offset(ms: int) -> str:
    """`+0:02:05`, or `-0:00:03` before the start."""
    sign = "-" if ms < 0 else "+"
    s = abs(ms) // 1000
    return f"{sign}{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def duration(ms: int | None) -> str:
    return "" if ms is None else format_duration(ms / 1000)


def where(entry: Entry) -> str:
    """` on web1` / ` on web1, web2`, or nothing for a local step."""
    if entry.host:
        return f" on {entry.host}"
    if entry.hosts:
        return " on " + ", ".join(h.host for h in entry.hosts)
    return ""


def words(status: str) -> str:
    """A status as people read it: `rolled back`, `timed out` (JSON and CSV keep the value)."""
    return status.replace("_", " ")


def status_text(entry: Entry) -> str:
    """`✗ failed (exit 1)`, `✓ ok`, `failed, will retry`; empty when the entry has none."""
    if not entry.status:
        return ""
    icon = ICONS.get(entry.status, "")
    text = f"{icon} {words(entry.status)}".strip()
    if entry.exit_code is not None and entry.status != "ok":
        text += f" (exit {entry.exit_code})"
    if entry.will_retry:
        text += ", will retry"
    return text


def what(entry: Entry, runs_title: str | None = None) -> str:
    """One line saying what happened, without status, duration or notes."""
    t = entry.type
    d = entry.detail
    if t is EntryType.RUN_STARTED:
        text = f"Run started: {entry.title}"
        if runs_title:
            text += f" ({runs_title})"
        return text + (" — dry run" if d.get("dry_run") else "")
    if t is EntryType.RUN_RESUMED:
        text = f"Run resumed: {entry.title}, {d.get('done', 0)} step(s) already done"
        if d.get("next_step"):
            text += f", next {d['next_step']}"
        if d.get("changed_steps"):
            text += f"; changed since: {d['changed_steps']}"
        return text
    if t is EntryType.STEP:
        num = f"{entry.number}. " if entry.number is not None else ""
        attempt = f" (attempt {entry.attempt})" if entry.attempt else ""
        return f"{num}{entry.title}{where(entry)}{attempt}"
    if t is EntryType.CHECK:
        num = f"{entry.number}. " if entry.number is not None else ""
        return f"{num}{entry.title} (checked)"
    if t is EntryType.SKIP:
        num = f"{entry.number}. " if entry.number is not None else ""
        return f"{num}{entry.title} (skipped)"
    if t is EntryType.NOTE:
        return f"Note on {entry.title}" if entry.title else "Note"
    if t is EntryType.MILESTONE:
        if entry.step and entry.milestone_source is not MilestoneSource.MARK:
            return f"Milestone: {entry.title} (step {entry.step} done)"
        if entry.section:
            return f"Milestone: {entry.title} (section {entry.section} done)"
        return f"Milestone: {entry.title}"
    if t is EntryType.ROLLBACK_STARTED:
        after = f" after {entry.title}" if entry.title else ""
        return f"Rollback started{after} ({d.get('steps', 0)} step(s))"
    if t is EntryType.ROLLBACK_FINISHED:
        return "Rollback finished"
    if t is EntryType.RUN_FINISHED:
        counts = ", ".join(f"{k} {v}" for k, v in d.items() if not k.startswith("rollback "))
        back = ", ".join(f"{k.removeprefix('rollback ')} {v}" for k, v in d.items()
                         if k.startswith("rollback "))
        if back:
            counts = f"{counts}; rollback: {back}" if counts else f"rollback: {back}"
        text = f"Run finished: {entry.title}"
        if entry.step and entry.status != "completed":
            text += f", stopped at {entry.step}"
        return text + (f" ({counts})" if counts else "")
    return entry.title


def notes(entry: Entry) -> list[str]:
    """The operator's note, the error and, for failures, the last output lines."""
    out = []
    if entry.note:
        out.append(entry.note)
    if entry.error:
        out.append(f"error: {entry.error}")
    out.extend(f"> {line}" for line in entry.output_tail)
    for h in entry.hosts:
        if h.status and h.status != "ok":
            code = f" (exit {h.exit_code})" if h.exit_code is not None else ""
            out.append(f"{h.host}: {h.status}{code}")
    return out


METRICS = (("time_to_detect_ms", "Time to detect", "started → detected"),
           ("time_to_acknowledge_ms", "Time to acknowledge", "detected → acknowledged"),
           ("time_to_mitigate_ms", "Time to mitigate", "started → mitigated"),
           ("time_to_resolve_ms", "Time to resolve", "started → resolved"))
