"""The right pane: the selected step's section prose, code, hosts and timing, and its output."""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Log, Markdown

from swrun.model import Section, Step, StepKind
from swrun.tui.plain import Plain
from swrun.tui.state import RunView
from swrun.tui.steps import ICONS, timing

VIEW_LINES = 1000
"""Lines the output view keeps; older lines are in the step's sidecar file."""
_LEXERS = {"console": "bash", "zsh": "bash", "sh": "bash", "shell": "bash"}


def where(step: Step) -> str:
    """Where a step acts, as the operator should read it."""
    if step.targets:
        return f"on {step.targets}"
    if step.kind is StepKind.ANSIBLE:
        limit = step.text("limit")
        return f"on {limit} (playbook limit)" if limit else "on the playbook's hosts"
    if step.kind is StepKind.SHELL:
        return "on this machine"
    return "from this machine"  # API calls: MongoDB, AWS, HTTP, waits


def step_meta(step: Step, view: RunView) -> Text:
    state = view.steps[step.id]
    text = Text()
    text.append(f"{ICONS.get(state.status, '?')} {state.status}", style="bold")
    took = timing(step, state, view.elapsed(step.id))
    if took:
        text.append(f"  ⏱ {took}")
    text.append(f"  · {step.kind.value}")
    if step.kind is not StepKind.CHECK:
        text.append(f" {where(step)}")
    flags = [k for k in ("confirm", "destructive") if step.flag(k)]
    for key in ("timeout", "retries", "on_failure"):
        if step.text(key):
            flags.append(f"{key}={step.text(key)}")
    if flags:
        text.append("  · " + " ".join(flags))
    if state.by:
        text.append(f"\n{state.status} by {state.by}" + (f": {state.note}" if state.note else ""))
    if state.exit_code is not None and state.status != "ok":
        text.append(f"\nexit {state.exit_code}")
    if state.error:
        text.append(f"  {state.error}")
    return text


class StepDetail(Vertical):
    """Prose and code on top, the live output below."""

    def __init__(self, view: RunView) -> None:
        super().__init__(id="detail")
        self.run_view = view
        self.step: Step | None = None
        self._section: str | None = None
        self._output_step: str | None = "-"

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="about"):
            yield Plain("", id="step-title")
            yield Plain("", id="step-meta")
            yield Markdown("", id="prose")
            yield Plain("", id="code")
        yield Plain("output", id="output-title")
        yield Log(max_lines=VIEW_LINES, id="output")

    def show_section(self, section: Section) -> None:
        self.step = None
        self.query_one("#step-title", Plain).update(Text(section.title, style="bold"))
        self.query_one("#step-meta", Plain).update(
            f"{sum(1 for s in section.walk() for st in s.steps if st.actionable)} steps")
        self._prose(section)
        self.query_one("#code", Plain).display = False
        self._fill_output(None)

    def show_step(self, step: Step) -> None:
        self.step = step
        number = f"{step.number}. " if step.number is not None else ""
        self.query_one("#step-title", Plain).update(Text(number + step.title, style="bold"))
        self.refresh_meta()
        section = self.run_view.runbook.find_section(step.section_id)
        if section is not None:
            self._prose(section)
        code = self.query_one("#code", Plain)
        if step.kind is StepKind.CHECK:
            code.display = False
        else:
            code.display = True
            lexer = _LEXERS.get(step.language, step.language or "text")
            code.update(Syntax(step.body.rstrip("\n"), lexer, theme="ansi_dark",
                               background_color="default", word_wrap=True))
        self._fill_output(step.id)

    def _prose(self, section: Section) -> None:
        if section.id != self._section:
            self._section = section.id
            heading = " › ".join((*self._titles(section),))
            self.query_one("#prose", Markdown).update(
                f"**{heading}**\n\n{section.prose}".rstrip())

    def _titles(self, section: Section) -> list[str]:
        parts = section.id.split("/")
        out = []
        for i in range(1, len(parts) + 1):
            sec = self.run_view.runbook.find_section("/".join(parts[:i]))
            if sec is not None:
                out.append(sec.title)
        return out or [section.title]

    def refresh_meta(self) -> None:
        if self.step is not None:
            self.query_one("#step-meta", Plain).update(step_meta(self.step, self.run_view))

    def _fill_output(self, step_id: str | None) -> None:
        if step_id == self._output_step:
            return
        self._output_step = step_id
        log = self.query_one("#output", Log)
        log.clear()
        if step_id is not None:
            log.write_lines(self.run_view.steps[step_id].tail)
        title = "output"
        if step_id is not None and self.step is not None:
            title = f"output · {self.step.number or '↺'}. {self.step.title}"
        self.query_one("#output-title", Plain).update(title)

    def write_output(self, step_id: str, lines: list[str]) -> None:
        """Lines the step printed since the last frame (the view keeps the last VIEW_LINES)."""
        if step_id == self._output_step and lines:
            self.query_one("#output", Log).write_lines(lines[-VIEW_LINES:])
