"""The local shell executor against real processes: streaming, exit codes, timeouts, abort."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from swrun.events import StepStatus
from swrun.executors.base import Idle, Output, StepContext, StepResult
from swrun.executors.shell import ShellExecutor
from swrun.parser import load_runbook

from helpers import write_runbook


def _step(tmp_path: Path, block: str, info: str = "bash"):
    rb = load_runbook(write_runbook(tmp_path, f"# T\n\n```{info}\n{block}\n```\n"))
    return rb, rb.steps[0]


def _ctx(rb, env=None, timeout=None, cancel=None, grace=1.0) -> StepContext:
    return StepContext(runbook=rb, variables={}, env={**os.environ, **(env or {})},
                       cancel=cancel or threading.Event(), timeout=timeout, kill_grace=grace)


def _collect(items) -> tuple[list[Output], StepResult]:
    outs: list[Output] = []
    result = None
    for item in items:
        if isinstance(item, Output):
            outs.append(item)
        elif isinstance(item, StepResult):
            result = item
    assert result is not None
    return outs, result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_lines_stream_while_the_process_runs(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    rb, step = _step(tmp_path, f"echo first\nwhile [ ! -e {gate} ]; do sleep 0.02; done\n"
                     "echo second")
    items = ShellExecutor().run(step, _ctx(rb, timeout=20))
    first = next(i for i in items if not isinstance(i, Idle))  # Idle: a heartbeat
    assert isinstance(first, Output) and first.line == "first"
    gate.touch()  # the process can only finish after we saw its first line
    outs, result = _collect(items)
    assert [o.line for o in outs] == ["second"]
    assert result.status is StepStatus.OK and result.exit_code == 0


def test_stdout_and_stderr_in_order_with_timestamps(tmp_path: Path) -> None:
    rb, step = _step(tmp_path, "echo out1\nsleep 0.05\necho err1 >&2\nsleep 0.05\n"
                     "printf 'no newline'")
    outs, result = _collect(ShellExecutor().run(step, _ctx(rb)))
    assert [(o.stream, o.line) for o in outs] == [
        ("stdout", "out1"), ("stderr", "err1"), ("stdout", "no newline")]
    assert outs[0].at < outs[1].at < outs[2].at
    assert result.status is StepStatus.OK


@pytest.mark.parametrize(("block", "code"), [
    ("exit 3", 3),
    ("false\necho never", 1),          # -e
    ("false | true", 1),               # pipefail
    ("kill -TERM $$", 128 + 15),       # killed by a signal
])
def test_exit_codes(tmp_path: Path, block: str, code: int) -> None:
    rb, step = _step(tmp_path, block)
    outs, result = _collect(ShellExecutor().run(step, _ctx(rb)))
    assert result.status is StepStatus.FAILED
    assert result.exit_code == code
    assert "never" not in [o.line for o in outs]


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    rb, step = _step(tmp_path, f"sleep 300 &\necho $! > {pidfile}\nwait")
    _outs, result = _collect(ShellExecutor().run(step, _ctx(rb, timeout=0.5)))
    assert result.status is StepStatus.TIMED_OUT
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child), "the child sleep survived the timeout"


def test_a_cleanup_trap_is_heard_even_when_it_prints_a_lot(tmp_path: Path) -> None:
    """After TERM the step's output is still read: a trap's last words reach the log, and
    a trap printing more than a pipe holds is not left blocked until the KILL."""
    rb, step = _step(tmp_path, "trap 'seq 1 20000; echo cleaned up; exit 1' TERM\n"
                     "echo started\nsleep 300 &\nwait")
    t0 = time.monotonic()
    outs, result = _collect(ShellExecutor().run(step, _ctx(rb, timeout=0.5, grace=300.0)))
    assert result.status is StepStatus.TIMED_OUT
    lines = [o.line for o in outs]
    assert lines[0] == "started" and lines[-1] == "cleaned up" and "20000" in lines
    assert time.monotonic() - t0 < 120  # the trap finished; no wait for the 300s grace KILL


def test_term_ignoring_child_is_killed_after_grace(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    rb, step = _step(tmp_path, "trap '' TERM\n"
                     f"bash -c \"trap '' TERM; echo \\$\\$ > {pidfile}; sleep 300\" &\n"
                     f"while [ ! -s {pidfile} ]; do sleep 0.01; done\necho ready\nwait")
    cancel = threading.Event()
    items = ShellExecutor().run(step, _ctx(rb, cancel=cancel, grace=0.3))
    for item in items:
        if isinstance(item, Output) and item.line == "ready":
            cancel.set()
            break
    _, result = _collect(items)
    assert result.status is StepStatus.ABORTED
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child)


def test_variables_arrive_as_environment_not_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = f"$(touch {marker}); `touch {marker}`; echo hi"
    rb, step = _step(tmp_path, 'echo "$EVIL"')
    outs, result = _collect(ShellExecutor().run(step, _ctx(rb, env={"EVIL": evil})))
    assert result.status is StepStatus.OK
    assert [o.line for o in outs] == [evil]
    assert not marker.exists()


def test_cwd_is_relative_to_the_runbook(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    rb, step = _step(tmp_path, "pwd", info="bash {cwd=sub}")
    outs, _ = _collect(ShellExecutor().run(step, _ctx(rb)))
    assert outs[0].line == str((tmp_path / "sub").resolve())
    rb, step = _step(tmp_path, "pwd")
    outs, _ = _collect(ShellExecutor().run(step, _ctx(rb)))
    assert outs[0].line == str(tmp_path.resolve())


def test_other_interpreter(tmp_path: Path) -> None:
    rb, step = _step(tmp_path, "import sys\nprint('py', sys.version_info[0])\nsys.exit(4)",
                     info="python {run}")
    outs, result = _collect(ShellExecutor().run(step, _ctx(rb)))
    assert [o.line for o in outs] == ["py 3"]
    assert result.exit_code == 4


def test_stdin_is_closed_so_prompts_never_hang(tmp_path: Path) -> None:
    rb, step = _step(tmp_path, 'read -p "Run migrations? " answer\necho "got:$answer"')
    outs, result = _collect(ShellExecutor().run(step, _ctx(rb, timeout=10)))
    assert result.status is StepStatus.FAILED  # read hits EOF, -e stops the script
    assert "got:" not in [o.line for o in outs]


def test_missing_interpreter_is_a_clear_failure(tmp_path: Path) -> None:
    rb, step = _step(tmp_path, "echo hi", info="bash {shell=no-such-shell-xyz}")
    _, result = _collect(ShellExecutor().run(step, _ctx(rb)))
    assert result.status is StepStatus.FAILED
    assert result.error and "no-such-shell-xyz" in result.error


def _big_body(kib: int) -> str:
    """A block of `kib` KiB: a first line, filler, a last line naming $0 and $#, and a
    failing command whose line number the error must name."""
    filler = "".join(f": filler {i:06d} {'x' * 100}\n" for i in range(kib * 1024 // 116))
    return f"echo first\n{filler}echo \"last $0 $#\"\nnot_a_command_xyz"


def test_a_body_over_128_kib_runs_from_a_file_not_argv(tmp_path: Path) -> None:
    """One argument holds at most 128 KiB (MAX_ARG_STRLEN): `bash -c BODY` of a 300 KiB block
    failed with "Argument list too long". The body goes by a 0600 file the shell removes."""
    body = _big_body(300)
    assert len(body.encode()) > 300 * 1000
    rb, step = _step(tmp_path, body)
    run_dir = tmp_path / "run"
    ctx = _ctx(rb)
    ctx.run_dir = run_dir
    outs, result = _collect(ShellExecutor().run(step, ctx))
    lines = [o.line for o in outs]
    assert lines[0] == "first" and f"last swrun:{step.id} 0" in lines, lines[:3]
    err = [o.line for o in outs if o.stream == "stderr"]
    n = body.count("\n") + 1
    assert err == [f"swrun:{step.id}: line {n}: not_a_command_xyz: command not found"]
    assert result.status is StepStatus.FAILED and result.exit_code == 127
    assert [p for p in run_dir.rglob("*") if p.is_file()] == []  # nothing left behind


def test_a_body_file_is_private_and_the_command_line_holds_no_body(tmp_path: Path) -> None:
    marker = "body-marker-7f3a"
    rb, step = _step(tmp_path, f"echo {marker}\nsleep 0.3\necho done")
    items = ShellExecutor().run(step, _ctx(rb))
    first = next(items)
    assert isinstance(first, Output) and first.line == marker
    mine = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    seen = []
    for pid in mine:
        try:
            seen.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:
            continue
    assert not any(marker.encode() in c for c in seen)
    _collect(items)


def test_writing_to_dev_stdout_and_dev_stderr_loses_nothing(tmp_path: Path) -> None:
    """`> /dev/stderr` reopens the step's stderr: a pipe, as before, never a file it would
    truncate (the step's output is copied to files by relays, not written to them)."""
    rb, step = _step(tmp_path, "echo a\necho b >&2\necho c > /dev/stderr\necho d > /dev/stdout\n"
                     "echo e >&2\necho f | tee /dev/stderr")
    outs, result = _collect(ShellExecutor().run(step, _ctx(rb)))
    got = sorted((o.stream, o.line) for o in outs)
    assert got == [("stderr", "b"), ("stderr", "c"), ("stderr", "e"), ("stderr", "f"),
                   ("stdout", "a"), ("stdout", "d"), ("stdout", "f")]
    assert result.status is StepStatus.OK


def test_a_chatty_process_left_behind_does_not_hold_the_step(tmp_path: Path) -> None:
    pidfile = tmp_path / "bg.pid"
    rb, step = _step(tmp_path, "(while :; do echo bg; sleep 0.02; done) &\n"
                     f"echo $! > {pidfile}\necho main done")
    outs, result = _collect(ShellExecutor().run(step, _ctx(rb, timeout=20)))
    assert result.status is StepStatus.OK and "main done" in [o.line for o in outs]
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5  # nothing reads its output now: SIGPIPE at its next line
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child)
