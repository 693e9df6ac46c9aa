"""End to end in tmux (issue 25): `r` and space sent together tick nothing nobody saw, and
ctrl+q / ctrl+c in the middle of a step ask before anything stops."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_tui_e2e import start, status_line, tree_icons

from swrun.runlog import read_log

from helpers import write_runbook

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

R_THEN_CHECK = """
    # Quick release

    ## Work

    - [ ] Tell #ops

    ```bash {name=go}
    echo went
    ```

    - [ ] Look at the dashboard after go
    """

LONG_STEP = """
    # Long step

    ## Work

    ```bash {name=slow}
    echo started; sleep 20; echo finished
    ```
    """


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_r_and_space_together_tick_nothing_nobody_saw(tmp_path: Path,
                                                      size: tuple[int, int]) -> None:
    write_runbook(tmp_path, R_THEN_CHECK)
    tmux = start(tmp_path, "--operator", "erin", size=size)
    try:
        tmux.wait_for("space ticks")  # check 1, its keys named once they work
        tmux.keys("Space")
        tmux.wait_for("r runs it")
        tmux.keys("r", "Space")  # one write to the terminal: r, then the space
        screen = tmux.wait_for("☐ check 3")
        assert tree_icons(screen)[3] == "▶", screen
        assert "☑" not in "".join(line for line in screen.splitlines() if " 3 Look" in line)
        ticked = [e["number"] for e in read_log(tmp_path / "run.toml").events
                  if e["type"] == "check_ticked"]
        assert ticked == [1], screen
        tmux.keys("Space")  # read now: this one ticks it
        tmux.wait_for("Run completed")
        tmux.keys("q")
        tmux.wait_gone()
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit.txt").read_text().strip() == "exit=0"
    events = read_log(tmp_path / "run.toml").events
    assert [e["number"] for e in events if e["type"] == "check_ticked"] == [1, 3]
    assert [e["status"] for e in events if e["type"] == "step_finished"] == ["ok"]


def test_ctrl_q_mid_step_asks_then_ctrl_c_quits_with_130(tmp_path: Path) -> None:
    """ctrl+q once exited 0 at once mid-step (the log said aborted); ctrl+c showed
    `Press [b]ctrl+q[/b] to quit` and the step went on."""
    write_runbook(tmp_path, LONG_STEP)
    tmux = start(tmp_path, "--operator", "erin", size=(80, 24))
    try:
        tmux.wait_for("r runs it")
        tmux.keys("r")
        tmux.wait_until(lambda s: status_line(s).startswith("⟳ running step 1"), "running")
        tmux.keys("C-q")
        screen = tmux.wait_for("abort it and quit?")
        tmux.keys("n")
        screen = tmux.wait_until(lambda s: "abort it and quit?" not in s, "the dialog closed")
        assert tmux.alive() and "running step 1" in status_line(screen), screen
        tmux.keys("C-c")
        screen = tmux.wait_for("abort it and quit?")
        assert "[b]" not in screen
        tmux.keys("y")
        tmux.wait_gone(limit=15)
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit.txt").read_text().strip() == "exit=130"
    events = read_log(tmp_path / "run.toml").events
    finished = [e for e in events if e["type"] == "run_finished"]
    assert finished and finished[0]["status"] == "aborted"
    assert [e["status"] for e in events if e["type"] == "step_finished"] == ["aborted"]
