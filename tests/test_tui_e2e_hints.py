"""End to end in tmux (issue 25): what the console prints on leaving works when pasted. A
run quit while it waits says how to continue it (and continuing it does); a rolled-back run
says to start a new run (resuming the rolled-back log would start again in that same log)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from test_tui_e2e import Tmux

from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

CHECKS = """
    # Two checks

    ## Work

    - [ ] Tell #ops

    - [ ] Look at the dashboard
    """

ROLLS_BACK = """
    # Risky change

    ## Change

    ```bash {name=flaky}
    if [ -f fixed ]; then echo fine; else echo boom >&2; exit 3; fi
    ```

    ## Rollback
    <!-- swrun: rollback -->

    ```bash {name=undo}
    echo undone; touch fixed
    ```
    """


def _launch(tmp_path: Path, argv: list[str], exit_file: str) -> Tmux:
    """`argv` (the real swrun) in a private tmux at 120x36; its exit code lands in
    `exit_file`, and the pane stays open so what it printed on leaving can be read."""
    tmux = Tmux(tmp_path / "tmux.sock")
    tmux("kill-server", check=False)
    env = {**{k: v for k, v in os.environ.items() if k != "NO_COLOR"},
           "TERM": "xterm-256color"}
    cmd = shlex.join(argv)
    subprocess.run(["tmux", "-S", str(tmux.socket), "new-session", "-d", "-s", "tui",
                    "-x", "120", "-y", "36", "-c", str(tmp_path),
                    f"{cmd}; echo exit=$? > {exit_file}; sleep 60"],
                   check=True, env=env, timeout=10)
    return tmux


def _left(tmux: Tmux, tmp_path: Path, exit_file: str) -> str:
    """Wait for swrun to end; what it printed on leaving (wrapped lines joined)."""
    deadline = time.monotonic() + 20
    while not (tmp_path / exit_file).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / exit_file).exists(), tmux.screen()
    return tmux("capture-pane", "-p", "-J", "-t", "tui").stdout


def _hint(printed: str, says: str) -> list[str]:
    """The command after `says` in what swrun printed, as argv with this tree's swrun."""
    (line,) = [ln for ln in printed.splitlines() if says in ln]
    words = shlex.split(line.split(says, 1)[1])
    assert words[0] == "swrun", line
    return [*swrun_cmd(), *words[1:]]


def test_quit_while_waiting_prints_a_resume_that_continues_the_run(tmp_path: Path) -> None:
    write_runbook(tmp_path, CHECKS)
    tmux = _launch(tmp_path, [*swrun_cmd(), "run", "rb.md", "--log", "run.toml", "--operator",
                              "erin"], "exit-1.txt")
    try:
        tmux.wait_for("space ticks")
        tmux.keys("Space")
        tmux.wait_for("☐ check 2")
        tmux.keys("q")
        screen = tmux.wait_for("Quit?")
        assert "swrun run rb.md --resume run.toml" in screen, screen
        tmux.keys("y")
        printed = _left(tmux, tmp_path, "exit-1.txt")
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit-1.txt").read_text().strip() == "exit=130"
    resume = _hint(printed, "continue it with: ")
    assert resume[-4:] == ["run", "rb.md", "--resume", "run.toml"]
    tmux = _launch(tmp_path, resume, "exit-2.txt")
    try:
        tmux.wait_for("☐ check 2")  # continued where it waited, not at check 1
        tmux.keys("Space")
        tmux.wait_for("Run completed")
        tmux.keys("q")
        _left(tmux, tmp_path, "exit-2.txt")
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit-2.txt").read_text().strip() == "exit=0"
    events = read_log(tmp_path / "run.toml").events
    assert [e["number"] for e in events if e["type"] == "check_ticked"] == [1, 2]
    assert [e["type"] for e in events].count("run_resumed") == 1


def test_a_rolled_back_run_prints_a_new_run_that_runs_anew(tmp_path: Path) -> None:
    write_runbook(tmp_path, ROLLS_BACK)
    tmux = _launch(tmp_path, [*swrun_cmd(), "run", "rb.md", "--log", "run.toml", "--operator",
                              "erin"], "exit-1.txt")
    try:
        tmux.wait_for("r runs it")
        tmux.keys("r")
        tmux.wait_for("Step 1 failed")
        time.sleep(0.7)  # the failure dialog takes no key in its first 0.6 s
        tmux.keys("b")
        tmux.wait_for("Run the rollback section?")
        time.sleep(0.5)  # nor a confirmation a yes in its first 0.4 s
        tmux.keys("y")
        tmux.wait_for("step 2: undo — r runs it")
        tmux.keys("r")
        tmux.wait_for("Run rolled back")
        tmux.keys("q")
        printed = _left(tmux, tmp_path, "exit-1.txt")
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit-1.txt").read_text().strip() == "exit=1"
    logged = (tmp_path / "run.toml").read_bytes()
    assert "--resume" not in printed, printed
    again = _hint(printed, "start a new run: ")
    assert again[-2:] == ["run", "rb.md"]
    tmux = _launch(tmp_path, again, "exit-2.txt")
    try:
        tmux.wait_for("r runs it")  # a new run at step 1: it passes now (the rollback fixed it)
        tmux.keys("r")
        tmux.wait_for("Run completed")
        tmux.keys("q")
        _left(tmux, tmp_path, "exit-2.txt")
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit-2.txt").read_text().strip() == "exit=0"
    assert (tmp_path / "run.toml").read_bytes() == logged  # the rolled-back log is untouched
    (new,) = (tmp_path / "logs").rglob("*.toml")
    assert read_log(new).status == "completed"


def test_the_hints_keep_the_run_s_options_quoted() -> None:
    from swrun.tui.app import TuiSettings
    from swrun.tui.hints import leaving_hints

    s = TuiSettings(operator="erin", inventory="inv/lab hosts.yml", sign_with="~/.ssh/k")
    log = Path("logs/my run.toml")
    (line,) = leaving_hints("run books/rb.md", s, log, None, started=True)
    assert shlex.split(line.split(": ", 1)[1]) == [
        "swrun", "run", "run books/rb.md", "--resume", "logs/my run.toml",
        "--inventory", "inv/lab hosts.yml", "--sign-with", "~/.ssh/k"]
    (line,) = leaving_hints("rb.md", s, log, "rolled_back", started=True)
    assert "--resume" not in line and "new run" in line
    assert leaving_hints("rb.md", s, log, "completed", started=True) == []
    assert leaving_hints("rb.md", s, log, "failed", started=True) == []
    assert leaving_hints("rb.md", s, None, None, started=False) == []
