"""What the operator does in the console: answering the engine's questions, the key actions,
and jumping. A mixin of SwrunApp, kept apart so the app module stays about layout and flow."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from swrun.engine import Answer, Decision, Engine
from swrun.exitcodes import ExitCode
from swrun.model import Runbook, Step, StepKind
from swrun.operators import needs_typed_confirmation
from swrun.tui.bridge import Question, TuiOperator
from swrun.tui.hints import run_command
from swrun.tui.screens import (
    ConfirmScreen,
    FailureScreen,
    HelpScreen,
    MilestoneScreen,
    QuitScreen,
    RetryScreen,
    TextPrompt,
    TypedConfirmScreen,
    hhmm,
    out_of_order,
)
from swrun.tui.settings import ANSWER_GUARD as ANSWER_GUARD  # its old place
from swrun.tui.state import DONE, RUNNING, RunView

if TYPE_CHECKING:
    from swrun.tui.settings import TuiSettings
    from swrun.tui.steps import StepTree

ACTIONS = [  # key, shown as, action, footer label, what it does (help screen and palette)
    ("r", "r", "run", "Run",
     "Run the waiting step; on a later step, jump there (asks first)"),
    ("space", "space", "tick", "Tick", "Tick the waiting check"),
    ("c", "c", "comment", "Comment", "Tick the waiting check with a comment"),
    ("s", "s", "skip", "Skip", "Skip the waiting step, with a reason"),
    ("R", "R", "retry", "Retry",
     "Retry the failed step (asks first unless the step is retry_safe)"),
    ("a", "a", "abort", "Abort", "Abort: stop the running step and end the run"),
    ("b", "b", "rollback", "Rollback", "Roll back after a failure (the rollback section)"),
    ("n", "n", "note", "Note", "Add a timestamped note to the run log"),
    ("w", "w", "cut_wait", "End wait", "End the running wait now (logged with who and why)"),
    ("m", "m", "milestone", "Milestone",
     "Mark a milestone: 1 detected, 2 acknowledged, 3 mitigated, 4 resolved"),
    ("y", "y", "copy", "Copy",
     "Copy the selected command, values filled in (secrets stay $NAME)"),
    ("g", "g", "jump", "Jump", "Jump to a step or section"),
    ("question_mark", "?", "help", "Help", "Show the keys"),
    ("q", "q", "quit_run", "Quit",
     "Quit, after asking (ctrl+q and ctrl+c too); a waiting run stays resumable with --resume"),
]


FOOTER_HIDDEN = frozenset({"comment", "retry", "cut_wait", "jump", "copy"})
"""Keys left out of the footer so the rest fit 80 columns; `?` and the palette list them,
and the status line names them when they apply (c at a check, R at a failure, w in a wait)."""


class OperatorActions:
    """Key actions and answers; SwrunApp provides the state below and the App methods."""

    runbook: Runbook
    view: RunView
    steps_by_id: dict[str, Step]
    operator: TuiOperator
    operator_name: str
    engine: Engine | None
    pending: Question | None
    log_path: Path | None
    step_tree: StepTree
    follow: bool
    _ended: bool
    _quitting: bool
    _exit_code: ExitCode
    settings: TuiSettings
    _answered_step: str | None
    _shown_at: float
    """When the waiting question was put on screen (time.monotonic())."""
    _hold: str | None

    # -- answering ---------------------------------------------------------------------------
    def _answer(self, q: Question, decision: Decision, note: str = "") -> None:
        if q.answer(Answer(decision, self.operator_name, note)):
            if self.pending is q:
                self.pending = None
            self._answered_step = q.step.id
            if self._hold == q.step.id:
                self._hold = None  # the operator decided what follows the failure
            self._status("")

    def _failure_modal(self, q: Question) -> None:
        def chosen(decision: Decision | None) -> None:
            if decision is None or q.answered:
                return
            if decision is Decision.SKIP:
                self._skip(q)
            elif decision is Decision.ABORT:  # both ask again, No focused: the dialog opened
                self.action_abort()           # by itself, maybe under a typing operator
            elif decision is Decision.ROLLBACK:
                self.action_rollback()
            elif decision is Decision.RETRY:
                self._retry(q)
            else:
                self._answer(q, decision)

        self.push_screen(FailureScreen(q.step, self.view, q.can_rollback,
                                       self.settings.failure_key_guard), chosen)

    def _confirm_gate(self, q: Question) -> None:
        def done(ok: bool | None) -> None:
            if q.answered:
                return
            if ok:
                self._answer(q, Decision.CONTINUE)
            elif q.reason == "canary":
                self._answer(q, Decision.ABORT, "canary not confirmed")
            else:
                self._status(f"step {q.step.number} not run — r to try again, s to skip")

        env = self.runbook.environment
        what = self.engine.describe(q.step) if self.engine is not None else ""
        if q.reason == "destructive" and needs_typed_confirmation(env):
            self.push_screen(TypedConfirmScreen(q.step, env, what), done)
            return
        detail = f"{q.step.number}. {q.step.title}"
        if q.reason == "inferred":  # the author did not mark it: say why swrun asks
            detail += f"\n\nasked because: inferred: {q.step.inferred}"
        if what:
            detail += f"\n\n{what}"
        title = {"destructive": "⚠ Run this destructive step?",
                 "canary": "Canary hosts done: continue to the rest?"}.get(q.reason,
                                                                          "Run this step?")
        # Enter runs the step only at the plain "Run this step?" the operator opened with r
        # on the waiting step; a destructive step or the canary question opens on "Not yet"
        self.push_screen(ConfirmScreen(title, detail, "Run", "Not yet",
                                       danger=q.reason == "destructive",
                                       default_yes=q.reason == "confirm",
                                       key_guard=self.settings.answer_guard), done)

    def _skip(self, q: Question) -> None:
        def done(reason: str | None) -> None:
            if reason is not None and not q.answered:
                self._answer(q, Decision.SKIP, reason or f"skipped by {self.operator_name}")

        self.push_screen(TextPrompt(f"Skip step {q.step.number or ''}: {q.step.title}",
                                    "why? (enter for no reason)"), done)

    def _waiting(self, *kinds: str) -> Question | None:
        q = self.pending
        if q is None or q.answered or (kinds and q.kind not in kinds):
            return None
        return q

    def _key_target(self, key: str, action: str, kinds: tuple[str, ...],
                    what: str) -> Question | None:
        """The question `key` answers: the waiting one, when it is the selected step, of one
        of `kinds`, and has been on screen for ANSWER_GUARD seconds. A key pressed while no
        question is shown answers nothing later (it is never kept for the next question:
        that one was not on screen when it was pressed); one line says why nothing
        happened."""
        q = self._waiting()
        selected = self.step_tree.selected_step
        if q is None:
            running = self._running_step()
            if running is not None:
                step = self.steps_by_id[running]
                self.notify(f"step {step.number or '↺'} is running; {key} {what} once "
                            "it is waiting (a aborts the running step)", severity="warning")
            elif self._ended or self.engine is None:
                self.notify("the run is over" if self._ended else "the run has not started",
                            severity="warning")
            else:
                self.notify(f"nothing is waiting for {key} yet: the next step is on its way; "
                            f"{key} was not kept for it", severity="warning")
            return None
        n = q.step.number or "↺"
        if selected is not None and selected.id != q.step.id:
            st = self.view.steps[selected.id].status
            self.notify(f"{key} {what}: that is step {n} ({q.step.title}), not the selected "
                        f"step {selected.number or '↺'} ({st}); select step {n} first",
                        severity="warning")
            return None
        if q.kind not in kinds:
            asked = {"tick": f"check {n} is waiting to be ticked (space)",
                     "failure": f"step {n} failed: R retries, s skips, a aborts",
                     "confirm": f"step {n} is waiting to run (r)"}[q.kind]
            self.notify(f"{key} {what}, but {asked}", severity="warning")
            return None
        if q.kind != "failure" and self._just_shown():
            name = f"check {n}" if q.kind == "tick" else f"step {n}"
            self.notify(f"{name} was shown just now: {key} was not taken; read it, then "
                        f"press {key}", severity="warning")
            return None
        return q

    def _just_shown(self) -> bool:
        """The waiting question has been on screen for less than the answer guard."""
        return time.monotonic() - self._shown_at < self.settings.answer_guard

    # -- actions -----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # every key stays live: a key that cannot act now says why in one line, never nothing
        return True

    def _running_step(self) -> str | None:
        cur = self.view.current
        return cur if cur and self.view.steps[cur].status == RUNNING else None

    def action_run(self) -> None:
        q = self._waiting()
        selected = self.step_tree.selected_step
        in_transit = q is None and selected is not None and selected.id in (
            self._answered_step, self._running_step())  # a key for the next question
        if selected is not None and (q is None or selected.id != q.step.id) and not in_transit:
            st = self.view.steps[selected.id].status
            if st in DONE:
                self.notify(f"step {selected.number or '↺'} is already {st}; steps run once, "
                            "in order", severity="warning")
                return
            if self.view.unfinished_between(self.view.current, selected) or (
                    q is not None and not selected.in_rollback and self._ahead(selected)):
                self.jump_to(selected.id)
                return
            if q is not None or self._running_step() is not None:
                at = q.step if q is not None else self.steps_by_id[self._running_step() or ""]
                self.notify(f"step {selected.number or '↺'} ({st}) is not next: the run is at "
                            f"step {at.number or '↺'}; steps run in order and never go back",
                            severity="warning")
                return
        q = self._key_target("r", "run", ("tick", "confirm", "failure"), "runs the waiting step")
        if q is None:
            return
        if q.kind == "tick":
            self._answer(q, Decision.CONTINUE)
        elif q.kind == "failure":
            self._retry(q)
        elif q.reason == "step":
            self._answer(q, Decision.CONTINUE)
        else:
            self._confirm_gate(q)

    def _ahead(self, step: Step) -> bool:
        """`step` comes after the step the run is at, in the main pass."""
        ids = [s.id for s in self.view.main]
        cur = self.view.current
        return step.id in ids and cur in ids and ids.index(step.id) > ids.index(cur)

    def action_tick(self) -> None:
        q = self._key_target("space", "tick", ("tick",), "ticks the waiting check")
        if q is not None:
            self._answer(q, Decision.CONTINUE)

    def action_comment(self) -> None:
        q = self._key_target("c", "comment", ("tick",), "ticks the waiting check with a comment")
        if q is None:
            return

        def done(comment: str | None) -> None:
            if comment is not None and not q.answered:
                self._answer(q, Decision.CONTINUE, comment)

        self.push_screen(TextPrompt(f"Tick check {q.step.number}: {q.step.title}",
                                    "comment (enter for none)"), done)

    def action_skip(self) -> None:
        q = self._key_target("s", "skip", ("tick", "confirm", "failure"), "skips the waiting step")
        if q is not None:
            self._skip(q)

    def action_retry(self) -> None:
        q = self._key_target("R", "retry", ("failure",), "retries a failed step")
        if q is not None:
            self._retry(q)

    def _retry(self, q: Question) -> None:
        """Run a failed step again: at once when it is marked `retry_safe`, else after a
        question whose default is No (a repeated `r` must not run it twice)."""
        if q.step.flag("retry_safe"):
            self._answer(q, Decision.RETRY)
            return

        def done(ok: bool | None) -> None:
            if ok and not q.answered:
                self._answer(q, Decision.RETRY)

        if isinstance(self.screen, RetryScreen):
            return  # already asking
        self.push_screen(RetryScreen(
            f"Run step {q.step.number or '↺'} again?",
            f"{q.step.title} failed. Running it again repeats whatever part of it already "
            "happened; mark the step retry_safe to retry without this question.",
            "Retry", "No", danger=True, key_guard=self.settings.answer_guard), done)

    def action_rollback(self) -> None:
        q = self._waiting("failure")
        if q is None or not q.can_rollback:
            self.notify("rolling back is offered when a step fails and the runbook has a "
                        "rollback section", severity="warning")
            return

        def done(ok: bool | None) -> None:
            if ok and not q.answered:
                self._answer(q, Decision.ROLLBACK, f"{q.step.title} failed; rolled back by "
                             f"{self.operator_name}")

        steps = len(self.runbook.rollback_steps)
        self.push_screen(ConfirmScreen("↺ Run the rollback section?",
                                       f"{steps} rollback step(s); each still waits for you",
                                       "Roll back", "No", danger=True), done)

    def action_abort(self) -> None:
        if self._ended or self.engine is None:
            self.notify("no run in progress", severity="warning")
            return
        q = self._waiting()
        running = self._running_step()

        def done(ok: bool | None) -> None:
            if not ok:
                return
            note = f"aborted by {self.operator_name}"
            if q is not None and q.kind == "failure":
                note += f" after {q.step.title} failed"
            if q is not None and not q.answered:
                self._answer(q, Decision.ABORT, note)
            elif self.engine is not None:
                self.engine.abort(note)
                self._status("aborting…")

        if running:
            step = self.steps_by_id[running]
            title = f"Abort step {step.number or '↺'}?"
            detail = (f"{step.title} is running: its processes are stopped and the run ends "
                      "as aborted.")
            yes = "Abort"
        elif q is not None and q.kind == "failure":  # the engine ends this run as failed
            title = "End the run here?"
            detail = (f"Step {q.step.number or '↺'} ({q.step.title}) failed; nothing is "
                      "running. The run ends as failed, at this step.")
            yes = "End the run"
        else:
            at = f"step {q.step.number or '↺'} ({q.step.title})" if q is not None else \
                "the next step"
            title = "Abort the run?"
            detail = (f"Nothing is running; {at} has not started. The run ends as aborted "
                      "here.")
            yes = "Abort"
        self.push_screen(ConfirmScreen(title, detail, yes, "No", danger=True), done)

    def action_note(self) -> None:
        if self.engine is None or self._ended:
            self.notify("notes go into the run log while a run is in progress",
                        severity="warning")
            return

        def done(text: str | None) -> None:
            if text and self.engine is not None:
                self.engine.add_note(text, by=self.operator_name, step=self.view.current)

        self.push_screen(TextPrompt("Add a note to the run log", "what happened?",
                                    allow_empty=False), done)

    def action_cut_wait(self) -> None:
        running = self._running_step()
        if self.engine is None or running is None or \
                self.steps_by_id[running].kind is not StepKind.WAIT:
            self.notify("no wait is running", severity="warning")
            return

        def done(reason: str | None) -> None:
            if reason is not None and self.engine is not None:
                self.engine.cut_short(self.operator_name, reason)

        self.push_screen(TextPrompt("End the wait now?", "why (optional)",
                                    detail="The wait step ends as ok; the log records who "
                                    "cut it short, when and why."), done)

    def action_milestone(self) -> None:
        if self.engine is None or self._ended:
            self.notify("milestones are marked while a run is in progress", severity="warning")
            return

        def done(name: str | None) -> None:
            if not name or self.engine is None:
                return
            at = self.view.milestones.get(name)
            if at is not None:  # marked once is marked: the timeline keeps the first time
                self.notify(f"{name} was already marked at {hhmm(at)}")
                return
            before = out_of_order(name, self.view.milestones)
            if not before:
                self.engine.mark_milestone(name, by=self.operator_name)
                return

            def confirmed(ok: bool | None) -> None:
                if ok and self.engine is not None and name not in self.view.milestones:
                    self.engine.mark_milestone(name, by=self.operator_name)

            self.push_screen(ConfirmScreen(
                f"Mark {name} before {', '.join(before)}?",
                f"{', '.join(before).capitalize()} {'is' if len(before) == 1 else 'are'} "
                f"not marked yet: the timeline will have {name} first. Each milestone is "
                "marked once; the first mark stays.", f"Mark {name}", "No",
                key_guard=self.settings.answer_guard), confirmed)

        self.push_screen(MilestoneScreen(self.view.milestones), done)

    def action_copy(self) -> None:
        step = self.step_tree.selected_step
        if step is None or not (step.runnable or step.manual):
            self.notify("select a command step (or a manual step) to copy its command",
                        severity="warning")
            return
        if self.engine is not None:
            text = self.engine.resolve_text(step.body, secrets_as_refs=True)
        else:
            text = step.body
        self.copy_to_clipboard(text.rstrip("\n") + "\n")
        self.notify(f"copied the command of step {step.number or '↺'} (values filled in; "
                    "secrets stay $NAME for your shell)", title="copied")

    def action_jump(self) -> None:
        self.action_command_palette()

    def action_help(self) -> None:
        self.push_screen(HelpScreen([(shown, what) for _, shown, _, _, what in ACTIONS]))

    def action_quit_run(self) -> None:
        """`q`, ctrl+q and ctrl+c: once the run is over, leave with its exit code; before
        that, ask (No focused). Quitting a waiting run leaves it resumable (130); a running
        step is aborted (the run's code); before the run started nothing ran (130)."""
        if self._ended:
            self.exit(int(self._exit_code), return_code=int(self._exit_code))
            return
        if self._quitting or isinstance(self.screen, QuitScreen):
            return  # asked already, or on its way out
        running = self._running_step()

        def done(ok: bool | None) -> None:
            if not ok or self._ended:
                return
            if self.engine is None:  # still at the resume offer, the form or the pre-flight
                self._fail("not started: quit before the run started; nothing ran",
                           ExitCode.INTERRUPTED)
                return
            self._quitting = True
            if self._running_step() and self.engine is not None:
                self.engine.abort(f"aborted by {self.operator_name} (quit)")
            else:
                self.operator.detach()
            self._status("stopping…")

        if self.engine is None:
            self.push_screen(QuitScreen("Quit?", "Nothing has run yet; no log is changed.",
                                        "Quit", "No"), done)
        elif running:
            self.push_screen(QuitScreen("A step is running: abort it and quit?",
                                        "The run ends as aborted.", "Abort and quit",
                                        "No", danger=True), done)
        else:
            self.push_screen(QuitScreen(
                "Quit?", f"The run stays unfinished; continue later with\n"
                f"{run_command(self.runbook.path, self.settings, self.log_path)}", "Quit",
                "No"), done)

    # -- jumping -----------------------------------------------------------------------------
    def jump_to(self, ref: str) -> None:
        """Select a step or section; if it lies ahead, offer to skip the steps before it."""
        target = self.steps_by_id.get(ref)
        if target is None:
            section = self.runbook.find_section(ref)
            if section is None:
                return
            self.step_tree.select_step(section.id)
            first = next((s for sec in section.walk() for s in sec.steps
                          if s.actionable and self.view.steps[s.id].status not in DONE), None)
            if first is None:
                return
            target = first
        self.follow = False
        self.step_tree.select_step(target.id)
        if self._ended or self.engine is None:
            return
        between = self.view.unfinished_between(self.view.current, target)
        if self._running_step() and between and between[0].id == self.view.current:
            between = between[1:]
        if not between:
            self.follow = True
            return
        names = "\n".join(f"  {s.number}. {s.title}" for s in between[:8])
        if len(between) > 8:
            names += f"\n  … and {len(between) - 8} more"

        def done(ok: bool | None) -> None:
            self.follow = True
            if ok:
                self.operator.jump(target.id, f"skipped: {self.operator_name} jumped to step "
                                   f"{target.number}")

        self.push_screen(ConfirmScreen(
            f"Skip {len(between)} unfinished step(s) to jump to step {target.number}?",
            names, "Skip them", "No"), done)
