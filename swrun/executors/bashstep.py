"""A local bash step in one process: its start gate, its block, its exit status and its
carried aliases all handled by the bash that runs it, with builtins only.

`bash -e -o pipefail -c PREAMBLE NAME FD`: the preamble waits at the gate (a newline on
stdin once swrun has logged the start; EOF, when swrun died first, runs nothing: exit
125), reads the block from FD — an unlinked file swrun wrote it to, so it is never on
disk under a name nor on a command line — defines the aliases earlier steps left, and
evals the block on its own first line (`$0` is NAME, `$#` is 0, errors name `NAME: line N`
with the block's line numbers). A step announced with an exit file writes its status
there as it ends, from an EXIT trap (and from TERM, INT and HUP traps that then die of the
same signal), so a resume can tell a step that finished after swrun died from one that was
cut off. A block that sets traps itself or `exec`s could replace those: it still runs
under the `/bin/sh` leader of swrun.executors.shell, which records its status from outside.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from collections.abc import Mapping
from pathlib import Path

_OWN_TRAPS = re.compile(r"(?<![\w-])(?:trap|exec)(?![\w-])")
"""Words that let a block replace the preamble's traps or the shell that runs them."""

_SIGNALS = (("TERM", 143), ("INT", 130), ("HUP", 129))


def needs_leader(body: str) -> bool:
    """True when the exit status must be recorded by a leader process (see the docstring)."""
    return _OWN_TRAPS.search(body) is not None


def _status_trap(exit_file: str, code: str, then: str = "") -> str:
    """A trap's text that writes `code` to the exit file (all of it in one group with its
    stderr discarded: a block's `set -x` does not show it)."""
    return ("{ __swrun_rc=$?; set +x; builtin trap - EXIT TERM INT HUP; builtin umask 077; "
            f"builtin printf '%s\\n' {code} >|{shlex.quote(exit_file)}; {then}}} "
            "2>/dev/null || :")


def preamble(gated: bool, exit_file: str | None) -> str:
    """The `-c` text (see the module docstring); $1 is the block's file descriptor."""
    parts = []
    if gated:
        parts.append("IFS= read -r _ || exit 125; exec </dev/null")
    if exit_file:
        text = _status_trap(exit_file, '"$__swrun_rc"')
        parts.append(f"trap {shlex.quote(text)} EXIT")
        for sig, code in _SIGNALS:
            text = _status_trap(exit_file, str(code), f"builtin kill -s {sig} $$; ")
            parts.append(f"trap {shlex.quote(text)} {sig}")
    parts += [
        "__swrun_a=(); builtin mapfile -d '' -u \"$1\" __swrun_a || exit 126",
        "eval \"exec $1<&-\"; shift",
        "shopt -s expand_aliases",
        "eval \"${__swrun_a[0]}\"",
        "eval \"unset __swrun_a; ${__swrun_a[1]-}\"",
    ]
    return "; ".join(parts)  # one line: the block's line numbers start at 1


def alias_lines(aliases: Mapping[str, str]) -> str:
    """The `alias` commands that define `aliases` again (one per line)."""
    return "".join(f"builtin alias -- {shlex.quote(f'{n}={v}')}\n"
                   for n, v in sorted(aliases.items()))


def body_file(body: str, aliases: Mapping[str, str], folder: Path | None) -> int:
    """A file descriptor of an unlinked 0600 file (in `folder` when given) holding the
    alias definitions, a NUL, then the block (NUL bytes dropped: a shell cannot hold them)."""
    if folder is not None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = (alias_lines(aliases) + "\0" + body.replace("\0", "")).encode(
        "utf-8", "surrogateescape")
    with tempfile.TemporaryFile(dir=folder) as fh:  # O_TMPFILE: it never has a name
        fd = os.dup(fh.fileno())
    try:
        done = 0
        while done < len(data):
            done += os.pwrite(fd, data[done:], done)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
