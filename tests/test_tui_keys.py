"""Pilot tests: no key is dropped, keys mean one thing, the operator sees what just happened.

Each test asserts on the screen (or the notification the operator reads) and on the log."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

from test_tui_support import (
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
from textual import events as key_events

from swrun.events import StepStatus
from swrun.executors.base import Output, StepContext, StepResult
from swrun.model import Step
from swrun.tui.app import SwrunApp
from swrun.tui.screens import FailureScreen

__all__ = ["frozen"]
LOG = Path("run.toml")

FIVE_CHECKS = """
    # Burst

    ## Checks

    - [ ] One
    - [ ] Two
    - [ ] Three
    - [ ] Four
    - [ ] Five

    ```bash {name=go}
    echo went
    ```

    - [ ] After
    """

CONTINUE = """
    # Keep going

    ## Work

    ```bash {name=probe on_failure=continue}
    echo "probe says no" >&2
    exit 3
    ```

    - [ ] Look at the dashboard

    - [ ] Tell #ops
    """


def toasts(app: SwrunApp) -> list[str]:
    return [n.message for n in app._notifications]


def press(app: SwrunApp, key: str, char: str | None) -> None:
    """What a terminal's driver does with a key press: post it (no waiting for the app)."""
    app.post_message(key_events.Key(key, char))


# -- issue 25.1: a key answers only the question that was on screen when it was pressed -------

R_THEN_CHECK = """
    # Quick

    ## Work

    - [ ] Before

    ```bash {name=go}
    echo went
    ```

    - [ ] Look at the dashboard after go
    """


def shown_long_ago(app: SwrunApp) -> None:
    """The waiting question has been on screen for longer than any guard."""
    app._shown_at -= 60


async def test_r_and_space_together_do_not_tick_the_next_check(frozen: Path) -> None:
    """`r` then space, sent together: r runs the step, but the space was pressed before the
    next check was on screen, so it ticks nothing (it once ticked it 10 ms later); once the
    check has been shown for the guard time, space ticks it."""
    app = make_app(frozen, R_THEN_CHECK, answer_guard=30.0)  # no race with a slow machine
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        shown_long_ago(app)
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        assert status(app).startswith("⋯ step 2: go — just shown")  # no keys offered yet
        shown_long_ago(app)
        press(app, "r", "r")
        press(app, "space", " ")
        await until(pilot, waiting(app, "tick", 3), "the check after go")
        await pilot.pause(0.2)
        assert waiting(app, "tick", 3)(), "the space ticked a check nobody saw"
        assert any("was not taken" in t or "not kept" in t for t in toasts(app)), toasts(app)
        await pilot.press("space")  # still within the guard: refused, says so
        assert waiting(app, "tick", 3)()
        assert any("check 3 was shown just now" in t for t in toasts(app))
        shown_long_ago(app)
        await pilot.press("space")
        await until(pilot, lambda: app.pending is None or app._ended, "the tick")
    assert [e["number"] for e in events(LOG, "check_ticked")] == [1, 3]
    assert [(e["step"], e["status"]) for e in events(LOG, "step_finished")] == [("go", "ok")]


async def test_a_burst_of_spaces_ticks_only_the_check_on_screen(frozen: Path) -> None:
    """Five spaces 30 ms apart: the first ticks check 1; the others were pressed before
    checks 2-5 were shown and tick nothing (each says why)."""
    app = make_app(frozen, FIVE_CHECKS, answer_guard=30.0)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        shown_long_ago(app)
        for _ in range(5):
            press(app, "space", " ")
            await asyncio.sleep(0.03)
        await until(pilot, waiting(app, "tick", 2), "check 2")
        await pilot.pause(0.2)
        assert waiting(app, "tick", 2)()
    assert [e["number"] for e in events(LOG, "check_ticked")] == [1]


def status(app: SwrunApp) -> str:
    return app._status_text


async def test_a_key_typed_while_a_step_runs_never_answers_its_failure(frozen: Path) -> None:
    """`r` pressed while the step runs is not kept for what comes next: the failure that
    follows is decided by the operator, who was told the key did nothing."""
    held = ScriptedExecutor(["working"], status=StepStatus.FAILED, hold=True)
    app = make_app(frozen, SMALL, executors={"shell": held})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, held.started.is_set)
        await pilot.press("r", "space")  # "retry" and a tick typed ahead of the failure
        assert any("step 2 is running" in t for t in toasts(app))
        held.release.set()
        await until(pilot, lambda: isinstance(app.screen, FailureScreen), "the failure")
        await pilot.pause(0.1)
        assert waiting(app, "failure", 2)()
    assert [e["status"] for e in events(LOG, "step_finished")] == ["failed"]  # no retry
    assert len(events(LOG, "check_ticked")) == 1


# -- 10: keys mean one thing -------------------------------------------------------------------


async def test_space_on_another_step_does_not_tick_the_waiting_check(frozen: Path) -> None:
    app = make_app(frozen, FIVE_CHECKS)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        app.step_tree.select_step("go")
        await pilot.pause()
        await pilot.press("space")
        await until(pilot, lambda: any("select step 1 first" in t for t in toasts(app)))
        assert waiting(app, "tick", 1)()
    assert events(LOG, "check_ticked") == []


async def test_space_on_a_command_step_says_why(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("space")
        await until(pilot, lambda: any("is waiting to run (r)" in t for t in toasts(app)))
        assert waiting(app, "confirm", 2)()
    assert events(LOG, "step_finished") == []


async def test_r_on_an_earlier_step_says_why(frozen: Path) -> None:
    """`r` on a finished step, or on an earlier failed one, once did nothing and said nothing."""
    app = make_app(frozen, CONTINUE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, waiting(app, "tick", 2))
        app.step_tree.select_step("probe")
        await pilot.pause()
        await pilot.press("r")
        await until(pilot, lambda: any("is not next" in t for t in toasts(app)))
        app.step_tree.select_step(app.runbook.main_steps[1].id)
        await pilot.press("space")
        await until(pilot, waiting(app, "tick", 3))
        app.step_tree.select_step(app.runbook.main_steps[1].id)
        await pilot.pause()
        await pilot.press("r")
        await until(pilot, lambda: any("already ticked" in t for t in toasts(app)))
        assert waiting(app, "tick", 3)()
    assert [e["number"] for e in events(LOG, "check_ticked")] == [2]
    assert [e["status"] for e in events(LOG, "step_finished")] == ["failed"]


# -- 11: the operator sees what just happened -------------------------------------------------


async def test_a_failed_step_stays_selected_with_its_error(frozen: Path) -> None:
    """on_failure=continue: the run goes on, but the failure stays on screen until the
    operator moves; the next check is not ticked by a space meant for the failure."""
    app = make_app(frozen, CONTINUE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, waiting(app, "tick", 2))
        await pilot.pause(0.1)
        selected = app.step_tree.selected_step
        assert selected is not None and selected.id == "probe"
        shown = screen_text(app)
        assert "✗ failed" in shown and "probe says no" in shown
        assert "the run went on to step 2" in shown
        await pilot.press("space")
        assert waiting(app, "tick", 2)()
        await pilot.press("down")
        await until(pilot, lambda: app.step_tree.selected_step is not None
                    and app.step_tree.selected_step.number == 2)
        await pilot.press("space")
        await until(pilot, waiting(app, "tick", 3))
    assert [e["number"] for e in events(LOG, "check_ticked")] == [2]


class FailingWatch:
    """A watched wait that fails the way the wait executor does, with the probe's line."""

    def run(self, step: Step, ctx: StepContext) -> Iterator[Output | StepResult]:
        yield Output("⏳ waiting 15m, watching GET http://127.0.0.1:9/health every 30s")
        yield StepResult(StepStatus.FAILED, error="watch failed after 1m30s (check 4): GET "
                         "http://127.0.0.1:9/health: expected 200, got 503")


async def test_long_lines_wrap_and_a_failed_watch_shows_its_probe(frozen: Path) -> None:
    text = """
        # Watch

        ## Release

        ```bash {name=wide}
        printf 'a%.0s' $(seq 1 150); echo END-OF-WIDE
        ```

        ```wait {name=watch}
        wait 15m watch GET http://127.0.0.1:9/health expect 200 every 30s
        ```
        """
    app = make_app(frozen, text, executors={"wait": FailingWatch()})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, waiting(app, "confirm", 2))
        app.step_tree.select_step("wide")
        await pilot.pause()
        assert "END-OF-WIDE" in screen_text(app)  # once cut off at the pane's edge
        app.step_tree.select_step("watch")
        await pilot.pause()
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))
        await pilot.press("escape")
        await pilot.pause()
        assert "expected 200, got 503" in screen_text(app)
    (_, watch) = events(LOG, "step_finished")
    assert "got 503" in watch["error"]


async def test_detail_shows_variables_filled_in_and_a_wait_countdown(frozen: Path) -> None:
    text = """
        +++
        [vars.RELEASE]
        default = "v2.4.1"
        [vars.TOKEN]
        default = "hunter2hunter2"
        secret = true
        +++
        # Release

        ## Ship

        ```bash {name=ship}
        : deploy --tag $RELEASE --token $TOKEN
        ```

        ```wait {name=soak}
        wait 10m
        ```
        """
    held = ScriptedExecutor(["soaking"], hold=True)
    app = make_app(frozen, text, executors={"wait": held},
                   variables={"RELEASE": "v2.4.1", "TOKEN": "hunter2hunter2"})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        shown = screen_text(app)
        assert "deploy --tag v2.4.1 --token ****" in shown
        assert "hunter2" not in shown
        await pilot.press("r")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, held.started.is_set)
        await until(pilot, lambda: "10m00s left of 10m00s" in screen_text(app), "the countdown")
        held.release.set()
        await until(pilot, lambda: app._ended)
    assert "hunter2" not in LOG.read_text()


# -- 12: the activity pane ----------------------------------------------------------------------


async def test_activity_pane_shows_who_did_what_and_one_toast_per_note(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("s")
        await pilot.press(*"not today", "enter")
        await until(pilot, waiting(app, "confirm", 3))
        await pilot.press("n")
        await pilot.press(*"paged the DBA", "enter")
        await until(pilot, lambda: events(LOG, "note_added"))
        await pilot.pause(0.1)
        pane = " ".join(" ".join(line.text for line in app.activity.lines).split())
        assert "alice ☑ ticked 1. Tell #ops the release is starting" in pane
        assert "alice ↷ skipped 2. build: not today" in pane
        assert "alice ✎ paged the DBA" in pane
        assert len([t for t in toasts(app) if "paged the DBA" in t]) == 1
    assert events(LOG, "step_skipped")[0]["note"] == "not today"


# -- 14: 80x24 --------------------------------------------------------------------------------


async def test_80x24_keeps_help_quit_and_step_times_in_view(frozen: Path) -> None:
    """The footer once cut off `? Help` and `q Quit`, and a long title pushed the step's
    time and target off the tree."""
    text = """
        # Deploy the API to production with a very long title that goes on and on

        ## Before you start with the release of the new version of everything

        - [ ] Tell #ops the release is starting and post the change ticket link there

        ## Release

        ```bash {name=build title="Build every artefact of the release and sign it" target=10s}
        echo building
        ```
        """
    app = make_app(frozen, text)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, lambda: app._ended)
        await pilot.press("escape")  # the summary
        await pilot.pause()
        rows = screen_text(app).splitlines()
        assert "? Help" in rows[-1] and "q Quit" in rows[-1] and "space Tick" in rows[-1]
        tree = "\n".join(row[:36] for row in rows)
        assert "1.5s/10.0s" in tree and "Build every" in tree
        assert "0:00" in rows[0] or "00:0" in rows[0]  # the clock is not pushed off
    assert events(LOG, "step_finished")[0]["status"] == "ok"


async def test_failure_dialog_ignores_keys_typed_as_it_opens(frozen: Path) -> None:
    """The failure dialog opens by itself: letters typed for something else in that moment
    must not retry, skip or roll back; b and a ask again with No focused."""
    from test_tui_support import FAILING

    from swrun.tui.screens import ConfirmScreen

    app = make_app(frozen, FAILING, failure_key_guard=30.0)  # no race with a slow machine
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))
        await pilot.press("r", "b")  # typed on: not taken
        assert waiting(app, "failure", 1)() and isinstance(app.screen, FailureScreen)
        notice = str(app.screen.query_one(".dialog-notice").render())
        # said in the dialog, not in a toast over it; the last key's own letter (b, once "r")
        assert "press b again to roll back" in notice
        assert not any("press" in t for t in toasts(app))
        app.screen._opened -= 31  # type: ignore[attr-defined]  # the guard has passed
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "roll back asks")
        await pilot.press("enter")  # No is focused
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert waiting(app, "failure", 1)()
        await pilot.press("R", "y")  # flaky is not retry_safe: R asks first
        await until(pilot, waiting(app, "tick", 2), "the retry passed")
    assert [e["status"] for e in events(LOG, "step_finished")] == ["failed", "ok"]
    assert events(LOG, "rollback_started") == []


async def test_a_manual_command_is_shown_copied_and_ticked(frozen: Path) -> None:
    """A command swrun does not run (here: it never ends) is the operator's: the console
    shows it with values filled in, y copies it (a secret stays $NAME), space ticks it."""
    text = """
        +++
        [vars.NS]
        default = "payments"
        [vars.TOKEN]
        default = "tok-s3cr3t"
        secret = true
        +++
        # Logs

        ## Watch

        ```bash
        kubectl -n $NS logs -f deploy/api --token $TOKEN
        ```
        """
    app = make_app(frozen, text, variables={"NS": "payments", "TOKEN": "tok-s3cr3t"})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        shown = screen_text(app)
        assert "kubectl -n payments logs -f deploy/api --token ****" in shown
        assert "is yours to run" in shown and "y copies" in shown
        await pilot.press("y")
        assert app.clipboard == "kubectl -n payments logs -f deploy/api --token $TOKEN\n"
        await pilot.press("space")
        await until(pilot, lambda: app._ended)
    (ticked,) = events(LOG, "check_ticked")
    assert ticked["by"] == "alice"
    assert "tok-s3cr3t" not in LOG.read_text()


async def test_steps_under_the_title_have_rows_in_the_tree(frozen: Path) -> None:
    """A runbook with no `##` section (or steps before the first one): its steps had no row
    in the tree, so the operator could not see or select what was waiting."""
    text = """
        # Quick fix

        - [ ] Tell #ops

        ```bash {name=fix}
        echo fixed
        ```

        ## Afterwards

        - [ ] Close the ticket
        """
    app = make_app(frozen, text)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        shown = screen_text(app)
        assert "▶  1 Tell #ops" in shown and "○  2 fix" in shown and "○  3 Close" in shown
        selected = app.step_tree.selected_step
        assert selected is not None and selected.number == 1
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
    assert [e["number"] for e in events(LOG, "check_ticked")] == [1]
