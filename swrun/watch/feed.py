"""`swrun watch --plain`: the run as a scrolling text feed, `tail -f` style, one line per event
and every output line (a flood is cut to its last lines, with a count)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from swrun.files import safe_text
from swrun.watch.source import Update, WatchSource
from swrun.watch.status import DIED, ENDED, FINISHING, LIVE, ROTATED
from swrun.watch.tail import OutputChunk
from swrun.words import plural

POLL = 0.05
_ICONS = {"ok": "✓", "ticked": "☑", "skipped": "↷", "failed": "✗", "timed_out": "⏱",
          "aborted": "■", "dry_run": "·"}
INDENT = " " * 9 + "│ "


def _name(rec: Mapping[str, Any]) -> str:
    n = rec.get("number")
    return f"{n if isinstance(n, int) else '↺'}. {rec.get('title') or rec.get('step')}"


def event_line(rec: Mapping[str, Any]) -> str | None:
    """One event as a feed line (None: nothing to say)."""
    kind = rec.get("type")
    at = str(rec.get("at", ""))[11:19] or "--:--:--"
    by = f" by {rec['by']}" if rec.get("by") else ""
    note = f": {rec['note']}" if rec.get("note") else ""
    text: str | None = None
    if kind == "run_started":
        text = f"▶ run {rec.get('run_id')} started by {rec.get('operator')} " \
               f"({plural(rec.get('steps'), 'step')})"
    elif kind == "run_resumed":
        text = f"▶ run resumed by {rec.get('operator')} ({rec.get('done')} steps already done)"
    elif kind == "step_started":
        where = f" on {rec['host']}" if rec.get("host") else (
            f" on {', '.join(rec['hosts'])}" if rec.get("hosts") else "")
        attempt = f" (attempt {rec['attempt']})" if rec.get("attempt") else ""
        text = f"⟳ {_name(rec)}{where}{attempt}"
    elif kind == "step_finished":
        status = str(rec.get("status"))
        took = f" ({rec['duration_ms']}ms)" if isinstance(rec.get("duration_ms"), int) else ""
        code = f", exit {rec['exit_code']}" if rec.get("exit_code") not in (None, 0) else ""
        err = f": {rec['error']}" if rec.get("error") else ""
        retry = " — will retry" if rec.get("will_retry") else ""
        text = f"{_ICONS.get(status, '?')} {_name(rec)} {status}{took}{code}{err}{retry}"
    elif kind in ("check_ticked", "step_skipped"):
        status = str(rec.get("status") or ("ticked" if kind == "check_ticked" else "skipped"))
        text = f"{_ICONS.get(status, '?')} {_name(rec)} {status}{by}{note}"
    elif kind == "operator_waiting":
        text = (f"⏸ {_name(rec)} failed: the operator decides what now"
                if rec.get("reason") == "failure" else
                f"⏸ {_name(rec)} waits for the operator ({rec.get('reason')})")
    elif kind == "approval_needed":
        who = ", ".join(rec.get("waiting_for") or ())
        text = f"🔏 {_name(rec)} needs {rec.get('approvals')} approval(s)" + \
            (f" from {who}" if who else "")
    elif kind == "approval":
        text = f"🔏 {_name(rec)} approved{by} ({rec.get('count')} of {rec.get('approvals')})"
    elif kind == "approval_refused":
        text = f"🔏 an approval of {_name(rec)} refused: {rec.get('error')}"
    elif kind == "note_added":
        text = f"✎ {rec.get('note')}{by}"
    elif kind == "milestone":
        text = f"⚑ {rec.get('milestone')}{by}{note}"
    elif kind == "rollback_started":
        text = f"↺ rollback started ({plural(rec.get('steps'), 'step')}){note}"
    elif kind == "rollback_finished":
        text = f"↺ rollback {rec.get('status')}"
    elif kind == "notification":
        err = f": {rec['error']}" if rec.get("error") else ""
        text = f"✉ {rec.get('notify')} → {rec.get('target')} {rec.get('status')}{err}"
    elif kind == "run_finished":
        counts = ", ".join(f"{v} {k}" for k, v in (rec.get("counts") or {}).items())
        text = f"■ run {str(rec.get('status')).replace('_', ' ')}" + \
            (f" ({counts})" if counts else "") + note
    return f"{at} {text}" if text is not None else None


def output_lines(chunk: OutputChunk) -> list[str]:
    lines = [INDENT + line for line in chunk.lines]
    if chunk.skipped:
        lines.insert(0, f"{INDENT}… {chunk.skipped:,} more lines (all of them are in the "
                        "output file) …")
    return lines


def header_line(source: WatchSource) -> str:
    run = source.state.run
    env = f" ({run['environment']})" if run.get("environment") else ""
    return (f"watching {source.path} — {run.get('title', '?')}{env}, run {run.get('id', '?')}, "
            f"started {str(run.get('started_at', '?'))[:19].replace('T', ' ')} UTC by "
            f"{run.get('operator', '?')} (read-only; ^C stops watching, not the run)")


DIED_EXIT = 1
"""`watch --plain` on a run that died (no swrun holds its log, no `run_finished`)."""


def feed(source: WatchSource, out: TextIO, *, poll: float = POLL,
         sleep: Callable[[float], None] = time.sleep) -> int:
    """Follow until the run is over: 0 when it ended, 7 when the log was rotated away, 1
    when it died (nobody holds its log and it has no end: nothing more will come until a
    resume, which `swrun watch` follows when started again). Everything shown came from
    files, so it is printed without their terminal escapes."""
    said_header = False
    while True:
        update: Update = source.poll()
        if not said_header and source.state.run:
            print(safe_text(header_line(source)), file=out, flush=True)
            said_header = True
        lines: list[str] = []
        for kind, item in update.items:
            if kind == "output":
                lines += output_lines(item)
            else:
                line = event_line(item)
                if line is not None:
                    lines.append(line)
        if update.liveness == DIED:
            lines.append(f"!! {source.ended_text()}")
        elif update.liveness in (LIVE, FINISHING) and source.state.events:
            lines.append(f"·· driven by {source.driver_text()}")
        elif update.liveness in (ENDED, ROTATED):
            lines.append(f"■■ {source.ended_text()}")
        if lines:
            out.write(safe_text("\n".join(lines)) + "\n")
            out.flush()
        if source.over:
            return 7 if source.liveness == ROTATED else 0
        if source.liveness == DIED:
            return DIED_EXIT
        if not update.items:
            sleep(poll)
