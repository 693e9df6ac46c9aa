"""^C while the swrun command starts: one line, exit 130. Imports nothing heavy, so the CLI
installs it before it imports click."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any


def interrupted_at_start(signum: int, frame: FrameType | None) -> None:
    """^C while swrun starts (imports, options; nothing has run): exit 130, no traceback."""
    print("swrun: interrupted", file=sys.stderr)
    raise SystemExit(130)  # ExitCode.INTERRUPTED, before anything else is imported


def on_sigint(handler: Any) -> Any:
    """Install a SIGINT handler; the previous one, or None outside the main thread."""
    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        return None
