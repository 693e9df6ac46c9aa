"""A remote step left running on its host after `kill -9` of swrun: the resume finds its
process group there (real sshd on loopback), refuses, or stops it and runs the step once."""
# ruff: noqa: F811 - pytest fixtures imported from sshd are parameters below

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from swrun.exitcodes import ExitCode
from swrun.procs import group_members
from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook
from sshd import (  # noqa: F401 - fixtures are registered by importing them
    Cluster,
    spare_host,
    ssh_home,
    sshd_hosts,
)

pytestmark = pytest.mark.usefixtures("ssh_home")

REMOTE = """\
    ---
    title: remote leftovers
    ---

    # Remote leftovers

    ```bash {{name=first}}
    echo first >> {d}/runs
    ```

    ```bash {{name=migrate host={host}}}
    if [ ! -e {d}/quick ]; then sleep 30; fi
    echo migrate >> {d}/marker
    ```

    ```bash {{name=last}}
    echo last >> {d}/runs
    ```
    """


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)


def _processes(log: Path) -> list[dict[str, Any]]:
    return [e for e in read_log(log).events if e["type"] == "step_processes"]


def _start_and_kill_swrun(tmp_path: Path, inv: Path, host: str) -> dict[str, Any]:
    """Start a run, SIGKILL swrun alone once the remote step's process group is logged."""
    write_runbook(tmp_path, REMOTE.format(d=tmp_path, host=host), "rb.md")
    proc = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml",
                             "--inventory", str(inv)], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (tmp_path / "run.toml").exists() and (got := _processes(tmp_path / "run.toml")):
                break
            assert proc.poll() is None, "swrun ended before the remote step started"
            time.sleep(0.05)
        else:
            raise AssertionError("no step_processes event in the log")
    finally:
        proc.send_signal(signal.SIGKILL)  # swrun only: the host's process group lives on
        proc.wait(10)
    return got[0]


def _stop_group(pgid: int) -> None:
    if group_members(pgid):
        os.killpg(pgid, signal.SIGKILL)


def test_a_remote_step_left_running_is_found_refused_then_stopped_and_run_once(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    inv = sshd_hosts.inventory(tmp_path / "inv.ini")
    rec = _start_and_kill_swrun(tmp_path, inv, "h2")
    pgid = rec["pgid"]
    try:
        assert rec["step"] == "migrate" and rec["host"] == "h2"
        assert rec["start"] > 0 and rec["boot_id"]
        assert group_members(pgid)  # the sshd host runs here: its processes are visible

        res = run_cli(["execute", "rb.md", "--yes", "--resume", "run.toml"], tmp_path)
        assert res.returncode == ExitCode.LEFTOVERS, res.stdout + res.stderr
        said = res.stderr.strip().splitlines()
        assert len(said) == 1 and "Traceback" not in res.stderr, said
        assert said[0].startswith(f"swrun: run.toml: step 2 'migrate' (on h2: remote process "
                                  f"group {pgid}) is still running from the run that died")
        assert "--stop-leftovers" in said[0]
        assert group_members(pgid)  # refused: nothing stopped, nothing started

        (tmp_path / "quick").touch()  # the copy run after the stop need not wait
        res = run_cli(["execute", "rb.md", "--yes", "--resume", "run.toml",
                       "--stop-leftovers", "--inventory", str(inv)], tmp_path)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "stopping step 2 'migrate' (on h2: remote process group" in res.stderr
        assert not group_members(pgid)  # no `sleep 30` left on the host
    finally:
        _stop_group(pgid)
    # the stopped copy never reached its end; the resume ran it once, whole
    assert (tmp_path / "marker").read_text().split() == ["migrate"]
    assert (tmp_path / "runs").read_text().split() == ["first", "last"]
    events = read_log(tmp_path / "run.toml").events
    ends = [e for e in events if e["type"] == "step_finished" and e["step"] == "migrate"]
    assert [(e["status"], e.get("leftover")) for e in ends] == [("aborted", "stopped"),
                                                                ("ok", None)]
    assert f"process group {pgid} on h2" in ends[0]["error"]
    assert ends[0]["hosts"] == {"h2": {"pgid": pgid}}


def test_a_remote_step_that_ended_after_swrun_died_runs_again_logged_gone(
        tmp_path: Path, sshd_hosts: Cluster) -> None:
    inv = sshd_hosts.inventory(tmp_path / "inv.ini")
    rec = _start_and_kill_swrun(tmp_path, inv, "h3")
    _stop_group(rec["pgid"])  # it ended on the host while nobody watched
    deadline = time.monotonic() + 10
    while group_members(rec["pgid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "quick").touch()
    res = run_cli(["execute", "rb.md", "--yes", "--resume", "run.toml", "--inventory",
                   str(inv)], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    ends = [e for e in read_log(tmp_path / "run.toml").events
            if e["type"] == "step_finished" and e["step"] == "migrate"]
    assert [(e["status"], e.get("leftover")) for e in ends] == [("aborted", "gone"),
                                                                ("ok", None)]
    assert "exit status is not known after swrun died" in ends[0]["error"]


def test_a_host_that_cannot_be_reached_is_cannot_tell(tmp_path: Path,
                                                      spare_host: Cluster) -> None:
    inv = spare_host.inventory(tmp_path / "inv.ini")
    host = spare_host.hosts[0]
    rec = _start_and_kill_swrun(tmp_path, inv, host.name)
    try:
        host.stop()  # the listener is gone; the step's processes are left as they are
        for extra in ([], ["--stop-leftovers"]):
            res = run_cli(["execute", "rb.md", "--yes", "--resume", "run.toml", *extra],
                          tmp_path)
            assert res.returncode == ExitCode.LEFTOVERS, res.stdout + res.stderr
            said = res.stderr.strip().splitlines()
            assert len(said) == 1 and "Traceback" not in res.stderr, said
            assert f"on {host.name}: {host.name} cannot be reached" in said[0], said
            assert ("--stop-leftovers cannot stop step 2 'migrate'" in said[0]) == bool(extra)
        assert not (tmp_path / "marker").exists()
    finally:
        _stop_group(rec["pgid"])
