"""Waits with a countdown, optionally watching an http check or mongo operation all along:
"monitor for 15 minutes" that fails the step (and so can roll back) the moment a check fails.

An operator can cut a wait short: a front end puts a `CutShort` in the executor settings
(`Settings.executor_settings["cut_short"]`) and calls `.cut(by, note)`; the wait then ends
as ok, and the step's data and output record who cut it and when.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from swrun.durations import format_duration
from swrun.events import StepStatus, utcnow
from swrun.executors.base import CutShort, Output, StepContext, StepResult

__all__ = ["CutShort", "WaitExecutor"]
from swrun.model import Step
from swrun.ops import wait as lang
from swrun.ops.lex import OpError, substitute
from swrun.ops.runtime import Budget, OpFailed, masked, run_ops, secret_masker

TICK = 0.1
"""How often a wait looks at the abort and cut-short signals."""


def progress_every(seconds: float) -> float:
    """A progress line every minute, or every tenth of a shorter wait (at least 5s)."""
    return min(60.0, max(5.0, seconds / 10))


class WaitExecutor:
    def run(self, step: Step, ctx: StepContext) -> Iterator[Output | StepResult]:
        masker = secret_masker(ctx)
        try:
            ops = lang.parse(step.body, ctx.variables)
        except OpError as exc:
            yield StepResult(StepStatus.FAILED, error=masker.mask(f"wait: {exc}"))
            return
        runner = _Waiter(step, ctx, Budget(ctx))
        yield from run_ops("wait", ops, runner.run, runner.masker, finish=runner.close)


class _Waiter:
    def __init__(self, step: Step, ctx: StepContext, budget: Budget) -> None:
        self.step, self.ctx, self.budget = step, ctx, budget
        self.masker = secret_masker(ctx)
        self.cut = ctx.settings.get("cut_short")
        self._mongo: Any = None
        self._http: Any = None

    def close(self) -> None:
        if self._mongo is not None:
            self._mongo.close()

    def check(self, op: lang.Wait) -> str:
        """Run the watched line once: its ✓ line, or OpFailed."""
        assert op.watch is not None
        if op.watch_kind == "http":
            if self._http is None:
                from swrun.executors.http import HttpChecker

                self._http = HttpChecker(self.budget)
            line, _ = self._http.once(op.watch)
            return line
        if self._mongo is None:
            from swrun.executors.mongo import MongoSession, resolve_uri

            try:
                uri = resolve_uri(self.step, self.ctx)
            except OpError as exc:
                raise OpFailed(str(exc)) from None
            self._mongo = MongoSession(uri, self.ctx, self.budget)
            self.masker = self._mongo.masker
        lines = list(masked(_drain(self._mongo.run(op.watch)), self.masker))
        return lines[-1].line if lines else "✓"

    def run(self, op: lang.Wait) -> Iterator[Output]:
        total = op.seconds
        start = time.monotonic()
        end = start + total
        until = (utcnow() + timedelta(seconds=total)).strftime("%H:%M:%S UTC")
        shown = substitute(op.watch.text, self.ctx.variables) if op.watch else ""
        what = f", watching {shown} every {format_duration(op.every)}" if op.watch else ""
        yield Output(f"⏳ waiting {format_duration(total)} (until {until}){what}")
        data: dict[str, Any] = {"seconds": total}
        if op.watch is not None:
            data.update({"watch": op.watch.text, "every_s": op.every, "checks": 0})
        step_every = progress_every(total)
        next_progress = start + step_every
        next_check = start if op.watch is not None else float("inf")
        while True:
            now = time.monotonic()
            if self.cut is not None and (taken := self.cut.take()) is not None:
                by, note = taken
                waited = now - start
                data.update({"cut_short": True, "cut_by": by, "waited_s": round(waited, 3)})
                if note:
                    data["cut_note"] = note
                yield Output(f"⏭ wait cut short by {by} after {format_duration(waited)}"
                             f"{': ' + note if note else ''}")
                return data
            if now >= next_check and now < end:
                data["checks"] += 1
                try:
                    line = self.check(op)
                except OpFailed as exc:
                    waited = time.monotonic() - start
                    data.update({"waited_s": round(waited, 3), "failed_check": data["checks"]})
                    raise OpFailed(f"watch failed after {format_duration(waited)} (check "
                                   f"{data['checks']}): {exc.message}", data) from None
                yield Output(f"  {line} [check {data['checks']}, "
                             f"{format_duration(max(0.0, end - time.monotonic()))} left]")
                next_check += op.every
                while next_check <= time.monotonic():
                    next_check += op.every  # a slow check: skip the ticks it overran
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_progress:
                yield Output(f"⏳ {format_duration(end - now)} left of {format_duration(total)}")
                next_progress += step_every
            self.budget.sleep(max(0.0, min(TICK, end - now, next_check - now)))
        data["waited_s"] = round(time.monotonic() - start, 3)
        checks = f", {data['checks']} check(s) passed" if op.watch is not None else ""
        yield Output(f"✓ waited {format_duration(total)}{checks}")
        return data


def _drain(gen: Any) -> Iterator[Output]:
    """Yield a session op's lines; its data is not needed for a watch."""
    result = yield from gen
    del result
