"""`swrun new`, `swrun doctor` and `swrun completion`: getting set up."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from swrun import completion as _complete  # click only: completion callbacks
from swrun.commands.base import RUNBOOK_PATH, friendly
from swrun.exitcodes import ExitCode


@click.command("new")
@click.argument("file", type=click.Path(dir_okay=False), shell_complete=_complete.runbook_files)
@click.option("--template", "-t", default="checklist", show_default=True,
              type=click.Choice(["checklist", "blue-green", "rollback", "drill", "incident",
                                 "backup"]),
              help="What kind of runbook to start from.")
@click.option("--title", help="The runbook's title (default: from the file name).")
@friendly
def new(file: str, template: str, title: str | None) -> None:
    """Write a new runbook FILE from a template (never over an existing file)."""

    from swrun.new import write_runbook

    write_runbook(Path(file), template, title)
    click.echo(f"swrun: wrote {file} from the {template} template; next: swrun check --strict "
               f"{file}, swrun plan {file}", err=True)


@click.command()
@click.argument("runbook", required=False, type=RUNBOOK_PATH,
               shell_complete=_complete.runbook_files)
@click.option("--inventory", "-i", type=click.Path(),
              help="Inventory for the runbook's hosts (default: the front matter's).")
@click.option("--connect", is_flag=True,
              help="Also connect to every targeted host (key, login), as check --connect.")
@click.option("--logs", "logs_dir", default="logs", show_default=True,
              type=click.Path(file_okay=False), help="Where run logs will be written.")
@friendly
def doctor(runbook: str | None, inventory: str | None, connect: bool, logs_dir: str) -> None:
    """Is this machine ready to run RUNBOOK (or any runbook)? One line per check, ✓ or ✗
    with the fix; exit 1 on any ✗ (see docs/cli.md)."""

    from swrun.doctor import BAD, diagnose

    book = None
    if runbook is not None:
        from swrun.parser import load_runbook

        book = load_runbook(runbook)
    failed = False
    for finding in diagnose(book, inventory=inventory, connect=connect, logs=Path(logs_dir)):
        click.echo(str(finding))
        failed = failed or finding.mark == BAD
    sys.exit(1 if failed else int(ExitCode.OK))


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (see README.md: Shell completion)."""
    click.echo(_complete.script(shell, click.get_current_context().find_root().command),
               nl=False)


COMMANDS = (new, doctor, completion)
