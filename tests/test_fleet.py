"""Fleet scale: the known_hosts index, compact host ranges, grouped headless output, a fan-out
over 20 hosts with 5 down, and hosts that accept TCP but never finish the SSH handshake."""
# ruff: noqa: F811 - pytest fixtures imported from sshd are parameters below

from __future__ import annotations

import base64
import contextlib
import hmac
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from swrun.events import StepFinished, StepOutput
from swrun.parser import load_runbook
from swrun.render import HumanRenderer
from swrun.ssh import HostKeyError
from swrun.ssh.fanout import STATUS, compact
from swrun.ssh.hostkeys import KnownHosts, index_for
from swrun.ssh.target import Target

from helpers import Settings, make_engine, write_runbook
from sshd import Cluster, cluster, free_port, keygen, ssh_home  # noqa: F401


def _hashed(name: str) -> str:
    salt = os.urandom(20)
    digest = hmac.digest(salt, name.encode(), "sha1")
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> list[paramiko.PKey]:
    d = tmp_path_factory.mktemp("keys")
    return [paramiko.PKey.from_path(str(keygen(d / f"k{i}"))) for i in range(3)]


def _line(name: str, key: paramiko.PKey, marker: str = "") -> str:
    return f"{marker}{name} {key.get_name()} {key.get_base64()}\n"


def test_known_hosts_index_on_a_large_file_with_hashed_entries(
        tmp_path: Path, keys: list[paramiko.PKey], ssh_home: Path) -> None:
    good, other, revoked = keys
    lines = []
    for i in range(5000):  # half hashed, each with its own salt, as `ssh-keygen -H` writes
        name = f"10.1.{i // 256}.{i % 256}"
        lines.append(_line(_hashed(name) if i % 2 else name, other))
    lines += [_line("[10.9.9.9]:2222", good), _line(_hashed("web7.example.com"), good),
              _line("a.example.com,b.example.com", good),
              _line("*.example.com", good, "@cert-authority "),
              _line("web7.example.com", revoked),
              _line("web7.example.com,[10.9.9.9]:2222", revoked, "@revoked "),
              "garbage line\n", "# comment\n"]
    path = tmp_path / "known_hosts"
    path.write_text("".join(lines))
    t0 = time.perf_counter()
    index = index_for(path)
    assert index is not None and index_for(path) is index  # parsed once
    kh = KnownHosts([str(path)])
    assert [r.kind for r in kh.recorded("10.1.0.3")] == ["ssh-ed25519"]  # hashed
    assert [r.kind for r in kh.recorded("10.1.0.4")] == ["ssh-ed25519"]  # plain
    assert kh.recorded("10.1.99.99") == [] and kh.recorded("[10.1.0.4]:2222") == []
    took = time.perf_counter() - t0
    assert took < 30  # a bound against hangs only; speed is measured in bench/fleet.py

    def target(name: str, port: int = 22) -> Target:
        return Target(name="h", hostname=name, port=port, known_hosts=(str(path),))

    assert kh.verify(target("10.9.9.9", 2222), good, accept_new=False) is None
    assert kh.verify(target("web7.example.com"), good, accept_new=False) is None  # hashed
    assert kh.verify(target("b.example.com"), good, accept_new=False) is None
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED"):
        kh.verify(target("10.1.0.3"), good, accept_new=True)
    # @revoked wins even over a plain line recording the same key
    with pytest.raises(HostKeyError, match=r"marked @revoked in .*known_hosts; refusing"):
        kh.verify(target("web7.example.com"), revoked, accept_new=True)
    # @cert-authority lines are ignored, as paramiko ignored them: c.example.com is unknown
    with pytest.raises(HostKeyError, match="unknown host key"):
        kh.verify(target("c.example.com"), good, accept_new=False)
    # the file changes: it is read again
    with path.open("a") as fh:
        fh.write(_line("new.example.com", other))
    assert index_for(path) is not index
    assert KnownHosts([str(path)]).recorded("new.example.com")


def test_compact_ranges() -> None:
    assert compact([f"web{i:03d}" for i in range(1, 81)]) == "web[001-080]"
    assert compact(["db3", "db7"]) == "db[3,7]"
    assert compact(["h1", "h2", "h3", "h5", "x", "h10"]) == "h[1-3,5,10], x"
    assert compact(["app-1.eu", "app-2.eu", "app-1.us"]) == "app-[1-2].eu, app-1.us"
    assert compact(["only7"]) == "only7"


# -- 20 hosts, 5 of them down ------------------------------------------------------------------
DOWN = ("h3", "h7", "h11", "h15", "h19")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path]]:
    """15 live sshd on 127.0.0.40.. and 5 inventory hosts where nothing listens."""
    root = tmp_path_factory.mktemp("fleet")
    with cluster(root / "hosts", 15, first=40) as c:
        live = iter(c.hosts)
        lines = []
        for i in range(1, 21):
            name = f"h{i}"
            if name in DOWN:
                addr = f"127.0.0.{80 + i}"
                lines.append(f"{name} ansible_host={addr} ansible_port={free_port(addr)}")
            else:
                h = next(live)
                lines.append(f"{name} ansible_host={h.addr} ansible_port={h.port}")
        inv = root / "inv.ini"
        inv.write_text("\n".join([*lines, "", "[all:vars]", "ansible_user=root",
                                  f"ansible_ssh_private_key_file={c.client_key}",
                                  f"swrun_known_hosts={c.known_hosts}", ""]))
        yield c, inv


def _run(tmp_path: Path, inv: Path, attrs: str, interleave: bool = False,
         ) -> tuple[list[object], str]:
    rb = load_runbook(write_runbook(tmp_path, f"""
        # Fleet
        ```bash {{hosts=all {attrs}}}
        echo "one $SWRUN_HOST"
        sleep 0.3
        echo "two $SWRUN_HOST"
        ```
        """))
    engine = make_engine(rb, settings=Settings(kill_grace=1.0,
                                               executor_settings={"inventory": str(inv)}))
    out = io.StringIO()
    render = HumanRenderer(out, total=1, interleave=interleave)
    events = []
    for event in engine.run():
        events.append(event)
        render(event)
    return events, out.getvalue()


def _fin(events: list[object]) -> StepFinished:
    (fin,) = [e for e in events if isinstance(e, StepFinished)]
    return fin


@pytest.mark.usefixtures("ssh_home")
def test_five_of_twenty_down_with_keep_going(tmp_path: Path, fleet: tuple[Cluster, Path]) -> None:
    _, inv = fleet
    events, text = _run(tmp_path, inv, "keep_going")
    fin = _fin(events)
    assert fin.status == "failed"
    assert sorted(h for h, r in fin.hosts.items() if r["status"] == "unreachable") == \
        sorted(DOWN)
    assert sum(r["status"] == "ok" for r in fin.hosts.values()) == 15
    assert fin.error == ("5 of 20 host(s) failed: h[3,7,11,15,19] unreachable (cannot connect "
                         "to <address>: connection refused)")
    # grouped: each host's lines together, whatever order the hosts ran in
    body = [line.strip() for line in text.splitlines() if line.startswith("    h")]
    for i in range(1, 21):
        name = f"h{i}"
        if name in DOWN:
            assert f"{name}: ▸ unreachable" in "\n".join(body)
            continue
        at = body.index(f"{name}: one {name}")
        assert body[at + 1] == f"{name}: two {name}"
    assert "    ✓ 15 ok: h[1-2,4-6,8-10,12-14,16-18,20]" in text
    assert "    ✗ 5 unreachable: h[3,7,11,15,19]" in text
    # the run summary names the hosts by outcome under the step's row
    summary = text[text.rindex("#  status"):]
    assert "✗ 5 unreachable: h[3,7,11,15,19]" in summary


@pytest.mark.usefixtures("ssh_home")
def test_five_of_twenty_down_stops_without_keep_going(
        tmp_path: Path, fleet: tuple[Cluster, Path]) -> None:
    _, inv = fleet
    events, text = _run(tmp_path, inv, "parallel=4")
    fin = _fin(events)
    status = {h: r["status"] for h, r in fin.hosts.items()}
    # h1-h4 were in flight when h3 failed: the others finished and are reported
    assert status["h3"] == "unreachable"
    assert [status[h] for h in ("h1", "h2", "h4")] == ["ok", "ok", "ok"]
    assert all(status[f"h{i}"] == "skipped" for i in range(5, 21))
    assert fin.hosts["h9"]["note"] == "not run: an earlier host failed"
    assert fin.error.startswith("1 of 20 host(s) failed: h3: cannot connect to 127.0.0.83:")
    assert fin.error.endswith("; h[5-20] not run")
    assert "    ↷ 16 not run: h[5-20]" in text
    # every host that never started still gets its status line (for the console's grid)
    lines = {e.host: e.line for e in events if isinstance(e, StepOutput) and e.stream == STATUS}
    assert len(lines) == 20 and lines["h20"].startswith("▸ skipped")


@pytest.mark.usefixtures("ssh_home")
def test_interleave_prints_lines_as_they_come(tmp_path: Path, fleet: tuple[Cluster, Path]) -> None:
    _, inv = fleet
    _, text = _run(tmp_path, inv, "keep_going", interleave=True)
    body = [line.strip() for line in text.splitlines() if line.startswith("    h")]
    firsts = [i for i, line in enumerate(body) if " one " in line]
    seconds = [i for i, line in enumerate(body) if " two " in line]
    assert len(firsts) == len(seconds) == 15
    # as they come: some host's second line is not right after its first (they all sleep 0.3
    # in parallel), where grouped output always has them together
    apart = [line for i, line in enumerate(body[:-1]) if " one " in line
             and body[i + 1] != line.replace(" one ", " two ").replace(": one", ": two")]
    assert apart


def test_host_grid_states() -> None:
    from swrun.tui.hostgrid import RUNNING, host_states, render

    states = host_states([f"h{i}: one" for i in range(1, 13)]
                         + ["h1: ▸ ok 0.3s", "h2: ▸ unreachable 0.0s: h2: cannot connect",
                            "h12: ▸ skipped: not run", "h3: ▸ okay, not a status line"])
    assert states["h1"] == "ok" and states["h2"] == "unreachable"
    assert states["h3"] == RUNNING and states["h12"] == "skipped"
    text = render(states).plain
    assert text.startswith("12 hosts  9 running  1 unreachable  1 not run  1 ok\n")
    assert "unreachable: h2" in text and "not run: h12" in text
    assert text.count("■") == 12


# -- hosts that accept TCP and then say nothing ----------------------------------------------
@contextlib.contextmanager
def _listener(addr: str, banner: bytes = b"") -> Iterator[int]:
    """Accepts connections, optionally sends `banner`, then says nothing until closed."""
    srv = socket.socket()
    srv.bind((addr, 0))
    srv.listen(8)
    srv.settimeout(0.2)
    done = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            held.append(conn)
            if banner:
                conn.sendall(banner)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        yield srv.getsockname()[1]
    finally:
        done.set()
        th.join(5)
        for conn in held:
            conn.close()
        srv.close()


@pytest.mark.usefixtures("ssh_home")
@pytest.mark.parametrize("banner, says", [
    (b"", "no SSH banner from mute within 1s"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "SSH handshake with 127.0.0.31:"),
])
def test_a_host_that_accepts_and_never_answers_is_unreachable(
        tmp_path: Path, banner: bytes, says: str) -> None:
    """paramiko's start_client(timeout=) returns silently when the handshake times out:
    the pool checks what it got, so the host ends `unreachable` with one line, in bounded
    time, and without a step `timeout=`."""
    with _listener("127.0.0.31", banner) as port:
        inv = tmp_path / "inv.ini"
        inv.write_text(f"mute ansible_host=127.0.0.31 ansible_port={port} ansible_ssh_timeout=1\n")
        rb = load_runbook(write_runbook(tmp_path, "# T\n```bash {hosts=mute}\ntrue\n```\n"))
        engine = make_engine(rb, settings=Settings(kill_grace=1.0, executor_settings={
            "inventory": str(inv)}))
        t0 = time.monotonic()
        fin = _fin(list(engine.run()))
        took = time.monotonic() - t0
    assert fin.hosts["mute"]["status"] == "unreachable", fin.hosts
    assert says in fin.hosts["mute"]["error"] and "\n" not in fin.hosts["mute"]["error"]
    assert took < 10


async def test_host_grid_widget_shows_past_ten_hosts() -> None:
    from textual.app import App, ComposeResult

    from swrun.tui.hostgrid import HostGrid

    class GridApp(App[None]):
        def compose(self) -> ComposeResult:
            yield HostGrid()

    async with GridApp().run_test(size=(60, 20)) as pilot:
        grid = pilot.app.query_one(HostGrid)
        grid.reset([f"h{i}: hello" for i in range(1, 11)])
        assert not grid.display  # 10 hosts: the output alone is readable
        grid.feed(["h11: hello", "h1: ▸ ok 0.1s"])
        await pilot.pause()
        assert grid.display and grid.states["h1"] == "ok" and grid.states["h11"] == "running"
        # a local step printing `key: value` lines is not a fan-out
        grid.reset([f"key{i}: value" for i in range(20)], fan_out=False)
        grid.feed(["key99: value"])
        assert not grid.display and grid.states == {}


@pytest.mark.usefixtures("ssh_home")
def test_file_descriptors_above_1024_do_not_break_a_host(
        tmp_path: Path, fleet: tuple[Cluster, Path]) -> None:
    """Each host holds a socket and each running command a pipe: past ~350 hosts the fds
    are above 1,024, where select() fails ("filedescriptor out of range"); swrun polls."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2200:
        pytest.skip(f"open-file limit {soft} is too low to push fds past 1,024 here")
    c, _ = fleet
    pipes = [os.pipe() for _ in range(560)]  # 1,120 fds: the next ones are above 1,024
    try:
        inv = c.inventory(tmp_path / "inv.ini")
        rb = load_runbook(write_runbook(tmp_path, "# T\n```bash {hosts=h1}\necho far\n```\n"))
        engine = make_engine(rb, settings=Settings(kill_grace=1.0, executor_settings={
            "inventory": str(inv)}))
        events = list(engine.run())
    finally:
        for r, w in pipes:
            os.close(r)
            os.close(w)
    fin = _fin(events)
    assert fin.status == "ok", fin.error
    assert [e.line for e in events if isinstance(e, StepOutput)] == ["far"]
