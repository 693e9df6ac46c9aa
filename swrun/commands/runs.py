"""`swrun watch`, `swrun ls` and `swrun ps`: runbooks and runs on this machine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from swrun import completion as _complete  # click only: completion callbacks
from swrun.commands.base import friendly
from swrun.errors import RunLogError, UsageError


@click.command()
@click.argument("target", required=False, metavar="[LOG | RUNBOOK]",
                shell_complete=_complete.log_files)
@click.option("--plain", is_flag=True,
              help="A scrolling text feed (tail -f style) instead of the console.")
@click.option("--logs", "logs_dir", default="logs", show_default=True,
              type=click.Path(file_okay=False), help="Where the run logs are.")
@friendly
def watch(target: str | None, plain: bool, logs_dir: str) -> None:
    """Follow a run from another terminal, read-only: LOG, the run of RUNBOOK in progress,
    or the run in progress here (see docs/team.md)."""

    from swrun.watch.source import WatchSource
    from swrun.watch.target import find_log, runbook_of

    log = find_log(target, Path(logs_dir))
    source = WatchSource(log)
    if plain or not (sys.stdout.isatty() and sys.stdin.isatty()):
        from swrun.watch.feed import feed

        try:
            sys.exit(feed(source, sys.stdout))
        finally:
            source.close()
    book_path = runbook_of(log, target)
    if book_path is None:
        raise RunLogError(f"{log}: cannot find the runbook it names "
                          f"({source.state.runbook or '?'}); watch it with --plain")
    from swrun.parser import load_runbook
    from swrun.watch.app import WatchApp

    code = WatchApp(source, load_runbook(book_path)).run()
    source.close()
    sys.exit(int(code or 0))


@click.command(name="ls")
@click.argument("folder", required=False, type=click.Path(file_okay=False))
@click.option("--logs", "logs_dir", default="logs", show_default=True,
              type=click.Path(file_okay=False), help="Where the run logs are.")
@click.option("--json", "as_json", is_flag=True, help="Print the runbooks as a JSON list.")
@friendly
def ls_command(folder: str | None, logs_dir: str, as_json: bool) -> None:
    """List the runbooks under FOLDER (default: runbooks/ if there is one, else .): title,
    environment, steps, and the last run with its result."""
    import json

    from swrun.listing import as_dicts, listing, render_table

    where = Path(folder) if folder else (Path("runbooks") if Path("runbooks").is_dir()
                                         else Path("."))
    if not where.is_dir():
        raise UsageError(f"{where}: no such folder")
    rows = listing(where, Path(logs_dir))
    if as_json:
        click.echo(json.dumps(as_dicts(rows), indent=2))
    elif rows:
        click.echo(render_table(rows), nl=False)
    else:
        click.echo(f"swrun: no runbooks under {where}", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the runs as a JSON list.")
@click.option("--logs", "logs_dir", default="logs", show_default=True,
              type=click.Path(file_okay=False), help="Where the run logs are.")
@friendly
def ps(as_json: bool, logs_dir: str) -> None:
    """The runs in progress on this machine, whoever started them and wherever: runbook,
    run, operator, user, pid, start, current step, what it waits for and the log (from the
    machine-wide run registry; see docs/team.md)."""

    from swrun.ps import render_table, runs_in_progress
    from swrun.registry import registry_dir

    runs = runs_in_progress(Path(logs_dir))
    if as_json:
        click.echo(json.dumps([r.as_json() for r in runs], indent=2, ensure_ascii=True))
    elif runs:
        click.echo(render_table(runs), nl=False)
    else:
        click.echo(f"swrun: no runs in progress on this machine (registry {registry_dir()}, "
                   f"and no log under {logs_dir}/ held)", err=True)


COMMANDS = (watch, ls_command, ps)
