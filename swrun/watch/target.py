"""Which log `swrun watch [LOG | RUNBOOK]` follows, and the runbook to draw it with."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from swrun.errors import RunLogError, UsageError
from swrun.files import NotRegular, check_path
from swrun.runlog import peek_header as read_header
from swrun.watch.tail import held_locks, lock_holder


def _held(path: Path, locks: dict[tuple[int, int, int], int]) -> bool:
    return lock_holder(path, locks) is not None


def find_log(target: str | None, base: Path = Path("logs")) -> Path:
    """A LOG as given; for a RUNBOOK its run in progress (else its newest log); with
    neither, the run in progress on this machine (the newest, if several)."""
    if target is None:
        from swrun.ps import runs_in_progress

        runs = [r for r in runs_in_progress(base) if r.log is not None]
        if not runs:
            raise UsageError("watch: no run in progress on this machine; name a LOG or a "
                             "RUNBOOK (`swrun ps` lists the runs in progress)")
        if len(runs) > 1:
            others = ", ".join(f"{r.state.runbook} ({r.state.run_id})" for r in runs[:-1])
            print(f"swrun: {len(runs)} runs in progress; watching the newest (also: {others})",
                  file=sys.stderr)
        last = runs[-1].log
        assert last is not None
        return last
    path = Path(target)
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        try:
            check_path(path)  # a FIFO or /dev/zero: one line, not a hang
        except NotRegular as exc:
            raise RunLogError(str(exc)) from None
    header = read_header(path)
    if path.suffix == ".toml" or header is not None:
        if not path.exists():
            raise RunLogError(f"{path}: no such run log")
        if header is None:
            raise RunLogError(f"{path}: not a swrun run log (no [run] table)")
        return path
    if not path.is_file():
        raise UsageError(f"watch: {target}: no such log or runbook")
    from swrun.runlog import find_logs

    logs = find_logs(path, base)
    if not logs:
        raise RunLogError(f"no run logs of {target} under {base}/")
    locks = held_locks()
    live = [log for log in logs if _held(log, locks)]
    return live[0] if live else logs[0]


def runbook_of(log: Path, given: str | None = None) -> Path | None:
    """The runbook file the log names: as written (relative to here), else relative to the
    folder above `logs/` (where the run was started); None when it cannot be found."""
    if given is not None and Path(given).suffix != ".toml" and Path(given).is_file():
        return Path(given)
    header = read_header(log) or {}
    named = header.get("runbook")
    if not isinstance(named, str) or not named:
        return None
    candidates = [Path(named)]
    if not Path(named).is_absolute():
        candidates += [parent / named for parent in log.resolve().parents[:4]]
    return next((c for c in candidates if c.is_file()), None)
