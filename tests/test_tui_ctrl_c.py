"""ctrl+c inside a text input asks to quit, as it does everywhere else (issue 25): a modal
screen (the skip reason, a note, the variables form, any dialog) hid the App's ctrl+c, so
the key did nothing there. Selected text is still copied."""

from __future__ import annotations

from pathlib import Path

from test_tui_answers import FORM, gone
from test_tui_support import (
    FAILING,
    SIZE,
    SMALL,
    events,
    frozen,
    make_app,
    screen_text,
    until,
    waiting,
)
from textual.widgets import Input
from textual.widgets.input import Selection

from swrun.exitcodes import ExitCode
from swrun.tui.screens import FailureScreen, QuitScreen, TextPrompt
from swrun.tui.start import VariablesScreen

__all__ = ["frozen"]
LOG = Path("run.toml")


async def test_ctrl_c_in_the_skip_reason_asks_and_leaves_the_run_resumable(frozen: Path) -> None:
    app = make_app(frozen, FAILING)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen), "the failure")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, TextPrompt), "the skip reason")
        await pilot.press("n", "o", "ctrl+c")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "the quit question")
        await pilot.press("n")  # No: back to the reason, as typed
        await until(pilot, lambda: isinstance(app.screen, TextPrompt))
        assert app.screen.query_one(Input).value == "no"
        await pilot.press("ctrl+c")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "asked again")
        await pilot.press("y")
        await gone(pilot, app)
    assert app.return_code == ExitCode.INTERRUPTED
    assert events(LOG, "step_skipped") == [] and events(LOG, "run_finished") == []


async def test_ctrl_c_in_a_note_copies_a_selection_and_asks_without_one(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, TextPrompt), "the note prompt")
        await pilot.press(*"paged bob")
        box = app.screen.query_one(Input)
        box.selection = Selection(6, 9)
        await pilot.press("ctrl+c")  # a selection: copied, nothing asked
        await pilot.pause()
        assert app.clipboard == "bob" and isinstance(app.screen, TextPrompt)
        box.selection = Selection.cursor(9)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "the quit question")
        assert "stays unfinished" in screen_text(app)
        await pilot.press("y")
        await gone(pilot, app)
    assert app.return_code == ExitCode.INTERRUPTED
    assert events(LOG, "note") == []


async def test_ctrl_c_in_the_variables_form_asks_then_exits_130(frozen: Path) -> None:
    app = make_app(frozen, FORM)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the form")
        app.screen.query_one(Input).focus()  # the text field
        await pilot.press("2")
        await pilot.press("ctrl+c")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen), "the quit question")
        assert "Nothing has run yet" in screen_text(app)
        await pilot.press("y")
        await gone(pilot, app)
    assert app.return_code == ExitCode.INTERRUPTED
    assert not LOG.exists()
