"""The engine: the only place that decides what runs next. It yields run events, never prints.

Manual decisions (tick a check, pass a confirm gate, what to do after a failure) come in
through one injected Operator; the TUI and headless mode each implement it. This module is
the face and the step loop; swrun/loop/ holds the parts (attempts, approvals, milestones, …).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import uuid
from collections import Counter, deque
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swrun import kube, rundir
from swrun.attributes import variable_refs
from swrun.carry import ShellState
from swrun.events import (
    DONE_STATUSES,
    Event,
    MilestoneMarked,
    NoteAdded,
    RunFinished,
    RunResumed,
    RunStarted,
    RunStatus,
    StepFinished,
    StepOutput,
    StepSkipped,
    StepStatus,
)
from swrun.executors.base import (
    CutShort,
    Executor,
    StepResult,
)
from swrun.executors.rawout import RawOutput
from swrun.loop import clock
from swrun.loop.approvals import APPROVAL_POLL, _Approvals
from swrun.loop.asking import _Asking
from swrun.loop.attempts import DEFAULT_RETRY_DELAY, OUTPUT_TAIL, _Attempts
from swrun.loop.carried import _Carried
from swrun.loop.clock import _ms
from swrun.loop.milestones import _Milestones, _milestones_of
from swrun.loop.operator import INFERRED, Answer, Decision, Operator, OperatorNeeded
from swrun.loop.rollback import _Rollback
from swrun.loop.texts import _Texts
from swrun.model import Runbook, Step, StepKind
from swrun.secrets import Masker

if TYPE_CHECKING:
    from swrun.evidence.policy import Evidence

__all__ = [  # the public names, and what moved to swrun/loop/ but is still imported from here
    "APPROVAL_POLL", "DEFAULT_RETRY_DELAY", "INFERRED", "OUTPUT_TAIL", "Answer", "Decision",
    "Engine", "Operator", "OperatorNeeded", "Resume", "Selection", "Settings", "new_run_id",
]


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


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


class Engine(_Asking, _Attempts, _Approvals, _Carried, _Milestones, _Rollback, _Texts):
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
                                  "at": clock._now()}))

    def mark_milestone(
        self, milestone: str, by: str | None = None, note: str | None = None
    ) -> bool:
        """Log `milestone` (False, and nothing logged, when this run has it already)."""
        if not self._first_mark(milestone):
            return False
        self._inbox.put(("milestone", {"milestone": milestone, "by": by or self.operator.name,
                                       "note": note, "at": clock._now()}))
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
        fields.setdefault("at", clock._now())
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
        started = clock._monotonic()
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
        duration = _ms(clock._monotonic() - started)
        resume = self.resume
        active = duration + (resume.active_ms if resume else 0)
        first = resume.started_at if resume else None
        wall = active if first is None else max(active, _ms((clock._now() - first).total_seconds()))
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

    def _common(self, step: Step) -> dict[str, Any]:
        return {"step": step.id, "number": step.number, "title": step.title,
                "kind": step.kind.value}

    def _finish_skip(self, step: Step, by: str, note: str) -> Event:
        self._record(step, StepStatus.SKIPPED)
        return self._event(StepSkipped, **self._common(step), by=by, note=note,
                           hash=step.content_hash)

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


_TYPED = ("note", "reason")
"""Event fields that may hold what a person typed (masked in `Engine._event`)."""
