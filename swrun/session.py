"""What both front ends share: the run header, the operator's name, and driving an engine
into the run log and a renderer (so the TUI and headless mode write identical logs)."""

from __future__ import annotations

import getpass
import socket
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swrun import __version__
from swrun.engine import Engine
from swrun.events import Event, RunFinished, format_time
from swrun.model import Runbook
from swrun.secrets import MASK, MIN_LEN, Masker
from swrun.variables import is_secret

if TYPE_CHECKING:
    from swrun.runlog import RunLog


def operator_name(given: str | None = None) -> str:
    if given:
        return given
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def masked_variables(runbook: Runbook, values: Mapping[str, str],
                     masker: Masker) -> dict[str, str]:
    """Declared variables for the log header: secret ones as ****, and any value that holds
    another secret (an environment variable's, say) masked too."""
    return {
        name: (MASK if is_secret(runbook.variables[name]) else masker.mask(value))
        for name, value in values.items()
        if name in runbook.variables
    }


def inventory_file(runbook: Runbook, given: str | None) -> Path | None:
    """The inventory a run uses: the one given, else the front matter's (relative to the
    runbook's folder); None when there is none or it does not exist."""
    path = Path(given) if given else (runbook.base_dir / runbook.inventory
                                      if runbook.inventory else None)
    return path if path is not None and path.is_file() else None


def _file_sha256(path: Path) -> str | None:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def run_header(
    runbook: Runbook, run_id: str, operator: str, values: Mapping[str, str], started: datetime,
    argv: list[str] | None = None, *, inventory: str | None = None,
    operator_key: str | None = None,
) -> dict[str, Any]:
    """The `[run]` table: with the runbook's SHA-256, the inventory's (when the run has one)
    and the fingerprint of the key the operator signs the log with."""
    from swrun.variables import secret_values

    masker = Masker(secret_values(runbook, values))
    inv = inventory_file(runbook, inventory)
    return {
        "id": run_id,
        "runbook": runbook.path,
        "sha256": runbook.sha256,
        "title": runbook.title,
        "environment": runbook.environment or None,  # left out when the runbook names none
        "operator": operator,
        "swrun_version": __version__,
        "started_at": format_time(started),
        "inventory": str(inv) if inv else None,
        "inventory_sha256": _file_sha256(inv) if inv else None,
        "operator_key": operator_key,
        "variables": masked_variables(runbook, values, masker),
        # where each value came from (--var, env, secretsmanager, default, asked, log): a
        # label, never the value; left out when the values do not say (variables.Values)
        "variable_sources": {name: source for name, source
                             in getattr(values, "sources", {}).items()
                             if name in runbook.variables} or None,
        "argv": masked_argv(runbook, sys.argv if argv is None else argv, masker),
    }


def masked_argv(runbook: Runbook, argv: list[str], masker: Masker) -> list[str]:
    """The command line for the log: every `--var NAME=VALUE` of a secret variable (each
    one: a repeated `--var` keeps only the last value, and the others must not show) as
    `NAME=****`, and any known secret masked wherever else it is."""
    from swrun.variables import looks_secret, secret_names

    secret = secret_names(runbook)
    out: list[str] = []
    given: list[str] = []
    expect = False
    for arg in argv:
        value: str | None = None
        if expect:
            value, expect = arg, False
        elif arg in ("--var", "-v"):
            expect = True
        elif arg.startswith("--var="):
            value = arg[len("--var="):]
        elif arg.startswith("-v") and not arg.startswith("--") and "=" in arg:
            value = arg[2:]
        name, eq, _ = (value or "").partition("=")
        if value is not None and eq and (name in secret or looks_secret(name)):
            if len(value) - len(name) - 1 >= MIN_LEN:
                given.append(value[len(name) + 1:])
            arg = arg[: len(arg) - len(value)] + f"{name}={MASK}"
        out.append(arg)
    return (masker.with_secrets(given) if given else masker).mask_all(out)


def drive(
    engine: Engine, log: RunLog | None, sink: Callable[[Event], None]
) -> RunFinished | None:
    """Iterate the engine: every event goes to the log first, then to the front end.

    With notifications or tracing configured (swrun.notify.hook), each event is also handed
    to them after the log has it; the deliveries that ended since come back as `notification`
    events, logged and shown here, between two of the engine's events."""
    from swrun.notify import may_hook

    finished: RunFinished | None = None
    hooks = None
    if may_hook(engine.runbook.metadata):  # nothing configured: the hook is not even imported
        from swrun.notify.hook import TeamHooks

        hooks = TeamHooks.for_engine(engine)
    events = engine.run()
    try:
        for event in events:
            if log is not None:
                log.append(event)
            sink(event)
            if isinstance(event, RunFinished):
                finished = event
            head = log.head if log is not None else None  # a witness of the chain head
            for extra in hooks.see(event, head) if hooks is not None else ():
                if log is not None:
                    log.append(extra)
                sink(extra)
    finally:
        events.close()  # on any error, the running step's process group is stopped
        if hooks is not None:
            for extra in hooks.close(wait=finished is not None):
                if log is not None and finished is not None:
                    log.append(extra)
                    sink(extra)
    return finished
