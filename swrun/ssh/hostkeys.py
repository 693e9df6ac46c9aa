"""Host key verification against known_hosts: unknown or changed keys refuse to connect.

There is no auto-add policy: an unknown key is accepted only when the operator asked
(`--accept-new-host-keys`), and then it is appended to the user's known_hosts and reported.
A key that differs from a recorded one is never accepted.

Each known_hosts file is read once per run (again only when its size or mtime changes) into
an index: plain names in a dict, hashed `|1|salt|hash` names grouped by salt, so a lookup
costs one dict probe plus one HMAC per distinct salt, and the answer for a name is kept.
paramiko's own `HostKeys` re-scans the whole file on every load and lookup (quadratic in its
size: 0.3 s a connection at 1,000 entries, 6.6 s at 5,000).

Matching is paramiko's: a name matches an entry when it equals one of the entry's names or
its HMAC does (no `*`/`?` wildcards, which paramiko never honoured either). Markers:
`@revoked` keys are refused for the names they list (paramiko ignored the line, and so would
have accepted a revoked key that was also recorded plainly); `@cert-authority` lines are
ignored, as paramiko ignored them (swrun does not accept host certificates).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from swrun.ssh import HostKeyError
from swrun.ssh.target import Target

_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
GLOBAL_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")
KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521"})
"""Key types paramiko can verify; lines of other types are skipped, as paramiko skipped them."""
_write_lock = threading.Lock()


def user_known_hosts() -> Path:
    return Path(os.path.expanduser("~/.ssh/known_hosts"))


def fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def _fp(kind: str, blob: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"{kind} SHA256:{digest}"


def _tilde(path: Path | str) -> str:
    home = os.path.expanduser("~")
    s = str(path)
    return "~" + s[len(home):] if home not in ("", "/") and s.startswith(home + "/") else s


@dataclass(frozen=True)
class Recorded:
    """One key recorded for a name: which file, its type, its raw blob."""

    path: Path
    kind: str
    blob: bytes
    revoked: bool = False

    @property
    def fingerprint(self) -> str:
        return _fp(self.kind, self.blob)


@dataclass
class HostKeyIndex:
    """One known_hosts file, parsed once: lookups by name without re-reading it."""

    path: Path
    plain: dict[str, list[Recorded]] = field(default_factory=dict)
    hashed: dict[bytes, list[Recorded]] = field(default_factory=dict)
    """salt + HMAC-SHA1(salt, name) → keys"""
    salts: list[bytes] = field(default_factory=list)
    """Each distinct salt once: a lookup computes one HMAC per salt."""
    _seen: dict[str, list[Recorded]] = field(default_factory=dict)
    _hmac: list[tuple[bytes, Any, Any]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def parse(cls, path: Path, text: str) -> HostKeyIndex:
        index = cls(path)
        salts: dict[bytes, None] = {}
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            marker = None
            if fields[0].startswith("@"):
                marker, fields = fields[0], fields[1:]
            if len(fields) < 3 or fields[1] not in KEY_TYPES:
                continue
            names, kind, b64 = fields[:3]
            try:
                blob = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                continue  # paramiko skips a line whose key does not decode
            if marker not in (None, "@revoked"):  # @cert-authority (or unknown): ignored,
                continue  # as by paramiko
            rec = Recorded(path, kind, blob, revoked=marker == "@revoked")
            for name in names.split(","):
                if name.startswith("|1|"):
                    salt_hash = name[3:].split("|")
                    if len(salt_hash) != 2:
                        continue
                    try:
                        salt = base64.b64decode(salt_hash[0])
                        digest = base64.b64decode(salt_hash[1])
                    except (binascii.Error, ValueError):
                        continue
                    if len(salt) != 20 or len(digest) != 20:
                        continue
                    _add(index.hashed, salt + digest, rec)
                    salts[salt] = None
                elif name:
                    _add(index.plain, name, rec)
        index.salts = list(salts)
        return index

    def _pads(self) -> list[tuple[bytes, Any, Any]]:
        with self._lock:
            if self._hmac is None:
                self._hmac = [(salt, hashlib.sha1(salt.ljust(64, b"\0").translate(_IPAD)),
                               hashlib.sha1(salt.ljust(64, b"\0").translate(_OPAD)))
                              for salt in self.salts]
            return self._hmac

    def lookup(self, name: str) -> list[Recorded]:
        """Every key recorded for `name`, revoked ones included (flagged)."""
        with self._lock:
            found = self._seen.get(name)
        if found is not None:
            return found
        found = list(self.plain.get(name, ()))
        if self.salts:
            # One HMAC per distinct salt: the cost of the hashed format, whose whole point is
            # that a name cannot be found without trying every salt. Each salt's HMAC-SHA1
            # inner and outer states are computed once (on the first lookup), so a lookup is
            # two SHA-1 block updates per salt: ~0.5 µs, where a fresh hmac.digest() call
            # costs ~10 µs (OpenSSL 3 sets up the algorithm each time).
            raw = name.encode()
            hashed = self.hashed
            for salt, inner, outer in self._pads():
                i = inner.copy()
                i.update(raw)
                o = outer.copy()
                o.update(i.digest())
                keys = hashed.get(salt + o.digest())
                if keys:
                    found.extend(k for k in keys if k not in found)
        with self._lock:
            self._seen[name] = found
        return found


def _add(table: dict[Any, list[Recorded]], key: Any, rec: Recorded) -> None:
    keys = table.setdefault(key, [])
    if rec not in keys:  # the same key for the same name twice: once
        keys.append(rec)


_cache: dict[Path, tuple[tuple[int, int], HostKeyIndex]] = {}
_cache_lock = threading.Lock()


def index_for(path: Path) -> HostKeyIndex | None:
    """The parsed file, from the cache while its size and mtime are unchanged; None when it
    does not exist or cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    stamp = (st.st_mtime_ns, st.st_size)
    with _cache_lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    index = HostKeyIndex.parse(path, text)
    with _cache_lock:
        _cache[path] = (stamp, index)
    return index


class KnownHosts:
    """The known_hosts files that apply to one target (parsed once per run, see index_for)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.files: list[Path] = [user_known_hosts(), GLOBAL_KNOWN_HOSTS,
                                  *(Path(p) for p in extra)]
        self._tables: list[HostKeyIndex] = [
            t for t in (index_for(p) for p in dict.fromkeys(self.files)) if t is not None]

    def recorded(self, name: str) -> list[Recorded]:
        """Every key recorded for `name`, in file order (revoked ones flagged)."""
        out: list[Recorded] = []
        for table in self._tables:
            out.extend(table.lookup(name))
        return out

    def key_types(self, name: str) -> list[str]:
        return list(dict.fromkeys(r.kind for r in self.recorded(name) if not r.revoked))

    def verify(self, target: Target, key: paramiko.PKey, *, accept_new: bool) -> str | None:
        """None when the key is known; a note when a new key was accepted; else HostKeyError."""
        name = target.key_name
        found = self.recorded(name)
        offered = fingerprint(key)
        blob, kind = key.asbytes(), key.get_name()
        label = f"{target.name} ({name})" if target.name != name else name
        bad = next((r for r in found if r.revoked and r.blob == blob), None)
        if bad is not None:
            raise HostKeyError(
                f"{label}: host key {offered} is marked @revoked in {_tilde(bad.path)}; "
                "refusing to connect")
        recorded = [r for r in found if not r.revoked]
        if any(r.blob == blob for r in recorded):
            return None
        if recorded:
            old = next((r for r in recorded if r.kind == kind), recorded[0])
            raise HostKeyError(
                f"{label}: HOST KEY CHANGED: offered {offered}, but {_tilde(old.path)} has "
                f"{old.fingerprint}; refusing to connect (possible man-in-the-middle). If the "
                f"host was re-keyed, verify the new fingerprint out of band, then run "
                f"ssh-keygen -R '{name}' -f {_tilde(old.path)}")
        if not accept_new:
            where = ", ".join(_tilde(p) for p in dict.fromkeys(self.files) if p.is_file()) \
                or "no known_hosts file"
            scan = f"ssh-keyscan -p {target.port} {target.hostname}" if target.port != 22 \
                else f"ssh-keyscan {target.hostname}"
            raise HostKeyError(
                f"{label}: unknown host key {offered} (not in {where}); verify the fingerprint, "
                f"then add it ({scan} >> ~/.ssh/known_hosts) or run with "
                "--accept-new-host-keys")
        path = user_known_hosts()
        _append(path, name, key)
        return (f"accepted NEW host key for {label}: {offered} (--accept-new-host-keys), "
                f"added to {_tilde(path)}")


def _append(path: Path, name: str, key: paramiko.PKey) -> None:
    with _write_lock:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(f"{name} {key.get_name()} {key.get_base64()}\n")


def preferred_key_types(known: KnownHosts, target: Target, transport: Any) -> None:
    """Ask the server for a key type we have recorded first (as OpenSSH does)."""
    ours = known.key_types(target.key_name)
    if not ours:
        return
    opts = transport.get_security_options()
    available = list(opts.key_types)
    first = [k for k in available if k in ours or _base_type(k) in ours]
    if first:
        opts.key_types = first + [k for k in available if k not in first]


def _base_type(algorithm: str) -> str:
    # rsa-sha2-256/512 signatures use ssh-rsa keys
    return "ssh-rsa" if algorithm.startswith("rsa-sha2-") else algorithm
