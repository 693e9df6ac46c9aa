"""`swrun watch`: the operator console's tree, detail, output and activity panes, fed by a
run log that another swrun writes — read-only, from another terminal on the same machine.

A thread polls the log and its sidecar (swrun.watch.source) and hands each batch to the UI;
the panes are the console's own (RunView, StepTree, StepDetail, ActivityPane), so a watcher
sees what the operator sees. Keys: `f` follows the current step (or stops), `/` searches
the selected step's whole output, `t` opens the timeline of the run so far, `q` quits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Log

from swrun.model import Runbook
from swrun.runlog import parse_at
from swrun.tui.activity import ActivityPane
from swrun.tui.detail import StepDetail, countdown
from swrun.tui.header import RunHeader
from swrun.tui.layout import run_panes
from swrun.tui.plain import Plain, PlainLabel
from swrun.tui.state import FAILED, RunView
from swrun.tui.steps import StepTree
from swrun.watch.source import Update, WatchSource
from swrun.watch.status import DIED, ENDED, FINISHING, ROTATED
from swrun.watch.tail import OutputChunk, read_sidecar_lines

POLL = 0.05
"""Seconds between two polls of the log while nothing new came."""
BURST_LINES = 200
"""Of a bigger batch of output, only the latest lines go to the output view."""
SEARCH_SHOWN = 500
CSS = Path(__file__).resolve().parent.parent / "tui" / "swrun.tcss"


def _age(at: Any) -> float:
    """Seconds since an event's `at` (0 when unknown)."""
    when = parse_at(at)
    return max(0.0, (datetime.now(UTC) - when).total_seconds()) if when is not None else 0.0


class SearchScreen(ModalScreen[None]):
    """`/`: type, Enter: every line of the step's output that contains it (case ignored)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    def __init__(self, title: str, lines: Callable[[], list[str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="watch-search"):
            yield PlainLabel(f"Search the output of {self.title_text}", classes="dialog-title")
            yield Input(placeholder="text to find, then enter", id="search-input")
            yield Plain("", id="search-count", classes="dialog-hint")
            yield Log(id="search-results", max_lines=SEARCH_SHOWN + 1)
            yield Plain("escape closes", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        want = event.value.lower()
        results = self.query_one("#search-results", Log)
        results.clear()
        if not want:
            return
        found = [(i, line) for i, line in enumerate(self.lines(), 1) if want in line.lower()]
        shown = found[:SEARCH_SHOWN]
        results.write_lines([f"{i:>7}  {line}" for i, line in shown])
        more = f" (the first {SEARCH_SHOWN} shown)" if len(found) > SEARCH_SHOWN else ""
        self.query_one("#search-count", Plain).update(
            f"{len(found):,} matching line(s){more}")


class TimelineScreen(ModalScreen[None]):
    """`t`: the timeline of the run so far (what `swrun timeline LOG` prints)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,t,q", "dismiss", "Close")]

    def __init__(self, text: str) -> None:
        super().__init__(classes="dialog-screen")
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="watch-timeline"):
            yield PlainLabel("Timeline so far", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Plain(self.text, id="timeline-text")
            yield Plain("escape closes", classes="dialog-hint")


class WatchTree(StepTree):
    """The console's tree, without offering space: a watcher ticks nothing."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "app.tick", "Tick", show=False)]


class WatchApp(App[int]):
    """Read-only: nothing here writes to the run's log, its sidecar or its locks."""

    CSS_PATH = str(CSS)
    TITLE = "swrun watch"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "follow", "Follow/unfollow"),
        Binding("slash", "search", "Search output", key_display="/"),
        Binding("t", "timeline", "Timeline"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, source: WatchSource, runbook: Runbook, *,
                 clock: Callable[[], float] = time.monotonic, poll: float = POLL,
                 tick_interval: float = 1.0,
                 on_applied: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__()
        self.source = source
        self.runbook = runbook
        self.clock = clock
        self.poll = poll
        self.tick_interval = tick_interval
        self.view = RunView(runbook, clock)
        self.steps_by_id = {s.id: s for s in runbook.actionable}
        self.follow = True
        self.on_applied = on_applied
        """Called with each event record once the screen shows it (bench/watch.py)."""
        self.applied = 0
        self._counting = False
        """The status line shows a wait's countdown (cleared when nothing counts down)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def compose(self) -> ComposeResult:
        run = self.source.state.run
        self.header = RunHeader(self.runbook.title, self.runbook.environment,
                                str(run.get("operator") or "?"), self.runbook.window)
        self.step_tree = WatchTree(self.view)
        self.detail = StepDetail(self.view)
        self.activity = ActivityPane()
        self.watch_line = Plain("", id="watch-line")
        self.status_line = Plain("", id="status")
        yield self.header
        yield from run_panes(self.step_tree, self.activity, self.detail)
        yield self.watch_line
        yield self.status_line
        yield Footer()

    def on_mount(self) -> None:
        variables = {str(k): str(v) for k, v in
                     dict(self.source.state.run.get("variables") or {}).items()}
        if variables:
            from swrun.attributes import substitute

            self.detail.resolve = lambda text: substitute(text, variables)
        self.header.update_clock(None)
        self._progress()
        first = self.view.next_unfinished()
        if first is not None:
            self.step_tree.select_step(first.id)
        self.step_tree.focus()
        self.set_interval(self.tick_interval, self._tick)
        self._thread = threading.Thread(target=self._follow, name="swrun-watch", daemon=True)
        self._thread.start()
        self._say()

    def on_unmount(self) -> None:
        self._stop.set()

    # -- the poller ----------------------------------------------------------------------------
    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                update = self.source.poll()
            except Exception as exc:  # said on screen; the watcher stays up
                self.call_from_thread(self._status, f"cannot read the log: {exc}")
                self._stop.wait(1.0)
                continue
            if update.items or update.liveness is not None:
                try:
                    self.call_from_thread(self._apply, update)
                except RuntimeError:  # the app is closing
                    return
            if self.source.over:
                return
            if not update.items:
                self._stop.wait(self.poll)

    # -- applying what came ----------------------------------------------------------------
    def _apply(self, update: Update) -> None:
        for kind, item in update.items:
            if kind == "output":
                self._output(item)
            else:
                self._event(item)
        self._progress()
        self._say()

    def _output(self, chunk: OutputChunk) -> None:
        st = self.view.steps.get(chunk.step)
        if st is not None:
            st.tail.extend(chunk.lines)
        lines = chunk.lines
        skipped = chunk.skipped + max(0, len(lines) - BURST_LINES)
        if skipped:
            lines = [f"… {skipped:,} more lines (all of them are in the output file) …",
                     *lines[-BURST_LINES:]]
        self.detail.write_output(chunk.step, lines)

    def _event(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type")
        before = len(self.view.activity)
        step_id = self.view.apply(rec)
        self.activity.add(self.view.activity[before:])
        if kind in ("run_started", "run_resumed"):
            for found in self.header.query("#operator").results(Plain):
                found.update(f"👤 {rec.get('operator') or '?'}")
        if step_id is not None and step_id in self.view.steps:
            st = self.view.steps[step_id]
            if kind == "step_started":
                st.started = self.clock() - _age(rec.get("at"))
            self.step_tree.refresh_step(step_id)
            if kind == "step_finished" and st.status in FAILED and st.error \
                    and not rec.get("will_retry"):
                self.detail.write_output(step_id, [f"✗ {st.error}"])
                st.tail.append(f"✗ {st.error}")
            if self.follow and step_id == self.view.current:
                self.step_tree.select_step(step_id)
            if self.detail.step is not None and self.detail.step.id == step_id:
                self.detail.refresh_meta()
        self.applied += 1
        if self.on_applied is not None:
            self.on_applied(rec)

    # -- what the screen says ---------------------------------------------------------------
    def _say(self) -> None:
        src = self.source
        state = src.state
        parts = ["👁 watching, read-only"]
        if src.liveness in (ENDED, DIED, ROTATED):
            parts.append(src.ended_text())
        else:
            if state.events:
                parts.append(f"driven by {src.driver_text()}")
            waiting = state.waiting_text()
            if src.liveness == FINISHING:
                parts.append("the run is finishing")
            elif waiting:
                parts.append(f"waiting for {waiting}")
        parts.append("following the current step" if self.follow else "not following (f)")
        self.watch_line.update(" · ".join(parts))
        self.watch_line.set_class(src.liveness == DIED, "-died")
        self.watch_line.set_class(src.liveness in (ENDED, ROTATED), "-ended")

    def _status(self, text: str) -> None:
        self.status_line.update(text)

    def _progress(self) -> None:
        rolling = " · rolling back" if self.view.rolling_back else ""
        self.header.update_progress(self.view.done, self.view.total, rolling)

    def _tick(self) -> None:
        state = self.source.state
        if state.finished is not None:
            wall = state.finished.get("wall_ms")
            self.header.update_clock(wall / 1000 if isinstance(wall, int) else None)
        elif state.started_at:
            self.header.update_clock(_age(state.started_at))
        running = self.view.current
        left = ""
        if running and self.view.steps[running].status == "running" and \
                self.source.liveness not in (ENDED, DIED, ROTATED):
            self.step_tree.refresh_step(running)
            if self.detail.step is not None and self.detail.step.id == running:
                self.detail.refresh_meta()
            step = self.steps_by_id.get(running)
            left = countdown(step, self.view, self.detail.resolve) if step else ""
            if left and step:
                self._status(f"⏳ step {step.number or '↺'}: {left}")
                self._counting = True
        if not left and self._counting:  # the wait ended, failed or the run is over
            self._status("")
            self._counting = False

    @on(StepTree.Selected)
    def _selected(self, message: StepTree.Selected) -> None:
        self.detail.show_selected(message.step_id, message.section_id)

    # -- keys ----------------------------------------------------------------------------------
    def action_follow(self) -> None:
        self.follow = not self.follow
        if self.follow and self.view.current:
            self.step_tree.select_step(self.view.current)
        self._say()

    def action_tick(self) -> None:  # the tree's space key: this console only watches
        self._status("read-only: swrun watch only watches; the operator answers in their "
                     "console")

    def action_search(self) -> None:
        step = self.step_tree.selected_step
        if step is None:
            self._status("select a step to search its output")
            return
        names = list(self.source.sidecars.get(step.id, ()))
        folder = self.source.outputs.folder
        tail = list(self.view.steps[step.id].tail)

        def lines() -> list[str]:
            return read_sidecar_lines(folder, names) if names else tail

        self.push_screen(SearchScreen(f"{step.number or '↺'}. {step.title}", lines))

    def action_timeline(self) -> None:
        from swrun.errors import SwrunError
        from swrun.runlog import read_log
        from swrun.timeline import build_timeline, render

        try:
            text = render(build_timeline([read_log(self.source.path)]), "md")
        except SwrunError as exc:
            text = str(exc)
        self.push_screen(TimelineScreen(text))
