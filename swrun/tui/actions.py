"""What the operator does in the console: answering the engine's questions, the key actions,
and jumping. A mixin of SwrunApp, kept apart so the app module stays about layout and flow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from swrun.engine import Answer, Decision, Engine
from swrun.exitcodes import ExitCode
from swrun.model import Runbook, Step, StepKind
from swrun.operators import needs_typed_confirmation
from swrun.tui.bridge import Question, TuiOperator
from swrun.tui.screens import (
    ConfirmScreen,
    FailureScreen,
    HelpScreen,
    MilestoneScreen,
    TextPrompt,
    TypedConfirmScreen,
)
from swrun.tui.state import DONE, RUNNING, RunView

if TYPE_CHECKING:
    from swrun.tui.steps import StepTree

ACTIONS = [  # key, shown as, action, footer label, what it does (help screen and palette)
    ("r", "r", "run", "Run",
     "Run the waiting step (or the selected one, skipping ahead after asking)"),
    ("space", "space", "tick", "Tick", "Tick the waiting check"),
    ("c", "c", "comment", "Comment", "Tick the waiting check with a comment"),
    ("s", "s", "skip", "Skip", "Skip the waiting step, with a reason"),
    ("R", "R", "retry", "Retry", "Retry the failed step"),
    ("a", "a", "abort", "Abort", "Abort: stop the running step and end the run"),
    ("b", "b", "rollback", "Rollback", "Roll back after a failure (the rollback section)"),
    ("n", "n", "note", "Note", "Add a timestamped note to the run log"),
    ("w", "w", "cut_wait", "End wait", "End the running wait now (logged with who and why)"),
    ("m", "m", "milestone", "Milestone",
     "Mark an incident milestone: detected, acknowledged, mitigated, resolved"),
    ("g", "g", "jump", "Jump", "Jump to a step or section"),
    ("question_mark", "?", "help", "Help", "Show the keys"),
    ("q", "q", "quit_run", "Quit", "Quit (a waiting run stays resumable with --resume)"),
]


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

    # -- answering ---------------------------------------------------------------------------
    def _answer(self, q: Question, decision: Decision, note: str = "") -> None:
        if q.answer(Answer(decision, self.operator_name, note)):
            if self.pending is q:
                self.pending = None
            self._status("")
            self.refresh_bindings()

    def _failure_modal(self, q: Question) -> None:
        def chosen(decision: Decision | None) -> None:
            if decision is None or q.answered:
                return
            if decision is Decision.SKIP:
                self._skip(q)
            elif decision is Decision.ABORT:
                self._answer(q, Decision.ABORT, f"aborted by {self.operator_name} after "
                             f"{q.step.title} failed")
            else:
                self._answer(q, decision)

        self.push_screen(FailureScreen(q.step, self.view, q.can_rollback), chosen)

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
        if what:
            detail += f"\n\n{what}"
        title = {"destructive": "⚠ Run this destructive step?",
                 "canary": "Canary hosts done: continue to the rest?"}.get(q.reason,
                                                                          "Run this step?")
        self.push_screen(ConfirmScreen(title, detail, "Run", "Not yet",
                                       danger=q.reason == "destructive"), done)

    def _skip(self, q: Question) -> None:
        def done(reason: str | None) -> None:
            if reason is not None and not q.answered:
                self._answer(q, Decision.SKIP, reason or f"skipped by {self.operator_name}")

        self.push_screen(TextPrompt(f"Skip step {q.step.number or ''}: {q.step.title}",
                                    "why? (enter for no reason)"), done)

    def _expect(self, otherwise: str, *kinds: str) -> Question | None:
        """The waiting question of one of `kinds`, or a warning saying why there is none."""
        q = self._waiting(*kinds)
        if q is None:
            self.notify(otherwise, severity="warning")
        return q

    def _waiting(self, *kinds: str) -> Question | None:
        q = self.pending
        if q is None or q.answered or (kinds and q.kind not in kinds):
            return None
        return q

    # -- actions -----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        q = self._waiting()
        enabled = {
            "tick": q is not None and q.kind == "tick",
            "comment": q is not None and q.kind == "tick",
            "skip": q is not None,
            "retry": q is not None and q.kind == "failure",
            "rollback": q is not None and q.kind == "failure" and q.can_rollback,
            "abort": not self._ended and (q is not None or self._running_step() is not None),
        }.get(action)
        return None if enabled is False else True

    def _running_step(self) -> str | None:
        cur = self.view.current
        return cur if cur and self.view.steps[cur].status == RUNNING else None

    def action_run(self) -> None:
        q = self._waiting()
        selected = self.step_tree.selected_step
        if selected is not None and (q is None or selected.id != q.step.id):
            st = self.view.steps[selected.id].status
            if st in DONE:
                self.notify(f"step {selected.number} is already {st}")
                return
            if self.view.unfinished_between(self.view.current, selected) or (
                    q is not None and selected.id != q.step.id and not selected.in_rollback):
                self.jump_to(selected.id)
                return
        if q is None:
            running = self._running_step()
            self.notify(f"step {self.steps_by_id[running].number} is running" if running
                        else "nothing is waiting to run", severity="warning")
            return
        if q.kind == "tick":
            self._answer(q, Decision.CONTINUE)
        elif q.kind == "failure":
            self._answer(q, Decision.RETRY)
        elif q.reason == "step":
            self._answer(q, Decision.CONTINUE)
        else:
            self._confirm_gate(q)

    def action_tick(self) -> None:
        q = self._expect("no check is waiting to be ticked", "tick")
        if q is not None:
            self._answer(q, Decision.CONTINUE)

    def action_comment(self) -> None:
        q = self._expect("no check is waiting to be ticked", "tick")
        if q is None:
            return

        def done(comment: str | None) -> None:
            if comment is not None and not q.answered:
                self._answer(q, Decision.CONTINUE, comment)

        self.push_screen(TextPrompt(f"Tick check {q.step.number}: {q.step.title}",
                                    "comment (enter for none)"), done)

    def action_skip(self) -> None:
        q = self._expect("nothing is waiting; a running step can be aborted (a)")
        if q is not None:
            self._skip(q)

    def action_retry(self) -> None:
        q = self._expect("no failed step to retry", "failure")
        if q is not None:
            self._answer(q, Decision.RETRY)

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
            if q is not None and not q.answered:
                self._answer(q, Decision.ABORT, note)
            elif self.engine is not None:
                self.engine.abort(note)
                self._status("aborting…")

        what = f"step {self.steps_by_id[running].number}" if running else "the run"  # type: ignore
        self.push_screen(ConfirmScreen(f"Abort {what}?", "The running step's processes are "
                                       "stopped and the run ends as aborted.", "Abort", "No",
                                       danger=True), done)

    def action_note(self) -> None:
        if self.engine is None or self._ended:
            self.notify("notes go into the run log while a run is in progress",
                        severity="warning")
            return

        def done(text: str | None) -> None:
            if text and self.engine is not None:
                self.engine.add_note(text, by=self.operator_name, step=self.view.current)
                self.notify(text, title="note")

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
            if name and self.engine is not None:
                self.engine.mark_milestone(name, by=self.operator_name)

        self.push_screen(MilestoneScreen(classes="dialog-screen"), done)

    def action_jump(self) -> None:
        self.action_command_palette()

    def action_help(self) -> None:
        self.push_screen(HelpScreen([(shown, what) for _, shown, _, _, what in ACTIONS]))

    def action_quit_run(self) -> None:
        if self.engine is None or self._ended:
            self.exit(int(self._exit_code), return_code=int(self._exit_code))
            return
        running = self._running_step()

        def done(ok: bool | None) -> None:
            if not ok:
                return
            self._quitting = True
            if running and self.engine is not None:
                self.engine.abort(f"aborted by {self.operator_name} (quit)")
            else:
                self.operator.detach()
            self._status("stopping…")

        if running:
            self.push_screen(ConfirmScreen("A step is running: abort it and quit?",
                                           "The run ends as aborted.", "Abort and quit",
                                           "No", danger=True), done)
        else:
            self.push_screen(ConfirmScreen(
                "Quit?", f"The run stays unfinished; continue later with\n"
                f"swrun run {self.runbook.path} --resume {self.log_path}", "Quit", "No"), done)

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
