"""A run session: what both front ends (`swrun execute` and the console) share around the
engine, behind one face. Front ends import from here, never from the modules below.

- `resume`: the resume point (an unfinished log, locked and read) and settling the steps
  the run that died left running
- `leftovers`: such a step, looked for locally or over SSH, and stopped
- `logfile`: the run log opened (or continued) and signed
- `preflight`: `--confirm`/`--done` steps resolved, approvals needed
- `lock`: the runbook's lock in the machine-wide registry
- `exits`: the exit code a run ends with
"""

from __future__ import annotations

from swrun.run.exits import EXIT
from swrun.run.leftovers import Leftover, RemoteGroup, find_leftovers, stop_leftover
from swrun.run.lock import hold_runbook
from swrun.run.logfile import open_run_log, sign_run_log
from swrun.run.preflight import approvals_preflight, confirmed_steps, done_steps, needs_approval
from swrun.run.resume import ResumePoint, resume_point, settle_leftovers

__all__ = [
    "EXIT",
    "Leftover",
    "RemoteGroup",
    "ResumePoint",
    "approvals_preflight",
    "confirmed_steps",
    "done_steps",
    "find_leftovers",
    "hold_runbook",
    "needs_approval",
    "open_run_log",
    "resume_point",
    "settle_leftovers",
    "sign_run_log",
    "stop_leftover",
]
