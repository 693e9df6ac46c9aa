"""Host key verification against known_hosts: unknown or changed keys refuse to connect.

There is no auto-add policy: an unknown key is accepted only when the operator asked
(`--accept-new-host-keys`), and then it is appended to the user's known_hosts and reported.
A key that differs from a recorded one is never accepted.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import paramiko

from swrun.ssh import HostKeyError
from swrun.ssh.target import Target

GLOBAL_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")
_write_lock = threading.Lock()


def user_known_hosts() -> Path:
    return Path(os.path.expanduser("~/.ssh/known_hosts"))


def fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


def _tilde(path: Path | str) -> str:
    home = os.path.expanduser("~")
    s = str(path)
    return "~" + s[len(home):] if home not in ("", "/") and s.startswith(home + "/") else s


class KnownHosts:
    """The known_hosts files that apply to one target, read fresh for each connection."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.files: list[Path] = [user_known_hosts(), GLOBAL_KNOWN_HOSTS,
                                  *(Path(p) for p in extra)]
        self._tables: list[tuple[Path, paramiko.HostKeys]] = []
        for path in dict.fromkeys(self.files):
            if path.is_file():
                table = paramiko.HostKeys()
                try:
                    table.load(str(path))
                except (OSError, paramiko.SSHException):
                    continue
                self._tables.append((path, table))

    def recorded(self, name: str) -> list[tuple[Path, str, paramiko.PKey]]:
        """Every (file, key type, key) recorded for `name`."""
        out = []
        for path, table in self._tables:
            entry = table.lookup(name)
            if entry:
                out.extend((path, kind, key) for kind, key in entry.items())
        return out

    def key_types(self, name: str) -> list[str]:
        return list(dict.fromkeys(kind for _, kind, _ in self.recorded(name)))

    def verify(self, target: Target, key: paramiko.PKey, *, accept_new: bool) -> str | None:
        """None when the key is known; a note when a new key was accepted; else HostKeyError."""
        name = target.key_name
        recorded = self.recorded(name)
        offered = fingerprint(key)
        if any(k == key for _, _, k in recorded):
            return None
        label = f"{target.name} ({name})" if target.name != name else name
        if recorded:
            path, _, old = next(((p, t, k) for p, t, k in recorded
                                 if t == key.get_name()), recorded[0])
            raise HostKeyError(
                f"{label}: HOST KEY CHANGED: offered {offered}, but {_tilde(path)} has "
                f"{fingerprint(old)}; refusing to connect (possible man-in-the-middle). If the "
                f"host was re-keyed, verify the new fingerprint out of band, then run "
                f"ssh-keygen -R '{name}' -f {_tilde(path)}")
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
