"""Fleet scale: swrun vs OpenSSH (`xargs -P`) vs `ansible -f` on N real sshd on loopback.

    .venv/bin/python bench/fleet.py [--sizes 10,50,100] [--reps 3] [--parallel P]
                                    [--no-ansible] [--sweep] [--procs]

Starts max(sizes) sshd on 127.0.0.2.. (tests/sshd.py) with a private HOME, and stops them
(and every connection) at the end. For each size N and each command (`hostname`, `sleep 1`)
it times, median of --reps, each run cold (a new process: start-up, inventory, connect, key
exchange, command, close):

  swrun    `python -m swrun execute` of a one-step runbook `hosts=all parallel=P`
  openssh  `xargs -P P ssh -F cfg HOST CMD`, with the KEX, cipher and MAC paramiko negotiates
           with this sshd (curve25519-sha256@libssh.org, aes128-ctr, hmac-sha2-256)
  ansible  `ansible all -f P -m shell -a CMD` (ControlMaster off: one connection per host)

with a known_hosts of just the N hosts and one of 5,000 lines (the N hosts last, half of the
filler hashed `|1|`). Ratios are against OpenSSH with the same known_hosts. swrun's peak RSS
and thread count are sampled from /proc. `--sweep` times swrun at N=max(sizes) for several
`parallel=`; `--procs` compares connecting N hosts from 1 process vs 2 processes.

This machine's 2 cores run the client *and* every sshd, so absolute numbers measure those
cores; the ratios are what carries over.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from sshd import Cluster, cluster  # noqa: E402

PY = sys.executable
KEX = "curve25519-sha256@libssh.org"
CIPHER = "aes128-ctr"
MAC = "hmac-sha2-256"
COMMANDS = {"hostname": "hostname", "sleep 1": "sleep 1"}


def big_known_hosts(c: Cluster, names: list[str], path: Path, total: int = 5000) -> Path:
    """`total` lines: filler (half hashed), then the real hosts' lines."""
    real = list(dict.fromkeys(c[n].known_hosts_line for n in names))
    blob = real[0].split()[2]
    lines = []
    for i in range(total - len(real)):
        name = f"[10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}]:22"
        if i % 2:
            salt = os.urandom(20)
            digest = hmac.digest(salt, name.encode(), "sha1")
            name = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
        lines.append(f"{name} ssh-ed25519 {blob}\n")
    path.write_text("".join(lines + real))
    return path


def small_known_hosts(c: Cluster, names: list[str], path: Path) -> Path:
    path.write_text("".join(dict.fromkeys(c[n].known_hosts_line for n in names)))
    return path


def swrun_inventory(c: Cluster, names: list[str], path: Path, kh: Path) -> Path:
    lines = [f"{n} ansible_host={c[n].addr} ansible_port={c[n].port} ansible_user=root"
             for n in names]
    lines += ["", "[all:vars]", f"ansible_ssh_private_key_file={c.client_key}",
              f"swrun_known_hosts={kh}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def ansible_inventory(c: Cluster, names: list[str], path: Path, kh: Path, tmp: Path) -> Path:
    args = (f"-o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "
            f"-o KexAlgorithms={KEX} -o Ciphers={CIPHER} -o MACs={MAC}")
    lines = [f"{n} ansible_host={c[n].addr} ansible_port={c[n].port}" for n in names]
    lines += ["", "[all:vars]", "ansible_user=root",
              f"ansible_ssh_private_key_file={c.client_key}",
              "ansible_python_interpreter=/usr/bin/python3",
              f"ansible_remote_tmp={tmp / 'remote_tmp'}",
              f"ansible_ssh_common_args='{args}'"]
    path.write_text("\n".join(lines) + "\n")
    return path


def ssh_config(c: Cluster, names: list[str], path: Path, kh: Path) -> Path:
    out = []
    for n in names:
        out.append(f"Host {n}\n  HostName {c[n].addr}\n  Port {c[n].port}\n")
    out.append(f"""Host *
  User root
  IdentityFile {c.client_key}
  IdentitiesOnly yes
  UserKnownHostsFile {kh}
  StrictHostKeyChecking yes
  BatchMode yes
  ControlMaster no
  KexAlgorithms {KEX}
  Ciphers {CIPHER}
  MACs {MAC}
""")
    path.write_text("\n".join(out))
    return path


class Aliased:
    """Inventory hosts h1..hN over fewer sshd: h{i} is sshd number (i-1) % count, so a fan-out
    to 1,000 hosts can be measured with 200 sshd (5 connections to each)."""

    def __init__(self, c: Cluster) -> None:
        self.c = c
        self.by_name = {h.name: h for h in c.hosts}

    def __getitem__(self, name: str):  # type: ignore[no-untyped-def]
        i = int(name[1:])
        return self.c.hosts[(i - 1) % len(self.c.hosts)]

    def __getattr__(self, attr: str):  # type: ignore[no-untyped-def]
        return getattr(self.c, attr)


class Sample:
    """Peak RSS (VmHWM) and thread count of a running process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss_kb = 0
        self.threads = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                text = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.rss_kb = max(self.rss_kb, int(line.split()[1]))
                elif line.startswith("Threads:"):
                    self.threads = max(self.threads, int(line.split()[1]))
            self._stop.wait(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._t.join(1)


def timed(cmd: list[str], env: dict[str, str], cwd: Path, sample: bool = False,
          ) -> tuple[float, Sample | None, float]:
    """Wall seconds, the /proc sample, and the process's own CPU seconds (user+sys)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    s = Sample(p.pid) if sample else None
    out = p.stdout.read() if p.stdout else b""
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if s:
        s.stop()
    if p.returncode != 0:
        raise SystemExit(f"{cmd[:4]}… failed ({p.returncode}):\n{out.decode()[-3000:]}")
    return wall, s, usage.ru_utime + usage.ru_stime


def run_swrun(tmp: Path, inv: Path, command: str, parallel: int, env: dict[str, str],
              ) -> tuple[float, Sample | None, float]:
    rb = tmp / "fleet.md"
    rb.write_text(f"# Fleet\n\n```bash {{hosts=all parallel={parallel}}}\n{command}\n```\n")
    return timed([PY, "-m", "swrun", "execute", str(rb), "--inventory", str(inv),
                  "--log", str(tmp / f"run-{time.monotonic_ns()}.log")], env, tmp, sample=True)


def run_openssh(tmp: Path, cfg: Path, names: list[str], command: str, parallel: int,
                env: dict[str, str]) -> float:
    hosts = tmp / "hosts.txt"
    hosts.write_text("\n".join(names) + "\n")
    return timed(["xargs", "-a", str(hosts), "-P", str(parallel), "-I{}", "ssh", "-F",
                  str(cfg), "{}", command], env, tmp)[0]


def run_ansible(tmp: Path, inv: Path, command: str, parallel: int,
                env: dict[str, str]) -> float:
    return timed([str(Path(PY).parent / "ansible"), "all", "-i", str(inv), "-f",
                  str(parallel), "-m", "shell", "-a", command], env, tmp)[0]


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def procs_experiment(c: Cluster, names: list[str], kh: Path, parallel: int) -> None:
    """Connect + `hostname` on every host: 1 process × P threads vs 2 × P/2 (fork)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    t0 = time.perf_counter()
    _connect_all(names, c, kh, parallel)
    one = time.perf_counter() - t0
    halves = [names[0::2], names[1::2]]
    t0 = time.perf_counter()
    ps = [ctx.Process(target=_connect_all, args=(h, c, kh, max(1, parallel // 2)))
          for h in halves]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    two = time.perf_counter() - t0
    print(f"  connect + hostname on {len(names)} hosts: 1 process {one:.2f}s, "
          f"2 processes {two:.2f}s ({two / one:.2f}x)  [{load()}]")


def _connect_all(names: list[str], c: Cluster, kh: Path, parallel: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from swrun.ssh.pool import Pool
    from swrun.ssh.remote import RemoteHost
    from swrun.ssh.target import Target

    pool = Pool()
    stop = threading.Event()

    def one(n: str) -> str:
        t = Target(name=n, hostname=c[n].addr, port=c[n].port, user="root",
                   key_files=(str(c.client_key),), known_hosts=(str(kh),))
        return RemoteHost(t, {}, pool=pool).run("hostname", lambda line, s: None, stop).status

    try:
        with ThreadPoolExecutor(parallel) as ex:
            bad = [s for s in ex.map(one, names) if s != "ok"]
        if bad:
            raise SystemExit(f"procs experiment: {len(bad)} hosts not ok")
    finally:
        pool.close_all()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,50,100")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ansible-reps", type=int, default=0, help="default: --reps")
    ap.add_argument("--parallel", type=int, default=0, help="default: swrun's default")
    ap.add_argument("--no-ansible", action="store_true")
    ap.add_argument("--no-big", action="store_true", help="skip the 5,000-line known_hosts")
    ap.add_argument("--commands", default="hostname,sleep 1")
    ap.add_argument("--sweep", default="", help="parallel values to sweep at the largest N")
    ap.add_argument("--procs", action="store_true")
    ap.add_argument("--max-sshd", type=int, default=200,
                    help="sizes above this share sshd (several inventory hosts per sshd)")
    args = ap.parse_args()
    from swrun.ssh.fanout import DEFAULT_PARALLEL

    parallel = args.parallel or DEFAULT_PARALLEL
    sizes = [int(s) for s in args.sizes.split(",")]
    commands = [c.strip() for c in args.commands.split(",")]
    areps = args.ansible_reps or args.reps
    with tempfile.TemporaryDirectory(prefix="swrun-fleet-") as d:
        tmp = Path(d)
        home = tmp / "home"
        (home / ".ssh").mkdir(parents=True)
        env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT),
               "PATH": f"{Path(PY).parent}{os.pathsep}{os.environ['PATH']}",
               "ANSIBLE_SSH_ARGS": "-o ControlMaster=no", "ANSIBLE_HOST_KEY_CHECKING": "True",
               "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"), "NO_COLOR": "1",
               "ANSIBLE_NOCOLOR": "1"}
        env.pop("SSH_AUTH_SOCK", None)
        os.environ["HOME"] = str(home)
        os.environ.pop("SSH_AUTH_SOCK", None)
        t0 = time.perf_counter()
        with cluster(tmp / "hosts", min(max(sizes), args.max_sshd)) as real:
            c = Aliased(real)  # type: ignore[assignment]
            print(f"{len(real.hosts)} sshd up in {time.perf_counter() - t0:.1f}s; "
                  f"parallel={parallel}; {os.cpu_count()} cores; {load()}")
            print("| N | known_hosts | command | swrun | OpenSSH xargs -P | ansible -f | "
                  "swrun/OpenSSH | ansible/OpenSSH | swrun 5,000/N lines | swrun peak RSS | "
                  "swrun threads | swrun CPU |")
            print("|---|---|---|---|---|---|---|---|---|---|---|---|")
            for n in sizes:
                names = [f"h{i + 1}" for i in range(n)]
                khs = {"N lines": small_known_hosts(c, names, tmp / f"kh-{n}")}
                if not args.no_big:
                    khs["5,000 lines"] = big_known_hosts(c, names, tmp / f"kh-{n}-big")
                invs = {k: swrun_inventory(c, names, tmp / f"inv-{n}-{kh.name}.ini", kh)
                        for k, kh in khs.items()}
                cfgs = {k: ssh_config(c, names, tmp / f"ssh-{n}-{kh.name}.cfg", kh)
                        for k, kh in khs.items()}
                ainv = ansible_inventory(c, names, tmp / f"ainv-{n}.ini", khs["N lines"], tmp)
                for command in commands:
                    # reps interleaved across tools and files, so that drift in the machine's
                    # load (other sessions share the cores) hits every column alike
                    sw: dict[str, list[float]] = {k: [] for k in khs}
                    os_: dict[str, list[float]] = {k: [] for k in khs}
                    cpu: dict[str, list[float]] = {k: [] for k in khs}
                    rss = {k: 0 for k in khs}
                    thr = {k: 0 for k in khs}
                    for _ in range(args.reps):
                        for k in khs:
                            wall, s, used = run_swrun(tmp, invs[k], command, parallel, env)
                            assert s is not None
                            sw[k].append(wall)
                            cpu[k].append(used)
                            rss[k], thr[k] = max(rss[k], s.rss_kb), max(thr[k], s.threads)
                            os_[k].append(run_openssh(tmp, cfgs[k], names, command, parallel,
                                                      env))
                    an: list[float] = []
                    if not args.no_ansible:
                        an = [run_ansible(tmp, ainv, command, parallel, env)
                              for _ in range(areps)]
                    for k in khs:
                        a_cell = f"{med(an):.2f}s" if an and k == "N lines" else "—"
                        a_ratio = f"{med(an) / med(os_[k]):.2f}x" if a_cell != "—" else "—"
                        vs_small = (f"{med(sw[k]) / med(sw['N lines']):.2f}x"
                                    if k != "N lines" else "")
                        print(f"| {n} | {k} | `{command}` | {med(sw[k]):.2f}s | "
                              f"{med(os_[k]):.2f}s | {a_cell} | "
                              f"**{med(sw[k]) / med(os_[k]):.2f}x** | {a_ratio} | {vs_small} | "
                              f"{rss[k] / 1024:.0f} MB | {thr[k]} | {med(cpu[k]):.2f}s |"
                              f"  <!-- {load()} -->", flush=True)
            biggest = [f"h{i + 1}" for i in range(max(sizes))]
            kh = small_known_hosts(c, biggest, tmp / "kh-sweep")
            inv = swrun_inventory(c, biggest, tmp / "inv-sweep.ini", kh)
            for p in [int(x) for x in args.sweep.split(",") if x]:
                for command in commands:
                    walls = [run_swrun(tmp, inv, command, p, env)[0] for _ in range(args.reps)]
                    print(f"  sweep N={len(biggest)} parallel={p} `{command}`: "
                          f"{med(walls):.2f}s  [{load()}]", flush=True)
            if args.procs:
                procs_experiment(c, biggest, kh, parallel)
        shutil.rmtree(tmp / "ansible-local", ignore_errors=True)


if __name__ == "__main__":
    main()
