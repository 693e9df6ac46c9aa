"""The real CLI with remote steps: `swrun execute --inventory` and `swrun check --connect`."""
# ruff: noqa: F811 - pytest fixtures imported from sshd are parameters below

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

from conftest import swrun_cmd
from helpers import write_runbook
from sshd import Cluster, free_port, sshd_hosts  # noqa: F401 - fixtures


def _swrun(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1"}
    env.pop("SSH_AUTH_SOCK", None)
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


RUNBOOK = """
    # Deploy

    ## Release
    ```bash {hosts=web}
    echo "released on $SWRUN_HOST"
    ```
    """


def test_execute_runs_remote_steps_and_logs_per_host_results(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    inv = sshd_hosts.inventory(tmp_path / "inv.ini", groups={"web": ["h1", "h2", "h3"]})
    write_runbook(tmp_path, RUNBOOK)
    log = tmp_path / "run.toml"
    proc = _swrun("execute", "--yes", "--inventory", str(inv), "--log", str(log), "rb.md",
                  cwd=tmp_path, home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for h in ("h1", "h2", "h3"):
        assert f"{h}: released on {h}" in proc.stdout
    import tomllib

    data = tomllib.loads(log.read_text())
    (finished,) = [e for e in data["event"] if e["type"] == "step_finished"]
    assert finished["status"] == "ok"
    assert {h: r["status"] for h, r in finished["hosts"].items()} == {
        "h1": "ok", "h2": "ok", "h3": "ok"}
    assert all(isinstance(r["duration_ms"], int) for r in finished["hosts"].values())


def test_check_connect_is_quiet_when_every_host_is_fine(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    inv = sshd_hosts.inventory(tmp_path / "inv.ini", groups={"web": ["h1", "h2", "h3"]})
    write_runbook(tmp_path, RUNBOOK)
    proc = _swrun("check", "--connect", "--inventory", str(inv), "rb.md", cwd=tmp_path,
                  home=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_check_connect_reports_one_line_per_host_problem(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    h1, h2, h3 = (sshd_hosts[n] for n in ("h1", "h2", "h3"))
    port = free_port("127.0.0.9")
    known = tmp_path / "known_hosts"
    known.write_text(h1.known_hosts_line + h3.known_hosts_line)  # h2's key is not known
    inv = tmp_path / "inv.ini"
    key, stranger = sshd_hosts.client_key, sshd_hosts.stranger_key
    inv.write_text(f"""\
h1 ansible_host={h1.addr} ansible_port={h1.port} ansible_ssh_private_key_file={key}
h2 ansible_host={h2.addr} ansible_port={h2.port} ansible_ssh_private_key_file={key}
h3 ansible_host={h3.addr} ansible_port={h3.port} ansible_ssh_private_key_file={stranger}
gone ansible_host=127.0.0.9 ansible_port={port}

[web]
h1
h2
h3
gone

[all:vars]
ansible_user=root
swrun_known_hosts={known}
""")
    write_runbook(tmp_path, RUNBOOK)
    proc = _swrun("check", "--connect", "--inventory", str(inv), "rb.md", cwd=tmp_path,
                  home=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"rb.md:4: error: h2 ({h2.key_name}): unknown host key "
                               "ssh-ed25519 SHA256:")
    assert lines[1] == (f"rb.md:4: error: h3: authentication failed for root@{h3.addr}:"
                        f"{h3.port} (offered {sshd_hosts.stranger_key}); add the right key to "
                        "ssh-agent or set ansible_ssh_private_key_file")
    assert lines[2] == (f"rb.md:4: error: gone: cannot connect to 127.0.0.9:{port}: "
                        "connection refused")
    assert "3 error(s)" in proc.stderr


def test_check_connect_without_an_inventory(tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK)
    proc = _swrun("check", "--connect", "rb.md", cwd=tmp_path, home=tmp_path)
    assert proc.returncode == 3
    assert proc.stdout == ("rb.md:4: error: remote steps need an inventory to connect to: pass "
                           "--inventory or set `inventory` in the front matter\n")


def test_a_port_that_drops_the_handshake_is_one_line_no_traceback(tmp_path: Path) -> None:
    import socket
    import threading

    srv = socket.create_server(("127.0.0.9", 0))
    port = srv.getsockname()[1]

    def hang_up() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    (tmp_path / "inv.ini").write_text(f"h ansible_host=127.0.0.9 ansible_port={port}\n")
    write_runbook(tmp_path, """
        +++
        inventory = "inv.ini"
        +++
        # C

        ```bash {host=h}
        true
        ```
        """, "rb.md")
    try:
        for args in (["execute", "rb.md", "--yes"], ["check", "--connect", "rb.md"]):
            res = subprocess.run([*swrun_cmd(), *args], cwd=tmp_path, capture_output=True,
                                 text=True, timeout=60, stdin=subprocess.DEVNULL)
            assert res.returncode != 0
            assert "Traceback" not in res.stderr and "Exception" not in res.stderr, res.stderr
            assert "SSH handshake with 127.0.0.9" in res.stdout + res.stderr
    finally:
        srv.close()


def test_a_host_that_accepts_but_never_speaks_ssh(tmp_path: Path) -> None:
    """A listener that accepts and says nothing: one line naming the host and the wait, for
    `check --connect` (no traceback) and for a step, whose `timeout=` bounds the connect."""
    import socket
    import threading
    import time

    srv = socket.create_server(("127.0.0.11", 0))
    port = srv.getsockname()[1]
    held: list[socket.socket] = []

    def accept_and_say_nothing() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept_and_say_nothing, daemon=True).start()
    (tmp_path / "inv.ini").write_text(
        f"h4 ansible_host=127.0.0.11 ansible_port={port} ansible_ssh_timeout=2\n")
    write_runbook(tmp_path, """
        +++
        inventory = "inv.ini"
        +++
        # C

        ```bash {host=h4 timeout=1}
        true
        ```
        """, "rb.md")
    try:
        t0 = time.monotonic()
        check = subprocess.run([*swrun_cmd(), "check", "--connect", "rb.md"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
        assert check.returncode != 0
        assert check.stderr.splitlines() == ["1 file(s): 1 error(s), 0 warning(s)"], check.stderr
        assert check.stdout.splitlines()[0] == (
            f"rb.md:6: error: h4: no SSH banner from h4 within 2s (127.0.0.11:{port} accepts "
            "connections but says nothing)")
        run = subprocess.run([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        assert "Traceback" not in run.stderr, run.stderr
        assert ("h4: timed out after 1s while connecting: no SSH banner from h4 within 1s"
                in run.stdout), run.stdout
        # the command never started: unreachable, whichever timer fired (not timed_out)
        fin = [e for e in tomllib.loads((tmp_path / "run.toml").read_text())["event"]
               if e["type"] == "step_finished"]
        assert fin[0]["hosts"]["h4"]["status"] == "unreachable", fin
        assert fin[0]["status"] == "failed" and "timed_out" not in run.stdout
        assert time.monotonic() - t0 < 15
    finally:
        srv.close()
        for conn in held:
            conn.close()
