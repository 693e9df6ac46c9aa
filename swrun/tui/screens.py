"""Modal screens: prompts, confirmations (typed for production), failure choices, help, summary."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from rich.table import Table
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

WORDS = {
    "completed": "completed", "failed": "failed", "rolled_back": "rolled back",
    "rollback_failed": "rollback failed", "aborted": "aborted",
    "operator_needed": "stopped for an operator", "timed_out": "timed out", "ok": "ok",
    "ticked": "ticked", "skipped": "skipped", "dry_run": "dry run", "pending": "pending",
    "waiting": "waiting", "running": "running",
}
"""Every run and step status in the words the operator reads."""


def words(status: object) -> str:
    """`rolled_back` → `rolled back`: a status as the console says it."""
    text = str(status)
    return WORDS.get(text, text.replace("_", " "))


def hhmm(at: str) -> str:
    """`2026-11-22T06:12:00.000Z` → `06:12` (UTC, as the log has it)."""
    return at[11:16] if len(at) >= 16 else at


def button(label: str, id: str, variant: str = "default") -> Button:
    """A one-line dialog button (compact: every dialog's buttons fit an 80x24 terminal)."""
    return Button(label, id=id, variant=variant, compact=True)  # type: ignore[arg-type]


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
    """A yes/no question: `y` confirms, `n`/escape declines. It opens with **No** focused, so
    Enter alone declines; `default_yes` is for the one question where Enter is safe (the
    plain "Run this step?" the operator opened with `r` on the waiting step)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, title: str, detail: str = "", yes: str = "Yes", no: str = "No",
                 *, danger: bool = False, default_yes: bool = False,
                 key_guard: float = 0.0) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.detail = detail
        self.yes = yes
        self.no = no
        self.danger = danger
        self.default_yes = default_yes
        self.key_guard = key_guard
        """Seconds after opening during which yes is not taken (no is, at once)."""
        self._opened = 0.0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -danger" if self.danger else "dialog"):
            yield PlainLabel(self.title_text, classes="dialog-title")
            if self.detail:
                with VerticalScroll(classes="dialog-body"):
                    yield Plain(self.detail, classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                yield button(f"{self.yes} (y)", "yes", "error" if self.danger else "primary")
                yield button(f"{self.no} (n)", "no")

    def on_mount(self) -> None:
        self._opened = time.monotonic()
        self.query_one("#yes" if self.default_yes else "#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        if value and time.monotonic() - self._opened < self.key_guard:
            self.notify("this question was shown just now: nothing was taken; read it, "
                        "then answer", severity="warning")
            return
        self.dismiss(value)


class QuitScreen(ConfirmScreen):
    """The one quit question (`q`, ctrl+q, ctrl+c); a second quit key while it is open
    does not stack another."""


class RetryScreen(ConfirmScreen):
    """Run a failed step again? (No focused); a second `r` while it is open stacks nothing."""


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
            with VerticalScroll(classes="dialog-body"):
                yield Plain(Text.assemble(
                    (f"{self.step.number}. {self.step.title}", "bold"),
                    f"\n\n{self.what}" if self.what else "",
                    "\n\nThis step is marked destructive. To run it, type the environment "
                    "name ", (self.environment, "bold"), " exactly."), classes="dialog-detail")
            # the placeholder never shows the answer: it must be typed, not read off the box
            yield Input(placeholder="type the environment name", id="typed")
            yield Plain("enter to run · escape to go back", id="typed-hint",
                         classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#typed", Input).focus()  # not the scrolling text above it

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


KEY_GUARD = 0.6
"""Seconds after the failure dialog opens during which its keys are not taken: it opens by
itself, and letters typed for something else (a note) must not retry, skip or roll back."""


class FailureScreen(ModalScreen[Decision | None]):
    """A failed step: retry, skip, abort or roll back; escape closes it but the run waits.

    It opens by itself, perhaps while the operator is typing, so no choice is focused:
    Enter does nothing, each choice takes its own key (or a click)."""

    AUTO_FOCUS = None

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "choose('retry')", "Retry"),
        Binding("s", "choose('skip')", "Skip"),
        Binding("a", "choose('abort')", "Abort run"),
        Binding("b", "choose('rollback')", "Roll back"),
        Binding("escape", "close", "Decide later"),
    ]

    def __init__(self, step: Step, view: RunView, can_rollback: bool,
                 key_guard: float = KEY_GUARD) -> None:
        super().__init__(classes="dialog-screen")
        self.step = step
        self.run_view = view
        self.can_rollback = can_rollback
        self.key_guard = key_guard

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
                with VerticalScroll(classes="dialog-body"):
                    yield Plain(Text("\n".join(tail)), classes="dialog-output")
            yield Plain("The run waits for your decision; it never continues on its own. "
                        "Nothing is running: abort ends the run as failed.",
                        classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield button("Retry (r)", "retry", "primary")
                yield button("Skip (s)", "skip", "warning")
                yield button("Abort run (a)", "abort", "error")
                if self.can_rollback:
                    yield button("Roll back (b)", "rollback", "error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id or "")

    def on_mount(self) -> None:
        self._opened = time.monotonic()

    def action_choose(self, choice: str) -> None:
        if time.monotonic() - getattr(self, "_opened", 0.0) < self.key_guard:
            key, verb = ("b", "roll back") if choice == "rollback" else (choice[:1], choice)
            self.notify(f"the failure was shown just now: press {key} again to {verb}",
                        severity="warning")
            return
        if choice == "rollback" and not self.can_rollback:
            self.notify("this runbook has no rollback section", severity="warning")
            return
        self.dismiss(Decision(choice))

    def action_close(self) -> None:
        self.dismiss(None)


MILESTONE_KEYS = "1234"
"""The milestone dialog's keys, one per MILESTONES entry: digits, which no run key uses, so
a run key typed into the dialog (`m`, `r`, `a`) marks nothing."""


class MilestoneScreen(ModalScreen[str | None]):
    """Mark an incident milestone for the timeline; it lists what is already marked."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(key, f"pick('{name}')", name.title())
          for key, name in zip(MILESTONE_KEYS, MILESTONES, strict=True)),
        Binding("escape", "pick('')", "Cancel")]
    AUTO_FOCUS = ""
    """No button is focused: Enter (or space) right after `m` marks nothing."""

    def __init__(self, marked: Mapping[str, str] | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.marked = dict(marked or {})
        """Milestone name → when it was first marked (RFC 3339)."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="milestones"):
            yield PlainLabel("⚑ Mark an incident milestone", classes="dialog-title")
            done = [f"⚑ {name} at {hhmm(at)}" for name, at in
                    sorted(self.marked.items(), key=lambda item: item[1])]
            yield Plain("already marked: " + ", ".join(done) if done else
                        "nothing is marked yet", classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                for key, name in zip(MILESTONE_KEYS, MILESTONES, strict=True):
                    label = f"{name.title()} ({key})"
                    yield button(f"✓ {label}" if name in self.marked else label, name)
            yield Plain("1-4 marks · escape to cancel", classes="dialog-hint")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_pick(self, name: str) -> None:
        self.dismiss(name or None)


def out_of_order(name: str, marked: Mapping[str, str]) -> list[str]:
    """The milestones before `name` (in MILESTONES order) that are not marked yet."""
    if name not in MILESTONES:
        return []
    return [m for m in MILESTONES[:MILESTONES.index(name)] if m not in marked]


class HelpScreen(ModalScreen[None]):
    """`?`: every key and what it does."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))  # a long description wraps under itself
        table.add_column(justify="right", style="bold", no_wrap=True)
        table.add_column()
        for key, what in self.keys:
            table.add_row(Text(key), Text(what))
        with Vertical(classes="dialog", id="help"):
            yield PlainLabel("swrun — keys", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Plain(table)
                yield Plain("Ctrl+P opens the command palette: every action, and jump to any "
                            "step or section by name. Steps run in order; the run waits for "
                            "you before each one.", classes="dialog-detail help-more")
            yield Plain("escape, q or ? closes this", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)


def activity_lines(view: RunView) -> list[str]:
    """Who did what by hand: ticks and skips with their notes, then notes and milestones."""
    out = []
    for step in (*view.main, *view.runbook.rollback_steps):
        st = view.steps[step.id]
        if st.by and st.status in ("ticked", "skipped"):
            line = f"{ICONS.get(st.status, '?')} {step.number or '↺'}. {step.title} — " \
                   f"{words(st.status)} by {st.by}"
            out.append(line + (f": {st.note}" if st.note else ""))
    out += [f"{hhmm(n.at)} {n.by}: {n.text}" for n in view.notes]
    return out


class SummaryScreen(ModalScreen[None]):
    """The run is over: status, time, counts, every step's result and time, who did what,
    and where the log is."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back to the steps"), Binding("q", "quit", "Quit")]

    def __init__(self, view: RunView, finished: Mapping[str, Any], log_path: str) -> None:
        super().__init__(classes="dialog-screen")
        self.run_view = view
        self.finished = finished
        self.log_path = log_path

    def title_text(self) -> str:
        """`Run completed · 3m10s active, 1h02m since it first started` when the log has the
        whole run's times, else `Run completed in 7.5s` (this part's time)."""
        f = self.finished
        status = words(f.get("status"))
        active, wall = f.get("active_ms"), f.get("wall_ms")
        if isinstance(active, int | float) and isinstance(wall, int | float) and \
                wall - active >= 1000:  # resumed after a pause: both times mean something
            return (f"Run {status} · {format_duration(active / 1000)} active, "
                    f"{format_duration(wall / 1000)} since it first started")
        return f"Run {status} in {format_duration((f.get('duration_ms') or 0) / 1000)}"

    def compose(self) -> ComposeResult:
        f = self.finished
        counts = ", ".join(f"{n} {words(k)}" for k, n in sorted(dict(f.get("counts", {})).items()))
        never = len(self.run_view.main) - sum(dict(f.get("counts", {})).values())
        if counts and never > 0:  # a run that stopped early: the steps it never reached
            counts += f", {never} not run"
        rolled = dict(f.get("rollback_counts") or {})
        if rolled:
            counts += ("; " if counts else "") + "rollback: " + ", ".join(
                f"{n} {words(k)}" for k, n in sorted(rolled.items()))
        rows = Text()
        for step in self.run_view.main:
            st = self.run_view.steps[step.id]
            rows.append(f"{ICONS.get(st.status, '?')} {step.number:>2} ")
            rows.append(f"{words(st.status):<9} {timing(step, st, None):>14}  {step.title}\n")
        for step in self.run_view.runbook.rollback_steps:
            st = self.run_view.steps[step.id]
            if st.status != "pending":
                rows.append(f"{ICONS.get(st.status, '?')} ↺  {words(st.status):<9} "
                            f"{timing(step, st, None):>14}  {step.title}\n")
        did = activity_lines(self.run_view)
        if did:
            rows.append("\nActivity\n", style="bold")
            rows.append("\n".join(did))
        ok = f.get("status") == "completed"
        with Vertical(classes="dialog" if ok else "dialog -danger", id="summary"):
            yield PlainLabel(self.title_text(), classes="dialog-title")
            detail = counts or "no steps"
            if f.get("note"):
                detail += f"\n{f['note']}"
            yield Plain(detail, classes="dialog-detail")
            with VerticalScroll(id="summary-rows", classes="dialog-body"):
                yield Plain(rows)
            yield Plain(f"log: {self.log_path}", classes="dialog-hint")
            yield Plain("q quit · escape back to the steps", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)

    async def action_quit(self) -> None:
        await self.app.run_action("quit_run")
