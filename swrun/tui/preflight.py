"""The production pre-flight: one look at every resolved value and every step that will act,
asked once before the first step (or the first step of a resume) of a production run.

It opens before the run log exists: cancelling it runs nothing and writes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input

from swrun.engine import Engine
from swrun.kube import Cluster
from swrun.model import Step
from swrun.session import masked_variables
from swrun.tui.plain import Plain, PlainLabel
from swrun.tui.screens import button


def flags(step: Step) -> list[str]:
    return [name for name in ("destructive", "confirm") if step.flag(name)] + (
        ["confirm(inferred)"] if step.inferred else [])


class PreflightScreen(ModalScreen[bool]):
    """Type the environment name (or press Start once it is typed) to start; escape or
    Cancel leaves without running anything. Focus opens on the typing box, never on Start."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, engine: Engine, operator: str,
                 done: Mapping[str, str] | None = None, *, resuming: bool = False,
                 sources: Mapping[str, str] | None = None,
                 cluster: Cluster | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.engine = engine
        self.runbook = engine.runbook
        self.environment = engine.runbook.environment
        self.operator = operator
        self.done = dict(done or {})
        """Step id → content hash of steps a resumed log finished (the engine skips them)."""
        self._resuming = resuming or bool(self.done)
        """This continues a log (after a rollback nothing may count as done, yet it does)."""
        self.sources = dict(sources or {})
        """Where each value came from (variables.Values.sources): shown beside it, so a
        value taken from the environment cannot slip in unseen."""
        self.cluster = cluster
        """The Kubernetes context the kubectl/oc steps hit (swrun.kube), when they exist."""

    @property
    def remaining(self) -> list[Step]:
        return [s for s in self.runbook.main_steps
                if self.done.get(s.id) != s.content_hash]

    @property
    def resuming(self) -> bool:
        return self._resuming

    def summary(self) -> Text:
        """The values, then the steps that will act, where and what."""
        rb = self.runbook
        text = Text()
        values = masked_variables(rb, self.engine.variables, self.engine.masker)
        text.append("Values\n", style="bold")
        if values:
            width = max(len(n) for n in values)
            for name, value in values.items():
                text.append(f"  {name:<{width}} = ")
                text.append(f"{value}", style="bold")
                source = self.sources.get(name)
                if source:  # `env` in bold: it came from the shell, not the runbook
                    text.append(f"  ({source})", style="bold yellow"
                                if source.startswith("env") else "dim")
                text.append("\n")
        else:
            text.append("  (this runbook declares no variables)\n")
        if self.cluster is not None:  # the cluster, pinned or not, before the steps
            text.append("\nKubernetes\n", style="bold")
            text.append(f"  {self.cluster.line()}\n")
        acting = [s for s in self.remaining if s.runnable]
        text.append(f"\nSteps that act on {self.environment} ({len(acting)})\n", style="bold")
        for step in acting:
            text.append(f"  {step.number}. {step.title}")
            marks = flags(step)
            if marks:
                text.append(f"  [{', '.join(marks)}]",
                            style="bold" if "destructive" in marks else "")
            text.append("\n")
            what = self.engine.describe(step, lines=3)
            if not step.targets:
                what = "on this machine\n" + what
            for line in what.split("\n"):
                text.append(f"      {line.strip()}\n", style="dim")
        if not acting:
            text.append("  (none: only checks are left)\n")
        if rb.rollback_steps:
            text.append(f"\nIf it rolls back: {len(rb.rollback_steps)} rollback step(s), "
                        "each asked first.\n")
        return text

    def compose(self) -> ComposeResult:
        remaining = self.remaining
        first = remaining[0] if remaining else None
        if self.resuming:
            where = (f"resuming at step {first.number} ({first.title})" if first is not None
                     else "resuming: nothing is left to run")
            title = f"⚠ Resuming a {self.environment} run"
        else:
            where = "nothing has run yet; no log is written until you start"
            title = f"⚠ A run in {self.environment}: check before the first step"
        with Vertical(classes="dialog -danger", id="preflight"):
            yield PlainLabel(title, classes="dialog-title")
            yield Plain(Text.assemble((self.runbook.title, "bold"),
                                      f" · {self.environment} · {self.operator}\n{where}"),
                        classes="dialog-detail")
            with VerticalScroll(id="preflight-body", classes="dialog-body"):
                yield Plain(self.summary())
            yield Input(placeholder="type the environment name to start", id="preflight-typed")
            with Horizontal(classes="dialog-buttons"):
                start = button("Start", "preflight-start", "error")
                start.disabled = True
                yield start
                yield button("Cancel (escape)", "preflight-cancel")
            yield Plain(f"type {self.environment}, enter: start · escape: leave, nothing runs",
                        id="preflight-hint", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#preflight-typed", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        match = event.value == self.environment
        event.input.set_class(match, "-match")
        self.query_one("#preflight-start", Button).disabled = not match

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value == self.environment:
            self.dismiss(True)
        else:
            self.notify(f"type {self.environment} exactly to start, or escape to leave",
                        severity="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "preflight-start":
            self.dismiss(self.query_one("#preflight-typed", Input).value == self.environment)
        else:
            self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)
