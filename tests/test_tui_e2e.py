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


def test_swrun_run_in_tmux(tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK)
    tmux = Tmux(tmp_path / "tmux.sock")
    cmd = " ".join(shlex.quote(c) for c in [*swrun_cmd(), "run", "rb.md", "--log", "run.toml",
                                             "--operator", "erin"])
    env = {**os.environ, "TERM": "xterm-256color"}
    subprocess.run(["tmux", "-S", str(tmux.socket), "new-session", "-d", "-s", "tui",
                    "-x", "120", "-y", "36", "-c", str(tmp_path),
                    f"{cmd}; echo exit=$? > exit.txt"],  # Textual draws on stderr: no 2>
                   check=True, env=env, timeout=10)
    try:
        tmux.wait_for("space ticks")
        tmux("send-keys", "-t", "tui", "Space")
        tmux.wait_for("r runs it")
        tmux("send-keys", "-t", "tui", "r")
        screen = tmux.wait_for("Run completed")
        assert "☑  1 Tell #ops" in screen or "☑  1 ticked" in screen
        tmux("send-keys", "-t", "tui", "q")
        deadline = time.monotonic() + 10
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not tmux.alive(), "swrun did not quit"
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
