"""Headless operators: `--yes` (auto), a person at a terminal, and no terminal at all."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from swrun.engine import INFERRED, Answer, Decision, OperatorNeeded
from swrun.executors.base import StepResult
from swrun.model import Step, Variable

AUTO = "auto"


def _failure_policy(
    step: Step, can_rollback: bool, rollback_on_failure: bool, by: str
) -> Answer:
    if can_rollback and rollback_on_failure and step.text("on_failure") == "rollback":
        return Answer(Decision.ROLLBACK, by, f"{step.title} failed; rolling back "
                      "(--rollback-on-failure)")
    return Answer(Decision.ABORT, by, f"{step.title} failed")


class AutoOperator:
    """`--yes`: gates pass and checks are ticked, recorded as by `auto`."""

    interactive = False

    def __init__(self, name: str, environment: str = "", confirm_environment: str | None = None,
                 rollback_on_failure: bool = False, confirmed: frozenset[str] = frozenset()
                 ) -> None:
        self.name = name
        self.environment = environment
        self.confirm_environment = confirm_environment
        self.rollback_on_failure = rollback_on_failure
        self.confirmed = confirmed
        """Ids of the steps `--confirm STEP` names: their inferred gates pass."""

    def inferred(self, step: Step) -> Answer:
        """An inferred gate (a state-changing command, an alternative) passes only when the
        operator named the step (`--confirm`), or, in the rollback section, when they asked
        for the rollback (`--rollback-on-failure`); `--yes` alone never answers it."""
        if step.id in self.confirmed or (step.in_rollback and self.rollback_on_failure):
            return Answer(Decision.CONTINUE, AUTO)
        raise OperatorNeeded(
            f"step {step.number} '{step.title}' asks first (inferred: {step.inferred}); "
            f"--yes does not answer that: name it with --confirm {step.number}, or mark its block "
            "{confirm=false} or {unattended} if it may run unattended",
            resume_args=("--yes", "--confirm", str(step.number)),
            resume_says=f"runs step {step.number} and passes the other gates as `auto`")

    def tick(self, step: Step) -> Answer:
        if step.manual:  # --yes ticks checks, but nobody ran this command: never say so
            block = "" if step.manual == "list item" else \
                ", or mark its block {run} to let swrun run it"
            raise OperatorNeeded(
                f"step {step.number} is a command for a person ({step.manual}): swrun does not "
                f"run it; run it yourself, then tick it at a terminal{block}")
        return Answer(Decision.CONTINUE, AUTO)

    def confirm(self, step: Step, reason: str) -> Answer:
        if reason == INFERRED:
            return self.inferred(step)
        if reason == "destructive" and needs_typed_confirmation(self.environment) and (
            self.confirm_environment != self.environment
        ):
            raise OperatorNeeded(
                f"destructive step {step.number} in {self.environment}: "
                f"{confirm_environment_problem(self.confirm_environment, self.environment)}",
                resume_args=("--yes", "--confirm-environment", self.environment),
                resume_says=f"confirms every destructive step in {self.environment}")
        return Answer(Decision.CONTINUE, AUTO)

    def after_failure(self, step: Step, result: StepResult, can_rollback: bool) -> Answer:
        return _failure_policy(step, can_rollback, self.rollback_on_failure, AUTO)

    def supply_variable(self, var: Variable) -> str | None:
        return None


class NoTtyOperator(AutoOperator):
    """No `--yes` and no terminal: never wait for input; stop where a person is needed."""

    def tick(self, step: Step) -> Answer:
        if step.manual:  # a command for a person: only a person can say it was run
            return super().tick(step)
        raise OperatorNeeded(f"check {step.number} needs an operator: {step.title}",
                             resume_args=("--yes",),
                             resume_says="ticks it and every later check as `auto`")

    def confirm(self, step: Step, reason: str) -> Answer:
        if reason == INFERRED:
            return self.inferred(step)
        what = {"step": "step mode asks before"}.get(reason, f"{reason} gate on")
        args: tuple[str, ...] = ("--yes",)
        if reason == "destructive" and needs_typed_confirmation(self.environment):
            args += ("--confirm-environment", self.environment)
        raise OperatorNeeded(f"{what} step {step.number} needs an operator: {step.title}",
                             resume_args=args,
                             resume_says="passes it and every later gate as `auto`")

    def after_failure(self, step: Step, result: StepResult, can_rollback: bool) -> Answer:
        return _failure_policy(step, can_rollback, self.rollback_on_failure, "swrun")


def confirm_environment_problem(given: str | None, environment: str) -> str:
    """What is wrong with --confirm-environment for a destructive step in `environment`:
    missing, or another name (said back, so a typo is seen as one)."""
    if given is None:
        return f"headless runs need --confirm-environment {environment}"
    return (f"--confirm-environment: you typed {given}, the runbook's environment is "
            f"{environment}")


def needs_typed_confirmation(environment: str) -> bool:
    return environment.lower() in ("production", "prod")


class TtyOperator:
    """A person at the terminal answers on stderr/stdin (braintree's paranoid mode)."""

    interactive = True

    def __init__(self, name: str, environment: str = "", *, rollback_on_failure: bool = False,
                 read: Callable[[str], str] | None = None, out: TextIO | None = None) -> None:
        self.name = name
        self.environment = environment
        self.rollback_on_failure = rollback_on_failure
        self._out = out or sys.stderr
        self._read = read or self._input
        self.prompting = False
        self.describe: Callable[[Step], str] | None = None
        """Where a step acts and what it runs, resolved; shown before a confirmation."""

    def _input(self, prompt: str) -> str:
        # set before the prompt is written: a ^C the moment the prompt shows must interrupt
        # the read, not only abort the engine while readline() then waits forever
        self.prompting = True
        try:
            self._out.write(prompt)
            self._out.flush()
            line = sys.stdin.readline()
        finally:
            self.prompting = False
        if not line:
            raise OperatorNeeded("the terminal closed while swrun was asking")
        return line.strip()

    def _choose(self, question: str, options: dict[str, Decision]) -> Decision:
        keys = "/".join(f"[{k}]{v.value[1:]}" if v.value[0] == k else f"[{k}] {v.value}"
                        for k, v in options.items())
        while True:
            answer = self._read(f"{question} {keys}? ").lower()
            if answer in options:
                return options[answer]
            for decision in options.values():
                if answer == decision.value:
                    return decision

    def tick(self, step: Step) -> Answer:
        if step.manual and self.describe is not None:
            self._out.write(f"    run this yourself ({step.manual}), then tick it:\n"
                            f"{self.describe(step)}\n")
        decision = self._choose(
            f"  ☐ [{step.number}] {step.title} — done",
            {"y": Decision.CONTINUE, "s": Decision.SKIP, "a": Decision.ABORT},
        )
        note = ""
        if decision is not Decision.ABORT:
            note = self._read("    comment (enter for none): ")
        return Answer(decision, self.name, note)

    def confirm(self, step: Step, reason: str) -> Answer:
        what = self.describe(step) if self.describe is not None else ""
        if what:
            self._out.write(f"{what}\n")
        if reason == INFERRED:
            self._out.write(f"    asked because: inferred: {step.inferred}\n")
        if reason == "destructive" and needs_typed_confirmation(self.environment):
            typed = self._read(f"  ⚠ [{step.number}] {step.title} is destructive in "
                               f"{self.environment}. Type the environment name to run it "
                               "(anything else skips): ")
            if typed != self.environment:
                return Answer(Decision.SKIP, self.name, "environment name not confirmed")
            return Answer(Decision.CONTINUE, self.name)
        decision = self._choose(
            f"  ? [{step.number}] {step.title} — run it",
            {"c": Decision.CONTINUE, "s": Decision.SKIP, "a": Decision.ABORT},
        )
        return Answer(decision, self.name)

    def after_failure(self, step: Step, result: StepResult, can_rollback: bool) -> Answer:
        options = {"r": Decision.RETRY, "s": Decision.SKIP, "a": Decision.ABORT}
        if can_rollback:
            options["b"] = Decision.ROLLBACK
        decision = self._choose(f"  ✗ [{step.number}] {step.title} failed — what now", options)
        return Answer(decision, self.name)

    def supply_variable(self, var: Variable) -> str | None:
        prompt = var.prompt or var.name
        if var.choices:
            prompt += f" ({'/'.join(var.choices)})"
        if var.secret:
            import getpass

            return getpass.getpass(f"  {prompt}: ", stream=self._out) or None
        return self._read(f"  {prompt}: ") or None
