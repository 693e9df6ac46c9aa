"""The left pane: the section tree with every step's status icon, duration and target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from swrun.durations import format_duration
from swrun.model import Section, Step
from swrun.tui.state import PENDING, RUNNING, WAITING, RunView, StepState

ICONS = {
    PENDING: "○", WAITING: "▶", RUNNING: "⟳", "ok": "✓", "ticked": "☑", "failed": "✗",
    "timed_out": "⏱", "skipped": "↷", "aborted": "■", "dry_run": "·",
}
_THEME = {  # status → theme variable the icon is drawn in
    WAITING: "accent", RUNNING: "accent", "ok": "success", "ticked": "success",
    "failed": "error", "timed_out": "error", "aborted": "error", "skipped": "warning",
}


def overran(step: Step, state: StepState, elapsed: float | None) -> bool:
    target = step.seconds("target")
    if target is None:
        return False
    took = elapsed if elapsed is not None else (
        state.duration_ms / 1000 if state.duration_ms is not None else None)
    return took is not None and took > target


def timing(step: Step, state: StepState, elapsed: float | None) -> str:
    """`12.0s`, `12.0s/30s`, `45.0s/30s overrun`."""
    took = elapsed if elapsed is not None else (
        state.duration_ms / 1000 if state.duration_ms is not None else None)
    target = step.seconds("target")
    parts = format_duration(took) if took is not None else ""
    if target is not None:
        parts = f"{parts or '–'}/{format_duration(target)}"
        if overran(step, state, elapsed):
            parts += " overrun"
    return parts


class StepTree(Tree[str]):
    """Sections as branches, actionable steps as leaves; node data is a step or section id."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "app.tick", "Tick", key_display="space")]

    @dataclass
    class Selected(Message):
        """The operator moved to another step (or section)."""

        tree: StepTree
        step_id: str | None
        section_id: str | None

    def __init__(self, view: RunView) -> None:
        super().__init__(view.runbook.title, id="steps")
        self.run_view = view
        self.show_root = False
        self.guide_depth = 2
        self._step_nodes: dict[str, TreeNode[str]] = {}
        self._section_nodes: dict[str, TreeNode[str]] = {}
        self._step_by_id = {s.id: s for s in view.runbook.actionable}
        for step in view.runbook.root.steps:  # steps under the title, before any section
            if step.actionable:
                self._step_nodes[step.id] = self.root.add_leaf(self._label(step), data=step.id)
        for section in view.runbook.sections:
            self._add(self.root, section)
        self.root.expand_all()

    def _add(self, parent: TreeNode[str], section: Section) -> None:
        if not any(s.actionable for sec in section.walk() for s in sec.steps):
            return
        node = parent.add(self._section_label(section), data=f"section:{section.id}")
        self._section_nodes[section.id] = node
        for step in section.steps:
            if step.actionable:
                self._step_nodes[step.id] = node.add_leaf(self._label(step), data=step.id)
        for child in section.children:
            self._add(node, child)

    def _section_label(self, section: Section, room: int | None = None) -> Text:
        suffix = " ↺ rollback" if section.rollback else ""
        title = section.title
        if room is not None and len(title) + len(suffix) > room:
            title = title[:max(4, room - len(suffix)) - 1].rstrip() + "…"
        label = Text(title, style="bold")
        if suffix:
            label.append(suffix, style="italic")
        return label

    def _colour(self, name: str) -> Style:
        colour = self.app.theme_variables.get(name) if self.is_attached else None
        return Style(color=colour) if colour else Style()

    def _room(self, step_id: str) -> int | None:
        """Cells a step's row has after the tree's guides (None before the first layout)."""
        width = self.scrollable_content_region.width if self.is_attached else 0
        node = self._step_nodes.get(step_id)
        if width <= 0 or node is None:
            return None
        return width - self.guide_depth * self._depth(node) - 1

    def _depth(self, node: TreeNode[str]) -> int:
        """Levels between `node` and the hidden root (its guides' width, in guide_depth)."""
        depth, parent = 0, node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        return depth

    def _label(self, step: Step) -> Text:
        state = self.run_view.steps[step.id]
        elapsed = self.run_view.elapsed(step.id)
        icon = ICONS.get(state.status, "?")
        text = Text()
        theme = _THEME.get(state.status)
        text.append(icon, style=self._colour(theme) if theme else Style(dim=True))
        text.append(f" {step.number:>2} " if step.number is not None else "    ")
        took = timing(step, state, elapsed)
        took = f"  {took}" if took else ""
        title = step.title
        room = self._room(step.id)
        if room is not None:  # the time and target stay whole; a long title gives way
            fit = max(4, room - text.cell_len - len(took))
            if len(title) > fit:
                title = title[:fit - 1].rstrip() + "…"
        text.append(title, style=Style(bold=step.id == self.run_view.current))
        if took:
            warn = overran(step, state, elapsed)
            text.append(took, style=self._colour("warning") if warn else Style(dim=True))
        return text

    def on_resize(self) -> None:
        self.refresh_all()
        width = self.scrollable_content_region.width
        for section_id, node in self._section_nodes.items():
            section = self.run_view.runbook.find_section(section_id)
            if section is None or width <= 0:
                continue
            node.set_label(self._section_label(
                section, width - self.guide_depth * self._depth(node) - 3))

    def refresh_step(self, step_id: str) -> None:
        node = self._step_nodes.get(step_id)
        if node is not None and step_id in self._step_by_id:
            node.set_label(self._label(self._step_by_id[step_id]))

    def refresh_all(self) -> None:
        for step_id in self._step_nodes:
            self.refresh_step(step_id)

    def on_mount(self) -> None:
        self.refresh_all()

    def select_step(self, step_id: str) -> None:
        node = self._step_nodes.get(step_id) or self._section_nodes.get(step_id)
        if node is not None:
            self.move_cursor(node, animate=False)
            self.scroll_to(y=max(0, node.line - self.scrollable_content_region.height // 3),
                           animate=False)

    @property
    def selected_step(self) -> Step | None:
        node = self.cursor_node
        if node is None or node.data is None or node.data.startswith("section:"):
            return None
        return self._step_by_id.get(node.data)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        event.stop()
        data = event.node.data or ""
        if data.startswith("section:"):
            self.post_message(self.Selected(self, None, data.removeprefix("section:")))
        else:
            self.post_message(self.Selected(self, data, None))
