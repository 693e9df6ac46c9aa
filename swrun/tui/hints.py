"""The commands the console names on leaving (and in its quit question): each one works
when pasted, with the options of this run that the next one needs again."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from swrun.tui.settings import TuiSettings


def run_command(runbook: str | Path, settings: TuiSettings, resume: Path | None = None) -> str:
    """`swrun run FILE [--resume LOG]` with --inventory and --sign-with as this run had them
    (the log gives the variables and what is done; a new run writes a new log)."""
    argv = ["swrun", "run", str(runbook)]
    if resume is not None:
        argv += ["--resume", str(resume)]
    if settings.inventory:
        argv += ["--inventory", settings.inventory]
    if settings.sign_with:
        argv += ["--sign-with", settings.sign_with]
    return shlex.join(argv)


def leaving_hints(runbook: str | Path, settings: TuiSettings, log_path: Path | None,
                  ended: str | None, started: bool) -> list[str]:
    """What to do next, once the console is gone. `ended`: the run's end status (None: it
    did not end, the operator quit while it waited); `started`: the engine ran at all."""
    if log_path is None or not started:
        return []
    if ended is None:
        return [f"the run is unfinished; continue it with: "
                f"{run_command(runbook, settings, resume=log_path)}"]
    if ended == "rolled_back":  # resuming it would start again at step 1 in the same log
        return [f"the run rolled back; to try again, start a new run: "
                f"{run_command(runbook, settings)}"]
    return []
