"""Step overhead of `swrun execute` vs a plain bash script, printed side by side.

    .venv/bin/python bench/step_overhead.py [--steps 200] [--rounds 5]

Baseline: a bash script that runs the same N steps as separate `bash -c true` processes.
swrun: `swrun execute --yes` on an N-step runbook of `true` blocks (real run log, fsync'd).
The step loop is compared with start-up subtracted: (swrun N steps − swrun 1 step) per step
vs bash per step, each the best of several rounds. Target: ≤ 1.5x. Also prints the wall
time of a 1-step run (the start-up cost).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWRUN = [str(Path(sys.executable).with_name("swrun"))]


def runbook(n: int) -> str:
    blocks = "\n".join(f"```bash {{name=s{i}}}\ntrue\n```\n" for i in range(n))
    return f"# Overhead\n\n## Steps\n\n{blocks}"


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t0


def best(cmd: list[str], cwd: Path, rounds: int) -> float:
    timed(cmd, cwd)  # warm the page cache
    return min(timed(cmd, cwd) for _ in range(rounds))  # the least disturbed run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    n = args.steps
    with tempfile.TemporaryDirectory(prefix="swrun-bench-") as tmp:
        d = Path(tmp)
        (d / "many.md").write_text(runbook(n))
        (d / "one.md").write_text(runbook(1))
        (d / "steps.sh").write_text("#!/bin/bash\n" + "bash -c true\n" * n)
        bash = best(["bash", "steps.sh"], d, args.rounds)
        many = best([*SWRUN, "execute", "--yes", "many.md"], d, args.rounds)
        one = best([*SWRUN, "execute", "--yes", "one.md"], d, args.rounds)
    loop = (many - one) / (n - 1)
    base = bash / n
    print(f"{'':34}{'wall':>10}{'per step':>12}")
    print(f"{f'bash script, {n} x bash -c true':34}{bash:>9.3f}s{base * 1000:>10.2f}ms")
    print(f"{f'swrun execute, {n} steps':34}{many:>9.3f}s{loop * 1000:>10.2f}ms  (start-up "
          "subtracted)")
    print(f"{'swrun execute, 1 step (start-up)':34}{one:>9.3f}s")
    print(f"step loop ratio swrun/bash: {loop / base:.2f}x  (target <= 1.5x)")


if __name__ == "__main__":
    main()
