"""End to end in tmux (issue 25): a line written to stderr while the console owns the screen
drew over its footer. Textual draws on fd 2, so anything else in the process writing there (a
tool's child that inherits it, a C library) lands on the screen; the console now holds such
lines and prints them after it gives the screen back."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_tui_e2e import Tmux

from helpers import write_runbook

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

BOOK = """
    # Noisy start

    ## Work

    - [ ] Look at the dashboard
    """

NOISE = "tool-noise-on-stderr"
# `swrun run`, with one change: when the first question is on screen, a child process that
# inherits swrun's stderr writes a line to it (as a tool's child or a C library would)
NOISY_SWRUN = f"""
import subprocess, sys
from swrun.tui.app import SwrunApp

asked = SwrunApp.on_question_asked

def noisy(self, message):
    asked(self, message)
    if not getattr(self, "_noise", False):
        self._noise = True
        self.set_timer(0.3, lambda: subprocess.Popen(
            ["sh", "-c", "echo {NOISE} >&2; touch noise.done"]))

SwrunApp.on_question_asked = noisy
from swrun.cli import main
sys.argv[0] = "swrun"
main()
"""


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_a_stderr_line_never_draws_over_the_footer(tmp_path: Path,
                                                   size: tuple[int, int]) -> None:
    write_runbook(tmp_path, BOOK)
    (tmp_path / "noisy.py").write_text(NOISY_SWRUN)
    tmux = Tmux(tmp_path / "tmux.sock")
    cmd = " ".join(shlex.quote(c) for c in [sys.executable, "noisy.py", "run", "rb.md",
                                             "--log", "run.toml", "--operator", "erin"])
    env = {**{k: v for k, v in os.environ.items() if k != "NO_COLOR"},
           "TERM": "xterm-256color"}
    subprocess.run(["tmux", "-S", str(tmux.socket), "new-session", "-d", "-s", "tui",
                    "-x", str(size[0]), "-y", str(size[1]), "-c", str(tmp_path),
                    f"{cmd} 2>&1; echo exit=$?; sleep 30"], check=True, env=env, timeout=10)
    try:
        tmux.wait_for("space ticks")
        deadline = time.monotonic() + 20
        while not (tmp_path / "noise.done").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "noise.done").exists(), tmux.screen()
        time.sleep(0.3)  # the line, if it reached the terminal, is drawn by now
        screen = tmux.screen()
        assert NOISE not in screen, screen
        rows = screen.rstrip("\n").splitlines()
        assert len(rows) == size[1], screen
        assert rows[-1].split()[:2] == ["space", "Tick"] and rows[-1].rstrip().endswith("Quit")
        assert rows[0].lstrip().startswith("Noisy start")
        tmux.keys("q")
        tmux.wait_for("Quit?")
        tmux.keys("y")
        after = tmux.wait_for("exit=")
    finally:
        tmux("kill-server", check=False)
    # given back after the console: said once, on the terminal, after the screen is gone
    assert "exit=130" in after, after
    assert "1 line(s) were written to stderr" in after and f"  {NOISE}" in after, after
