"""`swrun watch` lag, and what notifications + OTLP tracing cost the step loop.

    .venv/bin/python bench/watch.py [--events 1000] [--steps 100] [--rounds 5]

1. Lag: a writer thread appends EVENTS run events (notes, and step starts and ends) to a run
   log through swrun.runlog.RunLog, one every few milliseconds, each fsync'd as a run writes
   it; the watch console (swrun.watch.app.WatchApp, headless) follows the file. Lag = from
   the moment `append` returned to the moment the console applied the event to its panes.
   Median and max. Target: median ≤ 100 ms.
2. Overhead: `swrun execute --yes` of an N-step runbook whose steps all pass (a span each;
   the run's start and end are notified), then one whose every step fails with
   on_failure=continue (a span and a `step_failed` notification each), with and
   without a notify target (a local HTTP server) and OTEL_EXPORTER_OTLP_ENDPOINT (a local
   receiver); the step loop compared with start-up subtracted, best of several rounds.
   Target: ≤ 1.05x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SWRUN = [str(Path(sys.executable).with_name("swrun"))]

WATCHED = """# Watched

## Steps

```bash {name=one}
echo one
```

```bash {name=two}
echo two
```
"""


def lag(events: int, every: float) -> list[float]:
    from swrun.events import NoteAdded, StepFinished, StepStarted, StepStatus
    from swrun.parser import load_runbook
    from swrun.runlog import RunLog
    from swrun.watch.app import WatchApp
    from swrun.watch.source import WatchSource

    with tempfile.TemporaryDirectory(prefix="swrun-bench-") as tmp:
        d = Path(tmp)
        (d / "rb.md").write_text(WATCHED)
        runbook = load_runbook(d / "rb.md")
        path = d / "run.toml"
        log = RunLog.create(path, {"id": "bench", "runbook": "rb.md", "title": "Watched",
                                   "operator": "bench", "started_at": "2026-01-01T00:00:00Z"})
        written: dict[int, float] = {}
        shown: dict[int, float] = {}

        def applied(rec: dict[str, object]) -> None:
            seq = rec.get("seq")
            if isinstance(seq, int):
                shown[seq] = time.perf_counter()

        def writer() -> None:
            for seq in range(1, events + 1):
                step = "one" if seq % 2 else "two"
                if seq % 10 == 1:
                    event = StepStarted(seq=seq, step=step, number=1, title=step, kind="shell")
                elif seq % 10 == 2:
                    event = StepFinished(seq=seq, step="one", number=1, title="one",
                                         kind="shell", status=StepStatus.OK, exit_code=0,
                                         duration_ms=1)
                else:
                    event = NoteAdded(seq=seq, note=f"note {seq}", by="bench")
                log.append(event)
                written[seq] = time.perf_counter()
                time.sleep(every)

        async def watch() -> None:
            source = WatchSource(path)
            app = WatchApp(source, runbook, on_applied=applied)
            async with app.run_test(size=(120, 36)) as pilot:
                thread = threading.Thread(target=writer)
                thread.start()
                while len(shown) < events:
                    await pilot.pause(0.01)
                thread.join()

        asyncio.run(watch())
        log.close()
    return [(shown[s] - written[s]) * 1000 for s in written if s in shown]


RUNBOOK_STEPS = "```bash {{name=s{i} on_failure=continue}}\n{cmd}\n```\n"


def runbook(n: int, notify: str = "", cmd: str = "true") -> str:
    front = f'+++\n[[notify]]\nurl = "{notify}"\n+++\n' if notify else ""
    blocks = "\n".join(RUNBOOK_STEPS.format(i=i, cmd=cmd) for i in range(n))
    return f"{front}# Overhead\n\n## Steps\n\n{blocks}"


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def overhead(n: int, rounds: int, cmd: str) -> tuple[float, float]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    team_env = {**plain_env, "OTEL_EXPORTER_OTLP_ENDPOINT": url}
    out = []
    with tempfile.TemporaryDirectory(prefix="swrun-bench-") as tmp:
        d = Path(tmp)
        for name, notify in (("plain", ""), ("team", f"{url}/hook")):
            (d / f"{name}-many.md").write_text(runbook(n, notify, cmd))
            (d / f"{name}-one.md").write_text(runbook(1, notify, cmd))
        best: dict[str, float] = {}
        for _ in range(rounds):  # interleaved, so both see the same machine
            for name, env in (("plain", plain_env), ("team", team_env)):
                for size in ("many", "one"):
                    took = timed([*SWRUN, "execute", "--yes", "--concurrent",
                                  f"{name}-{size}.md"], d, env)
                    key = f"{name}-{size}"
                    best[key] = min(best.get(key, took), took)  # the least disturbed run
        for name in ("plain", "team"):
            out.append((best[f"{name}-many"] - best[f"{name}-one"]) / (n - 1))
    server.shutdown()
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--every", type=float, default=0.005, help="seconds between events")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    lags = lag(args.events, args.every)
    med, worst = statistics.median(lags), max(lags)
    print(f"watch lag over {len(lags)} events: median {med:.1f} ms, max {worst:.1f} ms "
          f"(target: median ≤ 100 ms) — {'OK' if med <= 100 else 'OVER'}")
    for what, cmd in (("ok steps (a span each)", "true"),
                      ("failing steps (a span and a step_failed notification each)", "false")):
        plain, team = overhead(args.steps, args.rounds, cmd)
        ratio = team / plain
        print(f"step loop, {args.steps} {what}: {plain * 1000:.2f} ms/step plain, "
              f"{team * 1000:.2f} ms/step with a notify target + OTLP: {ratio:.3f}x "
              f"(target ≤ 1.05x) — {'OK' if ratio <= 1.05 else 'OVER'}")


if __name__ == "__main__":
    main()
