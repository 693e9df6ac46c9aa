"""SwrunApp: the operator console; it drives the engine in a thread worker and answers it."""

from __future__ import annotations

import os
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

from swrun import kube
from swrun.engine import Engine, Settings
from swrun.errors import SwrunError
from swrun.events import Event, RunFinished, StepOutput
from swrun.executors.base import Executor
from swrun.exitcodes import ExitCode, exit_code_for
from swrun.model import Runbook, Variable
from swrun.operators import needs_typed_confirmation
from swrun.rollbackvars import rollback_only
from swrun.secrets import Masker
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
from swrun.tui.preflight import PreflightScreen
from swrun.tui.screens import (
    SummaryScreen,
)
from swrun.tui.settings import TuiSettings
from swrun.tui.start import ResumeOffer, ResumeScreen, VariablesScreen
from swrun.tui.state import FAILED, RunView, earlier_activity
from swrun.tui.steps import StepTree
from swrun.variables import env_source, resolve, secret_values

FRAME = 1 / 20
"""At most this often the UI takes a batch of output from the worker."""
BURST_LINES = 200
"""Of a bigger batch, only the latest lines go to the output view (a flood scrolls past)."""


class SwrunApp(OperatorActions, App[int]):
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

    # -- starting: resume offer, variables form, then the engine -----------------------------
    @work(exclusive=True, group="start")
    async def _start(self) -> None:
        """Resume offer, variables form, then (production) the pre-flight, then the engine.
        Nothing is written before the pre-flight is passed: cancelling leaves no log. The
        runbook's lock and a resumed log's lock are held from before anything is asked; a
        step the crashed run left running is waited for or stopped only if the operator
        says so (the default, Enter, is not to start)."""
        import asyncio

        from swrun.errors import LeftoverError
        from swrun.run import (
            approvals_preflight,
            hold_runbook,
            open_run_log,
            resume_point,
            settle_leftovers,
        )
        from swrun.runlog import find_unfinished, read_log
        from swrun.tui.screens import ConfirmScreen

        s = self.settings
        rb = self.runbook
        production = needs_typed_confirmation(rb.environment)
        point = None
        lock = None
        opened = False

        def warn(text: str) -> None:
            self.notify(text, severity="warning", timeout=10)

        try:
            lock = hold_runbook(rb, self.operator_name, concurrent=s.concurrent,
                                base=s.logs_base, create=False, warn=warn)
            path: Path | None = None
            if s.resume is not None:
                path = Path(s.resume) if s.resume else find_unfinished(rb.path, s.logs_base)
                if path is None:
                    raise SwrunError(f"no unfinished run log of {rb.path} under "
                                     f"{s.logs_base}/ to resume")
            elif s.offer_resume and not s.log_path:
                found = find_unfinished(rb.path, s.logs_base)
                if found is not None:
                    offer = ResumeOffer.of(rb, read_log(found))
                    if await self.push_screen_wait(ResumeScreen(offer)):
                        path = found
            if path is not None:
                point = resume_point(rb, path, s.inventory, carry=not s.no_carry)
                for warning in point.warnings:
                    warn(warning)
                stop = wait = False
                for left in point.still_running:
                    wait = await self.push_screen_wait(ConfirmScreen(
                        f"{left.describe()} is still running", "The run that died left it "
                        "running. Starting it again beside itself could do its work twice.",
                        yes="Wait for it to end", no="Do not start"))
                    if not wait:
                        stop = await self.push_screen_wait(ConfirmScreen(
                            f"Stop {left.describe()}?", "TERM to its process group, then "
                            f"KILL after {s.kill_grace:g}s; it runs again afterwards.",
                            yes="Stop it", no="Do not start", danger=True))
                    if not (wait or stop):
                        raise LeftoverError(f"not resumed: {left.describe()} is still "
                                            f"running; nothing ran and {path} is unchanged")
                if point.leftovers:
                    if point.still_running:
                        self._status("waiting for what the crashed run left running…" if wait
                                     else "stopping what the crashed run left running…")
                    point = await asyncio.to_thread(
                        settle_leftovers, rb, point, by=self.operator_name, stop=stop,
                        wait=wait, grace=s.kill_grace)
                self._load_done(path, point.resume.done)
            env = os.environ if s.environ is None else s.environ
            cluster = await asyncio.to_thread(  # which cluster (the steps' environment's),
                kube.ready, rb, None, path if point is not None else None)  # before asking
            given = {**(point.variables if point else {}), **s.variables}
            origins = {n: "log" for n in (point.variables if point else {})
                       if n not in s.variables}  # where each value came from (the log)
            later = rollback_only(rb)  # asked when the rollback starts, if it ever does
            ask = [v for n, v in rb.variables.items() if n not in given
                   and env_source(v, env) is None and n not in later]
            if ask:
                answered = await self.push_screen_wait(VariablesScreen(ask, production))
                if answered is None:  # left the form: the operator quit (docs/cli.md: 130)
                    self._fail("not started: the variables form was left; nothing ran"
                               + ("" if point else " and no log was written"),
                               ExitCode.INTERRUPTED)
                    return
                given.update(answered)
                origins.update(dict.fromkeys(answered, "asked"))
            values = resolve(rb, given, environ=env, origins=origins, deferred=later)
            settings = Settings(
                step_mode=True, kill_grace=s.kill_grace,
                executor_settings={"inventory": s.inventory,
                                   "accept_new_host_keys": s.accept_new_host_keys,
                                   "keep_going": False,
                                   kube.KEY: cluster.run_context if cluster else None},
            )
            if point is not None:
                settings.run_id = point.run_id
            elif s.run_id:
                settings.run_id = s.run_id
            from swrun.evidence.policy import evidence_for  # signing key, approval policy

            settings.evidence = evidence_for(rb, sign_with=s.sign_with)
            approvals_preflight(rb, settings.evidence)  # four-eyes knows who the operator is
            # the engine exists before its log (open_run_log fills in settings.log_path and
            # run_dir, which it reads only when steps run), so the pre-flight can show what
            # each step will do with these values
            engine = Engine(rb, self.operator, values, settings=settings,
                            executors=self.executors or None,
                            resume=point.resume if point else None,
                            masker=Masker(secret_values(rb, values, environ=env)))
            if production and not await self.push_screen_wait(PreflightScreen(
                    engine, self.operator_name, point.resume.done if point else None,
                    resuming=point is not None, sources=values.sources, cluster=cluster)):
                self._fail("not started: the pre-flight was cancelled; nothing ran and no "
                           "log was written" if point is None else
                           f"not resumed: the pre-flight was cancelled; nothing ran and "
                           f"{path} is unchanged", ExitCode.INTERRUPTED)
                return
            if lock is None:  # no lock file yet: made now, just before the log
                lock = hold_runbook(rb, self.operator_name, concurrent=s.concurrent,
                                    base=s.logs_base, warn=warn)
            log, self.log_path = open_run_log(
                rb, settings, Path(s.log_path) if s.log_path else path,
                point.resume if point else None, self.operator_name, values, s.argv)
            if lock is not None:
                lock.update(run_id=settings.run_id, log=str(self.log_path))
            log.hold(lock)  # the runbook stays taken until the log is closed
            opened = True
        except SwrunError as exc:  # the CLI's codes; anything else went wrong with the log
            self._fail(str(exc), exit_code_for(exc, ExitCode.BAD_LOG))
            return
        finally:
            if not opened:  # whatever stopped the start gives the log and the runbook up
                if point is not None:
                    point.release()
                if lock is not None:
                    lock.release()
        self.engine = engine
        self._status("")
        self._drive(log)

    def _load_done(self, path: Path, done: Mapping[str, str]) -> None:
        """Draw what the resumed run counts as done: `done` is the engine's own view (the
        log's resume_state: nothing before a rollback counts), and a step counts only while
        its content hash is unchanged, the test Engine.run makes. Steps the old log finished
        that the engine will run again stay pending; notes and milestones are all shown."""
        from swrun.runlog import read_log

        data = read_log(path)
        self._show_earlier(data.events)
        last: dict[str, dict[str, object]] = {}
        for rec in data.events:
            kind = rec.get("type")
            if kind in ("note_added", "milestone"):
                self.view.apply(rec)
            elif kind in ("step_finished", "check_ticked", "step_skipped") and \
                    not rec.get("will_retry") and isinstance(rec.get("step"), str):
                last[str(rec["step"])] = rec
        for step in self.runbook.main_steps:
            if step.id in last and done.get(step.id) == step.content_hash:
                self.view.apply(last[step.id])
        self.view.activity = earlier_activity(data.events)  # the pane's, not the applies'
        started = str(data.run.get("started_at", ""))
        try:
            from datetime import UTC, datetime

            at = datetime.fromisoformat(started.replace("Z", "+00:00"))
            self._window_offset = max(0.0, (datetime.now(UTC) - at).total_seconds())
            # the window clock runs from the run's first start, also before it resumes
            self.view.started = self.settings.clock()
            self.header.update_clock(self._window_offset)
        except ValueError:
            pass
        self.step_tree.refresh_all()
        self._progress()
        nxt = self.view.next_unfinished()
        if nxt is not None:
            self.step_tree.select_step(nxt.id)
            self.detail.show_selected(nxt.id, None)  # the resume point, before it resumes
        self._status(f"resuming {path}" + (f" at step {nxt.number}: {nxt.title}"
                                           if nxt is not None else ": nothing left to run"))

    def _show_earlier(self, records: Iterable[Mapping[str, object]]) -> None:
        """The activity pane of a resumed run starts with the earlier part(s), from the log,
        then a divider where this part begins."""
        from datetime import UTC, datetime

        self.activity.add(earlier_activity(records))
        self.activity.divider(f"resumed at {datetime.now(UTC):%H:%M}")

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

