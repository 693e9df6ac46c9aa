"""`swrun execute` at its edges, as real subprocesses: a stdout that fails (`> /dev/full`) and a
^C while the command starts. Each ends with one line on stderr, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook

RUNBOOK = """
    # Two steps

    ```bash {name=one}
    echo one > one.txt
    ```

    ```bash {name=two}
    seq 1 5000
    echo two > two.txt
    ```
    """


@pytest.mark.parametrize("fmt", [[], ["--json"]])
def test_stdout_on_a_full_device_is_one_line_and_the_run_and_log_end(
        tmp_path: Path, fmt: list[str]) -> None:
    write_runbook(tmp_path, RUNBOOK)
    with open("/dev/full", "w") as full:
        res = subprocess.run([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml",
                              *fmt], cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=full,
                             stderr=subprocess.PIPE, text=True, timeout=60)
    assert "Traceback" not in res.stderr and "Exception ignored" not in res.stderr, res.stderr
    said = [ln for ln in res.stderr.splitlines() if "standard output" in ln]
    assert said == ["swrun: warning: cannot write to standard output (No space left on "
                    "device); the run goes on, and its log keeps everything"]
    assert res.returncode == 0
    assert (tmp_path / "two.txt").read_text() == "two\n"
    log = read_log(tmp_path / "run.toml")
    assert log.finished and log.status == "completed"
    assert log.events[-1]["counts"] == {"ok": 2}
    assert "5000" in (tmp_path / "run.output" / "0002-two.log").read_text()


_HARNESS = """
    import os, signal, sys
    sys.argv = ["swrun", "execute", "rb.md", "--yes"]  # as the console script has it
    def hit(frame, event, arg):  # ^C at one chosen moment of start-up
        if event == "call" and {where}:
            sys.setprofile(None)
            os.kill(os.getpid(), signal.SIGINT)
    sys.setprofile(hit)
    from swrun.cli import main
    main()
    """


@pytest.mark.parametrize("where", [
    # swrun.cli starts to run (before its own first line): swrun/__init__ holds ^C
    'frame.f_code.co_name == "<module>" and frame.f_code.co_filename.endswith("cli.py")',
    # the commands being built at import, after swrun.cli's imports
    'frame.f_code.co_name == "version_option"',
    # options being parsed
    'frame.f_code.co_name == "parse_args"',
    # a class being made as the command imports what it runs: an exception raised in
    # __set_name__ comes out as a RuntimeError caused by it
    'frame.f_code.co_name == "__set_name__" and '
    'frame.f_code.co_filename.endswith("dataclasses.py")',
])
def test_ctrl_c_while_the_command_starts_is_one_line_and_exit_130(
        tmp_path: Path, where: str) -> None:
    write_runbook(tmp_path, RUNBOOK)
    code = textwrap.dedent(_HARNESS).format(where=where)
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert res.stderr == "swrun: interrupted\n", res.stderr
    assert res.returncode == 130
    assert not (tmp_path / "one.txt").exists() and not (tmp_path / "logs").exists()
