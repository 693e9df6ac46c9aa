"""`<log>.sig`: the run log's chain head signed with the operator's SSH key.

One block is appended at the end of each part of a run (its start and every resume): a few
`key = value` lines saying what is signed — the run, the log's length in bytes, the seq of
its last event and the SHA-256 of its last table (the chain head, which the hash chain ties
to every byte before it) — then `ssh-keygen -Y sign -n swrun` over exactly those lines:

    swrun log signature
    run = 0badcafe
    bytes = 12345
    seq = 42
    head = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    operator = alice@bastion
    signed_at = 2026-11-22T06:40:02.001Z
    -----BEGIN SSH SIGNATURE-----
    …
    -----END SSH SIGNATURE-----
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from swrun.errors import EvidenceError
from swrun.events import format_time, utcnow
from swrun.evidence import LOG_NAMESPACE
from swrun.evidence.keys import SigningKey
from swrun.files import check_fd

MAGIC = "swrun log signature"
_BLOCK = re.compile(r"(?ms)^swrun log signature\n(?P<claims>.*?)"
                    r"(?P<sig>^-----BEGIN SSH SIGNATURE-----\n.*?^-----END SSH SIGNATURE-----\n?)")
_CLAIM = re.compile(r"^([a-z_0-9]+) = (.*)$")


def sig_path(log_path: str | Path) -> Path:
    """`<log>.sig` (the log's whole name plus `.sig`)."""
    path = Path(log_path)
    return path.with_name(path.name + ".sig")


@dataclass(frozen=True)
class Block:
    """One signature block: its claims, the exact signed bytes and the SSH signature."""

    claims: dict[str, str]
    message: bytes
    signature: str
    line: int

    def number(self, key: str) -> int | None:
        value = self.claims.get(key, "")
        return int(value) if value.isdigit() else None


def message(run_id: str, size: int, seq: int, head: str, operator: str, at: str) -> bytes:
    lines = [MAGIC, f"run = {run_id}", f"bytes = {size}", f"seq = {seq}", f"head = {head}",
             f"operator = {operator}", f"signed_at = {at}"]
    return ("\n".join(_one_line(x) for x in lines) + "\n").encode("utf-8")


def _one_line(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ")


def sign_log(log_path: str | Path, key: SigningKey, *, run_id: str, head: tuple[str, int, int],
             operator: str) -> Path:
    """Append a signature block for the log as it is now (`head` from RunLog.head)."""
    digest, size, seq = head
    msg = message(run_id, size, seq, digest, operator, format_time(utcnow()))
    block = msg + key.sign(msg, LOG_NAMESPACE).encode("ascii")
    path = sig_path(log_path)
    try:  # a FIFO there would block the end of the run: refused (ENXIO or not regular)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
                     | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot write the log's signature: {exc.strerror}") from None
    try:
        check_fd(fd, path)
        os.write(fd, block)
        os.fsync(fd)
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot write the log's signature: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    return path


def read_blocks(text: str) -> list[Block]:
    """The signature blocks of a `.sig` file, in order."""
    out = []
    for found in _BLOCK.finditer(text):
        claims: dict[str, str] = {}
        for line in found.group("claims").splitlines():
            m = _CLAIM.match(line)
            if m:
                claims[m.group(1)] = m.group(2)
        msg = (MAGIC + "\n" + found.group("claims")).encode("utf-8")
        out.append(Block(claims, msg, found.group("sig"),
                         text.count("\n", 0, found.start()) + 1))
    return out
