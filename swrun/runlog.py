"""The run log: an append-only TOML file of run events, its output sidecar, and resume.

Layout (docs/run-log.md): a `[run]` table, then one `[[event]]` table per event. Every
table is written with one `os.write` and fsynced, contains no blank line, and ends with
one; a file whose tail does not end with a blank line was cut off mid-write (kill -9,
power loss), and that torn tail is dropped by `read_log` and repaired by `open_append`.
Step output lines go to `<log>.output/<step>.log`, not into the TOML.

Every event carries `prev`, the SHA-256 of the table before it as written (the hash chain,
swrun/evidence/chain.py), and `step_finished` the SHA-256 of each sidecar file it names.

This is the face the rest of swrun imports; the parts are in swrun/log/ (its __init__
names them).
"""

from __future__ import annotations

from swrun.log.discovery import default_log_path, find_logs, find_unfinished
from swrun.log.reader import (
    SCHEMA_VERSION,
    LogData,
    complete_length,
    parse_at,
    parse_bytes,
    peek_header,
    read_log,
)
from swrun.log.resumestate import ResumeState, active_ms, resume_state
from swrun.log.sidecars import _sidecar_name
from swrun.log.writer import RunLog

__all__ = [
    "SCHEMA_VERSION", "LogData", "ResumeState", "RunLog", "_sidecar_name", "active_ms",
    "complete_length", "default_log_path", "find_logs", "find_unfinished", "parse_at",
    "parse_bytes", "peek_header", "read_log", "resume_state",
]
