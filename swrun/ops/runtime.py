"""What the mongo/aws/http/wait executors share at run time: the step's time budget (timeout
and abort), one-line failures, secret scrubbing of data, and paths relative to the runbook."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from swrun.events import StepStatus
from swrun.executors.base import Output, StepContext, StepResult
from swrun.secrets import Masker
from swrun.variables import secret_values


class OpFailed(Exception):
    """An operation failed; the message is the step's one-line error."""

    def __init__(self, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data or {}


class Stopped(Exception):
    """The step's timeout passed or the operator aborted."""

    def __init__(self, status: StepStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Budget:
    """The step's deadline (`timeout=`) and the abort signal, checked in every wait."""

    def __init__(self, ctx: StepContext) -> None:
        self.cancel = ctx.cancel
        self.timeout = ctx.timeout
        self.started = time.monotonic()
        self.deadline = self.started + ctx.timeout if ctx.timeout else None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self, cap: float | None = None) -> float | None:
        """Seconds left (at most `cap`); None when unlimited and no cap."""
        left = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
        if cap is None:
            return left
        return cap if left is None else min(cap, left)

    def check(self) -> None:
        if self.cancel.is_set():
            raise Stopped(StepStatus.ABORTED, "aborted by the operator")
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise Stopped(StepStatus.TIMED_OUT, f"timed out after {self.timeout:g}s")

    def sleep(self, seconds: float) -> None:
        """Sleep, waking at once for an abort; raises Stopped at the deadline."""
        self.check()
        left = self.remaining(seconds)
        if self.cancel.wait(max(0.0, left if left is not None else seconds)):
            self.check()
        self.check()


def secret_masker(ctx: StepContext, extra: Iterable[str] = ()) -> Masker:
    """Secret variable values plus `extra` (a connection string, a password)."""
    values = secret_values(ctx.runbook, ctx.variables, environ={})
    return Masker([*values, *(e for e in extra if e and len(e) >= 3)])


def scrub(value: Any, masker: Masker) -> Any:
    """`value` with every secret masked and None dropped (the run log is TOML)."""
    return masker.mask_data(value)


def local_path(ctx: StepContext, text: str) -> Path:
    """A path from a step body, relative to the runbook's directory."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else (ctx.runbook.base_dir / path)


def run_ops(
    kind: str, ops: list[Any], run_one: Any, masker: Masker,
    finish: Any = None,
) -> Iterator[Output | StepResult]:
    """Run each op (`run_one(op)` yields Output and returns its data dict) in order, turning
    failures into one masked line and collecting `data = {"ops": [...]}`."""
    results: list[dict[str, Any]] = []
    status, error = StepStatus.OK, None
    try:
        for op in ops:
            try:
                result = yield from masked(run_one(op), masker)
            except OpFailed as exc:
                results.append({"op": op.name, "line": op.line, "ok": False, **exc.data,
                                "error": exc.message})
                status, error = StepStatus.FAILED, f"{kind}: {exc.message}"
                break
            results.append({"op": op.name, "line": op.line, "ok": True, **result})
    except Stopped as exc:
        status, error = exc.status, f"{kind}: {exc.message}"
    finally:
        if finish is not None:
            finish()
    yield StepResult(status, error=masker.mask(error) if error else None,
                     data=scrub({"ops": results}, masker))


def masked(gen: Any, masker: Masker) -> Any:
    """Re-yield a generator's Output lines masked; returns its return value."""
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value
        yield Output(masker.mask(item.line), item.stream, item.host, item.at)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
