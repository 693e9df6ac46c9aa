"""End to end: the real `swrun run` in tmux ticks, runs a shell step, quits; the log says so."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook
from sshd import Cluster, ssh_home, sshd_hosts  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

RUNBOOK = """
    # Tiny release

    ## Before

    - [ ] Tell #ops

    ## Do it

    ```bash {name=stamp}
    echo "stamped by $SWRUN_RUN_ID" > stamp.txt
    echo stamped
    ```
    """


class Tmux:
    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], capture_output=True,
                              text=True, check=check, timeout=10)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "tui").stdout

    def wait_for(self, text: str, limit: float = 20.0) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def alive(self) -> bool:
        return self("has-session", "-t", "tui", check=False).returncode == 0


def start(tmp_path: Path, *args: str) -> Tmux:
    """The real `swrun run` in a private tmux server; its exit code lands in exit.txt."""
    tmux = Tmux(tmp_path / "tmux.sock")
    cmd = " ".join(shlex.quote(c) for c in [*swrun_cmd(), "run", "rb.md", "--log", "run.toml",
                                             *args])
    # as an operator's terminal has it: no NO_COLOR (the suite sets it), which hid a crash
    env = {**{k: v for k, v in os.environ.items() if k != "NO_COLOR"}, "TERM": "xterm-256color"}
    subprocess.run(["tmux", "-S", str(tmux.socket), "new-session", "-d", "-s", "tui",
                    "-x", "120", "-y", "36", "-c", str(tmp_path),
                    f"{cmd}; echo exit=$? > exit.txt"],  # Textual draws on stderr: no 2>
                   check=True, env=env, timeout=10)
    return tmux


def quit_and_wait(tmux: Tmux) -> None:
    tmux("send-keys", "-t", "tui", "q")
    deadline = time.monotonic() + 10
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not tmux.alive(), "swrun did not quit"


def test_swrun_run_in_tmux(tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK)
    tmux = start(tmp_path, "--operator", "erin")
    try:
        tmux.wait_for("space ticks")
        tmux("send-keys", "-t", "tui", "Space")
        tmux.wait_for("r runs it")
        tmux("send-keys", "-t", "tui", "r")
        screen = tmux.wait_for("Run completed")
        assert "☑  1 Tell #ops" in screen or "☑  1 ticked" in screen
        quit_and_wait(tmux)
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit.txt").read_text().strip() == "exit=0"
    log = read_log(tmp_path / "run.toml")
    assert log.run["operator"] == "erin"
    kinds = {e["type"]: e for e in log.events}
    assert kinds["check_ticked"]["by"] == "erin"
    assert kinds["step_finished"]["status"] == "ok"
    assert kinds["step_finished"]["output"] == ["stamped"]
    assert kinds["run_finished"]["status"] == "completed"
    assert (tmp_path / "stamp.txt").read_text().startswith("stamped by ")


def test_remote_steps_in_the_console(tmp_path: Path, sshd_hosts: Cluster,  # noqa: F811
                                     ssh_home: Path) -> None:  # noqa: F811
    """Under the console, sys.stdout is Textual's capture (fileno -1, isatty True): the first
    load of the inventory through ansible-core happens there (the hosts depend on a variable)
    and must still work, in a fresh interpreter."""
    inv = sshd_hosts.inventory(tmp_path / "inv.ini", groups={"web": ["h1", "h2"]})
    write_runbook(tmp_path, f"""
        +++
        inventory = "{inv}"
        [vars.GROUP]
        default = "web"
        +++
        # Remote

        ```bash {{name=where hosts=$GROUP}}
        echo "on $(hostname) as $(id -un)"
        ```
        """)
    tmux = start(tmp_path)
    try:
        tmux.wait_for("Start the run")
        tmux("send-keys", "-t", "tui", "Enter")  # every variable has its default: Enter starts
        tmux.wait_for("r runs it")
        tmux("send-keys", "-t", "tui", "r")
        tmux.wait_for("Run completed")
        quit_and_wait(tmux)
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit.txt").read_text().strip() == "exit=0"
    (done,) = [e for e in read_log(tmp_path / "run.toml").events
               if e["type"] == "step_finished"]
    assert done["status"] == "ok", done.get("error")
    assert set(done["hosts"]) == {"h1", "h2"}
