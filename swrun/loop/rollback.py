"""The rollback pass: after a failure the operator chose to roll back, the runbook's rollback
steps run, asking first for the values only they use (swrun.rollbackvars)."""

from __future__ import annotations

from collections.abc import Iterator

from swrun.events import Event, RollbackFinished, RollbackStarted, RunStatus
from swrun.loop import clock
from swrun.loop.clock import _ms
from swrun.rollbackvars import ask_for_rollback


class _Rollback:
    """The Engine's rollback method (a mixin: `self` is the Engine)."""

    def _rollback(self, failed: str | None, note: str | None) -> Iterator[Event]:
        steps = self.runbook.rollback_steps
        t0 = clock._monotonic()
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
                              duration_ms=_ms(clock._monotonic() - t0))
            return RunStatus.ROLLBACK_FAILED, missing
        status, where, rnote = yield from self._pass(steps, rollback=True)
        ok = status is RunStatus.COMPLETED
        yield self._event(RollbackFinished, status="ok" if ok else status.value,
                          duration_ms=_ms(clock._monotonic() - t0))
        if ok:
            return RunStatus.ROLLED_BACK, note
        return RunStatus.ROLLBACK_FAILED, rnote or f"rollback stopped at {where}"
