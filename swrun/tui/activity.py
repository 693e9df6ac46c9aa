"""The activity pane: who did what during the run (notes, milestones, ticks, skips, failures,
rollbacks), live, under the step tree."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.widgets import RichLog

from swrun.tui.state import Note

KEEP_LINES = 500
"""Lines the pane keeps; the run log has all of them."""


def activity_text(note: Note) -> Text:
    """`06:31 alice ☑ ticked 1. Tell #ops` as literal text (never markup)."""
    text = Text()
    text.append(note.at[11:16] or "--:--", style="dim")
    if note.by:
        text.append(f" {note.by.split('@')[0]}", style="bold")
    text.append(f" {note.text}")
    return text


def _hanging(text: Text) -> Table:
    """The line with its wrapped part indented under the text, past the `06:31 ` time."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(no_wrap=True, width=5)
    grid.add_column(ratio=1)
    grid.add_row(text[:5], text[6:])
    return grid


class ActivityPane(RichLog):
    """The run's activity, newest at the bottom, wrapped to the pane's width."""

    def __init__(self) -> None:
        super().__init__(id="activity", wrap=True, markup=False, highlight=False,
                         max_lines=KEEP_LINES, auto_scroll=True, min_width=10)
        self.border_title = "activity"

    def add(self, notes: Iterable[Note]) -> None:
        for note in notes:
            self.write(_hanging(activity_text(note)))

    def divider(self, text: str) -> None:
        """`— resumed at 06:40 —`: where the earlier part (from the log) ends."""
        self.write(Text(f"— {text} —", style="dim bold"))
