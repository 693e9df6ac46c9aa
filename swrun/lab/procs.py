"""Starting, finding and stopping the lab's detached processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from swrun.procs import alive

__all__ = ["alive", "port_open", "spawn", "stop", "wait_port"]


def port_open(addr: str, port: int, timeout: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((addr, port), timeout=timeout):
        return True
    return False


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


def _signal(pid: int, sig: int) -> None:
    """`sig` to the process group `pid` leads, or to `pid` alone when it leads none."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    except PermissionError:
        pass


def stop(pid: int | None, grace: float = 5.0) -> None:
    """TERM the process (and its group), then KILL what is left after `grace` seconds."""
    if not alive(pid):
        return
    assert pid is not None
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)
