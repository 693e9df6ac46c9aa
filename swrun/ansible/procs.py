"""Stopping an ansible-playbook for good: its forked workers, their ssh clients, the ssh masters.

ansible-runner's cancel kills only the process group of `ansible-playbook`, but Ansible's
workers run in process groups of their own and outlive it, and ssh ControlPersist masters
outlive everything. So: freeze the main process, kill every worker group under it, let the
runner kill the main group, then ask each master in the run's control directory to exit
(which closes the remote sessions; the modules ran on a tty, so they get SIGHUP).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from swrun.procs import alive, children, cmdline, descendants

__all__ = [
    "alive",
    "close_masters",
    "cmdline",
    "descendants",
    "find_child",
    "kill_workers",
    "reap",
]


def find_child(token: str) -> int | None:
    """Our own child process whose command line contains `token` (the runner's ansible)."""
    for pid in children().get(os.getpid(), []):
        if token in cmdline(pid):
            return pid
    return None


def kill_workers(main: int) -> list[int]:
    """Stop `main`, SIGKILL every process group below it; the pids hit (for a later check)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(main, signal.SIGSTOP)  # no new workers while we take the old ones down
    kids = descendants(main)
    ours = os.getpgrp()
    groups = set()
    for pid in kids:
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(pid))
    for pgid in groups - {ours}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for pid in kids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return kids


def reap(pids: list[int], wait: float = 2.0) -> None:
    deadline = time.monotonic() + wait
    for pid in pids:
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def close_masters(control_dir: Path, env: dict[str, str] | None = None) -> int:
    """`ssh -O exit` every ControlPersist master with a socket in `control_dir`."""
    if not control_dir.is_dir():
        return 0
    closed = 0
    for sock in control_dir.iterdir():
        if sock.is_socket():
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                subprocess.run(["ssh", "-o", "BatchMode=yes", "-S", str(sock), "-O", "exit",
                                "swrun-master"], capture_output=True, timeout=5,
                               stdin=subprocess.DEVNULL, env=env)
                closed += 1
    return closed
