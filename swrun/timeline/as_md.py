"""The timeline as Markdown, ready to paste into a postmortem document."""

from __future__ import annotations

from swrun.timeline.model import Timeline
from swrun.timeline.text import (
    METRICS,
    clock,
    duration,
    notes,
    offset,
    status_text,
    what,
    words,
    zone_label,
)


def cell(text: str) -> str:
    """Table-safe: pipes escaped, line breaks as <br>."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>").strip()


def _title(tl: Timeline) -> str:
    titles = list(dict.fromkeys(r.title or r.runbook for r in tl.runs))
    return " + ".join(titles) or "Run"


def render(tl: Timeline) -> str:
    tz = tl.tz
    lines = [f"# Timeline: {_title(tl)}", ""]
    span = (f"{clock(tl.start, tz, True)} → {clock(tl.end, tz, True)} "
            f"({duration(tl.offset_ms(tl.end))})")
    lines += [f"Times in {zone_label(tl)}, {span}. Offsets (+T) count from the first entry.", ""]

    lines += ["## Runs", "",
              "| Run | Runbook | Operator | Started | Outcome | Active time |",
              "|---|---|---|---|---|---|"]
    for r in tl.runs:
        outcome = words(r.status) + (f", resumed {r.resumes}×" if r.resumes else "")
        if r.dry_run:
            outcome += ", dry run"
        if not r.trusted:
            outcome += f" ⚠ {r.verdict}"
        if r.status in ("failed", "aborted", "rolled_back", "rollback_failed", "unfinished"):
            outcome = f"**{outcome}**"
        env = f" ({r.environment})" if r.environment else ""
        lines.append(f"| `{r.run_id}` | {cell(r.title + env)} — `{cell(r.runbook)}` | "
                     f"{cell(', '.join(r.operators))} | {clock(r.started_at, tz, True)} | "
                     f"{outcome} | {duration(r.duration_ms)} |")
    lines.append("")

    many = len(tl.runs) > 1
    lines += ["## Key times", ""]
    if tl.milestones:
        run_head = ["Run"] if many else []
        lines += ["| " + " | ".join(["Milestone", "Time", "+T", *run_head, "By", "How"]) + " |",
                  "|" + "---|" * (5 + len(run_head))]
        for m in tl.milestones:
            how = {"mark": "marked", "step": f"step `{m.step}` done",
                   "section": f"section {m.section} done",
                   "front_matter": f"`{m.step or m.section}` done"}[m.source.value]
            note = f" — {m.note}" if m.note else ""
            run = [f"`{tl.runs[m.run].run_id}`"] if many else []
            lines.append("| " + " | ".join([
                f"**{cell(m.name)}**", clock(m.at, tz, True), offset(tl.offset_ms(m.at)), *run,
                cell(m.who), cell(how + note)]) + " |")
        lines.append("")
    else:
        lines += ["No milestones were marked.", ""]
    met = tl.metrics
    if met.reason:
        lines += [f"{met.reason}.", ""]
    else:
        origin = ("the `started` milestone" if met.start_source == "milestone"
                  else "the first event")
        for key, label, span_text in METRICS:
            value = getattr(met, key)
            lines.append(f"- {label} ({span_text}): " + (duration(value) if value is not None
                                                           else "not reached"))
        lines += ["", f"Start is {origin}, {clock(met.start, tz, True)}.", ""]

    head = ["Time", "+T", *(["Run"] if many else []), "Who", "What", "Status", "Duration",
            "Notes"]
    lines += ["## Timeline", "", "| " + " | ".join(head) + " |",
              "|" + "---|" * len(head)]
    last_day = None
    for e in tl.entries:
        day = e.at.astimezone(tz).date()
        when = clock(e.at, tz, day != last_day)
        last_day = day
        text = cell(what(e))
        status = cell(status_text(e))
        if e.failed:
            text, status = f"**{text}**", f"**{status}**"
        if e.type.value == "milestone":
            text = f"⚑ **{text}**"
        row = [when, offset(tl.offset_ms(e.at)),
               *([f"`{tl.runs[e.run].run_id}`"] if many else []), cell(e.who), text, status,
               duration(e.duration_ms), "<br>".join(cell(n) for n in notes(e))]
        lines.append("| " + " | ".join(row) + " |")
    if not tl.entries:
        lines.append("| " + " | ".join([""] * len(head)) + " |")
    lines.append("")
    if tl.warnings:
        lines += ["## Caveats", ""] + [f"- {cell(w)}" for w in tl.warnings] + [""]
    return "\n".join(lines)
