"""Where and how to reach one inventory host: inventory vars first, then ~/.ssh/config."""

from __future__ import annotations

import getpass
import os
import re
import shlex
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swrun.ssh import ConnectError

DEFAULT_CONNECT_TIMEOUT = 10.0
KNOWN_HOSTS_VARS = ("swrun_known_hosts", "ansible_ssh_known_hosts_file")
"""Inventory vars naming extra known_hosts files (a path, a list, or space-separated paths)."""
_JUMP_ARG = re.compile(r"(?:-J\s*|ProxyJump[= ]\s*)(\S+)")


@dataclass(frozen=True)
class Target:
    """One SSH endpoint, hashable so the pool can key connections on it."""

    name: str
    """The inventory name (what output lines and results are labelled with)."""
    hostname: str
    port: int = 22
    user: str = "root"
    key_files: tuple[str, ...] = ()
    known_hosts: tuple[str, ...] = ()
    """Extra known_hosts files (inventory and ssh_config), besides the user's and the global."""
    host_key_alias: str | None = None
    jump: Target | None = None
    """The last ProxyJump hop, itself possibly behind another jump."""
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    @property
    def key_name(self) -> str:
        """The name known_hosts files use for this host: `host` or `[host]:port`."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


def ssh_config_path() -> Path:
    return Path(os.path.expanduser("~/.ssh/config"))


class _Config:
    """~/.ssh/config parsed once per run (again when it changes), lookups remembered."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self._seen: dict[str, Any] = {}
        self._lock = threading.Lock()

    def lookup(self, alias: str) -> Any:
        with self._lock:
            found = self._seen.get(alias)
        if found is None:
            found = self.config.lookup(alias)
            with self._lock:
                self._seen[alias] = found
        return found


_configs: dict[str, tuple[tuple[int, int], _Config]] = {}
_configs_lock = threading.Lock()


def _ssh_config(path: Path | None) -> _Config:
    import paramiko

    path = path or ssh_config_path()
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (-1, -1)
    with _configs_lock:
        hit = _configs.get(str(path))
        if hit is not None and hit[0] == stamp:
            return hit[1]
    if path.is_file():
        try:
            config = _Config(paramiko.SSHConfig.from_path(str(path)))
        except Exception as exc:
            raise ConnectError(f"cannot read {path}: {exc}") from None
    else:
        config = _Config(paramiko.SSHConfig())
    with _configs_lock:
        _configs[str(path)] = (stamp, config)
    return config


def resolve(
    name: str, hostvars: Mapping[str, Any], *, base_dir: Path | None = None,
    ssh_config: Path | None = None,
) -> Target:
    """A Target for inventory host `name` with variables `hostvars`.

    Inventory vars (ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file,
    ansible_ssh_common_args' ProxyJump/-J) win over ~/.ssh/config (HostName, User, Port,
    IdentityFile, ProxyJump, UserKnownHostsFile, HostKeyAlias, ConnectTimeout), as with
    Ansible, which passes its vars to ssh as options that override the config file.
    """
    config = _ssh_config(ssh_config)
    alias = str(hostvars.get("ansible_host") or hostvars.get("ansible_ssh_host") or name)
    found = config.lookup(alias)
    hostname = str(found.get("hostname") or alias)
    port = _int(hostvars.get("ansible_port") or hostvars.get("ansible_ssh_port")
                or found.get("port") or 22, name, "port")
    user = str(hostvars.get("ansible_user") or hostvars.get("ansible_ssh_user")
               or found.get("user") or getpass.getuser())
    key = hostvars.get("ansible_ssh_private_key_file") or hostvars.get("ansible_private_key_file")
    keys = (_path(str(key), base_dir),) if key else tuple(
        os.path.expanduser(k) for k in found.get("identityfile", []))
    known: list[str] = []
    for var in KNOWN_HOSTS_VARS:
        known.extend(_path(p, base_dir) for p in _paths(hostvars.get(var)))
    known.extend(os.path.expanduser(p) for p in str(found.get("userknownhostsfile", "")).split())
    jump_spec = _jump_from_args(hostvars) or found.get("proxyjump")
    jump = None
    if jump_spec and str(jump_spec).lower() != "none":
        jump = _jump_chain(str(jump_spec), config, tuple(known))
    timeout = hostvars.get("ansible_ssh_timeout") or hostvars.get("ansible_timeout") \
        or found.get("connecttimeout") or DEFAULT_CONNECT_TIMEOUT
    return Target(
        name=name, hostname=hostname, port=port, user=user, key_files=keys,
        known_hosts=tuple(dict.fromkeys(known)), host_key_alias=found.get("hostkeyalias"),
        jump=jump, connect_timeout=float(timeout),
    )


def _jump_from_args(hostvars: Mapping[str, Any]) -> str | None:
    for var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        m = _JUMP_ARG.search(str(hostvars.get(var) or ""))
        if m:
            return m.group(1).strip("'\"")
    return None


def _jump_chain(spec: str, config: Any, known: tuple[str, ...]) -> Target:
    """`a,user@b:2222` → Target(b, jump=Target(a)): each hop goes through the one before."""
    previous: Target | None = None
    for hop in spec.split(","):
        user, _, rest = hop.strip().rpartition("@")
        host, _, port = rest.partition(":")
        found = config.lookup(host)
        previous = Target(
            name=f"jump:{host}", hostname=str(found.get("hostname") or host),
            port=int(port or found.get("port") or 22),
            user=user or str(found.get("user") or getpass.getuser()),
            key_files=tuple(os.path.expanduser(k) for k in found.get("identityfile", [])),
            known_hosts=known, host_key_alias=found.get("hostkeyalias"), jump=previous,
        )
    assert previous is not None
    return previous


def _paths(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return shlex.split(str(value))


def _path(value: str, base_dir: Path | None) -> str:
    p = Path(os.path.expanduser(value))
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    return str(p)


def _int(value: Any, host: str, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConnectError(f"{host}: {what} {value!r} is not a number") from None
