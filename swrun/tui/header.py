"""The header: title, environment badge, maintenance-window clock, progress and operator."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal

from swrun.durations import format_duration
from swrun.operators import needs_typed_confirmation
from swrun.tui.plain import Plain

WARN_LEFT = 0.25
"""Fraction of the window left when the clock turns the warning colour."""
ERROR_LEFT = 0.10


def clock_text(elapsed: float) -> str:
    m, s = divmod(int(elapsed), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def window_level(elapsed: float, window: float | None) -> str:
    """ok, warning (under a quarter left) or error (under a tenth left, or over)."""
    if not window:
        return "ok"
    left = (window - elapsed) / window
    return "error" if left <= ERROR_LEFT else "warning" if left <= WARN_LEFT else "ok"


class RunHeader(Horizontal):
    """One line at the top; the clock and progress are refreshed by the app."""

    def __init__(self, title: str, environment: str, operator: str,
                 window: float | None) -> None:
        super().__init__(id="header")
        self._title = title
        self.environment = environment
        self.operator = operator
        self.window = window

    def compose(self) -> ComposeResult:
        yield Plain(self._title, id="title")
        env = Plain(self.environment or "no environment", id="env")
        if needs_typed_confirmation(self.environment):
            env.add_class("-production")
        elif not self.environment:
            env.add_class("-none")
        yield env
        yield Plain("", id="clock")
        yield Plain("", id="progress")
        yield Plain(f"👤 {self.operator}", id="operator")

    def update_clock(self, elapsed: float | None) -> None:
        found = self.query("#clock")  # the timer can fire before compose or during teardown
        if not found:
            return
        clock = found.first(Plain)
        text = "⏱ --:--" if elapsed is None else f"⏱ {clock_text(elapsed)}"
        if self.window:
            text += f" / {format_duration(self.window)}"
            if elapsed is not None and elapsed > self.window:
                text += " OVER"
        level = window_level(elapsed or 0.0, self.window)
        clock.update(text)
        clock.set_class(level == "warning", "-warning")
        clock.set_class(level == "error", "-error")

    def update_progress(self, done: int, total: int, note: str = "") -> None:
        for progress in self.query("#progress").results(Plain):
            progress.update(f"{done}/{total} done{note}")
