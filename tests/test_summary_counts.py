"""The console's summary of a run that stopped early counts the steps it never reached
(issue 25, item 15), as the headless summary does."""

from __future__ import annotations

from pathlib import Path

from test_tui_support import FAILING, SIZE, frozen, make_app, until, waiting

from swrun.tui.screens import ConfirmScreen, FailureScreen, SummaryScreen

__all__ = ["frozen"]


async def test_a_rolled_back_summary_counts_the_steps_not_run(frozen: Path) -> None:
    from textual.widgets import Static

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
        text = " ".join(str(w.content) for w in app.screen.query(Static))
        assert "1 failed, 1 not run; rollback: 1 ok" in text, text
