"""Snapshot tests of the console (pytest-textual-snapshot); each docstring says what to see."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from test_tui_dialogs import CUTOVER, GIVEN, ROLLED, headless_run, through_preflight
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

from swrun.engine import Decision, OperatorNeeded, Settings
from swrun.execute import open_run_log
from swrun.parser import load_runbook
from swrun.session import drive
from swrun.tui.app import SwrunApp, TuiSettings
from swrun.tui.screens import FailureScreen, SummaryScreen, TypedConfirmScreen
from swrun.tui.start import ResumeScreen, VariablesScreen

from helpers import ScriptedOperator, make_engine, write_runbook

__all__ = ["frozen"]
SEED = Path(__file__).parent / "data" / "seeds" / "smartwallet-deployment-guide.md"
STILL = {"tick_interval": 3600.0}
"""No clock ticks during a snapshot: the header shows the frozen clock's 00:00."""
SMALL_SCREEN = (80, 24)
"""The smallest terminal the console is made for: every dialog's buttons fit it."""


def test_start_screen_of_a_seed(snap_compare: Any, frozen: Path) -> None:
    """The SmartWallet seed just opened: title, 'no environment' badge, clock 00:00,
    0/48 done, operator alice; the section tree from its top, every step ○ pending, step 1
    'Write server/scripts/migrate_example.ts' (the guide's "Create `…`:" block, which
    writes that file) highlighted ▶ waiting, its code first in the right pane; the status
    line says r runs it; footer of keys."""
    shutil.copy(SEED, frozen / "seed.md")
    app = SwrunApp(load_runbook("seed.md"), settings=TuiSettings(
        operator="alice", log_path="run.toml", offer_resume=False, run_id="run00001",
        clock=lambda: 0.0, **STILL,  # the values its `XXXXX` and `$DATABASE_URL` ask for
        variables={"DISTRIBUTION_ID": "E123", "DATABASE_URL": "postgres://db"}))

    async def ready(pilot: Any) -> None:
        await until(pilot, waiting(app, "confirm", 1), "the first step")
        # its keys are named once the step has been shown for the answer guard (0.4 s)
        await until(pilot, lambda: "r runs it" in app._status_text, "the keys")

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
    exit 3, shows its stderr line 'boom', says the run waits for a decision and that
    nothing is running (abort ends the run as failed), and offers
    Retry (r), Skip (s), Abort run (a) and Roll back (b) as one-line buttons, none of them
    focused (Enter alone does nothing)."""
    app = make_app(frozen, FAILING, **STILL)

    async def failed(pilot: Any) -> None:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=failed)


def test_production_typed_confirmation(snap_compare: Any, frozen: Path) -> None:
    """A production runbook (red 'production' badge), past its pre-flight: the destructive
    step 2 'promote' opened a red dialog that shows where and what it runs ('on db-2',
    'echo promote') and asks to type the environment name 'production' exactly (the box's
    placeholder says 'type the environment name', never the answer); 'produc' has been
    typed so far, so nothing runs yet."""
    app = make_app(frozen, PROD, **STILL)

    async def typed(pilot: Any) -> None:
        await through_preflight(pilot, app)
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen))
        app.screen.query_one("#typed").cursor_blink = False
        await pilot.press(*"produc")

    assert snap_compare(app, terminal_size=SIZE, run_before=typed)


def test_finished_run_summary(snap_compare: Any, frozen: Path) -> None:
    """The run completed: a dialog 'Run completed · 7.5s active, 7.5s since it first
    started' with '2 ok, 1 ticked', one row per step (☑ 1 ticked, ✓ 2 ok 1.5s/10.0s,
    ✓ 3 ok 1.5s), an Activity part saying who ticked check 1 ('— ticked by alice'),
    'log: run.toml' and the keys 'q quit · escape back to the steps'."""
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
    """Opening a runbook whose last run stopped at the confirm gate of step 3: a dialog
    'The last run of this runbook stopped for an operator', 'run run00001 started
    2026-11-22T06:30:00.000Z by carol', its log path under logs/rb/, in bold what resuming
    does ('… at step 3 (ship). 2 of 3 steps count as done; resuming continues at step 3
    (ship).'), the activity with times ('06:30 ☑ 1 Tell #ops the release is starting —
    ticked by carol', '06:30 ✓ 2 build — ok', '■ the run ended: stopped for an operator'),
    and the buttons 'Resume at step 3 (r)' (focused: Enter resumes) and 'Start a new run
    (n)'."""
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


# -- 80x24 -------------------------------------------------------------------------------------


def test_start_screen_at_80x24(snap_compare: Any, frozen: Path) -> None:
    """The small runbook just opened in an 80x24 terminal: the header (title, 'no
    environment', clock 00:00 / 30m00s, 0/3 done, alice), the tree with check 1 ▶ waiting
    and steps 2 'build' (target shown as '–/10.0s') and 3 'ship' ○ pending, the right pane
    with check 1's section, the status line saying space ticks, c comments, s skips (all
    of it, on two lines if need be), and the footer of keys."""
    app = make_app(frozen, SMALL, **STILL)

    async def ready(pilot: Any) -> None:
        await until(pilot, waiting(app, "tick", 1), "the first check")

    assert snap_compare(app, terminal_size=SMALL_SCREEN, run_before=ready)


def test_failure_dialog_at_80x24(snap_compare: Any, frozen: Path) -> None:
    """Step 1 'flaky' failed, at 80x24: the red dialog fits the screen with its title, 'exit
    3 · after 1.5s', the output line 'boom', 'The run waits for your decision…' (abort ends
    the run as failed) and all four
    one-line buttons Retry (r), Skip (s), Abort run (a), Roll back (b); none is focused
    (Enter does nothing)."""
    app = make_app(frozen, FAILING, **STILL)

    async def failed(pilot: Any) -> None:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))

    assert snap_compare(app, terminal_size=SMALL_SCREEN, run_before=failed)


def test_resume_offer_after_a_rollback_at_80x24(snap_compare: Any, frozen: Path) -> None:
    """The last run (carol's) was rolled back: a red dialog 'The last run of this runbook
    was rolled back', in bold 'The last run was rolled back: resuming starts again at step 1
    (Announce the change); a rollback undoes what counted as done, so 0 of 3 steps count as
    done.', then the activity: carol's note 'the switch looked slow', '⚑ detected by carol',
    '☑ 1 Announce the change — ticked by carol · undone by the rollback', '✓ 2 stage — ok ·
    undone by the rollback', '✗ 3 switch — failed (exit 3)', '↺ rollback started by carol',
    '✓ 4 undo — ok', '■ the run ended: rolled back' (scrolling if it does not fit); the
    buttons 'Resume at step 1 (r)' and 'Start a new run (n)', the latter focused, and the
    hint 'enter: a new run · r resume · n new run'. Behind it the tree shows nothing done."""
    headless_run(frozen, ROLLED, ScriptedOperator(name="carol", failures=[Decision.ROLLBACK]),
                 note="the switch looked slow")
    app = make_app(frozen, ROLLED, log=None, offer_resume=True, **STILL)

    async def offered(pilot: Any) -> None:
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen))

    assert snap_compare(app, terminal_size=SMALL_SCREEN, run_before=offered)


def test_variables_form_at_80x24(snap_compare: Any, frozen: Path) -> None:
    """The production runbook's variables form at 80x24: 'Variables for this run', fields
    RELEASE (v42, focused: the form opens on its first field in production) and SLOT (a
    select showing green), with a scroll bar: DB_PASSWORD is further down; the buttons
    'Review before starting' and 'Quit', and the hint that Enter moves to the next field
    and the next screen shows every value before anything runs."""
    app = make_app(frozen, CUTOVER, **STILL)

    async def form(pilot: Any) -> None:
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the form")
        app.screen.query_one("#var-RELEASE").cursor_blink = False

    assert snap_compare(app, terminal_size=SMALL_SCREEN, run_before=form)


def test_production_preflight_at_80x24(snap_compare: Any, frozen: Path) -> None:
    """Before the first step of the production runbook 'Cutover': a red dialog
    '⚠ A run in production: check before the first step', 'Cutover · production · alice'
    and 'nothing has run yet; no log is written until you start'; a scrolling box with the
    values (RELEASE = v42, SLOT = green, DB_PASSWORD = ****) and the steps that act on
    production: '3. drain [confirm]' on this machine, echo "drain green", then '4. cut
    [destructive]' (its 'on db-2' and echo "cut to v42 with ****" are further down the
    box); then the typing box (focused, placeholder 'type the environment name to start'),
    the Start button (disabled until 'production' is typed), 'Cancel (escape)' and the hint
    'type production, enter: start · escape: leave, nothing runs'."""
    app = make_app(frozen, CUTOVER, variables=GIVEN, **STILL)

    async def preflight(pilot: Any) -> None:
        await until(pilot, lambda: type(app.screen).__name__ == "PreflightScreen")
        app.screen.query_one("#preflight-typed").cursor_blink = False

    assert snap_compare(app, terminal_size=SMALL_SCREEN, run_before=preflight)
