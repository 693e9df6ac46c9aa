"""Inventories in Ansible's own formats, resolved by ansible-core, remembered on disk.

Host variables are what Ansible itself would use: inline host and group vars, `[group:vars]`,
children, and `group_vars/` / `host_vars/` next to the inventory (through VariableManager),
with Ansible's precedence. Values are not templated (`{{ }}` stays literal). Only the
variables swrun reads are kept (`ansible_*` and `swrun_*`, minus anything about passwords,
become or vault), so no other value of the inventory is copied anywhere.

Start-up: importing ansible-core costs ~0.6 s. The hosts each pattern resolved to (and those
hosts' variables) are cached in `$XDG_CACHE_HOME/swrun/inventory/` (0600), keyed by the size
and mtime of the inventory file and of every file under `group_vars/` and `host_vars/` next
to it, and by the `ANSIBLE_*` environment. A later run asking the same patterns of unchanged
files does not import ansible-core at all; a new pattern or a changed file goes through
ansible-core again, so patterns, ranges and precedence are always ansible-core's own.
Inventories that are not plain files (directories, scripts, `plugin:` YAML) and files with
vault data are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swrun.errors import InventoryError


@dataclass(frozen=True)
class Host:
    """One inventory host with its merged variables (group vars, then host vars)."""

    name: str
    vars: dict[str, Any]


_MAGIC = frozenset({"ansible_facts", "ansible_version", "ansible_playbook_python",
                    "ansible_config_file", "ansible_check_mode", "ansible_diff_mode",
                    "ansible_forks", "ansible_inventory_sources", "ansible_run_tags",
                    "ansible_skip_tags", "ansible_verbosity", "ansible_play_batch",
                    "ansible_play_hosts", "ansible_play_hosts_all"})
_SECRET = re.compile(r"pass|vault|become|secret|token", re.I)
CACHE_VERSION = 1
_OWN_ENV = ("ANSIBLE_LOCAL_TEMP", "ANSIBLE_HOST_PATTERN_MISMATCH")
"""Set by swrun itself before ansible-core loads (see _quiet_ansible): not part of the key."""


def kept(variables: dict[str, Any]) -> dict[str, Any]:
    """The variables swrun reads: `ansible_*` and `swrun_*`, nothing secret, JSON-safe."""
    out = {k: v for k, v in variables.items()
           if k.startswith(("ansible_", "swrun_")) and k not in _MAGIC and not _SECRET.search(k)}
    return json.loads(json.dumps(out, default=str))


LAB_INVENTORY = ("inventories", "lab.yml")
"""Where `swrun lab up` writes its inventory (relative to where it runs; not committed)."""


def lab_writes(path: str | Path) -> str | None:
    """For an inventory that does not exist yet and that `swrun lab up` writes (the shipped
    runbooks' `../inventories/lab.yml`): how to get it. None for any other path."""
    p = Path(os.path.normpath(Path(path).absolute()))
    if p.exists() or p.parts[-2:] != LAB_INVENTORY:
        return None
    return (f"the local lab writes it: run `swrun lab up` in {p.parent.parent} "
            "(README.md: A five-minute tour)")


class Inventory:
    """Host patterns (`web`, `web:&production`, `web[01:20]`) resolved by ansible-core."""

    def __init__(self, path: str | Path, *, cache: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            how = lab_writes(path)
            raise InventoryError(f"{path}: no such inventory" + (f"; {how}" if how else ""))
        self._manager: Any = None
        self._vars: Any = None
        self._cache = _Cache.open(self.path) if cache else None
        if self._cache is None or not self._cache.patterns:
            self._load()

    @property
    def loaded_ansible(self) -> bool:
        """Whether this inventory had to use ansible-core (False: every answer was cached)."""
        return self._manager is not None

    def _load(self) -> None:
        if self._manager is not None:
            return
        try:
            _quiet_ansible()
            from ansible.inventory.manager import InventoryManager
            from ansible.parsing.dataloader import DataLoader
            from ansible.vars.manager import VariableManager
        except ImportError as exc:  # pragma: no cover - ansible-core is a dependency
            raise InventoryError(f"ansible-core is not installed: {exc}") from None
        loader = DataLoader()
        try:
            manager = InventoryManager(loader=loader, sources=[str(self.path)])
        except Exception as exc:
            raise InventoryError(f"{self.path}: cannot read inventory: {exc}") from None
        if not manager.hosts and not manager.groups.get("all"):
            raise InventoryError(f"{self.path}: not a readable inventory")
        self._vars = VariableManager(loader=loader, inventory=manager)
        self._manager = manager

    def hosts(self, pattern: str) -> list[Host]:
        """Hosts matching an Ansible pattern, in inventory order; [] when none match."""
        if self._cache is not None:
            hit = self._cache.get(pattern)
            if hit is not None:
                return hit
        self._load()
        try:
            found = self._manager.get_hosts(pattern=pattern)
        except Exception as exc:
            raise InventoryError(f"{self.path}: bad host pattern {pattern!r}: {exc}") from None
        hosts = [Host(h.name, kept(self._host_vars(h))) for h in found]
        if self._cache is not None:
            self._cache.put(pattern, hosts)
        return hosts

    def _host_vars(self, host: Any) -> dict[str, Any]:
        try:
            return dict(self._vars.get_vars(host=host, include_hostvars=False))
        except Exception:  # a broken group_vars file: fall back to the inventory's own vars
            return self._group_vars(host)

    def _group_vars(self, host: Any) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for group in sorted(host.get_groups(), key=lambda g: g.depth):
            merged.update(group.get_vars())
        merged.update(host.get_vars())
        return merged

    def names(self, pattern: str) -> list[str]:
        return [h.name for h in self.hosts(pattern)]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "swrun" / "inventory"


class _Cache:
    """One inventory's resolved patterns on disk, valid while its files are unchanged."""

    _lock = threading.Lock()

    def __init__(self, file: Path, stamp: str, data: dict[str, Any]) -> None:
        self.file = file
        self.stamp = stamp
        self.patterns: dict[str, list[str]] = data.get("patterns", {})
        self.vars: dict[str, dict[str, Any]] = data.get("vars", {})

    @classmethod
    def open(cls, path: Path) -> _Cache | None:
        stamp = _stamp(path)
        if stamp is None:
            return None
        file = cache_dir() / (hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
                              + ".json")
        data: dict[str, Any] = {}
        try:
            loaded = json.loads(file.read_text())
            if loaded.get("stamp") == stamp:
                data = loaded
        except (OSError, ValueError, AttributeError):
            pass
        return cls(file, stamp, data)

    def get(self, pattern: str) -> list[Host] | None:
        names = self.patterns.get(pattern)
        if names is None:
            return None
        return [Host(n, dict(self.vars[n])) for n in names]

    def put(self, pattern: str, hosts: list[Host]) -> None:
        with self._lock:
            self.patterns[pattern] = [h.name for h in hosts]
            for h in hosts:
                self.vars[h.name] = h.vars
            data = {"stamp": self.stamp, "patterns": self.patterns, "vars": self.vars}
            try:
                self.file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    json.dump(data, fh)
                os.replace(tmp, self.file)
            except OSError:
                pass  # a cache that cannot be written only costs start-up time


def _stamp(path: Path) -> str | None:
    """What the cache entry depends on, or None when the inventory must not be cached."""
    if not path.is_file() or os.access(path, os.X_OK):
        return None  # a directory of sources or an inventory script
    files = [path]
    for sub in ("group_vars", "host_vars"):
        d = path.parent / sub
        if d.is_dir():
            files.extend(sorted(p for p in d.rglob("*") if p.is_file()))
    parts = [f"v{CACHE_VERSION}"]
    for f in files:
        try:
            st = f.stat()
            head = f.read_bytes()
        except OSError:
            return None
        if b"$ANSIBLE_VAULT" in head or b"!vault" in head:
            return None  # never copy decrypted values anywhere
        if f == path and re.search(rb"^plugin\s*:", head, re.M):
            return None  # an inventory plugin: dynamic
        parts.append(f"{f}:{st.st_size}:{st.st_mtime_ns}")
    parts.extend(f"{k}={v}" for k, v in sorted(os.environ.items())
                 if k.startswith("ANSIBLE_") and k not in _OWN_ENV)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _quiet_ansible() -> None:
    """Before ansible-core loads: its scratch files go to /tmp, not the user's home, and it
    does not warn about patterns that match nothing (swrun reports those itself)."""
    os.environ.setdefault("ANSIBLE_LOCAL_TEMP",
                          str(Path(tempfile.gettempdir()) / f"swrun-ansible-{os.getuid()}"))
    os.environ.setdefault("ANSIBLE_HOST_PATTERN_MISMATCH", "ignore")
    if "ansible.utils.color" not in sys.modules:
        from ansible import constants

        # ansible-core's colour module calls curses.setupterm() on sys.stdout when that claims
        # to be a terminal; under the console it is Textual's capture (isatty, fileno -1) and
        # the import raises. swrun prints no ansible-core colour in process anyway.
        constants.ANSIBLE_NOCOLOR = True
