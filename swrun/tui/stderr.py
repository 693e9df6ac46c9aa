"""While the console owns the terminal, anything else that writes to stderr is held, not drawn.

Textual draws on stderr (fd 2). A write to fd 2 from anything else in the process (a C library,
a tool's child process that inherits it, a logging handler made before the console started)
lands on top of the screen, over the footer. `held_stderr` gives Textual a copy of the terminal
and points fd 2 at a scratch file for as long as the console runs; what was caught is printed
after the screen is given back, masked, so nothing is lost and nothing draws over the console.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MAX_SHOWN = 20
"""At most this many caught lines are printed after the console (the last ones)."""


@contextmanager
def held_stderr(mask: Callable[[str], str] = str) -> Iterator[None]:
    """fd 2 goes to a scratch file inside the block; Textual (sys.__stderr__, sys.stderr)
    draws on a duplicate of the terminal. `mask` is applied to what is printed after."""
    try:
        sys.stderr.flush()
        screen_fd = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield  # no usable stderr: nothing to hold
        return
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    old = sys.stderr, sys.__stderr__
    with tempfile.TemporaryFile() as caught, \
            os.fdopen(screen_fd, "w", encoding=encoding, errors="backslashreplace") as screen:
        os.dup2(caught.fileno(), 2)
        sys.stderr = sys.__stderr__ = screen
        try:
            yield
        finally:
            screen.flush()
            os.dup2(screen_fd, 2)
            sys.stderr, sys.__stderr__ = old
            caught.seek(0)
            text = caught.read().decode("utf-8", "replace")
    _show(text, mask)


def _show(text: str, mask: Callable[[str], str]) -> None:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return
    print(f"swrun: while the console ran, {len(lines)} line(s) were written to stderr "
          "(held so they did not draw over it):", file=sys.stderr)
    if len(lines) > MAX_SHOWN:
        print(f"  … {len(lines) - MAX_SHOWN} earlier line(s) left out", file=sys.stderr)
    for line in lines[-MAX_SHOWN:]:
        print(f"  {mask(line)}", file=sys.stderr)
