"""`swrun verify` and `swrun approve`: what the command line calls (swrun/commands/evidence.py)."""

from __future__ import annotations

import json
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from swrun.errors import EvidenceError, SwrunError, UsageError
from swrun.exitcodes import ExitCode
from swrun.files import safe_text


def allowed_for(given: str | None, runbook: str | None) -> Path | None:
    from swrun.evidence.approve import find_allowed_signers

    book = None
    if runbook and not given:
        from swrun.parser import load_runbook

        try:
            book = load_runbook(runbook)
        except (SwrunError, OSError):
            book = None
    return find_allowed_signers(book, given)


def verify_command(logs: tuple[str, ...], *, allowed_signers: str | None,
                   runbook: str | None, as_json: bool, bundle: str | None,
                   witnesses: tuple[str, ...] = ()) -> ExitCode:
    from swrun.evidence.bundle import make_bundle, verify_bundle
    from swrun.evidence.verify import UNREADABLE, Verdict, verify_log

    if bundle and len(logs) != 1:
        raise UsageError(f"--bundle packs one log; {len(logs)} were given")
    if bundle and not runbook:
        raise UsageError("--bundle needs the runbook that ran (--runbook FILE): a bundle is "
                         "checked against the runbook it holds")
    if runbook and not Path(runbook).is_file():
        raise UsageError(f"--runbook {runbook}: no such file")
    allowed = allowed_for(allowed_signers, runbook)
    book = Path(runbook) if runbook else None
    verdicts: list[Verdict] = []
    for name in logs:
        if name.endswith(".tar"):
            try:
                verdict = verify_bundle(Path(name), allowed_signers=allowed, runbook=book,
                                        witnesses=[Path(w) for w in witnesses])
            except EvidenceError as exc:
                verdict = Verdict(name)
                verdict.fail(UNREADABLE, str(exc).removeprefix(f"{name}: "))
        else:
            verdict = verify_log(name, allowed_signers=allowed, runbook=book,
                                 witnesses=[Path(w) for w in witnesses])
        verdicts.append(verdict)
        if not as_json:
            click.echo(safe_text(verdict.line()))
    if as_json:
        click.echo(json.dumps([v.to_json() for v in verdicts], indent=2, ensure_ascii=False))
    ok = all(v.ok for v in verdicts)
    if bundle:
        if not ok:
            click.echo(f"swrun: {bundle} not written: {logs[0]} does not verify", err=True)
        else:
            again = make_bundle(Path(logs[0]), Path(bundle), verdicts[0], runbook=book,
                                allowed_signers=allowed)
            click.echo(safe_text(f"swrun: wrote {bundle}; read back: {again.line()}"),
                       err=True)
    return ExitCode.OK if ok else ExitCode.NOT_VERIFIED


def approve_command(log: str, step: str, *, sign_with: str | None,
                    allowed_signers: str | None, valid_for: str | None, output: str | None,
                    yes: bool) -> ExitCode:
    """Approve the step a run waits at: show what will run, sign, write the approval into
    `<log>.approvals/` (the run picks it up) or `--output FILE` (for a headless resume)."""
    from swrun.durations import parse_duration
    from swrun.evidence import APPROVAL_NAMESPACE
    from swrun.evidence.approve import (
        DEFAULT_VALID_FOR,
        SigningKey,
        approval_name,
        approvals_dir,
        find_allowed_signers,
        find_request,
        make_approval,
        same_person,
        write_approval,
    )
    from swrun.evidence.keys import allowed_signers as read_signers
    from swrun.evidence.keys import expand, identity, principals_of
    from swrun.runlog import read_log
    from swrun.session import operator_name

    data = read_log(log)
    run_id = str(data.run.get("id", ""))
    req = find_request(data.events, step)
    if req is None:
        raise EvidenceError(f"{log}: step {step} is not waiting for approval (no "
                            "approval_needed for it since it last started)")
    request_holds(Path(log), req)  # before anything is shown: the approver reads the truth
    given = sign_with or os.environ.get("SWRUN_SIGNING_KEY")
    if not given:
        raise EvidenceError("no SSH key to sign the approval with (--sign-with KEY or "
                            "SWRUN_SIGNING_KEY)")
    key = SigningKey.load(given)
    operator_key = req.get("operator_key") or data.run.get("operator_key")
    n = req.get("number") or req.get("step")
    if operator_key and key.fingerprint == operator_key:
        raise EvidenceError(f"{key.fingerprint} is the key of the operator of run {run_id}: "
                            "four-eyes needs someone else's approval")
    allowed = (expand(allowed_signers) if allowed_signers else
               Path(str(req["allowed_signers"])) if req.get("allowed_signers") else
               find_allowed_signers(None, None))
    if allowed is None or not allowed.is_file():
        raise EvidenceError(f"no allowed_signers file to check your key against "
                            f"({allowed or '--allowed-signers FILE'})")
    signers = read_signers(allowed)
    mine = principals_of(key.public, signers, APPROVAL_NAMESPACE)
    if not mine:
        raise EvidenceError(f"your key {key.fingerprint} is not in {allowed}: the run would "
                            "refuse the approval")
    operator_fp = operator_key if isinstance(operator_key, str) else None
    if same_person(key.fingerprint, (*identity(key.fingerprint, signers), *mine), operator_fp,
                   identity(operator_fp, signers) if operator_fp else (),
                   str(data.run.get("operator", ""))):
        raise EvidenceError(f"{mine[0]} is the operator of run {run_id}: four-eyes needs "
                            "someone else's approval")
    name = approval_name(req.get("number"), str(req.get("step")), key.fingerprint)
    target = Path(output) if output else approvals_dir(log) / name
    if not output and _still_good(target, run_id, req):
        raise EvidenceError(f"{mine[0]} already approved step {n} of run {run_id} ({target})")
    limit = req.get("valid_for") if isinstance(req.get("valid_for"), int) else DEFAULT_VALID_FOR
    seconds = float(limit)
    if valid_for:
        try:
            seconds = parse_duration(valid_for)
        except ValueError:
            raise UsageError(f"--valid-for {valid_for}: bad duration (e.g. 15m, 1h)") from None
        if seconds <= 0 or seconds > float(limit):
            raise UsageError(f"--valid-for {valid_for}: must be more than 0s and at most what "
                             f"the runbook allows ({int(limit)}s)")
    so_far = _approved_since(data.events, req)
    _show(data.run, req, so_far, mine[0], key.fingerprint, seconds)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("approving needs a yes: run it at a terminal, or pass --yes")
        if not click.confirm(f"Approve step {n} as {mine[0]}?", default=False, err=True):
            click.echo("swrun: not approved", err=True)
            return ExitCode.INTERRUPTED
    data_bytes = make_approval(req, run_id, key, approver=operator_name(), valid_for=seconds)
    try:
        if output:
            target.write_bytes(data_bytes)
        else:
            write_approval(target.parent, target.name, data_bytes)
    except OSError as exc:
        raise EvidenceError(f"{target}: cannot write the approval: {exc.strerror}") from None
    book = str(data.run.get("runbook") or "RUNBOOK")  # as the run was started
    resume = ["swrun", "execute", book, "--resume", str(log), *_kept(data.run.get("argv")),
              "--approval", str(target)]
    where = (f"pass it to the run: {shlex.join(resume)}" if output
             else "the waiting run picks it up within a second")
    click.echo(f"swrun: approved step {n} of run {run_id} as {mine[0]}: {target} ({where})",
               err=True)
    return ExitCode.OK


_KEPT = frozenset({"--sign-with", "--inventory", "-i", "--confirm-environment"})
"""Options of the run's command line that its resume needs again (the others come from the
log, or are the operator's to choose)."""


def _kept(argv: object) -> list[str]:
    """From the run's logged command line, the options in _KEPT with their values."""
    if not isinstance(argv, list):
        return []
    words = [str(w) for w in argv]
    out: list[str] = []
    for i, word in enumerate(words):
        name, eq, _ = word.partition("=")
        if name in _KEPT and eq:
            out.append(word)
        elif word in _KEPT and i + 1 < len(words):
            out += [word, words[i + 1]]
    return out


def request_holds(log: Path, req: dict[str, Any]) -> None:
    """The `approval_needed` an approver is about to be shown is what the run wrote: the
    log's hash chain holds up to it, and its `command` hashes to its `command_sha256` (what
    the approval binds). EvidenceError (exit 10) otherwise: nothing is shown or written."""
    from swrun.evidence.chain import CHAIN, check, normalize

    try:
        raw = normalize(log.read_bytes())
    except OSError as exc:
        raise EvidenceError(f"{log}: cannot read: {exc.strerror}") from None
    result = check(raw)
    seq = req.get("seq")
    if not result.chained:
        raise EvidenceError(f"{log}: this log has no hash chain (chain = \"{CHAIN}\" in "
                            "its header), so swrun cannot check the request it would show "
                            "you: nothing approved")
    if result.problem is not None:
        raise EvidenceError(f"{log}: the log does not hold ({result.problem}); the request "
                            f"of step {req.get('number') or req.get('step')} may not be what "
                            "the run asked: nothing approved")
    if not any(t.seq == seq for t in result.events):
        raise EvidenceError(f"{log}: the request (seq {seq}) is not among the log's chained "
                            "events: nothing approved")
    from swrun.evidence.approve import request_digest

    command, secrets = req.get("command"), req.get("secrets")
    if not isinstance(command, str) or request_digest(
            command, secrets if isinstance(secrets, dict) else None) != req.get(
            "command_sha256"):
        raise EvidenceError(f"{log}: the command in the request of step "
                            f"{req.get('number') or req.get('step')} does not match its "
                            "command_sha256: the log was edited; nothing approved")


def _still_good(path: Path, run_id: str, req: dict[str, Any]) -> bool:
    """An approval file already there for this run and this version of the step, unexpired."""
    from swrun.evidence.approve import read_approval
    from swrun.files import MAX_APPROVAL_BYTES, read_regular
    from swrun.runlog import parse_at  # a time without a zone is UTC, as everywhere

    try:
        table, _, _ = read_approval(read_regular(path, MAX_APPROVAL_BYTES))
    except (EvidenceError, OSError):
        return False
    expires = parse_at(table.get("expires_at"))
    return table.get("run_id") == run_id and table.get("hash") == req.get("hash") and \
        expires is not None and expires > datetime.now(UTC)


def _approved_since(events: list[dict[str, Any]], req: dict[str, Any]) -> list[str]:
    seen = False
    out = []
    for event in events:
        if event is req:
            seen = True
        elif seen and event.get("type") == "approval" and event.get("step") == req.get("step"):
            out.append(str(event.get("by")))
    return out


def _show(run: dict[str, Any], req: dict[str, Any], so_far: list[str], who: str, key: str,
          seconds: float) -> None:
    env = f" ({run['environment']})" if run.get("environment") else ""
    needed = req.get("approvals")
    lines = [
        f"Run {run.get('id')} of {run.get('runbook')}{env}, operator {run.get('operator')}",
        f"Step {req.get('number')} '{req.get('title')}' needs {needed} approval(s)"
        + (f"; so far: {', '.join(so_far)}" if so_far else ""),
        "It will run (variables filled in, secrets masked):",
        *[f"  {line}" for line in str(req.get("command") or "").splitlines()],
        *([f"Secret values it uses are bound by keyed hash, not shown: "
           f"{', '.join(sorted(req['secrets']))} (a changed value voids your approval)."]
          if isinstance(req.get("secrets"), dict) and req["secrets"] else []),
        f"You sign as {who} ({key}); the approval is valid for {int(seconds // 60)} min and "
        "only for this run and this version of the step.",
    ]
    click.echo(safe_text("\n".join(lines)), err=True)  # from the log: no escape sequences
