"""A shell step's body reaches its shell by file, never on a command line.

One argument of a command line holds at most 128 KiB on Linux (MAX_ARG_STRLEN), so
`bash -c BODY` fails with "Argument list too long" on a larger block; and a command line is
what `ps` shows every user. The body goes into a 0600 file instead, and the shell runs
`-c RUN_BODY NAME FILE`: RUN_BODY reads the file, removes it, and evals the text on its own
first line, so `$0` is still NAME, `$#` is 0, and an error names `NAME: line N` with the
line numbers of the block (dash adds `eval:` to its messages).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

RUN_BODY = ('__swrun_b=$(command -p cat -- "$1" && echo .) || exit 126; '
            'command -p rm -f -- "$1"; shift; __swrun_b=${__swrun_b%.}; '
            'eval "unset __swrun_b; $__swrun_b"')
"""The `-c` text of a POSIX shell that runs the body in file $1 (see the module docstring).
`echo .` keeps the body's trailing newlines (a here-document may end the block); `unset`
runs on the body's line 1, so the body never sees the variable and its lines keep their
numbers."""


def write_body(body: str, folder: Path | None) -> Path:
    """The body in a new 0600 file under `folder` (made 0700 when missing; the system's temp
    directory when None)."""
    if folder is not None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="swrun-body-", suffix=".step", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(body)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)
