"""Local shell steps: one process group per attempt, output streamed line by line."""

from __future__ import annotations

import contextlib
import os
import secrets
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from swrun import procs, rundir
from swrun.events import StepStatus
from swrun.executors import shellstate
from swrun.executors.base import IDLE, Idle, Output, Spawned, StepContext, StepResult
from swrun.model import Step

_SH_FAMILY = {"bash", "sh", "zsh", "dash", "ksh", "mksh"}
_PIPEFAIL = {"bash", "zsh", "ksh", "mksh"}
_DRAIN_AFTER_EXIT = 0.5
"""Seconds to keep reading after the shell exits, for output of children it left behind."""
_POLL = 0.05
_GATE = ('trap : TERM INT HUP; IFS= read -r _ || exit 125; exec </dev/null; f=$1; shift; '
         '"$@"; rc=$?; umask 077; if [ -n "$f" ]; then echo "$rc" >"$f"; fi; exit "$rc"')
"""The leader of an announced step's process group: it waits until swrun has logged the
step's start (a newline on stdin; EOF, when swrun died first, runs nothing), runs the
command, and writes its exit status to $1 when it ends — even when the group was sent TERM,
which it waits out — so a resume can tell a step that finished after swrun died from one
that was cut off. Its TERM handler is not inherited: the command gets TERM as before."""


def command_for(step: Step, script_dir: Path | None = None,
                state_file: Path | None = None,
                secret_names: Iterable[str] = ()) -> tuple[list[str], Path | None]:
    """argv for the step's interpreter, and a temp script file to delete afterwards (if any).
    `state_file`: a sh-family step also writes what it changed there (shellstate.trailer),
    never the values of `secret_names`."""
    interp = shlex.split(step.text("shell") or "bash") or ["bash"]
    name = os.path.basename(interp[0])
    if name in _SH_FAMILY:
        flags = ["-e", "-o", "pipefail"] if name in _PIPEFAIL else ["-e"]
        body = step.body
        if state_file is not None:
            body += shellstate.trailer(interp[0], state_file, secret_names)
        return [*interp, *flags, "-c", body, f"swrun:{step.id}"], None
    if script_dir is not None:
        script_dir = rundir.private(script_dir)
    fd, script = tempfile.mkstemp(prefix="swrun-step-", suffix=".script", dir=script_dir)
    with os.fdopen(fd, "w") as fh:
        fh.write(step.body)
    return [*interp, script], Path(script)


def working_dir(step: Step, ctx: StepContext) -> Path:
    """`cwd=` (relative to the runbook), else where an earlier step `cd`-ed to (the run's
    carried shell state, `ctx.settings["shell_cwd"]`), else the runbook's folder."""
    base = ctx.runbook.base_dir
    cwd = step.text("cwd")
    if cwd:
        return (base / os.path.expandvars(cwd)).resolve()
    carried = ctx.settings.get("shell_cwd")
    return Path(carried) if isinstance(carried, str) and carried else base


class ShellExecutor:
    """Runs a shell block with `bash -e -o pipefail` (or `shell=`) on this machine."""

    announces_process = True
    """With `ctx.announce` it yields a `Spawned` first (see `_GATE`)."""

    def run(self, step: Step, ctx: StepContext) -> Iterator[Output | Idle | StepResult]:
        cwd = working_dir(step, ctx)
        if not cwd.is_dir():
            yield StepResult(StepStatus.FAILED, error=f"cwd {cwd} does not exist")
            return
        state: Path | None = None
        if ctx.settings.get("carry_shell_state") and ctx.run_dir is not None:
            with contextlib.suppress(OSError):
                state = shellstate.new_state_file(rundir.private(ctx.run_dir, "state"),
                                                  f"{secrets.token_hex(8)}.env")
        argv, script = command_for(step, ctx.run_dir, state,
                                   ctx.settings.get("secret_names") or ())
        try:
            for item in self._run(argv, cwd, ctx, announce=ctx.announce):
                if isinstance(item, StepResult) and state is not None:
                    found = shellstate.read_state(state)
                    if found is not None and item.status is StepStatus.OK:
                        item = StepResult(item.status, item.exit_code, item.error,
                                          data={**item.data, "shell_state": found})
                yield item
        finally:
            if script is not None:
                script.unlink(missing_ok=True)
            if state is not None:
                state.unlink(missing_ok=True)

    def _run(self, argv: list[str], cwd: Path, ctx: StepContext,
             announce: bool = False) -> Iterator[Output | Idle | Spawned | StepResult]:
        gate: int | None = None
        exit_file = ""
        stdin: int = subprocess.DEVNULL
        if announce:
            found = shutil.which(argv[0], path=ctx.env.get("PATH", os.defpath)) \
                if os.sep not in argv[0] else argv[0]
            if found is None or not os.access(cwd / found, os.X_OK):
                yield StepResult(StepStatus.FAILED, exit_code=127,
                                 error=f"cannot start {argv[0]}: No such file or directory")
                return
            if ctx.run_dir is not None:
                with contextlib.suppress(OSError):
                    exit_file = str(rundir.private(ctx.run_dir, "exit") /
                                    f"{secrets.token_hex(8)}.status")
            stdin, gate = os.pipe()
            argv = ["/bin/sh", "-c", _GATE, "swrun-step", exit_file, *argv]
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=dict(ctx.env), stdin=stdin,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                bufsize=0,
            )
        except OSError as exc:
            if gate is not None:
                os.close(gate)
            yield StepResult(StepStatus.FAILED, exit_code=127,
                             error=f"cannot start {argv[0]}: {exc.strerror}")
            return
        finally:
            if gate is not None:
                os.close(stdin)
        assert proc.stdout is not None and proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
        sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
        pidfd = _pidfd(proc.pid)
        if pidfd is not None:  # wake the moment the shell exits, without polling
            sel.register(pidfd, selectors.EVENT_READ, "exit")
        partial = {"stdout": b"", "stderr": b""}
        deadline = time.monotonic() + ctx.timeout if ctx.timeout else None
        drain_until: float | None = None
        stopped: StepStatus | None = None
        open_pipes = 2
        try:
            if gate is not None:  # logged in step_started before the gate opens
                yield Spawned(pid=proc.pid, pgid=proc.pid, start=procs.start_time(proc.pid),
                              boot_id=procs.boot_id(), exit_file=exit_file or None)
                with contextlib.suppress(OSError):
                    os.write(gate, b"\n")
                os.close(gate)
                gate = None
            while open_pipes or proc.poll() is None:
                if ctx.cancel.is_set():
                    stopped = StepStatus.ABORTED
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    stopped = StepStatus.TIMED_OUT
                    break
                if drain_until is None and proc.returncode is not None:
                    drain_until = now + _DRAIN_AFTER_EXIT
                if drain_until is not None and now >= drain_until:
                    break  # a background child still holds the pipes; stop listening
                wait = _POLL if deadline is None else max(0.0, min(_POLL, deadline - now))
                if drain_until is not None:
                    wait = max(0.0, min(wait, drain_until - now))
                ready = sel.select(wait)
                if not ready:
                    yield IDLE
                for key, _ in ready:
                    stream = key.data
                    if stream == "exit":
                        sel.unregister(key.fileobj)
                        proc.poll()
                        continue
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        open_pipes -= 1
                        if partial[stream]:
                            yield _line(partial[stream], stream)
                            partial[stream] = b""
                        continue
                    yield from _lines(partial, stream, chunk)
                if pidfd is None and not open_pipes and stopped is None:
                    stopped = _wait_exit(proc, ctx, deadline)
                    break
            if stopped is not None and proc.poll() is None:
                yield from _stopping(proc, sel, partial, ctx.kill_grace)
        finally:
            if gate is not None:  # never opened: the gate sees EOF and nothing runs
                os.close(gate)
            if stopped is not None or proc.poll() is None:
                stop_group(proc, ctx.kill_grace)
            sel.close()
            if pidfd is not None:
                os.close(pidfd)
            proc.stdout.close()
            proc.stderr.close()
        for stream, rest in partial.items():
            if rest:
                yield _line(rest, stream)
        rc = proc.wait()
        code = 128 - rc if rc < 0 else rc
        if stopped is StepStatus.TIMED_OUT:
            yield StepResult(StepStatus.TIMED_OUT, exit_code=code,
                             error=f"timed out after {ctx.timeout:g}s; process group killed")
        elif stopped is StepStatus.ABORTED:
            yield StepResult(StepStatus.ABORTED, exit_code=code, error="aborted by the operator")
        elif code == 0:
            yield StepResult(StepStatus.OK, exit_code=0)
        else:
            yield StepResult(StepStatus.FAILED, exit_code=code)


def _stopping(proc: subprocess.Popen[bytes], sel: selectors.BaseSelector,
              partial: dict[str, bytes], grace: float) -> Iterator[Output]:
    """TERM the group and keep reading what it prints (a cleanup trap, and a trap that
    prints a lot must not block on a full pipe) until the shell exits or the grace period
    ends; stop_group then KILLs whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    end = time.monotonic() + grace
    drain: float | None = None  # once the shell is gone, what it left in the pipes
    while (left := (drain or end) - time.monotonic()) > 0 and sel.get_map():
        if drain is None and proc.poll() is not None:
            drain = min(end, time.monotonic() + _DRAIN_AFTER_EXIT)
        for key, _ in sel.select(min(_POLL, left)):
            stream = key.data
            chunk = b"" if stream == "exit" else os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                continue
            yield from _lines(partial, stream, chunk)


def _lines(partial: dict[str, bytes], stream: str, chunk: bytes) -> list[Output]:
    """The whole lines `chunk` completes on `stream`; an unfinished one waits in `partial`."""
    *lines, partial[stream] = (partial[stream] + chunk).split(b"\n")
    return [_line(raw, stream) for raw in lines]


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3
        return None


def _wait_exit(
    proc: subprocess.Popen[bytes], ctx: StepContext, deadline: float | None
) -> StepStatus | None:
    """After the pipes closed: wait for the shell itself, still honouring timeout and abort."""
    while True:
        try:
            proc.wait(timeout=_POLL)
            return None
        except subprocess.TimeoutExpired:
            pass
        if ctx.cancel.is_set():
            return StepStatus.ABORTED
        if deadline is not None and time.monotonic() >= deadline:
            return StepStatus.TIMED_OUT


def _line(raw: bytes, stream: str) -> Output:
    return Output(raw.decode("utf-8", "replace").rstrip("\r"), stream)


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """TERM the whole process group, then KILL it after `grace` seconds."""
    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
