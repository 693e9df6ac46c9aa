"""Before the run: the resume offer and the variables form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Input, Select

from swrun.model import Variable
from swrun.tui.plain import Plain, PlainLabel
from swrun.tui.steps import ICONS
from swrun.variables import is_secret, validate_value

_DONE_TYPES = {"check_ticked": "ticked", "step_skipped": "skipped", "step_finished": None}


@dataclass(frozen=True)
class ResumeOffer:
    """An unfinished log of this runbook: where, whose, and what it finished."""

    path: str
    run: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    def done_lines(self) -> list[str]:
        out = []
        for rec in self.events:
            kind = rec.get("type")
            if kind not in _DONE_TYPES or rec.get("will_retry"):
                continue
            status = str(rec.get("status", _DONE_TYPES[kind]))
            who = f" by {rec['by']}" if rec.get("by") else ""
            at = str(rec.get("at", ""))[11:16]
            out.append(f"{ICONS.get(status, '?')} {rec.get('number') or '-':>2} "
                       f"{rec.get('title', rec.get('step'))} — {status}{who} {at}".rstrip())
        return out


class ResumeScreen(ModalScreen[bool]):
    """`r` resumes the unfinished run, `n` starts a new one."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "answer(True)", "Resume"),
                Binding("n", "answer(False)", "New run")]

    def __init__(self, offer: ResumeOffer) -> None:
        super().__init__(classes="dialog-screen")
        self.offer = offer

    def compose(self) -> ComposeResult:
        run = self.offer.run
        done = self.offer.done_lines()
        with Vertical(classes="dialog", id="resume"):
            yield PlainLabel("An unfinished run of this runbook was found", classes="dialog-title")
            yield Plain(Text.assemble(
                "run ", (str(run.get("id", "?")), "bold"),
                f" started {run.get('started_at', '?')} by ",
                (str(run.get("operator", "?")), "bold"),
                f"\n{self.offer.path}\n{len(done)} step(s) done:"), classes="dialog-detail")
            with VerticalScroll(id="resume-done"):
                yield Plain("\n".join(done) or "(nothing finished yet)")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Resume it (r)", id="resume-yes", variant="primary")
                yield Button("Start a new run (n)", id="resume-no")

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


class VariablesScreen(ModalScreen[dict[str, str] | None]):
    """Front-matter variables nobody gave: a select for choices, a password input for secrets."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Quit")]

    def __init__(self, variables: Sequence[Variable]) -> None:
        super().__init__(classes="dialog-screen")
        self.variables = list(variables)

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
                        yield Select([(c, c) for c in var.choices], id=f"var-{var.name}",
                                     prompt=f"choose {var.name}",
                                     value=var.default if var.default in var.choices
                                     else Select.NULL)
                    else:
                        yield Input(var.default or "", id=f"var-{var.name}",
                                    password=is_secret(var), placeholder=var.pattern or var.type,
                                    validators=[VariableValidator(var)],
                                    valid_empty=False)
                    yield Plain("", id=f"err-{var.name}", classes="var-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start the run", id="vars-ok", variant="primary")
                yield Button("Quit", id="vars-quit")

    def on_mount(self) -> None:
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
        self._submit()

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
