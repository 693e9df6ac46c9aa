"""The panes the console and `swrun watch` share: the step tree over the activity pane on the
left, the selected step's detail on the right (styled in swrun.tcss)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from swrun.tui.activity import ActivityPane
from swrun.tui.detail import StepDetail
from swrun.tui.steps import StepTree


def run_panes(tree: StepTree, activity: ActivityPane, detail: StepDetail) -> ComposeResult:
    """Use with `yield from` inside a compose()."""
    with Horizontal(id="main"):
        with Vertical(id="left"):
            yield tree
            yield activity
        yield detail
