"""A step printing 200,000 lines: through the console vs `swrun execute`, peak memory, key latency.

Run: .venv/bin/python bench/tui_flood.py [LINES]
The console runs headless (App.run_test) in this process; `swrun execute` runs as a
subprocess with stdout to /dev/null. Both write a real run log and output sidecar.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from textual import events

from swrun.parser import load_runbook
from swrun.runlog import read_log
from swrun.tui.app import SwrunApp, TuiSettings

RUNBOOK = """# Flood

## Print a lot

```bash {{name=flood}}
seq -f "line %g of the flood, padded to look like a real log line" 1 {lines}
```
"""


def step_ms(log: Path) -> int:
    (done,) = [e for e in read_log(log).events if e["type"] == "step_finished"]
    assert done["status"] == "ok", done
    return int(done["duration_ms"])


def headless(workdir: Path) -> tuple[float, int]:
    swrun = Path(sys.executable).with_name("swrun")
    t0 = time.perf_counter()
    subprocess.run([str(swrun), "execute", "rb.md", "--yes", "--log", "execute.toml"],
                   cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - t0, step_ms(workdir / "execute.toml")


async def console(workdir: Path) -> tuple[float, int, list[float]]:
    app = SwrunApp(load_runbook(str(workdir / "rb.md")), settings=TuiSettings(
        operator="bench", log_path=str(workdir / "tui.toml"), offer_resume=False))
    latencies: list[float] = []
    async with app.run_test(size=(120, 36)) as pilot:
        while app.pending is None:
            await pilot.pause(0.01)
        t0 = time.perf_counter()
        await pilot.press("r")
        tree = app.step_tree
        key = "up"
        while app.view.steps["flood"].status not in ("ok", "failed"):
            await asyncio.sleep(0.1)
            if app.view.steps["flood"].status != "running":
                continue
            before = tree.cursor_line
            key = "up" if key == "down" else "down"
            sent = time.perf_counter()
            # what a terminal's driver does with a key press: post it to the app
            app.post_message(events.Key(key, None))
            while tree.cursor_line == before and time.perf_counter() - sent < 5:
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - sent)
        took = time.perf_counter() - t0
        await pilot.press("q")
    return took, step_ms(workdir / "tui.toml"), latencies


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "rb.md").write_text(RUNBOOK.format(lines=lines))
        # the tree needs two step rows to move between during the flood
        (workdir / "rb.md").write_text(RUNBOOK.format(lines=lines) + "\n- [ ] Look at it\n")
        exec_wall, exec_step = headless(workdir)
        tui_wall, tui_step, lat = asyncio.run(console(workdir))
        sidecar = sum(1 for _ in next((workdir / "tui.output").glob("*.log")).open())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    exec_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ratio = tui_step / exec_step
    print(f"lines printed by the step:       {lines:,} (TUI sidecar has {sidecar:,})")
    print(f"swrun execute: step {exec_step / 1000:.2f}s (whole command {exec_wall:.2f}s), "
          f"peak RSS {exec_mb:.0f} MB")
    print(f"swrun run (TUI): step {tui_step / 1000:.2f}s (r pressed → finished "
          f"{tui_wall:.2f}s)")
    print(f"TUI / execute step time:         {ratio:.2f}x   (target <= 1.5x) "
          f"{'OK' if ratio <= 1.5 else 'MISSED'}")
    print(f"TUI peak memory (this process):  {peak_mb:.0f} MB   (target <= 300 MB) "
          f"{'OK' if peak_mb <= 300 else 'MISSED'}")
    if lat:
        worst = max(lat) * 1000
        print(f"key press → effect during flood: median {statistics.median(lat) * 1000:.0f} ms, "
              f"max {worst:.0f} ms over {len(lat)} presses   (target <= 200 ms) "
              f"{'OK' if worst <= 200 else 'MISSED'}")
    else:
        print("key press latency: the step finished before a key could be sent")


if __name__ == "__main__":
    main()
