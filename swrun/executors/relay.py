"""One relay per swrun process copies every local step's output pipes into its output files
(swrun.executors.rawout), so a step writes to pipes (`> /dev/stderr` reopens a pipe, where
it would truncate a file) that outlive swrun: when swrun dies the relay copies on until the
step's last writer closes them, and the step never gets SIGPIPE for swrun's death.

The relay is this file run as `python -I -S relay.py` (the standard library only), in a
session of its own, its stdin one end of a SOCK_SEQPACKET pair. swrun sends `add TOKEN`
with four descriptors (stdout's pipe and file, stderr's pipe and file) and `stop TOKEN`
(close that step's pipes now: a daemon the step left gets SIGPIPE at its next line); the
relay answers `done TOKEN` once a step's pipes are closed. When swrun's end of the socket
closes, the relay copies what is left and exits when the last pipe ends.
"""

from __future__ import annotations

import array
import contextlib
import os
import selectors
import socket
import sys

_CHUNK = 1 << 16
_MSG = 256


def _receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    msg, anc, _, _ = sock.recvmsg(_MSG, socket.CMSG_SPACE(4 * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds)


def serve(control: socket.socket) -> None:
    """The relay's loop (see the module docstring)."""
    sel = selectors.DefaultSelector()
    sel.register(control, selectors.EVENT_READ, None)
    steps: dict[str, dict[int, int]] = {}
    """Each step's open pipes and the file each is copied to."""
    listening = True

    def close(token: str, pipe: int) -> None:
        out = steps[token].pop(pipe)
        sel.unregister(pipe)
        os.close(pipe)
        os.close(out)
        if not steps[token]:
            del steps[token]
            if listening:
                with contextlib.suppress(OSError):
                    control.send(f"done {token}".encode())

    while listening or steps:
        for key, _ in sel.select():
            if key.data is None:
                try:
                    msg, fds = _receive(control)
                except OSError:
                    msg, fds = b"", []
                verb, _, token = msg.decode(errors="replace").partition(" ")
                if verb == "add" and len(fds) == 4 and token not in steps:
                    steps[token] = {fds[0]: fds[1], fds[2]: fds[3]}
                    for pipe in (fds[0], fds[2]):
                        sel.register(pipe, selectors.EVENT_READ, token)
                    continue
                for fd in fds:
                    os.close(fd)
                if not msg:  # swrun is gone: copy on until the pipes end
                    sel.unregister(control)
                    listening = False
                elif verb == "stop":
                    for pipe in list(steps.get(token, ())):
                        close(token, pipe)
                    if listening and token not in steps:
                        with contextlib.suppress(OSError):
                            control.send(f"done {token}".encode())
                continue
            token = key.data
            if key.fd not in steps.get(token, {}):
                continue  # closed by a stop in this same round
            try:
                data = os.read(key.fd, _CHUNK)
                if data:
                    out = steps[token][key.fd]
                    while data:
                        data = data[os.write(out, data):]
                    continue
            except OSError:
                pass  # the file cannot be written: closing the pipe gives the writer EPIPE
            close(token, key.fd)


if __name__ == "__main__":
    serve(socket.socket(fileno=sys.stdin.fileno()))
