"""Command-line values of `timeline` and `history`: time zones, --since/--until, -o FILE."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, tzinfo
from pathlib import Path

_SUFFIXES = {".md": "md", ".markdown": "md", ".json": "json", ".csv": "csv", ".html": "html",
             ".htm": "html", ".txt": "table"}


def time_zone(name: str) -> tzinfo:
    """UTC, or an IANA zone by name; ValueError for an unknown one."""
    if name.upper() in ("UTC", "Z"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name like "
                         "Europe/Berlin)") from None


def parse_when(text: str, tz: tzinfo) -> datetime:
    """ISO 8601 (`2026-11-22T09:01`, `2026-11-22 09:01:30Z`, `2026-11-22`); naive means `tz`."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a time (use ISO 8601, e.g. "
                         "2026-11-22T09:01:00Z)") from None
    return at if at.tzinfo else at.replace(tzinfo=tz)


def format_for(output: str | None, default: str) -> str:
    """The format an -o FILE's suffix asks for, else `default`."""
    if output:
        fmt = _SUFFIXES.get(Path(output).suffix.lower())
        if fmt and (fmt != "table" or default == "table"):
            return fmt
    return default


def write_output(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    import os  # 0600, as the run logs it comes from: a timeline names hosts, people, notes

    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)
