"""Real OpenSSH servers on 127.0.0.x for tests and the bench: keys, known_hosts, inventories.

Each host is `/usr/sbin/sshd -D -e` on its own loopback address with its own host key and a
private HOME/PM2_HOME (one SetEnv line), so pm2 daemons of different "hosts" never meet.
Teardown closes swrun's pooled connections, stops each listener and its session children,
and runs `pm2 kill` for every PM2_HOME a test used.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from swrun.procs import alive, descendants
from swrun.procs import matching as processes_matching  # noqa: F401 - re-exported for tests

SSHD = "/usr/sbin/sshd"
SFTP = "/usr/lib/openssh/sftp-server"
READY_TIMEOUT = 5.0


def keygen(path: Path, comment: str = "swrun-test") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True)
    return path


def free_port(addr: str) -> int:
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


@dataclass
class SshdHost:
    name: str
    addr: str
    port: int
    dir: Path
    home: Path
    pm2_home: Path
    app_port: int
    """A free port for this host's test app (exported as APP_PORT, with APP_ADDR)."""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host_key(self) -> Path:
        return self.dir / "host_ed25519"

    @property
    def known_hosts_line(self) -> str:
        kind, b64 = self.host_key.with_suffix(".pub").read_text().split()[:2]
        return f"[{self.addr}]:{self.port} {kind} {b64}\n"

    @property
    def key_name(self) -> str:
        return f"[{self.addr}]:{self.port}"

    @property
    def config(self) -> Path:
        return self.dir / "sshd_config"

    def start(self) -> None:
        os.makedirs("/run/sshd", exist_ok=True)
        log = open(self.dir / "sshd.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd {self.name} exited: "
                                   f"{(self.dir / 'sshd.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(
                    (self.addr, self.port), timeout=0.5) as s:
                s.settimeout(0.5)
                if s.recv(4).startswith(b"SSH-"):
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd {self.name} not ready in {READY_TIMEOUT}s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the listener and every session it forked (sessions outlive a bare TERM)."""
        if self.proc is None:
            return
        kids = descendants(self.proc.pid)
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        terminate(kids)
        self.proc = None

    def kill_sessions(self) -> None:
        """Drop every live SSH connection to this host, leaving the listener up."""
        assert self.proc is not None
        terminate(descendants(self.proc.pid), sig=signal.SIGKILL)

    def pm2_kill(self) -> None:
        if (self.pm2_home / "pm2.pid").exists() or (self.pm2_home / "rpc.sock").exists():
            subprocess.run(["pm2", "kill"], env={**os.environ, "PM2_HOME": str(self.pm2_home)},
                           capture_output=True, timeout=30)


def terminate(pids: list[int], sig: int = signal.SIGTERM, wait: float = 3.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + wait
    for pid in pids:
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Cluster:
    """N sshd hosts sharing one client key; `inventory()` writes an INI inventory for them."""

    root: Path
    hosts: list[SshdHost] = field(default_factory=list)

    @property
    def client_key(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def stranger_key(self) -> Path:
        """A key no host authorizes."""
        return self.root / "stranger_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    def __getitem__(self, name: str) -> SshdHost:
        return next(h for h in self.hosts if h.name == name)

    def add(self, name: str, addr: str) -> SshdHost:
        d = self.root / name
        d.mkdir()
        home = d / "home"
        home.mkdir()
        host = SshdHost(name, addr, free_port(addr), d, home, d / "pm2", free_port(addr))
        keygen(host.host_key, f"{name}-host")
        host.config.write_text(f"""\
Port {host.port}
ListenAddress {addr}
HostKey {host.host_key}
PidFile none
AuthorizedKeysFile {self.root / 'authorized_keys'}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AllowTcpForwarding yes
Subsystem sftp {SFTP}
SetEnv HOME={home} PM2_HOME={host.pm2_home} APP_ADDR={addr} APP_PORT={host.app_port}
MaxStartups 100:30:200
MaxSessions 50
""")
        host.start()
        self.hosts.append(host)
        with self.known_hosts.open("a") as fh:
            fh.write(host.known_hosts_line)
        return host

    def inventory(self, path: Path, groups: dict[str, list[str]] | None = None,
                  extra: str = "", known_hosts: Path | None = None,
                  key: Path | None = None) -> Path:
        """An INI inventory: every host under [all] with its address, port, user and key."""
        lines = []
        for h in self.hosts:
            lines.append(f"{h.name} ansible_host={h.addr} ansible_port={h.port} "
                         "ansible_user=root")
        for group, members in (groups or {}).items():
            lines += [f"\n[{group}]", *members]
        kh = known_hosts or self.known_hosts
        lines += ["\n[all:vars]", f"ansible_ssh_private_key_file={key or self.client_key}",
                  f"swrun_known_hosts={kh}", extra]
        path.write_text("\n".join(lines) + "\n")
        return path

    def stop(self) -> None:
        _close_pool()
        for h in self.hosts:
            h.stop()
        for h in self.hosts:
            h.pm2_kill()


def _close_pool() -> None:
    import sys

    pool = sys.modules.get("swrun.ssh.pool")
    if pool is not None:
        pool.POOL.close_all()  # type: ignore[attr-defined]


@contextlib.contextmanager
def cluster(root: Path, count: int, first: int = 2) -> Iterator[Cluster]:
    """`count` sshd hosts h1..hN on 127.0.0.{first}..; stopped (and pm2 killed) on exit."""
    root.mkdir(parents=True, exist_ok=True)
    c = Cluster(root)
    keygen(c.client_key, "swrun-client")
    keygen(c.stranger_key, "stranger")
    shutil.copy(c.client_key.with_suffix(".pub"), root / "authorized_keys")
    try:
        for i in range(count):
            c.add(f"h{i + 1}", f"127.0.0.{first + i}")
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def sshd_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three hosts h1..h3 on 127.0.0.2-4 for the whole session (do not stop them in a test)."""
    with cluster(tmp_path_factory.mktemp("sshd"), 3) as c:
        yield c


@pytest.fixture
def spare_host(tmp_path: Path) -> Iterator[Cluster]:
    """One throw-away host on 127.0.0.20 that a test may stop, re-key or break."""
    with cluster(tmp_path / "spare", 1, first=20) as c:
        yield c


@pytest.fixture(autouse=False)
def ssh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME: no ~/.ssh/config, known_hosts or agent of the person running the tests."""
    home = tmp_path / "userhome"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home
