"""End to end in tmux (issue 25, items 3 and 4): the operator's watched wait fails while a
teammate follows with `swrun watch` in another pane. The watcher stops the countdown and says
who must decide ("waiting for erin: failure of step 1 'Hold'"); the operator skips with a
reason holding a secret, which neither pane nor any file shows (the log, its
output files, and the timeline in md, html, json and csv)."""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_tui_e2e import start

from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

SECRET = "hunter2-Zt4-secret"
BOOK = """
    +++
    [vars.DB_PASSWORD]
    secret = true
    default = "{secret}"
    +++
    # Watched

    ```wait {{name=hold title="Hold"}}
    wait 2m watch GET http://127.0.0.1:{port}/ expect 200 every 0.5s
    ```

    ```bash {{name=after}}
    echo after
    ```
    """


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_watch_during_a_failure_decision_and_a_secret_skip_reason(tmp_path: Path) -> None:
    port = _free_port()
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("ok\n")
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", str(site)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    write_runbook(tmp_path, BOOK.format(port=port, secret=SECRET))
    tmux = start(tmp_path, "--operator", "erin", size=(140, 60))
    watch_cmd = " ".join(shlex.quote(c) for c in [*swrun_cmd(), "watch", "run.toml"])
    watcher = tmux("split-window", "-v", "-P", "-F", "#{pane_id}", "-t", "tui", "-c",
                   str(tmp_path), f"while [ ! -f run.toml ]; do sleep 0.05; done; {watch_cmd}; "
                   "echo watch-exit=$? > watch-exit.txt").stdout.strip()
    operator = tmux("display", "-p", "-t", "tui:0.0", "#{pane_id}").stdout.strip()

    def pane(pane_id: str) -> str:
        return tmux("capture-pane", "-p", "-t", pane_id).stdout

    def wait_pane(pane_id: str, ok: Callable[[str], object], what: str,
                  limit: float = 30.0) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            screen = pane(pane_id)
            if ok(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{what}: not within {limit:g}s; the pane:\n{pane(pane_id)}")

    def flat(screen: str) -> str:
        return " ".join(screen.split())

    try:
        wait_pane(operator, lambda s: "Start the run" in s, "the variables form")
        tmux("send-keys", "-t", operator, "Enter")  # every variable has its default
        wait_pane(operator, lambda s: "r runs it" in s, "step 1 waits")
        tmux("send-keys", "-t", operator, "r")
        wait_pane(watcher, lambda s: "left of 2m00s" in s, "the watcher counts the wait down")
        server.terminate()  # the watched service goes away: the wait fails
        server.wait(10)
        wait_pane(operator, lambda s: "Step 1 failed" in s, "the failure dialog")
        seen = wait_pane(watcher, lambda s: "waiting for erin: failure of step 1 'Hold'"
                         in flat(s), "the watcher says who decides")
        assert "✗  1 Hold" in seen and "Tick" not in seen, seen
        seen = wait_pane(watcher, lambda s: "left of" not in s, "no countdown of a failed wait")
        time.sleep(0.7)  # the failure dialog takes no key in its first 0.6 s
        tmux("send-keys", "-t", operator, "s")
        wait_pane(operator, lambda s: "why?" in s, "the skip reason prompt")
        tmux("send-keys", "-t", operator, "-l", f"db password {SECRET} leaked")
        tmux("send-keys", "-t", operator, "Enter")
        wait_pane(operator, lambda s: "step 2" in s and "r runs it" in s, "step 2 waits")
        seen = wait_pane(watcher, lambda s: "↷  1 Hold" in s, "the skip shown")
        seen = wait_pane(watcher, lambda s: "db password **** leaked" in s,
                         "the reason, masked, in the watcher's activity")
        tmux("send-keys", "-t", operator, "r")
        wait_pane(operator, lambda s: "Run completed" in s or "Run failed" in s, "the end")
        shown = pane(operator) + seen
        tmux("send-keys", "-t", operator, "q")
        wait_pane(watcher, lambda s: "the run ended" in flat(s), "the watcher says it ended")
        tmux("send-keys", "-t", watcher, "q")
        deadline = time.monotonic() + 10
        while not (tmp_path / "watch-exit.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        tmux("kill-server", check=False)
        if server.poll() is None:
            server.kill()
            server.wait()
    assert SECRET not in shown
    events = read_log(tmp_path / "run.toml").events
    waits = [(e["step"], e["reason"]) for e in events if e["type"] == "operator_waiting"]
    assert ("hold", "failure") in waits
    (skip,) = [e for e in events if e["type"] == "step_skipped"]
    assert skip["note"] == "db password **** leaked" and skip["by"] == "erin"
    for fmt in ("md", "html", "json", "csv"):  # every timeline export has the reason, masked
        made = subprocess.run([*swrun_cmd(), "timeline", "run.toml", "-o", f"timeline.{fmt}"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        assert "db password **** leaked" in (tmp_path / f"timeline.{fmt}").read_text(), fmt
        assert SECRET not in made.stdout + made.stderr
    leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file() and p.name != "rb.md"
             and SECRET.encode() in p.read_bytes()]
    assert leaks == []
