"""Post-incident timelines and drill history from run logs (`swrun timeline`, `swrun history`).

`build_timeline` merges read logs into a `Timeline`; `render(timeline, fmt)` turns it into
Markdown, JSON (docs/timeline.schema.json), CSV or one self-contained HTML file.
"""

from __future__ import annotations

from swrun.timeline.build import build_timeline, read_logs
from swrun.timeline.model import Entry, EntryType, Metrics, Milestone, RunInfo, Timeline

FORMATS = ("md", "json", "csv", "html")


def render(timeline: Timeline, fmt: str) -> str:
    """The timeline in one of FORMATS."""
    if fmt == "md":  # read on a terminal: no escape sequence from a log reaches it
        from swrun.files import safe_text
        from swrun.timeline.as_md import render as md
        return safe_text(md(timeline))
    if fmt == "json":
        from swrun.timeline.as_json import render as js
        return js(timeline)
    if fmt == "csv":
        from swrun.timeline.as_csv import render as csv
        return csv(timeline)
    if fmt == "html":
        from swrun.timeline.as_html import render as html
        return html(timeline)
    raise ValueError(f"unknown timeline format {fmt!r}")


__all__ = ["FORMATS", "Entry", "EntryType", "Metrics", "Milestone", "RunInfo", "Timeline",
           "build_timeline", "read_logs", "render"]
