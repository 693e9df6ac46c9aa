"""Fan-out: per-host work in threads, batches (canary, serial), output funnelled to a generator.

The generator is the only thing that talks to the engine (it yields Output and asks the
operator between the canary and the rest); workers only put items on a queue. Closing the
generator (abort, operator gone) stops every worker, which kills its remote process group.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from swrun.executors.base import IDLE, Idle, Output

DEFAULT_PARALLEL = 20
"""Hosts at once when a step says nothing: threads are cheap, and it keeps a typical group
in one wave; `parallel=N` lowers it."""
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


def fan_out(
    hosts: list[str], work: Work, plan: Plan, *, cancel: threading.Event,
    confirm: Callable[[str], bool], label: Callable[[str], str | None] = lambda h: h,
) -> Iterator[Output | Idle | FanoutDone]:
    q: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    stop = threading.Event()
    results: dict[str, HostResult] = {}
    threads: list[threading.Thread] = []
    stopped: str | None = None

    def worker(host: str) -> None:
        t0 = time.monotonic()

        def emit(line: str, stream: str = "stdout") -> None:
            q.put(("out", Output(line, stream, host=label(host))))

        try:
            res = work(host, emit, stop)
        except Exception as exc:  # a bug in one host's work must not hang the step
            res = HostResult("failed", error=f"{type(exc).__name__}: {exc}")
        if res.duration_ms is None:
            res.duration_ms = round((time.monotonic() - t0) * 1000)
        q.put(("done", (host, res)))

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
                    host = pending.pop(0)
                    th = threading.Thread(target=worker, args=(host,), daemon=True,
                                          name=f"swrun-host-{host}")
                    threads.append(th)
                    th.start()
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
        for th in threads:
            th.join(timeout=30)
    why = {"failed": "not run: an earlier host failed",
           "canary": "not run: the operator stopped after the canary",
           "aborted": "not run: aborted"}.get(stopped or "", "not run")
    for host in hosts:
        if host not in results:
            results[host] = HostResult("skipped", extra={"note": why})
    yield FanoutDone({h: results[h] for h in hosts}, stopped)
