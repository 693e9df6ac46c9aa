"""The `swrun` command line: check, plan, execute, run; stdout is data, stderr diagnostics."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from swrun import __version__
from swrun.errors import (
    InventoryError,
    LogLockedError,
    RunbookError,
    RunLogError,
    SwrunError,
    VariableError,
)
from swrun.exitcodes import ExitCode

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
    """Turn user errors into one line on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SwrunError as exc:
            click.echo(f"swrun: {exc}", err=True)
            code = ExitCode.INVALID_RUNBOOK
            if isinstance(exc, VariableError):
                code = ExitCode.BAD_VARIABLES
            elif isinstance(exc, LogLockedError):
                code = ExitCode.LOG_LOCKED
            elif isinstance(exc, RunLogError):
                code = ExitCode.RESUME_FAILED
            elif isinstance(exc, RunbookError | InventoryError):
                code = ExitCode.INVALID_RUNBOOK
            sys.exit(int(code))

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="swrun")
def main() -> None:
    """Run Markdown runbooks step by step, with an append-only TOML run log."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--inventory", "-i", type=click.Path(), help="Inventory to check hosts against.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@_friendly
def check(files: tuple[str, ...], inventory: str | None, strict: bool) -> None:
    """Report every problem in FILES as `file:line: severity: message`."""
    from swrun.checks import check_runbook
    from swrun.errors import Severity
    from swrun.parser import parse_file

    errors = warnings = 0
    for path in files:
        try:
            result = parse_file(path, strict=strict)
        except RunbookError as exc:
            click.echo(str(exc.diagnostic))
            errors += 1
            continue
        for diag in check_runbook(result, inventory, strict=strict):
            click.echo(str(diag))
            if diag.severity is Severity.ERROR:
                errors += 1
            else:
                warnings += 1
    summary = f"{len(files)} file(s): {errors} error(s), {warnings} warning(s)"
    click.echo(summary, err=True)
    sys.exit(int(ExitCode.INVALID_RUNBOOK if errors else ExitCode.OK))


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (see docs/cli.md).")
@click.option("--all", "show_all", is_flag=True, help="Also list reference blocks.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@_friendly
def plan(file: str, as_json: bool, show_all: bool, strict: bool) -> None:
    """Show the numbered steps FILE turns into, without running anything."""
    from swrun.parser import load_runbook
    from swrun.plan import plan_json, plan_text

    runbook = load_runbook(file, strict=strict)
    if as_json:
        click.echo(json.dumps(plan_json(runbook), indent=2, ensure_ascii=False))
    else:
        click.echo(plan_text(runbook, show_all=show_all), nl=False)
