"""`swrun check` and `swrun plan`: what a runbook says, before anything runs."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from swrun import completion as _complete  # click only: completion callbacks
from swrun.commands.base import RUNBOOK_PATH, friendly
from swrun.errors import RunbookError
from swrun.exitcodes import ExitCode


@click.command()
@click.argument("files", nargs=-1, required=True, type=RUNBOOK_PATH,
                shell_complete=_complete.runbook_files)
@click.option("--inventory", "-i", type=click.Path(), help="Inventory to check hosts against.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--connect", is_flag=True,
              help="Also connect to every targeted host: known host key, working auth.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one document with every finding (for CI).")
@friendly
def check(files: tuple[str, ...], inventory: str | None, strict: bool, connect: bool,
          fmt: str) -> None:
    """Report every problem in FILES as `file:line: severity: message`."""
    from swrun.checks import check_runbook
    from swrun.errors import Severity
    from swrun.parser import parse_file

    errors = warnings = infos = 0
    found: list[dict[str, Any]] = []
    for path in files:
        try:
            result = parse_file(path, strict=strict)
            diags = check_runbook(result, inventory, strict=strict, connect=connect)
        except RunbookError as exc:
            diags = [exc.diagnostic]
        for diag in diags:
            if fmt == "json":
                as_dict = getattr(diag, "as_dict", None)
                found.append(as_dict() if as_dict else {
                    "path": diag.path or path, "line": diag.line, "severity": diag.severity.value,
                    "rule": None, "name": None, "message": diag.message, "fix": None})
            else:
                click.echo(str(diag))
            if diag.severity is Severity.ERROR:
                errors += 1
            elif diag.severity is Severity.INFO:
                infos += 1
            else:
                warnings += 1
    if fmt == "json":
        click.echo(json.dumps({"files": len(files), "errors": errors, "warnings": warnings,
                               "infos": infos, "findings": found}, indent=2,
                              ensure_ascii=False))
    summary = f"{len(files)} file(s): {errors} error(s), {warnings} warning(s)" + (
        f", {infos} info" if infos else "")
    click.echo(summary, err=True)
    sys.exit(int(ExitCode.INVALID_RUNBOOK if errors else ExitCode.OK))


@click.command()
@click.argument("file", type=RUNBOOK_PATH, shell_complete=_complete.runbook_files)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (see docs/cli.md).")
@click.option("--all", "show_all", is_flag=True, help="Also list reference blocks.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@friendly
def plan(file: str, as_json: bool, show_all: bool, strict: bool) -> None:
    """Show the numbered steps FILE turns into, without running anything."""
    from swrun.checks import load_checked
    from swrun.plan import plan_json, plan_text

    runbook = load_checked(file, strict=strict)
    from swrun.variables import environment_notes

    for note in environment_notes(runbook):  # a value the shell, not the runbook, supplies
        click.echo(f"swrun: {note}", err=True)
    if as_json:
        click.echo(json.dumps(plan_json(runbook), indent=2, ensure_ascii=False))
    else:
        click.echo(plan_text(runbook, show_all=show_all), nl=False)


COMMANDS = (check, plan)
