"""The type of each key swrun writes in a run log, and the check a read log passes."""

from __future__ import annotations

from typing import Any

_INT = (int,)
_STR = (str,)
_EVENT_KEYS: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(("seq", "number", "attempt", "exit_code", "duration_ms", "active_ms",
                     "wall_ms", "steps", "done", "pid", "pgid", "pid_start", "output_bytes",
                     "approvals", "count", "valid_for"), _INT),
    **dict.fromkeys(("at", "type", "step", "title", "kind", "status", "host", "by", "note",
                     "error", "hash", "output_file", "run_id", "operator", "environment",
                     "runbook", "next_step", "milestone", "reason", "command", "boot_id",
                     "exit_file", "leftover", "prev", "output_sha256", "runbook_sha256",
                     "command_sha256", "key", "operator_key", "approved_at", "expires_at",
                     "file", "allowed_signers", "file_sha256", "kube_context"), _STR),
    **dict.fromkeys(("will_retry", "dry_run", "runbook_changed"), (bool,)),
    **dict.fromkeys(("data", "counts", "rollback_counts", "secrets"), (dict,)),
    "hosts": (list, dict), "output": (list,), "changed_steps": (list,),
    "waiting_for": (list,),
}
"""The type of each key swrun writes: a log with another (crafted, or hand-edited) is
refused with one line rather than tripping up whatever reads the key later."""
_RUN_KEYS: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(("id", "runbook", "sha256", "title", "environment", "operator",
                     "swrun_version", "started_at", "chain", "inventory", "inventory_sha256",
                     "operator_key"), _STR),
    "variables": (dict,), "argv": (list,),
}


def _misfit(record: dict[str, Any], keys: dict[str, tuple[type, ...]]) -> str | None:
    """The first key of `record` whose value is not of the type swrun writes there."""
    for key, types in keys.items():
        value = record.get(key)
        if value is None:
            continue
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            want = " or ".join(t.__name__ for t in types)
            return f"`{key}` is {type(value).__name__}, not {want}"
    if keys is _EVENT_KEYS:
        for key in ("counts", "rollback_counts"):
            counts = record.get(key)
            if isinstance(counts, dict) and not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in counts.values()):
                return f"`{key}` holds something that is not a number"
        for key in ("output", "changed_steps", "waiting_for", "hosts"):
            items = record.get(key)
            if isinstance(items, list) and not all(isinstance(v, str) for v in items):
                return f"`{key}` holds something that is not a string"
        hosts = record.get("hosts")
        if isinstance(hosts, dict) and not all(isinstance(v, dict) for v in hosts.values()):
            return "`hosts` holds something that is not a table"
    return None
