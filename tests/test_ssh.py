"""Remote shell steps against real sshd hosts on 127.0.0.x, driven through the engine."""
# ruff: noqa: F811 - pytest fixtures imported from sshd are parameters below

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from swrun.engine import Decision
from swrun.events import RunFinished, StepFinished, StepOutput
from swrun.parser import load_runbook

from helpers import ScriptedOperator, Settings, make_engine, write_runbook
from sshd import (  # noqa: F401 - fixtures are registered by importing them
    Cluster,
    free_port,
    processes_matching,
    spare_host,
    ssh_home,
    sshd_hosts,
)

pytestmark = pytest.mark.usefixtures("ssh_home")


def _settings(inv: Path, **extra: object) -> Settings:
    return Settings(kill_grace=1.0, executor_settings={"inventory": str(inv), **extra})


def _run(tmp_path: Path, body: str, inv: Path | None, operator=None, given=None,
         **extra: object):
    rb = load_runbook(write_runbook(tmp_path, body))
    settings = _settings(inv, **extra) if inv else Settings(kill_grace=1.0)
    engine = make_engine(rb, operator, given, settings=settings)
    return engine, list(engine.run())


def _finished(events) -> list[StepFinished]:
    return [e for e in events if isinstance(e, StepFinished)]


def _out(events, host: str | None = None) -> list[str]:
    """Output lines (not the one status line each host of a fan-out ends with)."""
    return [e.line for e in events if isinstance(e, StepOutput) and e.stream != "status"
            and (host is None or e.host == host)]


def _status(events) -> dict[str, str]:
    """Each host's status line of a fan-out."""
    return {e.host: e.line for e in events if isinstance(e, StepOutput) and e.stream == "status"}


@pytest.fixture
def inv(sshd_hosts: Cluster, tmp_path: Path) -> Path:
    return sshd_hosts.inventory(tmp_path / "inv.ini", groups={"web": ["h1", "h2", "h3"]})


def test_runs_on_every_host_with_variables_safely_quoted(tmp_path: Path, inv: Path) -> None:
    evil = "it's $(touch /tmp/swrun-pwned) `id` \"; exit 9; '"
    _, events = _run(tmp_path, """
        +++
        [vars.MSG]
        prompt = "a message"
        +++
        # Deploy

        ```bash {hosts=web}
        echo "$MSG on $SWRUN_HOST"
        echo "to stderr" >&2
        ```
        """, inv, given={"MSG": evil})
    (fin,) = _finished(events)
    assert fin.status == "ok" and fin.exit_code == 0, fin.error
    for h in ("h1", "h2", "h3"):
        assert _out(events, h) == [f"{evil} on {h}", "to stderr"]
        assert fin.hosts[h]["status"] == "ok" and fin.hosts[h]["exit_code"] == 0
        assert isinstance(fin.hosts[h]["duration_ms"], int)
    assert not Path("/tmp/swrun-pwned").exists()
    assert [e.stream for e in events if isinstance(e, StepOutput) and e.host == "h1"] == [
        "stdout", "stderr", "status"]
    assert _status(events)["h1"].startswith("▸ ok ")


def test_one_connection_per_host_reused_with_nodelay(tmp_path: Path, inv: Path) -> None:
    from swrun.ssh.pool import POOL

    POOL.close_all()
    _, events = _run(tmp_path, """
        # Two steps
        ```bash {hosts=web}
        echo $PPID
        ```
        ```bash {hosts=web}
        echo again
        ```
        """, inv)
    assert [f.status for f in _finished(events)] == ["ok", "ok"]
    conns = dict(POOL._conns)
    assert len(conns) == 3
    for t in conns.values():
        assert t.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    _run(tmp_path, "# Again\n```bash {hosts=web}\ntrue\n```\n", inv)
    assert dict(POOL._conns) == conns  # the very same transports


def test_a_command_failing_on_one_host_of_three(tmp_path: Path, inv: Path) -> None:
    _, events = _run(tmp_path, """
        # Deploy
        ## Before
        ```bash {hosts=web}
        echo ready
        ```
        ## Migrate
        ```bash {hosts=web}
        echo "start $SWRUN_HOST"
        if [ "$SWRUN_HOST" = h2 ]; then echo "disk full" >&2; exit 3; fi
        echo "done $SWRUN_HOST"
        ```
        ## After
        ```bash {hosts=web}
        echo never
        ```
        """, inv)
    before, migrate = _finished(events)
    assert before.status == "ok"
    assert migrate.status == "failed" and migrate.exit_code == 3
    assert migrate.error == "1 of 3 host(s) failed: h2: exit 3"
    assert {h: r["status"] for h, r in migrate.hosts.items()} == {
        "h1": "ok", "h2": "failed", "h3": "ok"}
    assert migrate.hosts["h2"]["exit_code"] == 3
    assert _out(events, "h2")[-1] == "disk full" and "done h1" in _out(events, "h1")
    assert "never" not in _out(events)
    assert events[-1].status == "failed" and events[-1].step == migrate.step


def test_host_down_is_one_clear_line_and_others_still_run(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    port = free_port("127.0.0.9")  # nothing listens there
    inv = sshd_hosts.inventory(tmp_path / "inv.ini", groups={"web": ["h1", "down"]})
    inv.write_text(f"down ansible_host=127.0.0.9 ansible_port={port}\n" + inv.read_text())
    _, events = _run(tmp_path, "# T\n```bash {hosts=web}\necho up\n```\n", inv)
    (fin,) = _finished(events)
    assert fin.status == "failed"
    assert fin.hosts["h1"]["status"] == "ok"
    assert fin.hosts["down"]["status"] == "unreachable"
    assert fin.error == (f"1 of 2 host(s) failed: down: cannot connect to 127.0.0.9:{port}: "
                         "connection refused")
    assert _out(events, "h1") == ["up"]


def test_unknown_host_key_refuses_and_says_what_to_do(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    inv = sshd_hosts.inventory(tmp_path / "inv.ini", known_hosts=empty)
    marker = tmp_path / "ran"
    _, events = _run(tmp_path, f"# T\n```bash {{host=h1}}\ntouch {marker}\n```\n", inv)
    (fin,) = _finished(events)
    h1 = sshd_hosts["h1"]
    assert fin.status == "failed" and fin.hosts["h1"]["status"] == "unreachable"
    assert f"h1 ({h1.key_name}): unknown host key ssh-ed25519 SHA256:" in fin.error
    assert "--accept-new-host-keys" in fin.error and f"ssh-keyscan -p {h1.port}" in fin.error
    assert "\n" not in fin.error
    assert not marker.exists()


def test_accept_new_host_keys_accepts_unknown_keys_and_says_so(
        tmp_path: Path, sshd_hosts: Cluster, ssh_home: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    inv = sshd_hosts.inventory(tmp_path / "inv.ini", known_hosts=empty)
    _, events = _run(tmp_path, "# T\n```bash {host=h3}\necho in\n```\n", inv,
                     accept_new_host_keys=True)
    (fin,) = _finished(events)
    assert fin.status == "ok", fin.error
    (note,) = [e for e in events if isinstance(e, StepOutput) and e.stream == "stderr"]
    assert note.line.startswith("swrun: accepted NEW host key for h3 (")
    assert "(--accept-new-host-keys), added to ~/.ssh/known_hosts" in note.line
    recorded = (ssh_home / ".ssh" / "known_hosts").read_text()
    assert recorded == sshd_hosts["h3"].known_hosts_line


def test_changed_host_key_is_refused_even_with_accept_new(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    h1, h2 = sshd_hosts["h1"], sshd_hosts["h2"]
    forged = tmp_path / "forged_known_hosts"  # h1's name with h2's key: a man in the middle
    forged.write_text(h2.known_hosts_line.replace(h2.key_name, h1.key_name))
    inv = sshd_hosts.inventory(tmp_path / "inv.ini", known_hosts=forged)
    _, events = _run(tmp_path, "# T\n```bash {host=h1}\necho in\n```\n", inv,
                     accept_new_host_keys=True)
    (fin,) = _finished(events)
    assert fin.status == "failed"
    assert f"h1 ({h1.key_name}): HOST KEY CHANGED: offered ssh-ed25519 SHA256:" in fin.error
    assert f"ssh-keygen -R '{h1.key_name}'" in fin.error
    assert _out(events) == []


def test_bad_credentials(tmp_path: Path, sshd_hosts: Cluster) -> None:
    inv = sshd_hosts.inventory(tmp_path / "inv.ini", key=sshd_hosts.stranger_key)
    _, events = _run(tmp_path, "# T\n```bash {host=h2}\necho in\n```\n", inv)
    (fin,) = _finished(events)
    h2 = sshd_hosts["h2"]
    assert fin.status == "failed" and fin.hosts["h2"]["status"] == "unreachable"
    assert fin.error == (f"1 of 1 host(s) failed: h2: authentication failed for "
                         f"root@{h2.addr}:{h2.port} (offered {sshd_hosts.stranger_key}); add the "
                         "right key to ssh-agent or set ansible_ssh_private_key_file")


def test_timeout_kills_the_remote_process_group(tmp_path: Path, inv: Path) -> None:
    _, events = _run(tmp_path, """
        # T
        ```bash {hosts=web timeout=1s}
        trap '' TERM        # even a group that ignores TERM is gone after the grace period
        sleep 317 &
        echo started
        sleep 318
        ```
        """, inv)
    (fin,) = _finished(events)
    assert fin.status == "timed_out"
    assert fin.hosts["h1"]["status"] == "timed_out"
    assert "timed out after 1s; remote process group" in fin.hosts["h1"]["error"]
    assert "KILLed after the grace period" in fin.hosts["h1"]["error"]
    assert fin.error.startswith("3 of 3 host(s) failed: h1: timed out after 1s")
    assert _out(events, "h3") == ["started"]
    assert processes_matching("sleep 317") == [] and processes_matching("sleep 318") == []


def test_abort_mid_fanout_kills_running_hosts_and_skips_the_rest(
        tmp_path: Path, inv: Path) -> None:
    rb = load_runbook(write_runbook(tmp_path, """
        # T
        ```bash {hosts=web serial=1}
        echo "working on $SWRUN_HOST"
        sleep 319
        ```
        """))
    engine = make_engine(rb, settings=_settings(inv))
    events = []
    for event in engine.run():
        events.append(event)
        if isinstance(event, StepOutput):
            threading.Thread(target=engine.abort, args=("stop the deploy",)).start()
    (fin,) = _finished(events)
    assert fin.status == "aborted"
    assert {h: r["status"] for h, r in fin.hosts.items()} == {
        "h1": "aborted", "h2": "skipped", "h3": "skipped"}
    assert fin.hosts["h2"]["note"] == "not run: aborted"
    assert _out(events) == ["working on h1"]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "aborted"
    assert events[-1].note == "stop the deploy"
    assert processes_matching("sleep 319") == []


def test_canary_then_the_operator_decides(tmp_path: Path, inv: Path) -> None:
    body = "# T\n```bash {hosts=web canary=1}\necho \"on $SWRUN_HOST\"\n```\n"
    op = ScriptedOperator(confirms=[Decision.CONTINUE])
    _, events = _run(tmp_path, body, inv, op)
    (fin,) = _finished(events)
    assert op.asked == [("canary", "t")]
    assert fin.status == "ok" and sorted(fin.hosts) == ["h1", "h2", "h3"]
    assert _out(events)[0] == "on h1"  # the canary ran (and printed) before the question

    op = ScriptedOperator(confirms=[Decision.SKIP])
    _, events = _run(tmp_path, body, inv, op)
    (fin,) = _finished(events)
    assert fin.status == "failed"
    assert fin.error == "the operator stopped after the canary (h1); h[2-3] not run"
    assert {h: r["status"] for h, r in fin.hosts.items()} == {
        "h1": "ok", "h2": "skipped", "h3": "skipped"}
    assert _out(events) == ["on h1"]


def test_serial_batches_stop_at_the_first_failed_batch_unless_keep_going(
        tmp_path: Path, inv: Path) -> None:
    body = ("# T\n```bash {hosts=web serial=1%s}\necho \"$SWRUN_HOST\"\n"
            "[ \"$SWRUN_HOST\" != h1 ]\n```\n")
    _, events = _run(tmp_path, body % "", inv)
    (fin,) = _finished(events)
    assert {h: r["status"] for h, r in fin.hosts.items()} == {
        "h1": "failed", "h2": "skipped", "h3": "skipped"}
    assert fin.error == "1 of 3 host(s) failed: h1: exit 1; h[2-3] not run"
    _, events = _run(tmp_path, body % " keep_going", inv)
    (fin,) = _finished(events)
    assert {h: r["status"] for h, r in fin.hosts.items()} == {
        "h1": "failed", "h2": "ok", "h3": "ok"}
    assert _out(events) == ["h1", "h2", "h3"]  # one at a time, in inventory order


def test_reconnects_once_after_a_dropped_connection(tmp_path: Path, spare_host: Cluster) -> None:
    inv = spare_host.inventory(tmp_path / "inv.ini")
    body = "# T\n```bash {host=h1}\necho hello\n```\n"
    _, events = _run(tmp_path, body, inv)
    assert _finished(events)[0].status == "ok"
    spare_host["h1"].kill_sessions()  # the server side of the pooled connection dies
    time.sleep(0.2)
    _, events = _run(tmp_path, body, inv)
    (fin,) = _finished(events)
    assert fin.status == "ok", fin.error
    assert _out(events) == ["swrun: connection to h1 was lost; reconnecting", "hello"]


def test_a_connection_lost_mid_command_is_unreachable_not_exit_minus_one(
        tmp_path: Path, spare_host: Cluster) -> None:
    inv = spare_host.inventory(tmp_path / "inv.ini")
    rb = load_runbook(write_runbook(tmp_path,
                                    "# T\n```bash {host=h1}\necho start\nsleep 30\n```\n"))
    engine = make_engine(rb, settings=_settings(inv))
    events = []
    for event in engine.run():
        events.append(event)
        if isinstance(event, StepOutput) and event.line == "start":
            spare_host["h1"].kill_sessions()  # the host's side of the connection dies
    (fin,) = _finished(events)
    assert fin.status == "failed"
    assert fin.hosts["h1"]["status"] == "unreachable", fin.hosts
    assert "connection lost while the command ran" in fin.hosts["h1"]["error"]
    assert fin.hosts["h1"].get("exit_code") is None


def test_remote_steps_without_an_inventory_fail_clearly(tmp_path: Path) -> None:
    _, events = _run(tmp_path, "# T\n```bash {hosts=web}\ntrue\n```\n", None)
    (fin,) = _finished(events)
    assert fin.status == "failed"
    assert fin.error == ("hosts=web needs an inventory: pass --inventory FILE or set "
                         "`inventory` in the front matter")


def test_front_matter_inventory_pattern_and_no_match(tmp_path: Path, sshd_hosts: Cluster) -> None:
    sshd_hosts.inventory(tmp_path / "hosts.ini", groups={"web": ["h1", "h2"],
                                                         "production": ["h2", "h3"]})
    rb = write_runbook(tmp_path, """
        +++
        inventory = "hosts.ini"
        +++
        # T
        ```bash {hosts=web:&production}
        echo "$SWRUN_HOST"
        ```
        ```bash {hosts=db}
        true
        ```
        """)
    engine = make_engine(load_runbook(rb), settings=Settings(kill_grace=1.0),
                         operator=ScriptedOperator(failures=[Decision.SKIP]))
    events = list(engine.run())
    first, second = _finished(events)
    assert list(first.hosts) == ["h2"] and _out(events) == ["h2"]
    assert second.error == "hosts=db matches no host in hosts.ini"


def test_ssh_config_and_proxy_jump(tmp_path: Path, sshd_hosts: Cluster, ssh_home: Path) -> None:
    h1, h2 = sshd_hosts["h1"], sshd_hosts["h2"]
    (ssh_home / ".ssh" / "config").write_text(f"""
Host bastion
    HostName {h1.addr}
    Port {h1.port}
    User root
    IdentityFile {sshd_hosts.client_key}
Host app-*
    User root
    IdentityFile {sshd_hosts.client_key}
    UserKnownHostsFile {sshd_hosts.known_hosts}
Host app-direct
    HostName {h2.addr}
    Port {h2.port}
Host app-behind
    HostName {h2.addr}
    Port {h2.port}
    ProxyJump bastion
""")
    (ssh_home / ".ssh" / "known_hosts").write_text(h1.known_hosts_line)
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  hosts:\n    app-direct:\n    app-behind:\n")
    _, events = _run(tmp_path, "# T\n```bash {hosts=all}\necho \"$SWRUN_HOST\"\n```\n", inv)
    (fin,) = _finished(events)
    assert fin.status == "ok", fin.error
    assert sorted(_out(events)) == ["app-behind", "app-direct"]
    from swrun.ssh.pool import POOL

    behind = next(t for tgt, t in POOL._conns.items() if tgt.name == "app-behind")
    direct = next(t for tgt, t in POOL._conns.items() if tgt.name == "app-direct")
    assert type(behind.sock).__name__ == "Channel"  # tunnelled through the bastion
    assert isinstance(direct.sock, socket.socket)


def test_agent_auth(tmp_path: Path, sshd_hosts: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if sock.exists():
                break
            time.sleep(0.01)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(sshd_hosts.client_key)], env=env, check=True,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        inv = sshd_hosts.inventory(tmp_path / "inv.ini")
        inv.write_text(inv.read_text().replace("ansible_ssh_private_key_file=", "# "))
        _, events = _run(tmp_path, "# T\n```bash {host=h3}\necho via agent\n```\n", inv)
        (fin,) = _finished(events)
        assert fin.status == "ok", fin.error
        assert _out(events) == ["via agent"]
    finally:
        agent.terminate()
        agent.wait(5)


def test_a_file_step_on_hosts_takes_its_path_as_data(tmp_path: Path, inv: Path,
                                                     sshd_hosts: Cluster) -> None:
    """`file=` on hosts: the filled path reaches the remote script as $SWRUN_FILE, never as
    shell text (it once ran `$(…)` in the path through `echo "wrote …"`)."""
    _, events = _run(tmp_path, """
        +++
        [vars.NAME]
        prompt = "a name"
        +++
        # Remote file

        ```text {hosts=h1 file="~/conf/$NAME"}
        hello $HOME `id`
        ```
        """, inv, given={"NAME": "x$(touch swrun-pwned-file).txt"})
    (fin,) = _finished(events)
    assert fin.status == "ok", fin.error
    home = sshd_hosts["h1"].home
    assert (home / "conf" / "x$(touch swrun-pwned-file).txt").read_text() == \
        "hello $HOME `id`\n"
    assert not (home / "swrun-pwned-file").exists()
    assert not Path("/root/swrun-pwned-file").exists()
    assert _out(events, "h1") == [f"wrote {home}/conf/x$(touch swrun-pwned-file).txt"]


def test_a_body_over_128_kib_runs_on_a_host(tmp_path: Path, inv: Path) -> None:
    """The script goes on the channel's stdin into a 0600 file on the host, never in the
    command sshd runs (one argument there holds at most 128 KiB too)."""
    filler = "".join(f": filler {i:06d} {'y' * 100}\n" for i in range(300 * 1024 // 116))
    _, events = _run(tmp_path, f"""
        # Big

        ```bash {{hosts=h1}}
        echo first
        {filler.replace(chr(10), chr(10) + "        ")}echo "last $0 $#"
        ```
        """, inv)
    (fin,) = _finished(events)
    assert fin.status == "ok", fin.error
    out = _out(events)
    assert out == ["first", "last swrun:big 0"], out
