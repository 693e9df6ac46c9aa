"""The lab: blue and green app hosts (real sshd + PM2), a MongoDB-wire server and moto.

Everything listens on 127.77.0.0/24 only and lives under one state directory (`.lab/`);
`down` stops every process `up` started and removes that directory. `up` twice is harmless.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swrun.errors import SwrunError
from swrun.lab import procs

SSHD = "/usr/sbin/sshd"
SFTP = "/usr/lib/openssh/sftp-server"
SSH_PORT = 2222
APP_PORT = 3000
HOSTS = {"blue": "127.77.0.11", "green": "127.77.0.12"}
MONGO = ("127.77.0.20", 27017)
MOTO = ("127.77.0.30", 5000)
RELEASE = "1.0.0"
APP_NAME = "api"
APP_SOURCE = Path(__file__).parent / "app" / "server.js"

Echo = Callable[[str], None]


class LabError(SwrunError):
    """The lab cannot start (a missing tool, a busy address) or stop."""


@dataclass(frozen=True)
class Part:
    name: str
    up: bool
    detail: str


class Lab:
    def __init__(self, root: Path | str = ".lab",
                 inventory: Path | str = "inventories/lab.yml") -> None:
        self.root = Path(root).absolute()
        self.inventory = Path(inventory).absolute()
        self.state_file = self.root / "state.json"

    # -- state -------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    def host_dir(self, name: str) -> Path:
        return self.root / "hosts" / name

    @property
    def client_key(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    def pm2_env(self, name: str) -> dict[str, str]:
        d = self.host_dir(name)
        return {"PM2_HOME": str(d / "pm2"), "HOME": str(d / "home"), "APP_ADDR": HOSTS[name],
                "APP_PORT": str(APP_PORT), "SWRUN_SLOT": name, "DB_ADDR": f"{MONGO[0]}:{MONGO[1]}"}

    # -- up ----------------------------------------------------------------------------------
    def up(self, echo: Echo) -> None:
        self._preflight()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        state = self._state()
        if not self.client_key.exists():
            _keygen(self.client_key)
        for name, addr in HOSTS.items():
            state[f"sshd-{name}"] = self._sshd(name, addr, state.get(f"sshd-{name}"), echo)
        self.known_hosts.write_text("".join(
            f"[{addr}]:{SSH_PORT} {self._host_pub(name)}\n" for name, addr in HOSTS.items()))
        self._save(state)
        state["mongo"] = self._service(
            "mongo", [str(_venv_bin("secantusd-py")), "--host", MONGO[0], "--port",
                      str(MONGO[1]), "--storage-path", str(self.root / "mongo")],
            MONGO, state.get("mongo"), echo, timeout=30)
        self._save(state)
        state["moto"] = self._service(
            "moto", [str(_venv_bin("moto_server")), "-H", MOTO[0], "-p", str(MOTO[1])],
            MOTO, state.get("moto"), echo, timeout=30)
        self._save(state)
        from swrun.lab import seed

        if not state.get("mongo_seeded"):
            echo(f"seeding the database on {MONGO[0]}:{MONGO[1]}")
            state["mongo_seeded"] = seed.seed_mongo(self.mongo_uri)
        if not state.get("aws") or not seed.aws_present(self.aws_endpoint, state["aws"]):
            echo(f"creating the S3 bucket, CloudFront distribution and ALB on {self.aws_endpoint}")
            state["aws"] = seed.seed_aws(self.aws_endpoint, HOSTS, APP_PORT)
        self._save(state)
        for name in HOSTS:
            self._app(name, echo)
        self._write_inventory(state)
        self._write_env(state)
        echo(f"lab is up; inventory: {self.inventory}; variables: {self.root / 'env'}")

    def _preflight(self) -> None:
        missing = [what for what, ok in (
            ("openssh-server (/usr/sbin/sshd)", Path(SSHD).exists()),
            ("pm2 (npm install -g pm2)", shutil.which("pm2") is not None),
            ("node", shutil.which("node") is not None),
            ("secantusd-py (pip install secantusdb)", _venv_bin("secantusd-py").exists()),
            ("moto_server (pip install 'moto[s3]' flask flask-cors)",
             _venv_bin("moto_server").exists()),
        ) if not ok]
        if missing:
            raise LabError("the lab needs " + ", ".join(missing) + "; run scripts/setup.sh")

    def _host_pub(self, name: str) -> str:
        return " ".join((self.host_dir(name) / "host_ed25519.pub").read_text().split()[:2])

    def _sshd(self, name: str, addr: str, pid: int | None, echo: Echo) -> int:
        if procs.alive(pid) and procs.port_open(addr, SSH_PORT):
            return pid  # type: ignore[return-value]
        if procs.port_open(addr, SSH_PORT):
            raise LabError(f"{addr}:{SSH_PORT} is taken by a process this lab did not start")
        d = self.host_dir(name)
        for sub in ("home", "pm2", "home/.ssh"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        if not (d / "host_ed25519").exists():
            _keygen(d / "host_ed25519")
        (d / "authorized_keys").write_text(self.client_key.with_suffix(".pub").read_text())
        env = " ".join(f"{k}={v}" for k, v in self.pm2_env(name).items())
        (d / "sshd_config").write_text(f"""\
Port {SSH_PORT}
ListenAddress {addr}
HostKey {d / 'host_ed25519'}
PidFile none
AuthorizedKeysFile {d / 'authorized_keys'}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp {SFTP}
SetEnv {env}
MaxStartups 100:30:200
MaxSessions 50
""")
        os.makedirs("/run/sshd", exist_ok=True)
        echo(f"starting sshd for {name} on {addr}:{SSH_PORT}")
        log = d / "sshd.log"
        new = procs.spawn([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], log)
        try:
            procs.wait_port(addr, SSH_PORT, new, 10, f"sshd {name}", log)
        except RuntimeError as exc:
            raise LabError(str(exc)) from None
        return new

    def _service(self, name: str, argv: list[str], where: tuple[str, int], pid: int | None,
                 echo: Echo, timeout: float) -> int:
        if procs.alive(pid) and procs.port_open(*where):
            return pid  # type: ignore[return-value]
        if procs.port_open(*where):
            raise LabError(f"{where[0]}:{where[1]} is taken by a process this lab did not start")
        echo(f"starting {name} on {where[0]}:{where[1]}")
        log = self.root / f"{name}.log"
        new = procs.spawn(argv, log)
        try:
            procs.wait_port(*where, new, timeout, name, log)
        except RuntimeError as exc:
            raise LabError(str(exc)) from None
        return new

    def _app(self, name: str, echo: Echo) -> None:
        home = self.host_dir(name) / "home"
        if _health(HOSTS[name]) is not None:
            return
        release = home / "releases" / RELEASE
        release.mkdir(parents=True, exist_ok=True)
        shutil.copy2(APP_SOURCE, release / "server.js")
        (release / "VERSION").write_text(RELEASE + "\n")
        current = home / "current"
        if not current.exists():
            current.symlink_to(release)
        echo(f"starting the sample API under PM2 on {name} ({HOSTS[name]}:{APP_PORT})")
        env = {**os.environ, **self.pm2_env(name)}
        subprocess.run(["pm2", "delete", APP_NAME], env=env, capture_output=True, timeout=60)
        res = subprocess.run(["pm2", "start", str(current / "server.js"), "--name", APP_NAME,
                              "--time"], env={**env, "APP_VERSION": RELEASE}, cwd=current,
                             capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise LabError(f"pm2 start on {name} failed: {res.stderr.strip()[-300:]}")
        deadline = time.monotonic() + 15
        while _health(HOSTS[name]) is None:
            if time.monotonic() > deadline:
                raise LabError(f"the sample API on {name} did not answer /health in 15s")
            time.sleep(0.1)

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://{MONGO[0]}:{MONGO[1]}/"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{MOTO[0]}:{MOTO[1]}"

    def _write_inventory(self, state: dict[str, Any]) -> None:
        import yaml

        common = (f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes "
                  "-o IdentitiesOnly=yes -o ControlMaster=no")
        inv = {"all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.client_key),
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_ssh_common_args": common,
                "ansible_remote_tmp": str(self.root / "remote_tmp"),
                "swrun_known_hosts": str(self.known_hosts),
                "app_port": APP_PORT,
                "app_name": APP_NAME,
                # playbooks/deploy.yml ships the lab's own sample API; it has no dependencies
                "release_src": str(APP_SOURCE.parent),
                "install_command": "true",
                "lab_dir": str(self.root),
                "aws_endpoint_url": self.aws_endpoint,
                "aws_region": "us-east-1",
            },
            "children": {"app": {"children": {
                name: {"hosts": {f"{name}-1": {
                    "ansible_host": addr, "ansible_port": SSH_PORT, "slot": name,
                    "app_url": f"http://{addr}:{APP_PORT}",
                    "app_addr": addr,
                    "app_root": str(self.host_dir(name) / "home"),
                    "pm2_home": str(self.host_dir(name) / "pm2"),
                }}} for name, addr in HOSTS.items()
            }}},
        }}
        self.inventory.parent.mkdir(parents=True, exist_ok=True)
        self.inventory.write_text(
            "# Written by `swrun lab up`; removed by `swrun lab down`. Do not edit.\n"
            + yaml.safe_dump(inv, sort_keys=False))

    def env(self, state: dict[str, Any] | None = None) -> dict[str, str]:
        """Values the shipped runbooks read with `from = "env:..."`."""
        state = self._state() if state is None else state
        aws = state.get("aws", {})
        out = {
            "SWRUN_LAB_INVENTORY": str(self.inventory),
            "MONGO_URI": self.mongo_uri,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        for key, value in aws.items():
            out[f"LAB_{key.upper()}"] = str(value)
        for name, addr in HOSTS.items():
            out[f"LAB_{name.upper()}_URL"] = f"http://{addr}:{APP_PORT}"
        return out

    def _write_env(self, state: dict[str, Any]) -> None:
        import shlex

        lines = [f"export {k}={shlex.quote(v)}" for k, v in self.env(state).items()]
        path = self.root / "env"
        path.write_text("# source this file: . .lab/env\n" + "\n".join(lines) + "\n")
        path.chmod(0o600)

    # -- status ------------------------------------------------------------------------------
    def status(self) -> list[Part]:
        state = self._state()
        parts: list[Part] = []
        for name, addr in HOSTS.items():
            pid = state.get(f"sshd-{name}")
            ok = procs.alive(pid) and procs.port_open(addr, SSH_PORT)
            parts.append(Part(f"sshd {name}", ok, f"{addr}:{SSH_PORT} pid {pid or '-'}"))
            health = _health(addr)
            detail = (f"{addr}:{APP_PORT} version {health.get('version')}" if health
                      else f"{addr}:{APP_PORT} not answering")
            parts.append(Part(f"api {name}", health is not None, detail))
        for name, where in (("mongo", MONGO), ("moto", MOTO)):
            pid = state.get(name)
            ok = procs.alive(pid) and procs.port_open(*where)
            parts.append(Part(name, ok, f"{where[0]}:{where[1]} pid {pid or '-'}"))
        return parts

    # -- down --------------------------------------------------------------------------------
    def down(self, echo: Echo) -> None:
        state = self._state()
        for name in HOSTS:
            pm2_home = self.host_dir(name) / "pm2"
            if pm2_home.exists() and shutil.which("pm2"):
                echo(f"stopping PM2 on {name}")
                subprocess.run(["pm2", "kill"], env={**os.environ, "PM2_HOME": str(pm2_home)},
                               capture_output=True, timeout=60)
        for key in ("moto", "mongo", *(f"sshd-{n}" for n in HOSTS)):
            if procs.alive(state.get(key)):
                echo(f"stopping {key}")
                procs.stop(state.get(key))
        _stop_leftovers(self.root)
        if self.inventory.exists() and self.inventory.read_text().startswith(
                "# Written by `swrun lab up`"):
            self.inventory.unlink()
        if self.root.exists():
            shutil.rmtree(self.root)
        echo("lab is down")


def _venv_bin(name: str) -> Path:
    return Path(sys.executable).with_name(name)


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "swrun-lab", "-f",
                    str(path)], check=True, stdin=subprocess.DEVNULL)


def _health(addr: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://{addr}:{APP_PORT}/health", timeout=1) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def _stop_leftovers(root: Path) -> None:
    """Processes whose command line points into the lab (app instances, session shells)."""
    from swrun.procs import matching

    for pid in matching(str(root)):
        procs.stop(pid, grace=2.0)
