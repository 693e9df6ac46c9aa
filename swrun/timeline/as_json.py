"""The timeline as JSON; the layout is docs/timeline.schema.json (every key always present)."""

from __future__ import annotations

import json
from typing import Any

from swrun.timeline.model import Entry, Timeline
from swrun.timeline.text import iso, notes, what

FORMAT = "swrun-timeline"
VERSION = 1


def _entry(tl: Timeline, e: Entry) -> dict[str, Any]:
    return {
        "at": iso(e.at, tl.tz),
        "offset_ms": tl.offset_ms(e.at),
        "run": e.run,
        "seq": e.seq,
        "type": e.type.value,
        "who": e.who,
        "what": what(e),
        "title": e.title,
        "step": e.step,
        "number": e.number,
        "section": e.section,
        "kind": e.kind,
        "host": e.host,
        "hosts": [{"host": h.host, "status": h.status, "exit_code": h.exit_code,
                   "duration_ms": h.duration_ms} for h in e.hosts],
        "status": e.status,
        "failed": e.failed,
        "exit_code": e.exit_code,
        "duration_ms": e.duration_ms,
        "started_at": iso(e.started_at, tl.tz) if e.started_at else None,
        "attempt": e.attempt,
        "will_retry": e.will_retry,
        "note": e.note,
        "error": e.error,
        "output_tail": list(e.output_tail),
        "milestone": e.milestone,
        "milestone_source": e.milestone_source.value if e.milestone_source else None,
        "notes": notes(e),
    }


def to_data(tl: Timeline) -> dict[str, Any]:
    met = tl.metrics
    return {
        "format": FORMAT,
        "version": VERSION,
        "timezone": tl.tz_name,
        "start": iso(tl.start, tl.tz),
        "end": iso(tl.end, tl.tz),
        "since": iso(tl.since, tl.tz) if tl.since else None,
        "until": iso(tl.until, tl.tz) if tl.until else None,
        "incident": tl.incident,
        "runs": [{
            "index": r.index, "log": r.log, "run_id": r.run_id, "runbook": r.runbook,
            "title": r.title, "environment": r.environment, "operator": r.operator,
            "operators": list(r.operators), "started_at": iso(r.started_at, tl.tz),
            "ended_at": iso(r.ended_at, tl.tz), "status": r.status, "resumes": r.resumes,
            "dry_run": r.dry_run, "duration_ms": r.duration_ms, "counts": r.counts,
            "rollback_counts": r.rollback_counts, "variables": r.variables,
            "trusted": r.trusted, "verdict": r.verdict,
        } for r in tl.runs],
        "milestones": [{
            "name": m.name, "at": iso(m.at, tl.tz), "offset_ms": tl.offset_ms(m.at),
            "by": m.who, "source": m.source.value, "run": m.run, "step": m.step,
            "section": m.section, "note": m.note,
        } for m in tl.milestones],
        "metrics": {
            "start": iso(met.start, tl.tz), "start_source": met.start_source,
            "time_to_detect_ms": met.time_to_detect_ms,
            "time_to_acknowledge_ms": met.time_to_acknowledge_ms,
            "time_to_mitigate_ms": met.time_to_mitigate_ms,
            "time_to_resolve_ms": met.time_to_resolve_ms,
            "reason": met.reason,
        },
        "entries": [_entry(tl, e) for e in tl.entries],
        "warnings": list(tl.warnings),
    }


def render(tl: Timeline) -> str:
    return json.dumps(to_data(tl), indent=2, ensure_ascii=False) + "\n"
