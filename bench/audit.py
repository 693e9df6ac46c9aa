"""What the audit trail costs per step: an unsigned run vs a signed one (chain, signature,
registry witness), and `swrun verify` per event, printed side by side.

    .venv/bin/python bench/audit.py [--steps 200] [--rounds 5]

Baseline: the same N-step runbook of `true` blocks run by `swrun execute --yes` without a
key. Signed: with `--sign-with` an ed25519 key (the chain is always kept; signing adds one
`ssh-keygen -Y sign` per part and a witness line). Verify: `swrun verify` of the signed log
with an allowed_signers file, per event. Each the best of several rounds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWRUN = [str(Path(sys.executable).with_name("swrun"))]


def runbook(n: int) -> str:
    blocks = "\n".join(f"```bash {{name=s{i}}}\ntrue\n```\n" for i in range(n))
    return f"# Audit\n\n## Steps\n\n{blocks}"


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    n = args.steps
    with tempfile.TemporaryDirectory(prefix="swrun-bench-") as tmp:
        d = Path(tmp)
        env = {**os.environ, "SWRUN_REGISTRY": str(d / "registry"),
               "GIT_CONFIG_GLOBAL": os.devnull}
        env.pop("SWRUN_SIGNING_KEY", None)
        (d / "rb.md").write_text(runbook(n))
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "k")],
                       check=True)
        kind, blob = (d / "k.pub").read_text().split()[:2]
        (d / "allowed_signers").write_text(f"ops {kind} {blob}\n")
        plain, signed = [], []
        for i in range(args.rounds):
            plain.append(timed([*SWRUN, "execute", "--yes", "rb.md", "--log", f"p{i}.toml"],
                               d, env))
            signed.append(timed([*SWRUN, "execute", "--yes", "rb.md", "--log", f"s{i}.toml",
                                 "--sign-with", str(d / "k")], d, env))
        events = (d / "s0.toml").read_text().count("[[event]]")
        verify = min(timed([*SWRUN, "verify", f"s{i}.toml", "--allowed-signers",
                            str(d / "allowed_signers")], d, env) for i in range(args.rounds))
    p, s = min(plain), min(signed)
    print(f"{'':40}{'wall':>10}{'per step':>12}")
    print(f"{f'unsigned run, {n} steps':40}{p:>9.3f}s{p / n * 1000:>10.2f}ms")
    print(f"{f'signed run + witness, {n} steps':40}{s:>9.3f}s{s / n * 1000:>10.2f}ms")
    print(f"{f'swrun verify, {events} events':40}{verify:>9.3f}s"
          f"{verify / events * 1000:>10.2f}ms/event")
    print(f"signed/unsigned: {s / p:.2f}x; signing adds {(s - p) * 1000:.0f} ms per run part")


if __name__ == "__main__":
    main()
