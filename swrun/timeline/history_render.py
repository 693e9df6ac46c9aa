"""Drill history as a terminal table (with sparklines), Markdown, JSON or a self-contained HTML
scorecard with charts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from swrun.timeline.history import History, HistoryRun, StepTrend
from swrun.timeline.page import esc, page
from swrun.timeline.text import duration, iso

SPARKS = "▁▂▃▄▅▆▇█"
_BAD = frozenset({"failed", "timed_out", "aborted", "incomplete", "rolled_back",
                  "rollback_failed", "unfinished"})


def sparkline(values: Sequence[int | None]) -> str:
    """One block per run scaled from the smallest to the largest; `·` where a step did not run."""
    seen = [v for v in values if v is not None]
    if not seen:
        return "·" * len(values)
    low, high = min(seen), max(seen)
    out = []
    for v in values:
        if v is None:
            out.append("·")
        elif high == low:
            out.append(SPARKS[len(SPARKS) // 2])
        else:
            out.append(SPARKS[round((v - low) / (high - low) * (len(SPARKS) - 1))])
    return "".join(out)


def _date(run: HistoryRun) -> str:
    return run.started_at.strftime("%Y-%m-%d %H:%M")


def _window(run: HistoryRun) -> str:
    return "" if run.window_used is None else f"{run.window_used:.0%}"


def _outcome(run: HistoryRun, h: History | None = None) -> str:
    text = run.status + (f" (resumed {run.resumes}×)" if run.resumes else "")
    return text + (f" ⚠ {run.verdict}" if h is not None and not run.trusted else "")


def _mark(t: StepTrend, value: int | None) -> str:
    """`38.0s ✗` when over target."""
    if value is None:
        return ""
    over = t.target_ms is not None and value > t.target_ms
    return duration(value) + (" ✗" if over else "")


def _header(h: History) -> str:
    window = f", window {duration(h.window_ms)}" if h.window_ms else ""
    return f"{h.title}: {len(h.runs)} run(s) of {h.runbook}{window}"


def _grid(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _step_row(t: StepTrend) -> list[str]:
    status = t.statuses[-1] if t.statuses else None
    last = _mark(t, t.last_ms) + (f" ({status})" if status in _BAD else "")
    return [t.title, duration(t.target_ms) or "—", last, duration(t.best_ms),
            duration(t.median_ms), f"{t.within_target}/{t.measured}",
            sparkline(t.durations_ms), t.trend or ""]


STEP_HEAD = ["Step", "Target", "Last", "Best", "Median", "Within target", "Runs", "Trend"]
RUN_HEAD = ["Date (UTC)", "Operator", "Outcome", "Total", "Window used"]


def table(h: History) -> str:
    lines = [_header(h), ""]
    if h.runs:
        rows = [RUN_HEAD] + [[_date(r), ", ".join(r.operators), _outcome(r, h),
                              duration(r.duration_ms), _window(r)] for r in h.runs]
        lines += [_grid(rows), "",
                  f"Total time  {sparkline([r.duration_ms for r in h.runs])}  "
                  f"{h.total_trend or ''}".rstrip(), ""]
        lines += [_grid([STEP_HEAD] + [_step_row(t) for t in h.steps]), ""]
    if h.skipped_dry_runs:
        lines += [f"({h.skipped_dry_runs} dry run(s) left out)", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(h: History) -> str:
    lines = [f"# Drill history: {h.title}", "",
             f"{len(h.runs)} run(s) of `{h.runbook}`"
             + (f", maintenance window {duration(h.window_ms)}" if h.window_ms else "") + ".", ""]
    lines += ["## Runs", "", "| " + " | ".join(RUN_HEAD) + " |", "|---|---|---|---|---|"]
    for r in h.runs:
        outcome = _outcome(r, h)
        if r.status in _BAD:
            outcome = f"**{outcome}**"
        lines.append(f"| {_date(r)} | {_cell(', '.join(r.operators))} | {outcome} | "
                     f"{duration(r.duration_ms)} | {_window(r)} |")
    lines += ["", f"Total time trend: `{sparkline([r.duration_ms for r in h.runs])}` "
              f"{h.total_trend or ''}".rstrip(), ""]
    lines += ["## Steps against target", "", "| " + " | ".join(STEP_HEAD) + " |",
              "|" + "---|" * len(STEP_HEAD)]
    for t in h.steps:
        row = _step_row(t)
        row[0] = f"{t.number}. {t.title}" if t.number is not None else t.title
        row[6] = f"`{row[6]}`"
        if "✗" in row[2] or "(" in row[2]:
            row[2] = f"**{row[2]}**"
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    lines.append("")
    if h.skipped_dry_runs:
        lines += [f"{h.skipped_dry_runs} dry run(s) left out.", ""]
    return "\n".join(lines)


def to_data(h: History) -> dict[str, Any]:
    return {
        "format": "swrun-history", "version": 1, "runbook": h.runbook, "title": h.title,
        "window_ms": h.window_ms,
        "runs": [{
            "log": r.log, "run_id": r.run_id, "started_at": iso(r.started_at),
            "operator": r.operator, "operators": list(r.operators), "status": r.status,
            "duration_ms": r.duration_ms, "window_used": r.window_used, "resumes": r.resumes,
            "trusted": r.trusted, "verdict": r.verdict,
            "steps": {k: {"duration_ms": s.duration_ms, "status": s.status,
                          "attempts": s.attempts} for k, s in r.steps.items()},
        } for r in h.runs],
        "total_trend": h.total_trend,
        "steps": [{
            "step": t.step, "number": t.number, "title": t.title, "target_ms": t.target_ms,
            "durations_ms": list(t.durations_ms), "statuses": list(t.statuses),
            "within_target": t.within_target, "measured": t.measured, "best_ms": t.best_ms,
            "median_ms": t.median_ms, "last_ms": t.last_ms, "trend": t.trend,
        } for t in h.steps],
        "skipped_dry_runs": h.skipped_dry_runs,
        "warnings": list(h.warnings),
    }


def as_json(h: History) -> str:
    return json.dumps(to_data(h), indent=2, ensure_ascii=False) + "\n"


def chart(values: Sequence[int | None], statuses: Sequence[str | None], labels: Sequence[str],
          limit_ms: int | None, limit_label: str, name: str) -> str:
    """A line chart of one duration per run, a dashed line at the target or window; points over
    the limit or failed in the error colour."""
    width, height, left, right, top, bottom = 640, 170, 56, 44, 14, 34
    seen = [v for v in values if v is not None]
    high = max([*seen, limit_ms or 0, 1])
    high *= 1.15
    n = max(len(values), 1)
    step_x = (width - left - right) / max(n - 1, 1)

    def px(i: int) -> float:
        return left + (i * step_x if n > 1 else (width - left - right) / 2)

    def py(v: float) -> float:
        return top + (height - top - bottom) * (1 - v / high)

    out = [f'<svg viewBox="0 0 {width} {height}" role="img" class="history-chart" '
           f'aria-label="{esc(name)}">']
    for frac in (0, 0.5, 1):
        v = high / 1.15 * frac
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{py(v):.1f}" '
                   f'y2="{py(v):.1f}"/><text class="muted" x="{left - 6}" y="{py(v) + 4:.1f}" '
                   f'text-anchor="end">{esc(duration(round(v)))}</text>')
    if limit_ms is not None:
        out.append(f'<line class="target" x1="{left}" x2="{width - right}" '
                   f'y1="{py(limit_ms):.1f}" y2="{py(limit_ms):.1f}"/>'
                   f'<text class="muted" x="{width - right}" y="{py(limit_ms) - 4:.1f}" '
                   f'text-anchor="end">{esc(limit_label)} {esc(duration(limit_ms))}</text>')
    points = [(px(i), py(v)) for i, v in enumerate(values) if v is not None]
    if len(points) > 1:
        out.append('<polyline class="series" points="'
                   + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>')
    for i, (v, s) in enumerate(zip(values, statuses, strict=True)):
        out.append(f'<text class="muted" x="{px(i):.1f}" y="{height - 12}" '
                   f'text-anchor="middle">{esc(labels[i])}</text>')
        if v is None:
            continue
        bad = s in _BAD
        over = limit_ms is not None and v > limit_ms
        cls = "point failed" if bad else ("point over" if over else "point")
        out.append(f'<circle class="{cls}" cx="{px(i):.1f}" cy="{py(v):.1f}" r="4">'
                   f'<title>{esc(labels[i])}: {esc(duration(v))}'
                   f'{esc(" (" + s + ")") if s and s != "ok" else ""}</title></circle>')
    out.append("</svg>")
    return "\n".join(out)


def html(h: History) -> str:
    labels = [r.started_at.strftime("%Y-%m-%d") for r in h.runs]
    body = [f"<header><h1>Drill history: {esc(h.title)}</h1>",
            f'<p class="meta">{len(h.runs)} run(s) of <code>{esc(h.runbook)}</code>'
            + (f", maintenance window {esc(duration(h.window_ms))}" if h.window_ms else "")
            + ". Times in UTC.</p></header>"]
    rows = "".join(
        f'<tr class="{"failed" if r.status in _BAD else ""}"><td class="time">{esc(_date(r))}'
        f"</td><td>{esc(', '.join(r.operators))}</td><td class=\"status\">"
        f"{esc(_outcome(r, h))}</td><td class=\"num\">{esc(duration(r.duration_ms))}</td>"
        f'<td class="num">{esc(_window(r))}</td></tr>' for r in h.runs)
    body.append('<section id="runs"><h2>Runs</h2><table><thead><tr>'
                + "".join(f"<th>{esc(c)}</th>" for c in RUN_HEAD)
                + f"</tr></thead><tbody>{rows}</tbody></table>")
    body.append("<figure>" + chart([r.duration_ms for r in h.runs], [r.status for r in h.runs],
                                   labels, h.window_ms, "window", "Total time per run")
                + "<figcaption>Total time per run"
                + (" against the maintenance window" if h.window_ms else "")
                + "</figcaption></figure></section>")
    srows = "".join(
        "<tr>" + "".join(f'<td class="{"over" if "✗" in c else ""}">{esc(c)}</td>'
                         for c in _step_row(t)) + "</tr>" for t in h.steps)
    body.append('<section id="steps"><h2>Steps against target</h2><table><thead><tr>'
                + "".join(f"<th>{esc(c)}</th>" for c in STEP_HEAD)
                + f"</tr></thead><tbody>{srows}</tbody></table>")
    for t in h.steps:
        if t.measured:
            body.append(f"<figure><h3>{esc(t.title)}</h3>"
                        + chart(t.durations_ms, t.statuses, labels, t.target_ms, "target",
                                f"{t.title} per run")
                        + "</figure>")
    body.append("</section>")
    if h.warnings:
        body.append('<section id="caveats"><h2>Caveats</h2><ul>'
                    + "".join(f"<li>{esc(w)}</li>" for w in h.warnings) + "</ul></section>")
    return page(f"Drill history: {h.title}", "\n".join(body) + "\n")


RENDERERS: dict[str, Callable[[History], str]] = {
    "table": table, "md": markdown, "json": as_json, "html": html}


def render_history(history: History, fmt: str) -> str:
    from swrun.files import safe_text

    text = RENDERERS[fmt](history)
    return safe_text(text) if fmt in ("table", "md") else text  # shown on a terminal
