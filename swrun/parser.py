"""Markdown → Runbook: the only module that walks markdown-it tokens.

Headings become nested sections, task-list items become checks, fenced blocks become steps
(or reference material), `{...}` in a fence's info string and `<!-- swrun: ... -->` comments
become attributes. Problems are collected as Diagnostics; nothing but RunbookError escapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from swrun.attributes import KNOWN, AttributeSyntaxError, AttrValue, check_value, parse_attributes
from swrun.errors import Diagnostic, RunbookError, Severity
from swrun.frontmatter import load_front_matter, read_variables, toml_front_matter_plugin
from swrun.model import (
    SHELL_LANGUAGES,
    TYPED_LANGUAGES,
    Runbook,
    Section,
    SourceSpan,
    Step,
    StepKind,
    Variable,
)

_SWRUN_COMMENT = re.compile(r"<!--\s*swrun:(.*?)-->", re.DOTALL)
_NOT_INHERITED = frozenset({"rollback", "milestone"})
_INHERITED = frozenset(k for k, s in KNOWN.items() if s.section) - _NOT_INHERITED
_INTERPRETERS = {
    "python": "python3", "python3": "python3", "py": "python3",
    "javascript": "node", "js": "node", "node": "node",
    "ruby": "ruby", "rb": "ruby", "perl": "perl", "fish": "fish", "ksh": "ksh", "dash": "dash",
}
_PROSE_OPENERS = frozenset(
    {"paragraph_open", "bullet_list_open", "ordered_list_open", "table_open",
     "blockquote_open", "html_block", "code_block", "hr"}
)
_TITLE_MAX = 80


@dataclass(frozen=True)
class ParseResult:
    runbook: Runbook
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.WARNING)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    from mdit_py_plugins.front_matter import front_matter_plugin

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.use(front_matter_plugin).use(toml_front_matter_plugin)
    md.core.ruler.after("inline", "swrun_tasklists", _tasklists)
    return md


_TASK_MARK = re.compile(r"\[([ xX])\][ \t\n\v\f\r]+")  # GFM: `[ ]`/`[x]` then whitespace


def _tasklists(state: StateCore) -> None:
    """Mark GFM task items: `task-list-item` on the item, `meta["checked"]`, mark stripped.

    The same tokens as mdit-py-plugins' tasklists plugin minus the checkbox HTML, in one pass:
    that plugin searches back for each item's list, which is quadratic in a long checklist.
    """
    tokens = state.tokens
    lists: list[Token] = []
    for i, tok in enumerate(tokens):
        t = tok.type
        if t in ("bullet_list_open", "ordered_list_open"):
            lists.append(tok)
        elif t in ("bullet_list_close", "ordered_list_close"):
            if lists:
                lists.pop()
        elif (t == "inline" and i >= 2 and tokens[i - 1].type == "paragraph_open"
              and tokens[i - 2].type == "list_item_open"):
            m = _TASK_MARK.match(tok.content)
            if m is None:
                continue
            item = tokens[i - 2]
            item.attrSet("class", "task-list-item")
            item.meta["checked"] = m.group(1) != " "
            if lists:
                lists[-1].attrSet("class", "contains-task-list")
            tok.content = tok.content[3:]
            if tok.children and tok.children[0].type == "text":
                tok.children[0].content = tok.children[0].content[3:]


def load_runbook(path: str | Path, *, strict: bool = False) -> Runbook:
    """Read and parse a runbook file; raise RunbookError on the first error."""
    result = parse_file(path, strict=strict)
    if result.errors:
        refuse(result.errors, path)
    return result.runbook


def refuse(errors: Sequence[Diagnostic], path: str | Path) -> NoReturn:
    """Raise the first error as one line, with a count of the rest and where to see them."""
    err = RunbookError.from_diagnostic(errors[0])
    if len(errors) > 1:
        err.args = (f"{err.args[0]} (and {len(errors) - 1} more; run `swrun check {path}`)",)
    raise err


def read_text(path: str | Path) -> str:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise RunbookError("no such file", str(path)) from None
    except IsADirectoryError:
        raise RunbookError("is a directory, not a runbook file", str(path)) from None
    except OSError as exc:
        raise RunbookError(f"cannot read: {exc.strerror}", str(path)) from None
    nul = data.find(b"\0")
    if nul != -1:  # no Markdown file holds a NUL byte; an executable or image may decode as UTF-8
        line = data[:nul].count(b"\n") + 1
        raise RunbookError("binary file (NUL byte), not UTF-8 Markdown text", str(path), line)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RunbookError("not UTF-8 text", str(path), line) from None
    return text


def parse_file(path: str | Path, *, strict: bool = False) -> ParseResult:
    return parse_text(read_text(path), str(path), strict=strict)


def parse_text(text: str, path: str = "", *, strict: bool = False) -> ParseResult:
    """Parse runbook Markdown. Warnings become errors when `strict`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
    try:
        builder = _Builder(text, path)
        runbook = builder.build()
    except RunbookError:
        raise
    except RecursionError:
        raise RunbookError("document nests too deeply to read", path) from None
    except Exception as exc:  # the contract: nothing but RunbookError leaves the parser
        raise RunbookError(f"internal parser error ({type(exc).__name__}: {exc}); "
                           "please report this runbook", path) from exc
    diags = builder.diags
    if strict:
        diags = [Diagnostic(Severity.ERROR, d.message, d.path, d.line, d.col)
                 if d.severity is Severity.WARNING else d for d in diags]
    diags.sort(key=lambda d: (d.line, d.severity != Severity.ERROR))
    return ParseResult(runbook, tuple(diags))


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
    end_line: int = 0
    rollback: bool = False
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


class _Builder:
    def __init__(self, text: str, path: str) -> None:
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

    # -- diagnostics -------------------------------------------------------------------------
    def warn(self, message: str, line: int, col: int = 0) -> None:
        self.diags.append(Diagnostic(Severity.WARNING, message, self.path, line, col))

    def error(self, message: str, line: int, col: int = 0) -> None:
        self.diags.append(Diagnostic(Severity.ERROR, message, self.path, line, col))

    # -- walk --------------------------------------------------------------------------------
    def build(self) -> Runbook:
        tokens = _markdown().parse(self.text)
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
            elif t == "html_block" and _SWRUN_COMMENT.search(tok.content):
                self.comment(tok)
                i += 1
                continue
            elif t == "list_item_open" and "task-list-item" in str(tok.attrGet("class") or ""):
                self.check(tok, tokens, i)
            elif t == "inline" and i > 0 and tokens[i - 1].type == "paragraph_open":
                self.last_text = _inline_text(tok)
            if tok.level == 0 and t in _PROSE_OPENERS and tok.map:
                self.prose(tok, tokens, i)
            if t not in ("heading_close",):
                self.after_heading = False if t.endswith("_open") or t in (
                    "fence", "html_block", "code_block", "hr") else self.after_heading
            i += 1
        if self.pending is not None:
            self.warn("swrun comment applies to nothing (no block follows it)", self.pending[1])
        return self.finish()

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
            return
        parent = self.stack[-1]
        sec = _SectionBuilder(title, level, line, (*parent.path, title))
        sec.id = self.section_ids.claim(_slug("/".join(_slug(p) for p in sec.path)) or "section")
        for key, value in parent.attributes.items():  # the parent's order: output is stable
            if key in _INHERITED:
                sec.attributes[key] = value
        sec.rollback = parent.rollback
        parent.children.append(sec)
        self.stack.append(sec)
        self.after_heading = True
        self.last_text = title
        if self.pending is not None:
            self.warn("swrun comment applies to nothing before this heading", self.pending[1])
            self.pending = None

    def close_sections(self, level: int, line: int) -> None:
        while len(self.stack) > 1 and self.stack[-1].level >= level:
            self.stack.pop().end_line = line - 1

    def comment(self, tok: Token) -> None:
        line = tok.map[0] + 1 if tok.map else 0
        attrs: dict[str, AttrValue] = {}
        for m in _SWRUN_COMMENT.finditer(tok.content):
            attrs.update(self.attributes(m.group(1), line))
        sec = self.stack[-1]
        if self.after_heading and sec is not self.root:
            for key, value in attrs.items():
                spec = KNOWN.get(key)
                if spec is not None and not spec.section:
                    self.warn(f"attribute {key!r} does not apply to a section", line)
                    continue
                sec.attributes[key] = value
                if key == "rollback" and value is True:
                    sec.rollback = True
            self.after_heading = True  # more section comments may follow
        else:
            if self.pending is not None:
                attrs = {**self.pending[0], **attrs}
            self.pending = (attrs, line)

    def attributes(self, text: str, line: int) -> dict[str, AttrValue]:
        try:
            attrs = parse_attributes(text)
        except AttributeSyntaxError as exc:
            self.error(str(exc), line)
            return {}
        for key, value in list(attrs.items()):
            if key not in KNOWN:
                self.warn(f"unknown attribute {key!r}", line)
                continue
            problem = check_value(key, value)
            if problem:
                self.error(problem, line)
                del attrs[key]
        return attrs

    def take_pending(self) -> dict[str, AttrValue]:
        if self.pending is None:
            return {}
        attrs = self.pending[0]
        self.pending = None
        return attrs

    def fence(self, tok: Token) -> None:
        line = tok.map[0] + 1 if tok.map else 0
        end = tok.map[1] if tok.map else line
        info = tok.info.strip()
        language, attr_text = _split_info(info)
        own = self.take_pending()
        if attr_text is not None:
            own.update(self.attributes(attr_text, line))
        lang = language.lower()
        kind: StepKind
        if lang in SHELL_LANGUAGES:
            kind = StepKind.SHELL
        elif lang in TYPED_LANGUAGES:
            kind = StepKind(lang)
        else:
            kind = StepKind.REFERENCE
            if own.get("run") is True:
                kind = StepKind.SHELL
                if lang and "shell" not in own:
                    own["shell"] = _INTERPRETERS.get(lang, lang)
            elif own and set(own) - {"name", "title"}:
                self.warn(f"unknown step kind {language or '(none)'!r}: block is shown as "
                          "reference material, not run (add `run` to run it)", line)
        if kind is not StepKind.REFERENCE and own.get("run") is False:
            kind = StepKind.REFERENCE
        body = tok.content
        if lang == "console":
            body = _console_commands(body)
        title = self.title_for(own, body, kind)
        self.add_step(kind, title, body, language, own, line, end)

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
        if self.last_text:
            return _shorten(self.last_text.rstrip(":").strip())
        return kind.value

    def add_step(
        self, kind: StepKind, title: str, body: str, language: str,
        own: dict[str, AttrValue], line: int, end: int, checked: bool = False,
    ) -> None:
        sec = self.stack[-1]
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
        step = Step(
            id=step_id, number=number, kind=kind, title=title, body=body, language=language,
            attributes=attrs, section=sec.path, section_id=sec.id,
            span=SourceSpan(self.path, line, max(end, line)), checked=checked,
            in_rollback=sec.rollback,
        )
        sec.steps.append(step)
        self.steps.append(step)

    def prose(self, tok: Token, tokens: list[Token], i: int) -> None:
        if tok.type == "html_block" and _SWRUN_COMMENT.search(tok.content):
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
        return Runbook(
            title=title, path=self.path, text=self.text, root=self.root.freeze(self.path),
            steps=tuple(self.steps), variables=self.variables, metadata=self.metadata,
        )


def _split_info(info: str) -> tuple[str, str | None]:
    """`bash {name=x}` → ("bash", "name=x"); `{name=x}` → ("", "name=x")."""
    brace = info.find("{")
    if brace == -1:
        return (info.split()[0] if info.split() else ""), None
    language = info[:brace].strip().split()[0] if info[:brace].strip() else ""
    close = info.rfind("}")
    inner = info[brace + 1 : close] if close > brace else info[brace + 1 :]
    if language.startswith("{"):
        language = ""
    return language, inner


def _inline_text(tok: Token | None) -> str:
    if tok is None:
        return ""
    if not tok.children:
        return " ".join(tok.content.split())
    parts: list[str] = []
    for child in tok.children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return " ".join("".join(parts).split())


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _TITLE_MAX:
        return text
    return text[: _TITLE_MAX - 1].rstrip() + "…"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-")


def _console_commands(body: str) -> str:
    """A `console` block's commands: `$ ` lines and their `\\` continuations; output dropped."""
    out: list[str] = []
    cont = False
    for line in body.split("\n"):
        if cont:
            out.append(line)
            cont = line.endswith("\\")
        elif line.startswith("$ ") or line == "$":
            out.append(line[2:])
            cont = line.endswith("\\")
    if not out:  # no prompts at all: the block is plain commands
        return body
    return "\n".join(out) + "\n"
