"""SwrunApp: the operator console; it drives the engine in a thread worker and answers it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer

from swrun.engine import Engine
from swrun.events import Event, RunFinished, StepOutput
from swrun.executors.base import Executor
from swrun.exitcodes import ExitCode
from swrun.model import Runbook, Variable
from swrun.operators import needs_typed_confirmation
from swrun.session import drive
from swrun.tui.actions import ACTIONS, FOOTER_HIDDEN, OperatorActions
from swrun.tui.activity import ActivityPane
from swrun.tui.bridge import Detach, OutputBuffer, Question, TuiOperator
from swrun.tui.commands import JumpProvider
from swrun.tui.detail import StepDetail, countdown
from swrun.tui.header import RunHeader
from swrun.tui.layout import run_panes
from swrun.tui.messages import EngineEvent, OutputReady, QuestionAsked, RunEnded
from swrun.tui.plain import Plain
from swrun.tui.screens import (
    SummaryScreen,
)
from swrun.tui.settings import TuiSettings
from swrun.tui.start import VariablesScreen
from swrun.tui.starting import RunStart
from swrun.tui.state import FAILED, RunView
from swrun.tui.steps import StepTree

FRAME = 1 / 20
"""At most this often the UI takes a batch of output from the worker."""
BURST_LINES = 200
"""Of a bigger batch, only the latest lines go to the output view (a flood scrolls past)."""


class SwrunApp(RunStart, OperatorActions, App[int]):
    """`swrun run`: the runbook on the left, the selected step on the right, the run in a thread."""

    CSS_PATH = "swrun.tcss"
    TITLE = "swrun"
    COMMANDS = App.COMMANDS | {JumpProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, action, label, key_display=shown, show=action not in FOOTER_HIDDEN)
        for key, shown, action, label, _ in ACTIONS] + [
        # priority: a modal screen (a text prompt, the form, a dialog) hides the App's own
        # ctrl+c from its binding chain; a selection is still copied (help_quit does it)
        Binding("ctrl+c", "help_quit", show=False, system=True, priority=True)]

    def __init__(self, runbook: Runbook, executors: Mapping[str, Executor] | None = None,
                 settings: TuiSettings | None = None) -> None:
        super().__init__()
        self.runbook = runbook
        self.executors = dict(executors or {})
        self.settings = settings or TuiSettings(operator="operator")
        self.operator_name = self.settings.operator
        self.view = RunView(runbook, self.settings.clock)
        self.steps_by_id = {s.id: s for s in runbook.actionable}
        self.operator = TuiOperator(self.operator_name, self._ask)
        self.operator.ask_variable = self._ask_variable
        self.output = OutputBuffer(lambda: self.post_message(OutputReady()))
        self.engine: Engine | None = None
        self.log_path: Path | None = None
        self.pending: Question | None = None
        self.error: str | None = None
        self.follow = True
        self._quitting = False
        self._ended = False
        self._status_text = ""
        self.signature_note = ""
        """Where the log's signature is, or why the log is unsigned (shown at the end)."""
        self._last_take = 0.0
        self._take_scheduled = False
        self._window_offset = 0.0
        self._exit_code = ExitCode.OK
        self._answered_step: str | None = None
        self._shown_at = 0.0
        self._hold: str | None = None
        """A step that just failed: the selection stays on it until the operator moves."""

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # kept as attributes: app.query_one() would search a modal screen when one is open
        self.header = RunHeader(self.runbook.title, self.runbook.environment,
                                self.operator_name, self.runbook.window)
        self.step_tree = StepTree(self.view)
        self.detail = StepDetail(self.view)
        self.status_line = Plain("", id="status")
        self.activity = ActivityPane()
        yield self.header
        yield from run_panes(self.step_tree, self.activity, self.detail)
        yield self.status_line
        yield Footer()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Toasts show their text as it is, like every widget here (swrun.tui.plain): screens'
        and widgets' notify() end up here too, whatever markup they pass. While a dialog
        (or the summary) is open, the message goes on its notice line instead: a toast never
        covers a dialog (swrun.tcss hides the ones from before it)."""
        if threading.get_ident() == getattr(self, "_thread_id", None) and \
                self._dialog_notice(f"{title}: {message}" if title else message):
            return
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def _dialog_notice(self, text: str) -> bool:
        """Say `text` on the open dialog's notice line (the newest message only); False when
        no dialog is open."""
        try:
            screen = self.screen
        except Exception:  # no screen yet (starting) or none left (closing)
            return False
        if not screen.has_class("dialog-screen"):
            return False
        notices = screen.query(".dialog-notice")
        if notices:
            notices.first(Plain).update(text)
            return True
        boxes = screen.query(".dialog")
        if not boxes:
            return False
        boxes.first().mount(Plain(text, classes="dialog-notice"))
        return True

    def on_mount(self) -> None:
        self.header.update_clock(None)
        self._progress()
        self.set_interval(self.settings.tick_interval, self._tick)
        first = self.view.next_unfinished()
        if first is not None:
            self.step_tree.select_step(first.id)
        self.step_tree.focus()
        self._status("starting…")
        self._start()

    def on_unmount(self) -> None:
        """Never leave the worker blocked: a waiting engine detaches, a running step stops."""
        self.operator.detach()
        if self.engine is not None and not self._ended and self._running_step():
            self.engine.abort(f"the console of {self.operator_name} closed")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for _, shown, action, label, what in ACTIONS:
            yield SystemCommand(label, f"{what} (key {shown})",
                                partial(self.run_action, action))

    async def action_quit(self) -> None:
        """ctrl+q (Textual's own binding) asks, as `q` does: never an exit code 0 mid-run."""
        self.action_quit_run()

    def action_help_quit(self) -> None:
        """ctrl+c: copy the selected text if there is some (in an input or on the screen);
        otherwise the same question as `q` (Textual would only show a toast), in every
        screen, a text prompt or the variables form too."""
        from textual.widgets import Input

        focused = self.focused
        chosen = focused.selected_text if isinstance(focused, Input) else ""
        chosen = chosen or self.screen.get_selected_text() or ""
        if chosen:
            self.copy_to_clipboard(chosen)
            return
        self.action_quit_run()

    def leaving_hints(self) -> list[str]:
        """What to do next, printed once the console is gone (swrun.tui.hints)."""
        from swrun.tui.hints import leaving_hints

        finished = self.view.finished
        return leaving_hints(self.runbook.path, self.settings, self.log_path,
                             str(finished.get("status")) if finished is not None else None,
                             self.engine is not None and not self.error)

    def _fail(self, message: str, code: ExitCode) -> None:
        self.error = message  # printed once, as `swrun: …`, by swrun.tui.launch after exit
        self.exit(int(code), return_code=int(code))

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def _drive(self, log: object) -> None:
        assert self.engine is not None
        finished: RunFinished | None = None
        error = None
        try:
            with log:  # type: ignore[attr-defined]
                finished = drive(self.engine, log, self._sink)  # type: ignore[arg-type]
        except Detach:
            pass
        except Exception as exc:  # the UI must say so, not vanish
            error = f"{type(exc).__name__}: {exc}"
        from swrun.run import sign_run_log  # this part of the run ends signed, or says so

        _, said = sign_run_log(log, self.engine.settings,  # type: ignore[arg-type]
                               self.operator_name, self.runbook)
        self.signature_note = said  # said once, on the status line under the summary
        self.post_message(RunEnded(finished, error))

    def _sink(self, event: Event) -> None:
        """Called on the worker thread for every event (after the log has it)."""
        if isinstance(event, StepOutput):
            self.output.add(event.step, f"{event.host}: {event.line}" if event.host
                            else event.line)
        else:
            self.post_message(EngineEvent(event))

    def _ask(self, question: Question) -> None:
        """Called on the worker thread; the engine then blocks until the UI answers."""
        self.post_message(QuestionAsked(question))

    def _ask_variable(self, var: Variable, answer: Future[str | None]) -> None:
        """Called on the worker thread when the rollback starts and needs a value nobody
        gave: the variables form for that one value (leaving it gives none: the rollback
        says what is missing)."""
        production = needs_typed_confirmation(self.runbook.environment)

        def show() -> None:
            self._status(f"↺ the rollback needs {var.name}")
            self.push_screen(VariablesScreen([var], production), callback=lambda got: (
                None if answer.done() else answer.set_result((got or {}).get(var.name))))

        self.call_from_thread(show)

    # -- what the worker tells us ------------------------------------------------------------
    def on_output_ready(self, _: OutputReady) -> None:
        wait = self._last_take + FRAME - time.monotonic()
        if wait > 0:
            if not self._take_scheduled:
                self._take_scheduled = True
                self.set_timer(wait, self._take_output)
            return
        self._take_output()

    def _take_output(self) -> None:
        self._take_scheduled = False
        self._last_take = time.monotonic()
        batch, dropped = self.output.take()
        if not batch:
            return
        by_step: dict[str, list[str]] = {}
        for step, line in batch:
            by_step.setdefault(step, []).append(line)
        for step, lines in by_step.items():
            if step in self.view.steps:
                self.view.steps[step].tail.extend(lines)
            skipped = dropped + max(0, len(lines) - BURST_LINES)
            dropped = 0
            if skipped:  # a flood: show its latest lines, say how many are only in the sidecar
                lines = [f"… {skipped:,} more lines (all of them are in the output file) …",
                         *lines[-BURST_LINES:]]
            self.detail.write_output(step, lines)

    def on_engine_event(self, message: EngineEvent) -> None:
        self._take_output()  # output printed before this event is shown before it
        record = message.event.to_record()
        activity = len(self.view.activity)
        step_id = self.view.apply(record)
        self.activity.add(self.view.activity[activity:])
        kind = message.event.type
        if step_id is not None:
            self.step_tree.refresh_step(step_id)
            st = self.view.steps[step_id]
            if kind == "step_finished" and st.status in FAILED and not record.get("will_retry"):
                self._hold = step_id  # keep a failure in view until the operator moves on
                self.step_tree.select_step(step_id)
                if st.error:
                    self.detail.write_output(step_id, [f"✗ {st.error}"])
                    st.tail.append(f"✗ {st.error}")
            elif step_id == self.view.current and self._following():
                self.step_tree.select_step(step_id)
            if self.detail.step is not None and self.detail.step.id == step_id:
                self.detail.refresh_meta()
        if kind in ("run_started", "run_resumed"):
            if self.engine is not None:
                self.detail.resolve = self.engine.resolve_text
                if self.detail.step is not None:
                    self.detail.show_step(self.detail.step, force=True)
            self._tick()
        elif kind == "step_started":
            step = self.steps_by_id.get(step_id or "")
            self._status(f"⟳ running step {step.number if step else ''}: "
                         f"{step.title if step else ''} — a aborts it")
        elif kind in ("note_added", "milestone"):
            note = self.view.notes[-1]
            self.notify(f"{note.by}: {note.text}", title="logged")
        elif kind.startswith("approval"):
            self._approval_status(record)
        elif kind == "rollback_started":
            self._status("↺ rolling back")
        elif isinstance(message.event, RunFinished):
            self._status(f"run {message.event.status.value.replace('_', ' ')}")
        self._progress()

    def on_question_asked(self, message: QuestionAsked) -> None:
        q = message.question
        self.pending = q
        self.view.current = q.step.id
        self.step_tree.refresh_step(q.step.id)
        if self._following() or self._hold == q.step.id:
            self.step_tree.select_step(q.step.id)
        self._shown_at = time.monotonic()
        n = q.step.number or "↺"
        if q.kind == "tick" and q.step.manual:
            text = (f"☐ step {n} is yours to run ({q.step.manual}) — y copies the "
                    "command, space ticks it when done, s skips")
        elif q.kind == "tick":
            text = (f"☐ check {n}: {q.step.title} — space ticks, c ticks with a "
                    "comment, s skips")
        elif q.kind == "failure":
            self._status(f"✗ step {n} failed — R retry, s skip, a abort"
                         + (", b roll back" if q.can_rollback else ""))
            self._failure_modal(q)
            text = ""
        elif q.reason == "canary":
            self._status(f"? step {n}: canary hosts done — continue to the rest?")
            self._confirm_gate(q)
            text = ""
        else:
            what = {"destructive": "⚠ destructive step", "confirm": "? step",
                    "inferred": "? step (inferred)"}.get(
                q.reason, "▶ step")
            text = f"{what} {n}: {q.step.title} — r runs it, s skips"
        if text:
            self._question_status(q, text)
        if self._hold is not None and self._hold != q.step.id:
            held = self.steps_by_id[self._hold]
            self._status(f"✗ step {held.number or '↺'} {self.view.steps[held.id].status} "
                         f"(shown); the run went on to step {n} — select it to answer")

    def _question_status(self, q: Question, text: str) -> None:
        """The question on the status line; its keys are named once they can answer it (the
        answer guard), so what the line offers is what a key does."""
        guard = self.settings.answer_guard
        if guard <= 0:
            self._status(text)
            return
        self._status("⋯ " + text.split(" — ")[0].split(" ", 1)[1] + " — just shown")

        def ready() -> None:
            if self.pending is q and not q.answered and self._hold in (None, q.step.id):
                self._status(text)

        self.set_timer(guard, ready)

    def on_run_ended(self, message: RunEnded) -> None:
        self._take_output()
        self._ended = True
        self.pending = None
        if message.error:
            self.error = message.error
            self.notify(message.error, title="the run stopped", severity="error", timeout=30)
            self._status(f"the run stopped: {message.error}")
            self._exit_code = ExitCode.STEP_FAILED
        if self.signature_note and not message.error:
            self._status(" · ".join(t for t in (self._status_text, self.signature_note) if t))
        if message.finished is not None:
            from swrun.run import EXIT

            self._exit_code = EXIT[message.finished.status]
            if not self._quitting and self.view.finished is not None:
                self.push_screen(SummaryScreen(self.view, self.view.finished,
                                               str(self.log_path or "")))
        elif not message.error:
            self._exit_code = ExitCode.INTERRUPTED
        if self._quitting:
            self.exit(int(self._exit_code), return_code=int(self._exit_code))

    def _following(self) -> bool:
        return self.follow and self._hold is None

    @on(StepTree.Selected)
    def _selected(self, message: StepTree.Selected) -> None:
        if self._hold is not None and message.step_id != self._hold:
            self._hold = None  # the operator moved on from the failure
        self.detail.show_selected(message.step_id, message.section_id)

    # -- clock -------------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.view.started is not None and self.view.finished is None:
            elapsed = self.settings.clock() - self.view.started + self._window_offset
            self.header.update_clock(elapsed)
        running = self._running_step()
        if running:
            self.step_tree.refresh_step(running)
            if self.detail.step is not None and self.detail.step.id == running:
                self.detail.refresh_meta()
            step = self.steps_by_id[running]
            left = countdown(step, self.view, self.detail.resolve)
            if left and self._hold is None:
                self._status(f"⏳ step {step.number or '↺'}: {left} — w ends the wait now, "
                             "a aborts")

    def _progress(self) -> None:
        rolling = " · rolling back" if self.view.rolling_back else ""
        self.header.update_progress(self.view.done, self.view.total, rolling)

    def _status(self, text: str) -> None:
        self._status_text = text
        self.status_line.update(text)

    def _approval_status(self, record: dict[str, object]) -> None:
        """A step waiting for four-eyes approval: who it still waits for, and each approval
        or refusal as it comes (docs/evidence.md)."""
        from swrun.evidence.approve import waiting_text

        n = record.get("number") or "↺"
        if record.get("type") == "approval_refused":
            self.notify(f"{record.get('file') or 'an approval'}: {record.get('error')}",
                        title=f"approval of step {n} refused", severity="warning", timeout=15)
            return
        needed = int(record.get("approvals") or 0)  # type: ignore[call-overload]
        count = int(record.get("count") or 0)  # type: ignore[call-overload]
        if record.get("type") == "approval":
            self.notify(f"step {n} approved by {record.get('by')} ({count} of {needed})",
                        title="approval")
        if count < needed:
            who = tuple(str(w) for w in record.get("waiting_for") or ())  # type: ignore[attr-defined]
            self._status(f"⏳ step {n}: {waiting_text(needed - count, who)} — swrun approve "
                         f"{self.log_path} {n}; a aborts")

