"""Step overhead of `swrun execute` vs plain bash and paulrun, side by side in one run.

    .venv/bin/python bench/step_overhead.py [--steps 200] [--rounds 5]
        [--tree NAME=DIR ...] [--paulrun PATH]

Baseline: a bash script running the same N steps as separate `bash -c true` processes.
swrun: `swrun execute --yes` on an N-step runbook of `true` blocks (real run log with its
hash chain, fsync'd), once per `--tree` (PYTHONPATH=DIR, e.g. main's tree beside a
branch's; default: the swrun importable here). paulrun (`paulrun run --no-step`, answered
`y`) when found: `--paulrun`, $PAULRUN, or on PATH — it needs Python >= 3.12, so install it
in a scratch venv (`python3.12 -m venv /tmp/pr && /tmp/pr/bin/pip install paulrun`).

The rounds are interleaved (each round runs every command once) so a busy machine slows
them alike; each figure is the median of the rounds. The step loop is compared with
start-up subtracted: (N steps − 1 step) / (N − 1) per step vs bash per step. Targets:
step loop <= 1.5x bash and below paulrun's; a 1-step run's start-up below paulrun's. The
machine's load (`uptime`) is printed before and after. Compiled modules are cached under
the bench's temp folder (PYTHONPYCACHEPREFIX; PYTHONDONTWRITEBYTECODE is dropped), as an
installed package has them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWRUN = str(Path(sys.executable).with_name("swrun"))


def swrun_book(n: int) -> str:
    blocks = "\n".join(f"```bash {{name=s{i}}}\ntrue\n```\n" for i in range(n))
    return f"# Overhead\n\n## Steps\n\n{blocks}"


def paulrun_book(n: int) -> str:
    blocks = "\n".join(f"## s{i}\n\n```bash run\ntrue\n```\n" for i in range(n))
    return f"---\ntitle: Overhead\n---\n\n{blocks}"


def timed(cmd: list[str], cwd: Path, env: dict[str, str], stdin: bytes) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, input=stdin, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tree", action="append", default=[],
                    help="NAME=DIR: time swrun with PYTHONPATH=DIR (repeatable)")
    ap.add_argument("--paulrun", default=os.environ.get("PAULRUN") or shutil.which("paulrun"))
    args = ap.parse_args()
    n = args.steps
    trees = [t.split("=", 1) for t in args.tree] or [["swrun", ""]]
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    print(f"before: {load()}")
    with tempfile.TemporaryDirectory(prefix="swrun-bench-") as tmp:
        d = Path(tmp)
        # compiled modules cached (as an installed package has them), outside the trees
        base_env["PYTHONPYCACHEPREFIX"] = str(d / "pycache")
        (d / "many.md").write_text(swrun_book(n))
        (d / "one.md").write_text(swrun_book(1))
        (d / "pmany.md").write_text(paulrun_book(n))
        (d / "pone.md").write_text(paulrun_book(1))
        (d / "steps.sh").write_text("#!/bin/bash\n" + "bash -c true\n" * n)
        jobs: dict[str, tuple[list[str], dict[str, str], bytes]] = {
            "bash": (["bash", "steps.sh"], base_env, b"")}
        for name, tree in trees:
            env = {**base_env, **({"PYTHONPATH": tree} if tree else {})}
            for size in ("many", "one"):
                jobs[f"{name} {size}"] = ([SWRUN, "execute", "--yes", f"{size}.md", "--log",
                                           f"{name}-{size}.toml"], env, b"")
        if args.paulrun:
            for size in ("many", "one"):
                jobs[f"paulrun {size}"] = ([args.paulrun, "run", "--no-step", f"p{size}.md"],
                                           base_env, b"y\n")
        times: dict[str, list[float]] = {k: [] for k in jobs}
        for cmd, env, stdin in jobs.values():  # warm the page cache
            timed(cmd, d, env, stdin)
        for _ in range(args.rounds):
            for key, (cmd, env, stdin) in jobs.items():
                for log in d.glob("*.toml*"):
                    if log.is_file():
                        log.unlink()
                times[key].append(timed(cmd, d, env, stdin))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["bash"] / n
    print(f"{'':36}{'wall':>9}{'per step':>11}{'x bash':>9}")
    print(f"{f'bash script, {n} x bash -c true':36}{med['bash']:>8.3f}s{base * 1e3:>9.2f}ms"
          f"{1:>8.2f}x")
    names = [t[0] for t in trees] + (["paulrun"] if args.paulrun else [])
    for name in names:
        loop = (med[f"{name} many"] - med[f"{name} one"]) / (n - 1)
        print(f"{f'{name}, {n} steps (start-up subtracted)':36}{med[f'{name} many']:>8.3f}s"
              f"{loop * 1e3:>9.2f}ms{loop / base:>8.2f}x")
    for name in names:
        print(f"{f'{name}, 1 step (start-up)':36}{med[f'{name} one'] * 1e3:>8.0f}ms")
    if not args.paulrun:
        print("paulrun: not found (--paulrun PATH; it needs Python >= 3.12)")
    print(f"medians of {args.rounds} interleaved rounds; after: {load()}")


if __name__ == "__main__":
    main()
