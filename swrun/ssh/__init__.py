"""The SSH layer shared by remote shell and PM2 steps.

- `target`: inventory host + ~/.ssh/config → where and how to connect (a Target)
- `hostkeys`: known_hosts verification (never auto-adds unless asked, never accepts a change)
- `pool`: one paramiko connection per target for the whole process, TCP_NODELAY, keep-alives
- `remote`: run one command on one host under its own process group; kill it on stop
- `fanout`: run per-host work in threads (parallel/serial/canary) and funnel output to a generator

Errors (all one line, naming the host and what to do):

ConnectError
├── Unreachable     TCP/SSH connection failed or dropped
├── HostKeyError    unknown or changed host key
└── AuthError       no offered key was accepted

paramiko is imported by `hostkeys`, `pool` and `remote` only, never by this package's
`__init__`, so importing swrun.ssh costs nothing until a step targets hosts.
"""

from __future__ import annotations


class ConnectError(Exception):
    """A host could not be reached or authenticated; the message is one line for the operator."""

    status = "unreachable"


class Unreachable(ConnectError):
    """The TCP or SSH connection failed, timed out or dropped."""


class HostKeyError(ConnectError):
    """The host key is unknown or differs from known_hosts."""


class AuthError(ConnectError):
    """The server accepted none of the keys offered."""
