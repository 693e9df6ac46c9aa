"""The right pane: the selected step's section prose, code, hosts and timing, and its output."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.cells import cell_len, chop_cells
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Log, Markdown

from swrun.durations import format_duration
from swrun.model import Section, Step, StepKind
from swrun.tui.hostgrid import HostGrid
from swrun.tui.plain import Plain
from swrun.tui.state import RunView
from swrun.tui.steps import ICONS, timing
from swrun.words import plural

VIEW_LINES = 1000
"""Lines the output view keeps; older lines are in the step's sidecar file."""
_LEXERS = {"console": "bash", "zsh": "bash", "sh": "bash", "shell": "bash"}


def where(step: Step, resolve: Callable[[str], str] | None = None) -> str:
    """Where a step acts, as the operator should read it (variables filled in when known)."""
    if step.targets:
        targets = resolve(step.targets) if resolve is not None else step.targets
        return f"on {targets}" + (f" ({step.targets})" if targets != step.targets else "")
    if step.kind is StepKind.ANSIBLE:
        limit = step.text("limit")
        if not limit:
            return "on the playbook's hosts"
        shown = resolve(limit) if resolve is not None else limit
        return f"on {shown} (playbook limit" + (f" {limit})" if shown != limit else ")")
    if step.kind is StepKind.SHELL:
        return "on this machine"
    return "from this machine"  # API calls: MongoDB, AWS, HTTP, waits


def wait_seconds(step: Step, resolve: Callable[[str], str] | None = None) -> float | None:
    """How long a wait step waits in all (its lines added up), or None if unknown."""
    if step.kind is not StepKind.WAIT:
        return None
    from swrun.ops import OpError
    from swrun.ops.wait import parse

    try:
        return sum(w.seconds for w in parse(resolve(step.body) if resolve else step.body))
    except (OpError, ValueError):
        return None


def countdown(step: Step, view: RunView, resolve: Callable[[str], str] | None = None) -> str:
    """`4m12s left of 15m` for a running wait; empty otherwise."""
    elapsed = view.elapsed(step.id)
    total = wait_seconds(step, resolve) if elapsed is not None else None
    if elapsed is None or not total:
        return ""
    return f"{format_duration(max(0.0, total - elapsed))} left of {format_duration(total)}"


def step_meta(step: Step, view: RunView, resolve: Callable[[str], str] | None = None) -> Text:
    state = view.steps[step.id]
    text = Text()
    text.append(f"{ICONS.get(state.status, '?')} {state.status}", style="bold")
    took = timing(step, state, view.elapsed(step.id))
    if took:
        text.append(f"  ⏱ {took}")
    left = countdown(step, view, resolve)
    if left:
        text.append(f"  ⏳ {left}", style="bold")
    text.append(f"  · {step.kind.value}")
    if step.kind is not StepKind.CHECK:
        text.append(f" {where(step, resolve)}")
    flags = [k for k in ("confirm", "destructive") if step.flag(k)]
    if step.inferred:
        flags.append(f"confirm(inferred: {step.inferred})")
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
        self._steps = {s.id: s for s in view.runbook.actionable}
        self.resolve: Callable[[str], str] | None = None
        """Fills in the run's variables (secrets masked) once the engine runs."""
        self._wrap_width = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="about"):
            yield Plain("", id="step-title")
            yield Plain("", id="step-meta")
            yield Plain("", id="code")  # what runs comes before the prose around it
            yield Markdown("", id="prose")
        yield HostGrid()  # a fan-out over GRID_MIN_HOSTS hosts: one cell per host
        yield Plain("output", id="output-title")
        yield Log(max_lines=VIEW_LINES, id="output")

    def show_selected(self, step_id: str | None, section_id: str | None) -> None:
        """Show what the tree selected: a step, or a section."""
        if step_id is not None:
            step = self._steps.get(step_id)
            if step is not None:
                self.show_step(step)
        elif section_id is not None:
            section = self.run_view.runbook.find_section(section_id)
            if section is not None:
                self.show_section(section)

    def show_section(self, section: Section) -> None:
        self.step = None
        self.query_one("#step-title", Plain).update(Text(section.title, style="bold"))
        self.query_one("#step-meta", Plain).update(
            plural(sum(1 for s in section.walk() for st in s.steps if st.actionable), "step"))
        self._prose(section)
        self.query_one("#code", Plain).display = False
        self._fill_output(None)

    def show_step(self, step: Step, *, force: bool = False) -> None:
        self.step = step
        number = f"{step.number}. " if step.number is not None else ""
        self.query_one("#step-title", Plain).update(Text(number + step.title, style="bold"))
        self.refresh_meta()
        section = self.run_view.runbook.find_section(step.section_id)
        if section is not None:
            self._prose(section)
        code = self.query_one("#code", Plain)
        if step.kind is StepKind.CHECK and not step.manual:
            code.display = False
        else:
            code.display = True
            lexer = _LEXERS.get(step.language, step.language or "text")
            body = self.resolve(step.body) if self.resolve is not None else step.body
            code.update(Syntax(body.rstrip("\n"), lexer, theme="ansi_dark",
                               background_color="default", word_wrap=True))
        self._fill_output(step.id, force=force)

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
            self.query_one("#step-meta", Plain).update(
                step_meta(self.step, self.run_view, self.resolve))

    def _width(self) -> int:
        return max(20, self.query_one("#output", Log).scrollable_content_region.width - 1)

    def on_resize(self) -> None:
        if self._wrap_width and self._width() != self._wrap_width:
            self._fill_output(self._output_step, force=True)

    def _fill_output(self, step_id: str | None, *, force: bool = False) -> None:
        if step_id == self._output_step and not force:
            return
        self._output_step = step_id
        log = self.query_one("#output", Log)
        log.clear()
        self._wrap_width = self._width()
        if step_id is not None:
            log.write_lines(wrap(self.run_view.steps[step_id].tail, self._wrap_width))
        self.query_one(HostGrid).reset(self.run_view.steps[step_id].tail if step_id else (),
                                       fan_out=bool(self.step and self.step.targets))
        title = "output"
        if step_id is not None and self.step is not None:
            title = f"output · {self.step.number or '↺'}. {self.step.title}"
        self.query_one("#output-title", Plain).update(title)

    def write_output(self, step_id: str, lines: list[str]) -> None:
        """Lines the step printed since the last frame (the view keeps the last VIEW_LINES)."""
        if step_id == self._output_step and lines:
            self.query_one("#output", Log).write_lines(wrap(lines[-VIEW_LINES:],
                                                            self._wrap_width or self._width()))
            self.query_one(HostGrid).feed(lines)


def wrap(lines: Iterable[str], width: int) -> list[str]:
    """Long lines cut into rows of `width` cells, continuation rows marked `↪ `, so a wide
    table or a long error is read whole instead of cut off at the pane's edge."""
    out: list[str] = []
    for line in lines:
        if len(line) <= width and (line.isascii() or cell_len(line) <= width):
            out.append(line)
            continue
        first, *rest = chop_cells(line, width)
        out.append(first)
        for part in chop_cells("".join(rest), width - 2) if rest else ():
            out.append("↪ " + part)
    return out
