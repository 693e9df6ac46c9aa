"""Run one script on one host in its own process group, streaming lines; kill the group on stop.

sshd starts every session's login shell in a new session (setsid), so that shell's pid is
the process group id of everything the step starts. The command it is given prints that pid
as a marker line, reads the variables and the script from stdin (an `export` line,
shlex-quoted, so no value is ever on a command line that `ps` shows, and a here-document that
puts the script in a 0600 `mktemp` file, so a script over 128 KiB starts too) and execs
`bash -e -o pipefail -c RUN_BODY NAME FILE` (swrun.shellbody), keeping the pid. On timeout
or abort a second channel sends TERM, then KILL after the grace period, to the group. The
command text itself is never shown or logged.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import select
import shlex
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import paramiko

from swrun.shellbody import RUN_BODY
from swrun.ssh import ConnectError, Unreachable
from swrun.ssh.fanout import HostResult
from swrun.ssh.pool import POOL, Notify, Pool
from swrun.ssh.target import Target

_MARK = "\x1eswrun-pgid="
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TICK = 0.05
_DRAIN_AFTER_EXIT = 0.5
_PGID_WAIT = 2.0
OnLine = Callable[[str, str], None]


def remote_command(name: str,
                   shell: tuple[str, ...] = ("bash", "-e", "-o", "pipefail")) -> str:
    """The command line sent to sshd, for a POSIX login shell (sh, bash, dash, zsh, ksh).

    It holds neither a variable value nor the script: sshd runs it as the login shell's argv
    (`bash -c COMMAND`), which every user of the host can read in /proc, and which holds at
    most 128 KiB. Both come on stdin instead (`remote_input`).
    """
    argv = " ".join(shlex.quote(a) for a in shell)
    return (f"{_PROBE}printf '\\036swrun-pgid=%s %s %s\\n' \"$$\" \"${{_s:--}}\" "
            f"\"${{_b:--}}\"; eval \"$(cat)\"; "
            f"exec {argv} -c {shlex.quote(RUN_BODY)} {shlex.quote(name)} \"$__swrun_f\"")


def remote_input(script: str, env: Mapping[str, str]) -> bytes:
    """The stdin of `remote_command`, which evals it: the `export` line (`remote_stdin`), then
    the script written to a new 0600 file (`mktemp`) by a here-document whose end word the
    script does not contain; the step's shell removes the file as it starts."""
    end = "SWRUN_BODY_" + secrets.token_hex(8)
    while end in script:
        end = "SWRUN_BODY_" + secrets.token_hex(8)
    body = script if script.endswith("\n") else script + "\n"
    return remote_stdin(env) + (
        "__swrun_f=$(mktemp \"${TMPDIR:-/tmp}/swrun-body.XXXXXXXX\") || exit 126\n"
        f"cat >\"$__swrun_f\" <<'{end}' || exit 126\n{body}{end}\n").encode(
            "utf-8", "surrogateescape")


# the marker's other two words, read by the same command: the group leader's start time
# (/proc/<pid>/stat field 22, counted after the ")" that ends the command name) and the
# host's boot id ("-" where the host has none): together they defeat pid reuse
# (`probe` reads both again the same way, for a resume)
def _start_of(pid: str) -> str:
    return f"$(sed 's/.*) //' /proc/{pid}/stat 2>/dev/null | cut -d' ' -f20)"


_BOOT_ID = "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
_PROBE = f"_s={_start_of('$$')}; _b={_BOOT_ID}; "
OnProcess = Callable[[int, int | None, str | None], None]
"""on_process(pgid, start, boot_id), from the thread running the command, once it is known."""


def remote_stdin(env: Mapping[str, str]) -> bytes:
    """What the command's stdin gets before EOF: one `export NAME='value' ...` line."""
    assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if _NAME.fullmatch(k))
    return f"export {assigns}\n".encode() if assigns else b""


class RemoteHost:
    """One target plus the settings a step gives it (environment, accept-new, grace)."""

    def __init__(self, target: Target, env: Mapping[str, str], *, accept_new: bool = False,
                 kill_grace: float = 5.0, notify: Notify | None = None,
                 pool: Pool | None = None) -> None:
        self.target = target
        self.env = dict(env)
        self.accept_new = accept_new
        self.kill_grace = kill_grace
        self.notify = notify
        self.pool = pool if pool is not None else POOL  # an empty Pool is falsy (__len__)

    @property
    def name(self) -> str:
        return self.target.name

    def connect(self, timeout: float | None = None) -> paramiko.Transport:
        """The pooled connection; a new one takes at most `timeout` (or the target's own)."""
        return self.pool.get(self.target, accept_new=self.accept_new, notify=self.notify,
                             timeout=timeout)

    def _open(self, command: str, stdin: bytes = b"", timeout: float | None = None,
              ) -> tuple[paramiko.Transport, paramiko.Channel]:
        """A channel running `command`, given `stdin` then EOF; a connection found dead is
        replaced once."""
        for attempt in (1, 2):
            t = self.connect(timeout)
            try:
                chan = t.open_session(timeout=self.target.connect_timeout)
                chan.exec_command(command)
                if stdin:
                    chan.sendall(stdin)
                chan.shutdown_write()
                return t, chan
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self.pool.discard(self.target, t)
                if attempt == 2:
                    raise Unreachable(f"{self.name}: cannot start the command: {exc}") from None
                if self.notify:
                    self.notify(f"connection to {self.name} was lost; reconnecting")
        raise AssertionError("unreachable")

    def run(self, script: str, on_line: OnLine, stop: threading.Event,
            timeout: float | None = None, name: str = "swrun",
            shell: tuple[str, ...] = ("bash", "-e", "-o", "pipefail"),
            on_process: OnProcess | None = None) -> HostResult:
        t0 = time.monotonic()
        try:
            transport, chan = self._open(remote_command(name, shell),
                                         remote_input(script, self.env), timeout)
        except ConnectError as exc:
            # The command never started, whichever timer fired: `unreachable`, never
            # `timed_out` (which says a command ran and was stopped).
            if timeout and time.monotonic() - t0 >= timeout * 0.95:  # `timeout=` ran out
                return HostResult("unreachable", duration_ms=_ms(t0), error=(
                    f"{self.name}: timed out after {timeout:g}s while connecting: "
                    f"{str(exc).removeprefix(self.name + ': ')}"))
            return HostResult(exc.status, error=str(exc), duration_ms=_ms(t0))
        deadline = t0 + timeout if timeout else None
        reader = _Reader(chan, on_line, on_process)
        stopped: str | None = None
        exit_seen: float | None = None
        try:
            while True:
                if stop.is_set():
                    stopped = "aborted"
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    stopped = "timed_out"
                    break
                wait = _TICK if deadline is None else max(0.0, min(_TICK, deadline - now))
                if chan.eof_received and not (chan.recv_ready() or chan.recv_stderr_ready()):
                    # only the exit status is still to come; the pipe stays readable after
                    # EOF, so select() would spin
                    chan.status_event.wait(wait)
                else:
                    _readable(chan, wait)
                reader.pump()
                if chan.exit_status_ready():
                    if exit_seen is None:
                        exit_seen = now
                    if chan.eof_received or now - exit_seen >= _DRAIN_AFTER_EXIT:
                        reader.pump()
                        break
                elif chan.closed or not transport.is_active():
                    reader.finish()
                    return self._lost(transport, t0)
            if stopped is not None:
                reader.wait_for_pgid(_PGID_WAIT)
                killed = self._kill(transport, reader.pgid)
                reader.pump()
                reader.finish()
                why = (f"timed out after {timeout:g}s" if stopped == "timed_out"
                       else "aborted by the operator")
                return HostResult(stopped, error=f"{why}; {killed}", duration_ms=_ms(t0))
            reader.finish()
            code = chan.recv_exit_status()
            if code == -1:  # the channel closed with no exit status
                gone = time.monotonic() + 1.0  # paramiko closes channels before the transport
                while transport.is_active() and time.monotonic() < gone:
                    time.sleep(0.01)
                if not transport.is_active():
                    return self._lost(transport, t0)
                return HostResult("failed", duration_ms=_ms(t0), error=(
                    f"{self.name}: the command ended with no exit status (killed by a signal "
                    "on the host?)"))
            return HostResult("ok" if code == 0 else "failed", exit_code=code,
                              duration_ms=_ms(t0),
                              error=None if code == 0 else f"exit {code}")
        finally:
            with contextlib.suppress(Exception):
                chan.close()

    def _lost(self, transport: paramiko.Transport, t0: float) -> HostResult:
        self.pool.discard(self.target, transport)
        return HostResult("unreachable", duration_ms=_ms(t0), error=(
            f"{self.name}: connection lost while the command ran; it may or may not have "
            "completed"))

    def capture(self, script: str, stop: threading.Event, timeout: float | None = 30.0,
                ) -> tuple[HostResult, list[str], list[str]]:
        """Run a script and collect its stdout and stderr lines instead of streaming them."""
        out: list[str] = []
        err: list[str] = []
        res = self.run(script, lambda line, stream: (out if stream == "stdout" else err)
                       .append(line), stop, timeout, name="swrun-query")
        return res, out, err

    def probe(self, pgid: int, start: int | None, boot_id: str | None,
              timeout: float | None = None) -> bool:
        """Whether the process group a command of a run that died started on this host still
        lives: its boot id and its leader's start time (when the leader lives) must match
        what was logged, and some process must still be in the group. ConnectError when the
        host cannot be reached or does not answer."""
        script = (f"b={_BOOT_ID}; s={_start_of(str(pgid))}; "
                  f"a=0; if kill -0 -{pgid} 2>/dev/null; then a=1; "
                  # kill -0 counts zombies (a leader its parent has not reaped yet): with
                  # /proc, only a live member counts
                  "if [ -r /proc/self/stat ]; then a=0; for f in /proc/[0-9]*/stat; do "
                  '{ read -r l < "$f"; } 2>/dev/null || continue; set -- ${l##*) }; '
                  f'if [ "$3" = {pgid} ] && [ "$1" != Z ]; then a=1; break; fi; done; fi; '
                  "fi; "
                  'echo "swrun-probe ${b:--} ${s:--} $a"')
        words = self._ask(script, timeout)
        if words is None or len(words) != 4 or words[0] != "swrun-probe":
            raise Unreachable(f"{self.name}: the process check gave no answer")
        _, boot, lead, alive = words
        if boot_id and boot not in ("-", boot_id):
            return False  # the host rebooted since: the group died with it
        if start is not None and lead.isdigit() and int(lead) != start:
            return False  # the group's id is its leader's pid: another process has it now
        return alive == "1"

    def stop_group(self, pgid: int) -> str:
        """TERM, then KILL after the grace period, a process group on this host (for a
        resume); what happened, in words. ConnectError when the host cannot be reached."""
        return self._kill(self.connect(), pgid)

    def _ask(self, script: str, timeout: float | None) -> list[str] | None:
        """The words of the first line a short `sh -c SCRIPT` prints."""
        _, chan = self._open(f"exec sh -c {shlex.quote(script)}", timeout=timeout)
        try:
            chan.settimeout(self.target.connect_timeout + 10)
            said = b""
            with contextlib.suppress(OSError, TimeoutError):
                while chunk := chan.recv(1024):
                    said += chunk
        finally:
            chan.close()
        lines = said.decode("utf-8", "replace").splitlines()
        return lines[0].split() if lines else None

    def _kill(self, transport: paramiko.Transport, pgid: int | None) -> str:
        if pgid is None:
            return "no process group id came back; the remote command may still be running"
        rounds = max(1, int(self.kill_grace / 0.1))
        script = (f"kill -TERM -{pgid} 2>/dev/null || exit 0; i=0; "
                  f"while kill -0 -{pgid} 2>/dev/null; do i=$((i+1)); "
                  f"if [ $i -ge {rounds} ]; then kill -KILL -{pgid} 2>/dev/null; j=0; "
                  # KILLed processes take a moment to exit and be reaped: wait (bounded)
                  # so "stopped" means gone, not still exiting
                  f"while kill -0 -{pgid} 2>/dev/null && [ $j -lt 30 ]; do j=$((j+1)); "
                  "sleep 0.1; done; echo killed; exit 0; fi; sleep 0.1; done; echo terminated")
        try:
            chan = transport.open_session(timeout=self.target.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            return f"could not kill remote process group {pgid}: {exc}"
        try:
            chan.exec_command(f"exec sh -c {shlex.quote(script)}")
            chan.settimeout(self.kill_grace + 10)
            said = b""
            with contextlib.suppress(OSError, TimeoutError):
                while chunk := chan.recv(1024):
                    said += chunk
            how = "KILLed after the grace period" if b"killed" in said else "TERMinated"
            return f"remote process group {pgid} {how}"
        finally:
            chan.close()


class _Reader:
    """Splits a channel's two streams into lines; picks the pgid marker off stdout."""

    def __init__(self, chan: Any, on_line: OnLine, on_process: OnProcess | None = None
                 ) -> None:
        self.chan = chan
        self.on_line = on_line
        self.on_process = on_process
        self.partial = {"stdout": b"", "stderr": b""}
        self.pgid: int | None = None
        self._first = True

    def pump(self) -> None:
        while self.chan.recv_ready():
            self._feed("stdout", self.chan.recv(65536))
        while self.chan.recv_stderr_ready():
            self._feed("stderr", self.chan.recv_stderr(65536))

    def _feed(self, stream: str, chunk: bytes) -> None:
        *lines, self.partial[stream] = (self.partial[stream] + chunk).split(b"\n")
        for raw in lines:
            self._line(stream, raw)

    def _line(self, stream: str, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        # The marker is the first thing the login shell prints, though a chatty ~/.bashrc
        # may print before it: look for it until it is found.
        if stream == "stdout" and self._first and line.startswith(_MARK):
            self._first = False
            words = line[len(_MARK):].split()
            with contextlib.suppress(ValueError, IndexError):
                self.pgid = int(words[0])
            if self.pgid is not None and self.on_process is not None:
                start = words[1] if len(words) > 1 else ""
                boot = words[2] if len(words) > 2 and words[2] != "-" else None
                self.on_process(self.pgid, int(start) if start.isdigit() else None, boot)
            return
        self.on_line(line, stream)

    def wait_for_pgid(self, limit: float) -> None:
        end = time.monotonic() + limit
        while self.pgid is None and self._first and time.monotonic() < end:
            _readable(self.chan, _TICK)
            self.pump()
            if self.chan.closed:
                break

    def finish(self) -> None:
        for stream in ("stdout", "stderr"):
            if self.partial[stream]:
                raw, self.partial[stream] = self.partial[stream], b""
                self._line(stream, raw)


def _readable(chan: Any, timeout: float) -> None:
    """Wait until the channel has data (or `timeout`). poll(), not select(): every host
    holds a socket and each open channel a pipe, so a fan-out of ~350 hosts has file
    descriptors above 1,024, which select() cannot wait on ("filedescriptor out of range")."""
    poller = select.poll()
    poller.register(chan.fileno(), select.POLLIN)
    poller.poll(max(0, round(timeout * 1000)))


def _ms(t0: float) -> int:
    return round((time.monotonic() - t0) * 1000)
