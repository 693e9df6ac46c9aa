"""Key → screen latency in the console: tick, run and cursor move, 2,000 steps beside 20.

Run: .venv/bin/python bench/tui_keys.py [SAMPLES]
The console runs headless (App.run_test) in this process with a real run log (fsync per
event) and real local shell steps (`true`). Each key is posted to the app the way a
terminal driver posts it; the time is taken until the tree row of the step shows the new
icon (☑ for a tick, ✓ for a run) or the detail pane shows the newly selected step, and
until the engine's next question is on screen (when the operator can press again).
The answer guard (a question takes no key in its first 0.4 s) is off for the latency part:
it measures drawing, not the guard. A back-to-back burst (five spaces, then `r`, each 30 ms
apart) with the guard on checks that only the check on screen is ticked (issue 25.1).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from textual import events

from swrun.parser import load_runbook
from swrun.tui.app import SwrunApp, TuiSettings

TARGET_MS = 100.0


def runbook(total: int, samples: int) -> str:
    """`samples` checks, then `samples` shell steps, then checks up to `total` steps."""
    out = ["# Key latency", "", "## Checks", ""]
    out += [f"- [ ] Check number {i}" for i in range(1, samples + 1)]
    out += ["", "## Commands", ""]
    for i in range(1, samples + 1):
        out += [f"```bash {{name=cmd-{i}}}", "true", "```", ""]
    out += ["## The rest", ""]
    out += [f"- [ ] Later check {i}" for i in range(1, total - 2 * samples + 1)]
    return "\n".join(out) + "\n"


async def wait_for(pred: Callable[[], bool], limit: float = 10.0) -> float:
    t0 = time.perf_counter()
    while not pred():
        if time.perf_counter() - t0 > limit:
            raise TimeoutError("the console did not react within 10 s")
        await asyncio.sleep(0.0005)
    return time.perf_counter()


def label(app: SwrunApp, step_id: str) -> str:
    node = app.step_tree._step_nodes[step_id]  # the row as drawn
    return node.label.plain


async def measure(total: int, samples: int) -> dict[str, list[float]]:
    res: dict[str, list[float]] = {"tick": [], "tick→next": [], "run": [], "run→next": [],
                                   "move": []}
    samples = min(samples, (total - 1) // 2)  # the runbook stays `total` steps long
    with tempfile.TemporaryDirectory() as tmp:
        rb_path = Path(tmp) / "rb.md"
        rb_path.write_text(runbook(total, samples))
        rb = load_runbook(str(rb_path))
        app = SwrunApp(rb, settings=TuiSettings(
            operator="bench", log_path=str(Path(tmp) / "run.toml"), offer_resume=False,
            answer_guard=0.0))
        async with app.run_test(size=(120, 40)) as pilot:
            steps = rb.main_steps

            def asked(step_id: str) -> Callable[[], bool]:
                return lambda: (app.pending is not None and app.pending.step.id == step_id
                                and not app.pending.answered)

            for i, step in enumerate(steps[: 2 * samples]):
                await wait_for(asked(step.id))
                await pilot.pause()
                is_check = i < samples
                sent = time.perf_counter()
                app.post_message(events.Key("space" if is_check else "r",
                                            " " if is_check else "r"))
                icon = "☑" if is_check else "✓"
                shown = await wait_for(lambda s=step.id, c=icon: label(app, s).startswith(c))
                nxt = await wait_for(asked(steps[i + 1].id))
                key = "tick" if is_check else "run"
                res[key].append(shown - sent)
                res[f"{key}→next"].append(nxt - sent)
            await pilot.pause()
            for n in range(samples):
                before = app.detail.step
                sent = time.perf_counter()
                app.post_message(events.Key("down" if n % 2 == 0 else "up", None))
                shown = await wait_for(lambda b=before: app.detail.step is not b)
                res["move"].append(shown - sent)
            app.exit(0)
    return res


async def burst(total: int) -> str:
    """Five spaces and an `r` 30 ms apart: only the first lands (the others were pressed
    before their check was on screen)."""
    with tempfile.TemporaryDirectory() as tmp:
        rb_path = Path(tmp) / "rb.md"
        text = "# Burst\n\n## Checks\n\n" + "\n".join(
            f"- [ ] Check {i}" for i in range(1, 6)) + "\n\n```bash {name=go}\ntrue\n```\n\n"
        text += "\n".join(f"- [ ] Later {i}" for i in range(1, max(1, total - 6) + 1)) + "\n"
        rb_path.write_text(text)
        rb = load_runbook(str(rb_path))
        app = SwrunApp(rb, settings=TuiSettings(
            operator="bench", log_path=str(Path(tmp) / "run.toml"), offer_resume=False))
        async with app.run_test(size=(120, 40)) as pilot:
            first = rb.main_steps[0].id
            await wait_for(lambda: app.pending is not None and app.pending.step.id == first)
            await pilot.pause(0.5)  # check 1 has been read
            for key, char in [("space", " ")] * 5 + [("r", "r")]:
                app.post_message(events.Key(key, char))
                await asyncio.sleep(0.03)
            await asyncio.sleep(1.0)
            done = sum(1 for s in rb.main_steps[:6] if app.view.steps[s.id].status
                       in ("ticked", "ok"))
            got = ("OK: only check 1 ticked; the 5 keys pressed before their question "
                   "was shown answered nothing" if done == 1 else
                   f"WRONG: {done} of 6 steps done by keys pressed ahead of their question")
            app.exit(0)
    return got


def row(name: str, small: list[float], big: list[float]) -> str:
    def ms(xs: list[float]) -> str:
        return f"median {statistics.median(xs) * 1000:6.1f} ms  max {max(xs) * 1000:6.1f} ms"

    return f"{name:<9} 20 steps: {ms(small)}   2,000 steps: {ms(big)}"


def main() -> None:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    small = asyncio.run(measure(20, samples))
    big = asyncio.run(measure(2000, samples))
    print(f"key → screen latency, {samples} presses each (console headless, real log, "
          "real shell)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(other work on the machine inflates run, which spawns a real bash)")
    for key in small:
        print(row(key, small[key], big[key]))
    worst = max(statistics.median(big[k]) for k in ("tick", "run", "move")) * 1000
    print(f"2,000-step median of tick/run/move, worst: {worst:.1f} ms (target <= "
          f"{TARGET_MS:.0f} ms) {'OK' if worst <= TARGET_MS else 'MISSED'}")
    ratio = statistics.median(big["tick"]) / statistics.median(small["tick"])
    print(f"tick latency 2,000 / 20 steps: {ratio:.2f}x")
    print(f"burst of 5 spaces + r, 30 ms apart, guard on: {asyncio.run(burst(2000))}")


if __name__ == "__main__":
    main()
