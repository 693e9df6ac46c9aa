"""Before the run: the resume offer and the variables form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Select

from swrun.model import Runbook, Step, Variable
from swrun.tui.plain import Plain, PlainLabel
from swrun.tui.screens import button, words
from swrun.tui.steps import ICONS
from swrun.variables import is_secret, validate_value

if TYPE_CHECKING:
    from swrun.run import Leftover
    from swrun.runlog import LogData

_TERMINAL = ("check_ticked", "step_skipped", "step_finished")
_DONE = frozenset({"ok", "ticked", "skipped"})
ENDED_NEW_RUN = frozenset({"failed", "rolled_back", "rollback_failed", "aborted"})
"""A log that ended with one of these: the offer's default (Enter) is a new run."""
_ENDED = {"failed": "failed", "rolled_back": "was rolled back",
          "rollback_failed": "failed to roll back", "aborted": "was aborted",
          "operator_needed": "stopped for an operator"}


@dataclass(frozen=True)
class ResumeOffer:
    """An unfinished log of this runbook: whose, what happened, and what resuming will do.

    `done` is what the engine will count as done: the log's resume_state (a rollback undoes
    everything before it) with the step's content hash unchanged, the same test the Engine
    makes; the tree of a resumed run is drawn from it, never from the old events alone."""

    path: str
    run: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    steps: Sequence[Step] = field(default_factory=tuple)
    """The runbook's main steps, in order."""
    done: frozenset[str] = frozenset()
    changed: tuple[str, ...] = ()
    """Steps done in the log whose text changed since: they run again."""
    leftovers: tuple[Leftover, ...] = ()
    """Steps that were running when swrun stopped, as found now (a local one that finished
    with exit 0 since counts as done, as the resume will log it)."""

    @classmethod
    def of(cls, runbook: Runbook, data: LogData) -> ResumeOffer:
        from swrun.run import find_leftovers
        from swrun.runlog import resume_state

        state = resume_state(data)
        main = runbook.main_steps
        # a remote step's hosts are not asked here (no inventory): the resume does that
        lefts = tuple(find_leftovers(data))
        finished = {left.step: left.started.get("hash") for left in lefts
                    if not left.alive and left.exit_code == 0}
        done = frozenset(s.id for s in main if state.done.get(s.id) == s.content_hash
                         or finished.get(s.id) == s.content_hash)
        changed = tuple(s.id for s in main if s.id in state.done and s.id not in done)
        return cls(str(data.path), data.run, data.events, main, done, changed, lefts)

    @property
    def ended(self) -> str | None:
        """The status the log's last run_finished gave, unless a resume came after it."""
        status = None
        for rec in self.events:
            if rec.get("type") == "run_finished":
                status = str(rec.get("status"))
            elif rec.get("type") == "run_resumed":
                status = None
        return status

    @property
    def rolled_back(self) -> bool:
        """The last part of the run (since its last resume) rolled back."""
        rolled = False
        for rec in self.events:
            if rec.get("type") == "rollback_started":
                rolled = True
            elif rec.get("type") == "run_resumed":
                rolled = False
        return rolled

    @property
    def next_step(self) -> Step | None:
        return next((s for s in self.steps if s.id not in self.done), None)

    @property
    def default_resume(self) -> bool:
        """Enter resumes a run that was left waiting; after a failure, an abort or a
        rollback it starts a new run."""
        return self.ended not in ENDED_NEW_RUN

    def _number(self, step_id: object) -> str:
        step = next((s for s in self.steps if s.id == step_id), None)
        return f"step {step.number} ({step.title})" if step is not None else str(step_id)

    def verdict(self) -> str:
        """What resuming will do, in one or two sentences."""
        nxt = self.next_step
        at = f"step {nxt.number} ({nxt.title})" if nxt is not None else "the end"
        total = len(self.steps)
        ended = self.ended
        if self.rolled_back:
            verb = "continues at" if self.done else "starts again at"
            out = (f"The last run was rolled back: resuming {verb} {at}; a rollback undoes "
                   f"what counted as done, so {len(self.done)} of {total} steps count as done.")
        else:
            if ended is not None:
                where = next((r.get("step") for r in reversed(self.events)
                              if r.get("type") == "run_finished"), None)
                head = f"The last run {_ENDED.get(ended, ended)}" + (
                    f" at {self._number(where)}" if where else "") + ". "
            elif self.leftovers:
                head = "The last run stopped while a step ran (swrun was killed, or its " \
                    "terminal was lost): " + "; ".join(
                        left.fate() for left in self.leftovers) + ". "
            else:
                head = "The last run stopped while it waited (quit or closed). "
            out = (f"{head}{len(self.done)} of {total} steps count as done; "
                   + (f"resuming continues at {at}." if nxt is not None
                      else "resuming has nothing left to run."))
        if self.changed:
            names = ", ".join(self._number(c) for c in self.changed)
            out += f" {len(self.changed)} step(s) changed since and run again: {names}."
        return out

    def activity(self) -> list[str]:
        """What the log says happened, in order: steps and who did them, notes, milestones,
        rollbacks, ends and resumes; done steps that no longer count say why."""
        last_rollback = max((i for i, r in enumerate(self.events)
                             if r.get("type") == "rollback_started"), default=-1)
        main = {s.id for s in self.steps}
        out = []
        for i, rec in enumerate(self.events):
            kind = rec.get("type")
            at = str(rec.get("at", ""))[11:16]
            who = f" by {rec['by']}" if rec.get("by") else ""
            if kind in _TERMINAL and not rec.get("will_retry"):
                status = str(rec.get("status", "ticked" if kind == "check_ticked" else "skipped"))
                step = rec.get("step")
                extra = f" (exit {rec['exit_code']})" if status not in _DONE and \
                    rec.get("exit_code") not in (None, 0) else ""
                line = (f"{at} {ICONS.get(status, '?')} {rec.get('number') or '↺':>2} "
                        f"{rec.get('title', step)} — {words(status)}{who}{extra}")
                if rec.get("note") and kind != "step_finished":
                    line += f": {rec['note']}"
                if step in main and status in _DONE:
                    line += (" · undone by the rollback" if i < last_rollback else
                             " · changed since: runs again" if step in self.changed else "")
                out.append(line)
            elif kind == "note_added":
                out.append(f"{at} ✎ {rec.get('by', '?')}: {rec.get('note', '')}")
            elif kind == "milestone":
                out.append(f"{at} ⚑ {rec.get('milestone')}{who}"
                           + (f": {rec['note']}" if rec.get("note") else ""))
            elif kind == "rollback_started":
                out.append(f"{at} ↺ rollback started{who}")
            elif kind == "run_finished":
                out.append(f"{at} ■ the run ended: {words(rec.get('status'))}")
            elif kind == "run_resumed":
                out.append(f"{at} ▶ resumed by {rec.get('operator', '?')}")
        for left in self.leftovers:
            at = str(left.started.get("at", ""))[11:16]
            out.append(f"{at} ▶ {left.fate()}")
        return out


class ResumeScreen(ModalScreen[bool]):
    """`r` resumes the unfinished run, `n` starts a new one; Enter takes the focused button,
    which is "new run" when the last run failed, was aborted or was rolled back."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "answer(True)", "Resume"),
                Binding("n", "answer(False)", "New run")]

    def __init__(self, offer: ResumeOffer) -> None:
        super().__init__(classes="dialog-screen")
        self.offer = offer

    def compose(self) -> ComposeResult:
        offer = self.offer
        run = offer.run
        ended = offer.ended
        title = (f"The last run of this runbook {_ENDED.get(ended, ended)}" if ended
                 else "An unfinished run of this runbook was found")
        nxt = offer.next_step
        with Vertical(classes="dialog -danger" if ended in ENDED_NEW_RUN else "dialog",
                      id="resume"):
            yield PlainLabel(title, classes="dialog-title")
            yield Plain(Text.assemble(
                "run ", (str(run.get("id", "?")), "bold"),
                f" started {run.get('started_at', '?')} by ",
                (str(run.get("operator", "?")), "bold"), f"\n{offer.path}"),
                classes="dialog-detail")
            yield Plain(Text(offer.verdict(), style="bold"), id="resume-verdict",
                        classes="dialog-detail")
            with VerticalScroll(id="resume-done", classes="dialog-body"):
                yield Plain("\n".join(offer.activity()) or "(nothing happened yet)")
            with Horizontal(classes="dialog-buttons"):
                yield button(f"Resume at step {nxt.number} (r)" if nxt is not None
                             else "Resume (r)", "resume-yes",
                             "primary" if offer.default_resume else "default")
                yield button("Start a new run (n)", "resume-no",
                             "default" if offer.default_resume else "primary")
            yield Plain("enter: " + ("resume" if offer.default_resume else "a new run")
                        + " · r resume · n new run", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#resume-yes" if self.offer.default_resume else "#resume-no",
                       Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "resume-yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class VariableValidator(Validator):
    """The same rules as `--var`: type, choices, pattern."""

    def __init__(self, var: Variable) -> None:
        super().__init__()
        self.var = var

    def validate(self, value: str) -> ValidationResult:
        problem = validate_value(self.var, value)
        return self.failure(problem) if problem else self.success()


class ChoiceSelect(Select[str], inherit_bindings=False):
    """A `choices` field. Enter opens the list only while nothing is chosen; with a value it
    does what Enter does in a text field (next field, or start), so Enter never just opens
    and closes the same list again."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,space,up", "show_overlay", "Show menu", show=False),
        Binding("enter", "enter", "Next", show=False)]

    class Submitted(Message):
        """Enter on a field that has its value."""

    def action_enter(self) -> None:
        if isinstance(self.value, str):
            self.post_message(self.Submitted())
        else:
            self.action_show_overlay()


class VariablesScreen(ModalScreen[dict[str, str] | None]):
    """Front-matter variables nobody gave: a select for choices, a password input for secrets.

    In production (`production`) Enter in a field moves to the next field and the form
    opens on its first field, never on the button: values the operator did not look at are
    shown again on the pre-flight screen, which is the gate that starts the run."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Quit")]

    def __init__(self, variables: Sequence[Variable], production: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self.variables = list(variables)
        self.production = production

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="variables"):
            yield PlainLabel("Variables for this run", classes="dialog-title")
            with VerticalScroll(id="variables-form"):
                for var in self.variables:
                    label = var.prompt or var.name
                    if var.description:
                        label += f" — {var.description}"
                    yield PlainLabel(f"{var.name}: {label}" if var.prompt else label,
                                classes="var-label")
                    if var.choices:
                        # the default passed in, not set after: set before mounting, the
                        # value is kept but the widget still shows its prompt
                        yield ChoiceSelect([(c, c) for c in var.choices],
                                           id=f"var-{var.name}", prompt=f"choose {var.name}",
                                           value=var.default if var.default in var.choices
                                           else Select.NULL)
                    else:
                        yield Input(var.default or "", id=f"var-{var.name}",
                                    password=is_secret(var), placeholder=var.pattern or var.type,
                                    validators=[VariableValidator(var)],
                                    valid_empty=False)
                    yield Plain("", id=f"err-{var.name}", classes="var-error")
            with Horizontal(classes="dialog-buttons"):
                yield button("Review before starting" if self.production else "Start the run",
                             "vars-ok", "primary")
                yield button("Quit", "vars-quit")
            if self.production:
                yield Plain("production: enter moves to the next field; the next screen "
                            "shows every value before anything runs", classes="dialog-hint")

    def on_mount(self) -> None:
        if self.production and self.variables:
            self.query_one(f"#var-{self.variables[0].name}").focus()
            return
        # Enter should do the obvious thing: fill in the first empty field, or start the run
        # when every field already has a value
        for var in self.variables:
            widget = self.query_one(f"#var-{var.name}")
            if not isinstance(getattr(widget, "value", None), str) or not widget.value:  # type: ignore[attr-defined]
                widget.focus()
                return
        self.query_one("#vars-ok", Button).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("var-")
        result = event.validation_result
        msg = "" if result is None or result.is_valid or not event.value else \
            "; ".join(result.failure_descriptions)
        self.query_one(f"#err-{name}", Plain).update(msg)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.production:
            self.focus_next()
            return
        self._submit()

    def on_choice_select_submitted(self, event: ChoiceSelect.Submitted) -> None:
        self.on_input_submitted(event)  # type: ignore[arg-type]  # the same: next, or start

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The focused field is scrolled into the form's view (at 100x30 with many fields
        it was below the fold), its label too."""
        widget = event.widget
        if widget.parent is not None and widget.parent.id == "variables-form":
            def show() -> None:
                label = widget.parent.children[max(0, widget.parent.children.index(widget)
                                                   - 1)] if widget.parent else widget
                label.scroll_visible(animate=False)
                widget.scroll_visible(animate=False)

            self.call_after_refresh(show)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "vars-ok":
            self._submit()
        else:
            self.dismiss(None)

    def values(self) -> tuple[dict[str, str], list[str]]:
        values: dict[str, str] = {}
        problems: list[str] = []
        for var in self.variables:
            widget = self.query_one(f"#var-{var.name}")
            if isinstance(widget, Select):
                value = widget.value if isinstance(widget.value, str) else ""
            else:
                value = widget.value  # type: ignore[attr-defined]
            problem = "required" if not value else validate_value(var, value)
            if problem:
                problems.append(f"{var.name}: {problem}")
                self.query_one(f"#err-{var.name}", Plain).update(problem)
            else:
                values[var.name] = value
        return values, problems

    def _submit(self) -> None:
        values, problems = self.values()
        if problems:
            self.notify("; ".join(problems), severity="error")
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)
