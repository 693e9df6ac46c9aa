"""`swrun execute` (headless) and `swrun run` (the console)."""

from __future__ import annotations

import sys

import click

from swrun import completion as _complete  # click only: completion callbacks
from swrun.commands.base import RUNBOOK_PATH, friendly
from swrun.exitcodes import ExitCode


@click.command()
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
@click.option("--done", "done", multiple=True, metavar="STEP", shell_complete=_complete.steps,
              help="You ran this command for a person (a manual step) yourself: recorded as "
                   "done by you, noted --done (repeatable; number or id).")
@friendly
def execute(file: str, variables: tuple[str, ...], yes: bool, step_mode: bool, dry_run: bool,
            from_step: str | None, only: tuple[str, ...], skip: tuple[str, ...],
            keep_going: bool, rollback_on_failure: bool, confirm_environment: str | None,
            resume: str | None, log_path: str | None, operator: str | None, as_json: bool,
            strict: bool, inventory: str | None, accept_new_host_keys: bool, concurrent: bool,
            stop_leftovers: bool, interleave: bool = False, sign_with: str | None = None,
            approvals: tuple[str, ...] = (), notify: tuple[str, ...] = (),
            no_carry: bool = False, confirm: tuple[str, ...] = (),
            done: tuple[str, ...] = ()) -> None:
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
        approvals=list(approvals), no_carry=no_carry, confirm=list(confirm), done=list(done),
    )
    sys.exit(int(run(opts)))


@click.command("run")
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
@friendly
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


COMMANDS = (execute, run_console)
