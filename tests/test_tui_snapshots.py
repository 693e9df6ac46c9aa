"""Snapshot tests of the console (pytest-textual-snapshot); each docstring says what to see."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from test_tui_support import (
    FAILING,
    PROD,
    SIZE,
    SMALL,
    ScriptedExecutor,
    frozen,
    make_app,
    until,
    waiting,
)

from swrun.engine import OperatorNeeded, Settings
from swrun.execute import open_run_log
from swrun.parser import load_runbook
from swrun.session import drive
from swrun.tui.app import SwrunApp, TuiSettings
from swrun.tui.screens import FailureScreen, SummaryScreen, TypedConfirmScreen
from swrun.tui.start import ResumeScreen

from helpers import ScriptedOperator, make_engine, write_runbook

__all__ = ["frozen"]
SEED = Path(__file__).parent / "data" / "seeds" / "smartwallet-deployment-guide.md"
STILL = {"tick_interval": 3600.0}
"""No clock ticks during a snapshot: the header shows the frozen clock's 00:00."""


def test_start_screen_of_a_seed(snap_compare: Any, frozen: Path) -> None:
    """The SmartWallet seed just opened: title, 'no environment' badge, clock 00:00,
    0/54 done, operator alice; the section tree from its top, every step ○ pending, check 1
    'All tests passing locally' highlighted ▶ waiting; the right pane shows its section
    'Pre-Deployment Checklist' path; the status line says space ticks; footer of keys."""
    shutil.copy(SEED, frozen / "seed.md")
    app = SwrunApp(load_runbook("seed.md"), settings=TuiSettings(
        operator="alice", log_path="run.toml", offer_resume=False, run_id="run00001",
        clock=lambda: 0.0, **STILL))

    async def ready(pilot: Any) -> None:
        await until(pilot, waiting(app, "tick", 1), "the first check")

    assert snap_compare(app, terminal_size=SIZE, run_before=ready)


def test_step_running_with_output(snap_compare: Any, frozen: Path) -> None:
    """Step 2 'build' is running (⟳ in the tree, 'running' in the right pane) after
    check 1 was ticked (☑); its code is highlighted and the output pane shows the five
    lines it printed so far; the status line says `a` aborts it."""
    held = ScriptedExecutor([f"compiling module {i}/5" for i in range(1, 6)], hold=True)
    app = make_app(frozen, SMALL, executors={"shell": held}, **STILL)

    async def running(pilot: Any) -> None:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, held.started.is_set, "the step to print")
        await until(pilot, lambda: len(app.detail.query_one("#output").lines) == 5)

    assert snap_compare(app, terminal_size=SIZE, run_before=running)


def test_failed_step_with_its_choices(snap_compare: Any, frozen: Path) -> None:
    """Step 1 'flaky' failed (✗ in the tree): a red-bordered dialog says it failed with
    exit 3, shows its stderr line 'boom', says the run waits for a decision, and offers
    Retry (r), Skip (s), Abort run (a) and Roll back (b)."""
    app = make_app(frozen, FAILING, **STILL)

    async def failed(pilot: Any) -> None:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=failed)


def test_production_typed_confirmation(snap_compare: Any, frozen: Path) -> None:
    """A production runbook (red 'production' badge): the destructive step 2 'promote'
    opened a red dialog that shows where and what it runs ('on db-2', 'echo promote') and
    asks to type the environment name 'production' exactly; 'produc' has been typed so
    far, so nothing runs yet."""
    app = make_app(frozen, PROD, **STILL)

    async def typed(pilot: Any) -> None:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen))
        app.screen.query_one("#typed").cursor_blink = False
        await pilot.press(*"produc")

    assert snap_compare(app, terminal_size=SIZE, run_before=typed)


def test_finished_run_summary(snap_compare: Any, frozen: Path) -> None:
    """The run completed: a dialog 'Run completed in 7.5s' with '2 ok, 1 ticked', one row
    per step (☑ 1 ticked, ✓ 2 ok 1.5s/10.0s, ✓ 3 ok 1.5s) and 'log: run.toml'."""
    app = make_app(frozen, SMALL, **STILL)

    async def finished(pilot: Any) -> None:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, waiting(app, "confirm", 3))
        await pilot.press("r", "y")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=finished)


class _StopAtGates(ScriptedOperator):
    def confirm(self, step: Any, reason: str) -> Any:
        raise OperatorNeeded(f"step {step.number} needs an operator")


def test_resume_offer(snap_compare: Any, frozen: Path) -> None:
    """Opening a runbook with an unfinished log: a dialog says an unfinished run was
    found, 'run run00001 started 2026-11-22T06:30:00.000Z by carol', its log path under
    logs/rb/, '2 step(s) done': '☑ 1 Tell #ops the release is starting — ticked by carol
    06:30' and '✓ 2 build — ok' (it stopped at the confirm gate of step 3), with buttons
    Resume it (r) and Start a new run (n)."""
    path = write_runbook(frozen, SMALL)
    rb = load_runbook(path.name)
    engine = make_engine(rb, _StopAtGates(name="carol"), settings=Settings(run_id="run00001"))
    log, _ = open_run_log(rb, engine.settings, None, None, "carol", {}, ["swrun"])
    with log:
        drive(engine, log, lambda event: None)
    app = make_app(frozen, SMALL, log=None, offer_resume=True, **STILL)

    async def offered(pilot: Any) -> None:
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=offered)
