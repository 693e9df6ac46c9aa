"""Asking the operator: waiting for an answer (notes and milestones logged meanwhile) and
what a tick, skip, abort or go-ahead then logs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

from swrun.events import CheckTicked, Event, NoteAdded, OperatorWaiting, StepStatus
from swrun.loop.operator import Answer, Decision
from swrun.model import Step


class _Asking:
    """The Engine's operator-asking methods (a mixin: `self` is the Engine)."""

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

    def _wait(self, step: Step, reason: str) -> Iterator[Event]:
        if self.operator.interactive:
            yield self._event(OperatorWaiting, **self._common(step), reason=reason)

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
