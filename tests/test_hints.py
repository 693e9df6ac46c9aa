"""Every hint swrun prints works when pasted (issue 25, item 8): a headless run stopped at a
check, a gate or a command for a person says how to go on, and running what it says gets
past the stop (never the same stop again)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from test_evidence import cli, gated, keys, quiet_env
from test_execute_tty import Terminal

from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook

pytestmark = pytest.mark.slow
__all__ = ["keys", "quiet_env"]

BOOK = """
    +++
    environment = "{env}"
    +++
    # Hinted

    - [ ] Tell the team

    ```bash {{name=drop destructive}}
    echo dropped
    ```

    1. Restart by hand: `systemctl restart web`
    """


def _run(tmp_path: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)


def _hints(stderr: str) -> dict[str, list[str]]:
    """`at a terminal` / `headless` → the command as argv, with this tree's swrun."""
    out = {}
    for line in stderr.splitlines():
        if "swrun execute" in line and ("resume at a terminal" in line or "headless" in line):
            words = shlex.split(line.split(": ", 2)[-1] if "headless" not in line
                                else line.rsplit("): ", 1)[1])
            assert words[0] == "swrun"
            out["headless" if "headless" in line else "terminal"] = [*swrun_cmd(), *words[1:]]
    return out


def _stops(log: Path) -> list[str]:
    return [e.get("note", "") for e in read_log(log).events if e["type"] == "run_finished"]


@pytest.mark.parametrize("env", ["staging", "production"])
def test_each_resume_hint_gets_past_the_stop_when_pasted(tmp_path: Path, env: str) -> None:
    write_runbook(tmp_path, BOOK.format(env=env))
    confirm = ["--confirm-environment", env] if env == "production" else []
    first = _run(tmp_path, [*swrun_cmd(), "execute", "rb.md", "--log", "run.toml", *confirm])
    assert first.returncode == 4, first.stderr
    assert "check 1 needs an operator" in first.stderr
    hints = _hints(first.stderr)
    assert set(hints) == {"terminal", "headless"}, first.stderr
    assert "{run}" not in first.stderr
    # the headless hint ticks the check and passes the gate: it stops at the next thing only
    # a person can do, never at the same check
    second = _run(tmp_path, hints["headless"])
    assert second.returncode == 4, second.stderr
    assert "check 1" not in second.stderr
    assert "step 3 is a command for a person (list item)" in second.stderr, second.stderr
    assert "{run}" not in second.stderr  # a list item has no block to mark
    assert (tmp_path / "run.toml").exists()
    hints = _hints(second.stderr)
    assert set(hints) == {"terminal", "headless"}, second.stderr
    # issue 24: a person ran it; `--done 3` says so, and the pasted hint gets past it
    assert hints["headless"][-2:] == ["--done", "3"], second.stderr
    third = _run(tmp_path, hints["headless"])
    assert third.returncode == 0, third.stderr
    events = read_log(tmp_path / "run.toml").events
    (tick,) = [e for e in events if e["type"] == "check_ticked" and e["number"] == 3]
    assert tick["note"] == "--done" and tick["by"] != "auto"
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "completed"
    assert len(_stops(tmp_path / "run.toml")) == 3


def test_the_approval_hint_names_the_runbook_and_works_at_a_terminal(
        tmp_path: Path, keys: Path, quiet_env: None) -> None:
    """`swrun approve … --output FILE` says how to hand FILE to the run: the command names
    the runbook (it said `swrun execute … --resume`), and pasted at a terminal it runs the
    approved step."""
    work = gated(tmp_path, keys)
    alice = str(keys / "alice")
    first = cli(["execute", "rb.md", "--yes", "--confirm-environment", "production",
                 "--sign-with", alice, "--log", "run.toml"], work)
    assert first.returncode == 4, first.stderr
    assert f"--sign-with {alice}" in first.stderr  # the operator's resume hint keeps it
    res = cli(["approve", "run.toml", "2", "--sign-with", str(keys / "bob"), "--yes",
               "--output", "bob.approval"], work)
    assert res.returncode == 0, res.stderr
    said = res.stderr.split("pass it to the run: ", 1)[1].rsplit(")", 1)[0]
    assert said == ("swrun execute rb.md --resume run.toml --confirm-environment production "
                    f"--sign-with {alice} --approval bob.approval"), said
    term = Terminal([*swrun_cmd(), *shlex.split(said)[1:]], work)
    try:
        term.expect("Type the environment name")
        term.type("production")
        assert term.close() == 0, term.seen
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    events = read_log(work / "run.toml").events
    assert [e["by"] for e in events if e["type"] == "approval"] == ["bob@example.com"]
    assert events[-1]["status"] == "completed"


def test_the_interrupted_hint_keeps_the_run_s_options_and_works_pasted(
        tmp_path: Path) -> None:
    import os

    (tmp_path / "inv.ini").write_text("[web]\nweb1 ansible_host=127.0.0.1\n")
    write_runbook(tmp_path, "# Two\n\n- [ ] First\n\n```bash {name=a}\necho a\n```\n")
    term = Terminal([*swrun_cmd(), "execute", "rb.md", "--log", "run.toml", "--inventory",
                     "inv.ini"], tmp_path)
    try:
        term.expect("First — done")
        os.write(term.master, b"\x03")
        assert term.close() == 130, term.seen
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    said = term.seen.split("resume with: ", 1)[1].splitlines()[0].strip()
    assert said == "swrun execute rb.md --resume run.toml --inventory inv.ini", said
    again = Terminal([*swrun_cmd(), *shlex.split(said)[1:]], tmp_path)
    try:
        again.expect("First — done")
        again.type("y")
        again.expect("comment (enter for none)")
        again.type("")
        assert again.close() == 0, again.seen
    finally:
        if again.proc.poll() is None:
            again.proc.kill()
    assert read_log(tmp_path / "run.toml").events[-1]["status"] == "completed"
