"""No secret leaves: not on a remote host's process list, not in ansible-runner's files, not in
a quoted or encoded form that masking missed, not through an error message.

Remote steps run against real sshd hosts; while they run a thread reads every process's
/proc/PID/cmdline (argv, world-readable) looking for the secret. /proc/PID/environ is readable
by the process's owner only, and the environment is how a step's variables reach its commands,
so it is not scanned.
"""
# ruff: noqa: F811 - pytest fixtures imported from other modules are parameters below

from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
from ansible_fixtures import ans_hosts, wait_gone, write_inventory  # noqa: F401

from swrun.events import StepFinished, StepOutput
from swrun.parser import load_runbook
from swrun.procs import cmdline

from conftest import swrun_cmd
from helpers import Settings, make_engine, write_runbook
from sshd import Cluster, ssh_home, sshd_hosts  # noqa: F401

APP_DIR = Path(__file__).parent / "data" / "node-app"


class ArgvWatch:
    """Reads every process's command line until stopped: where `needle` showed, and how many
    times a line with `proof` (the step's own remote process) was seen.

    A login shell that execs the step's shell keeps its own argv for a millisecond or two,
    so processes younger than half a second are re-read on every pass (a pass over only
    those takes well under a millisecond) and the rest every 50 ms.
    """

    def __init__(self, needle: str, proof: str) -> None:
        self.needle = needle
        self.proof = proof
        self.seen: list[str] = []
        self.proofs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        me = os.getpid()
        born: dict[str, float] = {}
        last_full = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            full = now - last_full > 0.05
            if full:
                last_full = now
            for d in os.listdir("/proc"):
                if not d.isdigit() or int(d) == me:
                    continue
                first = born.setdefault(d, now)
                if not full and now - first > 0.5:
                    continue
                line = cmdline(int(d))
                if self.needle in line:
                    self.seen.append(f"{d}: {line}")
                if self.proof in line and full:
                    self.proofs += 1
            time.sleep(0.0005)


def _secret() -> str:
    return f"pa55-{uuid.uuid4().hex[:10]}-w0rd"


def _files_with(root: Path, *needles: str) -> list[str]:
    out = []
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            out += [f"{p}: {n!r}" for n in needles if n.encode() in data]
    return out


# -- item 8: process lists -------------------------------------------------------------------
@pytest.mark.usefixtures("ssh_home")
def test_ssh_and_pm2_steps_put_no_variable_on_a_remote_command_line(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    secret = _secret()
    inv = sshd_hosts.inventory(tmp_path / "inv.ini")
    quick = "".join(  # short runs on the three hosts at once: many login shells
        f"```bash {{hosts=all name=quick{i}}}\ntest -n \"$DB_PASSWORD\"\n```\n\n"
        for i in range(8))
    book = tmp_path / "rb.md"
    book.write_text(f"""+++
[vars.DB_PASSWORD]
secret = true
[vars.APP_DIR]
default = "{APP_DIR}"
+++
# Leak

```bash {{host=h1 name=ssh}}
test -n "$DB_PASSWORD"
sleep 1.5
echo "length ${{#DB_PASSWORD}}"
```

{quick}```pm2 {{host=h2 name=pm2}}
start $APP_DIR/server.js --name leak-api
delete leak-api
```
""")
    rb = load_runbook(book)
    engine = make_engine(rb, given={"DB_PASSWORD": secret}, settings=Settings(
        kill_grace=1.0, executor_settings={"inventory": str(inv)}))
    with ArgvWatch(secret, "sleep 1.5") as watch:
        events = list(engine.run())
    assert watch.seen == []
    assert watch.proofs > 10  # the scan ran while the step's remote commands did
    ssh, *quick, pm2 = [e for e in events if isinstance(e, StepFinished)]
    assert [q.status for q in quick] == ["ok"] * 8
    assert ssh.status == "ok", ssh.error
    assert pm2.status == "ok", pm2.error
    assert f"length {len(secret)}" in [e.line for e in events if isinstance(e, StepOutput)]


@pytest.mark.usefixtures("ssh_home")
def test_via_ansible_puts_no_variable_on_a_command_line_or_on_disk(
        tmp_path: Path, ans_hosts: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = _secret()
    from_env = _secret()  # swrun's own environment: ansible-runner saved it whole
    monkeypatch.setenv("SWRUN_LEAK_API_TOKEN", from_env)
    inv = write_inventory(ans_hosts, tmp_path / "inv.ini")
    rb = load_runbook(write_runbook(tmp_path, """
        +++
        [vars.DB_PASSWORD]
        secret = true
        +++
        # Leak

        ```bash {hosts=h1 via=ansible}
        test -n "$DB_PASSWORD"
        sleep 2.5
        echo "token=$DB_PASSWORD on $SWRUN_HOST"
        ```
        """))
    engine = make_engine(rb, given={"DB_PASSWORD": secret}, settings=Settings(
        kill_grace=1.0, run_dir=tmp_path / "run",
        executor_settings={"inventory": str(inv)}))
    with ArgvWatch(secret, "sleep 2.5") as watch:
        events = list(engine.run())
    assert watch.seen == []
    assert watch.proofs > 10
    (fin,) = [e for e in events if isinstance(e, StepFinished)]
    assert fin.status == "ok", fin.error
    assert "token=**** on h1" in [e.line for e in events if isinstance(e, StepOutput)]
    run = tmp_path / "run"
    assert (run / "ansible" / "artifacts").is_dir()
    assert _files_with(run, secret, from_env) == []
    assert not wait_gone(str(run))


# -- item 7: ansible-runner's files ----------------------------------------------------------
@pytest.mark.usefixtures("ssh_home")
def test_a_playbook_step_leaves_no_environment_or_output_in_the_run_dir(
        tmp_path: Path, ans_hosts: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = _secret()
    from_env = _secret()
    monkeypatch.setenv("SWRUN_LEAK_PASSWORD", from_env)
    (tmp_path / "site.yml").write_text("""
- hosts: h2
  gather_facts: false
  tasks:
    - name: Say it
      ansible.builtin.debug:
        msg: "the token is {{ API_TOKEN }} and {{ lookup('env', 'SWRUN_LEAK_PASSWORD') }}"
""")
    write_inventory(ans_hosts, tmp_path / "inv.ini")
    log = tmp_path / "run.toml"
    write_runbook(tmp_path, """
        +++
        inventory = "inv.ini"
        [vars.API_TOKEN]
        secret = true
        from = "env:SWRUN_LEAK_API_TOKEN"
        +++
        # Leak

        ```ansible {playbook=site.yml}
        ```
        """)
    env = {**os.environ, "NO_COLOR": "1", "SWRUN_LEAK_API_TOKEN": secret}
    proc = subprocess.run([*swrun_cmd(), "execute", "--yes", "--log", str(log), "rb.md"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the token is **** and ****" in proc.stdout
    artifacts = log.with_suffix(".run") / "ansible" / "artifacts"
    (ident,) = artifacts.iterdir()
    assert (ident / "rc").read_text() == "0"
    assert "env" not in json.loads((ident / "command").read_text())
    assert _files_with(tmp_path, secret, from_env) == []


# -- item 9: masking -------------------------------------------------------------------------
def test_quoted_forms_of_a_secret_are_masked_in_output_log_and_json(tmp_path: Path) -> None:
    secret = "it's-a \"pa55\" w0rd"
    pm2_home = tmp_path / "pm2"
    write_runbook(tmp_path, f"""
        +++
        [vars.APP_SECRET]
        secret = true
        [vars.APP_DIR]
        default = "{APP_DIR}"
        +++
        # Q

        ```pm2 {{unattended}}
        start $APP_DIR/server.js --name $APP_SECRET
        delete $APP_SECRET
        ```
        """)
    env = {**os.environ, "NO_COLOR": "1", "HOME": str(tmp_path), "PM2_HOME": str(pm2_home),
           "APP_ADDR": "127.0.0.1", "APP_PORT": "0", "APP_SECRET_VALUE": secret}
    forms = [secret, shlex.quote(secret), json.dumps(secret)[1:-1], repr(secret)[1:-1],
             urllib.parse.quote(secret)]
    try:
        for extra in ([], ["--json"]):
            log = tmp_path / f"run{len(extra)}.toml"
            proc = subprocess.run(
                [*swrun_cmd(), "execute", "--yes", "--log", str(log), *extra, "rb.md",
                 "--var", f"APP_SECRET={secret}"],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "$ pm2 start " in proc.stdout and "--name ****" in proc.stdout
            shown = proc.stdout + proc.stderr
            assert [f for f in forms if f in shown] == []
            assert _files_with(log.parent, *forms[1:]) == []
            assert "--name ****" in log.read_text()
    finally:
        subprocess.run(["pm2", "kill"], env=env, capture_output=True, timeout=30)


def test_a_url_built_from_a_secret_with_a_space_is_one_http_line(tmp_path: Path) -> None:
    secret = "ab c'd\\e-pa55"
    write_runbook(tmp_path, """
        +++
        [vars.API_TOKEN]
        secret = true
        +++
        # H

        ```http
        GET http://127.0.0.1:9/x?t=$API_TOKEN
        ```
        """)
    rb = load_runbook(tmp_path / "rb.md")
    events = list(make_engine(rb, given={"API_TOKEN": secret}).run())
    (fin,) = [e for e in events if isinstance(e, StepFinished)]
    assert fin.status == "failed"
    assert fin.error == ("http: line 1: the URL http://127.0.0.1:9/x?t=$API_TOKEN has a space "
                         "in it; URL-encode it (a space is %20)")
    assert "traceback" not in (fin.data or {})
    dumped = json.dumps([e.__dict__ for e in events], default=str)
    assert "c'd" not in dumped and "pa55" not in dumped


def test_a_variable_secret_by_use_is_masked_in_errors_and_plan(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        +++
        [vars.DBC]
        pattern = "mongodb://.*"
        default = "mongodb://u:hunter2pass@127.0.0.1:1/"
        +++
        # U

        ```mongo {name=ping uri=$DBC}
        ping
        ```
        """)
    env = {**os.environ, "NO_COLOR": "1"}
    plan = subprocess.run([*swrun_cmd(), "plan", "--json", "rb.md"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    assert "hunter2pass" not in plan.stdout
    assert json.loads(plan.stdout)["variables"]["DBC"]["secret"] is True
    bad = subprocess.run([*swrun_cmd(), "execute", "--yes", "--dry-run", "rb.md", "--var",
                          "DBC=xmongodb://u:hunter2pass@h/"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    assert bad.stderr.strip() == "swrun: DBC=****: does not match pattern mongodb://.*"
