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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from swrun import kube, procs, rundir
from swrun.events import StepStatus
from swrun.executors import bashstep, shellstate, staterule
from swrun.executors.base import IDLE, Idle, Output, Spawned, StepContext, StepResult
from swrun.executors.rawout import STREAMS, Follower, RawOutput
from swrun.executors.relays import RELAYS
from swrun.model import SH_FAMILY, Step
from swrun.shellbody import RUN_BODY, write_body

_PIPEFAIL = {"bash", "zsh", "ksh", "mksh"}
_DRAIN_AFTER_EXIT = 0.5
"""Seconds to keep reading after the shell exits, while children it left behind still hold
its output pipes."""
_POLL = 0.05
"""Seconds between looks at a quiet step's output files."""
_FAST = 0.01
"""… and at those of a step that printed within the last second."""
_GATE = ('trap : TERM INT HUP; IFS= read -r _ || exit 125; exec </dev/null; f=$1; shift; '
         '"$@"; rc=$?; umask 077; if [ -n "$f" ]; then echo "$rc" >"$f"; fi; exit "$rc"')
"""The leader of an announced step's process group: it waits until swrun has logged the
step's start (a newline on stdin; EOF, when swrun died first, runs nothing), runs the
command, and writes its exit status to $1 when it ends — even when the group was sent TERM,
which it waits out — so a resume can tell a step that finished after swrun died from one
that was cut off. Its TERM handler is not inherited: the command gets TERM as before.
A bash step does all this in its own bash (swrun.executors.bashstep) unless its block sets
traps or `exec`s."""


def command_for(step: Step, script_dir: Path | None = None,
                state_file: Path | None = None,
                secret_names: Iterable[str] = (), kube_context: str | None = None
                ) -> tuple[list[str], Path | None]:
    """argv for the step's interpreter, and the 0600 file holding the body, to delete
    afterwards: the body is never an argument (swrun.shellbody: a block over 128 KiB would
    not start). `state_file`: a sh-family step also writes what it changed there
    (shellstate.trailer), never the values of `secret_names`; its kubectl/oc use
    `kube_context` (swrun.kube.preamble). (A bash step runs through `BashCommand`.)"""
    interp = shlex.split(step.text("shell") or "bash") or ["bash"]
    name = os.path.basename(interp[0])
    if name in SH_FAMILY:
        flags = ["-e", "-o", "pipefail"] if name in _PIPEFAIL else ["-e"]
        body = kube.preamble(kube_context) + step.body
        if state_file is not None:
            body += shellstate.trailer(interp[0], state_file, secret_names)
        script = write_body(body, script_dir)
        return [*interp, *flags, "-c", RUN_BODY, f"swrun:{step.id}", str(script)], script
    script = write_body(step.body, script_dir)
    return [*interp, str(script)], script


def is_bash(step: Step) -> bool:
    interp = shlex.split(step.text("shell") or "bash") or ["bash"]
    return os.path.basename(interp[0]) == "bash"


@dataclass
class BashCommand:
    """A bash step (swrun.executors.bashstep): its block in an unlinked file, passed by
    descriptor; the argv is made once the gate and the exit file are known."""

    step: Step
    fd: int
    leader: bool
    """The block sets traps or `exec`s: the `/bin/sh` leader records its status."""

    def argv(self, gated: bool, exit_file: str | None) -> list[str]:
        interp = shlex.split(self.step.text("shell") or "bash") or ["bash"]
        own = None if self.leader else exit_file
        text = bashstep.preamble(gated and not self.leader, own)
        return [*interp, "-e", "-o", "pipefail", "-c", text, f"swrun:{self.step.id}",
                str(self.fd)]


def bash_command(step: Step, folder: Path | None, state_file: Path | None,
                 secret_names: Iterable[str], aliases: Mapping[str, str],
                 kube_context: str | None = None) -> BashCommand:
    body = kube.preamble(kube_context) + step.body
    if state_file is not None:
        body += shellstate.trailer("bash", state_file, secret_names)
    return BashCommand(step, bashstep.body_file(body, aliases, folder),
                       bashstep.needs_leader("\n".join([step.body, *aliases.values()])))


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
        aliases = dict(ctx.settings.get("shell_aliases") or {})
        if ctx.settings.get("carry_shell_state") and ctx.run_dir is not None \
                and staterule.may_change(step.body, ctx.env, aliases.values()):
            with contextlib.suppress(OSError):
                state = shellstate.new_state_file(rundir.private(ctx.run_dir, "state"),
                                                  f"{secrets.token_hex(8)}.env")
        secret_names = ctx.settings.get("secret_names") or ()
        kube_context = kube.context_for(step, ctx.runbook, ctx.settings)
        bash: BashCommand | None = None
        script: Path | None = None
        if is_bash(step):
            try:
                bash = bash_command(step, ctx.run_dir, state, secret_names, aliases,
                                    kube_context)
            except OSError as exc:
                if state is not None:
                    state.unlink(missing_ok=True)
                yield StepResult(StepStatus.FAILED, error=f"cannot write the step's block "
                                 f"to a file: {exc.strerror}")
                return
            argv = bash.argv(False, None)
        else:
            argv, script = command_for(step, ctx.run_dir, state, secret_names, kube_context)
        try:
            for item in self._run(argv, cwd, ctx, announce=ctx.announce, bash=bash):
                if isinstance(item, StepResult) and state is not None:
                    found = shellstate.read_state(state)
                    if found is not None and item.status is StepStatus.OK:
                        item = StepResult(item.status, item.exit_code, item.error,
                                          data={**item.data, "shell_state": found})
                yield item
        finally:
            if bash is not None:
                with contextlib.suppress(OSError):
                    os.close(bash.fd)
            if script is not None:
                script.unlink(missing_ok=True)
            if state is not None:
                state.unlink(missing_ok=True)

    def _run(self, argv: list[str], cwd: Path, ctx: StepContext, announce: bool = False,
             bash: BashCommand | None = None
             ) -> Iterator[Output | Idle | Spawned | StepResult]:
        gate: int | None = None
        exit_file = ""
        stdin: int = subprocess.DEVNULL
        token = secrets.token_hex(8)
        scratch: str | None = None  # no run folder: the output files go to a temp one
        if ctx.run_dir is not None:
            raw = RawOutput(ctx.run_dir / "out" / token)
        else:
            scratch = tempfile.mkdtemp(prefix="swrun-out-")
            raw = RawOutput(Path(scratch) / token)
        if announce:
            found = shutil.which(argv[0], path=ctx.env.get("PATH", os.defpath)) \
                if os.sep not in argv[0] else argv[0]
            if found is None or not os.access(cwd / found, os.X_OK):
                _discard(raw, scratch)
                yield StepResult(StepStatus.FAILED, exit_code=127,
                                 error=f"cannot start {argv[0]}: No such file or directory")
                return
            if ctx.run_dir is not None:
                with contextlib.suppress(OSError):
                    exit_file = str(rundir.private(ctx.run_dir, "exit") / f"{token}.status")
        follow = Follower(raw)
        writers: dict[str, int] = {}
        try:
            writers = raw.create()
            follow.open()
        except OSError as exc:
            for fd in writers.values():
                os.close(fd)
            follow.close()
            _discard(raw, scratch)
            yield StepResult(StepStatus.FAILED, error=f"cannot make the step's output files "
                             f"under {raw.base.parent}: {exc.strerror}")
            return
        if bash is not None:  # the gate and the exit file in the step's own bash
            argv = bash.argv(announce, exit_file or None)
        if announce:
            stdin, gate = os.pipe()
            if bash is None or bash.leader:
                argv = ["/bin/sh", "-c", _GATE, "swrun-step", exit_file, *argv]
        pipes = {stream: os.pipe() for stream in STREAMS}
        relays: list[subprocess.Popen[bytes]] = []
        shared: list[str] = []  # the token, once the run's relay copies the pipes
        proc: subprocess.Popen[bytes] | None = None
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=dict(ctx.env), stdin=stdin,
                stdout=pipes["stdout"][1], stderr=pipes["stderr"][1], start_new_session=True,
                pass_fds=(bash.fd,) if bash is not None else (),
            )
            if RELAYS.add(token, (pipes["stdout"][0], pipes["stderr"][0]),
                          (writers["stdout"], writers["stderr"])):
                shared.append(token)
            else:  # no relay process: one `cat` per stream
                for stream in STREAMS:
                    relays.append(_relay(pipes[stream][0], writers[stream]))
        except OSError as exc:
            if gate is not None:
                os.close(gate)
            if proc is not None:  # at its gate, or not announced: stopped before it ran on
                stop_group(proc, 0.0)
                proc.wait()
            _end_relays(relays, shared)
            follow.close()
            _discard(raw, scratch)
            yield StepResult(StepStatus.FAILED, exit_code=127,
                             error=f"cannot start {argv[0]}: {exc.strerror}")
            return
        finally:
            if gate is not None:
                os.close(stdin)
            # the step and the relays hold them now; swrun only reads the files
            for fd in [*writers.values(), *(fd for pair in pipes.values() for fd in pair)]:
                os.close(fd)
        pidfd = _pidfd(proc.pid)
        deadline = time.monotonic() + ctx.timeout if ctx.timeout else None
        stopped: StepStatus | None = None
        try:
            if gate is not None:  # logged in step_started before the gate opens
                yield Spawned(pid=proc.pid, pgid=proc.pid, start=procs.start_time(proc.pid),
                              boot_id=procs.boot_id(), exit_file=exit_file or None)
                with contextlib.suppress(OSError):
                    os.write(gate, b"\n")
                os.close(gate)
                gate = None
            heard = time.monotonic()
            quiet = 0.0
            while True:
                if ctx.cancel.is_set():
                    stopped = StepStatus.ABORTED
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    stopped = StepStatus.TIMED_OUT
                    break
                lines = follow.read()
                if lines:
                    heard = now
                    quiet = 0.0
                    for stream, line in lines:
                        yield _line(line, stream)
                    follow.commit()  # the engine logged them before it asked for more
                    continue
                if proc.poll() is not None:
                    break
                # output shows within _FAST of being written while the step talks
                wait = _FAST if now - heard < 1.0 else _POLL
                if deadline is not None:
                    wait = max(0.0, min(wait, deadline - now))
                if pidfd is not None:
                    _wait_fd(pidfd, wait)  # wakes the moment the shell exits
                else:
                    time.sleep(wait)
                quiet += wait
                if quiet >= _POLL:
                    quiet = 0.0
                    yield IDLE
            if stopped is not None and proc.poll() is None:
                yield from _stopping(proc, follow, ctx.kill_grace)
            if stopped is not None or proc.poll() is None:
                stop_group(proc, ctx.kill_grace)
            # what is still in the pipes, and what children the shell left running print:
            # listen until the relays see end of file, for at most _DRAIN_AFTER_EXIT
            until = time.monotonic() + _DRAIN_AFTER_EXIT
            ends = [fd for r in relays if (fd := _pidfd(r.pid)) is not None]
            try:
                while time.monotonic() < until:
                    if shared and RELAYS.finished(token, _FAST):
                        break
                    if not shared and all(r.poll() is not None for r in relays):
                        break
                    for stream, line in follow.read():
                        yield _line(line, stream)
                    follow.commit()
                    if not shared:
                        _wait_fd(ends, _FAST)  # wakes the moment a relay ends
            finally:
                for fd in ends:
                    os.close(fd)
            _end_relays(relays, shared)  # a daemon the step left gets SIGPIPE at its next line
            for stream, line in [*follow.read(), *follow.rest()]:
                yield _line(line, stream)
            follow.commit()
        finally:
            if gate is not None:  # never opened: the gate sees EOF and nothing runs
                os.close(gate)
            if stopped is not None or proc.poll() is None:
                stop_group(proc, ctx.kill_grace)
            _end_relays(relays, shared)
            if pidfd is not None:
                os.close(pidfd)
            follow.close()
            _discard(raw, scratch)
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


_CAT = shutil.which("cat", path=os.defpath) or "cat"


def _relay(read_end: int, raw_fd: int) -> subprocess.Popen[bytes]:
    """`cat` from the step's pipe into its output file, in a session of its own: the step
    writes to a pipe as always (`> /dev/stderr` reopens a pipe, where it would truncate a
    file), and the relay, not swrun, reads it, so swrun's death (`kill -9`, a lost
    terminal) does not end the step at its next line; the relay ends when the step's last
    writer closes the pipe."""
    return subprocess.Popen([_CAT], stdin=read_end, stdout=raw_fd, stderr=subprocess.DEVNULL,
                            env={"PATH": os.defpath}, start_new_session=True)


def _end_relays(relays: list[subprocess.Popen[bytes]], shared: list[str]) -> None:
    for token in shared:
        RELAYS.stop(token)
    shared.clear()
    for relay in relays:
        if relay.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                relay.kill()
        relay.wait()
    relays.clear()


def _discard(raw: RawOutput, scratch: str | None) -> None:
    raw.remove()
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


def _wait_fd(fds: int | list[int], timeout: float) -> None:
    """Until one of `fds` is readable (a pidfd: its process ended), at most `timeout`."""
    with selectors.DefaultSelector() as sel:
        for fd in [fds] if isinstance(fds, int) else fds:
            sel.register(fd, selectors.EVENT_READ)
        if not sel.get_map():
            time.sleep(timeout)
            return
        sel.select(timeout)


def _stopping(proc: subprocess.Popen[bytes], follow: Follower,
              grace: float) -> Iterator[Output]:
    """TERM the group and keep reading what it prints (a cleanup trap's last words) until
    the shell exits or the grace period ends; stop_group then KILLs whatever is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end:
        for stream, line in follow.read():
            yield _line(line, stream)
        follow.commit()
        if proc.poll() is not None:
            return
        time.sleep(_FAST)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3
        return None


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
