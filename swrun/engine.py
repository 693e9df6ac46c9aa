"""The engine: the only place that decides what runs next. It yields run events, never prints.

Manual decisions (tick a check, pass a confirm gate, what to do after a failure) come in
through one injected Operator; the TUI and headless mode each implement it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from swrun import kube, rundir
from swrun.attributes import VAR_REF, AttrValue, check_value, substitute, variable_refs
from swrun.carry import ShellState
from swrun.emptyvalue import empty_value
from swrun.events import (
    DONE_STATUSES,
    FAILED_STATUSES,
    ApprovalGiven,
    ApprovalNeeded,
    ApprovalRefused,
    CheckTicked,
    Event,
    MilestoneMarked,
    NoteAdded,
    OperatorWaiting,
    RollbackFinished,
    RollbackStarted,
    RunFinished,
    RunResumed,
    RunStarted,
    RunStatus,
    StepFinished,
    StepOutput,
    StepProcesses,
    StepSkipped,
    StepStarted,
    StepStatus,
    utcnow,
)
from swrun.executors.base import (
    CutShort,
    Executor,
    Idle,
    Output,
    RemoteProcess,
    Spawned,
    StepContext,
    StepResult,
)
from swrun.executors.rawout import RawOutput
from swrun.files import MAX_APPROVAL_BYTES, read_regular
from swrun.model import Runbook, Step, StepKind, Variable
from swrun.rollbackvars import ask_for_rollback
from swrun.secrets import MASK, Masker

if TYPE_CHECKING:
    from swrun.evidence.policy import Evidence

OUTPUT_TAIL = 100
APPROVAL_POLL = 0.5
"""Seconds between looks into `<log>.approvals/` while a step waits for approval."""
_monotonic = time.monotonic  # tests freeze the clock by replacing these two


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]

DEFAULT_RETRY_DELAY = 2.0
INFERRED = "inferred"
"""The gate of a step swrun asks before though the author did not mark it (Step.inferred):
`--yes` does not answer it; `--confirm STEP` or the author's `unattended` does."""


class Decision(StrEnum):
    CONTINUE = "continue"
    SKIP = "skip"
    ABORT = "abort"
    RETRY = "retry"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Answer:
    """An operator's decision, who made it, and an optional comment."""

    decision: Decision
    by: str
    note: str = ""


class OperatorNeeded(Exception):
    """Raised by an Operator that cannot ask anyone (headless without a terminal)."""

    def __init__(self, reason: str, *, resume_args: tuple[str, ...] = (),
                 resume_says: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.resume_args = resume_args
        """What a headless `--resume` adds to get past this point (`--yes`), if anything."""
        self.resume_says = resume_says
        """What those arguments do, in words (`ticks it and every later check as auto`)."""


class Operator(Protocol):
    name: str
    interactive: bool
    """A person answers (the engine then logs that it is waiting)."""

    def tick(self, step: Step) -> Answer:
        """A check: CONTINUE (ticked), SKIP or ABORT."""
        ...

    def confirm(self, step: Step, reason: str) -> Answer:
        """A gate before a step (`confirm`, `destructive`, `inferred` — see Step.inferred —
        or `step` mode): CONTINUE/SKIP/ABORT."""
        ...

    def after_failure(self, step: Step, result: StepResult, can_rollback: bool) -> Answer:
        """After the last attempt failed: RETRY, SKIP, ABORT or ROLLBACK."""
        ...

    def supply_variable(self, var: Variable) -> str | None:
        """A value for a required variable nobody gave, or None."""
        ...


@dataclass(frozen=True)
class Selection:
    """Which steps of the normal pass to run (`--from`, `--only`, `--skip`)."""

    start: Step | None = None
    only: frozenset[str] | None = None
    """Section ids whose steps (and sub-sections' steps) run; None for all."""
    skip: frozenset[str] = frozenset()
    """Step ids to skip."""

    def reason_to_skip(self, step: Step, started: bool) -> str | None:
        if self.start is not None and not started:
            return f"before --from {self.start.number}"
        if step.id in self.skip:
            return "--skip"
        if self.only is not None and not any(
            step.section_id == s or step.section_id.startswith(s + "/") for s in self.only
        ):
            return "--only"
        return None


@dataclass(frozen=True)
class Resume:
    """What the earlier parts of this run (in its log) did, for the part that resumes it."""

    done: Mapping[str, str]
    """Step id → content hash of each main step whose last outcome was ok, ticked or skipped
    (not run again unless its content changed)."""
    next_seq: int
    runbook_changed: bool = False
    outcomes: Mapping[str, str] = field(default_factory=dict)
    """Step id → the last outcome (a StepStatus value) of every main-pass step the earlier
    parts finished: the whole run's `counts` start from these."""
    rollback_outcomes: Mapping[str, str] = field(default_factory=dict)
    """The same for rollback steps (`rollback_counts`)."""
    active_ms: int = 0
    """Active time of the earlier parts (a part that crashed counts up to its last event)."""
    started_at: datetime | None = None
    """When the run first started (its `run_started`): `wall_ms` counts from here."""
    settled: tuple[Mapping[str, Any], ...] = ()
    """`step_finished` fields for the steps the part that died left running, logged right
    after `run_resumed` (execute.settle_leftovers; `done`/`outcomes` already count them)."""
    settled_files: tuple[str, ...] = ()
    """Their exit and raw output files, removed once those events are logged."""
    late_output: Mapping[str, str] = field(default_factory=dict)
    """Step id (of `settled`) → its raw output files (executors.rawout, their base path):
    what the step printed after swrun died is logged from them, masked, to its sidecar
    before its `step_finished`."""
    shell_states: tuple[Mapping[str, Any], ...] = ()
    """The `shell_state` of each ok step the earlier parts logged, in order."""
    milestones: frozenset[str] = frozenset()
    """The milestones the earlier parts marked: each is logged once per run."""


@dataclass
class Settings:
    dry_run: bool = False
    keep_going: bool = False
    step_mode: bool = False
    """Ask before every step (braintree's paranoid mode)."""
    run_id: str = field(default_factory=lambda: new_run_id())
    run_dir: Path | None = None
    kill_grace: float = 5.0
    executor_settings: dict[str, Any] = field(default_factory=dict)
    log_path: str | None = None
    evidence: Evidence | None = None
    """Signing key, allowed_signers, approval policy and `--approval` files (None: what
    the runbook's front matter says, no key and no files)."""


class Engine:
    """Runs a runbook's steps in order, yielding Events; one instance per run."""

    def __init__(
        self,
        runbook: Runbook,
        operator: Operator,
        variables: Mapping[str, str],
        *,
        settings: Settings | None = None,
        selection: Selection | None = None,
        executors: Mapping[str, Executor] | None = None,
        resume: Resume | None = None,
        masker: Masker | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.runbook = runbook
        self.operator = operator
        self.variables = dict(variables)
        self.settings = settings or Settings()
        self.selection = selection or Selection()
        self._executors = dict(executors or {})
        self.resume = resume
        self.masker = masker or Masker()
        self._environ = dict(os.environ if environ is None else environ)
        self._cancel = threading.Event()
        self._abort_note: str | None = None
        self.needed: OperatorNeeded | None = None
        """Why the run stopped for an operator (OPERATOR_NEEDED), for the resume hint."""
        self._inbox: queue.SimpleQueue[tuple[str, dict[str, Any]]] = queue.SimpleQueue()
        self._seq = resume.next_seq - 1 if resume else 0
        main = {s.id for s in runbook.main_steps}  # a step removed since is no longer counted
        back = {s.id for s in runbook.rollback_steps}
        self._outcomes: dict[str, str] = {
            k: v for k, v in (resume.outcomes if resume else {}).items() if k in main}
        """Step id → its last outcome, over the whole run (earlier parts included)."""
        self._rollback_outcomes: dict[str, str] = {
            k: v for k, v in (resume.rollback_outcomes if resume else {}).items() if k in back}
        self._failed = False
        self._step_milestones, self._section_milestones = _milestones_of(runbook)
        self._reached: set[tuple[str, tuple[str, ...]]] = set()
        self._marked: set[str] = set(resume.milestones if resume else ())
        """Milestones marked in this run (by hand or reached): each is logged once."""
        self._marked_lock = threading.Lock()
        self._cut = CutShort()
        from swrun.variables import looks_secret, secret_names

        self._shell = ShellState(str(runbook.base_dir), runbook.variables, looks_secret)
        """Exports and folder of earlier local shell steps of this run (docs: shared shell
        state)."""
        self._secret_names = frozenset(secret_names(runbook)) | {
            n for s in runbook.steps for n in variable_refs(s.text("uri") or "")}
        """Variables whose values a step's carried state never holds (with, per step, the
        secret-looking names of its environment)."""
        self.settings.executor_settings.setdefault("cut_short", self._cut)

    # -- called from other threads -----------------------------------------------------------
    def abort(self, note: str = "aborted by the operator") -> None:
        """Stop the running step (its process group is killed) and end the run as aborted."""
        self._abort_note = note
        self._cancel.set()

    def cut_short(self, by: str | None = None, note: str = "") -> None:
        """End the running wait early (logged with who and why); other steps ignore it."""
        self._cut.cut(by or self.operator.name, note)

    def add_note(self, note: str, by: str | None = None, step: str | None = None) -> None:
        self._inbox.put(("note", {"note": note, "by": by or self.operator.name, "step": step,
                                  "at": _now()}))

    def mark_milestone(
        self, milestone: str, by: str | None = None, note: str | None = None
    ) -> bool:
        """Log `milestone` (False, and nothing logged, when this run has it already)."""
        if not self._first_mark(milestone):
            return False
        self._inbox.put(("milestone", {"milestone": milestone, "by": by or self.operator.name,
                                       "note": note, "at": _now()}))
        return True

    def _first_mark(self, milestone: str) -> bool:
        """True the first time `milestone` is marked in this run (thread-safe)."""
        with self._marked_lock:
            if milestone in self._marked:
                return False
            self._marked.add(milestone)
            return True

    @property
    def aborted(self) -> bool:
        return self._cancel.is_set()

    @property
    def evidence(self) -> Evidence:
        return self._evidence()

    # -- the run -----------------------------------------------------------------------------
    def _event(self, cls: type[Event], **fields: Any) -> Event:
        """The next event; `at` defaults to now (notes keep the time they were made). Every
        text a person typed (a skip, tick, abort or rollback reason, a note, a milestone's
        note) and every reason shown while waiting is masked here, the one door to the log."""
        self._seq += 1
        fields.setdefault("at", _now())
        for key in _TYPED:
            if isinstance(fields.get(key), str):
                fields[key] = self.masker.mask(fields[key])
        return cls(seq=self._seq, **fields)

    def _inbox_events(self) -> Iterator[Event]:
        while True:
            try:
                kind, fields = self._inbox.get_nowait()
            except queue.Empty:
                return
            yield self._inbox_event(kind, fields)

    def _inbox_event(self, kind: str, fields: dict[str, Any]) -> Event:
        if kind == "note":
            return self._event(NoteAdded, **fields)
        return self._event(MilestoneMarked, **fields)

    def _ask(self, call: Callable[..., Answer], *args: Any,
             **kwargs: Any) -> Generator[Event, None, Answer]:
        """Wait for the operator's answer. When it comes from another thread (a UI), notes and
        milestones added while the operator thinks are logged at once, not with the next
        event: a crash during a long wait at a failed step must not lose them."""
        if not getattr(self.operator, "answers_from_another_thread", False):
            return call(*args, **kwargs)
        box: list[Answer | BaseException] = []

        def wait() -> None:
            try:
                box.append(call(*args, **kwargs))
            except BaseException as exc:  # re-raised in the engine's own thread below
                box.append(exc)
            finally:
                self._inbox.put(("answered", {}))

        threading.Thread(target=wait, name="swrun-operator", daemon=True).start()
        while True:
            kind, fields = self._inbox.get()
            if kind == "answered":
                break
            yield self._inbox_event(kind, fields)
        got = box[0]
        if isinstance(got, BaseException):
            raise got
        return got

    @property
    def counts(self) -> dict[str, int]:
        """How many main-pass steps of the whole run ended in each status (each step once)."""
        return dict(Counter(self._outcomes.values()))

    @property
    def rollback_counts(self) -> dict[str, int]:
        """The same for the rollback steps that ran."""
        return dict(Counter(self._rollback_outcomes.values()))

    def _record(self, step: Step, status: StepStatus) -> None:
        """`status` is now `step`'s outcome (a later attempt or decision replaces it)."""
        (self._rollback_outcomes if step.in_rollback else self._outcomes)[step.id] = status.value

    def run(self) -> Iterator[Event]:
        started = _monotonic()
        rb = self.runbook
        main = rb.main_steps
        if self.resume is not None:
            done = self.resume.done
            changed = tuple(s.id for s in main if s.id in done and done[s.id] != s.content_hash)
            remaining = [s for s in main if done.get(s.id) != s.content_hash]
            yield self._event(
                RunResumed, run_id=self.settings.run_id, operator=self.operator.name,
                done=len(main) - len(remaining), changed_steps=changed,
                next_step=remaining[0].id if remaining else None,
                runbook_changed=self.resume.runbook_changed or None,
                runbook_sha256=rb.sha256, operator_key=self._signing_key(),
                kube_context=self.settings.executor_settings.get(kube.KEY) or None,
            )
            self._shell.load(self.resume.shell_states, self._environ, self.variables)
            for settled in self.resume.settled:
                tail = yield from self._late_output(settled)
                yield self._event(StepFinished, **{
                    **settled, "status": StepStatus(str(settled.get("status"))),
                    **({"output": tail} if tail else {})})
            for name in self.resume.settled_files:  # logged: they have done their job
                with contextlib.suppress(OSError):
                    os.unlink(name)
            rundir.clear_stale(self.settings.run_dir)  # what the part that died left there
        else:
            yield self._event(
                RunStarted, run_id=self.settings.run_id, title=rb.title, runbook=rb.path,
                operator=self.operator.name, environment=rb.environment or None,
                steps=len(main), dry_run=self.settings.dry_run or None,
                kube_context=self.settings.executor_settings.get(kube.KEY) or None,
            )
        status, where, note = yield from self._pass(main, rollback=False)
        if status is RunStatus.ROLLED_BACK:  # the pass asked for a rollback after `where` failed
            status, note = yield from self._rollback(where, note)
        yield from self._inbox_events()
        duration = _ms(_monotonic() - started)
        resume = self.resume
        active = duration + (resume.active_ms if resume else 0)
        first = resume.started_at if resume else None
        wall = active if first is None else max(active, _ms((_now() - first).total_seconds()))
        yield self._event(
            RunFinished, status=status, step=where if status is not RunStatus.COMPLETED else None,
            note=note, duration_ms=duration, active_ms=active, wall_ms=wall, counts=self.counts,
            rollback_counts=self.rollback_counts,
        )

    def _late_output(self, settled: Mapping[str, Any]) -> Generator[Event, None, tuple[str, ...]]:
        """The lines the step the dead run left running printed after swrun died (read from
        its raw output files, masked): logged to its sidecar, the last ones returned for its
        `step_finished`."""
        base = self.resume.late_output.get(str(settled.get("step"))) if self.resume else None
        if not base:
            return ()
        lines, when = RawOutput(Path(base)).late()
        tail: deque[str] = deque(maxlen=OUTPUT_TAIL)
        attempt = settled.get("attempt")
        for stream, text in lines:
            line = self.masker.mask(text)
            tail.append(line)
            yield self._event(StepOutput, **{k: settled.get(k) for k in
                                             ("step", "number", "title", "kind")},
                              line=line, stream=stream, attempt=attempt if isinstance(
                                  attempt, int) else None, **({"at": when} if when else {}))
        return tuple(tail)

    def _rollback(self, failed: str | None, note: str | None) -> Iterator[Event]:
        steps = self.runbook.rollback_steps
        t0 = _monotonic()
        yield self._event(RollbackStarted, by=self._last_by, step=failed, note=note,
                          steps=len(steps))
        had = set(self.variables)
        missing = ask_for_rollback(self.runbook, self.variables, self.operator.supply_variable)
        asked = [n for n in self.variables if n not in had]
        if asked:  # a secret typed now is masked like one given at the start
            from swrun.variables import is_secret

            self.masker = self.masker.with_secrets(
                self.variables[n] for n in asked if is_secret(self.runbook.variables[n]))
        if missing is not None:  # asked only now: most runs never roll back
            yield self._event(RollbackFinished, status=RunStatus.FAILED.value,
                              duration_ms=_ms(_monotonic() - t0))
            return RunStatus.ROLLBACK_FAILED, missing
        status, where, rnote = yield from self._pass(steps, rollback=True)
        ok = status is RunStatus.COMPLETED
        yield self._event(RollbackFinished, status="ok" if ok else status.value,
                          duration_ms=_ms(_monotonic() - t0))
        if ok:
            return RunStatus.ROLLED_BACK, note
        return RunStatus.ROLLBACK_FAILED, rnote or f"rollback stopped at {where}"

    def _pass(
        self, steps: tuple[Step, ...] | list[Step], *, rollback: bool
    ) -> Iterator[Event]:
        """Run `steps`; returns (status, step id where it stopped, note)."""
        done = self.resume.done if (self.resume and not rollback) else {}
        reached_start = self.selection.start is None or rollback
        for step in steps:
            yield from self._inbox_events()
            if self._cancel.is_set():
                return RunStatus.ABORTED, step.id, self._abort_note
            if not reached_start and step.id == self.selection.start.id:  # type: ignore[union-attr]
                reached_start = True
            if done.get(step.id) == step.content_hash:
                continue
            why = None if rollback else self.selection.reason_to_skip(step, reached_start)
            if why is not None:
                yield self._finish_skip(step, "swrun", why)
                yield from self._milestones(step)
                continue
            while True:
                try:
                    status = yield from self._step(step)
                except OperatorNeeded as need:
                    self.needed = need
                    return RunStatus.OPERATOR_NEEDED, step.id, need.reason
                if status in DONE_STATUSES or status is StepStatus.DRY_RUN:
                    yield from self._milestones(step)
                    break
                if status is StepStatus.ABORTED:
                    return RunStatus.ABORTED, step.id, self._abort_note
                # failed or timed out: decide what happens next
                action = step.text("on_failure")
                if self.settings.keep_going or action == "continue":
                    self._failed = True
                    break
                if action == "abort":
                    return RunStatus.FAILED, step.id, f"{step.title} failed (on_failure=abort)"
                yield from self._wait(step, "failure")  # followers see who must decide
                try:
                    answer = yield from self._ask(
                        self.operator.after_failure, step, self._last_result,
                        can_rollback=bool(self.runbook.rollback_steps) and not rollback)
                except OperatorNeeded as need:
                    return RunStatus.FAILED, step.id, need.reason
                self._last_by = answer.by
                if answer.decision is Decision.RETRY:
                    continue
                if answer.decision is Decision.SKIP:
                    yield self._finish_skip(step, answer.by, answer.note or "skipped after failure")
                    yield from self._milestones(step)
                    self._failed = True
                    break
                if answer.decision is Decision.ROLLBACK and not rollback:
                    return (RunStatus.ROLLED_BACK, step.id,
                            answer.note or f"{step.title} failed")
                note = answer.note or f"{step.title} failed"
                return RunStatus.FAILED, step.id, note
        if self._cancel.is_set():
            return RunStatus.ABORTED, None, self._abort_note
        return (RunStatus.FAILED if self._failed else RunStatus.COMPLETED), None, None

    _last_result: StepResult = StepResult(StepStatus.FAILED)
    _last_by: str = "swrun"

    def _milestones(self, step: Step) -> Iterator[Event]:
        """After `step`'s outcome: its own `milestone=` is reached when it ended ok or ticked;
        a section's when every step of it is done (ok, ticked or skipped, in this part or an
        earlier one) and at least one ended ok or ticked (docs/timeline.md)."""
        outcomes = self._rollback_outcomes if step.in_rollback else self._outcomes
        names = []
        if outcomes.get(step.id) in _REACHED:
            names += self._step_milestones.get(step.id, [])
        for name, steps in self._section_milestones:
            if step.id not in steps or (name, steps) in self._reached:
                continue
            if all(outcomes.get(s) in _DONE for s in steps) and any(
                    outcomes.get(s) in _REACHED for s in steps):
                self._reached.add((name, steps))
                names.append(name)
        for name in names:
            if not self._first_mark(name):  # marked by hand (or reached) earlier
                continue
            yield self._event(MilestoneMarked, milestone=name, by=self._last_by_or_operator(),
                              note=f"reached at step {step.number}: {step.title}")

    def _last_by_or_operator(self) -> str:
        return self._last_by if self._last_by not in ("swrun", "auto") else self.operator.name

    def _common(self, step: Step) -> dict[str, Any]:
        return {"step": step.id, "number": step.number, "title": step.title,
                "kind": step.kind.value}

    def _finish_skip(self, step: Step, by: str, note: str) -> Event:
        self._record(step, StepStatus.SKIPPED)
        return self._event(StepSkipped, **self._common(step), by=by, note=note,
                           hash=step.content_hash)

    def _wait(self, step: Step, reason: str) -> Iterator[Event]:
        if self.operator.interactive:
            yield self._event(OperatorWaiting, **self._common(step), reason=reason)

    def _step(self, step: Step) -> Iterator[Event]:
        """One step, all attempts; returns its final StepStatus."""
        if self.settings.dry_run and not self._check_mode(step):
            status = StepStatus.DRY_RUN
            self._record(step, status)
            yield self._event(StepFinished, **self._common(step), status=status,
                              command=self.render_command(step) if step.runnable else None,
                              hash=step.content_hash)
            return status
        if step.kind is StepKind.CHECK:
            yield from self._wait(step, "tick")
            answer = yield from self._ask(self.operator.tick, step)
            return (yield from self._answered(step, answer, ticked=True))
        if not self.settings.dry_run and self._evidence().needed(step, self.runbook.environment):
            refused = yield from self._await_approvals(step)
            if refused is not None:
                return refused
        gate = ("destructive" if step.flag("destructive") else
                "confirm" if step.flag("confirm") else
                INFERRED if step.inferred else
                "step" if self.settings.step_mode else None)
        if gate is not None and not self.settings.dry_run:  # check mode changes nothing
            yield from self._wait(step, gate)
            answer = yield from self._ask(self.operator.confirm, step, gate)
            status = yield from self._answered(step, answer, ticked=False)
            if status is not StepStatus.OK:
                return status
        return (yield from self._attempts(step))

    # -- four-eyes approval ------------------------------------------------------------------
    def _logged_events(self) -> list[dict[str, Any]]:
        """The events of this run's log as written so far (earlier parts included), for what
        earlier executions of a step used; empty without a log."""
        if not self.settings.log_path:
            return []
        from swrun.errors import RunLogError
        from swrun.runlog import read_log

        try:
            return read_log(self.settings.log_path).events
        except (RunLogError, OSError):
            return []

    def _secrets_used(self, step: Step) -> dict[str, str]:
        """The secret variables a step uses (in its body or attributes) and their values."""
        import re

        from swrun.variables import secret_names

        texts = [step.body, *(v for v in step.attributes.values() if isinstance(v, str))]
        placeholders = {p.name for p in step.placeholders}
        return {n: self.variables[n] for n in sorted(secret_names(self.runbook))
                if n in self.variables and (n in placeholders or any(
                    re.search(r"\$\{?" + re.escape(n) + r"(?![A-Za-z0-9_])", t)
                    for t in texts))}

    def _signing_key(self) -> str | None:
        """The fingerprint of the key this part of the run is signed with, if any."""
        key = self.settings.evidence.signing_key if self.settings.evidence else None
        return key.fingerprint if key is not None else None

    def _evidence(self) -> Evidence:
        """The run's signing key, allowed_signers and approval policy (Settings.evidence, else
        what the runbook's front matter and the environment say)."""
        if self.settings.evidence is None:
            from swrun.errors import EvidenceError
            from swrun.evidence.policy import Evidence, evidence_for

            try:
                self.settings.evidence = evidence_for(self.runbook)
            except EvidenceError:  # a step that needs approval then stops, saying why
                self.settings.evidence = Evidence()
        return self.settings.evidence

    def _await_approvals(self, step: Step) -> Generator[Event, None, StepStatus | None]:
        """Wait until the step has as many valid approvals as it needs (None), or the run is
        aborted (ABORTED). Approvals come from `--approval` files and `<log>.approvals/`,
        polled every APPROVAL_POLL seconds; notes and milestones are logged meanwhile.
        Without a person to wait with (headless, no terminal) it stops the run
        (OperatorNeeded) saying what is missing and how to approve."""
        from swrun.evidence.approve import (
            Checker,
            Refused,
            Request,
            approval_key,
            approvals_dir,
            keep,
            secret_hmacs,
            used_approvals,
            waiting_text,
        )
        from swrun.evidence.chain import digest

        ev = self._evidence()
        needed = ev.needed(step, self.runbook.environment)
        command = self.describe(step, lines=10_000) if step.runnable else step.body
        bound = self._secrets_used(step)
        hmacs = secret_hmacs(approval_key(self.settings.run_dir), bound) if bound else {}
        request = Request(self.settings.run_id, step.id, step.number, step.title,
                          step.content_hash, command, hmacs)
        log_path = self.settings.log_path
        checker = Checker(ev, request, self.operator.name, ev.operator_principals(),
                          used=used_approvals(self._logged_events(), step.id))
        common = self._common(step)
        folder = approvals_dir(log_path) if log_path else None
        where = f"`swrun approve {log_path} {step.number or step.id}`" if log_path else \
            "`swrun approve LOG STEP`"
        problem = ev.operator_problem()
        if problem is not None:
            raise OperatorNeeded(
                f"step {step.number} '{step.title}' needs {needed} approval(s), and {problem}")
        yield self._event(
            ApprovalNeeded, **common, approvals=needed, count=0, hash=step.content_hash,
            command=command, command_sha256=request.command_sha256,
            waiting_for=checker.waiting_for(),
            operator_key=ev.signing_key.fingerprint if ev.signing_key else None,
            allowed_signers=str(ev.allowed_signers), valid_for=int(ev.valid_for),
            secrets=hmacs or None)
        seen: dict[Path, tuple[int, int]] = {}

        def rel(path: Path) -> str:
            if log_path:
                name = os.path.relpath(path.absolute(), os.path.dirname(log_path))
                if not name.startswith(".."):
                    return name
            return str(path)

        while True:
            candidates = list(ev.approval_files)
            if folder is not None and folder.is_dir():
                candidates += sorted(p for p in folder.iterdir() if p.name.endswith(".approval"))
            for path in candidates:
                try:
                    st = path.stat()
                    stamp = (st.st_mtime_ns, st.st_size)
                    if seen.get(path) == stamp:
                        continue
                    seen[path] = stamp
                    raw = read_regular(path, MAX_APPROVAL_BYTES)  # a FIFO would hang the run
                except OSError:
                    continue
                try:
                    got = checker.check(raw)
                except Refused as no:
                    yield self._event(ApprovalRefused, **common, error=no.reason,
                                      by=no.principal, key=no.fingerprint, file=rel(path))
                    continue
                kept = path
                if folder is not None:  # verify and bundles find it beside the log
                    try:
                        kept = keep(folder, path, raw, step.number, step.id, got.fingerprint)
                    except OSError:
                        kept = path
                yield self._event(
                    ApprovalGiven, **common, by=got.principal, key=got.fingerprint,
                    approvals=needed, count=len(checker.counted), approved_at=got.approved_at,
                    expires_at=got.expires_at, file=rel(kept), file_sha256=digest(raw),
                    waiting_for=checker.waiting_for()
                    if len(checker.counted) < needed else ())
            for gone in checker.expired():
                yield self._event(ApprovalRefused, **common, by=gone.principal,
                                  key=gone.fingerprint,
                                  error=f"it expired at {gone.expires_at} while the step "
                                        "waited for more approvals")
            if len(checker.counted) >= needed:
                return None
            yield from self._inbox_events()
            if self._cancel.is_set():
                return StepStatus.ABORTED
            missing = needed - len(checker.counted)
            if not self.operator.interactive:
                raise OperatorNeeded(
                    f"step {step.number} '{step.title}' is "
                    f"{waiting_text(missing, checker.waiting_for())}: approve with {where}, "
                    "then resume with --approval FILE")
            if getattr(self.operator, "detached", False):
                # the front end went away while the step waited: ask it, as for any other
                # question, so it ends the run its own way (the console leaves it resumable)
                answer = self.operator.confirm(step, "approval")
                if answer.decision is not Decision.CONTINUE:
                    return StepStatus.ABORTED
            self._cancel.wait(APPROVAL_POLL)

    def _check_mode(self, step: Step) -> bool:
        """A dry run still calls executors that can run in check mode (Ansible's --check)."""
        if not step.runnable:
            return False
        try:
            executor = self._executor(step)
        except Exception:  # a backend that cannot even load is shown as a plain dry run
            return False
        return bool(getattr(executor, "supports_check_mode", False))

    def _answered(self, step: Step, answer: Answer, *, ticked: bool) -> Iterator[Event]:
        self._last_by = answer.by
        note = answer.note or None
        if answer.decision is Decision.ABORT:
            self.abort(note or f"aborted by {answer.by} at {step.title}")
            return StepStatus.ABORTED
        if answer.decision is Decision.SKIP:
            yield self._finish_skip(step, answer.by, note or "skipped by the operator")
            return StepStatus.SKIPPED
        if ticked:
            self._record(step, StepStatus.TICKED)
            yield self._event(CheckTicked, **self._common(step), by=answer.by, note=note,
                              hash=step.content_hash)
            return StepStatus.TICKED
        if note:
            yield self._event(NoteAdded, note=note, by=answer.by, step=step.id)
        return StepStatus.OK

    def _attempts(self, step: Step) -> Iterator[Event]:
        bound, problem = self._bind(step)
        attempts = 1 + bound.integer("retries", 0)
        delay = bound.seconds("retry_delay", DEFAULT_RETRY_DELAY) or 0.0
        executor = self._executor(step)
        result = StepResult(StepStatus.FAILED)
        for attempt in range(1, attempts + 1):
            result = yield from self._attempt(step, executor, attempt, attempts, bound, problem)
            if result.status not in FAILED_STATUSES or attempt == attempts:
                break
            if self._cancel.wait(delay):  # the last record said another attempt follows
                result = StepResult(StepStatus.ABORTED, error="aborted by the operator "
                                    "during the retry delay")
                self._record(step, result.status)
                yield self._event(StepFinished, **self._common(step), status=result.status,
                                  attempt=attempt, error=result.error, hash=step.content_hash)
                break
        self._last_result = result
        return result.status

    def _bind(self, step: Step) -> tuple[Step, str | None]:
        """The step as it runs: `$NAME` in its attributes filled in from the run's variables
        (`timeout=$DRAIN` must time out), and a message when a filled-in value is unusable.
        Events and the content hash keep the step as written."""
        filled: dict[str, AttrValue] = {}
        problem = None
        for key, value in step.attributes.items():
            if not isinstance(value, str) or "$" not in value:
                continue
            filled[key] = text = substitute(value, self.variables)
            bad = check_value(key, text) if not VAR_REF.search(text) else None
            if bad and problem is None:
                problem = f"{key}={value} is {self.masker.mask(text)!r}: {bad}"
        empty = empty_value(step, self.runbook, self.variables)
        if empty is not None:
            problem = empty
        if not filled:  # the common case: nothing to fill in, no copy of the step
            return step, problem
        return dataclasses.replace(step, attributes={**step.attributes, **filled}), problem

    def _executor(self, step: Step) -> Executor | None:
        from swrun.executors import executor_for, registry_key

        key = registry_key(step)
        if key in self._executors:
            return self._executors[key]
        return executor_for(step)

    def _attempt(
        self, step: Step, executor: Executor | None, attempt: int, attempts: int,
        bound: Step, problem: str | None,
    ) -> Iterator[Event]:
        """One attempt of `step` as written (events, hash), run as `bound` (see _bind)."""
        common = self._common(step)
        start = {**common, "attempt": attempt if attempts > 1 else None,
                 "host": step.text("host"), "hash": step.content_hash}
        t0 = 0.0
        tail: deque[str] = deque(maxlen=OUTPUT_TAIL)
        result: StepResult | None = None
        needed: OperatorNeeded | None = None
        exit_file: str | None = None
        if problem is not None or executor is None:
            yield self._event(StepStarted, **start)
            t0 = _monotonic()
            if problem is not None:
                result = StepResult(StepStatus.FAILED, error=problem)
            else:
                from swrun.executors import registry_key

                result = StepResult(StepStatus.FAILED, error=f"this swrun cannot run "
                                    f"{registry_key(step)} steps yet")
        else:
            ctx = self._context(bound)
            # an executor that starts a local process names it first, and holds it until it
            # is asked for its next item: by then step_started, with the pid, is in the log
            announced = ctx.announce = bool(getattr(executor, "announces_process", False))
            if not announced:
                yield self._event(StepStarted, **start)
                t0 = _monotonic()
            items = executor.run(bound, ctx)
            try:
                for item in items:
                    if announced:
                        announced = False
                        if isinstance(item, Spawned):
                            exit_file = item.exit_file
                            yield self._event(StepStarted, **start, **self._process(item))
                            t0 = _monotonic()
                            continue
                        yield self._event(StepStarted, **start)
                        t0 = _monotonic()
                    if isinstance(item, Idle):
                        yield from self._inbox_events()
                    elif isinstance(item, Output):
                        line = self.masker.mask(item.line)
                        tail.append(f"{item.host}: {line}" if item.host else line)
                        yield self._event(StepOutput, **common, line=line, stream=item.stream,
                                          host=item.host)
                        yield from self._inbox_events()
                    elif isinstance(item, RemoteProcess):  # logged at once: a resume after
                        yield self._event(  # swrun died finds (and stops) it on the host
                            StepProcesses, **common, attempt=start["attempt"], host=item.host,
                            pgid=item.pgid, start=item.start, boot_id=item.boot_id)
                    elif not isinstance(item, Spawned):
                        result = item
            except OperatorNeeded as exc:  # mid-step gate (a canary) with nobody to ask
                needed = exc
                result = StepResult(StepStatus.ABORTED, error=exc.reason)
            except Exception as exc:  # a backend bug or failure must not lose the run
                import traceback  # the operator sees one line; the log keeps where it came from

                result = StepResult(StepStatus.FAILED, error=f"{type(exc).__name__}: {exc}",
                                    data={"traceback": self.masker.mask(traceback.format_exc())})
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()
            if announced:  # the executor ended (or raised) before naming anything
                yield self._event(StepStarted, **start)
                t0 = _monotonic()
        if result is None:
            result = StepResult(StepStatus.FAILED, error="the executor returned no result")
        if self._cancel.is_set() and result.status is not StepStatus.ABORTED and (
                result.status is not StepStatus.OK):
            result = StepResult(StepStatus.ABORTED, exit_code=result.exit_code,
                                error="aborted by the operator")
        will_retry = result.status in FAILED_STATUSES and attempt < attempts
        if not will_retry:
            self._record(step, result.status)
        if result.status is StepStatus.OK:
            self._carry(step, result)
        yield self._event(
            StepFinished, **common, status=result.status, exit_code=result.exit_code,
            duration_ms=_ms(_monotonic() - t0), attempt=attempt if attempts > 1 else None,
            will_retry=will_retry or None, host=step.text("host"),
            error=self.masker.mask(result.error) if result.error else None,
            hash=step.content_hash, output=tuple(tail),
            hosts=self.masker.mask_data(result.hosts) if self.masker else result.hosts,
            data=self.masker.mask_data(result.data) if self.masker else result.data,
        )
        if exit_file:  # its end is in the log now: the status file has done its job
            with contextlib.suppress(OSError):
                os.unlink(exit_file)
        if needed is not None:
            raise needed
        return result

    def _process(self, spawned: Spawned) -> dict[str, Any]:
        """step_started's keys for a local process group; the exit file relative to the
        log's folder when it is under it (the log can move with its folder)."""
        exit_file = spawned.exit_file
        if exit_file and self.settings.log_path:
            folder = os.path.dirname(self.settings.log_path)
            rel = os.path.relpath(exit_file, folder)
            exit_file = exit_file if rel.startswith("..") else rel
        return {"pid": spawned.pid, "pgid": spawned.pgid, "pid_start": spawned.start,
                "boot_id": spawned.boot_id, "exit_file": exit_file}

    def _local_shell(self, step: Step) -> bool:
        return step.kind is StepKind.SHELL and not step.targets

    def _carry(self, step: Step, result: StepResult) -> None:
        """Keep what a local shell step exported and where it `cd`-ed to, for the later local
        shell steps (swrun.carry); the logged copy masks secret-looking names, and a value
        built from a secret is logged as its template."""
        state = result.data.get("shell_state") if result.data else None
        if not isinstance(state, dict) or not self._local_shell(step):
            return
        logged, fresh = self._shell.take(state, self._step_env(), self.masker)
        if fresh:
            self.masker = self.masker.with_secrets(fresh)
        if logged is not None:
            result.data["shell_state"] = logged
        else:
            result.data.pop("shell_state", None)

    def _step_env(self, local_shell: bool = True) -> dict[str, str]:
        """The environment a step starts with, before swrun's own SWRUN_* names."""
        env = dict(self._environ)
        if local_shell:
            env.update(self._shell.env)
        env.update(self.variables)
        return env

    def _context(self, step: Step) -> StepContext:
        local = self._local_shell(step)
        env = self._step_env(local)
        settings = self.settings.executor_settings
        if local:
            from swrun.variables import looks_secret

            settings = {**settings, "carry_shell_state": True, "shell_cwd": self._shell.cwd,
                        "shell_aliases": dict(self._shell.aliases),
                        "secret_names": sorted(self._secret_names | {
                            k for k in env if looks_secret(k)})}
        env.update({
            "SWRUN_RUN_ID": self.settings.run_id,
            "SWRUN_STEP": step.id,
            "SWRUN_RUNBOOK_DIR": str(self.runbook.base_dir),
        })
        if self.settings.log_path:
            env["SWRUN_LOG"] = self.settings.log_path
        env.pop(kube.ENV, None)  # never an outer swrun's: this run decided its own
        if local and (context := kube.context_for(step, self.runbook, settings)):
            env[kube.ENV] = context
        return StepContext(
            runbook=self.runbook, variables=self.variables, env=env, cancel=self._cancel,
            timeout=step.seconds("timeout"), run_dir=self.settings.run_dir,
            settings={**settings, "check_mode": True} if self.settings.dry_run else settings,
            kill_grace=self.settings.kill_grace,
            confirm=lambda reason: self._confirm_mid_step(step, reason),
        )

    def _confirm_mid_step(self, step: Step, reason: str) -> bool:
        answer = self.operator.confirm(step, reason)
        self._last_by = answer.by
        if answer.decision is Decision.ABORT:
            self.abort(answer.note or f"aborted by {answer.by} at {step.title} ({reason})")
        return answer.decision is Decision.CONTINUE

    def render_command(self, step: Step) -> str:
        """The block with declared variables shown resolved (secrets masked): for display only."""
        return self.resolve_text(step.body)

    def describe(self, step: Step, lines: int = 8) -> str:
        """Where a step acts and what it runs, variables filled in and secrets masked: what an
        operator agrees to at a confirmation, not the template. Empty for checks."""
        if step.manual:  # the command the operator runs: values filled in, secrets masked
            return "\n".join(f"  {ln}" for ln in self.render_command(step).rstrip().split("\n"))
        if not step.runnable:
            return ""
        where = f"on {self.resolve_text(step.targets)}\n" if step.targets else ""
        if not where and step.kind is StepKind.ANSIBLE and step.text("limit"):
            where = f"on {self.resolve_text(step.text('limit') or '')} (playbook limit)\n"
        body = [ln for ln in self.render_command(step).rstrip().split("\n") if ln.strip()]
        if len(body) > lines:
            body = [*body[:lines], f"… {len(body) - lines} more line(s)"]
        return where + "\n".join(f"  {ln}" for ln in body)

    def resolve_text(self, text: str, *, secrets_as_refs: bool = False) -> str:
        """`$NAME` of declared variables filled in, secrets masked: for display only. With
        `secrets_as_refs` a secret stays `$NAME` (a command to copy and run by hand: the
        operator's shell fills it in, and it never passes through the terminal)."""
        secret = {n for n, v in self.runbook.variables.items() if v.secret}

        def sub(m: Any) -> str:
            name = m.group(1) or m.group(2)
            if name not in self.variables:
                return m.group(0)
            if name in secret:
                return m.group(0) if secrets_as_refs else MASK
            return self.variables[name]

        return self.masker.mask(VAR_REF.sub(sub, text))


_TYPED = ("note", "reason")
"""Event fields that may hold what a person typed (masked in `Engine._event`)."""
_REACHED = frozenset({StepStatus.OK.value, StepStatus.TICKED.value})
_DONE = frozenset(s.value for s in DONE_STATUSES)


def _milestones_of(
    runbook: Runbook,
) -> tuple[dict[str, list[str]], list[tuple[str, tuple[str, ...]]]]:
    """Step id → its own `milestone=`; and each section's `milestone=` with the ids of its
    actionable steps (sub-sections' included), innermost sections first."""
    own: dict[str, list[str]] = {}
    for step in runbook.steps:
        if step.actionable and step.text("milestone"):
            own.setdefault(step.id, []).append(step.text("milestone") or "")
    sections = []
    for section in reversed(list(runbook.root.walk())):
        name = section.attributes.get("milestone")
        steps = tuple(s.id for sec in section.walk() for s in sec.steps if s.actionable)
        if isinstance(name, str) and steps:
            sections.append((name, steps))
    return own, sections


def _now() -> datetime:
    return utcnow()


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
