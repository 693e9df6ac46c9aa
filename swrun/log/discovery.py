"""Where a runbook's logs are: the path a new run's log gets, every log of a runbook under
a folder (`find_logs`), and the newest run when it did not complete (`find_unfinished`)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from swrun.events import RunStatus, format_time
from swrun.log.reader import peek_header, read_log


def default_log_path(
    runbook_path: str | Path, run_id: str, now: datetime, base: Path = Path("logs")
) -> Path:
    """`logs/<runbook stem>/<UTC stamp>-<run id>.toml` (a naive `now` is taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return base / Path(runbook_path).stem / f"{stamp}-{run_id}.toml"


def _same_runbook(logged: str, runbook: Path) -> bool:
    """The log names this runbook; a log whose runbook no longer exists matches by directory."""
    try:
        return os.path.samefile(logged, runbook)
    except OSError:
        return not Path(logged).exists()


def _started_at(path: Path, header: dict[str, Any] | None) -> str:
    """When a log's run started: its header, else the stamp in its name, else its mtime."""
    started = header.get("started_at") if header else None
    if isinstance(started, str):
        return started
    try:
        when = datetime.strptime(path.name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        when = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return format_time(when)


def find_logs(runbook_path: str | Path, base: Path = Path("logs"), *,
              sha256: str | None = None) -> list[Path]:
    """Every run log of a runbook anywhere under `base` (at any depth), newest first.

    A log is the runbook's when its `[run]` names this file (the same file, whatever path
    the run was given), or, with `sha256`, a runbook with exactly this content (a copy, or
    the same file reached from another directory). In `base/<stem>/`, where swrun writes a
    runbook's logs, a log whose header names no runbook (cut short before it was written)
    or one that no longer exists counts too. Hidden files and folders and the `.run` folders
    beside logs are not searched; symbolic links to folders are not followed."""
    runbook = Path(runbook_path)
    home = os.path.normpath(base / runbook.stem)
    found: list[tuple[str, str, Path]] = []
    for folder, dirs, files in os.walk(base):  # a missing base yields nothing
        dirs[:] = [d for d in dirs if not d.startswith(".") and not d.endswith(".run")]
        in_home = os.path.normpath(folder) == home
        for name in files:
            if name.startswith(".") or not name.endswith(".toml"):
                continue
            path = Path(folder) / name
            if not path.is_file():
                continue
            header = peek_header(path)
            logged = header.get("runbook") if header else None
            if isinstance(logged, str):
                try:
                    same = os.path.samefile(logged, runbook)
                except OSError:
                    same = in_home and not os.path.lexists(logged)
                if not (same or (sha256 and header and header.get("sha256") == sha256)):
                    continue
            elif not in_home:
                continue  # no header: whose it is, only the folder says
            found.append((_started_at(path, header), path.name, path))
    return [p for *_, p in sorted(found, reverse=True)]


def find_unfinished(runbook_path: str | Path, base: Path = Path("logs")) -> Path | None:
    """The newest run of a runbook, when it did not end `completed` (dry runs excepted).

    Only the newest real run counts: once a later run completed, an older unfinished one is
    stale and is not offered (pass its path to resume it anyway). An empty log (a crash
    between creating it and writing its header) is skipped; any other unreadable log raises,
    so an unreadable newest run is never silently passed."""
    for path in find_logs(runbook_path, base):
        try:
            if path.stat().st_size == 0:
                continue
        except OSError:
            continue
        data = read_log(path)
        started = next((e for e in data.events if e.get("type") == "run_started"), {})
        if started.get("dry_run") is True:
            continue
        if not (data.finished and data.status == RunStatus.COMPLETED.value):
            return path
        return None
    return None
