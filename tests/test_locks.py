"""Nothing runs twice: the run log's lock is taken before a resume asks anything, one runbook
is run by one swrun at a time (unless --concurrent), and a step still running after swrun
died is found, waited for or stopped before a resume starts it again. Real processes, real
timing windows."""

from __future__ import annotations

import fcntl
import getpass
import os
import pty
import select
import signal
import subprocess
import termios
import time
from pathlib import Path

import pytest

from swrun.exitcodes import ExitCode
from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook


def run_cli(args: list[str], cwd: Path, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _controlling_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A child on a pty: read what it prints, type answers."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                     env={**os.environ, "TERM": "dumb"},
                                     preexec_fn=_controlling_terminal)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, limit: float = 20.0) -> None:
        deadline = time.monotonic() + limit
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared; the terminal:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    self.seen += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:
                    break
        assert text in self.seen, f"{text!r} never appeared; the terminal:\n{self.seen}"

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, limit: float = 30.0) -> int:
        deadline = time.monotonic() + limit
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:
                    break
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


# -- item 1: the lock comes before the prompt -----------------------------------------------

PROMPTED = """
    +++
    [vars.TOKEN]
    secret = true
    +++
    # Two resumes

    ```bash {{name=first}}
    echo first >> {d}/runs
    ```

    ```bash {{name=second}}
    test -e {d}/go || exit 3
    echo second >> {d}/runs
    ```
    """


def test_a_resume_waiting_at_a_prompt_holds_the_log(tmp_path: Path) -> None:
    """One resume sits at the secret prompt; a second with --yes is refused (exit 5) instead
    of running the remaining steps beside it."""
    write_runbook(tmp_path, PROMPTED.format(d=tmp_path), "rb.md")
    res = run_cli(["execute", "rb.md", "--yes", "--var", "TOKEN=t", "--log", "run.toml"],
                  tmp_path)
    assert res.returncode == ExitCode.STEP_FAILED, res.stderr
    (tmp_path / "go").touch()
    waiting = Terminal([*swrun_cmd(), "execute", "rb.md", "--resume", "run.toml",
                        "--concurrent"], tmp_path)
    try:
        waiting.expect("TOKEN")
        other = run_cli(["execute", "rb.md", "--yes", "--var", "TOKEN=u", "--resume",
                         "run.toml", "--concurrent"], tmp_path)
        assert other.returncode == ExitCode.LOG_LOCKED, other.stdout + other.stderr
        said = other.stderr.strip().splitlines()  # --concurrent passes the runbook's lock:
        assert "--concurrent: running it anyway" in said[0]  # the log's is what refuses
        assert said[1:] == [f"swrun: run.toml is in use by another swrun (pid "
                            f"{waiting.proc.pid}); wait for it to end or stop it before "
                            "resuming"]
        waiting.type("t\n")
        assert waiting.finish() == 0, waiting.seen
    finally:
        waiting.close()
    assert (tmp_path / "runs").read_text().split() == ["first", "second"]
    ends = [e for e in read_log(tmp_path / "run.toml").events
            if e["type"] == "step_finished" and e["step"] == "second"]
    assert [e["status"] for e in ends] == ["failed", "ok"]


# -- item 2: a step still running after swrun died -----------------------------------------

LONG = """
    # Leftover

    ```bash {{name=first}}
    echo first >> {d}/runs
    ```

    ```bash {{name=long}}
    echo $$ > {d}/long.pid
    if [ ! -e {d}/quick ]; then sleep {sleep}; fi
    echo long >> {d}/runs
    ```

    ```bash {{name=last}}
    echo last >> {d}/runs
    ```
    """


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _start_and_kill_swrun(tmp_path: Path, sleep: float) -> int:
    """Start a run, SIGKILL swrun alone (not its step) once `long` runs; the step's pid."""
    write_runbook(tmp_path, LONG.format(d=tmp_path, sleep=sleep), "rb.md")
    proc = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml"],
                            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_for(tmp_path / "long.pid")
        while not (tmp_path / "long.pid").read_text().strip():
            time.sleep(0.01)
    finally:
        proc.kill()  # swrun only: the step's process group lives on
        proc.wait(10)
    return int((tmp_path / "long.pid").read_text())


def test_a_step_still_running_after_swrun_died_is_not_started_again(tmp_path: Path) -> None:
    pid = _start_and_kill_swrun(tmp_path, 3)
    try:
        assert _alive(pid)
        res = run_cli(["execute", "rb.md", "--yes", "--resume", "run.toml"], tmp_path)
        assert res.returncode == ExitCode.LEFTOVERS, res.stdout + res.stderr
        said = res.stderr.strip().splitlines()
        assert len(said) == 1 and "Traceback" not in res.stderr, said
        assert said[0].startswith("swrun: run.toml: step 2 'long' (pid ")
        assert "is still running from the run that died" in said[0]
        assert "--stop-leftovers" in said[0]
        assert _alive(pid)  # refused: nothing stopped, nothing started
        started = [e for e in read_log(tmp_path / "run.toml").events
                   if e["type"] == "step_started" and e["step"] == "long"]
        assert len(started) == 1 and started[0]["pgid"] == started[0]["pid"]
        assert started[0]["pid_start"] > 0 and started[0]["boot_id"]

        (tmp_path / "quick").touch()  # the copy run after the stop need not wait
        res = run_cli(["execute", "rb.md", "--yes", "--resume", "run.toml",
                       "--stop-leftovers"], tmp_path)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "stopping step 2 'long'" in res.stderr
        assert not _alive(pid)
    finally:
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    # the stopped copy never reached its end; the resume ran it once, whole
    assert (tmp_path / "runs").read_text().split() == ["first", "long", "last"]
    ends = [e for e in read_log(tmp_path / "run.toml").events
            if e["type"] == "step_finished" and e["step"] == "long"]
    # its leader outlived the TERM and wrote the command's own end: 143 (killed by TERM);
    # (it used to die of SIGPIPE with swrun's pipe, leaving no exit status: "aborted")
    assert [(e["status"], e.get("leftover"), e.get("exit_code")) for e in ends] == [
        ("failed", "stopped", 143), ("ok", None, 0)]
    assert "ended as the resume stopped it" in ends[0]["note"]


def test_a_step_that_ended_after_swrun_died_counts_once(tmp_path: Path) -> None:
    """It finished on its own while nobody watched: its exit status was kept, the resume
    logs its end, and it does not run a second time."""
    pid = _start_and_kill_swrun(tmp_path, 0.3)
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    res = run_cli(["execute", "rb.md", "--yes", "--resume", "run.toml"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "runs").read_text().split() == ["first", "long", "last"]
    log = read_log(tmp_path / "run.toml")
    ends = [e for e in log.events if e["type"] == "step_finished" and e["step"] == "long"]
    assert [(e["status"], e.get("leftover"), e.get("exit_code")) for e in ends] == [
        ("ok", "finished", 0)]
    assert log.events[-1]["counts"] == {"ok": 3}
    assert not list((tmp_path / "run.run" / "exit").iterdir())  # each used and removed


# -- item 3: one swrun per runbook ------------------------------------------------------------

HOLD = """
    # Hold

    ```bash {{name=hold}}
    echo $$ > {d}/hold.pid
    touch {d}/holding
    sleep 30
    ```
    """


def test_a_second_run_of_the_same_runbook_is_refused_with_who_holds_it(tmp_path: Path) -> None:
    write_runbook(tmp_path, HOLD.format(d=tmp_path), "rb.md")
    first = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--operator",
                              "alice@bastion"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(tmp_path / "holding")
        (tmp_path / "holding").unlink()
        log = next((tmp_path / "logs" / "rb").glob("*.toml"))
        res = run_cli(["execute", "rb.md", "--yes", "--operator", "bob@bastion"], tmp_path)
        assert res.returncode == ExitCode.LOG_LOCKED, res.stdout + res.stderr
        said = res.stderr.strip().splitlines()
        assert len(said) == 1, said
        run_id = read_log(log).run["id"]
        assert said[0].startswith(f"swrun: rb.md is already being run by alice@bastion (user "
                                  f"{getpass.getuser()}, pid {first.pid}, run {run_id}, "
                                  "since 20")
        assert f"log {log})" in said[0] and "--concurrent" in said[0]
        assert not (tmp_path / "holding").exists()  # nothing ran
        # a resume of another log of the runbook is refused the same way
        res = run_cli(["execute", "rb.md", "--yes", "--resume", str(log)], tmp_path)
        assert res.returncode == ExitCode.LOG_LOCKED
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(15) == ExitCode.INTERRUPTED


def test_concurrent_runs_anyway_and_a_dead_holder_never_blocks(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        # Quick

        ```bash {name=mark}
        echo mark >> marks
        ```
        """, "rb.md")
    write_runbook(tmp_path, HOLD.format(d=tmp_path), "hold.md")
    # the holder is SIGKILLed: its registry files stay, but the lock is gone
    first = subprocess.Popen([*swrun_cmd(), "execute", "hold.md", "--yes"], cwd=tmp_path,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(tmp_path / "holding")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    step = int((tmp_path / "hold.pid").read_text())  # left running: not this test's subject
    os.killpg(os.getpgid(step), signal.SIGKILL)
    registry = Path(os.environ["SWRUN_REGISTRY"])
    stale = list(registry.glob(f"*.{os.getuid()}.{first.pid}.*.toml"))
    assert len(stale) == 1 and f"pid = {first.pid}" in stale[0].read_text()
    res = run_cli(["execute", "hold.md", "--yes", "--dry-run"], tmp_path)
    assert res.returncode == 0, res.stderr  # a dry run takes no lock either way
    (tmp_path / "holding").unlink()
    second = subprocess.Popen([*swrun_cmd(), "execute", "hold.md", "--yes"], cwd=tmp_path,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(tmp_path / "holding")  # the stale lock did not block
        (entry,) = registry.glob(f"*.{os.getuid()}.{second.pid}.*.toml")
        assert f"pid = {second.pid}" in entry.read_text()
        assert 'step = "hold"' in entry.read_text()
        assert not stale[0].exists()  # the dead run's entry was cleaned up
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(15) == ExitCode.INTERRUPTED
    assert not list(registry.glob(f"*.{second.pid}.*"))  # released: it goes with the run
    # --concurrent runs beside a holder, and says so
    holder = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "h.toml"],
                              cwd=tmp_path, stdin=subprocess.DEVNULL)
    holder.wait(30)
    from swrun.registry import RunbookLock

    lock, warning = RunbookLock.acquire(tmp_path / "rb.md", {"operator": "carol@x",
                                                             "pid": os.getpid()})
    assert lock is not None and warning is None
    try:
        res = run_cli(["execute", "rb.md", "--yes"], tmp_path)
        assert res.returncode == ExitCode.LOG_LOCKED and "carol@x" in res.stderr
        res = run_cli(["execute", "rb.md", "--yes", "--concurrent"], tmp_path)
        assert res.returncode == 0, res.stderr
        assert "rb.md is also being run by carol@x" in res.stderr
    finally:
        lock.release()
    assert (tmp_path / "marks").read_text().split() == ["mark", "mark"]


# -- the console: the same locks and a leftover dialog whose default starts nothing --------


async def test_the_console_asks_about_a_leftover_and_enter_starts_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_tui_support import until

    from swrun.parser import load_runbook
    from swrun.tui.app import SwrunApp, TuiSettings
    from swrun.tui.screens import ConfirmScreen

    pid = _start_and_kill_swrun(tmp_path, 20)
    monkeypatch.chdir(tmp_path)
    try:
        before = (tmp_path / "run.toml").read_bytes()
        app = SwrunApp(load_runbook("rb.md"), settings=TuiSettings(
            operator="dave", resume="run.toml", logs_base=tmp_path / "logs"))
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
            assert "step 2 'long'" in app.screen.title_text
            assert "still running" in app.screen.title_text
            await pilot.press("enter")  # No focused: do not start
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen)
                        and app.screen.title_text.startswith("Stop"), "stop it?")
            await pilot.press("enter")
            await until(pilot, lambda: app.error is not None, "the refusal")
        assert app.return_code == ExitCode.LEFTOVERS
        assert "nothing ran" in (app.error or "")
        assert _alive(pid)  # neither stopped nor started again
        assert (tmp_path / "run.toml").read_bytes() == before
        # the log and the runbook were given up: a headless resume can stop it now
        (tmp_path / "quick").touch()
        res = run_cli(["execute", "rb.md", "--yes", "--resume", "run.toml",
                       "--stop-leftovers"], tmp_path)
        assert res.returncode == 0, res.stderr
        assert not _alive(pid)
    finally:
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    assert (tmp_path / "runs").read_text().split() == ["first", "long", "last"]
