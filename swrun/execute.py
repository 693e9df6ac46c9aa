"""`swrun execute`: run a runbook headless (CI, cron, drills) and write its run log."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from swrun import engine as engine_module
from swrun.engine import Engine, Resume, Selection, Settings
from swrun.errors import RunLogError, UsageError
from swrun.events import Event, RunStatus
from swrun.exitcodes import ExitCode
from swrun.model import Runbook
from swrun.operators import AutoOperator, NoTtyOperator, TtyOperator, needs_typed_confirmation
from swrun.render import HumanRenderer, JsonRenderer, use_colour
from swrun.secrets import Masker
from swrun.session import drive, operator_name, run_header
from swrun.variables import parse_assignments, resolve, secret_values

if TYPE_CHECKING:
    from swrun.runlog import RunLog


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
    resume: str | None = None
    """None: a new run; "": the newest unfinished log of the runbook; else a log path."""
    log: str | None = None
    operator: str | None = None
    json: bool = False
    strict: bool = False
    inventory: str | None = None
    accept_new_host_keys: bool = False
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
    aborted like an interrupt and the log, not the closed pipe, gets the rest."""
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
            with contextlib.suppress(OSError):  # nothing more reaches the reader, not even
                devnull = os.open(os.devnull, os.O_WRONLY)  # Python's flush at exit
                os.dup2(devnull, sys.stdout.fileno())

    return send


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


def resume_point(runbook: Runbook, log_path: Path) -> ResumePoint:
    from swrun.runlog import read_log, resume_state

    data = read_log(log_path)
    warnings = list(data.warnings)
    state = resume_state(data)
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
                    active_ms=state.active_ms, started_at=state.started_at)
    return ResumePoint(resume, state.run_id, previous, warnings)


def open_run_log(
    runbook: Runbook, settings: Settings, log_path: Path | None, resume: Resume | None,
    operator: str, values: dict[str, str], argv: list[str] | None,
) -> tuple[RunLog, Path]:
    """Create (or reopen, to resume) the run log; sets settings.log_path and run_dir."""
    from swrun.runlog import RunLog, default_log_path

    started = engine_module._now()
    if log_path is None:
        log_path = default_log_path(runbook.path, settings.run_id, started)
    settings.log_path = str(log_path.absolute())
    if resume is not None:
        log = RunLog.open_append(log_path)
    else:
        log = RunLog.create(log_path, run_header(runbook, settings.run_id, operator, values,
                                                 started, argv))
    settings.run_dir = log_path.absolute().with_suffix(".run")  # steps may chdir
    return log, log_path


def execute(opts: ExecuteOptions) -> ExitCode:
    from swrun.checks import load_checked
    from swrun.runlog import find_unfinished

    runbook = load_checked(opts.file, strict=opts.strict)
    selection = select(runbook, opts)
    name = operator_name(opts.operator)
    interactive = sys.stdin.isatty() and sys.stderr.isatty() if opts.interactive is None \
        else opts.interactive
    environment = runbook.environment
    if opts.yes and not opts.step_mode:
        operator: AutoOperator | TtyOperator = AutoOperator(
            name, environment, opts.confirm_environment, opts.rollback_on_failure)
    elif interactive:
        operator = TtyOperator(name, environment, rollback_on_failure=opts.rollback_on_failure)
    else:
        operator = NoTtyOperator(name, environment, opts.confirm_environment,
                                 opts.rollback_on_failure)

    # -- resume: which log, what is done ---------------------------------------------------
    resume: Resume | None = None
    log_path: Path | None = Path(opts.log) if opts.log else None
    previous_vars: dict[str, str] = {}
    run_id = None
    if opts.resume is not None:
        if opts.resume:
            log_path = Path(opts.resume)
        else:
            log_path = find_unfinished(runbook.path)
            if log_path is None:
                raise RunLogError(f"no unfinished run log of {runbook.path} under logs/ "
                                  "to resume (pass --resume LOG)")
        point = resume_point(runbook, log_path)
        for warning in point.warnings:
            print(f"swrun: warning: {warning}", file=sys.stderr)
        resume, run_id, previous_vars = point.resume, point.run_id, point.variables

    given = {**previous_vars, **parse_assignments(opts.variables)}
    values = resolve(runbook, given, ask=operator.supply_variable if interactive else None,
                     settings={"inventory": opts.inventory})
    masker = Masker(secret_values(runbook, values))

    if not opts.dry_run and isinstance(operator, AutoOperator) and needs_typed_confirmation(
            environment) and opts.confirm_environment != environment:
        risky = [s for s in runbook.main_steps if s.flag("destructive")
                 and selection.reason_to_skip(s, True) is None]
        if opts.rollback_on_failure:  # a rollback that cannot run headless is no rollback
            risky += [s for s in runbook.rollback_steps if s.flag("destructive")]
        if risky:
            print(f"swrun: {runbook.path}:{risky[0].span.line}: step {risky[0].number} "
                  f"'{risky[0].title}' is destructive in {environment}; headless runs need "
                  f"--confirm-environment {environment}", file=sys.stderr)
            return ExitCode.OPERATOR_NEEDED

    settings = Settings(
        dry_run=opts.dry_run, keep_going=opts.keep_going, step_mode=opts.step_mode,
        executor_settings={"inventory": opts.inventory,
                           "accept_new_host_keys": opts.accept_new_host_keys,
                           "keep_going": opts.keep_going},
    )
    if run_id:
        settings.run_id = run_id
    log, log_path = open_run_log(runbook, settings, log_path, resume, name, values, opts.argv)
    engine = Engine(runbook, operator, values, settings=settings, selection=selection,
                    resume=resume, masker=masker)
    if isinstance(operator, TtyOperator):
        operator.describe = engine.describe

    out = sys.stdout
    if opts.json:
        sink = JsonRenderer(out)
    else:
        colour = use_colour(out)
        sink = HumanRenderer(out, total=len(runbook.main_steps), colour=colour,
                             progress=sys.stderr if colour and sys.stderr.isatty() else None)

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
    print(f"swrun: log: {log_path}", file=sys.stderr)
    if finished is None:  # interrupted at a prompt: nothing was running, the log is unfinished
        print(f"swrun: interrupted while asking — resume with: swrun execute {runbook.path} "
              f"--resume {log_path}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    if finished.status is RunStatus.OPERATOR_NEEDED:
        print(f"swrun: stopped: {finished.note} — resume with: swrun execute {runbook.path} "
              f"--resume {log_path}", file=sys.stderr)
    return _EXIT[finished.status]
