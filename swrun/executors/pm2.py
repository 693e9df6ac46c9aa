"""PM2 steps: body lines are PM2 verbs, run over SSH on each host (or locally without hosts).

After start/restart/reload (and stop/delete) the step reads `pm2 jlist` and fails unless each
app is in the state the verbs leave it in on every host, and an online app keeps its pid and
restart count through a settle period. `status` checks the same of the apps it names (every
app without names): online, every instance, on every host. This module's top level imports no
backend library, so `swrun check` can call `validate` cheaply.
"""

from __future__ import annotations

import queue
import shlex
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from swrun.events import StepStatus
from swrun.executors.base import Output, RemoteProcess, StepContext, StepResult
from swrun.executors.pm2status import (  # status reading; its names' old place is here
    _ANSI,
    VERIFY_WAIT,
    AppState,
    parse_jlist,
    verify,
)
from swrun.model import Step
from swrun.toolnoise import Noise

VERBS = ("start", "restart", "reload", "stop", "delete", "save", "status")
_NAMED = ("restart", "reload", "stop", "delete")
_FINAL = {"start": "online", "restart": "online", "reload": "online", "stop": "stopped",
          "delete": "absent"}
SETTLE = 2.0
"""Seconds an online app must keep its pid and restart count after the verbs."""


@dataclass(frozen=True)
class Pm2Command:
    verb: str
    args: tuple[str, ...]
    """Arguments after the verb, trailing bare `--` removed."""
    offset: int
    """0-based line within the block body."""
    app: str | None = None
    """The app it acts on (`all` for every app); None for save/status."""
    checks: tuple[str, ...] = ()
    """status: the apps it checks are online (`all` when it names none)."""

    def argv(self) -> list[str]:
        if self.verb == "status":  # the names are swrun's to check; `pm2 status` lists every app
            return [self.verb, *(a for a in self.args if a.startswith("-"))]
        return [self.verb, *self.args]


@dataclass(frozen=True)
class Problem:
    offset: int
    severity: str
    """"error" or "warning"."""
    message: str


def parse(body: str) -> tuple[list[Pm2Command], list[Problem]]:
    """The verbs of a pm2 block and every problem with them (for `swrun check` and the run)."""
    commands: list[Pm2Command] = []
    problems: list[Problem] = []
    for offset, raw in enumerate(body.splitlines()):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            problems.append(Problem(offset, "error", f"cannot split {line!r}: {exc}"))
            continue
        if words and words[0] == "pm2":
            words = words[1:]
        if not words:
            continue
        verb, args = words[0], words[1:]
        if verb not in VERBS:
            problems.append(Problem(offset, "error", f"unknown pm2 verb {verb!r} (expected "
                                    f"{', '.join(VERBS)})"))
            continue
        if verb == "start" and args and args[-1] == "--":
            problems.append(Problem(offset, "warning", "trailing `--` with no arguments makes "
                                    "`pm2 start` fail; swrun drops it"))
            args = args[:-1]
        positional = _positional(args)
        app: str | None = None
        checks: tuple[str, ...] = ()
        if verb == "start":
            app = _option(args, "--name", "-n")
            if not positional:
                problems.append(Problem(offset, "error", "start needs a script: start FILE "
                                        "--name NAME"))
                continue
            if not app:
                problems.append(Problem(offset, "error", "start needs --name NAME so swrun can "
                                        "verify the app is online"))
                continue
        elif verb in _NAMED:
            if len(positional) != 1:
                problems.append(Problem(offset, "error", f"{verb} needs exactly one app name "
                                        f"(or `all`): {verb} NAME"))
                continue
            app = positional[0]
        elif verb == "status":
            checks = tuple(dict.fromkeys(positional)) or ("all",)
        elif positional:
            problems.append(Problem(offset, "error", f"{verb} takes no app name"))
            continue
        commands.append(Pm2Command(verb, tuple(args), offset, app, checks))
    if not commands and not problems:
        problems.append(Problem(0, "error", "pm2 block has no verbs"))
    for cmd in [c for c in commands if c.verb == "status"]:
        clash = _left_off(commands, cmd.checks)
        if clash:  # the apps are checked after the whole block: it cannot be both
            name, by = clash
            problems.append(Problem(cmd.offset, "error", f"status checks that {name} is "
                                    f"online, but `{' '.join(by.argv())}` leaves it "
                                    f"{_FINAL[by.verb].replace('absent', 'deleted')}"))
            commands.remove(cmd)
    return commands, problems


def _left_off(commands: list[Pm2Command],
              names: tuple[str, ...]) -> tuple[str, Pm2Command] | None:
    """A named app that the block's verbs leave stopped or deleted, and the verb that does."""
    last: dict[str, Pm2Command] = {}
    for cmd in commands:
        if cmd.app == "all":
            last = {}
        if cmd.app is not None:
            last[cmd.app] = cmd
    for name in names:
        if name == "all":
            continue
        cmd = last.get(name) or last.get("all")
        if cmd is not None and _FINAL[cmd.verb] != "online":
            return name, cmd
    return None


def validate(body: str) -> list[Problem]:
    return parse(body)[1]


def _positional(args: list[str]) -> list[str]:
    """Non-option words before a `--` (options that take a value swallow it)."""
    out: list[str] = []
    takes_value = {"--name", "-n", "--interpreter", "--log", "-l", "--output", "-o",
                   "--error", "-e", "--cwd", "--max-memory-restart", "--instances", "-i",
                   "--node-args", "--interpreter-args", "--namespace", "--env",
                   "--log-date-format", "--cron", "--cron-restart", "-c", "--wait-ready",
                   "--listen-timeout", "--kill-timeout", "--restart-delay",
                   "--exp-backoff-restart-delay",
                   "--max-restarts", "--watch-delay", "--ignore-watch", "--uid", "--gid",
                   "--merge-logs-name"}
    skip = False
    for word in args:
        if skip:
            skip = False
            continue
        if word == "--":
            break
        if word.startswith("-"):
            skip = word in takes_value
            continue
        out.append(word)
    return out


def _option(args: list[str], *names: str) -> str | None:
    for i, word in enumerate(args):
        if word == "--":
            return None
        for name in names:
            if word == name and i + 1 < len(args):
                return args[i + 1]
            if word.startswith(name + "="):
                return word[len(name) + 1:]
    return None


def expected_states(commands: list[Pm2Command]) -> dict[str, str]:
    """app → the state the verbs leave it in: online, stopped or absent (`all` for every app)."""
    out: dict[str, str] = {}
    for cmd in commands:
        if cmd.app is None:
            continue
        state = _FINAL[cmd.verb]
        if cmd.app == "all":
            out = {name: state for name in out}
        out[cmd.app] = state
    return out


def status_checks(commands: list[Pm2Command]) -> dict[str, str]:
    """app → "online" for every app a `status` line checks (`all` when one names no app)."""
    return {name: "online" for cmd in commands for name in cmd.checks}


def required_states(commands: list[Pm2Command]) -> dict[str, str]:
    """What the host must show after the block: `status` checks, then what the verbs leave.

    A verb's state wins over a bare `status` (`stop api` then `status`: api stopped, every
    other app online); `status NAME` of an app the verbs stop is refused by `parse`.
    """
    return {**status_checks(commands), **expected_states(commands)}


def script_for(commands: list[Pm2Command], pm2: str = "pm2") -> str:
    """The shell script: each verb echoed, then run (bash -e stops at the first failure)."""
    # Discrete mode: no banner on the first daemon spawn and no version check over the network.
    lines = ["export PM2_DISCRETE_MODE=true"]
    for cmd in commands:
        shown = " ".join(shlex.quote(a) for a in ["pm2", *cmd.argv()])
        lines.append(f"printf '%s\\n' {shlex.quote('$ ' + shown)}")
        lines.append(" ".join(shlex.quote(a) for a in [pm2, *cmd.argv()]))
    return "\n".join(lines)


# -- the executor ----------------------------------------------------------------------------
class Pm2Executor:
    """Runs PM2 verbs on every host of the step (or locally), then verifies the apps."""

    def __init__(self, settle: float = SETTLE, verify_wait: float = VERIFY_WAIT) -> None:
        self.settle = settle
        self.verify_wait = verify_wait

    def run(self, step: Step, ctx: StepContext) -> Iterator[Output | RemoteProcess | StepResult]:
        from swrun.attributes import substitute

        commands, problems = parse(step.body)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            p = errors[0]
            yield StepResult(StepStatus.FAILED, error=f"pm2 block line {p.offset + 1}: "
                             f"{p.message}")
            return
        # Variables are substituted word by word after splitting: a value with spaces or
        # quotes stays one argument (and nothing reaches a shell unquoted).
        commands = [Pm2Command(c.verb, tuple(substitute(a, ctx.variables) for a in c.args),
                               c.offset, substitute(c.app, ctx.variables) if c.app else None,
                               tuple(substitute(n, ctx.variables) for n in c.checks))
                    for c in commands]
        if step.targets:
            yield from self._remote(step, ctx, commands)
        else:
            yield from self._local(step, ctx, commands)

    def _host_work(self, commands: list[Pm2Command], host: Any, timeout: float | None,
                   name: str) -> Callable[..., Any]:
        from swrun.ssh.fanout import HostResult

        expected = expected_states(commands)
        checked = status_checks(commands)
        required = required_states(commands)
        pm2 = getattr(host, "pm2", "pm2")
        script = script_for(commands, pm2)

        def work(label: str, emit: Callable[[str, str], None], stop: threading.Event,
                 ) -> HostResult:
            t0 = time.monotonic()
            noise = {"stdout": Noise(), "stderr": Noise()}

            def show(line: str, stream: str) -> None:
                line = _ANSI.sub("", line)
                if not noise.setdefault(stream, Noise()).is_noise(line):
                    emit(line, stream)

            res = host.run(script, show, stop, timeout, name=name)
            debug = [s for n in noise.values() for s in n.kept]
            if debug:  # node's own warnings: the step's debug record, not output
                res.extra["debug"] = debug
            if not res.ok or not required:
                return res

            def query() -> dict[str, AppState]:
                qres, out, err = host.capture(f"PM2_DISCRETE_MODE=true {shlex.quote(pm2)} jlist",
                                              stop, timeout=30)
                if not qres.ok:
                    why = err[-1] if err else qres.error or qres.status
                    raise RuntimeError(f"`pm2 jlist` failed: {why}")
                return parse_jlist(out)

            try:
                bad, apps = verify(expected, query, stop, self.settle, self.verify_wait,
                                   checked)
            except (RuntimeError, ValueError) as exc:
                return HostResult("failed", exit_code=res.exit_code, error=str(exc))
            shown = [n for n in required if n in apps] if "all" not in required else list(apps)
            for n in shown:
                emit(apps[n].describe(), "stdout")
            extra: dict[str, Any] = {"apps": {n: apps[n].record() for n in shown}}
            if debug:
                extra["debug"] = debug
            ms = round((time.monotonic() - t0) * 1000)
            if stop.is_set():
                return HostResult("aborted", error="aborted by the operator", extra=extra)
            if bad:
                return HostResult("failed", exit_code=res.exit_code, duration_ms=ms,
                                  error="; ".join(bad), extra=extra)
            return HostResult("ok", exit_code=0, duration_ms=ms, extra=extra)

        return work

    def _remote(self, step: Step, ctx: StepContext,
                commands: list[Pm2Command]) -> Iterator[Output | RemoteProcess | StepResult]:
        from swrun.executors.ssh import (
            TargetError,
            fanout_plan,
            remote_env,
            summarize,
            targets_for,
        )
        from swrun.ssh.fanout import FanoutDone, fan_out

        try:
            targets = {t.name: t for t in targets_for(step, ctx)}
        except TargetError as exc:
            yield StepResult(StepStatus.FAILED, error=str(exc))
            return
        accept = bool(ctx.settings.get("accept_new_host_keys"))
        cwd = step.text("cwd")
        named: queue.SimpleQueue[RemoteProcess] = queue.SimpleQueue()  # as in executors.ssh

        def work(host: str, emit: Callable[[str, str], None], stop: threading.Event) -> Any:
            remote = _Pm2Remote(targets[host], remote_env(step, ctx, host), accept_new=accept,
                                kill_grace=ctx.kill_grace, cwd=cwd,
                                notify=lambda note: emit(f"swrun: {note}", "stderr"),
                                on_process=lambda pgid, start, boot: named.put(
                                    RemoteProcess(host, pgid, start, boot)))
            return self._host_work(commands, remote, ctx.timeout, f"swrun:{step.id}")(
                host, emit, stop)

        order = list(targets)
        result = None
        for item in fan_out(order, work, fanout_plan(step, ctx), cancel=ctx.cancel,
                            confirm=ctx.confirm):
            while not named.empty():
                yield named.get_nowait()
            if isinstance(item, FanoutDone):
                result = summarize(item, order)
            else:
                yield item
        assert result is not None
        yield _with_apps(result)

    def _local(self, step: Step, ctx: StepContext,
               commands: list[Pm2Command]) -> Iterator[Output | StepResult]:
        from swrun.executors.ssh import summarize
        from swrun.ssh.fanout import FanoutDone, Plan, fan_out

        local = _LocalHost(step, ctx)
        work = self._host_work(commands, local, ctx.timeout, f"swrun:{step.id}")
        result = None
        for item in fan_out(["local"], work, Plan(), cancel=ctx.cancel, confirm=ctx.confirm,
                            label=lambda h: None):
            if isinstance(item, FanoutDone):
                result = summarize(item, ["local"])
            else:
                yield item
        assert result is not None
        record = result.hosts.get("local", {})
        yield StepResult(result.status, exit_code=result.exit_code,
                         error=(result.error or "").replace("local: ", "", 1) or None,
                         data={"apps": {"local": record.get("apps", {})},
                               **({"debug": record["debug"]} if "debug" in record else {})})


def _with_apps(result: StepResult) -> StepResult:
    apps = {h: r["apps"] for h, r in result.hosts.items() if "apps" in r}
    if not apps:
        return result
    return StepResult(result.status, exit_code=result.exit_code, error=result.error,
                      hosts=result.hosts, data={"apps": apps})


class _Pm2Remote:
    """A RemoteHost that runs in `cwd=` (a remote directory) when the step names one."""

    def __init__(self, target: Any, env: Mapping[str, str], *, accept_new: bool,
                 kill_grace: float, cwd: str | None, notify: Callable[[str], None],
                 on_process: Callable[[int, int | None, str | None], None] | None = None,
                 ) -> None:
        from swrun.ssh.remote import RemoteHost

        self._host = RemoteHost(target, env, accept_new=accept_new, kill_grace=kill_grace,
                                notify=notify)
        self._cd = f"cd -- {shlex.quote(cwd)}; " if cwd else ""
        self.on_process = on_process
        """Called with the pm2 commands' remote process group, as for SSH steps (a resume
        after swrun died looks for it: docs/run-log.md)."""

    def run(self, script: str, emit: Any, stop: threading.Event, timeout: float | None,
            name: str = "swrun") -> Any:
        return self._host.run(self._cd + script, emit, stop, timeout, name=name,
                              on_process=self.on_process)

    def capture(self, script: str, stop: threading.Event, timeout: float | None = 30.0) -> Any:
        return self._host.capture(script, stop, timeout)


class _LocalHost:
    """This machine, with the same run/capture interface as a RemoteHost."""

    def __init__(self, step: Step, ctx: StepContext) -> None:
        from swrun.executors.shell import working_dir

        self.ctx = ctx
        self.cwd = working_dir(step, ctx)

    def run(self, script: str, emit: Any, stop: threading.Event, timeout: float | None,
            name: str = "swrun") -> Any:
        from swrun.executors.shell import ShellExecutor
        from swrun.ssh.fanout import HostResult

        ctx = StepContext(runbook=self.ctx.runbook, variables=self.ctx.variables,
                          env=self.ctx.env, cancel=stop, timeout=timeout,
                          kill_grace=self.ctx.kill_grace)
        t0 = time.monotonic()
        result: StepResult | None = None
        argv = ["bash", "-e", "-o", "pipefail", "-c", script, name]
        for item in ShellExecutor()._run(argv, self.cwd, ctx):
            if isinstance(item, Output):
                emit(item.line, item.stream)
            elif isinstance(item, StepResult):
                result = item
        assert result is not None
        status = result.status.value
        error = result.error or (f"exit {result.exit_code}" if status == "failed" else None)
        return HostResult(status, exit_code=result.exit_code, error=error,
                          duration_ms=round((time.monotonic() - t0) * 1000))

    def capture(self, script: str, stop: threading.Event, timeout: float | None = 30.0) -> Any:
        out: list[str] = []
        err: list[str] = []
        res = self.run(script, lambda line, stream: (out if stream == "stdout" else err)
                       .append(line), stop, timeout, name="swrun-query")
        return res, out, err
