"""Ansible steps: swrun's overhead over ansible-playbook, and via=ansible vs paramiko fan-out.

    .venv/bin/python bench/ansible_vs_playbook.py [--rounds 3] [--hosts 1,5,20]

Starts its own sshd hosts on 127.0.0.50.. (tests/sshd.py) with a private HOME and stops them
(and every connection) at the end. Prints, with no asserts:
  1. wall time of one playbook step through swrun's Engine (in process: inventory load,
     ansible-runner, event streaming, ssh master cleanup) vs `ansible-playbook` run directly
     on the same playbook, inventory and ssh settings (ControlPersist under a temp dir);
     median of N rounds each, alternating, and the ratio (target <= 1.1x);
  2. one `echo` shell step on 1, 5 and 20 hosts: `via=ansible` (forks = hosts) vs the
     paramiko fan-out (parallel = hosts), cold (first remote step of a run: connections
     opened) and warm (pooled connections, every later step).
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
# this file is named ansible.py: keep its directory off sys.path, or `import ansible` finds it
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from swrun.engine import Engine, Settings  # noqa: E402
from swrun.events import StepFinished  # noqa: E402
from swrun.operators import AutoOperator  # noqa: E402
from swrun.parser import load_runbook  # noqa: E402

from sshd import cluster  # noqa: E402

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
    - name: echo
      ansible.builtin.shell: echo hi from {{ inventory_hostname }}
    - ansible.builtin.debug:
        msg: done
"""


def swrun_step(rb_path: Path, inv: Path, run_dir: Path) -> float:
    rb = load_runbook(str(rb_path))
    engine = Engine(rb, AutoOperator("bench"), {}, settings=Settings(
        run_dir=run_dir, executor_settings={"inventory": str(inv)}))
    t0 = time.perf_counter()
    for event in engine.run():
        if isinstance(event, StepFinished) and event.status != "ok":
            raise SystemExit(f"step failed: {event.error}")
    return time.perf_counter() - t0


def direct(playbook: Path, inv: Path, known: Path, tmp: Path) -> float:
    cp = Path(tempfile.mkdtemp(prefix="cp-", dir=tmp))
    ssh_args = (f"-o ControlMaster=auto -o ControlPersist=60s -o ControlPath={cp}/%C "
                f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known}")
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_SSH_ARGS": ssh_args,
           "ANSIBLE_LOCAL_TEMP": str(tmp / "ltmp"), "ANSIBLE_REMOTE_TMP": "/tmp/.bench-ansible",
           "ANSIBLE_RETRY_FILES_ENABLED": "False"}
    binary = Path(sys.executable).with_name("ansible-playbook")
    t0 = time.perf_counter()
    subprocess.run([str(binary), "-i", str(inv), str(playbook)], env=env, check=True,
                   capture_output=True, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - t0
    for sock in cp.iterdir():  # not timed: swrun does this inside its step
        subprocess.run(["ssh", "-S", str(sock), "-O", "exit", "x"], capture_output=True)
    return took


def fanout(tmp: Path, inv: Path, via: str, n: int, warm: bool) -> float:
    rb = tmp / f"fan-{via}-{n}.md"
    attrs = f"hosts=fan{n} via={via} " + (f"forks={n}" if via == "ansible" else f"parallel={n}")
    rb.write_text("# Fan\n\n" + "".join(f"```bash {{{attrs}}}\necho hi\n```\n"
                                        for _ in range(2 if warm else 1)))
    engine = Engine(load_runbook(str(rb)), AutoOperator("bench"), {}, settings=Settings(
        run_dir=tmp / f"run-{via}-{n}", executor_settings={"inventory": str(inv)}))
    times, t0 = [], time.perf_counter()
    for event in engine.run():
        if isinstance(event, StepFinished):
            if event.status != "ok":
                raise SystemExit(f"step failed: {event.error}")
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
    return times[-1]


def _all(xs: list[float]) -> str:
    return " ".join(f"{x:.2f}" for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hosts", default="1,5,20")
    args = ap.parse_args()
    counts = [int(x) for x in args.hosts.split(",")]
    with tempfile.TemporaryDirectory(prefix="swrun-bench-ansible-") as d:
        tmp = Path(d)
        home = tmp / "home"
        (home / ".ssh").mkdir(parents=True)
        os.environ["HOME"] = str(home)
        os.environ.pop("SSH_AUTH_SOCK", None)
        with cluster(tmp / "hosts", max([*counts, 3]), first=50) as c:
            lines = [f"{h.name} ansible_host={h.addr} ansible_port={h.port} ansible_user=root"
                     for h in c.hosts]
            for n in counts:
                lines += [f"[fan{n}]", *(h.name for h in c.hosts[:n])]
            lines += ["[three]", "h1", "h2", "h3", "[all:vars]",
                      f"ansible_ssh_private_key_file={c.client_key}",
                      f"swrun_known_hosts={c.known_hosts}",
                      "ansible_python_interpreter=/usr/bin/python3"]
            inv = tmp / "inv.ini"
            inv.write_text("\n".join(lines) + "\n")
            playbook = tmp / "site.yml"
            playbook.write_text(PLAYBOOK.replace("hosts: all", "hosts: three"))
            rb = tmp / "pb.md"
            rb.write_text("# Bench\n\n```ansible {playbook=site.yml}\n```\n")

            print("1. one playbook step (3 tasks) on 3 hosts over SSH, "
                  f"median of {args.rounds}")
            ours, theirs = [], []
            swrun_step(rb, inv, tmp / "warmup")  # imports, .pyc, first ssh handshakes
            for i in range(args.rounds):
                theirs.append(direct(playbook, inv, c.known_hosts, tmp))
                ours.append(swrun_step(rb, inv, tmp / f"run{i}"))
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"   ansible-playbook directly: {b:6.2f} s   ({_all(theirs)})")
            print(f"   swrun ansible step:        {a:6.2f} s   ({_all(ours)})")
            print(f"   ratio: {a / b:.2f}x (target <= 1.10x)")

            print("\n2. `echo hi` on N hosts: via=ansible vs paramiko (via=ssh), seconds")
            print(f"   {'hosts':>5}  {'ansible':>8}  {'ssh cold':>8}  {'ssh warm':>8}")
            from swrun.ssh.pool import POOL

            for n in counts:
                t_ansible = fanout(tmp, inv, "ansible", n, warm=False)
                POOL.close_all()
                t_cold = fanout(tmp, inv, "ssh", n, warm=False)
                t_warm = fanout(tmp, inv, "ssh", n, warm=True)
                POOL.close_all()
                print(f"   {n:>5}  {t_ansible:8.2f}  {t_cold:8.3f}  {t_warm:8.3f}")
    print("\n(no asserts; see docs/steps/ansible.md for what the numbers mean)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
