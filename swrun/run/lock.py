"""The runbook's lock: one swrun per runbook, taken in the machine-wide registry."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from swrun.model import Runbook

if TYPE_CHECKING:
    from swrun.registry import RunbookLock


def hold_runbook(runbook: Runbook, operator: str, *, concurrent: bool = False,
                 base: Path = Path("logs"), create: bool = True,
                 warn: Callable[[str], None] | None = None) -> RunbookLock | None:
    """Take the runbook's lock in the machine-wide registry (swrun/registry.py) for this
    run, or LogLockedError naming who holds it; `concurrent` runs anyway (warned, default on
    stderr). Front ends call this before they ask anything (`base` and `create` are left
    from the per-folder lock; a second call is made only when the first gave nothing)."""
    import socket

    from swrun.events import format_time, utcnow
    from swrun.registry import RunbookLock

    info = {"runbook": runbook.path, "environment": runbook.environment or None,
            "operator": operator, "pid": os.getpid(), "host": socket.gethostname(),
            "since": format_time(utcnow())}
    lock, warning = RunbookLock.acquire(runbook.path, info, base=base, concurrent=concurrent,
                                        create=create)
    if warning:
        if warn is None:
            print(f"swrun: warning: {warning}", file=sys.stderr)
        else:
            warn(warning)
    return lock
