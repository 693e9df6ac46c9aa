"""ansible-runner events → swrun output lines, per-host failures and the play recap."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from swrun.toolnoise import Noise

RECAP_KEYS = ("ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored")
_STATS = {"ok": "ok", "changed": "changed", "failures": "failed", "dark": "unreachable",
          "skipped": "skipped", "rescued": "rescued", "ignored": "ignored"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NONINTERACTIVE = ("Not prompting as we are not in interactive mode",
                  "Not waiting for response to prompt as stdin is not interactive")
"""Ansible's warnings when a prompt met a stdin that is not a terminal (swrun's stdin)."""
_MAX_RESULT_LINES = 200


@dataclass(frozen=True)
class Line:
    text: str
    stream: str = "stdout"
    host: str | None = None


@dataclass
class Tracker:
    """Folds the event stream into lines for the operator and what the step result needs."""

    recap: dict[str, dict[str, int]] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)
    """First failure per host, one line."""
    errors: list[str] = field(default_factory=list)
    """Ansible's own error lines (syntax errors, missing files), for the step's error."""
    rcs: dict[str, int] = field(default_factory=dict)
    """The last command exit code per host (shell/command results)."""
    prompted: str | None = None
    """Set when the playbook tried to prompt at run time (the run is then cancelled)."""
    seen_stats: bool = False
    adhoc: bool = False
    """Show every command's output (a shell block), not only of tasks that changed or failed."""
    noise: Noise = field(default_factory=Noise)
    """Ansible's own Python's warnings (`noise.kept`): the step's debug record, not output."""

    def feed(self, event: dict[str, Any]) -> list[Line]:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        handler = getattr(self, "_" + kind, None)
        if handler is not None:
            return list(handler(data, event))
        if kind in ("verbose", "error", "warning", "deprecated", "debug"):
            return self._text(kind, event)
        return []

    # -- play structure -------------------------------------------------------------------------
    def _playbook_on_play_start(self, data: dict[str, Any], _: Any) -> list[Line]:
        return [Line(f"PLAY [{data.get('play') or data.get('name') or ''}]")]

    def _playbook_on_task_start(self, data: dict[str, Any], _: Any) -> list[Line]:
        return [Line(f"TASK [{data.get('task') or data.get('name') or ''}]")]

    def _playbook_on_handler_task_start(self, data: dict[str, Any], _: Any) -> list[Line]:
        return [Line(f"HANDLER [{data.get('task') or data.get('name') or ''}]")]

    def _playbook_on_vars_prompt(self, data: dict[str, Any], _: Any) -> list[Line]:
        name = data.get("varname") or "?"
        self.prompted = (f"the playbook prompts for {name!r} (vars_prompt); declare a runbook "
                         f"variable {name} to answer it")
        return [Line(f"swrun: {self.prompted}; stopping", "stderr")]

    # -- per-host results -----------------------------------------------------------------------
    def _runner_on_ok(self, data: dict[str, Any], _: Any) -> list[Line]:
        res = data.get("res") or {}
        word = "changed" if res.get("changed") else "ok"
        return self._result(word, data, res)

    def _runner_on_failed(self, data: dict[str, Any], _: Any) -> list[Line]:
        res = data.get("res") or {}
        host = _host(data)
        msg = _message(res)
        if data.get("ignore_errors"):
            return self._result("failed (ignored)", data, res, msg)
        self.why.setdefault(host, f"failed at {data.get('task')!r}: {msg}")
        return self._result("failed", data, res, msg)

    def _runner_on_unreachable(self, data: dict[str, Any], _: Any) -> list[Line]:
        res = data.get("res") or {}
        host = _host(data)
        msg = _message(res)
        self.why.setdefault(host, f"unreachable: {msg}")
        return [Line(f"unreachable: {data.get('task')}: {msg}", "stderr", host)]

    def _runner_on_skipped(self, data: dict[str, Any], _: Any) -> list[Line]:
        return [Line(f"skipping: {data.get('task')}", host=_host(data))]

    def _runner_item_on_ok(self, data: dict[str, Any], _: Any) -> list[Line]:
        res = data.get("res") or {}
        word = "changed" if res.get("changed") else "ok"
        return [Line(f"{word}: {data.get('task')} (item={_item(res)})", host=_host(data))]

    def _runner_item_on_failed(self, data: dict[str, Any], _: Any) -> list[Line]:
        res = data.get("res") or {}
        return [Line(f"failed: {data.get('task')} (item={_item(res)}): {_message(res)}",
                     "stderr", _host(data))]

    def _runner_item_on_skipped(self, data: dict[str, Any], _: Any) -> list[Line]:
        res = data.get("res") or {}
        return [Line(f"skipping: {data.get('task')} (item={_item(res)})", host=_host(data))]

    def _runner_retry(self, data: dict[str, Any], _: Any) -> list[Line]:
        res = data.get("res") or {}
        left = res.get("retries", 0) - res.get("attempts", 0)
        return [Line(f"retrying: {data.get('task')} ({left} left)", host=_host(data))]

    def _result(self, word: str, data: dict[str, Any], res: dict[str, Any],
                msg: str | None = None) -> list[Line]:
        host = _host(data)
        if isinstance(res.get("rc"), int):
            self.rcs[host] = res["rc"]
        failed = word == "failed"
        head = f"{word}: {data.get('task')}" + (f": {msg}" if msg else "")
        out = [Line(head, "stderr" if failed else "stdout", host)]
        if data.get("task_action") in ("debug", "ansible.builtin.debug") and "msg" in res:
            out += [Line(s, host=host) for s in _lines(res["msg"])]
        loud = failed or res.get("changed") or self.adhoc
        for key, stream in (("stdout", "stdout"), ("stderr", "stderr")):
            if loud and res.get(key) and isinstance(res[key], str):
                out += [Line(s, stream, host) for s in _lines(res[key])]
        for warning in res.get("warnings") or ():
            out.append(Line(f"warning: {warning}", "stderr", host))
        if res.get("diff") and res.get("changed"):
            out += [Line(s, host=host) for s in _diff(res["diff"])]
        return out

    # -- the end ----------------------------------------------------------------------------------
    def _playbook_on_stats(self, data: dict[str, Any], _: Any) -> list[Line]:
        self.seen_stats = True
        hosts: dict[str, dict[str, int]] = {}
        for src, dst in _STATS.items():
            for host, n in (data.get(src) or {}).items():
                hosts.setdefault(host, dict.fromkeys(RECAP_KEYS, 0))[dst] = int(n)
        for host in data.get("processed") or {}:
            hosts.setdefault(host, dict.fromkeys(RECAP_KEYS, 0))
        self.recap = hosts
        out = [Line("PLAY RECAP")]
        for host, counts in hosts.items():
            text = " ".join(f"{k}={counts[k]}" for k in RECAP_KEYS)
            out.append(Line(text, host=host))
        return out

    def _text(self, kind: str, event: dict[str, Any]) -> list[Line]:
        text = _ANSI.sub("", event.get("stdout") or "").rstrip()
        if not text.strip():
            return []
        if any(n in text for n in NONINTERACTIVE):
            self.prompted = ("the playbook tried to prompt (a pause without seconds/minutes "
                             "or an unanswered vars_prompt); swrun never answers prompts")
        stream = "stdout" if kind in ("verbose", "debug") else "stderr"
        lines = [s.rstrip() for s in text.splitlines()
                 if s.strip() and (kind == "error" or not self.noise.is_noise(s))]
        if kind == "error" or any(s.startswith(("ERROR!", "[ERROR]")) for s in lines):
            self.errors.extend(s for s in lines if s.strip())
            stream = "stderr"
        return [Line(s, stream) for s in lines[:_MAX_RESULT_LINES]]


def _host(data: dict[str, Any]) -> str:
    return str(data.get("host") or data.get("remote_addr") or "?")


def _message(res: dict[str, Any]) -> str:
    msg = res.get("msg") or res.get("reason") or res.get("stderr") or ""
    if not msg and res.get("rc") not in (None, 0):
        msg = f"exit code {res['rc']}"
    text = " ".join(str(msg).split())
    return text[:300] or "failed"


def _item(res: dict[str, Any]) -> str:
    item = res.get("_ansible_item_label", res.get("item", ""))
    return str(item)[:80]


def _lines(value: Any) -> list[str]:
    if isinstance(value, list):
        value = "\n".join(str(v) for v in value)
    return _ANSI.sub("", str(value)).splitlines()[:_MAX_RESULT_LINES]


def _diff(diff: Any) -> list[str]:
    out: list[str] = []
    for d in diff if isinstance(diff, list) else [diff]:
        if not isinstance(d, dict):
            continue
        if "prepared" in d:
            out += str(d["prepared"]).splitlines()
            continue
        before, after = d.get("before"), d.get("after")
        where = d.get("after_header") or d.get("before_header") or ""
        if isinstance(before, str) and isinstance(after, str):
            import difflib

            out += [s.rstrip("\n") for s in difflib.unified_diff(
                before.splitlines(True), after.splitlines(True), f"before: {where}",
                f"after: {where}")]
        elif before != after:
            out.append(f"{where}: {before} -> {after}".strip(": "))
    return out[:_MAX_RESULT_LINES]
