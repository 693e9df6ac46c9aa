"""Timeline export time vs reading the same log with tomllib alone, printed side by side.

    .venv/bin/python bench/timeline.py [--steps 25000]

Writes a log of N steps (2 events each) with the real RunLog, then times `swrun timeline`'s
build + render for every format against `tomllib.loads` of the same file (target: <= 2x).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from swrun.events import RunFinished, RunStarted, RunStatus, StepFinished, StepStarted, StepStatus
from swrun.runlog import RunLog, read_log
from swrun.timeline import build_timeline, render


def write_log(path: Path, steps: int) -> None:
    t0 = datetime(2026, 11, 22, tzinfo=UTC)
    header = {"id": "big", "runbook": "big.md", "title": "Big", "operator": "ops",
              "started_at": "2026-11-22T00:00:00.000Z", "variables": {}}
    with RunLog.create(path, header) as log:
        seq = 0

        def at(ms: int) -> dict[str, object]:
            nonlocal seq
            seq += 1
            return {"seq": seq, "at": t0 + timedelta(milliseconds=ms)}

        log.append(RunStarted(**at(0), run_id="big", title="Big", runbook="big.md",
                              operator="ops", steps=steps))
        for i in range(steps):
            st = {"step": f"s/step-{i}", "number": i + 1, "title": f"Step {i}", "kind": "shell"}
            log.append(StepStarted(**at(i * 100), **st))
            log.append(StepFinished(**at(i * 100 + 50), **st, exit_code=0, duration_ms=50,
                                    status=StepStatus.OK if i % 50 else StepStatus.FAILED,
                                    output=("line a", "line b")))
        log.append(RunFinished(**at(steps * 100), status=RunStatus.FAILED))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=25000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="swrun-bench-") as tmp:
        path = Path(tmp) / "big.toml"
        write_log(path, args.steps)
        raw = path.read_bytes().decode()
        t = time.perf_counter()
        tomllib.loads(raw)
        base = time.perf_counter() - t
        print(f"log of {2 * args.steps + 2} events, {len(raw) / 1e6:.1f} MB; tomllib {base:.2f}s")
        for fmt in ("md", "json", "csv", "html"):
            t = time.perf_counter()
            timeline = build_timeline([read_log(path)])
            render(timeline, fmt)
            took = time.perf_counter() - t
            print(f"  {fmt:4}  {took:6.2f}s  {took / base:5.2f}x of tomllib  (target <= 2x)")


if __name__ == "__main__":
    main()
