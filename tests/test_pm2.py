"""PM2 steps: verbs validated, run over SSH on real sshd hosts (and locally), apps verified."""
# ruff: noqa: F811 - pytest fixtures imported from sshd are parameters below

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from swrun.checks import check_runbook
from swrun.engine import Decision
from swrun.events import StepFinished, StepOutput
from swrun.executors.pm2 import (
    AppState,
    Pm2Executor,
    expected_states,
    parse,
    parse_jlist,
    validate,
    verify,
)
from swrun.parser import load_runbook, parse_file

from helpers import ScriptedOperator, Settings, make_engine, write_runbook
from sshd import Cluster, free_port, ssh_home, sshd_hosts  # noqa: F401 - fixtures

APP_DIR = Path(__file__).parent / "data" / "node-app"
pytestmark = pytest.mark.usefixtures("ssh_home")


def _engine(tmp_path: Path, body: str, inv: Path | None, *, environ=None, operator=None):
    body = textwrap.dedent(body).lstrip()
    given = {}
    if "$APP_DIR" in body:
        body, given = VARS + body, {"APP_DIR": str(APP_DIR)}
    rb = load_runbook(write_runbook(tmp_path, body))
    settings = Settings(kill_grace=1.0, executor_settings={"inventory": str(inv)} if inv else {})
    return make_engine(rb, operator or ScriptedOperator(failures=[Decision.SKIP]),
                       given, settings=settings,
                       executors={"pm2": Pm2Executor(settle=0.5)}, environ=environ)


def _finished(events) -> list[StepFinished]:
    return [e for e in events if isinstance(e, StepFinished)]


VARS = '+++\n[vars.APP_DIR]\nprompt = "app directory"\n+++\n'


# -- the verbs -----------------------------------------------------------------------------
def test_parse_accepts_the_documented_verbs() -> None:
    commands, problems = parse(
        "# deploy\npm2 stop api\nstart dist/index.js --name api -i 2 -- --port 3000\n"
        "restart api --update-env\nreload all\ndelete old-api\nsave\nstatus\n")
    assert problems == []
    assert [(c.verb, c.app, c.offset) for c in commands] == [
        ("stop", "api", 1), ("start", "api", 2), ("restart", "api", 3), ("reload", "all", 4),
        ("delete", "old-api", 5), ("save", None, 6), ("status", None, 7)]
    assert commands[1].args == ("dist/index.js", "--name", "api", "-i", "2", "--", "--port",
                                "3000")
    assert expected_states(commands) == {"api": "online", "all": "online", "old-api": "absent"}


@pytest.mark.parametrize(("line", "severity", "message"), [
    ("bogus api", "error", "unknown pm2 verb 'bogus' (expected start, restart, reload, stop, "
                           "delete, save, status)"),
    ("start server.js", "error", "start needs --name NAME so swrun can verify the app is online"),
    ("start --name api", "error", "start needs a script: start FILE --name NAME"),
    ("restart", "error", "restart needs exactly one app name (or `all`): restart NAME"),
    ("stop a b", "error", "stop needs exactly one app name (or `all`): stop NAME"),
    ("save now", "error", "save takes no app name"),
    ("start app.js --name web --", "warning",
     "trailing `--` with no arguments makes `pm2 start` fail; swrun drops it"),
    ("restart 'api", "error", "cannot split \"restart 'api\": No closing quotation"),
])
def test_validate_reports_one_problem_per_bad_line(line: str, severity: str, message: str) -> None:
    (problem,) = validate(f"save\n{line}\n")
    assert (problem.offset, problem.severity, problem.message) == (1, severity, message)
    if severity == "warning":
        (cmd,) = parse(line)[0]
        assert cmd.args == ("app.js", "--name", "web")  # the `--` is gone


def test_swrun_check_reports_pm2_problems_at_their_line(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, "# T\n\n```pm2 {unattended}\nrestart api\nfrobnicate api\n```\n")
    diags = [str(d) for d in check_runbook(parse_file(str(path)))]
    assert diags == [f"{path}:5: error: unknown pm2 verb 'frobnicate' (expected start, restart, "
                     "reload, stop, delete, save, status)"]


# -- over SSH --------------------------------------------------------------------------------
def test_node_app_started_verified_restarted_and_removed_on_three_hosts(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    inv = sshd_hosts.inventory(tmp_path / "inv.ini", groups={"api": ["h1", "h2", "h3"]})
    engine = _engine(tmp_path, """
        # Deploy the API
        ## Start
        ```pm2 {hosts=api}
        start $APP_DIR/server.js --name web-api
        ```
        ## Restart
        ```pm2 {hosts=api}
        restart web-api
        save
        ```
        """, inv)
    events = list(engine.run())
    start, restart = _finished(events)
    assert start.status == "ok", start.error
    assert restart.status == "ok", restart.error
    for host in sshd_hosts.hosts:
        first = start.hosts[host.name]["apps"]["web-api"]
        after = restart.hosts[host.name]["apps"]["web-api"]
        assert first["status"] == after["status"] == "online"
        assert after["restarts"] == first["restarts"] + 1 and after["pid"] != first["pid"]
        assert isinstance(after["uptime_ms"], int)
        assert restart.data["apps"][host.name]["web-api"] == after
        with urllib.request.urlopen(f"http://{host.addr}:{host.app_port}/health",
                                    timeout=5) as resp:
            assert json.load(resp)["pid"] == after["pid"]  # the app pm2 reports is serving
    lines = [e.line for e in events if isinstance(e, StepOutput) and e.host == "h2"]
    assert lines[0] == f"$ pm2 start {APP_DIR}/server.js --name web-api"
    assert lines[-1].startswith("web-api: online, pid ")
    assert not any("\x1b[" in line for line in lines)  # colours stripped

    engine = _engine(tmp_path, "# Remove\n```pm2 {hosts=api}\nstop web-api\ndelete web-api\n```\n",
                     inv)
    (gone,) = _finished(engine.run())
    assert gone.status == "ok", gone.error
    assert gone.hosts["h1"]["status"] == "ok"


def test_a_crash_looping_app_fails_the_step(tmp_path: Path, sshd_hosts: Cluster) -> None:
    inv = sshd_hosts.inventory(tmp_path / "inv.ini")
    engine = _engine(tmp_path, """
        # T
        ```pm2 {host=h1}
        start $APP_DIR/crash.js --name crashy
        ```
        ```pm2 {host=h1}
        delete crashy
        ```
        """, inv)
    crash, cleanup = _finished(engine.run())
    assert crash.status == "failed"
    assert crash.error.startswith("1 of 1 host(s) failed: h1: crashy ")
    assert ("crash-looping" in crash.error or "errored" in crash.error), crash.error
    assert crash.hosts["h1"]["apps"]["crashy"]["restarts"] >= 1
    assert cleanup.status == "ok", cleanup.error


def test_unknown_app_and_bad_verb_fail_with_one_line(tmp_path: Path, sshd_hosts: Cluster) -> None:
    inv = sshd_hosts.inventory(tmp_path / "inv.ini")
    engine = _engine(tmp_path, """
        # T
        ```pm2 {host=h2}
        restart no-such-app
        ```
        ```pm2 {host=h2}
        save
        bogus thing
        ```
        """, inv)
    missing, bogus = _finished(engine.run())
    assert missing.status == "failed" and missing.exit_code == 1
    assert missing.error == "1 of 1 host(s) failed: h2: exit 1"
    assert bogus.status == "failed" and bogus.hosts == {}
    assert bogus.error.startswith("pm2 block line 2: unknown pm2 verb 'bogus'")


# -- locally ---------------------------------------------------------------------------------
def test_local_pm2_without_hosts(tmp_path: Path) -> None:
    pm2_home = tmp_path / "pm2"
    port = free_port("127.0.0.1")
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PM2_HOME": str(pm2_home),
               "APP_ADDR": "127.0.0.1", "APP_PORT": str(port)}
    try:
        engine = _engine(tmp_path, """
            # Local
            ```pm2
            start $APP_DIR/server.js --name local-api
            status
            ```
            ```pm2
            delete local-api
            ```
            """, None, environ=environ)
        events = []
        for event in engine.run():
            events.append(event)
            if isinstance(event, StepFinished) and event.number == 1:  # before the delete
                assert event.status == "ok", event.error
                app = event.data["apps"]["local"]["local-api"]
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    assert json.load(r)["pid"] == app["pid"]
        start, delete = _finished(events)
        assert start.status == "ok"
        assert all(e.host is None for e in events if isinstance(e, StepOutput))
        assert delete.status == "ok", delete.error
    finally:
        subprocess.run(["pm2", "kill"], env=environ, capture_output=True, timeout=30)


# -- status: online means online -------------------------------------------------------------
def _pm2_env(host) -> dict[str, str]:
    """This test process talking to a test host's own PM2 daemon (as its SSH user would)."""
    return {"PATH": os.environ["PATH"], "HOME": str(host.home), "PM2_HOME": str(host.pm2_home),
            "PM2_DISCRETE_MODE": "true"}


def _pm2(host, *args: str) -> str:
    res = subprocess.run(["pm2", *args], env=_pm2_env(host), capture_output=True, text=True,
                         timeout=60)
    return res.stdout


def test_status_fails_naming_the_host_and_the_app_that_is_not_online(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    inv = sshd_hosts.inventory(tmp_path / "inv.ini", groups={"api": ["h1", "h2"]})
    try:
        engine = _engine(tmp_path, """
            # Status
            ## Start on h1 and h2
            ```pm2 {hosts=api}
            start $APP_DIR/server.js --name web
            ```
            ## All online
            ```pm2 {hosts=api}
            status
            ```
            ```pm2 {hosts=api}
            status web
            ```
            ## Stop it on h2
            ```pm2 {host=h2}
            stop web
            ```
            ## Checks
            ```pm2 {hosts=api}
            status
            ```
            ```pm2 {hosts=api}
            pm2 status web
            ```
            ```pm2 {host=h1}
            status web no-such-app
            ```
            ```pm2 {host=h3}
            status
            ```
            """, inv, operator=ScriptedOperator(failures=[Decision.SKIP] * 8))
        events = list(engine.run())
        (_, every, named, stop, every_bad, named_bad, missing, empty) = _finished(events)
        for step in (every, named):
            assert step.status == "ok", step.error
            for host in ("h1", "h2"):
                app = step.hosts[host]["apps"]["web"]
                assert app["status"] == "online" and app["pid"] > 0, app
                assert step.data["apps"][host]["web"] == app
        lines = [e.line for e in events
                 if isinstance(e, StepOutput) and e.host == "h1" and e.number == every.number]
        assert lines[0] == "$ pm2 status"
        assert lines[-1].startswith("web: online, pid ")
        assert stop.status == "ok", stop.error

        for step in (every_bad, named_bad):
            assert step.status == "failed"
            assert step.error == ("1 of 2 host(s) failed: h2: web is stopped, expected online "
                                  "(restarts 0)")
            assert step.hosts["h1"]["status"] == "ok" and step.hosts["h2"]["status"] == "failed"
            assert step.hosts["h2"]["apps"]["web"]["status"] == "stopped"
            assert step.data["apps"]["h1"]["web"]["status"] == "online"
        assert missing.status == "failed"
        assert missing.error == ("1 of 1 host(s) failed: h1: no-such-app is not in `pm2 jlist` "
                                 "(expected online)")
        assert empty.status == "failed"
        assert empty.error == "1 of 1 host(s) failed: h3: no PM2 processes"
    finally:
        for name in ("h1", "h2"):
            _pm2(sshd_hosts[name], "delete", "web")


def test_status_needs_every_cluster_instance_online(tmp_path: Path, sshd_hosts: Cluster) -> None:
    inv = sshd_hosts.inventory(tmp_path / "inv.ini")
    h1 = sshd_hosts["h1"]
    try:
        engine = _engine(tmp_path, """
            # Cluster
            ```pm2 {host=h1}
            start $APP_DIR/server.js --name web-cluster -i 2
            status web-cluster
            ```
            """, inv)
        (started,) = _finished(engine.run())
        assert started.status == "ok", started.error
        app = started.hosts["h1"]["apps"]["web-cluster"]
        assert app["status"] == "online" and app["instances"] == 2
        assert app["statuses"] == ["online", "online"] and len(set(app["pids"])) == 2

        listed = _pm2(h1, "jlist")
        ids = [a["pm_id"] for a in json.loads(listed[listed.find("["):])
               if a["name"] == "web-cluster"]
        _pm2(h1, "stop", str(ids[-1]))
        engine = _engine(tmp_path, "# C\n```pm2 {host=h1}\nstatus\n```\n", inv)
        (status,) = _finished(engine.run())
        assert status.status == "failed"
        assert status.error == ("1 of 1 host(s) failed: h1: web-cluster is stopped on 1 of 2 "
                                "instances, expected online (restarts 0)")
        assert status.hosts["h1"]["apps"]["web-cluster"]["statuses"] == ["online", "stopped"]

        # A block that stops an app expects it stopped; `status` checks the others are online.
        engine = _engine(tmp_path, "# C\n```pm2 {host=h1}\nstop web-cluster\nstatus\n```\n", inv)
        (stopped,) = _finished(engine.run())
        assert stopped.status == "ok", stopped.error
        assert stopped.hosts["h1"]["apps"]["web-cluster"]["status"] == "stopped"
    finally:
        _pm2(h1, "delete", "web-cluster")


def test_status_of_an_app_the_block_stops_is_an_error() -> None:
    (problem,) = validate("stop api\nstart x.js --name web\nstatus web api\n")
    assert (problem.offset, problem.severity, problem.message) == (
        2, "error", "status checks that api is online, but `stop api` leaves it stopped")
    (problem,) = validate("status\nstatus web\ndelete all\n")  # checked after the block
    assert (problem.offset, problem.message) == (
        1, "status checks that web is online, but `delete all` leaves it deleted")
    assert validate("stop api\nstart x.js --name api\nstatus api\n") == []
    assert validate("status\nstop api\n") == []  # api stopped, every other app online


@pytest.mark.parametrize("status", ["launching", "one-launch-status", "waiting restart",
                                    "errored", "stopped"])
def test_status_reads_a_snapshot_and_anything_but_online_fails(status: str) -> None:
    """Apps a block only checks are not waited for: `launching` now is not online now."""
    apps = {"api": AppState("api", "online", 4410, 0, 1000), "web": AppState("web", status, 0, 3,
                                                                             None)}
    t0 = time.monotonic()
    problems, seen = verify({}, lambda: apps, threading.Event(), settle=0, wait=600,
                            checked={"all": "online"})
    assert problems == [f"web is {status}, expected online (restarts 3)"]
    assert time.monotonic() - t0 < 120 and seen == apps  # not waited for (wait=600)
    assert verify({}, dict, threading.Event(), settle=0, checked={"all": "online"})[0] == [
        "no PM2 processes"]


def test_jlist_instances_of_one_app_are_one_app() -> None:
    listed = [{"name": "api", "pm_id": i, "pid": 100 + i,
               "pm2_env": {"status": s, "restart_time": i, "pm_uptime": None}}
              for i, s in enumerate(["online", "launching", "errored"])]
    chatter = "\x1b[32m[PM2] \x1b[39mSpawning PM2 daemon with pm2_home=/x"  # no discrete mode
    (api,) = parse_jlist([chatter, json.dumps(listed)]).values()
    assert (api.status, api.pid, api.restarts, api.instances) == ("launching", 100, 3, 3)
    assert api.odd("online") == "errored"  # a settled failure is reported before a transient one
    assert api.record()["statuses"] == ["online", "launching", "errored"]


def test_a_remote_pm2_step_names_its_process_group_for_a_resume(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    """Like an SSH step, a pm2 step's remote commands are logged as `step_processes` (host,
    pgid, start time, boot id) the moment the host names them: what a resume after swrun
    died checks on that host (tests/test_leftovers_remote.py does the kill -9)."""
    from swrun.events import StepProcesses

    inv = sshd_hosts.inventory(tmp_path / "inv.ini")
    engine = _engine(tmp_path, """
        # T
        ```pm2 {hosts=h1:h2}
        save
        ```
        """, inv)
    events = list(engine.run())
    (done,) = _finished(events)
    assert done.status == "ok", done.error
    named = [e for e in events if isinstance(e, StepProcesses)]
    assert sorted(e.host for e in named) == ["h1", "h2"]
    assert all(e.pgid > 1 and e.boot_id for e in named)
    first_done = events.index(done)
    assert all(events.index(e) < first_done for e in named)
