"""App-wide messages that the engine's worker thread posts to the UI (thread-safe)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from swrun.events import Event, RunFinished
from swrun.tui.bridge import Question


@dataclass
class EngineEvent(Message):
    """One run event other than output (output arrives coalesced as OutputReady)."""

    event: Event


@dataclass
class OutputReady(Message):
    """Output lines are waiting in the OutputBuffer; one such message is in flight at a time."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, OutputReady)


@dataclass
class QuestionAsked(Message):
    """The engine is blocked until the operator answers `question`."""

    question: Question


@dataclass
class RunEnded(Message):
    """The worker is done: the run finished, the operator detached, or it crashed."""

    finished: RunFinished | None
    error: str | None = None
