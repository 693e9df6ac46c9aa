"""The self-contained HTML page shell shared by timeline and history exports: a strict CSP,
inline CSS (screen and print), no script, nothing fetched."""

from __future__ import annotations

import html

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
       "form-action 'none'")
"""Nothing may load: no script, no font, no image, no request of any kind."""

CSS = """
:root { --fg: #1b1b1b; --muted: #616161; --line: #d0d0d0; --ok: #2e7d32; --error: #c62828;
  --warn: #ef6c00; --skip: #9e9e9e; --milestone: #6a1b9a; --band: #f5f5f5; --accent: #1565c0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: #fff; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .5rem;
  border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
.meta { color: var(--muted); margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem;
  border-bottom: 1px solid var(--line); }
th { background: var(--band); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
tr.failed td { background: #fdecea; } tr.failed .status, .failed-text { color: var(--error);
  font-weight: 600; }
tr.milestone td { background: #f3e5f5; } tr.milestone .what { color: var(--milestone);
  font-weight: 600; }
.status.ok, .status.ticked, .status.completed { color: var(--ok); }
.notes div { white-space: pre-wrap; } .notes .out { font-family: ui-monospace, monospace;
  font-size: 12px; color: var(--muted); }
dl.metrics { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dl.metrics dt { font-weight: 600; } dl.metrics dd { margin: 0; }
figure { margin: 0; } figcaption { color: var(--muted); font-size: 12px; margin-top: .3rem; }
svg { width: 100%; height: auto; display: block; font-family: inherit; }
svg.history-chart { max-width: 44rem; }
svg text { font-size: 11px; fill: var(--fg); }
svg .axis text, svg text.muted { fill: var(--muted); }
svg .grid { stroke: var(--line); stroke-width: 1; } svg .lane-band { fill: var(--band); }
svg .bar { fill: var(--ok); }
svg .bar.failed, svg .bar.timed_out, svg .bar.aborted { fill: var(--error); }
svg .bar.incomplete { fill: #fff; stroke: var(--error); stroke-width: 1.5; stroke-dasharray: 3 2; }
svg .bar.skipped { fill: var(--skip); } svg .bar.dry_run { fill: var(--accent); }
svg .marker { stroke: var(--milestone); stroke-width: 1.5; stroke-dasharray: 5 3; }
svg .marker-label { fill: var(--milestone); font-weight: 600; }
svg .target { stroke: var(--warn); stroke-width: 1.5; stroke-dasharray: 6 3; fill: none; }
svg .series { stroke: var(--accent); stroke-width: 2; fill: none; }
svg .point { fill: var(--accent); } svg .point.over, svg .point.failed { fill: var(--error); }
.legend span { display: inline-block; margin-right: 1rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; vertical-align: -1px;
  margin-right: .3rem; } .swatch.ok { background: var(--ok); }
.swatch.failed { background: var(--error); }
.swatch.incomplete { border: 1.5px dashed var(--error); }
.swatch.milestone { background: var(--milestone); } .swatch.target { background: var(--warn); }
.spark { font-family: ui-monospace, monospace; letter-spacing: 1px; }
.over { color: var(--error); font-weight: 600; } .under { color: var(--ok); }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; } tr, figure { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n"
        "</html>\n"
    )


def nice_step(span_s: float, max_ticks: int = 8) -> float:
    """A round tick interval (1s, 2s, 5s, 10s, 15s, 30s, 1m, ...) giving at most max_ticks."""
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
                 7200, 10800, 21600, 43200, 86400):
        if span_s / step <= max_ticks:
            return step
    return 86400 * (int(span_s / 86400 / max_ticks) + 1)
