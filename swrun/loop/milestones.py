"""Milestones: a step's or a section's `milestone=` reached, and each logged once per run."""

from __future__ import annotations

from collections.abc import Iterator

from swrun.events import DONE_STATUSES, Event, MilestoneMarked, StepStatus
from swrun.model import Runbook, Step


class _Milestones:
    """The Engine's milestone methods (a mixin: `self` is the Engine)."""

    def _first_mark(self, milestone: str) -> bool:
        """True the first time `milestone` is marked in this run (thread-safe)."""
        with self._marked_lock:
            if milestone in self._marked:
                return False
            self._marked.add(milestone)
            return True

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
