"""swrun: run Markdown runbooks step by step, with an append-only TOML run log."""

import sys as _sys

__version__ = "0.1.0"


def _interrupted(signum: object, frame: object) -> None:
    """^C while the swrun command starts (nothing has run): exit 130, one line, no traceback.
    Installed here, the first swrun code the command runs; swrun.cli takes over."""
    print("swrun: interrupted", file=_sys.stderr)
    raise SystemExit(130)


if _sys.argv and _sys.argv[0].rpartition("/")[2] == "swrun":  # the command, not an import
    import _signal  # the C module Python's start-up loaded: no import of signal.py to wait on

    _signal.signal(_signal.SIGINT, _interrupted)
