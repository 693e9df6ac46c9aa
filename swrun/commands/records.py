"""`swrun timeline` and `swrun history`: what the run logs say happened."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from swrun import completion as _complete  # click only: completion callbacks
from swrun.commands.base import friendly
from swrun.errors import RunLogError, UsageError
from swrun.exitcodes import ExitCode


@click.command()
@click.argument("logs", nargs=-1, type=click.Path(), shell_complete=_complete.log_files)
@click.option("--runbook", "runbook_path", type=click.Path(dir_okay=False), metavar="RUNBOOK",
              shell_complete=_complete.runbook_files,
              help="Every run of RUNBOOK under --logs (found as `swrun history` finds them).")
@click.option("--logs", "logs_dir", default="logs", show_default=True,
              type=click.Path(file_okay=False), help="With --runbook: where the run logs are.")
@click.option("--format", "fmt", type=click.Choice(["md", "json", "csv", "html", "otlp"]),
              help="Output format (default: from the -o suffix, else md); otlp exports each "
                   "log as a trace to OTEL_EXPORTER_OTLP_ENDPOINT.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE, not stdout.")
@click.option("--since", metavar="TIME", help="Show entries from TIME (ISO 8601; naive = --tz).")
@click.option("--until", metavar="TIME", help="Show entries up to TIME.")
@click.option("--tz", default="UTC", show_default=True, metavar="NAME",
              help="Time zone for the times shown (IANA name, e.g. Europe/Berlin).")
@click.option("--incident", is_flag=True,
              help="The LOGS are one incident: compute key times across them (one log always "
                   "is).")
@click.option("--allowed-signers", type=click.Path(dir_okay=False), metavar="FILE",
              help="Whose keys count when each log is verified (default: the runbook's, "
                   "SWRUN_ALLOWED_SIGNERS, git's gpg.ssh.allowedSignersFile).")
@click.option("--verified-only", is_flag=True,
              help="Leave out every log that does not verify (exit 9 when none is left).")
@friendly
def timeline(logs: tuple[str, ...], runbook_path: str | None, logs_dir: str, fmt: str | None,
             output: str | None, since: str | None, until: str | None, tz: str,
             incident: bool, allowed_signers: str | None, verified_only: bool) -> None:
    """Merge run LOGS (or every run of --runbook) into one post-incident timeline (see
    docs/timeline.md)."""

    from swrun.files import safe_text
    from swrun.timeline import build_timeline, read_logs, render
    from swrun.timeline.options import format_for, parse_when, time_zone, write_output

    if not logs and runbook_path is None:
        raise UsageError("timeline: give run LOG files, or --runbook RUNBOOK to find its "
                         "logs under --logs (default logs/)")

    try:
        zone = time_zone(tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None
    bounds = []
    for name, value in (("--since", since), ("--until", until)):
        try:
            bounds.append(parse_when(value, zone) if value else None)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint=name) from None
    data = read_logs(logs)
    found = []
    if runbook_path is not None:
        from pathlib import Path

        from swrun.parser import load_runbook
        from swrun.runlog import read_log
        from swrun.timeline.history import runbook_logs

        book = load_runbook(runbook_path)
        for path in reversed(runbook_logs(book, Path(logs_dir))):  # oldest first
            try:
                found.append(read_log(path))
            except RunLogError as exc:  # as in `swrun history`: said, and left out
                click.echo(f"swrun: warning: {exc}; left out", err=True)
        if not found and not data:
            raise RunLogError(f"no run logs of {runbook_path} under {logs_dir}/")
    given = {os.path.realpath(d.path) for d in data}  # a log named and found: read once
    data += [d for d in found if os.path.realpath(d.path) not in given]
    trust = _trust(allowed_signers, runbook_path)
    if verified_only:
        kept = [d for d in data if not trust(d)]
        for d in data:
            if d not in kept:
                click.echo(f"swrun: warning: {d.path}: {trust(d)[0]}; left out "
                           "(--verified-only)", err=True)
        if not kept:
            click.echo("swrun: no log verifies (--verified-only): nothing to show", err=True)
            sys.exit(int(ExitCode.NOT_VERIFIED))
        data = kept
    if fmt == "otlp":  # each log as the trace a live run makes (docs/team.md)
        from swrun.timeline.as_otlp import export

        sys.exit(int(export(data)))
    tl = build_timeline(data, since=bounds[0], until=bounds[1], tz=zone, tz_name=tz,
                        incident=incident, trust=trust)
    for warning in tl.warnings:
        click.echo(safe_text(f"swrun: warning: {warning}"), err=True)
    text = render(tl, fmt or format_for(output, "md"))
    try:
        write_output(text, output)
    except OSError as exc:
        raise click.BadParameter(f"cannot write {output}: {exc.strerror}",
                                 param_hint="--output") from None


def _trust(allowed_signers: str | None, runbook: str | None) -> Any:
    """Each log checked as `swrun verify` checks it (once per log): what timeline and history
    mark as untrusted, or leave out with --verified-only."""
    from swrun.evidence.commands import allowed_for
    from swrun.evidence.verify import trust_check

    check = trust_check(allowed_for(allowed_signers, runbook))
    seen: dict[str, list[str]] = {}

    def trust(data: Any) -> list[str]:
        key = str(data.path)
        if key not in seen:
            seen[key] = check(data)
        return seen[key]

    return trust


@click.command()
@click.argument("runbook", type=click.Path(), shell_complete=_complete.runbook_files)
@click.option("--logs", "logs_dir", default="logs", show_default=True,
              type=click.Path(file_okay=False), help="Where the run logs are.")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json", "html"]),
              help="Output format (default: from the -o suffix, else table).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE, not stdout.")
@click.option("--allowed-signers", type=click.Path(dir_okay=False), metavar="FILE",
              help="Whose keys count when each log is verified (default: the runbook's, "
                   "SWRUN_ALLOWED_SIGNERS, git's gpg.ssh.allowedSignersFile).")
@click.option("--verified-only", is_flag=True,
              help="Leave out every run whose log does not verify.")
@friendly
def history(runbook: str, logs_dir: str, fmt: str | None, output: str | None,
            allowed_signers: str | None, verified_only: bool) -> None:
    """Every past run of RUNBOOK with step times against target= (see docs/history.md)."""

    from swrun.parser import load_runbook
    from swrun.timeline.history import build_history
    from swrun.timeline.history_render import render_history
    from swrun.timeline.options import format_for, write_output

    book = load_runbook(runbook)
    hist = build_history(book, Path(logs_dir), trust=_trust(allowed_signers, runbook),
                         verified_only=verified_only)
    for warning in hist.warnings:
        click.echo(f"swrun: warning: {warning}", err=True)
    if not hist.runs:
        click.echo(f"swrun: no runs of {runbook} under {logs_dir}/", err=True)
    text = render_history(hist, fmt or format_for(output, "table"))
    try:
        write_output(text, output)
    except OSError as exc:
        raise click.BadParameter(f"cannot write {output}: {exc.strerror}",
                                 param_hint="--output") from None


COMMANDS = (timeline, history)
