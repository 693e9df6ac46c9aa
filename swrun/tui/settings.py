"""How one console run is set up: `TuiSettings` (the CLI's options, plus what tests freeze)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ANSWER_GUARD = 0.4
"""Seconds a check, a step's gate or a confirmation dialog is on screen before a key can
answer it: a key typed with the one before it (`r` then space) must not sign off a
question that was not there yet when it was pressed (the failure dialog has its own 0.6 s,
screens.KEY_GUARD)."""


@dataclass
class TuiSettings:
    """How this console run is set up (the CLI options, plus what tests freeze)."""

    operator: str
    variables: dict[str, str] = field(default_factory=dict)
    """Values given with --var."""
    log_path: str | None = None
    resume: str | None = None
    """None: offer to resume an unfinished log if there is one; "": the newest; else a path."""
    offer_resume: bool = True
    logs_base: Path = Path("logs")
    inventory: str | None = None
    accept_new_host_keys: bool = False
    run_id: str | None = None
    argv: list[str] | None = None
    kill_grace: float = 5.0
    environ: Mapping[str, str] | None = None
    clock: Callable[[], float] = time.monotonic
    """Drives the window clock and live elapsed times (tests freeze it)."""
    tick_interval: float = 1.0
    failure_key_guard: float = 0.6
    """Seconds after a failure dialog opens by itself during which its keys are not taken."""
    answer_guard: float = ANSWER_GUARD
    """Seconds a check, gate or confirmation is on screen before a key can answer it."""
    concurrent: bool = False
    """--concurrent: run even while another swrun runs this runbook (warned, not refused)."""
    sign_with: str | None = None
    """--sign-with: the SSH key that signs the log (else front matter or $SWRUN_SIGNING_KEY)."""
    no_carry: bool = False
    """--no-carry: a resume starts without the shell state the log carries."""
