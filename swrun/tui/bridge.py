"""The operator that bridges the engine's worker thread to the UI, and the output buffer.

The engine runs in a thread worker and calls TuiOperator; each call posts a Question to
the app and blocks on a Future until the UI answers it. Output lines never travel one
message each: the worker appends them to an OutputBuffer and at most one OutputReady
message is in flight, so a flood costs the UI one batch per frame, not one message per line.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

from swrun.engine import Answer, Decision
from swrun.executors.base import StepResult
from swrun.model import Step, Variable

QuestionKind = Literal["tick", "confirm", "failure"]
BUFFER_LINES = 2000
"""Lines of output kept between two UI frames; older ones are only in the sidecar file."""


class Detach(Exception):
    """Raised into the engine when the operator quits while it waits: the log stays
    unfinished (no run_finished event), so the run can be resumed later."""


@dataclass(eq=False)
class Question:
    """What the engine is waiting for; answered exactly once through `answer()`."""

    kind: QuestionKind
    step: Step
    reason: str = ""
    """For confirm: confirm, destructive, step or canary."""
    result: StepResult | None = None
    can_rollback: bool = False
    future: Future[Answer | BaseException] = field(default_factory=Future)

    @property
    def answered(self) -> bool:
        return self.future.done()

    def answer(self, answer: Answer | BaseException) -> bool:
        """Answer it; False when it was already answered (two keys raced)."""
        try:
            self.future.set_result(answer)
        except Exception:  # InvalidStateError: already answered
            return False
        return True


class TuiOperator:
    """An Operator whose answers come from the UI thread."""

    interactive = True
    answers_from_another_thread = True
    """The engine may wait for an answer in a helper thread and log notes meanwhile."""

    def __init__(self, name: str, ask: Callable[[Question], None]) -> None:
        self.name = name
        self._ask = ask
        self._lock = threading.Lock()
        self.pending: Question | None = None
        self.skip_to: str | None = None
        """Jumping: answer SKIP for every step the engine asks about until this step id."""
        self.skip_note = ""
        self.detached = False
        self._retrying: str | None = None
        self.ask_variable: Callable[[Variable, Future[str | None]], None] | None = None
        """Set by the app: asks for one value (the rollback's own, asked when it starts)."""
        self._variable: Future[str | None] | None = None

    def _question(self, q: Question) -> Answer:
        with self._lock:
            if self.detached:
                raise Detach()
            if self.skip_to is not None and q.kind != "failure" and q.reason != "canary":
                if q.step.id != self.skip_to:
                    return Answer(Decision.SKIP, self.name, self.skip_note)
                self.skip_to = None
            if q.kind == "confirm" and q.reason == "step" and self._retrying == q.step.id:
                self._retrying = None  # the operator already said "retry": no second ask
                return Answer(Decision.CONTINUE, self.name)
            self.pending = q
        self._ask(q)
        answer = q.future.result()
        with self._lock:
            self.pending = None
        if isinstance(answer, BaseException):
            raise answer
        if q.kind == "failure" and answer.decision is Decision.RETRY:
            self._retrying = q.step.id
        return answer

    def jump(self, step_id: str, note: str) -> None:
        """Skip ahead to `step_id`: the pending question (if before it) is answered SKIP."""
        with self._lock:
            self.skip_to = step_id
            self.skip_note = note
            pending = self.pending
        if pending is not None and pending.step.id != step_id:
            pending.answer(Answer(Decision.SKIP, self.name, note))

    def detach(self) -> None:
        """The UI is going away: unblock the engine without finishing the run."""
        with self._lock:
            self.detached = True
            pending = self.pending
            asking = self._variable
        if asking is not None and not asking.done():
            asking.set_result(None)
        if pending is not None:
            pending.answer(Detach())

    # -- the Operator protocol (called on the worker thread) ----------------------------------
    def tick(self, step: Step) -> Answer:
        return self._question(Question("tick", step))

    def confirm(self, step: Step, reason: str) -> Answer:
        return self._question(Question("confirm", step, reason))

    def after_failure(self, step: Step, result: StepResult, can_rollback: bool) -> Answer:
        return self._question(Question("failure", step, result=result,
                                       can_rollback=can_rollback))

    def supply_variable(self, var: Variable) -> str | None:
        """The variables form answers before the engine starts; the engine asks here only for
        a value the rollback alone needs (rollbackvars), when the rollback starts."""
        if self.ask_variable is None:
            return None
        future: Future[str | None] = Future()
        with self._lock:
            if self.detached:
                raise Detach()
            self._variable = future
        self.ask_variable(var, future)
        value = future.result()
        with self._lock:
            self._variable = None
            if self.detached:
                raise Detach()
        return value


class OutputBuffer:
    """Output lines from the worker, bounded, taken by the UI in batches."""

    def __init__(self, notify: Callable[[], None], limit: int = BUFFER_LINES) -> None:
        self._notify = notify
        self._lock = threading.Lock()
        self._lines: deque[tuple[str, str]] = deque(maxlen=limit)
        self._pending = False
        self.dropped = 0
        self._dropped_since = 0
        """Lines that scrolled out before the UI could show them (still in the sidecar)."""
        self.total = 0

    def add(self, step: str, line: str) -> None:
        with self._lock:
            if len(self._lines) == self._lines.maxlen:
                self.dropped += 1
                self._dropped_since += 1
            self._lines.append((step, line))
            self.total += 1
            if self._pending:
                return
            self._pending = True
        self._notify()

    def take(self) -> tuple[list[tuple[str, str]], int]:
        """The lines since the last take, and how many more scrolled out of the buffer."""
        with self._lock:
            lines = list(self._lines)
            self._lines.clear()
            self._pending = False
            dropped, self._dropped_since = self._dropped_since, 0
        return lines, dropped
