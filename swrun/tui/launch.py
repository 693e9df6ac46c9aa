"""`swrun run`: build the console from command-line options and run it."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from swrun.exitcodes import ExitCode


@dataclass
class RunOptions:
    """`swrun run FILE [--var K=V] [--inventory PATH] [--log PATH] [--resume [LOG]]
    [--operator NAME]`."""

    file: str
    variables: list[str] = field(default_factory=list)
    inventory: str | None = None
    log: str | None = None
    resume: str | None = None
    """None: offer to resume an unfinished log; "": the newest unfinished log; else a path."""
    operator: str | None = None
    strict: bool = False
    accept_new_host_keys: bool = False
    argv: list[str] | None = None
    """The command line recorded in the log header (default sys.argv)."""
    concurrent: bool = False
    """Run even while another swrun runs the same runbook."""
    sign_with: str | None = None
    """The SSH key that signs the log."""
    no_carry: bool = False
    """--resume without the shell state the log carries."""


def run_tui(opts: RunOptions) -> int:
    """Run the console; returns the process exit code (the same codes as `swrun execute`).

    Raises SwrunError subclasses for a bad runbook or --var before the UI starts."""
    from swrun.checks import load_checked
    from swrun.session import operator_name
    from swrun.tui.app import SwrunApp, TuiSettings
    from swrun.variables import parse_assignments

    runbook = load_checked(opts.file, strict=opts.strict)
    settings = TuiSettings(
        operator=operator_name(opts.operator),
        variables=parse_assignments(opts.variables),
        log_path=opts.log, resume=opts.resume, inventory=opts.inventory,
        accept_new_host_keys=opts.accept_new_host_keys,
        argv=list(sys.argv if opts.argv is None else opts.argv),
        concurrent=opts.concurrent, sign_with=opts.sign_with, no_carry=opts.no_carry,
    )
    from swrun.tui.stderr import held_stderr

    app = SwrunApp(runbook, settings=settings)

    def mask(text: str) -> str:
        return app.engine.masker.mask(text) if app.engine is not None else text

    with held_stderr(mask):  # nothing else draws over the console (swrun/tui/stderr.py)
        code = app.run()
    if app.error:
        print(f"swrun: {app.error}", file=sys.stderr)
    if app.log_path is not None:
        print(f"swrun: log: {app.log_path}", file=sys.stderr)
    for line in app.leaving_hints():
        print(f"swrun: {line}", file=sys.stderr)
    return int(ExitCode.OK if code is None else code)
