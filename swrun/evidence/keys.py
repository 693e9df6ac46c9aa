"""SSH keys and signatures through `ssh-keygen -Y` (OpenSSH 8.2+), and `allowed_signers`.

A key is a path to a private key, or to a public key whose private half is in ssh-agent
(`ssh-keygen -Y sign -f key.pub` asks the agent, as git does with `user.signingKey`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from swrun.errors import EvidenceError
from swrun.files import MAX_SIG_BYTES, read_regular

_GOOD = re.compile(r'Good "[^"]*" signature (?:for (?P<who>.+?) )?with (?P<type>\S+) key '
                   r"(?P<fp>SHA256:\S+)")
_TIMEOUT = 30.0
_OPTION = re.compile(r'([A-Za-z-]+)(?:="([^"]*)")?,?')


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise EvidenceError("ssh-keygen is not installed (OpenSSH 8.2 or later signs and checks "
                            "swrun's logs and approvals)")
    return found


def _run(args: list[str], data: bytes | None = None, *, detach: bool = True,
         env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """ssh-keygen with `args`; `detach` takes the terminal away, so a passphrase it would ask
    for fails at once instead of writing over a console (an agent still answers)."""
    try:
        return subprocess.run([_ssh_keygen(), *args], input=data if data is not None else b"",
                              capture_output=True, timeout=_TIMEOUT, start_new_session=detach,
                              env=dict(env) if env is not None else None, check=False)
    except subprocess.TimeoutExpired:
        raise EvidenceError(f"ssh-keygen {args[0]} {args[1] if len(args) > 1 else ''} did not "
                            f"answer within {_TIMEOUT:g}s") from None
    except OSError as exc:
        raise EvidenceError(f"cannot run ssh-keygen: {exc.strerror}") from None


def _said(proc: subprocess.CompletedProcess[bytes]) -> str:
    text = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit status {proc.returncode}"


@dataclass(frozen=True)
class PublicKey:
    type: str
    """`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`…"""
    blob: str
    """The base64 key as in an authorized_keys line."""

    @property
    def fingerprint(self) -> str:
        """`SHA256:…` as `ssh-keygen -l` prints it."""
        raw = hashlib.sha256(base64.b64decode(self.blob)).digest()
        return "SHA256:" + base64.b64encode(raw).decode().rstrip("=")

    @classmethod
    def parse(cls, text: str) -> PublicKey | None:
        """The first `type base64` pair in a public key line (options and comments ignored)."""
        words = text.split()
        for i, word in enumerate(words[:-1]):
            if word.startswith(("ssh-", "ecdsa-", "sk-")):
                try:
                    base64.b64decode(words[i + 1], validate=True)
                except (binascii.Error, ValueError):
                    continue
                return cls(word, words[i + 1])
        return None


def expand(path: str, base: Path | None = None) -> Path:
    """`~` expanded; a relative path taken from `base` (a runbook's folder) when given."""
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() or base is None else base / p


@dataclass(frozen=True)
class SigningKey:
    """The key a signature is made with."""

    path: Path
    public: PublicKey

    @property
    def fingerprint(self) -> str:
        return self.public.fingerprint

    @classmethod
    def load(cls, given: str, base: Path | None = None) -> SigningKey:
        """A private key file, or a public key file with the private key in ssh-agent."""
        path = expand(given, base)
        if not path.is_file():
            raise EvidenceError(f"{given}: no such SSH key")
        pub_text = ""
        if path.suffix == ".pub":
            pub_text = _read(path)
        elif path.with_name(path.name + ".pub").is_file():
            pub_text = _read(path.with_name(path.name + ".pub"))
        else:
            proc = _run(["-y", "-f", str(path)])
            if proc.returncode != 0:
                raise EvidenceError(f"{given}: cannot read the SSH key ({_said(proc)})")
            pub_text = proc.stdout.decode("utf-8", "replace")
        public = PublicKey.parse(pub_text)
        if public is None:
            raise EvidenceError(f"{given}: not an SSH key")
        return cls(path, public)

    def sign(self, message: bytes, namespace: str, *, detach: bool = True) -> str:
        """The armored `-----BEGIN SSH SIGNATURE-----` block over `message`."""
        proc = _run(["-Y", "sign", "-q", "-f", str(self.path), "-n", namespace], message,
                    detach=detach)
        out = proc.stdout.decode("ascii", "replace")
        if proc.returncode != 0 or "BEGIN SSH SIGNATURE" not in out:
            why = _said(proc)
            if "passphrase" in why.lower() or "incorrect" in why.lower():
                why += " (a key with a passphrase must be in ssh-agent)"
            raise EvidenceError(f"cannot sign with {self.path}: {why}")
        return out.strip() + "\n"


def _read(path: Path) -> str:
    try:
        return read_regular(path, MAX_SIG_BYTES).decode("utf-8", "replace")
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read: {exc.strerror}") from None


@dataclass(frozen=True)
class Checked:
    """A signature that verified: by which key, and the principal(s) allowed_signers gives it."""

    fingerprint: str
    key_type: str
    principals: tuple[str, ...] = ()
    """Empty when no allowed_signers file was used (the signature holds, the signer is
    unknown)."""

    @property
    def principal(self) -> str:
        return self.principals[0] if self.principals else ""


class BadSignature(Exception):
    """The signature does not verify over the message, or names no allowed signer."""

    def __init__(self, reason: str, *, untrusted: bool = False,
                 fingerprint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.untrusted = untrusted
        """The signature itself holds: the key is just not one allowed_signers lists."""
        self.fingerprint = fingerprint


def check(message: bytes, signature: str, namespace: str,
          allowed_signers: Path | None, at: datetime | None = None) -> Checked:
    """Verify `signature` over `message`. With `allowed_signers`, the key must be listed
    there (for `namespace`, at time `at` — when the signature says it was made, as git checks
    a commit's — else now): BadSignature(untrusted=True) otherwise."""
    when = ["-O", "verify-time=" + at.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")] if at else []
    with tempfile.TemporaryDirectory(prefix="swrun-sig-") as tmp:
        sig = Path(tmp) / "message.sig"
        sig.write_text(signature)
        plain = _run(["-Y", "check-novalidate", "-n", namespace, "-s", str(sig)], message)
        good = _GOOD.search(plain.stdout.decode("utf-8", "replace"))
        if plain.returncode != 0 or good is None:
            raise BadSignature(f"the signature does not verify ({_said(plain)})")
        fingerprint, key_type = good.group("fp"), good.group("type")
        if allowed_signers is None:
            return Checked(fingerprint, key_type)
        if not allowed_signers.is_file():
            raise EvidenceError(f"{allowed_signers}: no such allowed_signers file")
        found = _run(["-Y", "find-principals", "-s", str(sig), "-f", str(allowed_signers),
                      "-n", namespace, *when])
        principals = tuple(p for p in found.stdout.decode("utf-8", "replace").split() if p)
        if found.returncode != 0 or not principals:
            raise BadSignature(f"signed by {key_type} key {fingerprint}, which "
                               f"{allowed_signers} does not list", untrusted=True,
                               fingerprint=fingerprint)
        proc = _run(["-Y", "verify", "-f", str(allowed_signers), "-I", principals[0], "-n",
                     namespace, "-s", str(sig), *when], message)
        if proc.returncode != 0:
            raise BadSignature(f"the signature does not verify for {principals[0]} "
                               f"({_said(proc)})", untrusted=True, fingerprint=fingerprint)
        return Checked(fingerprint, key_type, principals)


@dataclass(frozen=True)
class Signer:
    """One line of an allowed_signers file."""

    principals: tuple[str, ...]
    key: PublicKey
    namespaces: tuple[str, ...] = ()
    """From `namespaces="…"`; empty: any."""
    valid_after: str | None = None
    valid_before: str | None = None
    """`valid-after=`/`valid-before=` as written (`YYYYMMDD[HHMM[SS]][Z]`)."""

    def allows(self, namespace: str) -> bool:
        """The line's `namespaces="…"` patterns let this key sign in `namespace`."""
        import fnmatch

        return not self.namespaces or any(fnmatch.fnmatchcase(namespace, ns)
                                          for ns in self.namespaces)


def allowed_signers(path: Path) -> list[Signer]:
    """The entries of an allowed_signers file, read as ssh-keygen(1) ALLOWED SIGNERS does:
    principals (a comma-separated list, optionally in double quotes, spaces and all), then
    options (`namespaces="…"`, `valid-after=…`, `cert-authority`…), the key and a comment.
    Used for naming who may approve and who the operator is; checking signatures stays
    ssh-keygen's job."""
    out = []
    for line in _read(path).splitlines():
        entry = signer_line(line)
        if entry is not None:
            out.append(entry)
    return out


def _token(line: str, pos: int) -> tuple[str, int]:
    """One whitespace-delimited token starting at `pos`; double quotes may hold spaces (and
    are kept, as ssh-keygen keeps them inside option values)."""
    out = []
    quoted = False
    while pos < len(line):
        ch = line[pos]
        if ch == '"':
            quoted = not quoted
        elif ch in " \t" and not quoted:
            break
        out.append(ch)
        pos += 1
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    return "".join(out), pos


def _options(text: str) -> dict[str, str]:
    """`namespaces="a,b",valid-after="2026…",cert-authority` → {name: value}."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _OPTION.match(text, pos)
        if m is None or m.end() == pos:
            break
        out[m.group(1).lower()] = m.group(2) or ""
        pos = m.end()
    return out


def signer_line(line: str) -> Signer | None:
    """One allowed_signers line, or None for a blank line, a comment or one with no key."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    first, pos = _token(line, 0)
    principals = first.replace('"', "")  # a comma-separated list, quoted to hold spaces
    rest = line[pos:]
    key = PublicKey.parse(rest)
    if key is None:
        return None
    opts: dict[str, str] = {}
    word, _ = _token(rest, 0)
    if not word.startswith(key.type):  # options stand between the principals and the key
        opts = _options(word)
    spaces = opts.get("namespaces")
    return Signer(tuple(p.strip() for p in principals.split(",") if p.strip()), key,
                  tuple(x.strip() for x in spaces.split(",")) if spaces else (),
                  valid_after=opts.get("valid-after"), valid_before=opts.get("valid-before"))


def principals_of(key: PublicKey, signers: list[Signer], namespace: str) -> tuple[str, ...]:
    """The principals allowed_signers lists for `key` (in `namespace`)."""
    found: list[str] = []
    for signer in signers:
        if signer.key.blob == key.blob and signer.allows(namespace):
            found += [p for p in signer.principals if p not in found]
    return tuple(found)


def identity(fingerprint: str, signers: list[Signer]) -> tuple[str, ...]:
    """Who a key is: every principal allowed_signers lists for it, in any namespace. A person
    with one key for signing logs and another for approvals is one person (four-eyes)."""
    found: list[str] = []
    for signer in signers:
        if signer.key.fingerprint == fingerprint:
            found += [p for p in signer.principals if p not in found]
    return tuple(found)


def git_config(key: str) -> str | None:
    """A git setting (`gpg.ssh.allowedSignersFile`), or None without git or the setting."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        proc = subprocess.run([git, "config", "--get", key], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = proc.stdout.strip()
    return value if proc.returncode == 0 and value else None
