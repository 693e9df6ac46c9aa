"""`swrun ls [DIR]`: the runbooks under a folder, as `just --list` lists recipes — title,
environment, steps, and the last run with its result (from the run logs)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from swrun.errors import SwrunError

SKIP_DIRS = frozenset({"node_modules", "logs", "__pycache__", "site-packages"})
"""Folders never searched (besides hidden ones): dependencies and run logs."""
SUFFIXES = (".md", ".markdown")


@dataclass(frozen=True)
class Listed:
    path: str
    title: str
    environment: str
    steps: int
    """Main-pass steps (what `[n/N]` counts)."""
    last_run: str | None
    """When the newest run started (UTC, `2026-11-22 09:00`), None when it never ran."""
    result: str | None
    """Its outcome: `completed`, `failed`, `rolled back`…, `running`, `unfinished`."""
    log: str | None
    problem: str | None = None
    """The first error when the file does not load as a runbook (then it has no steps)."""


def runbook_files(folder: Path) -> list[Path]:
    """Markdown files under `folder`, sorted, hidden and SKIP_DIRS folders left out."""
    found = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS
                         and not d.endswith((".run", ".output", ".approvals")))
        found += [Path(here) / f for f in files
                  if f.endswith(SUFFIXES) and not f.startswith(".")]
    return sorted(found)


def listing(folder: Path, logs: Path) -> list[Listed]:
    """Each Markdown file under `folder` that holds steps (or does not load: said why)."""
    from swrun.parser import parse_file

    out = []
    for path in runbook_files(folder):
        try:
            result = parse_file(path)
        except (SwrunError, OSError, UnicodeDecodeError) as exc:
            out.append(Listed(str(path), path.stem, "", 0, None, None, None, str(exc)))
            continue
        rb = result.runbook
        if result.errors:
            out.append(Listed(str(path), rb.title or path.stem, rb.environment or "", 0, None,
                              None, None, str(result.errors[0].message)))
            continue
        if not any(s.actionable for s in rb.steps):
            continue  # prose: a README, a design note
        when, outcome, log = last_run(path, rb.sha256, logs)
        out.append(Listed(str(path), rb.title or path.stem, rb.environment or "",
                          len(rb.main_steps), when, outcome, log))
    return out


def last_run(path: Path, sha256: str, logs: Path) -> tuple[str | None, str | None, str | None]:
    """(started, outcome, log) of the newest run of the runbook at `path` under `logs`."""
    from swrun.runlog import find_logs, read_log
    from swrun.watch.tail import lock_holder

    found = find_logs(path, logs, sha256=sha256)
    if not found:
        return None, None, None
    newest = found[0]
    try:
        data = read_log(newest)
    except SwrunError as exc:
        return None, f"unreadable ({exc})", str(newest)
    started = str(data.run.get("started_at") or "")[:16].replace("T", " ") or None
    outcome = "unfinished"
    for event in reversed(data.events):
        if event.get("type") == "run_finished":
            outcome = str(event.get("status") or "?").replace("_", " ")
            break
        if event.get("type") in ("run_started", "run_resumed"):
            break
    if outcome == "unfinished" and lock_holder(newest) is not None:
        outcome = "running"
    return started, outcome, str(newest)


def render_table(rows: list[Listed]) -> str:
    from swrun.files import safe_text

    head = ("RUNBOOK", "TITLE", "ENVIRONMENT", "STEPS", "LAST RUN (UTC)", "RESULT")
    table = [head]
    for r in rows:
        if r.problem:
            table.append((r.path, r.title, r.environment or "-", "-", "-",
                          f"does not load: {r.problem}"))
            continue
        table.append((r.path, r.title, r.environment or "-", str(r.steps),
                      r.last_run or "never run", r.result or "-"))
    table = [tuple(safe_text(c).replace("\n", " ") for c in row) for row in table]
    widths = [max(len(row[i]) for row in table) for i in range(len(head) - 1)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True))
                   + "  " + row[-1] + "\n" for row in table)


def as_dicts(rows: list[Listed]) -> list[dict[str, object]]:
    return [asdict(r) for r in rows]
