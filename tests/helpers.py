"""Shared test helpers: write a runbook, build an engine, collect its events."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

from swrun.engine import Answer, Decision, Engine, Operator, Resume, Selection, Settings
from swrun.events import Event
from swrun.executors.base import StepResult
from swrun.model import Runbook, Step, Variable
from swrun.parser import load_runbook
from swrun.secrets import Masker
from swrun.variables import resolve, secret_values


def write_runbook(tmp_path: Path, text: str, name: str = "rb.md") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


class ScriptedOperator:
    """Answers from lists, recording every question it was asked."""

    interactive = False

    def __init__(self, name: str = "tester", ticks: list[Decision] | None = None,
                 confirms: list[Decision] | None = None,
                 failures: list[Decision] | None = None) -> None:
        self.name = name
        self.ticks = list(ticks or [])
        self.confirms = list(confirms or [])
        self.failures = list(failures or [])
        self.asked: list[tuple[str, str]] = []

    def tick(self, step: Step) -> Answer:
        self.asked.append(("tick", step.id))
        return Answer(self.ticks.pop(0) if self.ticks else Decision.CONTINUE, self.name, "")

    def confirm(self, step: Step, reason: str) -> Answer:
        self.asked.append((reason, step.id))
        return Answer(self.confirms.pop(0) if self.confirms else Decision.CONTINUE, self.name)

    def after_failure(self, step: Step, result: StepResult, can_rollback: bool) -> Answer:
        self.asked.append(("failure", step.id))
        return Answer(self.failures.pop(0) if self.failures else Decision.ABORT, self.name)

    def supply_variable(self, var: Variable) -> str | None:
        return None


def make_engine(
    runbook: Runbook, operator: Operator | None = None, given: Mapping[str, str] | None = None,
    **kwargs: object,
) -> Engine:
    values = resolve(runbook, dict(given or {}), environ={})
    settings = kwargs.pop("settings", None) or Settings(kill_grace=1.0)
    return Engine(runbook, operator or ScriptedOperator(), values, settings=settings,
                  masker=Masker(secret_values(runbook, values, environ={})),
                  **kwargs)  # type: ignore[arg-type]


def run_events(path: Path, operator: Operator | None = None,
               given: Mapping[str, str] | None = None, **kwargs: object) -> list[Event]:
    return list(make_engine(load_runbook(path), operator, given, **kwargs).run())


__all__ = ["Decision", "Resume", "ScriptedOperator", "Selection", "Settings", "make_engine",
           "run_events", "write_runbook"]
