"""Issue 24, item 5: headless gets past a command for a person (a manual step). `--done STEP`
records that the operator ran it (by the operator, noted `--done`); the stop message names it;
at a terminal swrun asks plainly "did you run it? [y/N]"."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from test_execute_tty import Terminal

from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook

BOOK = """
    # Manual

    ## Restart

    ```
    systemctl restart demo-web
    ```

    ```bash {name=after}
    touch after-ran
    ```
    """


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), "execute", "rb.md", *args], cwd=tmp,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def _tick(log: Path) -> dict[str, object]:
    (tick,) = [e for e in read_log(log).events if e["type"] == "check_ticked"]
    return tick


def test_done_gets_past_a_manual_step_and_is_logged(tmp_path: Path) -> None:
    write_runbook(tmp_path, BOOK)
    res = _run(tmp_path, "--log", "run.toml", "--operator", "dana", "--done", "1")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "after-ran").exists()
    tick = _tick(tmp_path / "run.toml")
    assert (tick["number"], tick["by"], tick["note"]) == (1, "dana", "--done")


def test_the_stop_names_done_and_the_pasted_hint_gets_past(tmp_path: Path) -> None:
    write_runbook(tmp_path, BOOK)
    first = _run(tmp_path, "--yes", "--log", "run.toml")
    assert first.returncode == 4
    assert "pass --done 1" in first.stderr
    assert not (tmp_path / "after-ran").exists()
    (line,) = [ln for ln in first.stderr.splitlines() if "headless" in ln]
    hint = shlex.split(line.rsplit("): ", 1)[1])
    assert hint == ["swrun", "execute", "rb.md", "--resume", "run.toml", "--yes", "--done",
                    "1"]
    again = _run(tmp_path, "--resume", "run.toml", "--yes")  # without it: the same stop
    assert again.returncode == 4 and "pass --done 1" in again.stderr
    done = subprocess.run([*swrun_cmd(), *hint[1:]], cwd=tmp_path, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "after-ran").exists()
    assert _tick(tmp_path / "run.toml")["note"] == "--done"
    assert read_log(tmp_path / "run.toml").events[-1]["status"] == "completed"


def test_done_names_a_check_that_exists(tmp_path: Path) -> None:
    write_runbook(tmp_path, BOOK)
    for ref, said in (("9", "--done 9: no such step"),
                      ("after", "--done after: step 2 'after' is run by swrun")):
        res = _run(tmp_path, "--yes", "--done", ref)
        assert res.returncode == 2, res.stderr
        assert said in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert not (tmp_path / "after-ran").exists() and not (tmp_path / "logs").exists()


def test_a_terminal_asks_did_you_run_it(tmp_path: Path) -> None:
    write_runbook(tmp_path, BOOK)
    term = Terminal([*swrun_cmd(), "execute", "rb.md", "--log", "run.toml", "--operator",
                     "dana"], tmp_path)
    try:
        term.expect("systemctl restart demo-web")
        term.expect("did you run it? [y/N]")
        term.type("y")
        term.expect("comment (enter for none)")
        term.type("restarted by hand")
        assert term.close() == 0, term.seen
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    tick = _tick(tmp_path / "run.toml")
    assert (tick["by"], tick["note"]) == ("dana", "restarted by hand")


def test_a_terminal_no_is_not_a_tick(tmp_path: Path) -> None:
    write_runbook(tmp_path, BOOK)
    term = Terminal([*swrun_cmd(), "execute", "rb.md", "--log", "run.toml"], tmp_path)
    try:
        term.expect("did you run it? [y/N]")
        term.type("")  # the default: no
        term.expect("skip it or stop the run")
        term.type("s")
        assert term.close() == 0, term.seen  # step 2 runs after the skip
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    events = read_log(tmp_path / "run.toml").events
    assert not [e for e in events if e["type"] == "check_ticked"]
    assert [e["number"] for e in events if e["type"] == "step_skipped"] == [1]
