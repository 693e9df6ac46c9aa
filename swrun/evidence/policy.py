"""A run's signing and approval settings (`Evidence`): the key that signs the log, the
allowed_signers file and the approval policy, read from the command line, the front matter
and the environment. Light on purpose: every run reads it, while swrun.evidence.approve
(approval files, four-eyes) and the key handling load only when a run signs or approves."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swrun.durations import parse_duration
from swrun.errors import EvidenceError
from swrun.evidence import NO_ALLOWED_SIGNERS

if TYPE_CHECKING:
    from swrun.evidence.keys import SigningKey
    from swrun.model import Runbook, Step

DEFAULT_VALID_FOR = 3600.0
"""An approval is good for an hour unless the front matter's `[approvals] valid_for` (the
longest it allows) or `swrun approve --valid-for` (shorter) says otherwise."""


def is_production(environment: str) -> bool:
    return environment.lower() in ("production", "prod")


@dataclass(frozen=True)
class Evidence:
    """Signing and approval settings of one run."""

    signing_key: SigningKey | None = None
    key_problem: str | None = None
    """Why there is no signing key (said once, at the end: the log is unsigned)."""
    allowed_signers: Path | None = None
    approvers: tuple[str, ...] = ()
    """The front matter's `[approvals] approvers`: only these principals may approve."""
    destructive: int = 0
    """Approvals a destructive step needs in production without its own `approve=`."""
    valid_for: float = DEFAULT_VALID_FOR
    approval_files: tuple[Path, ...] = ()
    """`--approval FILE`s (headless)."""
    reuse: bool = False
    """The front matter's `[approvals] reuse = true`: an approval also covers a re-run of
    the step in the same run (by default each execution needs its own)."""

    def needed(self, step: Step, environment: str) -> int:
        default = self.destructive if step.flag("destructive") and is_production(
            environment) else 0
        raw = step.attributes.get("approve")
        if raw is None:
            return default
        if isinstance(raw, str) and raw.isdigit():
            return int(raw)
        return max(1, default)  # `approve=$VAR`: a variable cannot lower the count

    def operator_principals(self) -> tuple[str, ...]:
        """Who the operator is: their signing key's principals in every namespace
        (`keys.identity`); empty without a key that allowed_signers lists."""
        if self.signing_key is None or self.allowed_signers is None:
            return ()
        from swrun.evidence.keys import allowed_signers, identity

        try:
            return identity(self.signing_key.fingerprint, allowed_signers(self.allowed_signers))
        except EvidenceError:
            return ()

    def operator_problem(self) -> str | None:
        """Why approvals cannot be checked for this operator, or None. Four-eyes needs to know
        who the operator is, and a `user@host` name is no identity: the operator must sign
        with a key that allowed_signers lists (in any namespace)."""
        if self.allowed_signers is None:
            return NO_ALLOWED_SIGNERS
        if self.signing_key is None:
            return ("the operator has no signing key, so four-eyes cannot tell the operator "
                    "from an approver: sign the run with your key (--sign-with KEY, "
                    "signing_key in the front matter, or SWRUN_SIGNING_KEY), listed in "
                    f"{self.allowed_signers}")
        if not self.operator_principals():
            return (f"the operator's key {self.signing_key.fingerprint} is not in "
                    f"{self.allowed_signers}, so four-eyes cannot tell the operator from an "
                    "approver: list it there under your name")
        return None

def _front(runbook: Runbook) -> Mapping[str, Any]:
    return runbook.metadata


def evidence_for(runbook: Runbook, *, sign_with: str | None = None,
                 approval_files: tuple[str, ...] = (), allowed: str | None = None,
                 environ: Mapping[str, str] | None = None) -> Evidence:
    """The run's signing key (`--sign-with`, the front matter's `signing_key`, or
    $SWRUN_SIGNING_KEY), allowed_signers (`allowed`, the front matter's `allowed_signers`,
    $SWRUN_ALLOWED_SIGNERS, or git's `gpg.ssh.allowedSignersFile`) and approval policy. A key
    or file that is named but unusable is an EvidenceError; no key at all is not."""
    env = os.environ if environ is None else environ
    meta = _front(runbook)
    base = runbook.base_dir
    key: SigningKey | None = None
    problem: str | None = None
    given = sign_with or _text(meta.get("signing_key")) or env.get("SWRUN_SIGNING_KEY")
    if given:
        from swrun.evidence.keys import SigningKey

        key = SigningKey.load(given, base if not sign_with else None)
    else:
        problem = ("no SSH key to sign it with (--sign-with KEY, signing_key in the front "
                   "matter, or SWRUN_SIGNING_KEY)")
    raw = meta.get("approvals")
    table = raw if isinstance(raw, Mapping) else {}
    if raw is not None and not isinstance(raw, Mapping):
        raise EvidenceError(f"{runbook.path}: front matter approvals must be a table "
                            "(destructive, valid_for, approvers)")
    destructive = table.get("destructive", 0)
    if not isinstance(destructive, int) or isinstance(destructive, bool) or destructive < 0:
        raise EvidenceError(f"{runbook.path}: front matter approvals.destructive must be a "
                            "whole number of approvals")
    valid_for = DEFAULT_VALID_FOR
    if table.get("valid_for") is not None:
        try:
            valid_for = parse_duration(str(table["valid_for"]))
        except ValueError:
            raise EvidenceError(f"{runbook.path}: front matter approvals.valid_for="
                                f"{table['valid_for']!r}: bad duration (e.g. 30m, 1h)") from None
    approvers = table.get("approvers", [])
    if not isinstance(approvers, list) or not all(isinstance(a, str) for a in approvers):
        raise EvidenceError(f"{runbook.path}: front matter approvals.approvers must be a list "
                            "of allowed_signers principals")
    reuse = table.get("reuse", False)
    if not isinstance(reuse, bool):
        raise EvidenceError(f"{runbook.path}: front matter approvals.reuse must be true or "
                            "false")
    files = []
    for name in approval_files:
        path = Path(name)
        if not path.is_file():
            raise EvidenceError(f"--approval {name}: no such file")
        files.append(path)
    # git's setting is asked (a subprocess) only by a run that signs or has approvals
    wanted = key is not None or bool(files) or bool(destructive) or any(
        "approve" in step.attributes for step in runbook.steps)
    signers = find_allowed_signers(runbook, allowed, env, ask_git=wanted)
    return Evidence(key, problem, signers, tuple(approvers), destructive, valid_for,
                    tuple(files), reuse)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def find_allowed_signers(runbook: Runbook | None, given: str | None,
                         environ: Mapping[str, str] | None = None, *,
                         ask_git: bool = True) -> Path | None:
    """`given`, the front matter's `allowed_signers`, $SWRUN_ALLOWED_SIGNERS, else (with
    `ask_git`) git's `gpg.ssh.allowedSignersFile`."""
    env = os.environ if environ is None else environ
    if given:
        path = _expand(given)
    elif runbook is not None and _text(runbook.metadata.get("allowed_signers")):
        path = _expand(str(runbook.metadata["allowed_signers"]), runbook.base_dir)
    elif env.get("SWRUN_ALLOWED_SIGNERS"):
        path = _expand(env["SWRUN_ALLOWED_SIGNERS"])
    else:
        found = _git_config("gpg.ssh.allowedSignersFile") if ask_git else None
        if not found:
            return None
        path = _expand(found)
    if not path.is_file():
        raise EvidenceError(f"{path}: no such allowed_signers file")
    return path


def _expand(path: str, base: Path | None = None) -> Path:
    from swrun.evidence.keys import expand  # only a run that names a file loads the keys

    return expand(path, base)


def _git_config(key: str) -> str | None:
    from swrun.evidence.keys import git_config  # a subprocess, asked only by a run that signs

    return git_config(key)
