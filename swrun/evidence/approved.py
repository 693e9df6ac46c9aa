"""`swrun verify` on the approvals a log records: each `approval` event is only the run's word
until its signed file is checked again.

For every `approval` event: the approval file the run kept (`<log>.approvals/`, bound by the
event's `file_sha256`), its SSH signature (namespace `swrun-approval`, a key allowed_signers
lists, valid when it was made), that it is the principal and key the event names, that it
approves this run, this step and the exact request the run logged (content hash and command
hash, the command itself hashing to it), and that the approver is neither the operator of
that part of the run nor a signer of it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from swrun.errors import EvidenceError
from swrun.evidence import APPROVAL_NAMESPACE
from swrun.evidence.keys import BadSignature, allowed_signers, check, identity

Fail = Callable[[str, str], None]
"""(status, one line): Verdict.fail."""


def check_approvals(fail: Fail, log: Path, run_id: str, events: list[dict[str, Any]],
                    allowed: Path | None, part_keys: Callable[[int], Iterable[str]],
                    part_operator: Callable[[int], str]) -> int:
    """Check every `approval` event of `events`; problems go to `fail`. `part_keys(seq)`: the
    keys that run or signed the part of the run holding that seq; `part_operator(seq)`: its
    operator's name. Returns how many approvals held."""
    from swrun.evidence.approve import read_approval, request_digest, same_person
    from swrun.runlog import parse_at

    held = 0
    requests: dict[str, dict[str, Any]] = {}
    signers = None
    for event in events:
        kind = event.get("type")
        if kind == "approval_needed":
            requests[str(event.get("step"))] = event
            continue
        if kind != "approval":
            continue
        seq = int(event.get("seq") or 0)
        where = f"the approval at seq {seq} (by {event.get('by')})"
        rel = event.get("file")
        if not isinstance(rel, str) or os.path.isabs(rel) or ".." in Path(rel).parts:
            fail("tampered", f"{where} names no approval file inside the log's folder ({rel})")
            continue
        raw = _read(log.parent / rel)
        if raw is None:
            fail("tampered", f"{where}: its file {rel} is missing or not a regular file")
            continue
        recorded = event.get("file_sha256")
        if isinstance(recorded, str) and hashlib.sha256(raw).hexdigest() != recorded:
            fail("tampered", f"{where}: {rel} is not the file the run accepted (SHA-256)")
            continue
        try:
            table, body, signature = read_approval(raw)
        except EvidenceError as exc:
            fail("tampered", f"{where}: {rel}: {exc}")
            continue
        if allowed is None:
            fail("untrusted", f"{where} cannot be checked: no allowed_signers file says whose "
                              "keys count (--allowed-signers FILE)")
            continue
        try:
            got = check(body, signature, APPROVAL_NAMESPACE, allowed,
                        at=parse_at(table.get("approved_at")))
        except BadSignature as exc:
            fail("untrusted" if exc.untrusted else "tampered", f"{where}: {rel}: {exc.reason}")
            continue
        except EvidenceError as exc:
            fail("unreadable", str(exc))
            return held
        if got.fingerprint != event.get("key") or event.get("by") not in got.principals:
            fail("tampered", f"{where}: {rel} is signed by {got.principal} "
                             f"{got.fingerprint}, not by who the log says")
            continue
        need = requests.get(str(event.get("step")))
        if table.get("run_id") != run_id or table.get("step") != event.get("step"):
            fail("tampered", f"{where}: {rel} approves step {table.get('step')} of run "
                             f"{table.get('run_id')}, not step {event.get('step')} of this run")
            continue
        secrets = need.get("secrets") if need is not None else None
        if need is None or table.get("hash") != need.get("hash") or \
                table.get("command_sha256") != need.get("command_sha256") or \
                request_digest(str(need.get("command", "")),
                               secrets if isinstance(secrets, dict) else None) != need.get(
                    "command_sha256"):
            fail("tampered", f"{where}: {rel} does not approve the request the run logged "
                             "(content hash or command differ)")
            continue
        if signers is None:
            try:
                signers = allowed_signers(allowed)
            except EvidenceError as exc:
                fail("unreadable", str(exc))
                return held
        theirs = (*identity(got.fingerprint, signers), *got.principals)
        own = False
        for key in part_keys(seq):
            if same_person(got.fingerprint, theirs, key, identity(key, signers),
                           part_operator(seq)):
                own = True
        if own or same_person(got.fingerprint, theirs, None, (), part_operator(seq)):
            fail("tampered", f"{where}: the approver {got.principal} is the operator or a "
                             "signer of that part of the run: four-eyes does not hold")
            continue
        held += 1
    return held


def _read(path: Path) -> bytes | None:
    """A regular file's bytes (a FIFO or device never hangs or floods the reader)."""
    from swrun.files import MAX_APPROVAL_BYTES, read_regular

    try:
        return read_regular(path, MAX_APPROVAL_BYTES)
    except OSError:  # NotRegular included
        return None
