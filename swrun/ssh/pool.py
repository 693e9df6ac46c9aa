"""One paramiko connection per target for the whole process, reused by every step.

Sockets get TCP_NODELAY (a 10x latency difference for small commands) and TCP keep-alives;
transports send SSH keep-alives. Auth is agent keys, then key files; passwords are never
used, so none can reach a log.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paramiko

from swrun.ssh import AuthError, ConnectError, Unreachable
from swrun.ssh.hostkeys import KnownHosts, preferred_key_types
from swrun.ssh.target import Target

# paramiko logs a failed handshake with a traceback through the root logger's last-resort
# stderr handler; swrun reports every connection problem itself, in one line
logging.getLogger("paramiko").addHandler(logging.NullHandler())
logging.getLogger("paramiko").propagate = False

KEEPALIVE = 15
FD_CHECK_AT = 256
"""From this many open connections on, make sure the open-file limit leaves room (small runs
never touch it, so local commands inherit the limit they always had)."""
DEFAULT_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
Notify = Callable[[str], None]


class Pool:
    """Live transports by target; `get` connects (or reconnects) on demand, thread-safe."""

    def __init__(self) -> None:
        self._conns: dict[Target, paramiko.Transport] = {}
        self._locks: dict[Target, threading.Lock] = {}
        self._lock = threading.Lock()

    def _target_lock(self, target: Target) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(target, threading.Lock())

    def get(self, target: Target, *, accept_new: bool = False,
            notify: Notify | None = None, timeout: float | None = None) -> paramiko.Transport:
        """A live transport to `target`; a dead cached one is replaced (and `notify` told).

        Connecting takes at most the target's connect timeout, or `timeout` when shorter
        (what is left of a step's `timeout=`), for each of TCP, banner, key exchange and
        authentication."""
        with self._target_lock(target):
            t = self._conns.get(target)
            if t is not None and t.is_active():
                return t
            if t is not None:
                self._conns.pop(target, None)
                t.close()
                if notify:
                    notify(f"connection to {target.name} was lost; reconnecting")
            limit = target.connect_timeout if timeout is None else max(
                0.1, min(timeout, target.connect_timeout))
            if len(self._conns) >= FD_CHECK_AT:
                _raise_fd_limit()
            t = self._connect(target, accept_new, notify, limit)
            self._conns[target] = t
            return t

    def discard(self, target: Target, transport: paramiko.Transport | None = None) -> None:
        with self._lock:
            current = self._conns.get(target)
            if current is not None and (transport is None or current is transport):
                self._conns.pop(target, None)
                current.close()

    def close_all(self) -> None:
        """Close every connection. One after the other: measured with 40 connections, that
        takes 0.4 ms in all (paramiko's close does not wait on the peer), and a thread pool
        made it 9 ms, so closing in parallel does not pay."""
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for t in conns:
            _close(t)

    def __len__(self) -> int:
        return len(self._conns)

    # -- connecting ------------------------------------------------------------------------
    def _connect(self, target: Target, accept_new: bool, notify: Notify | None,
                 limit: float) -> Any:
        sock = self._socket(target, accept_new, notify, limit)
        t = paramiko.Transport(sock)
        try:
            t.set_keepalive(KEEPALIVE)
            t.banner_timeout = t.handshake_timeout = t.auth_timeout = limit
            known = KnownHosts(target.known_hosts)
            preferred_key_types(known, target, t)
            started = time.monotonic()
            try:
                t.start_client(timeout=limit)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                # paramiko says "Error reading SSH protocol banner" for a close and a silence
                if not t.remote_version and time.monotonic() - started >= limit * 0.9:
                    raise Unreachable(_no_banner(target, limit)) from None
                raise Unreachable(f"{target.name}: SSH handshake with {target.hostname}:"
                                  f"{target.port} failed: {_why(exc)}") from None
            if not t.remote_version:  # start_client returns at its timeout, having seen nothing
                raise Unreachable(_no_banner(target, limit))
            if not t.is_active() or getattr(t, "host_key", None) is None:
                raise Unreachable(f"{target.name}: SSH handshake with {target.hostname}:"
                                  f"{target.port} did not finish within {limit:g}s")
            note = known.verify(target, t.get_remote_server_key(), accept_new=accept_new)
            if note and notify:
                notify(note)
            _authenticate(t, target)
        except BaseException:
            t.close()
            raise
        return t

    def _socket(self, target: Target, accept_new: bool, notify: Notify | None,
                limit: float) -> Any:
        if target.jump is not None:
            via = self.get(target.jump, accept_new=accept_new, notify=notify, timeout=limit)
            try:
                return via.open_channel("direct-tcpip", (target.hostname, target.port),
                                        ("127.0.0.1", 0), timeout=limit)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise Unreachable(f"{target.name}: cannot reach {target.hostname}:"
                                  f"{target.port} through jump host {target.jump.name}: "
                                  f"{_why(exc)}") from None
        try:
            sock = socket.create_connection((target.hostname, target.port), timeout=limit)
        except OSError as exc:
            raise Unreachable(f"{target.name}: cannot connect to {target.hostname}:"
                              f"{target.port}: {_why(exc)}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return sock


@functools.cache
def _raise_fd_limit(want: int = 65536) -> None:
    """One socket stays open per host for the whole run: with a soft limit of 1,024 open
    files, a 1,000-host fan-out would fail near its end. Raise the soft limit towards the
    hard one (as the Go runtime does for every program)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):
        pass


def _close(t: paramiko.Transport) -> None:
    with contextlib.suppress(Exception):
        t.close()


def _no_banner(target: Target, limit: float) -> str:
    return (f"{target.name}: no SSH banner from {target.name} within {limit:g}s "
            f"({target.hostname}:{target.port} accepts connections but says nothing)")


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _agent_keys() -> list[Any]:
    if not os.environ.get("SSH_AUTH_SOCK"):
        return []
    try:
        return list(paramiko.Agent().get_keys())
    except Exception:
        return []


def _load_key(path: str) -> tuple[Any | None, str]:
    try:
        return paramiko.PKey.from_path(path), ""
    except paramiko.PasswordRequiredException:
        return None, f"{path} is passphrase-protected (load it into ssh-agent)"
    except FileNotFoundError:
        return None, f"{path} does not exist"
    except (paramiko.SSHException, OSError, ValueError) as exc:
        return None, f"{path} unreadable: {_why(exc)}"


def _authenticate(t: paramiko.Transport, target: Target) -> None:
    tried: list[str] = []
    notes: list[str] = []
    # Named key files first (an agent full of keys can exhaust MaxAuthTries), then the agent,
    # then the default identities when the inventory and ssh_config name none.
    offers: list[tuple[str, Any]] = []
    defaults = tuple(p for p in (os.path.expanduser(k) for k in DEFAULT_KEYS) if Path(p).is_file())
    for path in target.key_files:
        key, problem = _load_key(path)
        if key is None:
            notes.append(problem)
        else:
            offers.append((path, key))
    offers.extend((f"agent key {k.fingerprint}", k) for k in _agent_keys())
    for path in () if target.key_files else defaults:
        key, problem = _load_key(path)
        if key is None:
            notes.append(problem)
        else:
            offers.append((path, key))
    allowed: list[str] = []
    for label, key in offers:
        try:
            t.auth_publickey(target.user, key)
        except paramiko.BadAuthenticationType as exc:
            allowed = list(exc.allowed_types)
            tried.append(label)
            break
        except paramiko.AuthenticationException:
            tried.append(label)
            continue
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise Unreachable(f"{target.name}: connection dropped during authentication: "
                              f"{_why(exc)}") from None
        if t.is_authenticated():
            return
    offered = ", ".join(tried) if tried else "no key (none in ssh-agent or key files)"
    extra = f"; {'; '.join(notes)}" if notes else ""
    accepts = f"; server accepts {','.join(allowed)}" if allowed else ""
    raise AuthError(f"{target.name}: authentication failed for {target.address} (offered "
                    f"{offered}{extra}{accepts}); add the right key to ssh-agent or set "
                    "ansible_ssh_private_key_file")


POOL = Pool()
atexit.register(POOL.close_all)

__all__ = ["POOL", "AuthError", "ConnectError", "Pool", "Unreachable"]
