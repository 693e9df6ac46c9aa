"""Shared pieces of the TUI tests: runbooks, a frozen clock, a scripted executor, waiting."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from swrun.events import StepStatus
from swrun.executors.base import Output, StepContext, StepResult
from swrun.loop import clock
from swrun.model import Step
from swrun.parser import load_runbook
from swrun.runlog import read_log
from swrun.tui.app import SwrunApp, TuiSettings

from helpers import write_runbook

SIZE = (120, 36)

SMALL = """
    +++
    window = "30m"
    +++
    # Deploy the API

    ## Before you start

    Tell the on-call channel before touching anything.

    - [ ] Tell #ops the release is starting

    ## Release

    Build, then ship.

    ```bash {name=build target=10s}
    echo building
    echo built
    ```

    ```bash {name=ship confirm}
    echo shipped
    ```
    """

PROD = """
    +++
    environment = "production"
    window = "30m"
    +++
    # Failover drill

    ## Prepare

    - [ ] Announce the drill

    ## Switch

    ```bash {name=promote hosts=db-2 destructive}
    echo promote
    ```
    """

FAILING = """
    # Risky change

    ## Change

    ```bash {name=flaky}
    if [ -f attempted ]; then echo second try; else touch attempted; echo boom >&2; exit 3; fi
    ```

    - [ ] Verify the dashboard

    ## Rollback
    <!-- swrun: rollback -->

    ```bash {name=undo}
    echo undone
    ```
    """


class ScriptedExecutor:
    """Prints the given lines, then holds the step open until released (or aborted)."""

    def __init__(self, lines: list[str], status: StepStatus = StepStatus.OK,
                 hold: bool = False) -> None:
        self.lines = lines
        self.status = status
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.started = threading.Event()

    def run(self, step: Step, ctx: StepContext) -> Iterator[Output | StepResult]:
        for line in self.lines:
            yield Output(line)
        self.started.set()
        while not self.release.wait(0.02):
            if ctx.cancel.is_set():
                yield StepResult(StepStatus.ABORTED, exit_code=143, error="aborted")
                return
        yield StepResult(self.status, exit_code=0 if self.status is StepStatus.OK else 1)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Fixed timestamps and durations (each engine clock reading is 1.5 s after the last)."""
    monkeypatch.chdir(tmp_path)
    ticks = itertools.count()
    monkeypatch.setattr(clock, "_monotonic", lambda: next(ticks) * 1.5)
    base = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)
    stamps = itertools.count()
    monkeypatch.setattr(clock, "_now", lambda: base + timedelta(seconds=next(stamps)))
    return tmp_path


def make_app(tmp_path: Path, text: str, *, operator: str = "alice", log: str | None = "run.toml",
             executors: dict[str, Any] | None = None, **settings: Any) -> SwrunApp:
    """An app on `text` written to rb.md; use with `frozen` (cwd is tmp_path, paths relative)."""
    write_runbook(tmp_path, text)
    rb = load_runbook("rb.md")
    opts = {"offer_resume": False, "run_id": "run00001", "clock": lambda: 0.0,
            "failure_key_guard": 0.0,  # pilot keys come at once; test_tui_keys tests the guard
            "answer_guard": 0.0,  # the same for checks, gates and confirmations
            "logs_base": Path("logs"), **settings}
    return SwrunApp(rb, executors=executors,
                    settings=TuiSettings(operator=operator, log_path=log, **opts))


async def until(pilot: Any, pred: Callable[[], object], what: str = "",
                limit: float = 10.0) -> None:
    """Poll `pred` while the app runs; fail after `limit` seconds (never sleep-and-hope)."""
    for _ in range(int(limit / 0.02)):
        if pred():
            await pilot.pause()  # let the screen catch up with the state
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what or pred}")


def waiting(app: SwrunApp, kind: str, number: int | None = None) -> Callable[[], bool]:
    def pred() -> bool:
        q = app.pending
        return q is not None and not q.answered and q.kind == kind and (
            number is None or q.step.number == number)
    return pred


def events(path: Path, kind: str | None = None) -> list[dict[str, Any]]:
    recs = read_log(path).events
    return [e for e in recs if kind is None or e.get("type") == kind]


def screen_text(app: SwrunApp) -> str:
    """The screen as plain text, for asserting what the operator sees."""
    import io

    from rich.console import Console

    w, h = app.size
    console = Console(width=w, height=h, file=io.StringIO(), record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text()


def is_preflight(app: SwrunApp) -> bool:
    return type(app.screen).__name__ == "PreflightScreen"


async def through_preflight(pilot: Any, app: SwrunApp, environment: str = "production") -> None:
    """Production runs open the pre-flight screen first: type the environment, press Enter."""
    await until(pilot, lambda: is_preflight(app) or app.pending is not None, "the pre-flight")
    if is_preflight(app):
        await pilot.press(*environment, "enter")
