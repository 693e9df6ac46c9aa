"""What keeping the run registry's entry up to date costs a run's log writes.

    .venv/bin/python bench/registry.py [--steps 500] [--rounds 5]

A RunLog gets STEPS step_started/step_finished pairs (each fsync'd where a run fsyncs
them), once with no registry lock held and once holding a RunbookLock, whose entry is
rewritten and renamed into place at every step boundary. Printed: the time per event of
each, the ratio and what the entry adds (best of ROUNDS). Also: acquire + release of the
lock. Target: the entry adds ≤ 0.5 ms per step boundary (a step's own process start costs
several ms); events that are not step boundaries cost it only a comparison. Renaming the
entry over its last version instead cost ~2 ms each on ext4 (auto_da_alloc flushes a file
renamed over another): it is renamed to a fresh name and the last version removed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swrun.events import StepFinished, StepStarted, StepStatus
from swrun.registry import RunbookLock
from swrun.runlog import RunLog


def _events(steps: int) -> list[object]:
    now = datetime.now(UTC)
    out: list[object] = []
    for i in range(1, steps + 1):
        out.append(StepStarted(step=f"s{i}", number=i, title=f"step {i}", kind="shell", at=now,
                               seq=2 * i))
        out.append(StepFinished(step=f"s{i}", number=i, title=f"step {i}", kind="shell",
                                status=StepStatus.OK, at=now, seq=2 * i + 1))
    return out


def _round(folder: Path, steps: int, with_lock: bool) -> float:
    book = folder / "rb.md"
    book.write_text("# Bench\n")
    log = RunLog.create(folder / f"log-{time.monotonic_ns()}.toml", {"id": "bench"})
    lock = None
    if with_lock:
        lock, _ = RunbookLock.acquire(book, {"operator": "bench", "pid": os.getpid()})
        log.hold(lock)
    events = _events(steps)
    start = time.perf_counter()
    for event in events:
        log.append(event)  # type: ignore[arg-type]
    took = time.perf_counter() - start
    log.close()
    return took / len(events)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="swrun-bench-", dir="/var/tmp") as tmp:
        os.environ["SWRUN_REGISTRY"] = str(Path(tmp) / "registry")
        plain = min(_round(Path(tmp), args.steps, False) for _ in range(args.rounds))
        held = min(_round(Path(tmp), args.steps, True) for _ in range(args.rounds))
        book = Path(tmp) / "rb.md"
        start = time.perf_counter()
        for _ in range(100):
            lock, _ = RunbookLock.acquire(book, {"operator": "bench", "pid": os.getpid()})
            assert lock is not None
            lock.release()
        take = (time.perf_counter() - start) / 100
    print(f"step event, log only:            {plain * 1e3:.3f} ms")
    print(f"step event, log + registry entry: {held * 1e3:.3f} ms  ({held / plain:.2f}x, "
          f"+{(held - plain) * 1e3:.3f} ms)")
    print(f"registry acquire + release:       {take * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
