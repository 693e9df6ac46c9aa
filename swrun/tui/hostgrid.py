"""The per-host grid of a fan-out, shown above a step's output when it runs on many hosts.

Built only from the step's output lines as the console gets them (`host: line`): a host is
*running* from its first line until its status line (`host: ▸ ok 0.4s`, which a fan-out
emits when that host is done; see swrun.ssh.fanout.STATUS). One coloured cell per host, in
the order hosts first spoke, then one line per outcome naming the hosts in compact ranges
(`✗ 2 unreachable: db[3,7]`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.text import Text

from swrun.ssh.fanout import STATUS_MARK, compact
from swrun.tui.plain import Plain

GRID_MIN_HOSTS = 10
"""The grid shows once a step has spoken from more than this many hosts."""
RUNNING = "running"
_STATUS = re.compile(rf"^(\S+): {re.escape(STATUS_MARK)}(ok|failed|timed_out|aborted|"
                     r"unreachable|skipped)\b")
_LINE = re.compile(r"^([^\s:]+): ")
_STYLE = {"ok": "green", "failed": "red", "timed_out": "red", "aborted": "red",
          "unreachable": "magenta", "skipped": "bright_black", RUNNING: "yellow"}
_ORDER = ("running", "failed", "timed_out", "unreachable", "aborted", "skipped", "ok")


def host_states(lines: Iterable[str], states: dict[str, str] | None = None) -> dict[str, str]:
    """`host: …` lines → {host: status}, `running` until the host's status line."""
    out = {} if states is None else states
    for line in lines:
        m = _STATUS.match(line)
        if m:
            out[m.group(1)] = m.group(2)
            continue
        m = _LINE.match(line)
        if m and m.group(1) not in out:
            out[m.group(1)] = RUNNING
    return out


def render(states: dict[str, str]) -> Text:
    """One cell per host, then the hosts by outcome."""
    text = Text()
    counts: dict[str, list[str]] = {}
    for host, status in states.items():
        counts.setdefault(status, []).append(host)
    text.append(f"{len(states)} hosts", style="bold")
    for status in _ORDER:
        if status in counts:
            what = "not run" if status == "skipped" else status
            text.append(f"  {len(counts[status])} {what}", style=_STYLE[status])
    text.append("\n")
    for status in states.values():
        text.append("■", style=_STYLE.get(status, ""))
    for status in _ORDER:
        if status in counts and status != "ok":
            what = "not run" if status == "skipped" else status
            text.append(f"\n{what}: {compact(counts[status])}", style=_STYLE[status])
    return text


class HostGrid(Plain):
    """Hidden until the shown step's output names more than GRID_MIN_HOSTS hosts."""

    DEFAULT_CSS = """
    HostGrid { height: auto; max-height: 12; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__("", id="hostgrid")
        self.states: dict[str, str] = {}
        self.enabled = False
        self.display = False

    def reset(self, lines: Iterable[str], *, fan_out: bool = True) -> None:
        """Start over with a step's output so far; `fan_out` False (a step without `hosts=`)
        keeps the grid hidden whatever its lines look like."""
        self.enabled = fan_out
        self.states = host_states(lines) if fan_out else {}
        self._show()

    def feed(self, lines: Iterable[str]) -> None:
        if not self.enabled:
            return
        before = dict(self.states)
        host_states(lines, self.states)
        if self.states != before:
            self._show()

    def _show(self) -> None:
        self.display = len(self.states) > GRID_MIN_HOSTS
        if self.display:
            self.update(render(self.states))
