"""The timeline as one self-contained HTML file: tables and an inline-SVG Gantt chart of step
attempts per section and host, failures in the error colour, milestones as vertical markers."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from swrun.timeline.model import Bar, Milestone, Timeline
from swrun.timeline.page import esc, nice_step, page
from swrun.timeline.text import (
    METRICS,
    clock,
    duration,
    iso,
    notes,
    offset,
    status_text,
    what,
    words,
    zone_label,
)

WIDTH = 1000
LABEL = 250
RIGHT = 20
LANE = 24
BAR = 14
_CLASS = re.compile(r"[^a-z_]")


def _lanes(tl: Timeline) -> list[tuple[str, list[Bar]]]:
    many = len({r.runbook for r in tl.runs}) > 1
    lanes: dict[str, list[Bar]] = {}
    for b in tl.bars:
        label = f"{b.section} · {b.host}"
        if many:
            label = f"{tl.runs[b.run].title or tl.runs[b.run].runbook} › {label}"
        lanes.setdefault(label, []).append(b)
    return list(lanes.items())


def _label_rows(tl: Timeline, x: Callable[[datetime], float]) -> list[tuple[Milestone, int, float]]:
    """Each milestone label in the first row where it does not overlap the one before it."""
    ends: list[float] = []
    out = []
    for m in tl.milestones:
        px = x(m.at)
        width = 7 * (len(m.name) + 2)
        lo, hi = (px - width, px) if px > WIDTH - 120 else (px, px + width)
        row = next((i for i, end in enumerate(ends) if lo > end), len(ends))
        if row == len(ends):
            ends.append(hi)
        ends[row] = hi
        out.append((m, row, px))
    return out


def gantt(tl: Timeline) -> str:
    """One `rect.bar` per step attempt, in a row per section and host."""
    lanes = _lanes(tl)
    span = max((tl.end - tl.start).total_seconds(), 1.0)
    chart = WIDTH - LABEL - RIGHT

    def x(at: datetime) -> float:
        secs = (at - tl.start).total_seconds()
        return LABEL + chart * min(max(secs / span, 0.0), 1.0)

    labels = _label_rows(tl, x)
    top = 30 + 14 * (max((row for _, row, _ in labels), default=-1) + 1)
    height = top + LANE * max(len(lanes), 1) + 8

    out = [f'<svg viewBox="0 0 {WIDTH} {height}" '
           f'role="img" aria-label="Step durations per section and host">']
    step = nice_step(span)
    out.append('<g class="axis">')
    for i in range(math.floor(span / step) + 1):
        at = tl.start + timedelta(seconds=i * step)
        px = x(at)
        out.append(f'<line class="grid" x1="{px:.1f}" y1="{top - 4}" x2="{px:.1f}" '
                   f'y2="{height - 8}"/>')
        out.append(f'<text x="{px:.1f}" y="{top - 8}" text-anchor="middle">'
                   f'{esc(offset(round(i * step * 1000)))}</text>')
    out.append("</g>")
    for row, (label, bars) in enumerate(lanes):
        y = top + row * LANE
        if row % 2 == 0:
            out.append(f'<rect class="lane-band" x="0" y="{y}" width="{WIDTH}" height="{LANE}"/>')
        out.append(f'<text class="lane" x="6" y="{y + LANE / 2 + 4:.1f}">'
                   f'{esc(label if len(label) <= 40 else label[:39] + "…")}</text>')
        for b in bars:
            x0, x1 = x(b.start), x(b.end)
            hosts = "; ".join(f"{h.host} {h.status or ''}".strip() for h in b.hosts)
            tip = (f"{b.title} ({b.step}): {b.status}, "
                   f"{duration(round((b.end - b.start).total_seconds() * 1000))}"
                   + (f" — {hosts}" if hosts else ""))
            out.append(f'<rect class="bar {_CLASS.sub("_", b.status)}" data-step="{esc(b.step)}" '
                       f'x="{x0:.1f}" y="{y + (LANE - BAR) / 2:.1f}" '
                       f'width="{max(x1 - x0, 2.0):.1f}" height="{BAR}" rx="2">'
                       f'<title>{esc(tip)}</title></rect>')
    for m, row, px in labels:
        out.append(f'<line class="marker" data-milestone="{esc(m.name)}" x1="{px:.1f}" '
                   f'y1="{row * 14 + 2}" x2="{px:.1f}" y2="{height - 4}">'
                   f'<title>{esc(m.name)} at {esc(clock(m.at, tl.tz, True))} by '
                   f'{esc(m.who)}</title></line>')
        anchor = "end" if px > WIDTH - 120 else "start"
        out.append(f'<text class="marker-label" x="{px + (-3 if anchor == "end" else 3):.1f}" '
                   f'y="{row * 14 + 11}" text-anchor="{anchor}">⚑ {esc(m.name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _runs(tl: Timeline) -> str:
    rows = []
    for r in tl.runs:
        bad = r.status in ("failed", "aborted", "rolled_back", "rollback_failed", "unfinished")
        outcome = words(r.status) + (f", resumed {r.resumes}×" if r.resumes else "")
        if r.dry_run:
            outcome += ", dry run"
        env = f" ({r.environment})" if r.environment else ""
        rows.append(
            f'<tr class="{"failed" if bad else ""}"><td><code>{esc(r.run_id)}</code></td>'
            f"<td>{esc(r.title)}{esc(env)}<br><code>{esc(r.runbook)}</code></td>"
            f"<td>{esc(', '.join(r.operators))}</td>"
            f'<td class="time">{esc(clock(r.started_at, tl.tz, True))}</td>'
            f'<td class="status">{esc(outcome)}</td>'
            f'<td class="num">{esc(duration(r.duration_ms))}</td></tr>')
    return ('<table class="runs"><thead><tr><th>Run</th><th>Runbook</th><th>Operator</th>'
            '<th>Started</th><th>Outcome</th><th class="num">Active time</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _key_times(tl: Timeline) -> str:
    met = tl.metrics
    if met.reason:
        parts = [f'<p class="meta reason">{esc(met.reason)}.</p>']
    else:
        items = []
        for key, label, span_text in METRICS:
            value = getattr(met, key)
            items.append(f"<dt>{esc(label)}</dt><dd>"
                         f"{esc(duration(value)) if value is not None else 'not reached'} "
                         f'<span class="meta">({esc(span_text)})</span></dd>')
        origin = ("the started milestone" if met.start_source == "milestone"
                  else "the first event")
        parts = [f'<dl class="metrics">{"".join(items)}</dl>',
                 f'<p class="meta">Start is {origin}, {esc(clock(met.start, tl.tz, True))}.</p>']
    many = len(tl.runs) > 1
    if tl.milestones:
        rows = "".join(
            f'<tr class="milestone"><td class="what">⚑ {esc(m.name)}</td>'
            f'<td class="time">{esc(clock(m.at, tl.tz, True))}</td>'
            f'<td class="num">{esc(offset(tl.offset_ms(m.at)))}</td>'
            + (f"<td><code>{esc(tl.runs[m.run].run_id)}</code></td>" if many else "")
            + f"<td>{esc(m.who)}</td>"
            f"<td>{esc(m.source.value.replace('_', ' '))}"
            f"{esc(': ' + (m.step or m.section or '')) if (m.step or m.section) else ''}"
            f"{esc(' — ' + m.note) if m.note else ''}</td></tr>"
            for m in tl.milestones)
        parts.append('<table class="milestones"><thead><tr><th>Milestone</th><th>Time</th>'
                     '<th class="num">+T</th>' + ("<th>Run</th>" if many else "")
                     + "<th>By</th><th>How</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
    return "\n".join(parts)


def _entries(tl: Timeline) -> str:
    many = len(tl.runs) > 1
    rows = []
    last_day = None
    for e in tl.entries:
        day = e.at.astimezone(tl.tz).date()
        when = clock(e.at, tl.tz, day != last_day)
        last_day = day
        cls = "failed" if e.failed else ("milestone" if e.type.value == "milestone" else "")
        note_html = "".join(
            f'<div class="{"out" if n.startswith("> ") else ""}">{esc(n)}</div>' for n in notes(e))
        status_cls = _CLASS.sub("_", e.status or "")
        rows.append(
            f'<tr class="{cls}" data-type="{e.type.value}">'
            f'<td class="time"><time datetime="{esc(iso(e.at, tl.tz))}">{esc(when)}</time></td>'
            f'<td class="num">{esc(offset(tl.offset_ms(e.at)))}</td>'
            + (f"<td><code>{esc(tl.runs[e.run].run_id)}</code></td>" if many else "")
            + f"<td>{esc(e.who)}</td>"
            f'<td class="what">{"⚑ " if cls == "milestone" else ""}{esc(what(e))}</td>'
            f'<td class="status {status_cls}">{esc(status_text(e))}</td>'
            f'<td class="num">{esc(duration(e.duration_ms))}</td>'
            f'<td class="notes">{note_html}</td></tr>')
    head = ("<th>Time</th><th class=\"num\">+T</th>" + ("<th>Run</th>" if many else "")
            + "<th>Who</th><th>What</th><th>Status</th><th class=\"num\">Duration</th>"
            "<th>Notes</th>")
    return (f'<table class="timeline"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def render(tl: Timeline) -> str:
    titles = list(dict.fromkeys(r.title or r.runbook for r in tl.runs))
    title = "Timeline: " + (" + ".join(titles) or "Run")
    span = (f"{clock(tl.start, tl.tz, True)} → {clock(tl.end, tl.tz, True)} "
            f"({duration(tl.offset_ms(tl.end))})")
    body = [
        f"<header><h1>{esc(title)}</h1>",
        f'<p class="meta">Times in {esc(zone_label(tl))}, {esc(span)}. Offsets (+T) count '
        "from the first entry.</p></header>",
        f'<section id="runs"><h2>Runs</h2>{_runs(tl)}</section>',
        f'<section id="key-times"><h2>Key times</h2>{_key_times(tl)}</section>',
        '<section id="chart"><h2>Steps</h2><figure>',
        gantt(tl),
        '<figcaption class="legend"><span><i class="swatch ok"></i>ok</span>'
        '<span><i class="swatch failed"></i>failed / timed out</span>'
        '<span><i class="swatch incomplete"></i>no end recorded</span>'
        '<span><i class="swatch milestone"></i>milestone</span> '
        "One bar per step attempt; rows are section · host.</figcaption></figure></section>",
        f'<section id="timeline"><h2>Timeline</h2>{_entries(tl)}</section>',
    ]
    if tl.warnings:
        body.append('<section id="caveats"><h2>Caveats</h2><ul>'
                    + "".join(f"<li>{esc(w)}</li>" for w in tl.warnings) + "</ul></section>")
    return page(title, "\n".join(body) + "\n")
