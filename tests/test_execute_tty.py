"""`swrun execute` at a real terminal (a pty): it asks, shows what a step will run, and logs
the person's answers; nothing is ticked by `auto`."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time
from pathlib import Path

import pytest

from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook

pytestmark = pytest.mark.slow

RUNBOOK = """
    +++
    environment = "production"
    [vars.SLOT]
    default = "green"
    [vars.TOKEN]
    secret = true
    default = "tok-987-secret"
    +++
    # Shift

    - [ ] Change ticket approved

    ```bash {name=shift title="Shift traffic" confirm}
    echo "shift to $SLOT with $TOKEN" > shifted.txt
    ```

    ```bash {name=promote destructive hosts=nowhere}
    echo never
    ```

    ```bash {name=break}
    exit 5
    ```
    """


def _controlling_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty, so ^C is SIGINT."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A child process on a pty: read what it prints, type answers."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        env = {**os.environ, "TERM": "dumb"}
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                                     env=env, preexec_fn=_controlling_terminal)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, limit: float = 20.0) -> str:
        deadline = time.monotonic() + limit
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} never appeared; the terminal:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    self.seen += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:  # the child closed the terminal
                    break
        if text not in self.seen:
            raise AssertionError(f"{text!r} never appeared; the terminal:\n{self.seen}")
        return self.seen

    def _drain(self) -> None:
        while select.select([self.master], [], [], 0.1)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.seen += chunk.decode("utf-8", "replace")

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def close(self) -> int:
        try:
            rc = self.proc.wait(timeout=20)
            self._drain()
            return rc
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


def test_execute_asks_at_a_terminal_and_logs_the_answers(tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK)
    term = Terminal([*swrun_cmd(), "execute", "rb.md", "--log", "run.toml",
                     "--operator", "dana"], tmp_path)
    try:
        term.expect("Change ticket approved — done")
        term.type("y")
        term.expect("comment (enter for none)")
        term.type("CHG-1234")
        # the confirmation shows the command with the variables filled in, the secret masked
        shown = term.expect("Shift traffic — run it")
        assert 'echo "shift to green with ****" > shifted.txt' in shown
        term.type("c")
        # production + destructive: the environment name must be typed; anything else skips
        term.expect("Type the environment name")
        assert "on nowhere" in term.seen
        term.type("prod")
        term.expect("failed — what now")
        term.type("s")
        rc = term.close()
    except BaseException:
        term.proc.kill()
        raise
    assert "tok-987-secret" not in term.seen
    assert rc == 1, term.seen  # a step failed, even though the operator went on past it
    assert (tmp_path / "shifted.txt").read_text() == "shift to green with tok-987-secret\n"
    events = read_log(tmp_path / "run.toml").events
    (tick,) = [e for e in events if e["type"] == "check_ticked"]
    assert tick["by"] == "dana" and tick["note"] == "CHG-1234"
    skipped = {e["step"]: e for e in events if e["type"] == "step_skipped"}
    assert skipped["promote"]["note"] == "environment name not confirmed"
    assert skipped["break"]["by"] == "dana"
    ran = [e["step"] for e in events if e["type"] == "step_finished"]
    assert ran == ["shift", "break"]
    assert not any(e.get("by") == "auto" for e in events)


def test_ctrl_c_at_a_prompt_leaves_a_resumable_log(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        # C

        - [ ] first

        ```bash {name=mark}
        touch marked
        ```
        """)
    term = Terminal([*swrun_cmd(), "execute", "rb.md", "--log", "run.toml"], tmp_path)
    try:
        term.expect("first — done")
        os.write(term.master, b"\x03")  # ^C: the pty is the controlling terminal
        rc = term.close()
    except BaseException:
        term.proc.kill()
        raise
    assert rc == 130, term.seen
    assert "resume with: swrun execute rb.md --resume run.toml" in term.seen
    log = read_log(tmp_path / "run.toml")
    assert not any(e["type"] == "run_finished" for e in log.events)  # resumable
    assert not (tmp_path / "marked").exists()
    term = Terminal([*swrun_cmd(), "execute", "rb.md", "--resume", "run.toml", "--yes"], tmp_path)
    assert term.close() == 0, term.seen
    assert (tmp_path / "marked").exists()
