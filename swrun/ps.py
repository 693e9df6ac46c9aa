"""`swrun ps`: the runs in progress on this machine, from the machine-wide run registry
(swrun/registry.py), whoever started them and wherever; and, as before, any log under
`--logs` that a live swrun holds (a run of an older swrun that kept no registry entry).

Nothing is locked or written here. An entry counts only while its run lives (the registry
checks the file's owner, the pid and its start time); a killed run is not in progress.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swrun import registry
from swrun.files import safe_text
from swrun.watch.status import RunState
from swrun.watch.tail import LogTail, file_key, held_locks


@dataclass
class Running:
    log: Path | None
    """None while the run has not made its log yet (it is asking for variables)."""
    pid: int
    state: RunState
    holder: dict[str, Any]
    """What the run's registry entry says (empty for a run found by its log alone)."""
    user: str = ""
    locked: bool = True
    """False for a `--concurrent` run beside the lock's holder."""

    @property
    def waiting_for(self) -> str:
        if self.state.events:
            return self.state.waiting_text()
        return str(self.holder.get("waiting_for") or "")

    def as_json(self) -> dict[str, Any]:
        s = self.state
        cur = s.current or {}
        return {
            "runbook": s.runbook, "title": s.run.get("title"), "run_id": s.run_id,
            "operator": s.operator, "user": self.user or None,
            "environment": s.run.get("environment"),
            "started_at": s.started_at, "log": str(self.log) if self.log else None,
            "pid": self.pid, "host": self.holder.get("host"),
            "runbook_file": self.holder.get("runbook_file"), "cwd": self.holder.get("cwd"),
            "locked": self.locked,
            "step": cur.get("step"), "step_number": cur.get("number"),
            "step_title": cur.get("title"),
            "waiting_for": self.waiting_for or None, "last_event_at": s.last_at or None,
            "finishing": s.finished is not None,
        }


def _logs(base: Path) -> list[Path]:
    out = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.endswith((".run",
                                                                                  ".output"))]
        out += [Path(folder) / n for n in files if n.endswith(".toml") and not n.startswith(".")]
    return out


def _read(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]] | None:
    """The log's header and events; None when it cannot be read (another user's log)."""
    tail = LogTail(path)
    try:
        records: list[dict[str, Any]] = []
        while batch := tail.poll():
            records += batch
    except Exception:
        return None
    finally:
        tail.close()
    return tail.run, records


def _from_entry(info: dict[str, Any]) -> RunState:
    """Where a run is, from its registry entry alone (its log is not readable here)."""
    run = {"runbook": info.get("runbook"), "id": info.get("run_id"),
           "operator": info.get("operator"), "environment": info.get("environment"),
           "started_at": info.get("since")}
    state = RunState.of({k: v for k, v in run.items() if v is not None}, [])
    if info.get("step"):
        state.current = {"type": "step_started", "step": info.get("step"),
                         "number": info.get("step_number"), "title": info.get("step_title")}
    return state


def runs_in_progress(base: Path = Path("logs"), folder: Path | None = None) -> list[Running]:
    """Every run the registry knows, and every log under `base` a live swrun holds (each
    once), oldest start first."""
    locks = held_locks()
    found: list[Running] = []
    seen: set[str] = set()
    reg = registry.registry_dir() if folder is None else folder
    for entry in registry.entries(reg):
        info = entry.info
        log = Path(info["log"]) if isinstance(info.get("log"), str) else None
        got = _read(log) if log is not None else None
        state = RunState.of(got[0], got[1]) if got is not None and got[0] else \
            _from_entry(info)
        holder = registry.lock_holder(reg, entry.key, locks)
        locked = bool(info.get("locked")) and (holder == entry.pid or not locks)
        found.append(Running(log, entry.pid, state, info, entry.user, locked))
        if log is not None:
            seen.add(os.path.realpath(log))
    for path in _logs(base):  # runs that kept no registry entry
        if os.path.realpath(path) in seen:
            continue
        try:
            pid = locks.get(file_key(os.stat(path)))
        except OSError:
            continue
        if not pid:
            continue
        got = _read(path)
        if got is None:
            continue
        found.append(Running(path, pid, RunState.of(got[0], got[1]), {}))
    return sorted(found, key=lambda r: r.state.started_at)


def _since(at: str) -> str:
    return at[:19].replace("T", " ") if at else "?"


def render_table(runs: list[Running]) -> str:
    """One row per run: RUNBOOK RUN OPERATOR USER PID STARTED (UTC) STEP WAITING FOR LOG
    (what came from files is shown without terminal escapes)."""
    head = ("RUNBOOK", "RUN", "OPERATOR", "USER", "PID", "STARTED (UTC)", "STEP",
            "WAITING FOR", "LOG")
    rows = [head]
    for r in runs:
        s = r.state
        step = s.current or {}
        where = f"{step.get('number') or '↺'}. {step.get('title') or step.get('step')}" \
            if step else ("finishing" if s.finished is not None else "-")
        book = str(r.holder.get("runbook_file") or s.runbook or r.log or "?")
        pid = str(r.pid) + ("" if r.locked else " (--concurrent)")
        rows.append(tuple(safe_text(c).replace("\n", " ") for c in (
            book, s.run_id or "?", s.operator or "?", r.user or "?", pid,
            _since(s.started_at), where, r.waiting_for or "-", str(r.log or "-"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True))
                   + "  " + row[-1] + "\n" for row in rows)
