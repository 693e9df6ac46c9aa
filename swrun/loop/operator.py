"""What the engine asks a person, and the answers it gets back (the Operator protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from swrun.executors.base import StepResult
from swrun.model import Step, Variable

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
