"""A resumed run in the console remembers its earlier part (issue 25): the activity pane opens
with what the log says happened (ticks, steps run, notes), a divider where this part begins;
and before the run resumes (the pre-flight, the form) the clock shows the run's time from the
log and the right pane the step it resumes at, instead of `--:--` and nothing."""

from __future__ import annotations

import re
from pathlib import Path

from test_tui_support import (
    PROD,
    SIZE,
    SMALL,
    events,
    frozen,
    is_preflight,
    make_app,
    through_preflight,
    until,
    waiting,
)

from swrun.tui.app import SwrunApp
from swrun.tui.plain import Plain

__all__ = ["frozen"]


def pane(app: SwrunApp) -> list[str]:
    return [strip.text.rstrip() for strip in app.activity.lines]


def clock(app: SwrunApp) -> str:
    return str(app.header.query_one("#clock", Plain).render())


async def test_the_activity_pane_keeps_the_earlier_part(frozen: Path) -> None:
    app = make_app(frozen, SMALL, log=None)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, waiting(app, "confirm", 3), "build ran")
        await pilot.press("n", *"paged bob", "enter")
        await until(pilot, lambda: events(app.log_path, "note_added"), "the note")
        await pilot.press("q", "y")
        await until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.log_path is not None

    again = make_app(frozen, SMALL, operator="bob", log=None, resume=str(app.log_path))
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(again, "confirm", 3), "the resume")
        lines = pane(again)
        divider = next(i for i, line in enumerate(lines) if "— resumed at" in line)
        earlier, now = " ".join(lines[:divider]), " ".join(lines[divider + 1:])
        assert re.search(r"— resumed at \d\d:\d\d —", lines[divider]), lines
        for said in ("alice ▶ run started", "alice ☑ ticked 1. Tell #ops", "✓ 2. build ok",
                     "alice ✎ paged bob"):
            assert said in earlier, lines
        assert "bob ▶ run resumed" in now and "paged bob" not in now, lines
        await pilot.press("n", *"after the resume", "enter")
        await until(pilot, lambda: any("after the resume" in line for line in pane(again)))
        assert pane(again).count("— resumed at") <= 1
        assert [line for line in pane(again) if "paged bob" in line] == \
            [line for line in lines if "paged bob" in line]  # once, not again


async def test_before_it_resumes_the_clock_and_the_resume_point_show(frozen: Path) -> None:
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
        # held at the pre-flight: nothing has resumed yet, but the run has a time and a place
        assert "--:--" not in clock(again), clock(again)
        assert again.detail.step is not None and again.detail.step.number == 2
        assert "resuming" in str(again.status_line.render()) and "step 2" in str(
            again.status_line.render())
        assert any("☑ ticked 1." in line for line in pane(again))
        await pilot.press(*"production", "enter")
        await until(pilot, waiting(again, "confirm", 2), "step 2")
