"""The engine with real shell steps and a scripted operator: order, gates, failures, rollback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from swrun.engine import OperatorNeeded
from swrun.events import (
    CheckTicked,
    RollbackStarted,
    RunFinished,
    RunResumed,
    RunStarted,
    RunStatus,
    StepFinished,
    StepOutput,
    StepSkipped,
    StepStatus,
)
from swrun.operators import AutoOperator, NoTtyOperator
from swrun.parser import load_runbook

from helpers import (
    Decision,
    Resume,
    ScriptedOperator,
    Selection,
    Settings,
    make_engine,
    run_events,
    write_runbook,
)

BASIC = """
+++
[vars.WHO]
default = "world"
+++
# Basic

## Checks

- [ ] first check

## Work

```bash {{name=one}}
touch {d}/one
echo "hello $WHO"
```

```bash {{name=two}}
touch {d}/two
{fail}
```

```bash {{name=three}}
touch {d}/three
```

## Rollback
<!-- swrun: rollback -->

```bash {{name=undo}}
touch {d}/undo
```
"""


def _book(tmp_path: Path, fail: str = "true", extra: str = "") -> Path:
    return write_runbook(tmp_path, BASIC.format(d=tmp_path, fail=fail).replace(
        "{name=two}", "{name=two" + extra + "}"))


def _finished(events) -> RunFinished:
    last = events[-1]
    assert isinstance(last, RunFinished)
    return last


def test_happy_path_order_and_seq(tmp_path: Path) -> None:
    events = run_events(_book(tmp_path), AutoOperator("me"))
    assert isinstance(events[0], RunStarted)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = [(type(e).__name__, getattr(e, "step", None)) for e in events
             if not isinstance(e, StepOutput)]
    assert kinds[1] == ("CheckTicked", "checks/first-check")
    finished = [e.step for e in events if isinstance(e, StepFinished)]
    assert finished == ["one", "two", "three"]  # the rollback section is not in the normal pass
    assert not (tmp_path / "undo").exists()
    out = [e.line for e in events if isinstance(e, StepOutput)]
    assert out == ["hello world"]
    assert _finished(events).status is RunStatus.COMPLETED
    assert _finished(events).counts == {"ok": 3, "ticked": 1}


def test_yes_ticks_as_auto(tmp_path: Path) -> None:
    events = run_events(_book(tmp_path), AutoOperator("me"))
    ticked = [e for e in events if isinstance(e, CheckTicked)]
    assert ticked[0].by == "auto"


def test_no_tty_stops_at_the_first_check(tmp_path: Path) -> None:
    events = run_events(_book(tmp_path), NoTtyOperator("me"))
    fin = _finished(events)
    assert fin.status is RunStatus.OPERATOR_NEEDED
    assert fin.step == "checks/first-check"
    assert "needs an operator" in (fin.note or "")
    assert not (tmp_path / "one").exists()


def test_dry_run_runs_nothing(tmp_path: Path) -> None:
    events = run_events(_book(tmp_path), NoTtyOperator("me"),
                        settings=Settings(dry_run=True))
    assert {e.status for e in events if isinstance(e, StepFinished)} == {StepStatus.DRY_RUN}
    assert not list(tmp_path.glob("one")) and not (tmp_path / "two").exists()
    one = next(e for e in events if isinstance(e, StepFinished) and e.step == "one")
    assert 'echo "hello world"' in (one.command or "")
    assert _finished(events).status is RunStatus.COMPLETED


def test_failure_aborts_by_default(tmp_path: Path) -> None:
    op = ScriptedOperator()
    events = run_events(_book(tmp_path, fail="exit 7"), op)
    two = next(e for e in events if isinstance(e, StepFinished) and e.step == "two")
    assert two.status is StepStatus.FAILED and two.exit_code == 7
    assert ("failure", "two") in op.asked
    assert not (tmp_path / "three").exists()
    fin = _finished(events)
    assert fin.status is RunStatus.FAILED and fin.step == "two"


def test_retry_decision_then_skip(tmp_path: Path) -> None:
    op = ScriptedOperator(failures=[Decision.RETRY, Decision.SKIP])
    events = run_events(_book(tmp_path, fail="exit 1"), op)
    attempts = [e for e in events if isinstance(e, StepFinished) and e.step == "two"]
    assert len(attempts) == 2
    skipped = [e for e in events if isinstance(e, StepSkipped)]
    assert skipped[0].step == "two" and skipped[0].by == "tester"
    assert (tmp_path / "three").exists()
    assert _finished(events).status is RunStatus.FAILED  # a skipped failure is not a success


def test_retries_attribute(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    fail = f'echo x >> {counter}; [ "$(wc -l < {counter})" -ge 3 ]'
    events = run_events(_book(tmp_path, fail=fail, extra=" retries=2 retry_delay=0.05s"),
                        ScriptedOperator())
    attempts = [e for e in events if isinstance(e, StepFinished) and e.step == "two"]
    assert [(a.attempt, a.status, a.will_retry) for a in attempts] == [
        (1, StepStatus.FAILED, True), (2, StepStatus.FAILED, True), (3, StepStatus.OK, None)]
    assert _finished(events).status is RunStatus.COMPLETED


def test_keep_going(tmp_path: Path) -> None:
    events = run_events(_book(tmp_path, fail="exit 1"), ScriptedOperator(),
                        settings=Settings(keep_going=True))
    assert (tmp_path / "three").exists()
    assert _finished(events).status is RunStatus.FAILED


def test_rollback_on_failure(tmp_path: Path) -> None:
    op = AutoOperator("me", rollback_on_failure=True)
    events = run_events(_book(tmp_path, fail="exit 1", extra=" on_failure=rollback"), op)
    assert any(isinstance(e, RollbackStarted) and e.step == "two" for e in events)
    assert (tmp_path / "undo").exists()
    assert not (tmp_path / "three").exists()
    assert _finished(events).status is RunStatus.ROLLED_BACK


def test_without_rollback_flag_headless_aborts(tmp_path: Path) -> None:
    events = run_events(_book(tmp_path, fail="exit 1", extra=" on_failure=rollback"),
                        AutoOperator("me"))
    assert not (tmp_path / "undo").exists()
    assert _finished(events).status is RunStatus.FAILED


def test_confirm_gate_skip(tmp_path: Path) -> None:
    op = ScriptedOperator(confirms=[Decision.SKIP])
    events = run_events(_book(tmp_path, extra=" confirm"), op)
    assert ("confirm", "two") in op.asked
    assert not (tmp_path / "two").exists()
    assert any(isinstance(e, StepSkipped) and e.step == "two" for e in events)


def test_destructive_in_production_needs_the_environment(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, """
        +++
        environment = "production"
        +++
        # P

        ```bash {name=drop destructive}
        touch drop
        ```
        """)
    events = run_events(path, AutoOperator("me", "production"))
    assert _finished(events).status is RunStatus.OPERATOR_NEEDED
    assert not (tmp_path / "drop").exists()
    events = run_events(path, AutoOperator("me", "production", "production"))
    assert _finished(events).status is RunStatus.COMPLETED
    assert (tmp_path / "drop").exists()


def test_selection_from_skip_only(tmp_path: Path) -> None:
    rb = load_runbook(_book(tmp_path))
    sel = Selection(start=rb.find("two"), skip=frozenset({"three"}))
    events = list(make_engine(rb, AutoOperator("me"), selection=sel).run())
    skipped = {e.step: e.note for e in events if isinstance(e, StepSkipped)}
    assert skipped == {"checks/first-check": "before --from 3", "one": "before --from 3",
                       "three": "--skip"}
    assert (tmp_path / "two").exists() and not (tmp_path / "one").exists()
    only = Selection(only=frozenset({rb.find_section("Checks").id}))
    events = list(make_engine(rb, AutoOperator("me"), selection=only).run())
    assert [e.step for e in events if isinstance(e, CheckTicked)] == ["checks/first-check"]


def test_secrets_masked_in_events(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, """
        +++
        [vars.API_TOKEN]
        secret = true
        +++
        # S

        ```bash {name=leak}
        echo "token=$API_TOKEN"
        echo "$API_TOKEN" >&2
        exit 1
        ```
        """)
    events = run_events(path, ScriptedOperator(), given={"API_TOKEN": "s3cr3t-value"})
    text = repr([e.to_record() for e in events])
    assert "s3cr3t-value" not in text
    assert "token=****" in text


def test_abort_from_another_thread(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, """
        # A

        ```bash {name=long}
        echo started
        sleep 30
        ```

        ```bash {name=after}
        touch after
        ```
        """)
    engine = make_engine(load_runbook(path), AutoOperator("me"))
    events = []
    for event in engine.run():
        events.append(event)
        if isinstance(event, StepOutput) and event.line == "started":
            threading.Timer(0.05, engine.abort, args=("stop now",)).start()
    long = next(e for e in events if isinstance(e, StepFinished))
    assert long.status is StepStatus.ABORTED
    fin = _finished(events)
    assert fin.status is RunStatus.ABORTED and fin.note == "stop now"
    assert not (tmp_path / "after").exists()


def test_notes_and_milestones_are_events(tmp_path: Path) -> None:
    engine = make_engine(load_runbook(_book(tmp_path)), AutoOperator("me"))
    engine.add_note("paged the DBA", by="alice")
    engine.mark_milestone("detected", by="alice")
    types = [e.type for e in engine.run()]
    assert "note_added" in types and "milestone" in types


def test_a_note_made_while_a_silent_step_runs_is_logged_before_it_ends(
        tmp_path: Path) -> None:
    from swrun.events import NoteAdded, StepStarted

    path = write_runbook(tmp_path, f"""
        # N

        ```bash {{name=quiet}}
        sleep 1.5
        touch {tmp_path}/done
        ```
        """)
    engine = make_engine(load_runbook(path), AutoOperator("me"))
    events = []
    for event in engine.run():
        events.append(event)
        if isinstance(event, StepStarted):
            threading.Timer(0.2, engine.add_note, args=("DBA paged",),
                            kwargs={"by": "alice"}).start()
        if isinstance(event, NoteAdded):
            assert not (tmp_path / "done").exists()  # the step is still running
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("NoteAdded") < kinds.index("StepFinished"), kinds


def test_resume_skips_done_steps_and_reruns_changed(tmp_path: Path) -> None:
    rb = load_runbook(_book(tmp_path))
    done = {s.id: s.content_hash for s in rb.main_steps[:2]}
    done["three"] = "stale-hash"
    events = list(make_engine(rb, AutoOperator("me"),
                              resume=Resume(done=done, next_seq=40)).run())
    assert isinstance(events[0], RunResumed) and events[0].seq == 40
    assert events[0].changed_steps == ("three",)
    ran = [e.step for e in events if isinstance(e, StepFinished)]
    assert ran == ["two", "three"]


def test_operator_needed_is_not_an_exception_for_callers(tmp_path: Path) -> None:
    # OperatorNeeded raised inside the operator must end the run cleanly, never escape.
    class Refuse(ScriptedOperator):
        def tick(self, step):  # type: ignore[override]
            raise OperatorNeeded("nobody home")

    events = run_events(_book(tmp_path), Refuse())
    assert _finished(events).note == "nobody home"


def test_operator_needed_mid_step_still_records_the_step(tmp_path: Path) -> None:
    from swrun.executors.base import Output, StepResult

    class Canary:
        def run(self, step, ctx):  # type: ignore[no-untyped-def]
            yield Output("canary host done", host="h1")
            if not ctx.confirm("canary"):
                yield StepResult(StepStatus.FAILED, error="stopped after canary")
                return
            yield StepResult(StepStatus.OK)

    path = write_runbook(tmp_path, """
        # C

        ```bash {name=fan hosts=web}
        true
        ```
        """)
    events = run_events(path, NoTtyOperator("me"), executors={"ssh": Canary()})
    fin = [e for e in events if isinstance(e, StepFinished)]
    assert len(fin) == 1 and fin[0].status is StepStatus.ABORTED
    assert "canary gate on step 1 needs an operator" in (fin[0].error or "")
    assert fin[0].output == ("h1: canary host done",)
    assert _finished(events).status is RunStatus.OPERATOR_NEEDED


def test_a_backend_exception_fails_the_step_with_one_line_and_keeps_the_traceback(
        tmp_path: Path) -> None:
    from swrun.executors.base import Output

    class Broken:
        def run(self, step, ctx):  # type: ignore[no-untyped-def]
            yield Output("connected")
            raise ValueError(f"cannot parse {ctx.variables['TOKEN']}")

    path = write_runbook(tmp_path, """
        +++
        [vars.TOKEN]
        secret = true
        default = "s3cr3t-value"
        +++
        # B

        ```bash {name=fan hosts=web}
        true
        ```
        """)
    events = run_events(path, AutoOperator("me"), executors={"ssh": Broken()})
    (fin,) = [e for e in events if isinstance(e, StepFinished)]
    assert fin.status is StepStatus.FAILED and fin.output == ("connected",)
    assert fin.error == "ValueError: cannot parse ****"
    trace = fin.data["traceback"]
    assert trace.startswith("Traceback") and "in run" in trace and "ValueError" in trace
    assert "s3cr3t-value" not in trace
    assert _finished(events).status is RunStatus.FAILED


def test_milestone_attributes_become_milestone_events(tmp_path: Path) -> None:
    from swrun.events import MilestoneMarked

    path = write_runbook(tmp_path, """
        # M

        ## Detect
        <!-- swrun: milestone=detected -->

        - [ ] Alert acknowledged

        ```bash {name=look}
        true
        ```

        ## Mitigate

        ```bash {name=fix milestone=mitigated}
        true
        ```

        ```bash {name=verify}
        true
        ```
        """)
    events = run_events(path, AutoOperator("oncall"))
    marks = [(e.milestone, e.by) for e in events if isinstance(e, MilestoneMarked)]
    assert marks == [("detected", "oncall"), ("mitigated", "oncall")]
    order = [getattr(e, "step", None) or e.type for e in events if e.type != "step_output"]
    assert order.index("milestone") == order.index("look") + 2  # right after step_finished


def test_a_step_retried_after_a_failure_counts_once(tmp_path: Path) -> None:
    # issue 13.3: one outcome per step, not one per attempt series
    flag = tmp_path / "fixed"
    fail = f"[ -e {flag} ] || {{ touch {flag}; exit 1; }}"
    events = run_events(_book(tmp_path, fail=fail), ScriptedOperator(failures=[Decision.RETRY]))
    assert [e.status for e in events if isinstance(e, StepFinished) and e.step == "two"] == [
        StepStatus.FAILED, StepStatus.OK]
    assert _finished(events).counts == {"ok": 3, "ticked": 1}


def test_a_failed_step_then_skipped_counts_once_as_skipped(tmp_path: Path) -> None:
    op = ScriptedOperator(failures=[Decision.RETRY, Decision.SKIP])
    fin = _finished(run_events(_book(tmp_path, fail="exit 1"), op))
    assert fin.status is RunStatus.FAILED
    assert fin.counts == {"ok": 2, "skipped": 1, "ticked": 1}


def test_rollback_steps_are_counted_apart(tmp_path: Path) -> None:
    op = AutoOperator("me", rollback_on_failure=True)
    fin = _finished(run_events(_book(tmp_path, fail="exit 1", extra=" on_failure=rollback"), op))
    assert fin.status is RunStatus.ROLLED_BACK
    assert fin.counts == {"ok": 1, "failed": 1, "ticked": 1}
    assert fin.rollback_counts == {"ok": 1}


def test_a_resumed_run_counts_the_whole_run_and_both_times(tmp_path: Path) -> None:
    # issue 13.2: what earlier parts finished comes in through Resume
    from datetime import timedelta

    from swrun.events import utcnow

    rb = load_runbook(_book(tmp_path))
    first, one = rb.main_steps[0], rb.main_steps[1]
    began = utcnow() - timedelta(minutes=5)
    resume = Resume(done={first.id: first.content_hash, one.id: one.content_hash}, next_seq=9,
                    outcomes={first.id: "ticked", one.id: "ok", "two": "failed"},
                    active_ms=60_000, started_at=began)
    events = list(make_engine(rb, AutoOperator("me"), resume=resume).run())
    fin = _finished(events)
    assert fin.counts == {"ok": 3, "ticked": 1}  # two failed before and passes now: once, ok
    assert fin.duration_ms is not None and fin.duration_ms < 60_000
    assert fin.active_ms == 60_000 + fin.duration_ms
    assert fin.wall_ms is not None and 5 * 60_000 <= fin.wall_ms < 6 * 60_000


def test_a_fresh_run_has_active_and_wall_time_equal_to_its_duration(tmp_path: Path) -> None:
    fin = _finished(run_events(_book(tmp_path), AutoOperator("me")))
    assert fin.active_ms == fin.wall_ms == fin.duration_ms


SKIPPED_END = """
    # M

    ## Detect
    <!-- swrun: milestone=detected -->

    ```bash {name=look}
    true
    ```

    ```bash {name=page-again}
    true
    ```

    ## Mitigate
    <!-- swrun: milestone=mitigated -->

    ```bash {name=nothing}
    true
    ```

    ## Last

    ```bash {name=last}
    true
    ```
    """


def test_a_section_ending_with_skipped_steps_reaches_its_milestone(tmp_path: Path) -> None:
    # issue 13.4: docs/timeline.md: every step done (ok, ticked or skipped), one ok or ticked
    from swrun.events import MilestoneMarked

    rb = load_runbook(write_runbook(tmp_path, SKIPPED_END))
    sel = Selection(skip=frozenset({"page-again", "nothing"}))
    events = list(make_engine(rb, AutoOperator("oncall"), selection=sel).run())
    marks = [(e.milestone, e.note) for e in events if isinstance(e, MilestoneMarked)]
    assert marks == [("detected", "reached at step 2: page-again")]  # mitigated: nothing ran ok
    order = [getattr(e, "step", None) or e.type for e in events if e.type != "step_output"]
    assert order.index("milestone") == order.index("page-again") + 1


def test_a_section_finished_across_a_resume_reaches_its_milestone(tmp_path: Path) -> None:
    from swrun.events import MilestoneMarked

    rb = load_runbook(write_runbook(tmp_path, SKIPPED_END))
    look = rb.main_steps[0]
    resume = Resume(done={look.id: look.content_hash}, next_seq=5, outcomes={look.id: "ok"})
    sel = Selection(skip=frozenset({"page-again"}))
    events = list(make_engine(rb, AutoOperator("me"), resume=resume, selection=sel).run())
    marks = [e.milestone for e in events if isinstance(e, MilestoneMarked)]
    assert marks == ["detected", "mitigated"]


def test_per_host_records_and_step_data_are_masked_in_the_log(tmp_path: Path) -> None:
    """Only error, output and traceback were masked: a per-host error or a data field built
    from a secret reached the log as it was."""
    from swrun.executors.base import StepResult as Result

    class Leaky:
        def run(self, step: object, ctx: object) -> Iterator[Result]:
            yield Result(StepStatus.FAILED, error="no",
                         hosts={"h1": {"status": "failed", "error": "login s3cr3t-pw refused"}},
                         data={"apps": ["api-s3cr3t-pw"], "note": "pw=s3cr3t-pw"})

    path = write_runbook(tmp_path, """
        +++
        [vars.PW]
        default = "s3cr3t-pw"
        secret = true
        +++
        # Leak

        ```bash {name=leak on_failure=continue}
        true
        ```
        """)
    events = run_events(path, executors={"shell": Leaky()})
    (done,) = [e for e in events if isinstance(e, StepFinished)]
    assert "s3cr3t-pw" not in repr(done.to_record())
    assert done.hosts["h1"]["error"] == "login **** refused"
    assert done.data["apps"] == ["api-****"]
