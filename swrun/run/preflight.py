"""Before anything runs: the steps the operator named (`--confirm`, `--done`) resolved, and
the steps that will wait for approval known to have an operator who can be approved."""

from __future__ import annotations

from typing import Any

from swrun.engine import Selection
from swrun.errors import UsageError
from swrun.model import Runbook, StepKind


def confirmed_steps(runbook: Runbook, refs: list[str]) -> frozenset[str]:
    """The ids `--confirm STEP` names; one that names no step is a usage error."""
    ids = []
    for ref in refs:
        found = runbook.find(ref)
        if found is None or not found.actionable:
            raise UsageError(f"--confirm {ref}: no such step (see `swrun plan {runbook.path}`)")
        ids.append(found.id)
    return frozenset(ids)


def done_steps(runbook: Runbook, refs: list[str]) -> frozenset[str]:
    """The ids of the checks `--done STEP` names; a step that is not a check (swrun runs it)
    or does not exist is a usage error."""
    ids = []
    for ref in refs:
        found = runbook.find(ref)
        if found is None or not found.actionable:
            raise UsageError(f"--done {ref}: no such step (see `swrun plan {runbook.path}`)")
        if found.kind is not StepKind.CHECK:
            raise UsageError(f"--done {ref}: step {found.number} '{found.title}' is run by "
                             "swrun; --done names a check or a command for a person")
        ids.append(found.id)
    return frozenset(ids)


def needs_approval(runbook: Runbook, evidence: Any, selection: Selection | None = None
                   ) -> list[Any]:
    """The steps that will wait for approval (main steps not left out by the selection,
    and rollback steps)."""
    steps = [s for s in runbook.main_steps
             if selection is None or selection.reason_to_skip(s, True) is None]
    steps += list(runbook.rollback_steps)
    return [s for s in steps if evidence.needed(s, runbook.environment)]


def approvals_preflight(runbook: Runbook, evidence: Any,
                        selection: Selection | None = None) -> None:
    """Before anything runs: a run with a step that needs approval must know who its operator
    is (a signing key allowed_signers lists) and whose keys count; EvidenceError otherwise."""
    from swrun.errors import EvidenceError

    waiting = needs_approval(runbook, evidence, selection)
    problem = evidence.operator_problem() if waiting else None
    if problem is not None:
        step = waiting[0]
        raise EvidenceError(f"{runbook.path}:{step.span.line}: step {step.number} "
                            f"'{step.title}' needs approval, and {problem}")
