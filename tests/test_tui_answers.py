"""Pilot tests of issue 25: every way of leaving asks and exits as docs/cli.md says, a retry
asks unless the step is retry_safe, milestones are marked once and on purpose, the variables
form takes Enter on a choice, and toasts never cover a dialog."""

from __future__ import annotations

from pathlib import Path

from test_tui_support import (
    FAILING,
    SIZE,
    SMALL,
    ScriptedExecutor,
    events,
    frozen,
    make_app,
    screen_text,
    until,
    waiting,
)
from textual.widgets import Select

from swrun.exitcodes import ExitCode
from swrun.tui.app import SwrunApp
from swrun.tui.screens import (
    ConfirmScreen,
    FailureScreen,
    MilestoneScreen,
    QuitScreen,
    RetryScreen,
    SummaryScreen,
)
from swrun.tui.start import VariablesScreen

__all__ = ["frozen"]
LOG = Path("run.toml")

FORM = """
    +++
    [vars.SLOT]
    choices = ["blue", "green"]
    default = "green"
    [vars.RELEASE]
    default = "1.0"
    +++
    # Form

    ## Work

    - [ ] One
    """

MILESTONES = """
    # Incident

    ## Look
    <!-- swrun: milestone=detected -->

    - [ ] Confirm the alert is real

    ## Fix

    - [ ] Apply the fix
    """

SAFE = """
    # Safe retry

    ## Change

    ```bash {name=flaky retry_safe}
    if [ -f attempted ]; then echo second try; else touch attempted; echo boom >&2; exit 3; fi
    ```

    - [ ] Verify
    """


def in_dialog(app: SwrunApp) -> str:
    """What is drawn inside the open dialog's box."""
    box = app.screen.query_one(".dialog").region
    lines = screen_text(app).splitlines()
    return "\n".join(line[box.x:box.right] for line in lines[box.y:box.bottom])


async def gone(pilot, app: SwrunApp) -> None:  # type: ignore[no-untyped-def]
    await until(pilot, lambda: not app.is_running, "the app to exit")


# -- item 2: ctrl+q and ctrl+c ask, as q does ------------------------------------------------


async def test_ctrl_q_while_a_step_runs_asks_and_no_keeps_it_running(frozen: Path) -> None:
    """ctrl+q once exited 0 mid-step with no question (the log said aborted)."""
    held = ScriptedExecutor(["working"], hold=True)
    app = make_app(frozen, SMALL, executors={"shell": held})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, held.started.is_set)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "the quit question")
        assert "abort it and quit" in screen_text(app)
        await pilot.press("enter")  # No is focused
        await until(pilot, lambda: not isinstance(app.screen, QuitScreen))
        assert app.is_running and app._running_step() == "build"
        await pilot.press("ctrl+c")  # the same question, never a toast with markup
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "asked again")
        assert not [n for n in app._notifications if "[b]" in n.message]
        await pilot.press("y")
        await gone(pilot, app)
    assert app.return_code == ExitCode.INTERRUPTED
    assert events(LOG, "run_finished")[0]["status"] == "aborted"


async def test_ctrl_c_while_waiting_asks_and_leaves_the_run_resumable(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("ctrl+c")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "the quit question")
        await pilot.press("ctrl+q")  # a second quit key stacks no second question
        await pilot.pause()
        assert len([s for s in app.screen_stack if isinstance(s, QuitScreen)]) == 1
        await pilot.press("y")
        await gone(pilot, app)
    assert app.return_code == ExitCode.INTERRUPTED
    assert events(LOG, "run_finished") == []


async def test_leaving_the_variables_form_exits_130(frozen: Path) -> None:
    """Escape (or ctrl+q, then y) at the form: nothing ran, exit 130 (it was 6, "no
    variables given", as if a value were wrong)."""
    for keys in (["escape"], ["ctrl+q", "y"]):
        app = make_app(frozen, FORM)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda a=app: isinstance(a.screen, VariablesScreen), "the form")
            await pilot.press(*keys)
            await gone(pilot, app)
        assert app.return_code == ExitCode.INTERRUPTED, keys
        assert app.error is not None and "nothing ran" in app.error
        assert not LOG.exists()


# -- item 7: Enter on a choice field ----------------------------------------------------------


async def test_enter_on_a_chosen_choice_moves_on_instead_of_reopening_the_list(
        frozen: Path) -> None:
    app = make_app(frozen, FORM.replace("+++\n    [vars.SLOT]",
                                        '+++\n    environment = "production"\n    [vars.SLOT]'))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the form")
        form = app.screen
        slot = form.query_one("#var-SLOT", Select)
        slot.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert not slot.expanded and form.focused is not slot  # moved on to RELEASE
        assert form.focused is not None and form.focused.id == "var-RELEASE"


# -- item 6: a retry asks unless the step is retry_safe ---------------------------------------


async def test_r_pressed_again_at_a_failure_asks_before_retrying(frozen: Path) -> None:
    """`r` pressed repeatedly: the second one once retried the failed step at once."""
    app = make_app(frozen, FAILING)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen), "the failure")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RetryScreen), "the retry question")
        assert "Run step 1 again?" in screen_text(app)
        await pilot.press("r", "enter")  # another r stacks nothing; Enter is No
        await until(pilot, lambda: not isinstance(app.screen, RetryScreen))
        assert waiting(app, "failure", 1)()
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RetryScreen), "asked again")
        await pilot.press("y")
        await until(pilot, waiting(app, "tick", 2), "the retry ran")
    assert [e["status"] for e in events(LOG, "step_finished")] == ["failed", "ok"]


async def test_a_retry_safe_step_retries_without_asking(frozen: Path) -> None:
    app = make_app(frozen, SAFE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen), "the failure")
        await pilot.press("r")
        await until(pilot, waiting(app, "tick", 2), "the retry ran")
        assert not isinstance(app.screen, ConfirmScreen)
    assert [e["status"] for e in events(LOG, "step_finished")] == ["failed", "ok"]


# -- item 5: milestones once, on purpose -------------------------------------------------------


async def test_a_milestone_marked_by_hand_is_not_logged_again_when_reached(
        frozen: Path) -> None:
    app = make_app(frozen, MILESTONES)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("m", "1")
        await until(pilot, lambda: "detected" in app.view.milestones, "the mark")
        await pilot.press("space")  # the Look section is done: detected is reached
        await until(pilot, waiting(app, "tick", 2))
    assert [(m["milestone"], m.get("note")) for m in events(LOG, "milestone")] == [
        ("detected", None)]


async def test_milestone_keys_do_not_collide_and_out_of_order_asks(frozen: Path) -> None:
    """`m m` once marked mitigated at once, and `r`/`a` in the dialog marked resolved and
    acknowledged: run keys mark nothing there, and a mark before the earlier ones asks."""
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MilestoneScreen))
        await pilot.press("m", "r", "a", "d", "enter", "space")
        await pilot.pause()
        assert isinstance(app.screen, MilestoneScreen) and not app.view.milestones
        await pilot.press("3")  # mitigated, with nothing marked before it
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "out of order")
        assert "Mark mitigated before detected, acknowledged?" in screen_text(app)
        await pilot.press("enter")  # No
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.press("m", "3", "y")
        await until(pilot, lambda: "mitigated" in app.view.milestones, "the mark")
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
    assert [m["milestone"] for m in events(LOG, "milestone")] == ["mitigated"]
    assert len(events(LOG, "check_ticked")) == 1


# -- item 14: toasts never cover a dialog ------------------------------------------------------


async def test_toasts_are_not_drawn_over_the_failure_dialog_or_the_summary(
        frozen: Path) -> None:
    app = make_app(frozen, FAILING)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        app.notify("still fresh", timeout=60)  # an earlier refusal
        await until(pilot, lambda: "still fresh" in screen_text(app), "a toast on the steps")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen), "the failure")
        await pilot.pause(0.2)
        text = in_dialog(app)
        assert "still fresh" not in text and "Abort run (a)" in text
        app.notify("said now", timeout=60)
        await pilot.pause()
        assert "said now" in str(app.screen.query_one(".dialog-notice").render())
        assert screen_text(app).count("said now") == 1  # on the notice line, not a toast
        assert "said now" in in_dialog(app)
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "roll back asks")
        await pilot.press("y")
        await until(pilot, lambda: app.pending is not None and app.pending.step.in_rollback)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen), "the summary")
        for text in ("one", "two", "three"):
            app.notify(f"mark {text}", timeout=60)
        await pilot.pause(0.2)
        text = in_dialog(app)
        assert "mark one" not in text and "mark two" not in text  # no toast over it
        assert "mark three" in str(app.screen.query_one(".dialog-notice").render())
        assert "log: run.toml" in text
