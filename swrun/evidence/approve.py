"""Four-eyes approval: a step with `approve=N` (or, in production, a destructive step under
the front matter's `[approvals] destructive = N`) waits until N people other than the
operator have approved it, each with a file signed by their own SSH key.

An approval is a small TOML table followed by an `ssh-keygen -Y sign` block (namespace
`swrun-approval`) over those exact bytes. It is bound to the run id, the step's content
hash and the SHA-256 of the step's resolved command (variables filled in, secrets masked:
what the approver was shown), and expires. `swrun approve LOG STEP` writes one into
`<log>.approvals/`, which the waiting run polls; a headless run takes them as
`--approval FILE`. Nothing but the run itself ever writes its log.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tomli_w

from swrun.errors import EvidenceError
from swrun.events import format_time
from swrun.evidence import APPROVAL_NAMESPACE
from swrun.evidence.chain import digest
from swrun.evidence.keys import (
    BadSignature,
    SigningKey,
    allowed_signers,
    check,
    identity,
)

# moved to swrun/evidence/policy.py (every run reads them; this module loads when it approves)
from swrun.evidence.policy import DEFAULT_VALID_FOR as DEFAULT_VALID_FOR
from swrun.evidence.policy import Evidence as Evidence
from swrun.evidence.policy import evidence_for as evidence_for
from swrun.evidence.policy import find_allowed_signers as find_allowed_signers
from swrun.evidence.policy import is_production as is_production
from swrun.runlog import parse_at as _when

ARMOR = b"-----BEGIN SSH SIGNATURE-----"
SUFFIX = ".approval"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def approvals_dir(log_path: str | Path) -> Path:
    """`<log without .toml>.approvals/`, beside the `.output/` folder."""
    return Path(log_path).with_suffix(".approvals")


# -- what the runbook and the command line ask for -------------------------------------------


def same_person(approver_fp: str, approver: tuple[str, ...], operator_fp: str | None,
                operator: tuple[str, ...], operator_name: str = "") -> bool:
    """The one four-eyes rule, for `swrun approve` and for the run: an approval is the
    operator's own when it is signed with the operator's key, or when its key's identity
    (`keys.identity`: principals in any namespace) shares a principal with the operator's
    identity or equals the operator's `user@host` name."""
    if operator_fp and approver_fp == operator_fp:
        return True
    return bool(set(approver) & (set(operator) | ({operator_name} if operator_name else set())))


# -- the request and the approval file --------------------------------------------------------


def request_digest(command: str, secrets: Mapping[str, str] | None = None) -> str:
    """What an approval binds: the SHA-256 of the command as shown, and of the keyed hashes
    of the secret values it uses (`secret_hmacs`), so a secret changed after the approval
    makes it another command even though the approver saw `****` both times."""
    data = command.encode("utf-8")
    for name in sorted(secrets or {}):
        data += f"\n\0secret {name} {(secrets or {})[name]}".encode()
    return digest(data)


def secret_hmacs(key: bytes, values: Mapping[str, str]) -> dict[str, str]:
    """HMAC-SHA256 of each secret value under the run's approval key (approval_key)."""
    import hashlib
    import hmac

    return {n: hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()
            for n, v in sorted(values.items())}


def approval_key(run_dir: Path | None) -> bytes:
    """The run's key for `secret_hmacs`: 32 random bytes in `<log>.run/approval.key` (0600),
    made on first use and kept for the run's resumes; in memory for a run without a log."""
    import secrets as random

    if run_dir is None:
        return random.token_bytes(32)
    path = Path(run_dir) / "approval.key"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            key = fh.read(64)
        if len(key) == 32:
            return key
    except OSError:
        pass
    key = random.token_bytes(32)
    Path(run_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".approval.key.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    os.replace(tmp, path)
    return key


@dataclass(frozen=True)
class Request:
    """What an approval of one step in one run must match."""

    run_id: str
    step: str
    number: int | None
    title: str
    hash: str
    command: str
    secrets: Mapping[str, str] = field(default_factory=dict)
    """Secret variable → keyed hash of its value (`secret_hmacs`)."""

    @property
    def command_sha256(self) -> str:
        return request_digest(self.command, self.secrets)


def make_approval(request: Mapping[str, Any], run_id: str, key: SigningKey, *, approver: str,
                  valid_for: float, now: datetime | None = None,
                  detach: bool = False) -> bytes:
    """A signed approval of the step an `approval_needed` record asks about."""
    now = now or datetime.now(UTC)
    body = {"approval": {
        "version": 1,
        "run_id": run_id,
        "step": str(request.get("step", "")),
        "number": request.get("number"),
        "title": str(request.get("title", "")),
        "hash": str(request.get("hash", "")),
        "command_sha256": str(request.get("command_sha256", "")),
        "approver": approver,
        "approved_at": format_time(now),
        "expires_at": format_time(now + timedelta(seconds=valid_for)),
    }}
    body["approval"] = {k: v for k, v in body["approval"].items() if v is not None}
    text = tomli_w.dumps(body).encode("utf-8")
    return text + key.sign(text, APPROVAL_NAMESPACE, detach=detach).encode("ascii")


def read_approval(raw: bytes) -> tuple[dict[str, Any], bytes, str]:
    """The approval table, the signed bytes and the signature; EvidenceError if it is none."""
    at = raw.find(ARMOR)
    if at < 0:
        raise EvidenceError("not a signed swrun approval (no SSH signature)")
    body = raw[:at]
    try:
        doc = tomllib.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        raise EvidenceError("not a swrun approval (its text is not TOML)") from None
    table = doc.get("approval")
    if not isinstance(table, dict) or not all(
            isinstance(table.get(k), str) for k in ("run_id", "step", "hash", "command_sha256",
                                                    "approved_at", "expires_at")):
        raise EvidenceError("not a swrun approval (no [approval] table with run_id, step, "
                            "hash, command_sha256, approved_at, expires_at)")
    return table, body, raw[at:].decode("ascii", "replace")


def approval_name(number: int | None, step: str, fingerprint: str) -> str:
    slug = _UNSAFE.sub("_", step.replace("/", "__")).lstrip(".") or "step"
    key = _UNSAFE.sub("_", fingerprint.removeprefix("SHA256:"))[:16]
    return f"{number or 0:04d}-{slug}-{key}{SUFFIX}"


def write_approval(folder: Path, name: str, data: bytes) -> Path:
    """Written whole and renamed into place: the polling run never reads half a file."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / name
    tmp = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class Approval:
    principal: str
    fingerprint: str
    approved_at: str
    expires_at: str
    expires: datetime


class Refused(Exception):
    """An approval that does not count: `reason` says why, in one line."""

    def __init__(self, reason: str, principal: str | None = None,
                 fingerprint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.principal = principal
        self.fingerprint = fingerprint


@dataclass
class Checker:
    """Checks approvals of one step against the run: signature and principal (allowed
    signers), binding (run, step, content hash, command), time, four-eyes (not the operator),
    duplicates."""

    evidence: Evidence
    request: Request
    operator: str
    """The operator's name (`user@host`); a principal equal to it is the operator."""
    operator_principals: tuple[str, ...] = ()
    counted: list[Approval] = field(default_factory=list)
    used: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """(key fingerprint, approved_at) of approvals an earlier execution of this step already
    used → the seq of that execution's step_started (`used_approvals`)."""

    def check(self, raw: bytes, now: datetime | None = None) -> Approval:
        now = now or datetime.now(UTC)
        ev = self.evidence
        try:
            table, body, signature = read_approval(raw)
        except EvidenceError as exc:
            raise Refused(str(exc)) from None
        if ev.allowed_signers is None:
            raise Refused("no allowed_signers file to check approvals against")
        try:
            got = check(body, signature, APPROVAL_NAMESPACE, ev.allowed_signers)
        except BadSignature as exc:
            raise Refused(exc.reason, fingerprint=exc.fingerprint) from None
        except EvidenceError as exc:
            raise Refused(str(exc)) from None
        who, fp = got.principal, got.fingerprint
        r = self.request

        def no(reason: str) -> Refused:
            return Refused(reason, who, fp)

        if ev.approvers and not any(p in ev.approvers for p in got.principals):
            raise no(f"{who} is not one of the runbook's approvers "
                     f"({', '.join(ev.approvers)})")
        if table["run_id"] != r.run_id:
            raise no(f"it approves run {table['run_id']}, not this run ({r.run_id})")
        if table["step"] != r.step:
            raise no(f"it approves step {table['step']}, not {r.step}")
        if table["hash"] != r.hash:
            raise no(f"it approves step {r.number} as it was before it changed (content "
                     f"hash {table['hash']}, now {r.hash})")
        if table["command_sha256"] != r.command_sha256:
            raise no(f"it approves another command for step {r.number} (variables or hosts "
                     "differ from what this run would run)")
        approved, expires = _when(table["approved_at"]), _when(table["expires_at"])
        if approved is None or expires is None:
            raise no("its approved_at or expires_at is not a time")
        if expires <= now:
            raise no(f"it expired at {table['expires_at']}")
        if (expires - approved).total_seconds() > ev.valid_for + 1:
            raise no(f"it is valid for longer than the runbook allows "
                     f"({_span(ev.valid_for)})")
        if approved - now > timedelta(minutes=5):
            raise no(f"it is dated in the future ({table['approved_at']})")
        key = ev.signing_key
        try:
            theirs = identity(fp, allowed_signers(ev.allowed_signers)) or got.principals
        except EvidenceError as exc:
            raise no(str(exc)) from None
        if same_person(fp, (*theirs, *got.principals), key.fingerprint if key else None,
                       self.operator_principals, self.operator):
            raise no(f"{who} is the operator of this run: approvals must come from someone "
                     "else")
        for earlier in self.counted:
            if earlier.principal in got.principals or earlier.fingerprint == fp:
                raise no(f"{who} already approved this step")
        used = self.used.get((fp, table["approved_at"]))
        if used is not None and not ev.reuse:
            raise no(f"it was used by the execution of step {r.number} that started at seq "
                     f"{used}: an approval counts for one execution; a re-run needs a new "
                     "one")
        approval = Approval(who, fp, table["approved_at"], table["expires_at"], expires)
        self.counted.append(approval)
        return approval

    def expired(self, now: datetime | None = None) -> list[Approval]:
        """Counted approvals that expired meanwhile; they no longer count."""
        now = now or datetime.now(UTC)
        gone = [a for a in self.counted if a.expires <= now]
        self.counted = [a for a in self.counted if a.expires > now]
        return gone

    def waiting_for(self) -> tuple[str, ...]:
        """Who may still approve: the front matter's approvers, else allowed_signers'
        principals; minus the operator and those counted."""
        ev = self.evidence
        names: list[str] = list(ev.approvers)
        if not names and ev.allowed_signers is not None:
            try:
                for signer in allowed_signers(ev.allowed_signers):
                    if not signer.allows(APPROVAL_NAMESPACE):
                        continue
                    names += [p for p in signer.principals if p not in names]
            except EvidenceError:
                pass
        done = {p for a in self.counted for p in (a.principal,)}
        mine = set(self.operator_principals) | {self.operator}
        return tuple(n for n in names if n not in done and n not in mine)


def _span(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def waiting_text(missing: int, who: tuple[str, ...]) -> str:
    """`waiting for 1 more approval from: alice, bob`."""
    s = "" if missing == 1 else "s"
    return f"waiting for {missing} more approval{s}" + (
        f" from: {', '.join(who)}" if who else "")


def used_approvals(events: list[dict[str, Any]], step: str) -> dict[tuple[str, str], int]:
    """Approvals of `step` that an execution of it already used: each `approval` event of
    the step followed by a `step_started` of it → (key, approved_at): that start's seq."""
    pending: list[tuple[str, str]] = []
    used: dict[tuple[str, str], int] = {}
    for event in events:
        if event.get("step") != step:
            continue
        kind = event.get("type")
        if kind == "approval":
            pending.append((str(event.get("key")), str(event.get("approved_at"))))
        elif kind == "step_started":
            for item in pending:
                used.setdefault(item, int(event.get("seq") or 0))
            pending = []
    return used


def keep(folder: Path, path: Path, raw: bytes, number: int | None, step: str,
         fingerprint: str) -> Path:
    """The accepted approval file, kept under `<log>.approvals/` (copied there when it came
    from elsewhere, `--approval FILE`): verify and bundles read it from there."""
    if path.parent.resolve() == folder.resolve():
        return path
    name = approval_name(number, step, fingerprint)
    target = folder / name
    n = 1
    while target.exists() and target.read_bytes() != raw:
        n += 1
        target = folder / name.replace(SUFFIX, f"-{n}{SUFFIX}")
    return write_approval(folder, target.name, raw)


# -- swrun approve ----------------------------------------------------------------------------


def find_request(events: list[dict[str, Any]], ref: str) -> dict[str, Any] | None:
    """The latest `approval_needed` for step `ref` (number or id) that the run has not yet
    gone past (no `step_started` of it after the request)."""
    ref = ref.strip()
    found: dict[str, Any] | None = None
    for event in events:
        step, number = event.get("step"), event.get("number")
        match = step == ref or (ref.isdigit() and number == int(ref))
        if not match:
            continue
        if event.get("type") == "approval_needed":
            found = event
        elif event.get("type") in ("step_started", "step_skipped", "check_ticked"):
            found = None
    return found
