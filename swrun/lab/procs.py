"""Starting, finding and stopping the lab's detached processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def port_open(addr: str, port: int, timeout: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((addr, port), timeout=timeout):
        return True
    return False


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def spawn(argv: list[str], log: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> int:
    """Start a process in its own session, detached from swrun, output to `log`."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, **(env or {})}, cwd=cwd)
    return proc.pid


def wait_port(addr: str, port: int, pid: int, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(addr, port):
        if not alive(pid):
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise RuntimeError(f"{what} exited at start: {tail.strip()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on {addr}:{port} within {timeout:g}s")
        time.sleep(0.05)


def stop(pid: int | None, grace: float = 5.0) -> None:
    """TERM the process's group, then KILL what is left after `grace` seconds."""
    if not alive(pid):
        return
    assert pid is not None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
