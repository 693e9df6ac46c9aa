"""A step outlives its console: `kill -9` of swrun mid-step leaves the step running to its end
(its output goes to files, not to pipes swrun held), and the resume finds its real exit and
logs what it printed after swrun died, masked, in its sidecar. Real processes throughout."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from swrun.exitcodes import ExitCode
from swrun.parser import load_runbook
from swrun.runlog import read_log
from swrun.tui.start import ResumeOffer

from conftest import swrun_cmd
from helpers import write_runbook

SECRET = "s3cr3t-Value-0042"

RUNBOOK = """
    +++
    [vars.API_TOKEN]
    secret = true
    +++
    # Drill

    ```bash {{name=prep}}
    echo prepared
    ```

    ```bash {{name=migrate}}
    touch {d}/started
    for i in $(seq 1 12); do echo "tick $i"; echo "warn $i" >&2; sleep 0.25; done
    echo "token $API_TOKEN"
    echo "$SWRUN_STEP" >> {d}/finished
    ```

    ```bash {{name=after}}
    echo after >> {d}/finished
    ```
    """


def _wait_for(ok, what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not ok():
        assert time.monotonic() < deadline, f"{what}: not within {limit:g}s"
        time.sleep(0.02)


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)


def test_kill_9_mid_step_the_step_finishes_and_the_resume_logs_its_real_end(
        tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK.format(d=tmp_path), "rb.md")
    args = ["execute", "rb.md", "--yes", "--log", "run.toml", "--var", f"API_TOKEN={SECRET}"]
    proc = subprocess.Popen([*swrun_cmd(), *args], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    sidecar = tmp_path / "run.output" / "0002-migrate.log"
    try:
        _wait_for(lambda: sidecar.is_file() and "tick 2" in sidecar.read_text(),
                  "the step's first lines in the sidecar")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # swrun (and only swrun: the step has a session
        proc.wait(10)                         # of its own), as a closed terminal would
        assert proc.stdout is not None
        proc.stdout.close()
    finished = tmp_path / "finished"
    assert not finished.exists()

    # the offer, while it still runs: which step, and that it does
    rb = load_runbook(tmp_path / "rb.md")
    offer = ResumeOffer.of(rb, read_log(tmp_path / "run.toml"))
    assert "step 2 'migrate' was running when swrun stopped; it is still running (pid" \
        in offer.verdict()
    assert offer.done == {"prep"}

    # before the kill a step printing to a pipe swrun held died of SIGPIPE at its next line
    _wait_for(finished.exists, "the step's own end (its marker)")
    assert finished.read_text().split() == ["migrate"]
    # the marker is the block's last line; its shell then exits and writes its exit file
    _wait_for(lambda: "finished with exit 0 after swrun died" in ResumeOffer.of(
        rb, read_log(tmp_path / "run.toml")).verdict(), "the step's exit status")
    offer = ResumeOffer.of(rb, read_log(tmp_path / "run.toml"))
    verdict = offer.verdict()
    assert "step 2 'migrate' was running when swrun stopped; it finished with exit 0 after " \
        "swrun died" in verdict, verdict
    assert "2 of 3 steps count as done; resuming continues at step 3 (after)" in verdict
    assert any("finished with exit 0 after swrun died" in line for line in offer.activity())

    res = _cli(["execute", "rb.md", "--yes", "--resume", "run.toml",
                "--var", f"API_TOKEN={SECRET}"], tmp_path)
    assert res.returncode == ExitCode.OK, res.stderr
    assert "swrun: step 2 'migrate' was running when swrun stopped; it finished with exit 0 " \
        "after swrun died" in res.stderr
    assert "tick 12" in res.stdout and "token ****" in res.stdout  # shown, masked
    assert finished.read_text().split() == ["migrate", "after"]  # it ran once; then step 3

    log = read_log(tmp_path / "run.toml")
    settled = [e for e in log.events if e.get("leftover")]
    assert len(settled) == 1
    fin = settled[0]
    assert (fin["step"], fin["status"], fin["exit_code"], fin["leftover"]) == (
        "migrate", "ok", 0, "finished")
    assert "token ****" in fin["output"] and "warn 12" in fin["output"]
    data = sidecar.read_bytes()
    assert fin["output_file"] == "run.output/0002-migrate.log"
    assert fin["output_sha256"] == hashlib.sha256(data).hexdigest()
    assert fin["output_bytes"] == len(data)
    text = data.decode()
    for i in range(1, 13):  # every line, once: those before the kill and those after
        assert text.count(f" stdout tick {i}\n") == 1, text
        assert text.count(f" stderr warn {i}\n") == 1, text
    assert " stdout token ****\n" in text
    assert log.status == "completed" and log.events[-1]["counts"] == {"ok": 3}
    # the raw files held the output unmasked: gone once the resume logged it
    assert not any((tmp_path / "run.run" / "out").iterdir())
    assert not any((tmp_path / "run.run" / "exit").iterdir())
    state = tmp_path / "run.run" / "state"  # the carried shell state: issue 22 item 5
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "rb.md" and state not in path.parents:
            assert SECRET.encode() not in path.read_bytes(), path


def test_a_step_that_fails_after_swrun_died_is_logged_with_its_own_exit(
        tmp_path: Path) -> None:
    write_runbook(tmp_path, f"""
        # Fails later

        ```bash {{name=late}}
        touch {tmp_path}/started
        sleep 0.5
        echo "about to fail"
        exit 7
        ```
        """, "rb.md")
    proc = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml"],
                            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for((tmp_path / "started").exists, "the step's start")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
    _wait_for(lambda: any((tmp_path / "run.run" / "exit").glob("*.status")),
              "the step's exit status")  # its leader writes it when the step ends
    res = _cli(["execute", "rb.md", "--yes", "--resume", "run.toml"], tmp_path)
    assert "step 1 'late' was running when swrun stopped; it finished with exit 7 after " \
        "swrun died" in res.stderr
    fin = next(e for e in read_log(tmp_path / "run.toml").events if e.get("leftover"))
    assert (fin["status"], fin["exit_code"], fin["leftover"]) == ("failed", 7, "finished")
    assert fin["output"] == ["about to fail"]


CONSOLE = """
    # Console drill

    ```bash {{name=migrate}}
    for i in $(seq 1 12); do echo "tick $i"; sleep 0.25; done
    echo migrate >> {d}/finished
    ```

    ```bash {{name=after}}
    echo after >> {d}/finished
    ```
    """


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_the_console_lost_mid_step_the_step_finishes_and_the_offer_says_so(
        tmp_path: Path) -> None:
    """`swrun run` in tmux; its terminal goes away mid-step (the tmux server is killed: the
    console gets SIGHUP, as from a dropped SSH session to the bastion). The step runs on;
    the console opened again offers to resume, naming the step and how it ended."""
    from test_tui_e2e import start  # the tmux driver of the console tests

    write_runbook(tmp_path, CONSOLE.format(d=tmp_path), "rb.md")
    finished = tmp_path / "finished"
    tmux = start(tmp_path, log=None)
    try:
        tmux.wait_for("r runs it")
        tmux.keys("r")
        _wait_for(lambda: any("tick 2" in p.read_text()
                              for p in tmp_path.glob("logs/rb/*.output/*.log")),
                  "the step's first lines in the sidecar")
    finally:
        tmux("kill-server", check=False)
    assert not finished.exists()
    _wait_for(finished.exists, "the step's own end (its marker)")
    tmux = start(tmp_path, log=None, size=(120, 40))
    try:
        screen = tmux.wait_for("Resume at step 2")
        text = " ".join(screen.replace("█", " ").split())
        assert "step 1 'migrate' was running when swrun stopped; it finished with exit 0 " \
            "after swrun died" in text, screen
        assert "1 of 2 steps count as done; resuming continues at step 2 (after)" in text
        tmux.keys("r")
        tmux.wait_for("step 2: after — r runs it")
        tmux.keys("r")
        tmux.wait_for("Run completed")
        tmux.keys("q")
        tmux.wait_gone()
    finally:
        tmux("kill-server", check=False)
    assert finished.read_text().split() == ["migrate", "after"]
    (log,) = tmp_path.glob("logs/rb/*.toml")
    settled = [e for e in read_log(log).events if e.get("leftover")]
    assert [(e["step"], e["status"], e["exit_code"]) for e in settled] == [("migrate", "ok", 0)]
    (side,) = tmp_path.glob("logs/rb/*.output/0001-migrate.log")
    assert all(f" stdout tick {i}\n" in side.read_text() for i in range(1, 13))


def test_a_resume_removes_stale_raw_output_and_block_files(tmp_path: Path) -> None:
    """A swrun killed between starting a step and logging it leaves the step at its gate
    (it then runs nothing) with its raw output files and its block file behind."""
    write_runbook(tmp_path, """
        # Stale

        ```bash {name=one}
        test -e go
        ```
        """, "rb.md")
    res = _cli(["execute", "rb.md", "--yes", "--log", "run.toml"], tmp_path)
    assert res.returncode == 1
    run = tmp_path / "run.run"
    stale = [run / "out" / "0123456789abcdef.stdout", run / "out" / "0123456789abcdef.pos",
             run / "swrun-body-x1y2z3.step"]
    for path in stale:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.write_text("echo unmasked-output\n")
    (tmp_path / "go").touch()
    res = _cli(["execute", "rb.md", "--yes", "--resume", "run.toml"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert [p for p in stale if p.exists()] == []
