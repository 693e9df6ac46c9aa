"""The `swrun` command line: check, plan, execute, run; stdout is data, stderr diagnostics."""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_at_start(signum: int, frame: FrameType | None) -> None:
    """^C while swrun starts (imports, options; nothing has run): exit 130, no traceback."""
    print("swrun: interrupted", file=sys.stderr)
    raise SystemExit(130)  # ExitCode.INTERRUPTED, before anything else is imported


def _on_sigint(handler: Any) -> Any:
    """Install a SIGINT handler; the previous one, or None outside the main thread."""
    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        return None


_BEFORE_IMPORT = _on_sigint(_interrupted_at_start)  # a ^C during the imports below

# Imported after the handler is in place: importing them (click above all) is start-up.
import json  # noqa: E402
from collections.abc import Callable  # noqa: E402
from functools import wraps  # noqa: E402
from types import FrameType  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import click  # noqa: E402

from swrun import __version__  # noqa: E402
from swrun import completion as _complete  # noqa: E402  (click only: completion callbacks)
from swrun.errors import (  # noqa: E402
    RunbookError,
    RunLogError,
    SwrunError,
    UsageError,
)
from swrun.exitcodes import ExitCode, exit_code_for  # noqa: E402

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
    """Turn user errors into one line on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = _on_sigint(signal.default_int_handler)  # a command handles ^C its own way
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:  # e.g. while the runbook is read and checked
            click.echo("swrun: interrupted", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        except SwrunError as exc:
            from swrun.files import safe_text  # a message may quote a file's text

            click.echo(safe_text(f"swrun: {exc}"), err=True)
            sys.exit(int(exit_code_for(exc)))
        except Exception as exc:
            if not _interrupt_behind(exc):
                raise
            click.echo("swrun: interrupted", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        finally:
            if previous is not None:
                _on_sigint(previous)

    return wrapper  # type: ignore[return-value]


def _interrupt_behind(exc: BaseException) -> bool:
    """A ^C that Python re-raised as another error: a class made while a module is imported
    turns what its `__set_name__` raised into `RuntimeError: Error calling __set_name__`."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, KeyboardInterrupt) or (
                isinstance(cause, SystemExit) and cause.code == 130):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


class _Swrun(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        """^C before a command starts (option parsing) exits 130 too, not click's exit 1."""
        previous = _on_sigint(_interrupted_at_start)
        try:
            return super().main(*args, **kwargs)
        except Exception as exc:
            if not _interrupt_behind(exc):
                raise
            print("swrun: interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        finally:
            if previous is not None:
                _on_sigint(previous)


@click.group(cls=_Swrun, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="swrun")
def main() -> None:
    """Run Markdown runbooks step by step, with an append-only TOML run log."""


# A runbook path is not checked by click: reading it says what is wrong, as one line and
# exit 3 (docs/cli.md), and `check` goes on with the other files.
RUNBOOK_PATH = click.Path(readable=False)


@main.command()
@click.argument("files", nargs=-1, required=True, type=RUNBOOK_PATH,
                shell_complete=_complete.runbook_files)
@click.option("--inventory", "-i", type=click.Path(), help="Inventory to check hosts against.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--connect", is_flag=True,
              help="Also connect to every targeted host: known host key, working auth.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one document with every finding (for CI).")
@_friendly
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


@main.command()
@click.argument("file", type=RUNBOOK_PATH, shell_complete=_complete.runbook_files)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (see docs/cli.md).")
@click.option("--all", "show_all", is_flag=True, help="Also list reference blocks.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@_friendly
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


@main.command()
@click.argument("file", type=RUNBOOK_PATH, shell_complete=_complete.runbook_files)
@click.option("--var", "-v", "variables", multiple=True, metavar="NAME=VALUE",
              shell_complete=_complete.variables, help="Set a runbook variable (repeatable).")
@click.option("--yes", "-y", is_flag=True,
              help="Pass confirm gates and tick checks automatically (logged as by `auto`).")
@click.option("--step", "step_mode", is_flag=True, help="Ask before every step.")
@click.option("--dry-run", is_flag=True, help="Show each step resolved; run nothing.")
@click.option("--from", "from_step", metavar="STEP", shell_complete=_complete.steps,
              help="Start at this step (number or id).")
@click.option("--only", multiple=True, metavar="SECTION", shell_complete=_complete.sections,
              help="Run only this section.")
@click.option("--skip", multiple=True, metavar="STEP", shell_complete=_complete.steps,
              help="Skip this step (repeatable).")
@click.option("--keep-going", is_flag=True, help="Continue after a failed step.")
@click.option("--rollback-on-failure", is_flag=True,
              help="Run the rollback section when an on_failure=rollback step fails.")
@click.option("--confirm-environment", metavar="NAME",
              help="Headless form of typing the environment name for destructive steps.")
@click.option("--confirm", "confirm", multiple=True, metavar="STEP",
              shell_complete=_complete.steps,
              help="Run this step though swrun inferred it asks first (a state-changing "
                   "command, an alternative); --yes does not (repeatable).")
@click.option("--resume", is_flag=False, flag_value="", default=None, metavar="[LOG]",
              shell_complete=_complete.log_files,
              help="Continue an unfinished run (default: the newest unfinished log).")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help="Run log path.")
@click.option("--operator", help="Who is running this (default user@host).")
@click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines on stdout.")
@click.option("--strict", is_flag=True, help="Treat runbook warnings as errors.")
@click.option("--inventory", "-i", type=click.Path(), help="Inventory for remote steps.")
@click.option("--accept-new-host-keys", is_flag=True,
              help="Trust SSH host keys not yet in known_hosts (logged).")
@click.option("--concurrent", is_flag=True,
              help="Run even while another swrun runs this runbook (default: refuse, exit 5).")
@click.option("--no-carry", is_flag=True,
              help="--resume: start without the shell state (exports, folder) the log "
                   "carries; needed when its hash chain does not verify.")
@click.option("--stop-leftovers", is_flag=True,
              help="--resume: stop a step the crashed run left running (TERM, then KILL) "
                   "instead of refusing (exit 8).")
@click.option("--sign-with", metavar="KEY",
              help="SSH key (or .pub with the key in ssh-agent) that signs the log "
                   "(docs/evidence.md).")
@click.option("--approval", "approvals", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="A signed approval (swrun approve --output) for a step "
                                   "that needs one (repeatable).")
@click.option("--interleave", is_flag=True, envvar="SWRUN_INTERLEAVE",
              help="Print a fan-out's lines as they come (default: each host's lines "
                   "together, when it is done).")
@click.option("--notify", "notify", multiple=True, metavar="[FORMAT=]URL",
              help="Also send the run's notifications to URL (repeatable; FORMAT: slack, "
                   "mattermost, teams, json; docs/team.md).")
@_friendly
def execute(file: str, variables: tuple[str, ...], yes: bool, step_mode: bool, dry_run: bool,
            from_step: str | None, only: tuple[str, ...], skip: tuple[str, ...],
            keep_going: bool, rollback_on_failure: bool, confirm_environment: str | None,
            resume: str | None, log_path: str | None, operator: str | None, as_json: bool,
            strict: bool, inventory: str | None, accept_new_host_keys: bool, concurrent: bool,
            stop_leftovers: bool, interleave: bool = False, sign_with: str | None = None,
            approvals: tuple[str, ...] = (), notify: tuple[str, ...] = (),
            no_carry: bool = False, confirm: tuple[str, ...] = ()) -> None:
    """Run FILE headless: for CI, cron and drills. Exit codes are listed in docs/cli.md."""
    _notify_urls(notify)
    if interleave:  # read by the headless renderer (swrun.render.HumanRenderer)
        import os

        os.environ["SWRUN_INTERLEAVE"] = "1"
    from swrun.execute import ExecuteOptions
    from swrun.execute import execute as run

    opts = ExecuteOptions(
        file=file, variables=list(variables), yes=yes, step_mode=step_mode, dry_run=dry_run,
        from_step=from_step, only=list(only), skip=list(skip), keep_going=keep_going,
        rollback_on_failure=rollback_on_failure, confirm_environment=confirm_environment,
        resume=resume, log=log_path, operator=operator, json=as_json, strict=strict,
        inventory=inventory, accept_new_host_keys=accept_new_host_keys, argv=sys.argv,
        concurrent=concurrent, stop_leftovers=stop_leftovers, sign_with=sign_with,
        approvals=list(approvals), no_carry=no_carry, confirm=list(confirm),
    )
    sys.exit(int(run(opts)))


@main.command("run")
@click.argument("file", type=RUNBOOK_PATH, shell_complete=_complete.runbook_files)
@click.option("--var", "-v", "variables", multiple=True, metavar="NAME=VALUE",
              shell_complete=_complete.variables,
              help="Set a runbook variable (repeatable); the rest are asked in a form.")
@click.option("--inventory", "-i", type=click.Path(), help="Inventory for remote steps.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help="Run log path.")
@click.option("--resume", is_flag=False, flag_value="", default=None, metavar="[LOG]",
              shell_complete=_complete.log_files,
              help="Continue an unfinished run (default: the newest unfinished log).")
@click.option("--operator", help="Who is running this (default user@host).")
@click.option("--concurrent", is_flag=True,
              help="Run even while another swrun runs this runbook (default: refuse, exit 5).")
@click.option("--no-carry", is_flag=True,
              help="--resume: start without the shell state (exports, folder) the log "
                   "carries; needed when its hash chain does not verify.")
@click.option("--notify", "notify", multiple=True, metavar="[FORMAT=]URL",
              help="Also send the run's notifications to URL (repeatable; docs/team.md).")
@click.option("--sign-with", metavar="KEY",
              help="SSH key (or its .pub with the key in ssh-agent) that signs the run log.")
@_friendly
def run_console(file: str, variables: tuple[str, ...], inventory: str | None,
                log_path: str | None, resume: str | None, operator: str | None,
                concurrent: bool, notify: tuple[str, ...] = (),
                sign_with: str | None = None, no_carry: bool = False) -> None:
    """Run FILE step by step in the terminal console (see docs/tui.md)."""
    _notify_urls(notify)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        click.echo("swrun: `swrun run` needs a terminal; headless (CI, cron) use "
                   f"`swrun execute {file}`", err=True)
        sys.exit(int(ExitCode.USAGE))
    from swrun.tui.launch import RunOptions, run_tui

    sys.exit(run_tui(RunOptions(file=file, variables=list(variables), inventory=inventory,
                                log=log_path, resume=resume, operator=operator,
                                argv=sys.argv, concurrent=concurrent,
                                sign_with=sign_with, no_carry=no_carry)))


@main.group()
def lab() -> None:
    """A small production look-alike on this machine (loopback only)."""


_LAB_DIR = click.option("--dir", "lab_dir", default=".lab", show_default=True,
                        type=click.Path(file_okay=False), help="Lab state directory.")
_LAB_INV = click.option("--inventory", "inventory", default="inventories/lab.yml",
                        show_default=True, type=click.Path(dir_okay=False),
                        help="Where to write the lab inventory.")


@lab.command("up")
@_LAB_DIR
@_LAB_INV
@_friendly
def lab_up(lab_dir: str, inventory: str) -> None:
    """Start the lab (again: only what is not running)."""
    from swrun.lab import Lab

    Lab(lab_dir, inventory).up(lambda msg: click.echo(f"lab: {msg}", err=True))


@lab.command("status")
@_LAB_DIR
@_LAB_INV
@_friendly
def lab_status(lab_dir: str, inventory: str) -> None:
    """Show each part of the lab as up or down (exit 1 if any is down)."""
    from swrun.lab import Lab

    parts = Lab(lab_dir, inventory).status()
    width = max(len(p.name) for p in parts)
    for part in parts:
        click.echo(f"{part.name.ljust(width)}  {'up  ' if part.up else 'down'}  {part.detail}")
    sys.exit(0 if all(p.up for p in parts) else 1)


@lab.command("down")
@_LAB_DIR
@_LAB_INV
@_friendly
def lab_down(lab_dir: str, inventory: str) -> None:
    """Stop everything the lab started and remove its state."""
    from swrun.lab import Lab

    Lab(lab_dir, inventory).down(lambda msg: click.echo(f"lab: {msg}", err=True))


@lab.command("env")
@_LAB_DIR
@_LAB_INV
@_friendly
def lab_env(lab_dir: str, inventory: str) -> None:
    """Print the lab's values as shell exports (eval "$(swrun lab env)")."""
    import shlex

    from swrun.lab import Lab

    for key, value in Lab(lab_dir, inventory).env().items():
        click.echo(f"export {key}={shlex.quote(value)}")


@main.command()
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
@_friendly
def timeline(logs: tuple[str, ...], runbook_path: str | None, logs_dir: str, fmt: str | None,
             output: str | None, since: str | None, until: str | None, tz: str,
             incident: bool, allowed_signers: str | None, verified_only: bool) -> None:
    """Merge run LOGS (or every run of --runbook) into one post-incident timeline (see
    docs/timeline.md)."""
    import os

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


@main.command()
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
@_friendly
def history(runbook: str, logs_dir: str, fmt: str | None, output: str | None,
            allowed_signers: str | None, verified_only: bool) -> None:
    """Every past run of RUNBOOK with step times against target= (see docs/history.md)."""
    from pathlib import Path

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


@main.command("new")
@click.argument("file", type=click.Path(dir_okay=False), shell_complete=_complete.runbook_files)
@click.option("--template", "-t", default="checklist", show_default=True,
              type=click.Choice(["checklist", "blue-green", "rollback", "drill", "incident",
                                 "backup"]),
              help="What kind of runbook to start from.")
@click.option("--title", help="The runbook's title (default: from the file name).")
@_friendly
def new(file: str, template: str, title: str | None) -> None:
    """Write a new runbook FILE from a template (never over an existing file)."""
    from pathlib import Path

    from swrun.new import write_runbook

    write_runbook(Path(file), template, title)
    click.echo(f"swrun: wrote {file} from the {template} template; next: swrun check --strict "
               f"{file}, swrun plan {file}", err=True)


@main.command()
@click.argument("runbook", required=False, type=RUNBOOK_PATH,
               shell_complete=_complete.runbook_files)
@click.option("--inventory", "-i", type=click.Path(),
              help="Inventory for the runbook's hosts (default: the front matter's).")
@click.option("--connect", is_flag=True,
              help="Also connect to every targeted host (key, login), as check --connect.")
@click.option("--logs", "logs_dir", default="logs", show_default=True,
              type=click.Path(file_okay=False), help="Where run logs will be written.")
@_friendly
def doctor(runbook: str | None, inventory: str | None, connect: bool, logs_dir: str) -> None:
    """Is this machine ready to run RUNBOOK (or any runbook)? One line per check, ✓ or ✗
    with the fix; exit 1 on any ✗ (see docs/cli.md)."""
    from pathlib import Path

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


@main.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (see README.md: Shell completion)."""
    click.echo(_complete.script(shell), nl=False)


@main.command()
@click.argument("logs", nargs=-1, required=True, type=click.Path())
@click.option("--allowed-signers", type=click.Path(dir_okay=False), metavar="FILE",
              help="Whose keys count (ssh-keygen ALLOWED SIGNERS; default: the runbook's, "
                   "SWRUN_ALLOWED_SIGNERS, git's gpg.ssh.allowedSignersFile).")
@click.option("--runbook", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also check that FILE is the runbook that ran.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
@click.option("--bundle", type=click.Path(dir_okay=False), metavar="OUT.tar",
              help="Pack the log, its signature, output, approvals and the runbook into "
                   "OUT.tar (one LOG; verified again as it is read back).")
@click.option("--witness", "witnesses", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE", help="Also check the log reaches the chain heads FILE "
                                   "witnessed (lines `run=… seq=… bytes=… head=…`); the "
                                   "registry's witness is always read.")
@_friendly
def verify(logs: tuple[str, ...], allowed_signers: str | None, runbook: str | None,
           as_json: bool, bundle: str | None, witnesses: tuple[str, ...]) -> None:
    """Check that each run log (or bundle) is what its run wrote: hash chain, signature and
    signer, output files, runbook. One line per log; exit 0 only when all hold, else 9."""
    from swrun.evidence.commands import verify_command

    sys.exit(int(verify_command(logs, allowed_signers=allowed_signers, runbook=runbook,
                                as_json=as_json, bundle=bundle, witnesses=witnesses)))


@main.command()
@click.argument("log", type=click.Path(dir_okay=False))
@click.argument("step")
@click.option("--sign-with", metavar="KEY",
              help="Your SSH key (default: SWRUN_SIGNING_KEY); a .pub uses ssh-agent.")
@click.option("--allowed-signers", type=click.Path(dir_okay=False), metavar="FILE",
              help="Check your key against FILE (default: the one the run uses).")
@click.option("--valid-for", metavar="DURATION",
              help="How long the approval holds (default and limit: the runbook's, 1h).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the approval to FILE (for --approval) instead of the run's "
                   "approvals folder.")
@click.option("--yes", "-y", is_flag=True, help="Approve without asking.")
@_friendly
def approve(log: str, step: str, sign_with: str | None, allowed_signers: str | None,
            valid_for: str | None, output: str | None, yes: bool) -> None:
    """Approve STEP (number or id) that the run writing LOG waits at: shows what will run,
    signs with your SSH key (docs/evidence.md). Exit 10 when refused."""
    from swrun.evidence.commands import approve_command

    sys.exit(int(approve_command(log, step, sign_with=sign_with,
                                 allowed_signers=allowed_signers, valid_for=valid_for,
                                 output=output, yes=yes)))


def _notify_urls(urls: tuple[str, ...]) -> None:
    """`--notify`: checked now (a bad URL is a usage error before anything runs), then
    added to the run's notification targets (swrun.notify)."""
    if not urls:
        return
    from swrun.notify.config import CLI_URLS, cli_target, masked_url

    for url in urls:
        cli_target(url)
    CLI_URLS.extend(urls)
    # a webhook URL is a credential: the command line the log records shows only its host
    for given in urls:
        url = cli_target(given).url
        sys.argv[:] = [arg.replace(url, masked_url(url)) for arg in sys.argv]


@main.command()
@click.argument("target", required=False, metavar="[LOG | RUNBOOK]",
                shell_complete=_complete.log_files)
@click.option("--plain", is_flag=True,
              help="A scrolling text feed (tail -f style) instead of the console.")
@click.option("--logs", "logs_dir", default="logs", show_default=True,
              type=click.Path(file_okay=False), help="Where the run logs are.")
@_friendly
def watch(target: str | None, plain: bool, logs_dir: str) -> None:
    """Follow a run from another terminal, read-only: LOG, the run of RUNBOOK in progress,
    or the run in progress here (see docs/team.md)."""
    from pathlib import Path

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


@main.command(name="ls")
@click.argument("folder", required=False, type=click.Path(file_okay=False))
@click.option("--logs", "logs_dir", default="logs", show_default=True,
              type=click.Path(file_okay=False), help="Where the run logs are.")
@click.option("--json", "as_json", is_flag=True, help="Print the runbooks as a JSON list.")
@_friendly
def ls_command(folder: str | None, logs_dir: str, as_json: bool) -> None:
    """List the runbooks under FOLDER (default: runbooks/ if there is one, else .): title,
    environment, steps, and the last run with its result."""
    import json
    from pathlib import Path

    from swrun.errors import UsageError
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


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the runs as a JSON list.")
@click.option("--logs", "logs_dir", default="logs", show_default=True,
              type=click.Path(file_okay=False), help="Where the run logs are.")
@_friendly
def ps(as_json: bool, logs_dir: str) -> None:
    """The runs in progress on this machine, whoever started them and wherever: runbook,
    run, operator, user, pid, start, current step, what it waits for and the log (from the
    machine-wide run registry; see docs/team.md)."""
    from pathlib import Path

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


# The commands above are built at import: start-up too, under the handler. Importing swrun.cli
# (tests do) then leaves ^C as it was; the swrun command keeps it until _Swrun.main takes over.
if _BEFORE_IMPORT is not None and not (
        os.path.basename(sys.argv[0]) == "swrun"
        or sys.argv[0].endswith(os.path.join("swrun", "__main__.py"))):
    _on_sigint(_BEFORE_IMPORT)
