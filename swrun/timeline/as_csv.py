"""The timeline as CSV for spreadsheets: one row per entry, a header row, RFC 4180 quoting."""

from __future__ import annotations

import csv
import io

from swrun.timeline.model import Timeline
from swrun.timeline.text import iso, notes, offset, what

COLUMNS = ("time", "offset", "offset_ms", "run_id", "runbook", "who", "type", "what", "step",
           "number", "section", "host", "status", "failed", "exit_code", "duration_ms",
           "milestone", "notes")


def _formula_safe(text: str) -> str:
    """A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a quote."""
    return "'" + text if text[:1] in ("=", "@", "\t", "\r") or (
        text[:1] in ("+", "-") and not text[1:2].isdigit()) else text


def render(tl: Timeline) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(COLUMNS)
    for e in tl.entries:
        run = tl.runs[e.run]
        host = e.host or ", ".join(h.host for h in e.hosts)
        row = [iso(e.at, tl.tz), offset(tl.offset_ms(e.at)), tl.offset_ms(e.at), run.run_id,
               run.runbook, e.who, e.type.value, what(e), e.step or "",
               "" if e.number is None else e.number, e.section or "", host, e.status or "",
               "true" if e.failed else "false", "" if e.exit_code is None else e.exit_code,
               "" if e.duration_ms is None else e.duration_ms, e.milestone or "",
               "\n".join(notes(e))]
        out.writerow([_formula_safe(v) if isinstance(v, str) else v for v in row])
    return buf.getvalue()
