"""Hosts and inventories for the Ansible tests: three sshd hosts of their own on 127.0.0.30-32.

The hosts come from tests/sshd.py unchanged; this module adds what playbooks need per host
(app_root, app_port, app_addr, backup_dir) and the checks that nothing was left running.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshd import Cluster, alive, cluster, processes_matching

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOKS = ROOT / "playbooks"
PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def ans_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """h1..h3 on 127.0.0.30-32 for one test module; pm2 is killed on each host afterwards."""
    with cluster(tmp_path_factory.mktemp("ans-sshd"), 3, first=30) as c:
        yield c


def write_inventory(c: Cluster, path: Path, groups: dict[str, list[str]] | None = None,
                    extra_hosts: list[str] | None = None, known_hosts: Path | None = None) -> Path:
    """An INI inventory like a real one: per-host app_root/app_port/app_addr, strict keys."""
    lines = []
    for h in c.hosts:
        lines.append(f"{h.name} ansible_host={h.addr} ansible_port={h.port} ansible_user=root "
                     f"app_root={h.dir / 'srv'} app_port={h.app_port} app_addr={h.addr} "
                     f"backup_dir={h.dir / 'backups'}")
    lines += extra_hosts or []
    for group, members in (groups or {}).items():
        lines += [f"\n[{group}]", *members]
    lines += ["\n[all:vars]", f"ansible_ssh_private_key_file={c.client_key}",
              f"swrun_known_hosts={known_hosts or c.known_hosts}",
              f"ansible_python_interpreter={PYTHON}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def local_inventory(path: Path) -> Path:
    """localhost over ansible_connection=local (no SSH at all)."""
    path.write_text(f"localhost ansible_connection=local ansible_python_interpreter={PYTHON}\n")
    return path


def stray(token: str) -> list[str]:
    """Command lines of live processes mentioning `token` (ansible, ssh masters, remote work)."""
    out = []
    for pid in processes_matching(token):
        if pid == os.getpid() or not alive(pid):
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        out.append(f"{pid}: {cmd.strip()}")
    return out


def wait_gone(token: str, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        left = stray(token)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def copy_playbooks(dest: Path) -> Path:
    """playbooks/ copied next to a test runbook, as a runbook repository would have it."""
    shutil.copytree(PLAYBOOKS, dest / "playbooks")
    return dest / "playbooks"
