"""The runbook as pure data: Runbook, Section, Step, Variable, SourceSpan (frozen dataclasses)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from swrun.attributes import AttrValue
from swrun.durations import parse_duration


class StepKind(StrEnum):
    CHECK = "check"
    SHELL = "shell"
    ANSIBLE = "ansible"
    PM2 = "pm2"
    MONGO = "mongo"
    AWS = "aws"
    HTTP = "http"
    WAIT = "wait"
    REFERENCE = "reference"


SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "zsh", "console"})
TYPED_LANGUAGES = frozenset({"ansible", "pm2", "mongo", "aws", "http", "wait"})
SH_FAMILY = frozenset({"bash", "sh", "zsh", "dash", "ksh", "mksh"})
"""Interpreters (a `shell=` value's program name) that read sh syntax: swrun's preamble,
placeholders, carried state and pinned kubectl work in them."""


@dataclass(frozen=True)
class SourceSpan:
    """Where something sits in the runbook file (1-based, inclusive lines)."""

    path: str
    line: int
    end_line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Variable:
    """A declared runbook variable; its value reaches steps as an environment variable."""

    name: str
    type: str = "string"
    """One of string, int, float, bool, duration."""
    prompt: str = ""
    default: str | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    secret: bool = False
    source: str | None = None
    """`env:NAME`: take the value from the environment when not given with --var."""
    description: str = ""
    placeholder: str = ""
    """Not declared: made from a placeholder in a step (`<pod>`, `YOUR_TOKEN`, `${NAME}` that
    nothing sets), as written there; the value is asked for like a required variable's."""
    line: int = 0
    """For a placeholder's variable: the line it was first found on."""

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class PlaceholderUse:
    """A placeholder in a step's body and the variable that now fills it."""

    text: str
    """As written: `<pod>`, `YOUR_TOKEN`, `{{region}}`, `=...`, `${NAME}`."""
    name: str
    line: int
    """File line."""
    fillable: bool = True
    """False in a quoted here-document: left as written (and reported by `swrun check`)."""
    choices: tuple[str, ...] = ()
    """`[user|group]`: the values it may take (the variable's choices)."""


@dataclass(frozen=True)
class Step:
    """One thing to do: a check to tick, a block to run, or reference material to show."""

    id: str
    """Stable slug (section path + title), unique in the runbook."""
    number: int | None
    """1-based position among actionable steps; None for reference blocks."""
    kind: StepKind
    title: str
    body: str
    """Code of a block, or the text of a check item."""
    language: str
    """The fence language as written (`bash`, `yaml`, ...), empty for checks."""
    attributes: Mapping[str, AttrValue]
    """Effective attributes: the block's own over its sections' defaults."""
    section: tuple[str, ...]
    """Titles of the enclosing sections, outermost first (the runbook title excluded)."""
    section_id: str
    span: SourceSpan
    checked: bool = False
    """A check written as `- [x]` in the file (informational; it is still asked)."""
    in_rollback: bool = False
    """The step belongs to the rollback section: it runs only when a rollback is run."""
    manual: str = ""
    """A check made from a command a person must run (not empty: why — `no language`,
    `opens an editor`, `never ends (…)`, `typed in the session step N opened: …`, `typed in
    psql (by its prompt …)`, `bash -n rejects it (…)`, `a transcript: …`, `list item`): the
    body is the command to show; the operator runs it and ticks."""
    optional: bool = False
    """A block of an optional section (Troubleshooting, FAQ…): shown, never run."""
    lines: tuple[int, ...] = ()
    """File line of each body line, when they are not consecutive from the fence (a
    transcript whose output was dropped); empty otherwise."""
    prompts: tuple[int, ...] = ()
    """File lines whose `$ `/`# ` prompt was stripped."""
    placeholders: tuple[PlaceholderUse, ...] = ()
    written: str = ""
    """The body as written in the file, when swrun changed it (prompts dropped, placeholders
    rewritten, a file-writing script made); empty otherwise."""
    confirm_inferred: str = ""
    """A state-changing command the step runs (`kubectl delete pod web-0`) that the author
    did not mark (`confirm`, `confirm=false`, `unattended`): swrun asks before it, and
    headless `--yes` does not answer for it (`--confirm STEP` does)."""
    choice: str = ""
    """The condition of an alternative the step sits under (`If the pod is stuck`): asked
    like `confirm_inferred`, so alternatives are never run one after the other."""

    @property
    def inferred(self) -> str:
        """Why swrun asks before this step though the author did not say to; empty when it
        does not."""
        why = [f"`{self.confirm_inferred}`" if self.confirm_inferred else "",
               f"a choice: {self.choice}" if self.choice else ""]
        return "; ".join(w for w in why if w)

    def body_line(self, offset: int) -> int:
        """The file line of line `offset` (0-based) of the body."""
        if self.lines and 0 <= offset < len(self.lines):
            return self.lines[offset]
        return self.span.line + 1 + offset

    @property
    def runnable(self) -> bool:
        return self.kind not in (StepKind.CHECK, StepKind.REFERENCE)

    @property
    def actionable(self) -> bool:
        return self.kind is not StepKind.REFERENCE

    def flag(self, key: str) -> bool:
        return self.attributes.get(key) is True

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.attributes.get(key)
        return value if isinstance(value, str) else default

    def seconds(self, key: str, default: float | None = None) -> float | None:
        value = self.attributes.get(key)
        if not isinstance(value, str):
            return default
        try:
            return parse_duration(value)
        except ValueError:
            return default

    def integer(self, key: str, default: int = 0) -> int:
        value = self.attributes.get(key)
        return int(value) if isinstance(value, str) and value.isdigit() else default

    @property
    def targets(self) -> str | None:
        """The host pattern the step runs on, or None for a local step."""
        return self.text("host") or self.text("hosts")

    @cached_property
    def content_hash(self) -> str:
        """Changes when what the step does changes; resume re-runs such steps."""
        h = hashlib.sha256()
        h.update(self.kind.value.encode())
        h.update(b"\0" + self.body.encode())
        for key in sorted(self.attributes):
            h.update(f"\0{key}={self.attributes[key]!r}".encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Section:
    """A heading and what sits under it; sections nest by heading level."""

    id: str
    title: str
    level: int
    prose: str
    """The section's own Markdown text (paragraphs, lists, tables, quotes), not its blocks."""
    attributes: Mapping[str, AttrValue]
    span: SourceSpan
    steps: tuple[Step, ...] = ()
    children: tuple[Section, ...] = ()

    @property
    def rollback(self) -> bool:
        return self.attributes.get("rollback") is True

    def walk(self) -> Iterator[Section]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class Runbook:
    """A parsed runbook: front-matter settings, the section tree and every step in order."""

    title: str
    path: str
    text: str
    root: Section
    """The document itself; its children are the `##` (or top) sections."""
    steps: tuple[Step, ...]
    """Every step in file order, reference blocks included."""
    variables: Mapping[str, Variable] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Front matter as written (title, description, environment, window, inventory, ...)."""

    @cached_property
    def base_dir(self) -> Path:
        """Resolved once: a later chdir (ansible-runner makes one) cannot move it."""
        return Path(self.path).resolve().parent if self.path else Path.cwd()

    @property
    def environment(self) -> str:
        return str(self.metadata.get("environment", "") or "")

    @property
    def description(self) -> str:
        return str(self.metadata.get("description", "") or "")

    @property
    def window(self) -> float | None:
        value = self.metadata.get("window")
        if value is None:
            return None
        try:
            return parse_duration(str(value))
        except ValueError:
            return None

    @property
    def inventory(self) -> str | None:
        value = self.metadata.get("inventory")
        return str(value) if value else None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @cached_property
    def actionable(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.actionable)

    @cached_property
    def main_steps(self) -> tuple[Step, ...]:
        """Actionable steps of the normal pass (rollback sections excluded)."""
        return tuple(s for s in self.steps if s.actionable and not s.in_rollback)

    @cached_property
    def rollback_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.actionable and s.in_rollback)

    @property
    def sections(self) -> tuple[Section, ...]:
        return self.root.children

    def find(self, ref: str) -> Step | None:
        """A step by number (`5`), id, or name/title (case-insensitive)."""
        ref = ref.strip()
        if ref.isdigit():
            n = int(ref)
            return next((s for s in self.steps if s.number == n), None)
        for s in self.steps:
            if s.id == ref:
                return s
        low = ref.lower()
        for s in self.steps:
            if s.text("name", "").lower() == low or s.title.lower() == low:
                return s
        return None

    def find_section(self, ref: str) -> Section | None:
        low = ref.strip().lower()
        for sec in self.root.walk():
            if sec.id == ref or sec.title.lower() == low:
                return sec
        return None
