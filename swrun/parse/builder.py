"""The walk over markdown-it's tokens: headings become nested sections, task-list items
become checks, fenced blocks become steps (or reference material), `{...}` in a fence's info
string and `<!-- swrun: ... -->` comments become attributes, and every step gets a unique id."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markdown_it.token import Token

from swrun.attributes import (
    KNOWN,
    MAX_ATTRIBUTE_CHARS,
    AttributeSyntaxError,
    AttrValue,
    check_value,
    parse_attributes,
    repeated,
)
from swrun.errors import Diagnostic, Severity
from swrun.formats import runme
from swrun.frontmatter import load_front_matter, read_variables
from swrun.model import (
    PlaceholderUse,
    Runbook,
    Section,
    SourceSpan,
    Step,
    StepKind,
    Variable,
)
from swrun.parse.markdown import MAX_NESTING, _markdown
from swrun.parse.reading import (
    _Blocks,
    _inline_text,
    _lead,
    _marked_text,
    _Reading,
    _shorten,
)
from swrun.parse.source import _unread
from swrun.parse.values import _Values
from swrun.rules import statechange
from swrun.rules.fences import closed_on_a_line
from swrun.rules.sessions import Session
from swrun.rules.titles import command_title, lead_fits

_SWRUN_OPEN = re.compile(r"<!--\s*+swrun:")
_NOT_INHERITED = frozenset({"rollback", "milestone"})
_INHERITED = frozenset(k for k, s in KNOWN.items() if s.section) - _NOT_INHERITED
_PROSE_OPENERS = frozenset(
    {"paragraph_open", "bullet_list_open", "ordered_list_open", "table_open",
     "blockquote_open", "html_block", "code_block", "hr"}
)
_ROLLBACK_TITLE = re.compile(r"(?:\d+[.)]?\s*)?(?:roll(?:ing)?[ -]?back|revert(?:ing)?)\b", re.I)
_OPTIONAL_TITLE = re.compile(
    r"(?:\d+[.)]?\s*)?(?:troubleshoot\w*|debugging\b|faqs?\b|frequently asked|"
    r"appendix)", re.I)


@dataclass
class _SectionBuilder:
    title: str
    level: int
    line: int
    path: tuple[str, ...]
    attributes: dict[str, AttrValue] = field(default_factory=dict)
    prose: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    children: list[_SectionBuilder] = field(default_factory=list)
    commented: dict[str, AttrValue] = field(default_factory=dict)
    """Keys its swrun comments set (a second comment may not set one again)."""
    end_line: int = 0
    rollback: bool = False
    optional: bool = False
    choice: str = ""
    """An alternative's condition (a section titled "If …", "Option B"): its steps are asked."""
    id: str = ""

    def freeze(self, path: str) -> Section:
        return Section(
            id=self.id,
            title=self.title,
            level=self.level,
            prose="\n\n".join(self.prose),
            attributes=self.attributes,
            span=SourceSpan(path, self.line, max(self.end_line, self.line)),
            steps=tuple(self.steps),
            children=tuple(c.freeze(path) for c in self.children),
        )


class _Names:
    """Unique ids: `base`, then `base-2`, `base-3`... (the next suffix is remembered per base)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.next: dict[str, int] = {}

    def claim(self, base: str) -> str:
        candidate = base
        n = self.next.get(base, 2)
        while candidate in self.taken:
            candidate = f"{base}-{n}"
            n += 1
        self.next[base] = n
        self.taken.add(candidate)
        return candidate


class _Builder(_Blocks, _Values):
    def __init__(self, text: str, path: str,
                 failing: Mapping[int, tuple[int, str]] | None = None) -> None:
        self.failing = failing or {}
        """Fence line → bash's syntax error in the block as read (a first reading found)."""
        self.forced: set[int] = set()
        """Fence lines of blocks marked `run`: run as the author says, whatever bash says."""
        self.text = text
        self.lines = text.split("\n")
        self.path = path
        self.diags: list[Diagnostic] = []
        self.metadata: dict[str, Any] = {}
        self.variables: dict[str, Variable] = {}
        self.title: str | None = None
        self.root = _SectionBuilder("", 0, 1, ())
        self.stack: list[_SectionBuilder] = [self.root]
        self.steps: list[Step] = []
        self.ids = _Names()
        self.section_ids = _Names()
        self.pending: tuple[dict[str, AttrValue], int] | None = None
        self.after_heading = False
        self.last_text = ""
        self.number = 0
        self.h1_seen = False
        self.lead = ""
        """The paragraph just before a block, with `code` marks (for "Create `path`:")."""
        self.title_lead = ""
        self.lead_is_prose = False
        """`title_lead` is a paragraph's first sentence (not a heading, not a bold lead)."""
        self.session: tuple[Session, ...] = ()
        """The sessions steps of this section opened and no later block ended, innermost last."""
        self.task_steps = 0
        self.item_steps = 0
        self.item_inline = -1
        """The token of the numbered item's text `list_item` made a step of."""
        self.placeholder_vars: dict[str, Variable] = {}
        self.commented: set[str] = set()
        """Placeholder variables a `# NAME='<text>'` comment declared."""
        self.alt_lead = ""
        """The paragraph just before a block, for "If …"/"Alternatively"/"not recommended"."""
        self.state_patterns: list[statechange.Pattern] = []

    # -- diagnostics -------------------------------------------------------------------------
    def warn(self, message: str, line: int, col: int = 0) -> None:
        self.diags.append(Diagnostic(Severity.WARNING, message, self.path, line, col))

    def error(self, message: str, line: int, col: int = 0) -> None:
        self.diags.append(Diagnostic(Severity.ERROR, message, self.path, line, col))

    # -- walk --------------------------------------------------------------------------------
    def build(self) -> Runbook:
        tokens = self.mend(_markdown().parse(self.text))
        i = 0
        n = len(tokens)
        while i < n:
            tok = tokens[i]
            t = tok.type
            if t in ("front_matter", "toml_front_matter"):
                self.front_matter(tok)
            elif t == "heading_open":
                self.heading(tok, tokens[i + 1])
                i += 3
                continue
            elif t == "fence":
                self.fence(tok)
            elif t == "html_block" and _swrun_comments(tok.content):
                self.comment(tok)
                i += 1
                continue
            elif t == "list_item_open" and "task-list-item" in str(tok.attrGet("class") or ""):
                self.check(tok, tokens, i)
                self.task_steps += 1
            elif t == "list_item_open" and tok.markup in (".", ")"):
                self.list_item(tok, tokens, i)
            elif t == "inline" and i > 0 and tokens[i - 1].type == "paragraph_open":
                self.last_text = _inline_text(tok)
                self.lead = _marked_text(tok)
                self.title_lead = _lead(tok)
                if not (i >= 2 and "task-list-item" in str(tokens[i - 2].attrGet("class") or "")):
                    self.alt_lead = self.last_text
                first = next((c for c in tok.children or () if c.type != "text" or c.content),
                             None)  # markdown-it puts an empty text before a bold lead
                self.lead_is_prose = tokens[i - 1].level == 0 and not (  # not in a list,
                    first is not None and first.type == "strong_open")  # not bold
                self.prose_step(tok, tokens, i)
            elif t == "swrun_too_deep" and tok.map:
                first, last = tok.map[0] + 1, tok.map[1]
                lines = f"line {first}" if last <= first else f"lines {first}-{last}"
                self.error(f"nested more than {MAX_NESTING} levels deep (a list counts 2, a "
                           f"block quote 1): {lines} not read", first)
            if tok.level == 0 and t in _PROSE_OPENERS and tok.map:
                self.prose(tok, tokens, i)
            if t not in ("heading_close",):
                self.after_heading = False if t.endswith("_open") or t in (
                    "fence", "html_block", "code_block", "hr") else self.after_heading
            i += 1
        if self.pending is not None:
            self.warn("swrun comment applies to nothing (no block follows it)", self.pending[1])
        self.guard(tokens)
        return self.finish()

    def mend(self, tokens: list[Token]) -> list[Token]:
        """A fence closed at the end of a command line is an error there, and ends there:
        the line becomes a closer in the text read (no line moves), its command goes back
        into the block, and what Markdown would have swallowed is read."""
        mended: dict[int, str] = {}
        for _ in range(8):  # a swallowed part may hold another; each round mends one more
            found = closed_on_a_line(self.lines, tokens)
            if not found:
                break
            for closed in found:
                shown = closed.command if len(closed.command) <= 40 else \
                    closed.command[:39] + "…"
                mark = closed.mended.lstrip(" \t>")
                self.error(f"fence closed at the end of a command line ({shown}{mark}): "
                           f"Markdown reads on to the next fence; put {mark} on a line of its "
                           "own", closed.line + 1)
                self.lines[closed.line] = closed.mended
                mended[closed.line] = closed.command
            tokens = _markdown().parse("\n".join(self.lines))
        for tok in tokens:
            if tok.type == "fence" and tok.map and tok.map[1] - 1 in mended:
                tok.content += mended[tok.map[1] - 1] + "\n"
        return tokens

    def guard(self, tokens: list[Token]) -> None:
        """Whatever a parser limit cuts off must not vanish: every fence and task item a line
        scan of the source finds must be in what the parse read, and each one read a step."""
        tasks, fences = _unread(self.lines, tokens)
        if tasks or fences:
            parts = [_count(len(tasks), "task item"), _count(len(fences), "fenced block")]
            said = " and ".join(p for p in parts if p)
            verb = "was" if len(tasks) + len(fences) == 1 else "were"
            self.error(f"{said} {verb} not read (the Markdown parser stopped early); the first "
                       "is here", min(tasks + fences) + 1)
        read_fences = sum(t.type == "fence" for t in tokens)
        read_tasks = sum(t.type == "list_item_open" and t.attrGet("class") == "task-list-item"
                         for t in tokens)
        checks = self.task_steps
        fenced = len(self.steps) - self.task_steps - self.item_steps
        if (read_fences, read_tasks) != (fenced, checks):
            self.error(f"internal parser error ({read_fences} fenced blocks and {read_tasks} "
                       f"task items read, {len(self.steps)} steps made); please report this "
                       "runbook", 0)

    def front_matter(self, tok: Token) -> None:
        kind = "toml" if tok.type == "toml_front_matter" else "yaml"
        line = (tok.map[0] + 1) if tok.map else 1
        if tok.type == "toml_front_matter" and not tok.meta.get("closed"):
            self.error("TOML front matter opened with +++ is never closed", line)
            return
        data = load_front_matter(kind, tok.content, self.path, line, self.diags)
        self.variables = read_variables(data.pop("vars", None), self.path, line, self.diags,
                                        tok.content)
        self.metadata = data
        self.state_patterns, problem = statechange.extra_patterns(data)
        if problem:
            self.error(problem, line)
        if isinstance(data.get("title"), str) and data["title"].strip():
            self.title = data["title"].strip()

    def heading(self, tok: Token, inline: Token) -> None:
        level = int(tok.tag[1:]) if tok.tag[1:].isdigit() else 2
        title = _inline_text(inline) or f"(untitled h{level})"
        line = tok.map[0] + 1 if tok.map else 0
        self.close_sections(level, line)
        if level == 1 and not self.h1_seen and not self.root.children and not self.steps:
            self.h1_seen = True
            self.title = self.title or title
            self.after_heading = True
            self.last_text = title
            self.title_lead = title
            self.lead_is_prose = False
            return
        parent = self.stack[-1]
        sec = _SectionBuilder(title, level, line, (*parent.path, title))
        sec.id = self.section_ids.claim(_slug("/".join(_slug(p) for p in sec.path)) or "section")
        for key, value in parent.attributes.items():  # the parent's order: output is stable
            if key in _INHERITED:
                sec.attributes[key] = value
        sec.rollback = parent.rollback or self.by_title("rollback", title, _ROLLBACK_TITLE)
        sec.optional = parent.optional or (
            not sec.rollback and self.by_title("optional", title, _OPTIONAL_TITLE))
        if sec.rollback and not parent.rollback:
            sec.attributes["rollback"] = True
        sec.optional = sec.optional or (not sec.rollback and statechange.not_recommended(title))
        sec.choice = parent.choice or (title if statechange.alternative_title(title) else "")
        self.alt_lead = ""
        parent.children.append(sec)
        self.stack.append(sec)
        self.after_heading = True
        self.last_text = title
        self.title_lead = title
        self.lead_is_prose = False
        self.lead = ""
        self.session = ()
        if self.pending is not None:
            self.warn("swrun comment applies to nothing before this heading", self.pending[1])
            self.pending = None

    def by_title(self, key: str, title: str, pattern: re.Pattern[str]) -> bool:
        """Whether a section is the rollback (`key` rollback) or optional by its title: the
        front matter's `rollback`/`optional` (a title, a list of titles, or false) decides
        when it is set, else the title's first words do (Rollback…, Troubleshooting…)."""
        said = self.metadata.get(key)
        if said is False:
            return False
        if isinstance(said, str):
            said = [said]
        if isinstance(said, list):
            return title.strip().lower() in {str(t).strip().lower() for t in said}
        return bool(pattern.match(title.strip().strip("*_`")))

    def close_sections(self, level: int, line: int) -> None:
        while len(self.stack) > 1 and self.stack[-1].level >= level:
            self.stack.pop().end_line = line - 1

    def comment(self, tok: Token) -> None:
        line = tok.map[0] + 1 if tok.map else 0
        attrs: dict[str, AttrValue] = {}
        for text in _swrun_comments(tok.content):
            self.merge(attrs, self.checked(self.attributes(text, line), line, swrun=True), line)
        sec = self.stack[-1]
        if self.after_heading and sec is not self.root:
            self.merge(sec.commented, attrs, line)
            for key, value in attrs.items():
                spec = KNOWN.get(key)
                if spec is not None and not spec.section:
                    self.warn(f"attribute {key!r} does not apply to a section", line)
                    continue
                sec.attributes[key] = value
                if key == "rollback":
                    sec.rollback = value is True
                    if value is not True:
                        sec.attributes.pop(key, None)
                    else:
                        sec.optional = False
                if key == "optional":
                    sec.optional = value is True
            self.after_heading = True  # more section comments may follow
        else:
            if self.pending is not None:
                attrs = self.merge(dict(self.pending[0]), attrs, line)
            self.pending = (attrs, line)

    def merge(self, into: dict[str, AttrValue], attrs: Mapping[str, AttrValue], line: int
              ) -> dict[str, AttrValue]:
        """`attrs` added to `into`; a key both give is an error (the comments of one step or
        section in a row: the last would win without a word), and the first value stays."""
        for key, value in attrs.items():
            if key in into:
                self.error(repeated(key, _written(key, into[key]), _written(key, value)), line)
            else:
                into[key] = value
        return into

    def attributes(self, text: str, line: int) -> dict[str, AttrValue]:
        """The attributes written in `text`, unchecked; a syntax error is reported."""
        try:
            return parse_attributes(text)
        except AttributeSyntaxError as exc:
            self.error(str(exc), line)
            return {}

    def checked(self, attrs: dict[str, AttrValue], line: int, *, swrun: bool
                ) -> dict[str, AttrValue]:
        """Drop values of the wrong type or size (errors). An unknown key is an error where
        swrun reads the attributes (`swrun`: a comment, a block it runs): a typo there must not
        quietly change what runs. On a block swrun only shows, they may be another tool's."""
        previous = ""
        for key, value in list(attrs.items()):
            if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_CHARS:
                self.error(f"{key}= is longer than {MAX_ATTRIBUTE_CHARS // 1024} KB", line)
                del attrs[key]
            elif key not in KNOWN and not runme.kept(key):
                hint = ""
                first = attrs.get(previous)  # gone if it was itself refused above
                if value is True and previous in ("host", "hosts") and isinstance(first, str):
                    hint = (f" (a list of hosts is written hosts={first}:{key} or "
                            f"hosts=\"{first},{key}\")")
                (self.error if swrun else self.warn)(f"unknown attribute {key!r}{hint}", line)
            elif problem := check_value(key, value):
                self.error(problem, line)
                del attrs[key]
            previous = key
        return attrs

    def take_pending(self) -> dict[str, AttrValue]:
        if self.pending is None:
            return {}
        attrs = self.pending[0]
        self.pending = None
        return attrs

    def check(self, tok: Token, tokens: list[Token], i: int) -> None:
        line = tok.map[0] + 1 if tok.map else 0
        end = tok.map[1] if tok.map else line
        while end > line and not self.lines[end - 1].strip():  # a list's last item has the gap
            end -= 1
        inline = next((t for t in tokens[i + 1 : i + 4] if t.type == "inline"), None)
        text = _inline_text(inline) if inline is not None else ""
        checked = bool(tok.meta.get("checked"))
        own = self.take_pending()
        title = next((str(own[k]) for k in ("title", "name") if isinstance(own.get(k), str)
                      and own[k]), text or "(empty)")
        self.add_step(StepKind.CHECK, _shorten(title), text, "", own, line, end, checked)

    def title_for(self, own: Mapping[str, AttrValue], body: str, kind: StepKind) -> str:
        for key in ("title", "name"):
            given = own.get(key)
            if isinstance(given, str) and given.strip():
                return _shorten(given.strip())
        for raw in body.split("\n"):
            s = raw.strip()
            if not s or s.startswith("#!"):
                continue
            if s.startswith(("# ", "// ", "-- ")) and len(s) > 3:
                return _shorten(s[2:].strip().rstrip(":"))
            break
        if self.title_lead and self.lead_is_prose and body.strip() and kind in (
                StepKind.SHELL, StepKind.CHECK) and not lead_fits(self.title_lead, body):
            # "There is nothing to roll back…" over `systemctl stop x`
            return _shorten(command_title(body) or self.title_lead.rstrip(":").strip())
        if self.title_lead:
            return _shorten(self.title_lead.rstrip(":").strip())
        return kind.value

    def add_step(
        self, kind: StepKind, title: str, body: str, language: str,
        own: dict[str, AttrValue], line: int, end: int, checked: bool = False,
        *, read: _Reading | None = None, written: str = "",
        uses: tuple[PlaceholderUse, ...] = (),
    ) -> None:
        sec = self.stack[-1]
        lead, self.alt_lead = self.alt_lead, ""
        optional = (sec.optional or statechange.not_recommended(lead)) and \
            kind is not StepKind.REFERENCE
        if optional:  # shown with its section, never run; nothing to ask for it
            kind = StepKind.REFERENCE
            read = None
        attrs: dict[str, AttrValue] = {}
        if kind is not StepKind.REFERENCE:  # section defaults say how to run; a reference is shown
            attrs.update((k, v) for k, v in sec.attributes.items() if k in _INHERITED)
        attrs.update(own)
        attrs.pop("run", None)
        name = own.get("name")
        if isinstance(name, str) and name:
            base = _slug(name)
        else:
            base = "/".join(p for p in (_slug(s) for s in sec.path) if p)
            base = f"{base}/{_slug(title)}" if base else _slug(title)
        step_id = self.ids.claim(base or kind.value)
        number = None
        if kind is not StepKind.REFERENCE:
            self.number += 1
            number = self.number
        extra: dict[str, Any] = {}
        if read is not None:
            extra = read.fields(kind)
            for use in extra.get("placeholders", ()):
                self.placeholder_var(use)
        elif written:
            extra = {"written": written, "placeholders": uses}
            for use in uses:
                self.placeholder_var(use)
        if kind not in (StepKind.CHECK, StepKind.REFERENCE) and \
                not statechange.marked(attrs, self.metadata):
            found = statechange.state_change(kind.value, body, attrs, self.state_patterns)
            extra["confirm_inferred"] = found.command if found else ""
            extra["choice"] = sec.choice or statechange.alternative_lead(lead)
        step = Step(
            id=step_id, number=number, kind=kind, title=title, body=body, language=language,
            attributes=attrs, section=sec.path, section_id=sec.id,
            span=SourceSpan(self.path, line, max(end, line)), checked=checked,
            in_rollback=sec.rollback, optional=optional, **extra,
        )
        sec.steps.append(step)
        self.steps.append(step)

    def prose(self, tok: Token, tokens: list[Token], i: int) -> None:
        if tok.type == "html_block" and _swrun_comments(tok.content):
            return
        if tok.type in ("bullet_list_open", "ordered_list_open") and "contains-task-list" in str(
            tok.attrGet("class") or ""
        ):
            return
        start, stop = tok.map or (0, 0)
        chunk = "\n".join(self.lines[start:stop]).strip()
        if chunk:
            self.stack[-1].prose.append(chunk)

    def finish(self) -> Runbook:
        self.close_sections(0, len(self.lines))
        self.root.end_line = len(self.lines)
        title = self.title or (Path(self.path).stem if self.path else "Untitled runbook")
        self.root.title = title
        self.root.id = ""
        self.braced_placeholders()
        return Runbook(
            title=title, path=self.path, text=self.text, root=self.root.freeze(self.path),
            steps=tuple(self.steps), variables={**self.variables, **self.placeholder_vars},
            metadata=self.metadata,
        )

    def find_builder(self, section_id: str) -> _SectionBuilder | None:
        todo = [self.root]
        while todo:
            sec = todo.pop()
            if sec.id == section_id:
                return sec
            todo.extend(sec.children)
        return None


def _written(key: str, value: AttrValue) -> str:
    return key if value is True else f"{key}={str(value).lower() if value is False else value}"


def _swrun_comments(text: str) -> list[str]:
    """The text of each `<!-- swrun: … -->` in `text`. Once one has no `-->`, none after it
    has (a lazy pattern looked for it again from each later `<!-- swrun:`: quadratic)."""
    found: list[str] = []
    pos = 0
    while (m := _SWRUN_OPEN.search(text, pos)) is not None:
        end = text.find("-->", m.end())
        if end == -1:
            break
        found.append(text[m.end():end])
        pos = end + 3
    return found


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-")


def _count(n: int, what: str) -> str:
    return "" if n == 0 else f"1 {what}" if n == 1 else f"{n} {what}s"
