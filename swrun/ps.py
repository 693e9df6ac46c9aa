"""`swrun ps`: the runs in progress on this machine, found from the logs' locks.

A run holds a flock on its log for as long as it writes it (and on its runbook's `.lock-*`
file, which says who holds it). Both are looked up in /proc/locks: nothing is locked or
written here, and a lock left by a dead swrun is not a run in progress.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swrun.watch.status import RunState
from swrun.watch.tail import LogTail, file_key, held_locks, pid_alive, runbook_lock_info


@dataclass
class Running:
    log: Path
    pid: int
    state: RunState
    holder: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        s = self.state
        return {
            "runbook": s.runbook, "title": s.run.get("title"), "run_id": s.run_id,
            "operator": s.operator, "environment": s.run.get("environment"),
            "started_at": s.started_at, "log": str(self.log), "pid": self.pid,
            "host": self.holder.get("host"),
            "step": (s.current or {}).get("step"), "step_number": (s.current or {}).get("number"),
            "step_title": (s.current or {}).get("title"),
            "waiting_for": s.waiting_text() or None, "last_event_at": s.last_at or None,
            "finishing": s.finished is not None,
        }


def _logs(base: Path) -> list[Path]:
    out = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.endswith((".run",
                                                                                  ".output"))]
        out += [Path(folder) / n for n in files if n.endswith(".toml") and not n.startswith(".")]
    return out


def runs_in_progress(base: Path = Path("logs")) -> list[Running]:
    """Every log under `base` that a live swrun holds, oldest start first."""
    locks = held_locks()
    found: list[Running] = []
    for path in _logs(base):
        try:
            key = file_key(os.stat(path))
        except OSError:
            continue
        pid = locks.get(key)
        if not pid:
            continue
        tail = LogTail(path)
        try:
            records: list[dict[str, Any]] = []
            while batch := tail.poll():
                records += batch
        except Exception:
            continue
        finally:
            tail.close()
        holder = runbook_lock_info(path)
        found.append(Running(path, pid, RunState.of(tail.run, records), holder))
    if not locks:  # no /proc/locks (not Linux): the runbook locks' holders, if alive
        found += _from_lock_files(base)
    return sorted(found, key=lambda r: r.state.started_at)


def _from_lock_files(base: Path) -> list[Running]:
    out = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".lock-"):
                continue
            try:
                info = tomllib.loads((Path(folder) / name).read_text())
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            pid, log = info.get("pid"), info.get("log")
            if not (isinstance(pid, int) and isinstance(log, str) and pid_alive(pid)):
                continue
            tail = LogTail(Path(log))
            try:
                records = tail.poll()
            except OSError:
                continue
            finally:
                tail.close()
            out.append(Running(Path(log), pid, RunState.of(tail.run, records), info))
    return out


def _since(at: str) -> str:
    return at[:19].replace("T", " ") if at else "?"


def render_table(runs: list[Running]) -> str:
    """One row per run: RUNBOOK RUN OPERATOR STARTED (UTC) STEP WAITING FOR."""
    head = ("RUNBOOK", "RUN", "OPERATOR", "STARTED (UTC)", "STEP", "WAITING FOR")
    rows = [head]
    for r in runs:
        s = r.state
        step = s.current or {}
        where = f"{step.get('number') or '↺'}. {step.get('title') or step.get('step')}" \
            if step else ("finishing" if s.finished is not None else "-")
        rows.append((s.runbook or str(r.log), s.run_id or "?", s.operator or "?",
                     _since(s.started_at), where, s.waiting_text() or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True))
                   + "  " + row[-1] + "\n" for row in rows)
