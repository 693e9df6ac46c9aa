"""`swrun verify` and `swrun approve`: signed logs and approvals."""

from __future__ import annotations

import sys

import click

from swrun.commands.base import friendly


@click.command()
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
@friendly
def verify(logs: tuple[str, ...], allowed_signers: str | None, runbook: str | None,
           as_json: bool, bundle: str | None, witnesses: tuple[str, ...]) -> None:
    """Check that each run log (or bundle) is what its run wrote: hash chain, signature and
    signer, output files, runbook. One line per log; exit 0 only when all hold, else 9."""
    from swrun.evidence.commands import verify_command

    sys.exit(int(verify_command(logs, allowed_signers=allowed_signers, runbook=runbook,
                                as_json=as_json, bundle=bundle, witnesses=witnesses)))


@click.command()
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
@friendly
def approve(log: str, step: str, sign_with: str | None, allowed_signers: str | None,
            valid_for: str | None, output: str | None, yes: bool) -> None:
    """Approve STEP (number or id) that the run writing LOG waits at: shows what will run,
    signs with your SSH key (docs/evidence.md). Exit 10 when refused."""
    from swrun.evidence.commands import approve_command

    sys.exit(int(approve_command(log, step, sign_with=sign_with,
                                 allowed_signers=allowed_signers, valid_for=valid_for,
                                 output=output, yes=yes)))


COMMANDS = (verify, approve)
