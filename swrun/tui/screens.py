"""Modal screens: prompts, confirmations (typed for production), failure choices, help, summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input

from swrun.durations import format_duration
from swrun.engine import Decision
from swrun.model import Step
from swrun.tui.plain import Plain, PlainLabel
from swrun.tui.state import RunView
from swrun.tui.steps import ICONS, timing

MILESTONES = ("detected", "acknowledged", "mitigated", "resolved")
"""What the operator marks by hand (the timeline's TTD/TTA/TTM/TTR); `started` is the run's."""


class TextPrompt(ModalScreen[str | None]):
    """One line of text (a note, a skip reason, a tick comment); Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str = "", *, allow_empty: bool = True,
                 detail: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.placeholder = placeholder
        self.allow_empty = allow_empty
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield PlainLabel(self.title_text, classes="dialog-title")
            if self.detail:
                yield Plain(self.detail, classes="dialog-detail")
            yield Input(placeholder=self.placeholder, id="prompt")
            yield Plain("enter to save · escape to cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value and not self.allow_empty:
            self.notify("please type something (escape cancels)", severity="warning")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question: `y`/enter confirms, `n`/escape declines."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, title: str, detail: str = "", yes: str = "Yes", no: str = "No",
                 *, danger: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.detail = detail
        self.yes = yes
        self.no = no
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -danger" if self.danger else "dialog"):
            yield PlainLabel(self.title_text, classes="dialog-title")
            if self.detail:
                yield Plain(self.detail, classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes",
                             variant="error" if self.danger else "primary")
                yield Button(f"{self.no} (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class TypedConfirmScreen(ModalScreen[bool]):
    """A destructive step in production: type the environment name exactly to run it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, step: Step, environment: str, what: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.step = step
        self.environment = environment
        self.what = what
        """Where it acts and what it runs, resolved."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -danger"):
            yield PlainLabel(f"⚠ Destructive step in {self.environment}", classes="dialog-title")
            yield Plain(Text.assemble(
                (f"{self.step.number}. {self.step.title}", "bold"),
                f"\n\n{self.what}" if self.what else "",
                "\n\nThis step is marked destructive. To run it, type the environment name ",
                (self.environment, "bold"), " exactly."), classes="dialog-detail")
            yield Input(placeholder=self.environment, id="typed")
            yield Plain("enter to run · escape to go back", id="typed-hint",
                         classes="dialog-hint")

    def on_input_changed(self, event: Input.Changed) -> None:
        match = event.value == self.environment
        event.input.set_class(match, "-match")
        self.query_one("#typed-hint", Plain).update(
            "enter to run" if match else "enter to run · escape to go back")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value == self.environment:
            self.dismiss(True)
        else:
            self.notify(f"type {self.environment} exactly, or escape", severity="error")

    def action_cancel(self) -> None:
        self.dismiss(False)


class FailureScreen(ModalScreen[Decision | None]):
    """A failed step: retry, skip, abort or roll back; escape closes it but the run waits."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "choose('retry')", "Retry"),
        Binding("s", "choose('skip')", "Skip"),
        Binding("a", "choose('abort')", "Abort run"),
        Binding("b", "choose('rollback')", "Roll back"),
        Binding("escape", "close", "Decide later"),
    ]

    def __init__(self, step: Step, view: RunView, can_rollback: bool) -> None:
        super().__init__(classes="dialog-screen")
        self.step = step
        self.run_view = view
        self.can_rollback = can_rollback

    def compose(self) -> ComposeResult:
        state = self.run_view.steps[self.step.id]
        what = [f"exit {state.exit_code}"] if state.exit_code is not None else []
        if state.error:
            what.append(state.error)
        took = timing(self.step, state, None)
        if took:
            what.append(f"after {took}")
        with Vertical(classes="dialog -danger", id="failure"):
            yield PlainLabel(f"✗ Step {self.step.number} failed: {self.step.title}",
                        classes="dialog-title")
            yield Plain(" · ".join(what) or state.status, classes="dialog-detail")
            tail = list(state.tail)[-8:]
            if tail:
                yield Plain(Text("\n".join(tail)), classes="dialog-output")
            yield Plain("The run waits for your decision; it never continues on its own.",
                         classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Retry (r)", id="retry", variant="primary")
                yield Button("Skip (s)", id="skip", variant="warning")
                yield Button("Abort run (a)", id="abort", variant="error")
                if self.can_rollback:
                    yield Button("Roll back (b)", id="rollback", variant="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id or "")

    def action_choose(self, choice: str) -> None:
        if choice == "rollback" and not self.can_rollback:
            self.notify("this runbook has no rollback section", severity="warning")
            return
        self.dismiss(Decision(choice))

    def action_close(self) -> None:
        self.dismiss(None)


class MilestoneScreen(ModalScreen[str | None]):
    """Mark an incident milestone for the timeline."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("d", "pick('detected')", "Detected"),
                Binding("a", "pick('acknowledged')", "Acknowledged"),
                Binding("m", "pick('mitigated')", "Mitigated"),
                Binding("r", "pick('resolved')", "Resolved"),
                Binding("escape", "pick('')", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield PlainLabel("⚑ Mark an incident milestone", classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                for name in MILESTONES:
                    yield Button(f"{name.title()} ({name[0]})", id=name)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_pick(self, name: str) -> None:
        self.dismiss(name or None)


class HelpScreen(ModalScreen[None]):
    """`?`: every key and what it does."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.keys = keys

    def compose(self) -> ComposeResult:
        text = Text()
        for key, what in self.keys:
            text.append(f"{key:>10}", style="bold")
            text.append(f"  {what}\n")
        text.append("\nCtrl+P opens the command palette: every action, and jump to any step "
                    "or section by name.\nSteps run in order; the run waits for you before "
                    "each one.")
        with Vertical(classes="dialog", id="help"):
            yield PlainLabel("swrun — keys", classes="dialog-title")
            yield Plain(text)

    def action_close(self) -> None:
        self.dismiss(None)


class SummaryScreen(ModalScreen[None]):
    """The run is over: status, counts, every step's result and time, where the log is."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back to the steps"), Binding("q", "quit", "Quit")]

    def __init__(self, view: RunView, finished: Mapping[str, Any], log_path: str) -> None:
        super().__init__(classes="dialog-screen")
        self.run_view = view
        self.finished = finished
        self.log_path = log_path

    def compose(self) -> ComposeResult:
        f = self.finished
        status = str(f.get("status"))
        counts = ", ".join(f"{n} {k}" for k, n in sorted(dict(f.get("counts", {})).items()))
        took = format_duration((f.get("duration_ms") or 0) / 1000)
        rows = Text()
        for step in self.run_view.main:
            st = self.run_view.steps[step.id]
            rows.append(f"{ICONS.get(st.status, '?')} {step.number:>2} ")
            rows.append(f"{st.status:<9} {timing(step, st, None):>14}  {step.title}\n")
        for step in self.run_view.runbook.rollback_steps:
            st = self.run_view.steps[step.id]
            if st.status != "pending":
                rows.append(f"{ICONS.get(st.status, '?')} ↺  {st.status:<9} "
                            f"{timing(step, st, None):>14}  {step.title}\n")
        ok = status == "completed"
        with Vertical(classes="dialog" if ok else "dialog -danger", id="summary"):
            yield PlainLabel(f"Run {status} in {took}", classes="dialog-title")
            detail = counts or "no steps"
            if f.get("note"):
                detail += f"\n{f['note']}"
            yield Plain(detail, classes="dialog-detail")
            with VerticalScroll(id="summary-rows"):
                yield Plain(rows)
            yield Plain(f"log: {self.log_path}", classes="dialog-hint")
            yield Plain("q quit · escape back to the steps", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)

    async def action_quit(self) -> None:
        await self.app.run_action("quit_run")
