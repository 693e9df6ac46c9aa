"""PM2 status: reading `pm2 jlist` into app states, and verifying that the apps are in the
states the verbs leave them in (waiting out transient states, then a settle period for
crash loops). The verbs and the executor are in `swrun.executors.pm2`."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

VERIFY_WAIT = 15.0
"""Seconds to wait for apps to reach their state (pm2 reports `launching` at first)."""
_POLL = 0.25
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class AppState:
    """One app of `pm2 jlist`: all its instances (cluster mode, `-i N`) in pm_id order."""

    name: str
    status: str
    """`online` when every instance is; otherwise the first instance's other status."""
    pid: int
    """The first instance's."""
    restarts: int
    """Summed over the instances."""
    uptime_ms: int | None
    """The youngest instance's, when every instance is online."""
    statuses: tuple[str, ...] = ()
    pids: tuple[int, ...] = ()

    @property
    def instances(self) -> int:
        return len(self.statuses) or 1

    def each(self) -> tuple[str, ...]:
        return self.statuses or (self.status,)

    def every_pid(self) -> tuple[int, ...]:
        return self.pids or (self.pid,)

    def odd(self, want: str) -> str | None:
        """The status to report against `want`: a settled one before a transient one."""
        off = [s for s in self.each() if s != want]
        settled = [s for s in off if s not in _TRANSIENT]
        return (settled or off or [None])[0]

    def describe(self) -> str:
        if self.instances == 1:
            word = f"pid {self.pid}"
        else:
            word = f"{self.instances} instances, pids {' '.join(map(str, self.pids))}"
        up = f", up {self.uptime_ms / 1000:.1f}s" if self.uptime_ms is not None else ""
        return f"{self.name}: {self.status}, {word}, {self.restarts} restart(s){up}"

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "pid": self.pid, "restarts": self.restarts}
        if self.uptime_ms is not None:
            out["uptime_ms"] = self.uptime_ms
        if self.instances > 1:
            out.update(instances=self.instances, statuses=list(self.statuses),
                       pids=list(self.pids))
        return out


def parse_jlist(lines: list[str]) -> dict[str, AppState]:
    """`pm2 jlist` output (possibly after daemon start-up chatter) → app name → state."""
    plain = [_ANSI.sub("", line) for line in lines]
    starts = [i for i, line in enumerate(plain) if line.startswith("[")
              and not line.startswith("[PM2")]  # "[PM2] Spawning PM2 daemon …"
    if not starts:
        raise ValueError("no JSON in `pm2 jlist` output")
    listed = json.loads("\n".join(plain[starts[0]:]))
    now_ms = time.time() * 1000
    grouped: dict[str, list[tuple[str, int, int, int | None]]] = {}
    for app in sorted(listed, key=lambda a: int(a.get("pm_id") or 0)):
        env = app.get("pm2_env") or {}
        up = env.get("pm_uptime")
        status = str(env.get("status", "unknown"))
        grouped.setdefault(str(app.get("name")), []).append((
            status, int(app.get("pid") or 0), int(env.get("restart_time") or 0),
            max(0, round(now_ms - up)) if up and status == "online" else None))
    out: dict[str, AppState] = {}
    for name, inst in grouped.items():
        statuses = tuple(i[0] for i in inst)
        uptimes = [i[3] for i in inst]
        online = all(s == "online" for s in statuses)
        status = "online" if online else next(s for s in statuses if s != "online")
        out[name] = AppState(
            name=name, status=status, pid=inst[0][1], restarts=sum(i[2] for i in inst),
            uptime_ms=min(u for u in uptimes if u is not None)
            if online and None not in uptimes else None,
            statuses=statuses, pids=tuple(i[1] for i in inst))
    return out


Query = Callable[[], dict[str, AppState]]
"""Read `pm2 jlist` on one host; raises RuntimeError with one line when it cannot."""


def verify(expected: Mapping[str, str], query: Query, stop: threading.Event, settle: float,
           wait: float = VERIFY_WAIT, checked: Mapping[str, str] | None = None,
           ) -> tuple[list[str], dict[str, AppState]]:
    """Problems (one line each) and the final states of the apps.

    It waits (up to `wait`) only for the apps in `expected`, the ones the verbs acted on;
    `checked` (`status`) is what else the host must show then, with `expected` winning.
    """
    required = {**(checked or {}), **expected}
    deadline = time.monotonic() + wait
    while True:
        apps = query()
        pending = _mismatches(expected, apps)
        settling = any(n in apps and apps[n].odd(_want(expected, n)) in _TRANSIENT
                       for n in pending)
        if not pending or not settling or time.monotonic() >= deadline or stop.is_set():
            break
        stop.wait(_POLL)
    if required.get("all") == "online" and not apps:
        return ["no PM2 processes"], apps
    pending = _mismatches(required, apps)
    if pending:
        return [_describe(n, _want(required, n), apps.get(n)) for n in pending], apps
    online = {n for n, state in required.items() if state == "online" and n != "all"}
    if required.get("all") == "online":
        online |= {n for n in apps if n not in required}
    if not online or settle <= 0:
        return [], apps
    before = {n: apps[n] for n in online if n in apps}
    if stop.wait(settle):
        return ["stopped before the settle period ended"], apps
    after = query()
    problems = []
    for name, was in before.items():
        now = after.get(name)
        if now is not None and now.odd("online") and now.restarts > was.restarts:
            # down between two of its restarts: the same crash loop, caught at another moment
            problems.append(f"{name} restarted {now.restarts - was.restarts} more time(s) "
                            f"within {settle:g}s and is {now.status}; it is crash-looping")
        elif now is None or now.odd("online"):
            problems.append(_describe(name, "online", now) + f" {settle:g}s later")
        elif now.restarts != was.restarts or now.every_pid() != was.every_pid():
            pids = (f"pid {was.pid} → {now.pid}" if was.instances == now.instances == 1 else
                    f"pids {' '.join(map(str, was.pids))} → {' '.join(map(str, now.pids))}")
            problems.append(f"{name} restarted {now.restarts - was.restarts} more time(s) within "
                            f"{settle:g}s ({pids}); it is crash-looping")
    return problems, after


_TRANSIENT = frozenset({"launching", "stopping", "waiting restart", "one-launch-status"})


def _want(expected: Mapping[str, str], name: str) -> str:
    return expected.get(name) or expected.get("all") or "online"


def _mismatches(expected: Mapping[str, str], apps: Mapping[str, AppState]) -> list[str]:
    """Apps not in their expected state on every instance (`all`: every app not named)."""
    out: list[str] = []
    for name, state in expected.items():
        if name == "all":
            out.extend(n for n, a in apps.items() if n not in expected
                       and (state == "absent" or a.odd(state)))
        elif state == "absent":
            if name in apps:
                out.append(name)
        elif name not in apps or apps[name].odd(state):
            out.append(name)
    return list(dict.fromkeys(out))


def _describe(name: str, want: str, app: AppState | None) -> str:
    if app is None:
        return f"{name} is not in `pm2 jlist` (expected {want})"
    if want == "absent":
        return f"{name} is still listed ({app.status}) after delete"
    odd = app.odd(want) or app.status
    where = ""
    if app.instances > 1:
        where = f" on {app.each().count(odd)} of {app.instances} instances"
    return f"{name} is {odd}{where}, expected {want} (restarts {app.restarts})"
