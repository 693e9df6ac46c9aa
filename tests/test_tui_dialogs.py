"""Pilot tests of the console's dialogs (tracker issue 13, "operator trust"): what the console
says is what the engine does, and no key press on its own skips, jumps, aborts or starts a
production run. Each test asserts on the screen and on the run log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_tui_support import (
    FAILING,
    PROD,
    SIZE,
    SMALL,
    ScriptedExecutor,
    events,
    frozen,
    is_preflight,
    make_app,
    screen_text,
    through_preflight,
    until,
    waiting,
)

from swrun.engine import Decision, OperatorNeeded, Settings
from swrun.execute import open_run_log
from swrun.parser import load_runbook
from swrun.runlog import find_logs, read_log
from swrun.session import drive
from swrun.tui.app import SwrunApp
from swrun.tui.screens import (
    ConfirmScreen,
    FailureScreen,
    HelpScreen,
    MilestoneScreen,
    SummaryScreen,
    TypedConfirmScreen,
)
from swrun.tui.start import ResumeScreen, VariablesScreen
from swrun.tui.state import RunView

from helpers import ScriptedOperator, make_engine, write_runbook

__all__ = ["frozen"]
LOG = Path("run.toml")
SMALL_SCREEN = (80, 24)

ROLLED = """
    # Deploy with a rollback

    ## Prepare

    - [ ] Announce the change

    ```bash {name=stage}
    echo staged
    ```

    ## Switch

    ```bash {name=switch}
    echo switching; exit 3
    ```

    ## Rollback
    <!-- swrun: rollback -->

    ```bash {name=undo}
    echo undone
    ```
    """

CUTOVER = """
    +++
    environment = "production"
    [vars.RELEASE]
    default = "v42"
    [vars.SLOT]
    choices = ["blue", "green"]
    default = "green"
    [vars.DB_PASSWORD]
    secret = true
    default = "hunter2-secret"
    +++
    # Cutover

    ## Checks

    - [ ] Replication lag is under a second
    - [ ] The on-call engineer is on the bridge

    ## Go

    ```bash {name=drain confirm}
    echo "drain $SLOT"
    ```

    ```bash {name=cut hosts=db-2 destructive}
    echo "cut to $RELEASE with $DB_PASSWORD"
    ```
    """
GIVEN = {"RELEASE": "v42", "SLOT": "green", "DB_PASSWORD": "hunter2-secret"}


def headless_run(tmp: Path, text: str, operator: ScriptedOperator,
                 note: str | None = None) -> Path:
    """Run `text` (as rb.md) without a console, as `operator`; returns its log."""
    path = write_runbook(tmp, text)
    rb = load_runbook(path.name)
    engine = make_engine(rb, operator, settings=Settings(run_id="run00001"))
    if note:
        engine.add_note(note, by=operator.name)
        engine.mark_milestone("detected", by=operator.name)
    log, log_path = open_run_log(rb, engine.settings, None, None, operator.name, {}, ["swrun"])
    with log:
        drive(engine, log, lambda event: None)
    return log_path


class StopAtGates(ScriptedOperator):
    def confirm(self, step: Any, reason: str) -> Any:
        raise OperatorNeeded(f"step {step.number} needs an operator")


def dialog_text(app: SwrunApp) -> str:
    """The open dialog's text with its line wrapping undone (for whole sentences; short
    strings are checked on the rendered screen with screen_text)."""
    from textual.widgets import Static

    parts = [str(w.content) for w in app.screen.query(Static) if w.display]
    return " ".join(" ".join(parts).split())


def toasts(app: SwrunApp) -> list[str]:
    return [n.message for n in app._notifications]


def focused_id(app: SwrunApp) -> str | None:
    return app.focused.id if app.focused is not None else None


# -- 1. the resume offer and the tree show the engine's view -----------------------------------


async def test_resume_after_a_rollback_says_it_starts_again_and_draws_nothing_done(
        frozen: Path) -> None:
    old = headless_run(frozen, ROLLED, ScriptedOperator(name="carol",
                                                       failures=[Decision.ROLLBACK]),
                       note="the switch looked slow")
    assert read_log(old).status == "rolled_back"
    app = make_app(frozen, ROLLED, log=None, offer_resume=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen), "the offer")
        text = screen_text(app)
        said = dialog_text(app)
        assert "rolled back" in text and "starts again at step 1" in said
        assert "0 of 3 steps count as done" in said
        # the activity: who did what, the note, the milestone
        assert "the switch looked slow" in text and "detected" in text
        assert "Announce the change — ticked by carol" in text
        assert focused_id(app) == "resume-no"  # Enter alone starts a new run
        await pilot.press("r")  # resuming anyway: the engine starts at step 1
        await until(pilot, waiting(app, "tick", 1), "step 1 again")
        assert app.view.steps["stage"].status == "pending"
        assert "✓  2 stage" not in screen_text(app)
        assert "0/3 done" in screen_text(app)
    (resumed,) = events(old, "run_resumed")
    assert resumed["done"] == 0 and resumed["operator"] == "alice"


async def test_enter_at_the_offer_after_a_failure_starts_a_new_run(frozen: Path) -> None:
    old = headless_run(frozen, ROLLED, ScriptedOperator(name="carol",
                                                       failures=[Decision.ABORT]))
    assert read_log(old).status == "failed"
    app = make_app(frozen, ROLLED, log=None, offer_resume=True, run_id="run00002")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen), "the offer")
        said = dialog_text(app)
        assert "failed at step 3" in said and "2 of 3 steps count as done" in said
        assert "resuming continues at step 3" in said
        await pilot.press("enter")
        await until(pilot, waiting(app, "tick", 1), "a new run at step 1")
        assert "○  2 stage" in screen_text(app)
    assert app.log_path is not None and app.log_path != old
    assert len(find_logs("rb.md")) == 2
    assert events(app.log_path, "run_started")[0]["run_id"] == "run00002"
    assert events(old, "run_resumed") == []


async def test_resume_after_an_edit_draws_the_changed_step_as_not_done(frozen: Path) -> None:
    old = headless_run(frozen, SMALL, StopAtGates(name="carol"))
    edited = SMALL.replace("echo built", "echo built twice")
    app = make_app(frozen, edited, log=None, offer_resume=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen), "the offer")
        said = dialog_text(app)
        assert "1 of 3 steps count as done" in said and "changed since and run again" in said
        assert focused_id(app) == "resume-yes"  # left waiting, not ended: resuming is the default
        await pilot.press("enter")
        await until(pilot, waiting(app, "confirm", 2), "build again")
        assert app.view.steps["build"].status == "waiting"
        assert app.view.steps["before-you-start/tell-ops-the-release-is-starting"].status == \
            "ticked"
    (resumed,) = events(old, "run_resumed")
    assert resumed["done"] == 1 and resumed["changed_steps"] == ["build"]


# -- 7. safe defaults ------------------------------------------------------------------------


async def test_enter_at_the_jump_question_skips_nothing(frozen: Path) -> None:
    app = make_app(frozen, CUTOVER, variables=GIVEN)
    async with app.run_test(size=SIZE) as pilot:
        await through_preflight(pilot, app)
        await until(pilot, waiting(app, "tick", 1))
        app.step_tree.select_step("cut")
        await pilot.pause()
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the jump question")
        assert "Skip 3 unfinished step(s)" in screen_text(app)
        assert focused_id(app) == "no"
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert waiting(app, "tick", 1)()
        assert "↷" not in screen_text(app)
    assert events(LOG, "step_skipped") == []


async def test_only_the_plain_run_this_step_gate_defaults_to_yes(frozen: Path) -> None:
    app = make_app(frozen, CUTOVER, variables=GIVEN)
    async with app.run_test(size=SIZE) as pilot:
        await through_preflight(pilot, app)
        for number in (1, 2):
            await until(pilot, waiting(app, "tick", number))
            await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 3))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "run this step?")
        assert "Run this step?" in screen_text(app)
        assert focused_id(app) == "yes"  # opened by r on the waiting step: Enter runs it
        await pilot.press("enter")
        await until(pilot, waiting(app, "confirm", 4), "the destructive step")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "quit?")
        assert focused_id(app) == "no"
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running and waiting(app, "confirm", 4)()
    assert [e["step"] for e in events(LOG, "step_finished")] == ["drain"]


async def test_rollback_abort_and_failure_dialogs_do_nothing_on_enter(frozen: Path) -> None:
    app = make_app(frozen, FAILING)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))
        await pilot.press("enter")  # no choice is focused: Enter retries nothing
        await pilot.pause()
        assert isinstance(app.screen, FailureScreen) and waiting(app, "failure", 1)()
        await pilot.press("escape", "b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "roll back?")
        assert focused_id(app) == "no"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "abort?")
        assert focused_id(app) == "no"
        await pilot.press("enter")
        await pilot.pause()
        assert waiting(app, "failure", 1)()
    kinds = [e["type"] for e in events(LOG)]
    assert "rollback_started" not in kinds and "run_finished" not in kinds
    assert kinds.count("step_started") == 1


async def test_abort_or_quit_while_a_step_runs_defaults_to_no(frozen: Path) -> None:
    held = ScriptedExecutor(["working"], hold=True)
    app = make_app(frozen, SMALL, executors={"shell": held})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, lambda: app._running_step() == "build", "the step to run")
        for key in ("a", "q"):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert focused_id(app) == "no"
            await pilot.press("enter")
            await pilot.pause()
            assert app._running_step() == "build"
        held.release.set()
        await until(pilot, waiting(app, "confirm", 3))
    assert [e["status"] for e in events(LOG, "step_finished")] == ["ok"]
    assert events(LOG, "run_finished") == []


# -- 8. the production pre-flight --------------------------------------------------------------


async def test_preflight_escape_runs_nothing_and_writes_no_log(frozen: Path) -> None:
    app = make_app(frozen, CUTOVER, variables=GIVEN)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: is_preflight(app), "the pre-flight")
        text = screen_text(app)
        for shown in ("RELEASE", "v42", "SLOT", "green", "DB_PASSWORD", "****",
                      "4. cut", "on db-2", 'echo "cut to v42 with ****"', "destructive",
                      "3. drain", "confirm"):
            assert shown in text, shown
        assert "hunter2-secret" not in text
        assert focused_id(app) != "preflight-start"
        await pilot.press("enter")  # nothing typed: Enter starts nothing
        await pilot.pause()
        assert is_preflight(app)
        await pilot.press("escape")
        await until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.engine is None or app.log_path is None
    assert not LOG.exists() and not Path("logs").exists()
    assert app.return_code != 0 and "nothing ran" in (app.error or "")


async def test_preflight_start_after_typing_the_environment(frozen: Path) -> None:
    app = make_app(frozen, CUTOVER, variables=GIVEN)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: is_preflight(app), "the pre-flight")
        assert not LOG.exists()
        await pilot.press(*"production")
        await pilot.pause()
        assert focused_id(app) != "preflight-start"
        await pilot.press("enter")
        await until(pilot, waiting(app, "tick", 1), "the first step")
    (started,) = events(LOG, "run_started")
    assert started["environment"] == "production"


async def test_production_form_enter_moves_on_and_the_preflight_is_the_gate(
        frozen: Path) -> None:
    app = make_app(frozen, CUTOVER)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the form")
        form = app.screen
        assert focused_id(app) == "var-RELEASE"  # not the start button, though all have defaults
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form and focused_id(app) == "var-SLOT"
        form.query_one("#vars-ok").focus()
        await pilot.press("enter")
        await until(pilot, lambda: is_preflight(app), "the pre-flight after the form")
        assert "v42" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: not app.is_running, "the app to exit")
    assert not LOG.exists()


async def test_resuming_a_production_run_shows_the_preflight_at_step_n(frozen: Path) -> None:
    app = make_app(frozen, PROD, log=None)
    async with app.run_test(size=SIZE) as pilot:
        await through_preflight(pilot, app)
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("q", "y")
        await until(pilot, lambda: not app.is_running)
    again = make_app(frozen, PROD, log=None, resume="")
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: is_preflight(again), "the pre-flight of the resume")
        text = screen_text(again)
        assert "resuming at step 2" in text and "2. promote" in text
        # done: it will not act again (the activity pane behind it says it was ticked)
        assert "1. Announce" not in dialog_text(again)
        await pilot.press(*"production", "enter")
        await until(pilot, waiting(again, "confirm", 2), "step 2")
    assert app.log_path is not None
    assert len(events(app.log_path, "run_resumed")) == 1


# -- 13. the dialogs say the truth ---------------------------------------------------------------


async def test_abort_after_a_failure_says_nothing_runs_and_the_run_fails(frozen: Path) -> None:
    app = make_app(frozen, FAILING)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))
        await pilot.press("escape", "a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        text = dialog_text(app)
        assert "nothing is running" in text and "The run ends as failed" in text
        assert "processes are stopped" not in text and "aborted" not in text
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert "Run failed" in screen_text(app)
    assert events(LOG, "run_finished")[0]["status"] == "failed"


async def test_the_summary_says_rolled_back_in_words(frozen: Path) -> None:
    app = make_app(frozen, FAILING)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "roll back asks")
        await pilot.press("y")
        await until(pilot, lambda: app.pending is not None and app.pending.step.in_rollback)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        text = screen_text(app)
        assert "Run rolled back" in text and "rolled_back" not in text
    assert events(LOG, "run_finished")[0]["status"] == "rolled_back"


async def test_typed_confirmation_does_not_show_the_answer(frozen: Path) -> None:
    app = make_app(frozen, PROD)
    async with app.run_test(size=SIZE) as pilot:
        await through_preflight(pilot, app)
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen))
        typed = app.screen.query_one("#typed")
        assert "production" not in typed.placeholder  # type: ignore[attr-defined]
        assert app.focused is typed
        await pilot.press("enter")  # the empty answer runs nothing
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen)
    assert events(LOG, "step_started") == []


# -- 14. 80x24 ---------------------------------------------------------------------------------


async def test_help_and_every_dialog_fit_80x24(frozen: Path) -> None:
    app = make_app(frozen, FAILING)
    async with app.run_test(size=SMALL_SCREEN) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = screen_text(app)
        assert "q  Quit" in text and "?  Show the keys" in text and "escape" in text
        await pilot.press("escape", "q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "quit?")
        text = screen_text(app)
        assert "Quit (y)" in text and "No (n)" in text and "--resume" in text
        await pilot.press("escape", "m")
        await until(pilot, lambda: isinstance(app.screen, MilestoneScreen))
        text = screen_text(app)
        for button in ("Detected (1)", "Acknowledged (2)", "Mitigated (3)", "Resolved (4)"):
            assert button in text, button
        await pilot.press("escape", "r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))
        text = screen_text(app)
        for button in ("Retry (r)", "Skip (s)", "Abort run (a)", "Roll back (b)"):
            assert button in text, button
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "roll back asks")
        await pilot.press("y")
        await until(pilot, lambda: app.pending is not None and app.pending.step.in_rollback)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        text = screen_text(app)
        assert "log: run.toml" in text and "q quit" in text


async def test_the_status_line_fits_80_columns(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SMALL_SCREEN) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        assert "s skips" in screen_text(app)


async def test_preflight_and_resume_offer_buttons_fit_80x24(frozen: Path) -> None:
    many = "\n".join(f"    - [ ] Check number {i}" for i in range(1, 25))
    text = f"""
    +++
    environment = "production"
    +++
    # Many checks

    ## All

{many}

    ```bash {{name=go destructive}}
    echo go
    ```
    """
    headless_run(frozen, text, ScriptedOperator(name="carol", ticks=[Decision.CONTINUE] * 24,
                                                confirms=[Decision.ABORT]))
    app = make_app(frozen, text, log=None, offer_resume=True)
    async with app.run_test(size=SMALL_SCREEN) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResumeScreen), "the offer")
        shown = screen_text(app)
        assert "Resume at step 25 (r)" in shown and "Start a new run (n)" in shown
        await pilot.press("r")
        await until(pilot, lambda: is_preflight(app), "the pre-flight")
        shown = screen_text(app)
        assert "Start" in shown and "Cancel" in shown and "25. go" in shown


# -- 4. milestones -------------------------------------------------------------------------------


async def test_m_lists_what_is_marked_and_a_second_mark_logs_nothing(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("m", "1")
        await until(pilot, lambda: "detected" in app.view.milestones, "the milestone")
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MilestoneScreen))
        assert "detected at 06:30" in screen_text(app)
        await pilot.press("1")
        await until(pilot, lambda: "detected was already marked at 06:30" in toasts(app),
                    "the one-line answer")
        assert not isinstance(app.screen, MilestoneScreen)
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
    assert [m["milestone"] for m in events(LOG, "milestone")] == ["detected"]
    assert events(LOG, "note_added") == []


# -- 2/12. the summary -----------------------------------------------------------------------------


async def test_summary_shows_counts_and_the_activity(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("s", *"ops already know", "enter")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("n", *"build is slow today", "enter")
        await until(pilot, lambda: app.view.notes, "the note")
        await pilot.press("r")
        await until(pilot, waiting(app, "confirm", 3))
        await pilot.press("r", "y")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        text = screen_text(app)
        assert "2 ok, 1 skipped" in text
        assert "skipped by alice: ops already know" in dialog_text(app)
        assert "alice: build is slow today" in text
    (end,) = events(LOG, "run_finished")
    assert end["counts"] == {"ok": 2, "skipped": 1}


async def test_summary_title_uses_active_and_wall_time_when_the_log_has_them(
        frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        view = RunView(app.runbook, lambda: 0.0)
        finished = {"type": "run_finished", "status": "completed", "duration_ms": 5000,
                    "active_ms": 190_000, "wall_ms": 3_720_000, "counts": {"ok": 2, "ticked": 1}}
        app.push_screen(SummaryScreen(view, finished, "run.toml"))
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        text = screen_text(app)
        assert "Run completed · 3m10s active, 1h02m since it first started" in text
        app.screen.dismiss(None)
        await pilot.pause()
        older = {"type": "run_finished", "status": "rolled_back", "duration_ms": 7500,
                 "counts": {"ok": 1, "timed_out": 1}}
        app.push_screen(SummaryScreen(view, older, "run.toml"))
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        text = screen_text(app)
        assert "Run rolled back in 7.5s" in text and "1 timed out" in text
    assert events(LOG, "run_finished") == []


def test_the_offer_speaks_of_the_last_part_of_a_resumed_run(frozen: Path) -> None:
    """Rolled back, then resumed and failed again further on: the offer says what the
    last part did and counts what was done since the rollback, not before it."""
    from swrun.execute import resume_point
    from swrun.tui.start import ResumeOffer

    old = headless_run(frozen, ROLLED, ScriptedOperator(name="carol",
                                                       failures=[Decision.ROLLBACK]))
    rb = load_runbook("rb.md")
    point = resume_point(rb, old)
    settings = Settings(run_id=point.run_id)
    engine = make_engine(rb, ScriptedOperator(name="dave"), settings=settings,
                         resume=point.resume)
    log, _ = open_run_log(rb, settings, old, point.resume, "dave", {}, ["swrun"])
    with log:
        drive(engine, log, lambda event: None)
    offer = ResumeOffer.of(rb, read_log(old))
    said = offer.verdict()
    assert said.startswith("The last run failed at step 3 (switch).")
    assert "2 of 3 steps count as done" in said and "rolled back" not in said
    assert not offer.default_resume
    lines = offer.activity()
    assert any("stage — ok · undone by the rollback" in ln for ln in lines)
    assert any(ln.endswith("resumed by dave") for ln in lines)
