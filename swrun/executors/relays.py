"""swrun's side of the output relay (swrun.executors.relay): one per swrun process, started
at the first local step, handed each step's pipes and files once it has said it is ready
(until then — the first step, while it starts on the other core — a step's pipes are
copied by two `cat`, as when it cannot start at all)."""

from __future__ import annotations

import array
import contextlib
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

_SCRIPT = str(Path(__file__).with_name("relay.py"))


class Relays:
    """The relay process and the socket to it; thread-safe."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._done: set[str] = set()
        self._ready = False

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _start(self) -> socket.socket:
        if self._sock is not None and self._alive():
            return self._sock
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._ready = False
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", _SCRIPT], stdin=theirs,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={"PATH": os.defpath}, start_new_session=True)
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        self._sock = mine
        return mine

    def add(self, token: str, pipes: tuple[int, int], files: tuple[int, int]) -> bool:
        """Copy `pipes` (stdout's, stderr's read ends) into `files` from now on; False when
        the relay cannot be started or reached."""
        fds = array.array("i", [pipes[0], files[0], pipes[1], files[1]])
        with self._lock:
            try:
                sock = self._start()
                if not self._ready:
                    self._pump(0.0)
                if not self._ready:
                    return False
                sock.sendmsg([f"add {token}".encode()],
                             [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            except OSError:
                return False
        return True

    def _pump(self, timeout: float) -> None:
        """Read the relay's answers that arrive within `timeout` (lock held)."""
        sock = self._sock
        if sock is None:
            return
        ready, _, _ = select.select([sock], [], [], timeout)
        while ready:
            try:
                msg = sock.recv(256, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                msg = b""
            if not msg:
                return
            verb, _, token = msg.decode(errors="replace").partition(" ")
            if verb == "done":
                self._done.add(token)
            elif verb == "ready":
                self._ready = True

    def finished(self, token: str, wait: float = 0.0) -> bool:
        """True once the step's pipes have ended (or the relay is gone), waiting at most
        `wait` seconds for it."""
        with self._lock:
            if token not in self._done and self._alive():
                self._pump(wait)
            return token in self._done or not self._alive()

    def stop(self, token: str, wait: float = 2.0) -> None:
        """Close the step's pipes now, and wait (at most `wait` seconds) until they are."""
        with self._lock:
            if token not in self._done and self._alive() and self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.send(f"stop {token}".encode())
                end = time.monotonic() + wait
                while token not in self._done and self._alive() and time.monotonic() < end:
                    self._pump(min(0.05, max(0.0, end - time.monotonic())))
            self._done.discard(token)


RELAYS = Relays()
"""The relay of this swrun process."""
