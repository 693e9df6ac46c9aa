"""One relay per swrun process copies every local step's output pipes into its output files
(swrun.executors.rawout), so a step writes to pipes (`> /dev/stderr` reopens a pipe, where
it would truncate a file) that outlive swrun: when swrun dies the relay copies on until the
step's last writer closes them, and the step never gets SIGPIPE for swrun's death.

The relay is this file run as `python -I -S relay.py` (the standard library only), in a
session of its own, its stdin one end of a SOCK_SEQPACKET pair. swrun sends `add TOKEN`
with four descriptors (stdout's pipe and file, stderr's pipe and file) and `stop TOKEN`
(close that step's pipes now: a daemon the step left gets SIGPIPE at its next line); the
relay says `ready` when it starts and `done TOKEN` once a step's pipes are closed. When
swrun's end of the socket closes, the relay copies what is left and exits when the last pipe ends.
"""

from __future__ import annotations

import _socket  # the C module: `socket` costs more to import than the relay does to run
import array
import os
import select
import sys

_CHUNK = 1 << 16
_MSG = 256


def _receive(sock: _socket.socket) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    msg, anc, _, _ = sock.recvmsg(_MSG, _socket.CMSG_SPACE(4 * fds.itemsize))
    for level, kind, data in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return msg, list(fds)


def _say(control: _socket.socket | None, text: str) -> None:
    if control is not None:
        try:  # noqa: SIM105 (contextlib is one more import to start with)
            control.send(text.encode())
        except OSError:
            pass


def serve(control: _socket.socket) -> None:
    """The relay's loop (see the module docstring)."""
    poll = select.poll()
    poll.register(control.fileno(), select.POLLIN)
    steps: dict[str, dict[int, int]] = {}
    """Each step's open pipes and the file each is copied to."""
    owner: dict[int, str] = {}
    listening: _socket.socket | None = control
    _say(listening, "ready")

    def close(pipe: int) -> None:
        token = owner.pop(pipe)
        out = steps[token].pop(pipe)
        poll.unregister(pipe)
        os.close(pipe)
        os.close(out)
        if not steps[token]:
            del steps[token]
            _say(listening, f"done {token}")

    while listening is not None or steps:
        for fd, _ in poll.poll():
            if listening is not None and fd == listening.fileno():
                try:
                    msg, fds = _receive(listening)
                except OSError:
                    msg, fds = b"", []
                verb, _, token = msg.decode(errors="replace").partition(" ")
                if verb == "add" and len(fds) == 4 and token not in steps:
                    steps[token] = {fds[0]: fds[1], fds[2]: fds[3]}
                    for pipe in (fds[0], fds[2]):
                        owner[pipe] = token
                        poll.register(pipe, select.POLLIN)
                    continue
                for extra in fds:
                    os.close(extra)
                if not msg:  # swrun is gone: copy on until the pipes end
                    poll.unregister(fd)
                    listening = None
                elif verb == "stop":
                    for pipe in list(steps.get(token, ())):
                        close(pipe)
                    _say(listening, f"done {token}")
                continue
            if fd not in owner:
                continue  # closed by a stop in this same round
            try:
                data = os.read(fd, _CHUNK)
                if data:
                    out = steps[owner[fd]][fd]
                    while data:
                        data = data[os.write(out, data):]
                    continue
            except OSError:
                pass  # the file cannot be written: closing the pipe gives the writer EPIPE
            close(fd)


if __name__ == "__main__":
    serve(_socket.socket(fileno=sys.stdin.fileno()))
