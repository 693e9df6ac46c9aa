"""A milestone is logged once per run (issue 25.5): marked by hand, then reached by its
section, or reached in an earlier part of a resumed run, it logs nothing the second time."""

from __future__ import annotations

from pathlib import Path

from swrun.events import MilestoneMarked
from swrun.operators import AutoOperator
from swrun.parser import load_runbook

from helpers import Resume, make_engine, write_runbook

BOOK = """
    # M

    ## Detect
    <!-- swrun: milestone=detected -->

    ```bash {name=look}
    true
    ```

    ## Mitigate

    ```bash {name=fix milestone=mitigated}
    true
    ```
    """


def test_marked_by_hand_then_reached_logs_once(tmp_path: Path) -> None:
    engine = make_engine(load_runbook(write_runbook(tmp_path, BOOK)), AutoOperator("oncall"))
    assert engine.mark_milestone("detected", by="alice") is True
    assert engine.mark_milestone("detected", by="bob") is False  # the second mark: nothing
    marks = [(e.milestone, e.by) for e in engine.run() if isinstance(e, MilestoneMarked)]
    assert marks == [("detected", "alice"), ("mitigated", "oncall")]


def test_a_resumed_run_does_not_log_an_earlier_part_s_milestone_again(tmp_path: Path) -> None:
    rb = load_runbook(write_runbook(tmp_path, BOOK))
    engine = make_engine(rb, AutoOperator("oncall"),
                         resume=Resume(done={}, next_seq=5, milestones=frozenset({"detected"})))
    marks = [e.milestone for e in engine.run() if isinstance(e, MilestoneMarked)]
    assert marks == ["mitigated"]
    assert engine.mark_milestone("mitigated") is False
