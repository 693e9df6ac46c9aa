"""Pilot tests of the console: every action, asserted on the screen and on the run log."""

from __future__ import annotations

from pathlib import Path

from test_tui_support import (
    FAILING,
    PROD,
    SIZE,
    SMALL,
    ScriptedExecutor,
    events,
    frozen,
    make_app,
    screen_text,
    through_preflight,
    until,
    waiting,
)

from swrun.runlog import read_log
from swrun.tui.detail import VIEW_LINES
from swrun.tui.header import window_level
from swrun.tui.screens import (
    ConfirmScreen,
    FailureScreen,
    HelpScreen,
    SummaryScreen,
    TypedConfirmScreen,
)
from swrun.tui.start import ResumeScreen, VariablesScreen
from swrun.tui.state import TAIL_LINES

__all__ = ["frozen"]
LOG = Path("run.toml")


async def test_space_ticks_a_check_as_the_operator(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1), "the check")
        assert "Tell #ops" in screen_text(app)
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2), "the build step gate")
        assert "☑  1 Tell #ops" in screen_text(app)
        assert "1/3 done" in screen_text(app)
    ticked = events(LOG, "check_ticked")
    assert [(e["step"], e["by"]) for e in ticked] == [
        ("before-you-start/tell-ops-the-release-is-starting", "alice")]


async def test_tick_with_a_comment(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("c")
        await pilot.press(*"posted in #ops", "enter")
        await until(pilot, waiting(app, "confirm", 2))
    (ticked,) = events(LOG, "check_ticked")
    assert ticked["by"] == "alice" and ticked["note"] == "posted in #ops"


async def test_run_a_shell_step_shows_its_output(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, waiting(app, "confirm", 3), "the ship step gate")
        app.step_tree.select_step("build")
        await pilot.pause()
        output = app.detail.query_one("#output")
        assert [str(line) for line in output.lines] == ["building", "built"]  # type: ignore
        assert "✓  2 build" in screen_text(app)
    (done,) = events(LOG, "step_finished")
    assert done["step"] == "build" and done["status"] == "ok"
    assert done["output"] == ["building", "built"]


async def test_confirm_step_opens_a_modal(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        for key, number in (("space", 1), ("r", 2)):
            await until(pilot, waiting(app, "tick" if number == 1 else "confirm", number))
            await pilot.press(key)
        await until(pilot, waiting(app, "confirm", 3))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # not yet: the step still waits
        await pilot.pause()
        assert waiting(app, "confirm", 3)()
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen), "the summary")
        assert "Run completed" in screen_text(app)
    assert events(LOG, "run_finished")[0]["status"] == "completed"


async def test_skip_with_a_reason(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("s")
        await pilot.press(*"ops already know", "enter")
        await until(pilot, waiting(app, "confirm", 2))
        assert "↷  1 Tell #ops" in screen_text(app)
    (skipped,) = events(LOG, "step_skipped")
    assert skipped["by"] == "alice" and skipped["note"] == "ops already know"


async def test_failed_step_offers_choices_and_retry(frozen: Path) -> None:
    app = make_app(frozen, FAILING)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen), "the failure modal")
        text = screen_text(app)
        for choice in ("Retry (r)", "Skip (s)", "Abort run (a)", "Roll back (b)", "exit 3"):
            assert choice in text
        await pilot.press("escape")  # decide later: the run still waits, never continues
        await pilot.pause()
        assert waiting(app, "failure", 1)()
        await pilot.press("R")  # flaky is not retry_safe: "Run step 1 again?" (y)
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the retry question")
        await pilot.press("y")
        await until(pilot, waiting(app, "tick", 2), "the check after the retry")
    finished = [(e["status"], e.get("exit_code")) for e in events(LOG, "step_finished")]
    assert finished == [("failed", 3), ("ok", 0)]


async def test_bracketed_text_is_shown_as_it_is_never_as_markup(frozen: Path) -> None:
    """Titles, notes, output and errors come from runbooks and hosts: `[/etc/hosts]` once
    stopped the console with a MarkupError, `[staging]` vanished, `[@click=…]` acted."""
    text = """
        +++
        environment = "production"
        +++
        # Fix [staging] hosts

        ## Check [/etc/hosts]

        ```bash {name=grep-hosts title="Look in [/etc/hosts] for [red]db[/]" confirm}
        echo "found [/nope] and [@click=app.quit]x[/]"
        exit 4
        ```
        """
    app = make_app(frozen, text)
    async with app.run_test(size=SIZE) as pilot:
        await through_preflight(pilot, app)
        await until(pilot, waiting(app, "confirm", 1))
        shown = screen_text(app)
        assert "Fix [staging] hosts" in shown and "Check [/etc/hosts]" in shown
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm modal")
        assert "Look in [/etc/hosts] for [red]db[/]" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen), "the failure modal")
        assert "found [/nope] and [@click=app.quit]x[/]" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("n")
        await pilot.press(*"saw [/var/log] [b]", "enter")
        # logged while the run still waits at the failure, not with some later event
        await until(pilot, lambda: events(LOG, "note_added"), "the note in the log")
        assert app.is_running and waiting(app, "failure", 1)()
    (note,) = events(LOG, "note_added")
    assert note["note"] == "saw [/var/log] [b]" and note["by"] == "alice"


async def test_confirm_shows_what_runs_with_variables_filled_in(frozen: Path) -> None:
    text = """
        +++
        [vars.SLOT]
        default = "green"
        [vars.TOKEN]
        secret = true
        default = "tok-123-secret"
        +++
        # Shift

        ```bash {name=shift confirm}
        curl -H "X-Token: $TOKEN" https://lb/shift?to=$SLOT
        ```
        """
    app = make_app(frozen, text, variables={"SLOT": "green", "TOKEN": "tok-123-secret"})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirm modal")
        shown = screen_text(app)
        assert 'curl -H "X-Token: ****" https://lb/shift?to=green' in shown
        assert "tok-123-secret" not in shown


async def test_abort_from_the_failure_choices(frozen: Path) -> None:
    app = make_app(frozen, FAILING)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "abort asks again")
        await pilot.press("enter")  # No is focused: nothing happens
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert waiting(app, "failure", 1)()
        await pilot.press("a", "y")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert "Run failed" in screen_text(app)
    (end,) = events(LOG, "run_finished")  # the engine ends a run stopped after a failure as failed
    assert end["status"] == "failed" and end["note"] == "aborted by alice after flaky failed"


async def test_b_runs_the_rollback_section(frozen: Path) -> None:
    app = make_app(frozen, FAILING)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))
        await pilot.press("escape")
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: app.pending is not None and app.pending.step.in_rollback,
                    "the rollback step")
        assert "rolling back" in screen_text(app)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
        shown = screen_text(app)
        assert "Run rolled back" in shown and "1 failed, 1 not run; rollback: 1 ok" in shown
    kinds = [e["type"] for e in events(LOG)]
    assert "rollback_started" in kinds and events(LOG, "rollback_started")[0]["by"] == "alice"
    assert events(LOG, "run_finished")[0]["status"] == "rolled_back"


async def test_abort_the_running_step(frozen: Path) -> None:
    held = ScriptedExecutor(["working"], hold=True)
    app = make_app(frozen, SMALL, executors={"shell": held})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, held.started.is_set, "the step to run")
        await until(pilot, lambda: app._running_step() == "build")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Abort step 2?" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
    (step,) = events(LOG, "step_finished")
    assert step["status"] == "aborted"
    (end,) = events(LOG, "run_finished")
    assert end["status"] == "aborted" and end["note"] == "aborted by alice"


async def test_n_adds_a_timestamped_note(frozen: Path) -> None:
    held = ScriptedExecutor(["working"], hold=True)
    app = make_app(frozen, SMALL, executors={"shell": held})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, held.started.is_set)
        await pilot.press("n")
        await pilot.press(*"latency spike on web-2", "enter")
        await pilot.pause()
        held.release.set()
        await until(pilot, waiting(app, "confirm", 3))
    (note,) = events(LOG, "note_added")
    assert note["note"] == "latency spike on web-2" and note["by"] == "alice"
    assert note["step"] == "build" and note["at"].startswith("2026-11-22T06:30")


async def test_m_marks_a_milestone(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("m")
        await pilot.press("1")
        await pilot.press("m")
        await pilot.press("2")
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
    marks = events(LOG, "milestone")
    assert [(m["milestone"], m["by"]) for m in marks] == [
        ("detected", "alice"), ("acknowledged", "alice")]


async def test_jump_via_the_palette_asks_before_skipping(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("g")
        await pilot.press(*"jump to step 3")
        await until(pilot, lambda: "Jump to step 3: ship" in screen_text(app), "the palette hit")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert "Skip 2 unfinished step(s) to jump to step 3?" in screen_text(app)
        await pilot.press("y")
        await until(pilot, waiting(app, "confirm", 3), "step 3")
    skipped = events(LOG, "step_skipped")
    assert [e["number"] for e in skipped] == [1, 2]
    assert all(e["by"] == "alice" and "jumped to step 3" in e["note"] for e in skipped)


async def test_jump_declined_changes_nothing(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        app.jump_to("Release")  # a section: its first unfinished step
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause()
        assert waiting(app, "tick", 1)()
    assert events(LOG, "step_skipped") == []


async def test_production_destructive_needs_the_environment_typed(frozen: Path) -> None:
    app = make_app(frozen, PROD)
    async with app.run_test(size=SIZE) as pilot:
        await through_preflight(pilot, app)
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen))
        await pilot.press(*"prod", "enter")  # not exact: nothing runs
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen) and waiting(app, "confirm", 2)()
        await pilot.press("escape")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen))
        await pilot.press(*"production", "enter")
        await until(pilot, lambda: not waiting(app, "confirm", 2)(), "the step to start")
    assert events(LOG, "step_skipped") == []
    assert [e["step"] for e in events(LOG, "step_started")] == ["promote"]


async def test_help_screen_lists_every_key(frozen: Path) -> None:
    app = make_app(frozen, SMALL)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = screen_text(app)
        for words in ("Tick the waiting check", "Retry the failed step", "milestone",
                      "Jump to a step", "Add a timestamped note"):
            assert words in text
        await pilot.press("escape")
        commands = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Run", "Tick", "Comment", "Skip", "Retry", "Abort", "Rollback", "Note",
                "Milestone", "Jump", "Help", "Quit"} <= commands


async def test_variables_form(frozen: Path) -> None:
    text = """
        +++
        [vars.SLOT]
        choices = ["blue", "green"]
        [vars.RELEASE]
        pattern = "v[0-9]+"
        [vars.API_TOKEN]
        secret = true
        +++
        # Vars

        ## Go

        ```bash {name=show}
        echo "$SLOT $RELEASE $API_TOKEN"
        ```
        """
    app = make_app(frozen, text)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the form")
        form = app.screen
        from textual.widgets import Input, Select

        assert isinstance(form.query_one("#var-SLOT"), Select)
        assert form.query_one("#var-API_TOKEN", Input).password
        form.query_one("#var-RELEASE", Input).focus()
        await pilot.press(*"1.2")
        await pilot.pause()
        assert "does not match" in screen_text(app)
        form.query_one("#var-RELEASE", Input).value = "v12"
        form.query_one("#var-SLOT", Select).value = "green"
        form.query_one("#var-API_TOKEN", Input).value = "hunter2-secret"
        await pilot.pause()
        await pilot.click("#vars-ok")
        await until(pilot, waiting(app, "confirm", 1), "the run to start")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen))
    raw = LOG.read_text()
    assert "hunter2-secret" not in raw
    (done,) = events(LOG, "step_finished")
    assert done["output"] == ["green v12 ****"]


async def test_variables_form_shows_a_default_choice_selected(frozen: Path) -> None:
    text = """
        +++
        [vars.SLOT]
        choices = ["blue", "green"]
        default = "green"
        [vars.RELEASE]
        +++
        # Vars

        ```bash {name=show}
        echo "$SLOT"
        ```
        """
    app = make_app(frozen, text)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the form")
        from textual.widgets import Select

        assert app.screen.query_one("#var-SLOT", Select).value == "green"
        shown = screen_text(app)
        assert "green" in shown and "choose SLOT" not in shown
        assert app.focused is app.screen.query_one("#var-RELEASE")  # the first empty field
        await pilot.press(*"r7", "enter")  # Enter in a field submits the form
        await until(pilot, waiting(app, "confirm", 1), "the run to start")
    assert read_log(LOG).run["variables"] == {"SLOT": "green", "RELEASE": "r7"}


async def test_variables_form_with_every_value_known_starts_on_enter(frozen: Path) -> None:
    text = """
        +++
        [vars.SLOT]
        choices = ["blue", "green"]
        default = "blue"
        +++
        # Vars

        ```bash {name=show}
        echo "$SLOT"
        ```
        """
    app = make_app(frozen, text)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the form")
        await pilot.press("enter")
        await until(pilot, waiting(app, "confirm", 1), "the run to start")


async def test_quit_while_waiting_leaves_a_resumable_log_and_resume_offer(frozen: Path) -> None:
    app = make_app(frozen, SMALL, log=None)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_code == 130
    assert app.log_path is not None
    assert events(app.log_path, "run_finished") == []

    again = make_app(frozen, SMALL, operator="bob", log=None, offer_resume=True)
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(again.screen, ResumeScreen), "the offer")
        text = screen_text(again)
        assert "by alice" in text and "Tell #ops the release is starting — ticked" in text
        await pilot.press("r")
        await until(pilot, waiting(again, "confirm", 2), "the next step")
        assert "☑  1 Tell #ops" in screen_text(again)
    kinds = [e["type"] for e in events(app.log_path)]
    assert kinds.count("run_resumed") == 1 and kinds.count("check_ticked") == 1
    assert events(app.log_path, "run_resumed")[0]["operator"] == "bob"


async def test_an_output_flood_keeps_a_bounded_view(frozen: Path) -> None:
    lines = [f"line {i}" for i in range(30_000)]
    app = make_app(frozen, SMALL, executors={"shell": ScriptedExecutor(lines)})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, waiting(app, "confirm", 3), "the flood to end", limit=30)
        app.step_tree.select_step("build")
        await pilot.pause()
        view = app.detail.query_one("#output")
        assert len(view.lines) <= VIEW_LINES  # type: ignore[attr-defined]
        assert len(app.view.steps["build"].tail) == TAIL_LINES
        assert str(view.lines[-1]) == "line 29999"  # type: ignore[attr-defined]
    sidecar = next(Path("run.output").glob("*.log")).read_text().splitlines()
    assert len(sidecar) == 30_000


async def test_target_overrun_is_marked(frozen: Path) -> None:
    text = SMALL.replace("target=10s", "target=1s")  # the frozen clock makes it take 1.5s
    app = make_app(frozen, text)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        await pilot.press("space")
        await until(pilot, waiting(app, "confirm", 2))
        await pilot.press("r")
        await until(pilot, waiting(app, "confirm", 3))
        assert "build  1.5s/1.0s overrun" in screen_text(app)


def test_window_clock_turns_warning_then_error() -> None:
    assert window_level(10 * 60, 30 * 60) == "ok"
    assert window_level(24 * 60, 30 * 60) == "warning"
    assert window_level(28 * 60, 30 * 60) == "error"
    assert window_level(40 * 60, 30 * 60) == "error"
    assert window_level(999, None) == "ok"


async def test_window_clock_in_the_header(frozen: Path) -> None:
    now = [0.0]
    app = make_app(frozen, SMALL, clock=lambda: now[0], tick_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "tick", 1))
        clock = app.header.query_one("#clock")
        now[0] = 25 * 60.0
        await until(pilot, lambda: clock.has_class("-warning"), "the warning colour")
        assert "⏱ 25:00 / 30m00s" in screen_text(app)
        now[0] = 29 * 60.0
        await until(pilot, lambda: clock.has_class("-error"), "the error colour")


async def test_w_ends_a_running_wait_and_logs_who(frozen: Path) -> None:
    app = make_app(frozen, """
        # W

        ```wait {name=soak}
        wait 10m
        ```
        """)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1))
        await pilot.press("r")
        await until(pilot, lambda: app._running_step() == "soak", "the wait to run")
        await pilot.press("w")
        await pilot.press(*"metrics are flat", "enter")
        await until(pilot, lambda: bool(events(LOG, "step_finished")), "the wait to end")
    (done,) = events(LOG, "step_finished")
    op = done["data"]["ops"][0]
    assert done["status"] == "ok" and op["cut_by"] == "alice"
    assert op["cut_note"] == "metrics are flat"


ROLLBACK_VALUE = """
    # Risky change

    ## Change

    ```bash {name=change}
    exit 3
    ```

    ## Rollback

    ```bash {name=undo unattended}
    echo "restoring <snapshot-id>" > restored.txt
    ```
    """


async def test_a_rollback_only_value_is_asked_when_the_rollback_starts(frozen: Path) -> None:
    """The console, like headless: nothing asks for SNAPSHOT_ID before the run (most runs
    never roll back); `b` after the failure asks for it, and the rollback runs with it."""
    app = make_app(frozen, ROLLBACK_VALUE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1), "step 1, with no variables form first")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, FailureScreen))
        await pilot.press("escape")
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, VariablesScreen), "the value asked")
        assert "SNAPSHOT_ID" in screen_text(app)
        await pilot.press(*"snap-42", "enter")
        await until(pilot, lambda: app.pending is not None and app.pending.step.in_rollback,
                    "the rollback step")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen), "the summary")
    assert (frozen / "restored.txt").read_text() == "restoring snap-42\n"
    assert events(LOG, "run_finished")[0]["status"] == "rolled_back"
