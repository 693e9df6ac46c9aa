"""Inventories in Ansible's own formats, loaded lazily with ansible-core's InventoryManager.

Host variables are what Ansible itself would use: inline host and group vars, `[group:vars]`,
children, and `group_vars/` / `host_vars/` next to the inventory (through VariableManager),
with Ansible's precedence. Values are not templated (`{{ }}` stays literal).
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swrun.errors import InventoryError


@dataclass(frozen=True)
class Host:
    """One inventory host with its merged variables (group vars, then host vars)."""

    name: str
    vars: dict[str, Any]


class Inventory:
    """Host patterns (`web`, `web:&production`, `web[01:20]`) resolved by ansible-core."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InventoryError(f"{path}: no such inventory")
        try:
            _quiet_ansible()
            from ansible.inventory.manager import InventoryManager
            from ansible.parsing.dataloader import DataLoader
            from ansible.vars.manager import VariableManager
        except ImportError as exc:  # pragma: no cover - ansible-core is a dependency
            raise InventoryError(f"ansible-core is not installed: {exc}") from None
        self._loader = DataLoader()
        try:
            self._manager = InventoryManager(loader=self._loader, sources=[str(self.path)])
        except Exception as exc:
            raise InventoryError(f"{path}: cannot read inventory: {exc}") from None
        if not self._manager.hosts and not self._manager.groups.get("all"):
            raise InventoryError(f"{path}: not a readable inventory")
        self._vars = VariableManager(loader=self._loader, inventory=self._manager)

    def hosts(self, pattern: str) -> list[Host]:
        """Hosts matching an Ansible pattern, in inventory order; [] when none match."""
        try:
            found = self._manager.get_hosts(pattern=pattern)
        except Exception as exc:
            raise InventoryError(f"{self.path}: bad host pattern {pattern!r}: {exc}") from None
        return [Host(h.name, self._host_vars(h)) for h in found]

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
