"""`swrun execute`: run a runbook headless (CI, cron, drills) and write its run log."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from swrun import engine as engine_module
from swrun import kube
from swrun.engine import Engine, OperatorNeeded, Resume, Selection, Settings
from swrun.errors import RunLogError, UsageError
from swrun.events import Event, RunStatus
from swrun.executors.rawout import STREAMS, RawOutput, sweep
from swrun.exitcodes import ExitCode
from swrun.files import read_regular
from swrun.model import Runbook
from swrun.operators import (
    AutoOperator,
    NoTtyOperator,
    TtyOperator,
    confirm_environment_problem,
    needs_typed_confirmation,
)
from swrun.render import HumanRenderer, JsonRenderer, use_colour
from swrun.secrets import Masker
from swrun.session import drive, operator_name, run_header
from swrun.variables import parse_assignments, resolve, secret_values, sources_line

if TYPE_CHECKING:
    from swrun.registry import RunbookLock
    from swrun.runlog import LogData, ResumeState, RunLog
    from swrun.ssh.remote import RemoteHost


@dataclass
class ExecuteOptions:
    file: str
    variables: list[str] = field(default_factory=list)
    yes: bool = False
    step_mode: bool = False
    dry_run: bool = False
    from_step: str | None = None
    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    keep_going: bool = False
    rollback_on_failure: bool = False
    confirm_environment: str | None = None
    confirm: list[str] = field(default_factory=list)
    """Steps (number or id) whose inferred gate headless passes (`--confirm STEP`)."""
    resume: str | None = None
    """None: a new run; "": the newest unfinished log of the runbook; else a log path."""
    log: str | None = None
    operator: str | None = None
    json: bool = False
    strict: bool = False
    inventory: str | None = None
    accept_new_host_keys: bool = False
    concurrent: bool = False
    """Run even while another swrun runs the same runbook (it is warned, not refused)."""
    stop_leftovers: bool = False
    """--resume: stop a step the run that died left running (TERM, then KILL) instead of
    refusing with LEFTOVERS."""
    sign_with: str | None = None
    """The SSH key the log is signed with (else the front matter's signing_key, else
    $SWRUN_SIGNING_KEY; none: the log is unsigned, and the run says so once)."""
    approvals: list[str] = field(default_factory=list)
    """Signed approval files (`--approval FILE`) for steps that need approval."""
    no_carry: bool = False
    """--resume: start the later steps without the shell state the log carries (needed
    when the log's hash chain does not verify)."""
    interactive: bool | None = None
    """Override TTY detection (tests)."""
    argv: list[str] | None = None
    """The command line recorded in the log header (default sys.argv)."""


_EXIT = {
    RunStatus.COMPLETED: ExitCode.OK,
    RunStatus.FAILED: ExitCode.STEP_FAILED,
    RunStatus.ROLLED_BACK: ExitCode.STEP_FAILED,
    RunStatus.ROLLBACK_FAILED: ExitCode.STEP_FAILED,
    RunStatus.OPERATOR_NEEDED: ExitCode.OPERATOR_NEEDED,
    RunStatus.ABORTED: ExitCode.INTERRUPTED,
}


_ROLLBACK_ONLY = ("is in the rollback section, which runs only after a failure "
                  "(--rollback-on-failure); {flag} picks from the main steps")


def _unless_closed(sink: Callable[[Event], None], engine: Engine) -> Callable[[Event], None]:
    """The front end, until stdout goes away (`swrun execute … | head`): then the run is
    aborted like an interrupt and the log, not the closed pipe, gets the rest. A stdout that
    fails otherwise (`> /dev/full`, a full disk, an I/O error) is said once on stderr and
    the run goes on: nobody stopped reading, and its log keeps everything."""
    closed = False

    def send(event: Event) -> None:
        nonlocal closed
        if closed:
            return
        try:
            sink(event)
        except BrokenPipeError:
            closed = True
            engine.abort("aborted: standard output was closed")
            _stdout_to_devnull()
        except OSError as exc:
            closed = True
            _stdout_failed(exc)

    return send


def _stdout_to_devnull() -> None:
    """Nothing more reaches stdout, not even what Python's buffer holds at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class _QuietWhenClosed:
    """stderr that goes quiet when its reader went away (`swrun execute … 2>&1 | head`):
    a closed stdout aborts the run (exit 130), a closed stderr only silences what is said
    there; neither may end swrun with a traceback or exit 1 while the log is written."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def _gone(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def quiet_when_closed() -> None:
    """From here on, a closed stderr silences diagnostics instead of failing (see above)."""
    if not isinstance(sys.stderr, _QuietWhenClosed) and sys.stderr is not None:
        sys.stderr = _QuietWhenClosed(sys.stderr)  # type: ignore[assignment]


def _stdout_failed(exc: OSError) -> None:
    _stdout_to_devnull()
    with contextlib.suppress(OSError):
        print(f"swrun: warning: cannot write to standard output ({exc.strerror or exc}); "
              "the run goes on, and its log keeps everything", file=sys.stderr, flush=True)


def _flush_stdout() -> None:
    """What is still buffered for stdout, written now: a failure is the one line above, not
    Python's "Exception ignored" at exit."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
    except OSError as exc:
        _stdout_failed(exc)


def confirmed_steps(runbook: Runbook, refs: list[str]) -> frozenset[str]:
    """The ids `--confirm STEP` names; one that names no step is a usage error."""
    ids = []
    for ref in refs:
        found = runbook.find(ref)
        if found is None or not found.actionable:
            raise UsageError(f"--confirm {ref}: no such step (see `swrun plan {runbook.path}`)")
        ids.append(found.id)
    return frozenset(ids)


def select(runbook: Runbook, opts: ExecuteOptions) -> Selection:
    def step(ref: str, flag: str) -> str:
        found = runbook.find(ref)
        if found is None or not found.actionable:
            raise UsageError(f"{flag} {ref}: no such step (see `swrun plan {runbook.path}`)")
        if found.in_rollback:
            raise UsageError(f"{flag} {ref}: step {found.number} '{found.title}' "
                             + _ROLLBACK_ONLY.format(flag=flag))
        return found.id

    start = runbook.find(step(opts.from_step, "--from")) if opts.from_step else None
    only = None
    if opts.only:
        ids = []
        for ref in opts.only:
            sec = runbook.find_section(ref)
            same = [s for s in runbook.root.walk() if s.title.lower() == ref.strip().lower()]
            if sec is not None and sec.id != ref and len(same) > 1:
                raise UsageError(f"--only {ref}: {len(same)} sections have that title; name "
                                 f"one by id: {', '.join(s.id for s in same)}")
            if sec is None:
                raise UsageError(f"--only {ref}: no such section (see `swrun plan "
                                 f"{runbook.path}`)")
            if sec.rollback:
                raise UsageError(f"--only {ref}: section '{sec.title}' "
                                 + _ROLLBACK_ONLY.format(flag="--only"))
            ids.append(sec.id)
        only = frozenset(ids)
    return Selection(start=start, only=only,
                     skip=frozenset(step(r, "--skip") for r in opts.skip))


@dataclass(frozen=True)
class ResumePoint:
    """Where an unfinished log left off (shared with the TUI)."""

    resume: Resume
    run_id: str
    variables: dict[str, str]
    """Values the earlier run logged (secrets, logged masked, must be given again)."""
    warnings: list[str]
    log: RunLog | None = None
    """The log, locked by this process and repaired: `open_run_log` continues it. Held from
    before anything is asked, so a second resume of the same log is refused up front."""
    leftovers: tuple[Leftover, ...] = ()
    """Steps the part of the run that died left running: `settle_leftovers` deals with
    them (and must, before the engine runs: `still_running` ones run beside a new copy)."""

    @property
    def still_running(self) -> list[Leftover]:
        return [left for left in self.leftovers if left.alive]

    def release(self) -> None:
        """Give the log up without running (a cancelled pre-flight); harmless twice."""
        if self.log is not None:
            _HELD.pop(_key(self.log.path), None)
            self.log.close()


_HELD: dict[str, RunLog] = {}
"""Logs `resume_point` locked, by real path, until `open_run_log` takes them over."""


def _key(path: Path) -> str:
    return os.path.realpath(path)


def resume_point(runbook: Runbook, log_path: Path, inventory: str | None = None,
                 carry: bool = True) -> ResumePoint:
    """Lock the log first (repairing a torn tail), then read what is done: a resume that
    waits at a prompt holds the log, and a second one gets LogLockedError, not a run beside
    it. The lock stays held in the returned point until `open_run_log` or `release`.
    `inventory` (else the one the log names, else the front matter's) finds the hosts of a
    remote step left running. `carry`: False starts the later steps without the shell state
    the log carries (--no-carry); True refuses a log whose chain does not verify when it
    carries one (RunLogError)."""
    from swrun.runlog import RunLog, read_log

    log = RunLog.open_append(log_path)
    try:
        point = _resume_point(runbook, log_path, read_log(log_path), log, inventory, carry)
    except BaseException:
        log.close()
        raise
    _HELD[_key(log_path)] = log
    return point


def _resume_point(runbook: Runbook, log_path: Path, data: LogData, log: RunLog,
                  inventory: str | None = None, carry: bool = True) -> ResumePoint:
    from swrun.runlog import resume_state

    warnings = [*log.warnings, *data.warnings]
    state = resume_state(data)
    if state.shell_states:
        state, said = _carried(state, log_path, carry, runbook)
        warnings += said
    logged = str(data.run.get("runbook", ""))
    # the log names its runbook as given, relative to where that run started: from another
    # directory, the same file name with the same text is the same runbook
    same_name = Path(logged).name == Path(runbook.path).name
    if logged and Path(logged).resolve() != Path(runbook.path).resolve() and not (
            same_name and state.sha256 == runbook.sha256):
        hint = (" (the log names it relative to the directory that run started in: run "
                "from there)" if same_name else "")
        raise RunLogError(f"{log_path} is a log of {logged}, not of {runbook.path}{hint}")
    changed = state.sha256 != runbook.sha256
    if changed:
        warnings.append(f"{runbook.path} changed since {log_path} was written; "
                        "steps whose content changed will run again")
    previous = {k: str(v) for k, v in dict(data.run.get("variables", {})).items()
                if str(v) != "****" and k in runbook.variables}
    gone = sorted(set(dict(data.run.get("variables", {}))) - set(runbook.variables))
    if gone:
        warnings.append(f"{runbook.path} no longer declares {', '.join(gone)}: the logged "
                        "value(s) are not used")
    resume = Resume(done=state.done, next_seq=state.next_seq, runbook_changed=changed,
                    outcomes=state.outcomes, rollback_outcomes=state.rollback_outcomes,
                    active_ms=state.active_ms, started_at=state.started_at,
                    shell_states=state.shell_states, milestones=state.milestones)
    from swrun.session import inventory_file

    logged_inv = data.run.get("inventory")
    inv = inventory_file(runbook, inventory or (str(logged_inv) if logged_inv else None))
    leftovers = find_leftovers(data, inv)
    warnings += [left.unseen for left in leftovers if left.unseen]
    sweep(log_path.absolute().with_suffix(".run"), {
        Path(str(left.started["exit_file"])).stem for left in leftovers
        if isinstance(left.started.get("exit_file"), str)})
    return ResumePoint(resume, state.run_id, previous, warnings, log, tuple(leftovers))


def _carried(state: ResumeState, log_path: Path, carry: bool, runbook: Runbook
             ) -> tuple[ResumeState, list[str]]:
    """The shell state a resume starts from: none with --no-carry, none (an error) from a
    log whose chain does not verify, and never a name that makes a shell run code."""
    from swrun.carry import untrusted

    steps = len(state.shell_states)
    if not carry:
        return dataclasses.replace(state, shell_states=()), [
            f"--no-carry: the later steps start without the exports and folder of the "
            f"earlier ones ({log_path} carries them from {steps} step(s))"]
    try:
        why = untrusted(log_path.read_bytes())
    except OSError as exc:
        why = f"it cannot be read again ({exc.strerror})"
    if why is not None:
        raise RunLogError(f"{log_path}: {why}: the shell state it carries (exports, folder) "
                          "is not trusted; resume with --no-carry to run the later steps "
                          "without it")
    from swrun.carry import ShellState
    from swrun.variables import looks_secret

    # what the engine will leave out, said before anything runs (the runbook's variables
    # all have values by then: any value stands in for them here)
    said = ShellState(str(runbook.base_dir), runbook.variables, looks_secret).load(
        state.shell_states, os.environ, dict.fromkeys(runbook.variables, ""))
    return state, [f"{log_path}: {line}" for line in said]


# -- leftovers: a step still running after swrun died ---------------------------------------


@dataclass(frozen=True)
class RemoteGroup:
    """A process group a remote step started on a host (its `step_processes` record)."""

    host: str
    pgid: int
    start: int | None = None
    boot_id: str | None = None
    state: str = "unchecked"
    """`alive`, `gone`, or `unreachable` (cannot tell: `why` says what failed)."""
    why: str = ""

    def describe(self) -> str:
        return f"process group {self.pgid} on {self.host}"


@dataclass(frozen=True)
class Leftover:
    """A step whose `step_started` has no end in the part of the run that died."""

    started: dict[str, Any]
    """Its step_started record."""
    log_dir: Path
    members: tuple[int, ...] = ()
    """Live processes of its process group, now."""
    exit_code: int | None = None
    """What its exit file says: the command ended on its own after swrun died."""
    remote: tuple[RemoteGroup, ...] = ()
    """A remote step's process groups, one a host (what `step_processes` recorded)."""
    inventory: Path | None = None
    """Where a remote step's hosts are found (the run's inventory)."""

    @property
    def step(self) -> str:
        return str(self.started.get("step"))

    @property
    def pgid(self) -> int | None:
        got = self.started.get("pgid")
        return got if isinstance(got, int) and got > 1 else None

    @property
    def alive(self) -> bool:
        """Some of its processes live — or, on a host that cannot be reached, may."""
        return bool(self.members) or any(g.state in ("alive", "unreachable")
                                         for g in self.remote)

    @property
    def unreachable(self) -> list[RemoteGroup]:
        return [g for g in self.remote if g.state == "unreachable"]

    @property
    def name(self) -> str:
        number = self.started.get("number")
        return (f"step {number} " if isinstance(number, int) else "step ") + \
            f"'{self.started.get('title') or self.step}'"

    @property
    def unseen(self) -> str | None:
        """A warning for a step whose processes swrun cannot look for (remote, or a kind
        that records none): it runs again, and the operator should know."""
        if self.pgid is not None or self.remote:
            return None
        hosts = self.started.get("hosts") or []
        where = self.started.get("host") or ", ".join(str(h) for h in hosts)
        place = f"on {where} " if where else ""
        return (f"{self.name} was running {place}when the run died and swrun cannot see "
                f"whether it still is{' (a remote step)' if where else ''}: make sure it "
                "is not before it runs again")

    def describe(self) -> str:
        """`step 3 'migrate' (pid 4242, process group 4242: 2 processes)`; remote:
        `step 3 'migrate' (on db1: remote process group 4242)`."""
        if self.remote:
            shown = [g for g in self.remote if g.state != "gone"] or list(self.remote)
            return f"{self.name} (" + "; ".join(
                f"on {g.host}: remote process group {g.pgid}"
                + (f", cannot tell whether it still runs: {g.why}"
                   if g.state == "unreachable" else "") for g in shown) + ")"
        n = len(self.members)
        return (f"{self.name} (pid {self.started.get('pid')}, process group {self.pgid}: "
                f"{n} process{'es' if n != 1 else ''})")

    def fate(self) -> str:
        """What became of it, for the resume offer: `step 2 'Migrate' was running when swrun
        stopped; it finished with exit 0 after swrun died`."""
        head = f"{self.name} was running when swrun stopped"
        if self.remote:
            hosts = ", ".join(g.host for g in self.remote)
            alive = [g.host for g in self.remote if g.state == "alive"]
            if alive:
                return f"{head}; it is still running on {', '.join(alive)}"
            if all(g.state == "gone" for g in self.remote):
                return (f"{head}; it has ended on {hosts} (its exit status is not known: it "
                        "runs again)")
            return f"{head} on {hosts}; resuming looks for it there"
        if self.pgid is None:
            return f"{head}; swrun cannot see whether it still is: it runs again"
        if self.members:
            return f"{head}; it is still running (pid {self.started.get('pid')})"
        if self.exit_code is not None:
            return f"{head}; it finished with exit {self.exit_code} after swrun died"
        return f"{head}; it was stopped before it ended (no exit status): it runs again"

    def refresh(self) -> Leftover:
        """Looked at again now: which of its processes live, and its exit file."""
        from swrun import procs

        if self.remote:
            return dataclasses.replace(self, remote=tuple(
                g if g.state == "gone" else _probe(g, self.inventory) for g in self.remote))
        pgid = self.pgid
        if pgid is None:
            return self
        members: list[int] = []
        boot = self.started.get("boot_id")
        if not (isinstance(boot, str) and procs.boot_id() not in (None, boot)):
            leader_start = procs.start_time(pgid)
            # the group's id is its leader's pid; while a member lives the kernel gives that
            # pid to nobody else, so a leader with another start time means ours are gone
            recorded = self.started.get("pid_start")
            if leader_start is None or recorded is None or leader_start == recorded:
                members = procs.group_members(pgid)
        code = None
        exit_file = self.started.get("exit_file")
        if isinstance(exit_file, str) and exit_file:
            with contextlib.suppress(OSError, ValueError):
                code = int(read_regular(self.log_dir / exit_file, 64).strip())
        return dataclasses.replace(self, members=tuple(members), exit_code=code)


def _remote_host(name: str, inventory: Path | None, grace: float = 5.0) -> RemoteHost:
    """The RemoteHost of inventory host `name`, as the run reached it (strict host keys)."""
    from swrun.errors import InventoryError
    from swrun.executors.ssh import _inventory
    from swrun.ssh import ConnectError
    from swrun.ssh.remote import RemoteHost
    from swrun.ssh.target import resolve

    if inventory is None:
        raise ConnectError(f"{name}: no inventory to find the host in (pass --inventory)")
    try:
        found = [h for h in _inventory(inventory).hosts(name) if h.name == name]
    except InventoryError as exc:
        raise ConnectError(str(exc)) from None
    if not found:
        raise ConnectError(f"{name}: not in {inventory}")
    return RemoteHost(resolve(found[0].name, found[0].vars, base_dir=inventory.parent), {},
                      kill_grace=grace)


def _probe(group: RemoteGroup, inventory: Path | None) -> RemoteGroup:
    from swrun.ssh import ConnectError

    try:
        alive = _remote_host(group.host, inventory).probe(group.pgid, group.start,
                                                           group.boot_id)
    except ConnectError as exc:
        why = str(exc).removeprefix(f"{group.host}: ")
        return dataclasses.replace(group, state="unreachable",
                                   why=f"{group.host} cannot be reached ({why})")
    return dataclasses.replace(group, state="alive" if alive else "gone", why="")


def find_leftovers(data: LogData, inventory: Path | None = None) -> list[Leftover]:
    """The step(s) started in the log's last part with no end logged for that attempt;
    a remote one is looked for on its hosts (found through `inventory`)."""
    events = data.events
    last = max((i for i, e in enumerate(events) if e.get("type") in
                ("run_started", "run_resumed", "run_finished")), default=-1)
    if last >= 0 and events[last].get("type") == "run_finished":
        return []
    open_: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[RemoteGroup]] = {}
    for event in events[last + 1:]:
        step = event.get("step")
        if not isinstance(step, str):
            continue
        if event.get("type") == "step_started":
            open_[step] = event
            groups[step] = []
        elif event.get("type") == "step_processes" and step in open_ and \
                event.get("attempt") == open_[step].get("attempt"):
            pgid, start, boot = event.get("pgid"), event.get("start"), event.get("boot_id")
            if isinstance(pgid, int) and pgid > 1:
                groups[step].append(RemoteGroup(
                    str(event.get("host")), pgid, start if isinstance(start, int) else None,
                    boot if isinstance(boot, str) else None))
        elif event.get("type") in ("step_finished", "step_skipped", "check_ticked"):
            open_.pop(step, None)
    folder = data.path.parent
    return [Leftover(dict(e), folder, remote=tuple(groups.get(step, ())),
                     inventory=inventory).refresh() for step, e in open_.items()]


def _wait_gone(left: Leftover, seconds: float | None,
               cancelled: Callable[[], bool] | None = None) -> Leftover:
    deadline = None if seconds is None else time.monotonic() + seconds
    while left.alive:
        if deadline is not None and time.monotonic() >= deadline:
            break
        if cancelled is not None and cancelled():
            break
        time.sleep(0.5 if left.remote else 0.05)  # a remote look is an SSH command
        left = left.refresh()
    return left


def stop_leftover(left: Leftover, grace: float = 5.0) -> Leftover:
    """TERM its process group, then KILL what is left after `grace` seconds (on its hosts,
    for a remote step: LeftoverError when a host cannot be reached or the group lives on)."""
    if left.remote:
        return _stop_remote(left, grace)
    pgid = left.pgid
    if pgid is None or not left.alive:
        return left
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    left = _wait_gone(left.refresh(), grace)
    if left.alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        left = _wait_gone(left.refresh(), 10.0)
    return left


def _stop_remote(left: Leftover, grace: float) -> Leftover:
    from swrun.errors import LeftoverError
    from swrun.ssh import ConnectError

    said: dict[str, str] = {}
    for group in left.remote:
        if group.state == "gone":
            continue
        try:
            if group.state == "unreachable":
                raise ConnectError(group.why)
            said[group.host] = _remote_host(group.host, left.inventory, grace).stop_group(
                group.pgid)
        except ConnectError as exc:
            raise LeftoverError(f"--stop-leftovers cannot stop {left.name} on {group.host}: "
                                f"{exc}; nothing ran") from None
    left = left.refresh()
    for group in left.remote:
        if group.state != "gone":
            raise LeftoverError(f"--stop-leftovers could not stop {left.name} on "
                                f"{group.host} ({said.get(group.host) or group.why}); "
                                "nothing ran")
    return dataclasses.replace(left, remote=tuple(
        dataclasses.replace(g, why=said.get(g.host, "")) for g in left.remote))


def settle_leftovers(
    runbook: Runbook, point: ResumePoint, *, by: str, stop: bool = False, wait: bool = False,
    grace: float = 5.0, cancelled: Callable[[], bool] | None = None,
    say: Callable[[str], None] | None = None,
) -> ResumePoint:
    """Deal with the steps the run that died left running, before anything runs again.

    Still running: with `wait`, wait for them to end; with `stop`, stop their process group
    (TERM, then KILL after `grace`); otherwise LeftoverError (nothing ran; the log stays
    locked in `point` until released). Then each gets a `step_finished` logged right after
    `run_resumed` (Resume.settled): the command's own exit status when its exit file has one
    (`ok` from 0: done, not run again — it ran once), else `aborted` (it runs again)."""
    from swrun.errors import LeftoverError

    lefts = [left.refresh() for left in point.leftovers]
    where = point.log.path if point.log else "the run log"
    blind = [left for left in lefts if left.unreachable]
    if blind and not wait:  # cannot tell: not run beside a copy that may still be running
        group = blind[0].unreachable[0]
        raise LeftoverError(
            f"{where}: --stop-leftovers cannot stop {blind[0].name} on {group.host}: "
            f"{group.why}; nothing ran" if stop else
            f"{where}: cannot tell whether {blind[0].name} is still running on "
            f"{group.host}: {group.why}; resume when it can be reached")
    running = [left for left in lefts if left.alive]
    if running and not (stop or wait):
        first = running[0]
        raise LeftoverError(
            f"{where}: {first.describe()} is still "
            "running from the run that died; wait for it to end, or resume with "
            "--stop-leftovers to stop it")
    settled: list[dict[str, Any]] = []
    files: list[str] = []
    late: dict[str, str] = {}
    done = dict(point.resume.done)
    outcomes = dict(point.resume.outcomes)
    main = {s.id for s in runbook.main_steps}
    for left in lefts:
        if left.pgid is None and not left.remote:
            continue
        how = "finished"
        if left.alive and wait:
            if say:
                say(f"waiting for {left.describe()}, left running by the run that died")
            left = _wait_gone(left, None, cancelled)
            how = "waited"
        if left.alive:
            if say:
                say(f"stopping {left.describe()}, left running by the run that died "
                    f"(TERM, then KILL after {grace:g}s)")
            left = stop_leftover(left, grace)
            how = "stopped"
        rec = left.started
        fields: dict[str, Any] = {k: rec.get(k) for k in
                                  ("step", "number", "title", "kind", "attempt", "host")}
        fields.update(by=by, hash=rec.get("hash"), exit_code=left.exit_code)
        who = f"pid {rec.get('pid')}, process group {left.pgid}"
        if left.remote:
            who = ", ".join(f"{g.describe()}: {g.why}" if g.why else g.describe()
                            for g in left.remote)
            fields["hosts"] = {g.host: {"pgid": g.pgid} for g in left.remote}
        if left.remote and left.exit_code is None and how != "stopped":
            status, how = "aborted", "gone"
            fields["error"] = ("ended after swrun died; a remote command's exit status is not "
                               f"known after swrun died: it runs again ({who})")
        elif left.exit_code is None:
            status = "aborted"
            how = "stopped" if how == "stopped" else "gone"
            fields["error"] = ("still running when the run was resumed: stopped (TERM, then "
                               f"KILL); it runs again ({who})" if how == "stopped" else
                               "ended after swrun died with no exit status recorded; it runs "
                               f"again ({who})")
        else:
            status = "ok" if left.exit_code == 0 else "failed"
            fields["note"] = {
                "finished": f"ended on its own after swrun died ({who}); logged on resume",
                "waited": f"was still running after swrun died; the resume waited for it "
                          f"to end ({who})",
                "stopped": f"was still running after swrun died and ended as the resume "
                           f"stopped it ({who})",
            }[how]
        fields.update(status=status, leftover=how)
        settled.append({k: v for k, v in fields.items() if v is not None})
        if say:
            say(left.fate())
        if isinstance(rec.get("exit_file"), str) and rec["exit_file"]:
            exit_file = left.log_dir / rec["exit_file"]
            files.append(str(exit_file))
            raw = RawOutput.beside(exit_file)  # what it printed after swrun died
            files += [str(p) for p in raw.paths]
            if any(raw.path(s).is_file() for s in STREAMS):
                raw.quiesce()
                late[left.step] = str(raw.base)
        if left.step in main:
            outcomes[left.step] = status
            if status == "ok" and isinstance(rec.get("hash"), str):
                done[left.step] = rec["hash"]
            else:
                done.pop(left.step, None)
    resume = dataclasses.replace(point.resume, done=done, outcomes=outcomes,
                                 settled=tuple(settled), settled_files=tuple(files),
                                 late_output=late)
    return dataclasses.replace(point, resume=resume, leftovers=tuple(lefts))


def resume_command(path: str | Path, log_path: Path, opts: ExecuteOptions) -> list[str]:
    """`swrun execute FILE --resume LOG` with the options of this run the resume needs again
    (the log gives the variables and what is done)."""
    keep: list[str] = []
    if opts.inventory:
        keep += ["--inventory", opts.inventory]
    if opts.confirm_environment:
        keep += ["--confirm-environment", opts.confirm_environment]
    for ref in opts.confirm:  # steps named already stay named
        keep += ["--confirm", ref]
    if opts.sign_with:  # a signed run goes on signed (a step needing approval requires it)
        keep += ["--sign-with", opts.sign_with]
    return ["swrun", "execute", str(path), "--resume", str(log_path), *keep]


def resume_hints(path: str | Path, log_path: Path, needed: OperatorNeeded | None,
                 opts: ExecuteOptions) -> list[str]:
    """Commands that continue a run stopped for an operator, each one that works when
    pasted: at a terminal (a person answers), and headless with what gets past the stop."""
    base = resume_command(path, log_path, opts)
    lines = [f"resume at a terminal to answer it: {shlex.join(base)}"]
    if needed is not None and needed.resume_args:
        more = list(needed.resume_args)
        if opts.confirm_environment and "--confirm-environment" in more:  # given already
            at = more.index("--confirm-environment")
            del more[at:at + 2]
        lines.append(f"or headless ({needed.resume_says}): {shlex.join([*base, *more])}")
    return lines


def open_run_log(
    runbook: Runbook, settings: Settings, log_path: Path | None, resume: Resume | None,
    operator: str, values: dict[str, str], argv: list[str] | None,
    inventory: str | None = None,
) -> tuple[RunLog, Path]:
    """Create (or continue, to resume) the run log; sets settings.log_path and run_dir. A
    resumed log is the one `resume_point` locked (opened and locked here otherwise)."""
    from swrun.runlog import RunLog, default_log_path

    started = engine_module._now()
    if log_path is None:
        log_path = default_log_path(runbook.path, settings.run_id, started)
    settings.log_path = str(log_path.absolute())
    if resume is not None:
        log = _HELD.pop(_key(log_path), None) or RunLog.open_append(log_path)
    else:
        key = settings.evidence.signing_key if settings.evidence else None
        log = RunLog.create(log_path, run_header(
            runbook, settings.run_id, operator, values, started, argv,
            inventory=inventory or settings.executor_settings.get("inventory"),
            operator_key=key.fingerprint if key else None))
    settings.run_dir = log_path.absolute().with_suffix(".run")  # steps may chdir
    return log, log_path


def sign_run_log(log: RunLog, settings: Settings, operator: str, runbook: Runbook
                 ) -> tuple[Path | None, str]:
    """Sign the log's chain head as this part of the run leaves it (`<log>.sig`): the
    signature file and a line to show, or (None, why the log is unsigned). Never raises: the
    run has happened, and a key that cannot sign leaves the log unsigned, said once."""
    from swrun.errors import EvidenceError
    from swrun.evidence.sign import sign_log

    ev = settings.evidence
    if ev is None:  # the front matter's or $SWRUN_SIGNING_KEY, as the engine reads them
        from swrun.evidence.approve import evidence_for

        try:
            ev = evidence_for(runbook)
        except EvidenceError as exc:
            return None, f"{log.path} is unsigned: {exc}"
    if ev.signing_key is None:
        why = ev.key_problem or "no SSH key"
        return None, f"{log.path} is unsigned: {why}"
    head = log.head
    try:
        path = sign_log(log.path, ev.signing_key, run_id=settings.run_id, head=head,
                        operator=operator)
    except EvidenceError as exc:
        return None, f"{log.path} is unsigned: {exc}"
    from swrun.events import format_time, utcnow
    from swrun.evidence import witness

    digest, size, seq = head  # a witness outside the log: a cut-back log cannot hide
    try:
        start = witness.header_hash(Path(log.path))
    except OSError:
        start = ""
    witness.record(witness.Head(settings.run_id, seq, size, digest, start),
                   log=str(Path(log.path).absolute()), signed_at=format_time(utcnow()))
    return path, f"signed {log.path} with {ev.signing_key.fingerprint} ({path.name})"


def needs_approval(runbook: Runbook, evidence: Any, selection: Selection | None = None
                   ) -> list[Any]:
    """The steps that will wait for approval (main steps not left out by the selection,
    and rollback steps)."""
    steps = [s for s in runbook.main_steps
             if selection is None or selection.reason_to_skip(s, True) is None]
    steps += list(runbook.rollback_steps)
    return [s for s in steps if evidence.needed(s, runbook.environment)]


def approvals_preflight(runbook: Runbook, evidence: Any,
                        selection: Selection | None = None) -> None:
    """Before anything runs: a run with a step that needs approval must know who its operator
    is (a signing key allowed_signers lists) and whose keys count; EvidenceError otherwise."""
    from swrun.errors import EvidenceError

    waiting = needs_approval(runbook, evidence, selection)
    problem = evidence.operator_problem() if waiting else None
    if problem is not None:
        step = waiting[0]
        raise EvidenceError(f"{runbook.path}:{step.span.line}: step {step.number} "
                            f"'{step.title}' needs approval, and {problem}")


def _approval_lines(sink: Callable[[Event], None], err: Any) -> Callable[[Event], None]:
    """Headless, human output: approvals are said on stderr (the renderer knows steps)."""
    from swrun.evidence.approve import waiting_text

    def send(event: Event) -> None:
        rec = event.to_record() if event.type.startswith("approval") else None
        if rec is not None:
            n = rec.get("number") or rec.get("step")
            needed = int(rec.get("approvals") or 0)
            count = int(rec.get("count") or 0)
            waiting = tuple(rec.get("waiting_for") or ())
            if event.type == "approval_needed":
                text = (f"step {n} '{rec.get('title')}' needs {needed} approval(s): "
                        f"{waiting_text(needed - count, waiting)}")
            elif event.type == "approval":
                text = f"step {n} approved by {rec.get('by')} ({count} of {needed})"
                if count < needed:
                    text += f"; {waiting_text(needed - count, waiting)}"
            else:
                text = f"approval {rec.get('file') or ''} of step {n} refused: {rec.get('error')}"
            print(f"swrun: {text}", file=err, flush=True)
        sink(event)

    return send


def hold_runbook(runbook: Runbook, operator: str, *, concurrent: bool = False,
                 base: Path = Path("logs"), create: bool = True,
                 warn: Callable[[str], None] | None = None) -> RunbookLock | None:
    """Take the runbook's lock in the machine-wide registry (swrun/registry.py) for this
    run, or LogLockedError naming who holds it; `concurrent` runs anyway (warned, default on
    stderr). Front ends call this before they ask anything (`base` and `create` are left
    from the per-folder lock; a second call is made only when the first gave nothing)."""
    import socket

    from swrun.events import format_time, utcnow
    from swrun.registry import RunbookLock

    info = {"runbook": runbook.path, "environment": runbook.environment or None,
            "operator": operator, "pid": os.getpid(), "host": socket.gethostname(),
            "since": format_time(utcnow())}
    lock, warning = RunbookLock.acquire(runbook.path, info, base=base, concurrent=concurrent,
                                        create=create)
    if warning:
        if warn is None:
            print(f"swrun: warning: {warning}", file=sys.stderr)
        else:
            warn(warning)
    return lock


def execute(opts: ExecuteOptions) -> ExitCode:
    from swrun.checks import load_checked
    from swrun.evidence.approve import evidence_for
    from swrun.runlog import find_unfinished

    quiet_when_closed()
    runbook = load_checked(opts.file, strict=opts.strict)
    selection = select(runbook, opts)
    confirmed = confirmed_steps(runbook, opts.confirm)
    for ref in opts.confirm:  # a typo that names another step must not pass unseen
        named = runbook.find(ref)
        if named is not None and not named.inferred:
            print(f"swrun: warning: --confirm {ref}: step {named.number} '{named.title}' is "
                  "not asked by inference; --confirm changes nothing for it", file=sys.stderr)
    name = operator_name(opts.operator)
    evidence = evidence_for(runbook, sign_with=opts.sign_with,
                            approval_files=tuple(opts.approvals))
    if not opts.dry_run:
        approvals_preflight(runbook, evidence, selection)
    interactive = sys.stdin.isatty() and sys.stderr.isatty() if opts.interactive is None \
        else opts.interactive
    environment = runbook.environment
    if opts.yes and not opts.step_mode:
        operator: AutoOperator | TtyOperator = AutoOperator(
            name, environment, opts.confirm_environment, opts.rollback_on_failure, confirmed)
    elif interactive:
        operator = TtyOperator(name, environment, rollback_on_failure=opts.rollback_on_failure)
    else:
        operator = NoTtyOperator(name, environment, opts.confirm_environment,
                                 opts.rollback_on_failure, confirmed)

    # -- resume: which log, what is done ---------------------------------------------------
    resume: Resume | None = None
    log_path: Path | None = Path(opts.log) if opts.log else None
    previous_vars: dict[str, str] = {}
    run_id = None
    point: ResumePoint | None = None
    opened = False
    lock: RunbookLock | None = None
    try:
        warned: list[str] = []
        if not opts.dry_run:  # one swrun per runbook: refused before anything is asked
            lock = hold_runbook(runbook, name, concurrent=opts.concurrent, create=False,
                                warn=warned.append)
            for warning in warned:
                print(f"swrun: warning: {warning}", file=sys.stderr)
        if opts.resume is not None:
            if opts.resume:
                log_path = Path(opts.resume)
            else:
                log_path = find_unfinished(runbook.path)
                if log_path is None:
                    raise RunLogError(f"no unfinished run log of {runbook.path} under logs/ "
                                      "to resume (pass --resume LOG)")
            # locks the log before anything is asked; --inventory finds a leftover's hosts
            point = resume_point(runbook, log_path, opts.inventory, carry=not opts.no_carry)
            for warning in point.warnings:
                print(f"swrun: warning: {warning}", file=sys.stderr)
            if point.leftovers:
                point = settle_leftovers(
                    runbook, point, by=name, stop=opts.stop_leftovers,
                    say=lambda text: print(f"swrun: {text}", file=sys.stderr))
            resume, run_id, previous_vars = point.resume, point.run_id, point.variables

        cluster = kube.ready(runbook, resumed_log=log_path if point is not None else None)
        if cluster is not None:  # which cluster the kubectl/oc steps hit, before any runs
            print(f"swrun: {cluster.line()}", file=sys.stderr)

        cli_vars = parse_assignments(opts.variables)
        given = {**previous_vars, **cli_vars}
        values = resolve(runbook, given, ask=operator.supply_variable if interactive else None,
                         settings={"inventory": opts.inventory},
                         origins={n: "log" for n in previous_vars if n not in cli_vars})
        masker = Masker(secret_values(runbook, values))
        if values:  # where each value came from, before anything runs (secrets masked)
            print(f"swrun: values: {sources_line(runbook, values)}", file=sys.stderr)

        if not opts.dry_run and isinstance(operator, AutoOperator) and \
                needs_typed_confirmation(environment) and \
                opts.confirm_environment != environment:
            risky = [s for s in runbook.main_steps if s.flag("destructive")
                     and selection.reason_to_skip(s, True) is None]
            if opts.rollback_on_failure:  # a rollback that cannot run headless is no rollback
                risky += [s for s in runbook.rollback_steps if s.flag("destructive")]
            if risky:
                problem = confirm_environment_problem(opts.confirm_environment, environment)
                print(f"swrun: {runbook.path}:{risky[0].span.line}: step {risky[0].number} "
                      f"'{risky[0].title}' is destructive in {environment}; {problem}",
                      file=sys.stderr)
                return ExitCode.OPERATOR_NEEDED

        settings = Settings(
            dry_run=opts.dry_run, keep_going=opts.keep_going, step_mode=opts.step_mode,
            executor_settings={"inventory": opts.inventory,
                               "accept_new_host_keys": opts.accept_new_host_keys,
                               "keep_going": opts.keep_going,
                               kube.KEY: cluster.run_context if cluster else None},
            evidence=evidence,
        )
        if run_id:
            settings.run_id = run_id
        if lock is None and not warned and not opts.dry_run:  # no lock file yet: make it
            lock = hold_runbook(runbook, name, concurrent=opts.concurrent)
        log, log_path = open_run_log(runbook, settings, log_path, resume, name, values,
                                     opts.argv)
        opened = True
        if lock is not None:
            lock.update(run_id=settings.run_id, log=str(log_path))
        log.hold(lock)  # the runbook stays taken until the log is closed
    finally:
        if not opened:  # an early return or error gives the log and the runbook up
            if point is not None:
                point.release()
            if lock is not None:
                lock.release()
    engine = Engine(runbook, operator, values, settings=settings, selection=selection,
                    resume=resume, masker=masker)
    if isinstance(operator, TtyOperator):
        operator.describe = engine.describe

    out = sys.stdout
    sink: Callable[[Event], None]
    if opts.json:
        sink = JsonRenderer(out)
    else:
        colour = use_colour(out)
        sink = _approval_lines(HumanRenderer(
            out, total=len(runbook.main_steps), colour=colour,
            progress=sys.stderr if colour and sys.stderr.isatty() else None), sys.stderr)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        engine.abort(f"interrupted by {signal.Signals(signum).name}")
        if isinstance(operator, TtyOperator) and operator.prompting:
            raise KeyboardInterrupt

    def on_cut(signum: int, frame: FrameType | None) -> None:
        engine.cut_short(name, "SIGUSR1")  # `kill -USR1 <swrun pid>` ends a running wait

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    old[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, on_cut)
    try:
        with log:
            try:
                finished = drive(engine, log, _unless_closed(sink, engine))
            except KeyboardInterrupt:
                finished = None
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    _flush_stdout()
    signed, said = sign_run_log(log, settings, name, runbook)
    print(f"swrun: log: {log_path}", file=sys.stderr)
    print(f"swrun: {said}" if signed else f"swrun: warning: {said}", file=sys.stderr)
    if finished is None:  # interrupted at a prompt: nothing was running, the log is unfinished
        print("swrun: interrupted while asking — resume with: "
              f"{shlex.join(resume_command(runbook.path, log_path, opts))}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    if finished.status is RunStatus.OPERATOR_NEEDED:
        print(f"swrun: stopped: {finished.note}", file=sys.stderr)
        for line in resume_hints(runbook.path, log_path, engine.needed, opts):
            print(f"swrun: {line}", file=sys.stderr)
    return _EXIT[finished.status]
