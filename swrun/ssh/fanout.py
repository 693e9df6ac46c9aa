"""Fan-out: per-host work in threads, batches (canary, serial), output funnelled to a generator.

The generator is the only thing that talks to the engine (it yields Output and asks the
operator between the canary and the rest); workers only put items on a queue. Closing the
generator (abort, operator gone) stops every worker, which kills its remote process group.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from swrun.executors.base import IDLE, Idle, Output

DEFAULT_PARALLEL = 50
"""Hosts at once when a step says nothing. Measured with bench/fleet.py (100 sshd, 2 cores):
`hostname` on 100 hosts took 2.28 s at 10, 1.93 s at 20, 1.71 s at 50, 1.85 s at 100;
`sleep 1` took 11.9 s, 6.6 s, 3.7 s, 2.8 s. Connection setup is CPU-bound, so going past
~50 no longer speeds it up, while host-bound commands keep gaining."""
MAX_PARALLEL = 200
"""`parallel=` is capped here: each host in flight is a worker thread plus paramiko's own
thread per connection, and handshakes beyond this many at once only queue on the CPU."""
_TICK = 0.05


@dataclass
class HostResult:
    """How one host's share of a step ended."""

    status: str
    """ok, failed, timed_out, aborted, unreachable, or skipped (never started)."""
    exit_code: int | None = None
    error: str | None = None
    duration_ms: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.exit_code is not None:
            out["exit_code"] = self.exit_code
        if self.duration_ms is not None:
            out["duration_ms"] = self.duration_ms
        if self.error:
            out["error"] = self.error
        out.update(self.extra)
        return out


_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


def compact(names: list[str]) -> str:
    """Host names as ranges, in first-seen order of their stems: `web[001-080,090], db[3,7]`.

    Names that differ only in one number (the last in the name, same width when zero-padded)
    share a bracket; other names are listed as they are."""
    groups: dict[tuple[str, str, int], list[tuple[int, str]]] = {}
    order: list[tuple[str, str, int] | str] = []
    for name in dict.fromkeys(names):
        m = _NUMBERED.match(name)
        if not m:
            order.append(name)
            continue
        prefix, digits, suffix = m.groups()
        width = len(digits) if digits.startswith("0") and len(digits) > 1 else 0
        key = (prefix, suffix, width)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((int(digits), digits))
    out = []
    for item in order:
        if isinstance(item, str):
            out.append(item)
            continue
        prefix, suffix, _ = item
        nums = sorted(groups[item])
        if len(nums) == 1:
            out.append(f"{prefix}{nums[0][1]}{suffix}")
            continue
        runs: list[str] = []
        i = 0
        while i < len(nums):
            j = i
            while j + 1 < len(nums) and nums[j + 1][0] == nums[j][0] + 1:
                j += 1
            runs.append(nums[i][1] if i == j else f"{nums[i][1]}-{nums[j][1]}")
            i = j + 1
        out.append(f"{prefix}[{','.join(runs)}]{suffix}")
    return ", ".join(out)


def about(host: str, error: str) -> str:
    """`error` prefixed with the host name unless it already starts with it."""
    return error if error.startswith((f"{host}:", f"{host} (")) else f"{host}: {error}"


Emit = Callable[[str, str], None]
"""emit(line, stream) from a worker thread."""
Work = Callable[[str, Emit, threading.Event], HostResult]
"""work(host, emit, stop) → HostResult; must return promptly once `stop` is set."""


@dataclass(frozen=True)
class Plan:
    parallel: int = DEFAULT_PARALLEL
    serial: int = 0
    canary: int = 0
    keep_going: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "parallel", max(1, min(self.parallel, MAX_PARALLEL)))

    def batches(self, hosts: list[str]) -> list[list[str]]:
        rest = list(hosts)
        out: list[list[str]] = []
        if self.canary and len(rest) > self.canary:
            out.append(rest[: self.canary])
            rest = rest[self.canary:]
        size = self.serial or len(rest) or 1
        out.extend(rest[i:i + size] for i in range(0, len(rest), size))
        return out


@dataclass
class FanoutDone:
    """The last item fan_out yields: every host's result, in the order given."""

    results: dict[str, HostResult]
    stopped: str | None = None
    """Why hosts were left out: "failed", "canary", "aborted", or None."""


STATUS = "status"
"""The stream of the one line a fan-out emits per host when that host is done (with
`status_lines`): `▸ ok 0.4s`, `▸ failed 1.2s: exit 3`, `▸ skipped: not run: …`. Headless output
prints a host's block when it sees it; the console's host grid reads it."""
STATUS_MARK = "▸ "


def status_line(res: HostResult) -> str:
    """`▸ ok 0.4s` / `▸ failed 1.2s: exit 3`: what a host's status line says."""
    took = f" {res.duration_ms / 1000:.1f}s" if res.duration_ms is not None else ""
    why = res.error or (res.extra.get("note") if res.extra else None)
    return f"{STATUS_MARK}{res.status}{took}" + (f": {why}" if why and not res.ok else "")


def fan_out(
    hosts: list[str], work: Work, plan: Plan, *, cancel: threading.Event,
    confirm: Callable[[str], bool], label: Callable[[str], str | None] = lambda h: h,
    status_lines: bool = False,
) -> Iterator[Output | Idle | FanoutDone]:
    """Run `work` for each host on at most `plan.parallel` worker threads (reused from host to
    host; connection setup happens inside them), yielding output as it comes.

    With `status_lines`, each host's end is announced with one Output on the STATUS stream
    (hosts that never start get theirs at the end)."""
    q: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    jobs: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    stop = threading.Event()
    results: dict[str, HostResult] = {}
    threads: list[threading.Thread] = []
    stopped: str | None = None

    def run_one(host: str) -> None:
        t0 = time.monotonic()

        def emit(line: str, stream: str = "stdout") -> None:
            q.put(("out", Output(line, stream, host=label(host))))

        try:
            res = work(host, emit, stop)
        except Exception as exc:  # a bug in one host's work must not hang the step
            res = HostResult("failed", error=f"{type(exc).__name__}: {exc}")
        if res.duration_ms is None:
            res.duration_ms = round((time.monotonic() - t0) * 1000)
        if status_lines:
            q.put(("out", Output(status_line(res), STATUS, host=label(host))))
        q.put(("done", (host, res)))

    def worker() -> None:
        while (host := jobs.get()) is not None:
            run_one(host)

    def start(host: str) -> None:
        jobs.put(host)
        idle = sum(1 for th in threads if th.is_alive()) - running
        if idle <= 0 and len(threads) < plan.parallel:
            th = threading.Thread(target=worker, daemon=True, name=f"swrun-fanout-{len(threads)}")
            threads.append(th)
            th.start()

    batches = plan.batches(hosts)
    try:
        for index, batch in enumerate(batches):
            if index == 1 and plan.canary and not confirm("canary"):
                stopped = "aborted" if cancel.is_set() else "canary"
                break
            pending = list(batch)
            running = 0
            failed = False
            while pending or running:
                if cancel.is_set() and not stop.is_set():
                    stop.set()
                    stopped = "aborted"
                while pending and running < plan.parallel and not stop.is_set() and not (
                        failed and not plan.keep_going):
                    start(pending.pop(0))
                    running += 1
                if not running:
                    break
                try:
                    kind, item = q.get(timeout=_TICK)
                except queue.Empty:
                    yield IDLE
                    continue
                if kind == "out":
                    yield item
                    continue
                host, res = item
                results[host] = res
                running -= 1
                if not res.ok and res.status != "aborted":
                    failed = True
            while True:  # output queued after the last "done" of the batch
                try:
                    kind, item = q.get_nowait()
                except queue.Empty:
                    break
                if kind == "out":
                    yield item
            if stop.is_set() or cancel.is_set():
                stopped = "aborted"
                break
            if failed and not plan.keep_going:
                stopped = "failed"
                break
    finally:
        stop.set()
        for _ in threads:
            jobs.put(None)
        for th in threads:
            th.join(timeout=30)
    why = {"failed": "not run: an earlier host failed",
           "canary": "not run: the operator stopped after the canary",
           "aborted": "not run: aborted"}.get(stopped or "", "not run")
    for host in hosts:
        if host not in results:
            results[host] = HostResult("skipped", extra={"note": why})
            if status_lines:
                yield Output(status_line(results[host]), STATUS, host=label(host))
    yield FanoutDone({h: results[h] for h in hosts}, stopped)
