"""SSH latency and fan-out: swrun (through the engine, in process) vs OpenSSH with ControlMaster.

    .venv/bin/python bench/ssh.py [--steps 100] [--hosts 20]

Starts its own sshd hosts on 127.0.0.2.. (tests/sshd.py), with a private HOME, and stops
them (and every connection) at the end. Prints:
  1. median latency of N sequential one-line remote steps through swrun's Engine (StepStarted
     to StepFinished as the consumer sees them; the connection is warm, as it is for every
     step after the first in a run) vs `ssh -o ControlMaster` running the same line;
  2. wall time of one step fanned out to H hosts vs to 1 host, warm (median of 5) and cold
     (first step of a run: inventory load + connect + handshake included);
  3. the same fan-out for a step that spends its time on the host (`sleep 0.3`): here every
     "host" shares this machine's two cores, so (2) mostly measures those cores, while (3)
     measures what the fan-out itself adds when the hosts are separate machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from swrun.engine import Engine, Settings  # noqa: E402
from swrun.events import StepFinished, StepStarted  # noqa: E402
from swrun.operators import AutoOperator  # noqa: E402
from swrun.parser import load_runbook  # noqa: E402

from sshd import cluster  # noqa: E402


def step_times(path: Path, inv: Path) -> list[float]:
    """Seconds from StepStarted to StepFinished for each step, as the consumer sees them."""
    rb = load_runbook(str(path))
    engine = Engine(rb, AutoOperator("bench"), {}, settings=Settings(
        executor_settings={"inventory": str(inv)}))
    out, started = [], 0.0
    for event in engine.run():
        if isinstance(event, StepStarted):
            started = time.perf_counter()
        elif isinstance(event, StepFinished):
            out.append(time.perf_counter() - started)
            if event.status != "ok":
                raise SystemExit(f"step failed: {event.error}")
    return out


def runbook(tmp: Path, name: str, blocks: list[str], line: str = "echo hi") -> Path:
    path = tmp / name
    path.write_text("# Bench\n\n" + "\n".join(f"```bash {{{attrs}}}\n{line}\n```\n"
                                              for attrs in blocks))
    return path


def _ssh(tmp: Path, c, h) -> list[str]:  # type: ignore[no-untyped-def]
    return ["ssh", "-F", "/dev/null", "-p", str(h.port), "-i", str(c.client_key),
            "-o", f"UserKnownHostsFile={c.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "ControlMaster=auto", "-o", f"ControlPath={tmp}/cm-%C",
            "-o", "ControlPersist=60", f"root@{h.addr}"]


def ssh_controlmaster(tmp: Path, c, n: int) -> tuple[list[float], float, float]:  # type: ignore[no-untyped-def]
    """n sequential `echo hi` over a master to h1; then median wall of all hosts at once vs h1."""
    bases = [_ssh(tmp, c, h) for h in c.hosts]
    try:
        for base in bases:  # start every master
            subprocess.run([*base, "true"], check=True, capture_output=True)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run([*bases[0], "echo hi"], check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        fan = []
        for _ in range(5):
            t0 = time.perf_counter()
            procs = [subprocess.Popen([*b, "echo hi"], stdout=subprocess.DEVNULL) for b in bases]
            for p in procs:
                p.wait()
            fan.append(time.perf_counter() - t0)
        return times, statistics.median(fan), statistics.median(times)
    finally:
        for base in bases:
            subprocess.run([*base[:-1], "-O", "exit", base[-1]], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--hosts", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="swrun-bench-") as d:
        tmp = Path(d)
        os.environ["HOME"] = str(tmp)
        os.environ.pop("SSH_AUTH_SOCK", None)
        with cluster(tmp / "hosts", args.hosts) as c:
            group = [f"h{i + 1}" for i in range(args.hosts)]
            inv = c.inventory(tmp / "inv.ini", groups={"fleet": group})
            from swrun.ssh.pool import POOL

            # -- 1. sequential latency ----------------------------------------------------
            seq = step_times(runbook(tmp, "seq.md", ["host=h1"] * (args.steps + 1)), inv)
            cold_one, warm = seq[0], seq[1:]
            ssh, ssh_fan, ssh_one = ssh_controlmaster(tmp, c, args.steps)
            s_med, o_med = statistics.median(warm), statistics.median(ssh)
            print(f"sequential one-line steps (n={args.steps}, engine in process, warm "
                  "connection):")
            print(f"  swrun   median {s_med * 1000:6.2f} ms   p90 "
                  f"{statistics.quantiles(warm, n=10)[-1] * 1000:6.2f} ms")
            print(f"  ssh -o ControlMaster median {o_med * 1000:6.2f} ms   p90 "
                  f"{statistics.quantiles(ssh, n=10)[-1] * 1000:6.2f} ms")
            print(f"  ratio swrun/ssh = {s_med / o_med:.2f}x (target <= 0.5x)")
            print(f"  (first step of the run, cold: {cold_one * 1000:.0f} ms incl. inventory "
                  "load and connect)")

            # -- 2. fan-out ---------------------------------------------------------------
            POOL.close_all()
            cold_n = step_times(runbook(tmp, "cold_n.md", ["hosts=fleet"]), inv)[0]
            POOL.close_all()
            cold_1 = step_times(runbook(tmp, "cold_1.md", ["host=h1"]), inv)[0]
            reps = 5
            fan = step_times(runbook(tmp, "fan.md", ["hosts=fleet"] * (reps + 1)
                                     + ["host=h1"] * reps), inv)
            warm_n, warm_1 = statistics.median(fan[1:reps + 1]), statistics.median(fan[reps + 1:])
            print(f"one step fanned out to {args.hosts} hosts vs 1 host (default parallel):")
            print(f"  warm: {warm_n * 1000:7.1f} ms vs {warm_1 * 1000:6.1f} ms = "
                  f"{warm_n / warm_1:.2f}x (target <= 2x)")
            print(f"  reference, ssh -o ControlMaster to {args.hosts} hosts at once vs 1: "
                  f"{ssh_fan * 1000:.1f} ms vs {ssh_one * 1000:.1f} ms = "
                  f"{ssh_fan / ssh_one:.2f}x (the same CPUs serve every \"host\" here)")
            print(f"  cold: {cold_n * 1000:7.1f} ms vs {cold_1 * 1000:6.1f} ms = "
                  f"{cold_n / cold_1:.2f}x (connect + key exchange per host, on "
                  f"{os.cpu_count()} cores)")
            # A step whose time is spent on the host (as on real, separate machines) rather
            # than in this machine's CPUs: the fan-out's own cost, apart from the shared cores.
            slow = step_times(runbook(tmp, "slow.md", ["hosts=fleet"] * reps + ["host=h1"] * reps,
                                      line="sleep 0.3"), inv)
            slow_n, slow_1 = statistics.median(slow[:reps]), statistics.median(slow[reps:])
            print(f"  host-bound step (`sleep 0.3`), warm: {slow_n * 1000:7.1f} ms vs "
                  f"{slow_1 * 1000:6.1f} ms = {slow_n / slow_1:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
