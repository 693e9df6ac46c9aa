"""`swrun execute`: run a runbook headless (CI, cron, drills) and write its run log."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from swrun import kube
from swrun.engine import Engine, OperatorNeeded, Resume, Selection, Settings
from swrun.errors import RunLogError, UsageError
from swrun.events import Event, RunStatus
from swrun.exitcodes import ExitCode
from swrun.model import Runbook
from swrun.operators import (
    AutoOperator,
    NoTtyOperator,
    TtyOperator,
    confirm_environment_problem,
    needs_typed_confirmation,
)
from swrun.render import HumanRenderer, JsonRenderer, use_colour
from swrun.rollbackvars import rollback_only
from swrun.run import (
    EXIT,
    ResumePoint,
    approvals_preflight,
    confirmed_steps,
    done_steps,
    hold_runbook,
    open_run_log,
    resume_point,
    settle_leftovers,
    sign_run_log,
)
from swrun.secrets import Masker
from swrun.session import drive, operator_name
from swrun.variables import parse_assignments, resolve, secret_values, sources_line

if TYPE_CHECKING:
    from swrun.registry import RunbookLock


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
    done: list[str] = field(default_factory=list)
    """`--done STEP`: checks (commands for a person) the operator has done (number or id)."""
    no_carry: bool = False
    """--resume: start the later steps without the shell state the log carries (needed
    when the log's hash chain does not verify)."""
    interactive: bool | None = None
    """Override TTY detection (tests)."""
    argv: list[str] | None = None
    """The command line recorded in the log header (default sys.argv)."""


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
        if opts.yes and "--yes" not in more:  # a --yes run goes on as one
            more.insert(0, "--yes")
        if opts.confirm_environment and "--confirm-environment" in more:  # given already
            at = more.index("--confirm-environment")
            del more[at:at + 2]
        lines.append(f"or headless ({needed.resume_says}): {shlex.join([*base, *more])}")
    return lines


def _approval_lines(sink: Callable[[Event], None], err: Any) -> Callable[[Event], None]:
    """Headless, human output: approvals are said on stderr (the renderer knows steps)."""

    def send(event: Event) -> None:
        rec = event.to_record() if event.type.startswith("approval") else None
        if rec is not None:
            from swrun.evidence.approve import waiting_text  # a run with approvals only

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


def execute(opts: ExecuteOptions) -> ExitCode:
    from swrun.checks import load_checked
    from swrun.evidence.policy import evidence_for
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
    done = done_steps(runbook, opts.done)
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
    operator.done = done

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
                         origins={n: "log" for n in previous_vars if n not in cli_vars},
                         deferred=rollback_only(runbook))
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
    return EXIT[finished.status]
