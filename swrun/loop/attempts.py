"""A step's attempts and retries: its attributes bound to the run's values, its executor run,
the process it starts announced, its output masked and its outcome recorded."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections import deque
from collections.abc import Iterator
from typing import Any

from swrun.attributes import VAR_REF, AttrValue, check_value, substitute
from swrun.emptyvalue import empty_value
from swrun.events import (
    FAILED_STATUSES,
    Event,
    StepFinished,
    StepOutput,
    StepProcesses,
    StepStarted,
    StepStatus,
)
from swrun.executors.base import Executor, Idle, Output, RemoteProcess, Spawned, StepResult
from swrun.loop import clock
from swrun.loop.clock import _ms
from swrun.loop.operator import Decision, OperatorNeeded
from swrun.model import Step

OUTPUT_TAIL = 100
DEFAULT_RETRY_DELAY = 2.0


class _Attempts:
    """The Engine's attempt methods (a mixin: `self` is the Engine)."""

    def _attempts(self, step: Step) -> Iterator[Event]:
        bound, problem = self._bind(step)
        attempts = 1 + bound.integer("retries", 0)
        delay = bound.seconds("retry_delay", DEFAULT_RETRY_DELAY) or 0.0
        executor = self._executor(step)
        result = StepResult(StepStatus.FAILED)
        for attempt in range(1, attempts + 1):
            result = yield from self._attempt(step, executor, attempt, attempts, bound, problem)
            if result.status not in FAILED_STATUSES or attempt == attempts:
                break
            if self._cancel.wait(delay):  # the last record said another attempt follows
                result = StepResult(StepStatus.ABORTED, error="aborted by the operator "
                                    "during the retry delay")
                self._record(step, result.status)
                yield self._event(StepFinished, **self._common(step), status=result.status,
                                  attempt=attempt, error=result.error, hash=step.content_hash)
                break
        self._last_result = result
        return result.status

    def _bind(self, step: Step) -> tuple[Step, str | None]:
        """The step as it runs: `$NAME` in its attributes filled in from the run's variables
        (`timeout=$DRAIN` must time out), and a message when a filled-in value is unusable.
        Events and the content hash keep the step as written."""
        filled: dict[str, AttrValue] = {}
        problem = None
        for key, value in step.attributes.items():
            if not isinstance(value, str) or "$" not in value:
                continue
            filled[key] = text = substitute(value, self.variables)
            bad = check_value(key, text) if not VAR_REF.search(text) else None
            if bad and problem is None:
                problem = f"{key}={value} is {self.masker.mask(text)!r}: {bad}"
        empty = empty_value(step, self.runbook, self.variables)
        if empty is not None:
            problem = empty
        if not filled:  # the common case: nothing to fill in, no copy of the step
            return step, problem
        return dataclasses.replace(step, attributes={**step.attributes, **filled}), problem

    def _executor(self, step: Step) -> Executor | None:
        from swrun.executors import executor_for, registry_key

        key = registry_key(step)
        if key in self._executors:
            return self._executors[key]
        return executor_for(step)

    def _attempt(
        self, step: Step, executor: Executor | None, attempt: int, attempts: int,
        bound: Step, problem: str | None,
    ) -> Iterator[Event]:
        """One attempt of `step` as written (events, hash), run as `bound` (see _bind)."""
        common = self._common(step)
        start = {**common, "attempt": attempt if attempts > 1 else None,
                 "host": step.text("host"), "hash": step.content_hash}
        t0 = 0.0
        tail: deque[str] = deque(maxlen=OUTPUT_TAIL)
        result: StepResult | None = None
        needed: OperatorNeeded | None = None
        exit_file: str | None = None
        if problem is not None or executor is None:
            yield self._event(StepStarted, **start)
            t0 = clock._monotonic()
            if problem is not None:
                result = StepResult(StepStatus.FAILED, error=problem)
            else:
                from swrun.executors import registry_key

                result = StepResult(StepStatus.FAILED, error=f"this swrun cannot run "
                                    f"{registry_key(step)} steps yet")
        else:
            ctx = self._context(bound)
            # an executor that starts a local process names it first, and holds it until it
            # is asked for its next item: by then step_started, with the pid, is in the log
            announced = ctx.announce = bool(getattr(executor, "announces_process", False))
            if not announced:
                yield self._event(StepStarted, **start)
                t0 = clock._monotonic()
            items = executor.run(bound, ctx)
            try:
                for item in items:
                    if announced:
                        announced = False
                        if isinstance(item, Spawned):
                            exit_file = item.exit_file
                            yield self._event(StepStarted, **start, **self._process(item))
                            t0 = clock._monotonic()
                            continue
                        yield self._event(StepStarted, **start)
                        t0 = clock._monotonic()
                    if isinstance(item, Idle):
                        yield from self._inbox_events()
                    elif isinstance(item, Output):
                        line = self.masker.mask(item.line)
                        tail.append(f"{item.host}: {line}" if item.host else line)
                        yield self._event(StepOutput, **common, line=line, stream=item.stream,
                                          host=item.host)
                        yield from self._inbox_events()
                    elif isinstance(item, RemoteProcess):  # logged at once: a resume after
                        yield self._event(  # swrun died finds (and stops) it on the host
                            StepProcesses, **common, attempt=start["attempt"], host=item.host,
                            pgid=item.pgid, start=item.start, boot_id=item.boot_id)
                    elif not isinstance(item, Spawned):
                        result = item
            except OperatorNeeded as exc:  # mid-step gate (a canary) with nobody to ask
                needed = exc
                result = StepResult(StepStatus.ABORTED, error=exc.reason)
            except Exception as exc:  # a backend bug or failure must not lose the run
                import traceback  # the operator sees one line; the log keeps where it came from

                result = StepResult(StepStatus.FAILED, error=f"{type(exc).__name__}: {exc}",
                                    data={"traceback": self.masker.mask(traceback.format_exc())})
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()
            if announced:  # the executor ended (or raised) before naming anything
                yield self._event(StepStarted, **start)
                t0 = clock._monotonic()
        if result is None:
            result = StepResult(StepStatus.FAILED, error="the executor returned no result")
        if self._cancel.is_set() and result.status is not StepStatus.ABORTED and (
                result.status is not StepStatus.OK):
            result = StepResult(StepStatus.ABORTED, exit_code=result.exit_code,
                                error="aborted by the operator")
        will_retry = result.status in FAILED_STATUSES and attempt < attempts
        if not will_retry:
            self._record(step, result.status)
        if result.status is StepStatus.OK:
            self._carry(step, result)
        yield self._event(
            StepFinished, **common, status=result.status, exit_code=result.exit_code,
            duration_ms=_ms(clock._monotonic() - t0), attempt=attempt if attempts > 1 else None,
            will_retry=will_retry or None, host=step.text("host"),
            error=self.masker.mask(result.error) if result.error else None,
            hash=step.content_hash, output=tuple(tail),
            hosts=self.masker.mask_data(result.hosts) if self.masker else result.hosts,
            data=self.masker.mask_data(result.data) if self.masker else result.data,
        )
        if exit_file:  # its end is in the log now: the status file has done its job
            with contextlib.suppress(OSError):
                os.unlink(exit_file)
        if needed is not None:
            raise needed
        return result

    def _process(self, spawned: Spawned) -> dict[str, Any]:
        """step_started's keys for a local process group; the exit file relative to the
        log's folder when it is under it (the log can move with its folder)."""
        exit_file = spawned.exit_file
        if exit_file and self.settings.log_path:
            folder = os.path.dirname(self.settings.log_path)
            rel = os.path.relpath(exit_file, folder)
            exit_file = exit_file if rel.startswith("..") else rel
        return {"pid": spawned.pid, "pgid": spawned.pgid, "pid_start": spawned.start,
                "boot_id": spawned.boot_id, "exit_file": exit_file}

    def _confirm_mid_step(self, step: Step, reason: str) -> bool:
        answer = self.operator.confirm(step, reason)
        self._last_by = answer.by
        if answer.decision is Decision.ABORT:
            self.abort(answer.note or f"aborted by {answer.by} at {step.title} ({reason})")
        return answer.decision is Decision.CONTINUE

    def _check_mode(self, step: Step) -> bool:
        """A dry run still calls executors that can run in check mode (Ansible's --check)."""
        if not step.runnable:
            return False
        try:
            executor = self._executor(step)
        except Exception:  # a backend that cannot even load is shown as a plain dry run
            return False
        return bool(getattr(executor, "supports_check_mode", False))
