"""Reading runbooks as they are written: a block's text made into what runs (transcript
prompts dropped, placeholders found, whether a person must run it), the script of a file-writing
step, and the text of paragraphs that lead a block."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from markdown_it.token import Token

from swrun.attributes import AttrValue, escapes
from swrun.formats import runme
from swrun.model import (
    SH_FAMILY,
    SHELL_LANGUAGES,
    TYPED_LANGUAGES,
    PlaceholderUse,
    StepKind,
)
from swrun.rules.blocklead import also_interactive, block_reason
from swrun.rules.filled import file_placeholders
from swrun.rules.inline import asked
from swrun.rules.knownbad import QUERIES, bash_checked, bash_verdicts, content_kind
from swrun.rules.prompts import Transcript, read_prompts
from swrun.rules.sessions import follow
from swrun.rules.shellplaceholders import find_placeholders
from swrun.rules.shelltext import (
    interactive,
    logical_lines,
    looks_like_command,
    mostly_commands,
)
from swrun.rules.transcript import transcript_lines

_INTERPRETERS = {
    "python": "python3", "python3": "python3", "py": "python3",
    "javascript": "node", "js": "node", "node": "node",
    "ruby": "ruby", "rb": "ruby", "perl": "perl", "fish": "fish", "ksh": "ksh", "dash": "dash",
}
_CREATE = re.compile(
    r"(?:create|add|write|save|put)\b[^`]{0,40}?`(?P<path>[^`\s]+)`[^`]{0,30}?:\s*$", re.I)
_PATHLIKE = re.compile(r"(?:[\w.~-]*+/)*+[\w-](?>[\w.-]*\.)\w+|(?:[\w.~-]++/)++[\w.-]++")
"""A path with a folder or an extension. The extension is after the name's last dot (kept, an
atomic group): trying every dot of `a.a.a…-` was quadratic."""
_TITLE_MAX = 80


class _Reading:
    """A block as swrun reads it: transcript prompts dropped, placeholders made variables,
    and whether a person must run it (`manual`)."""

    def __init__(self, body: str) -> None:
        self.written = body
        self.body = body
        self.lines: tuple[int, ...] = ()
        self.prompt_lines: tuple[int, ...] = ()
        self.uses: tuple[PlaceholderUse, ...] = ()
        self.manual = ""
        self.prompted = False
        self.transcript: Transcript | None = None

    def prompts(self, console: bool, line: int, opened: str = "") -> None:
        got = read_prompts(self.body, console, opened)
        if got is None:
            return
        self.prompted = True
        self.transcript = got
        self.body = got.body
        self.lines = tuple(line + 1 + o for o in got.lines)
        self.prompt_lines = tuple(line + 1 + o for o in got.prompts)

    def typed(self, fence: int) -> list[tuple[int, str, str, str]]:
        """(file line, command, prompt, program its prompt shows) of each command typed."""
        if self.transcript is not None:
            return [(fence + 1 + t.offset, t.text, t.shape, t.into)
                    for t in self.transcript.typed if t.shape]
        return [(fence + 1 + o, text, "", "") for o, text in logical_lines(self.body)]

    def keep(self, offsets: Sequence[int], fence: int) -> None:
        """Only these lines of the body (the commands of a transcript; its output left out)."""
        lines = self.body.split("\n")
        self.body = "\n".join(lines[o] for o in offsets) + "\n"
        self.lines = tuple(fence + 1 + o for o in offsets)

    def prepend(self, command: str, at: int, fence: int) -> None:
        """`command` (file line `at`) shown first: the session a later block is typed into."""
        n = self.body.count("\n") + (not self.body.endswith("\n"))
        lines = self.lines or tuple(fence + 1 + o for o in range(n))
        self.body = f"{command}\n{self.body}"
        self.lines = (at, *lines)

    def line_of(self, offset: int, fence: int) -> int:
        return self.lines[offset] if offset < len(self.lines) else fence + 1 + offset

    def placeholders(self, fence: int) -> None:
        body, found = find_placeholders(self.body)
        self.body = body
        self.uses = tuple(PlaceholderUse(p.text, p.name, self.line_of(p.offset, fence),
                                         p.fillable, p.choices) for p in found)

    def fields(self, kind: StepKind) -> dict[str, Any]:
        changed = self.body != self.written
        return {"manual": self.manual if kind is StepKind.CHECK else "",
                "lines": self.lines, "prompts": self.prompt_lines,
                "placeholders": self.uses, "written": self.written if changed else ""}


def _write_script(target: str, content: str) -> str:
    """What a `file=` step does, as a shell script: on this machine swrun writes the file
    itself (executors/file.py) and this is only shown; on a host (`hosts=`) it runs there.
    The path reaches it as data, `$SWRUN_FILE` (filled like any attribute), never as shell
    text; the content as a quoted here-document (nothing in it is expanded)."""
    if not content.endswith("\n"):
        content += "\n"
    delim = "SWRUN_EOF"
    while delim in content:
        delim += "_"
    lines = [f"# write {target}",  # one line (attribute values and code spans have no \n)
             'f=$SWRUN_FILE; case $f in "~/"*) f=$HOME/${f#??};; esac',
             'mkdir -p -- "$(dirname -- "$f")"']
    lines.append(f"cat > \"$f\" <<'{delim}'\n{content}{delim}")
    if target.endswith((".sh", ".bash", ".py", ".pl", ".rb")) or content.startswith("#!"):
        lines.append('chmod +x -- "$f"')
    lines.append("printf 'wrote %s\\n' \"$f\"")
    return "\n".join(lines) + "\n"


def _sh(shell: AttrValue | None) -> bool:
    """Whether a `shell=` value runs a POSIX-like shell (bash when it is not set)."""
    words = shell.split() if isinstance(shell, str) else []
    return not words or os.path.basename(words[0]) in SH_FAMILY


def _marked_text(tok: Token) -> str:
    r"""A paragraph's text with its code spans in backticks (`Create \`a.sh\`:`)."""
    if not tok.children:
        return tok.content
    parts = []
    for child in tok.children:
        if child.type == "code_inline":
            parts.append(f"`{child.content}`")
        elif child.type in ("text",):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts).strip()


def _lead(tok: Token | None) -> str:
    """A title from a paragraph: its bold lead (`**Restart the pods.** Then…`), else its
    first sentence — never a paragraph cut off in the middle."""
    if tok is None:
        return ""
    children = tok.children or []
    if children and children[0].type == "strong_open":
        inner = []
        for child in children[1:]:
            if child.type == "strong_close":
                break
            if child.type in ("text", "code_inline"):
                inner.append(child.content)
        lead = " ".join("".join(inner).split()).rstrip(":.").strip()
        if lead:
            return lead
    text = _inline_text(tok)
    m = re.match(r"(.+?[.!?:])(?:\s|$)", text)
    first = m.group(1) if m else text
    return first.rstrip(":").rstrip(".").strip() if first.endswith((".", ":")) else first


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
    cut = text[: _TITLE_MAX - 1]
    if " " in cut[_TITLE_MAX // 2:]:  # at a word, not in the middle of one
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"



class _Blocks:
    """The reading rules of the builder (`_Builder` mixes this in and holds the state it uses):
    what a fenced block, a numbered item's commands and a paragraph's asked-for commands
    become — a step to run, a file written, a manual step, or reference material."""

    def fence(self, tok: Token) -> None:
        line = tok.map[0] + 1 if tok.map else 0
        end = tok.map[1] if tok.map else line
        info = tok.info.strip()
        language, attr_text = _split_info(info)
        own = self.take_pending()
        lang = language.lower()
        lead = self.lead
        written = runme.cell(self.attributes(attr_text, line) if attr_text is not None else {},
                             self.metadata, shell_block=lang in SHELL_LANGUAGES,
                             inherited={**self.stack[-1].attributes, **own})
        if attr_text is not None or written:
            runs = lang in SHELL_LANGUAGES or lang in TYPED_LANGUAGES or (
                written.get("run", own.get("run")) is True) or "file" in written
            own.update(self.checked(written, line, swrun=runs))
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
            elif own and set(own) - {"name", "title", "file", "allow", "outside"} - \
                    runme.CELL_KEYS - ({"run"} if "excludeFromRunAll" in own else set()):
                self.warn(f"unknown step kind {language or '(none)'!r}: block is shown as "
                          "reference material, not run (add `run` to run it)", line)
        if kind is not StepKind.REFERENCE and own.get("run") is False:
            kind = StepKind.REFERENCE
        body = tok.content
        target = own.get("file")
        if not isinstance(target, str) and "run" not in own and "file" not in own:
            m = _CREATE.search(self.lead)
            if m and _PATHLIKE.fullmatch(m.group("path")):
                target = m.group("path")
        self.lead = ""  # "Create `path`:" speaks of the next block only
        if isinstance(target, str) and target and own.get("run") is not False:
            own["file"] = target
            if escapes(target) and own.get("outside") is not True and not (
                    own.get("hosts") or own.get("host") or own.get("targets")):
                self.warn(f"writes {target}, outside the runbook's folder: swrun refuses it "
                          "at run time unless the block says `outside` "
                          "(```lang {file=… outside}```)", line)
            script = _write_script(target, body)
            title = self.title_for(own, "", kind) if "title" in own or "name" in own \
                else _shorten(f"Write {target}")
            here = not (own.get("hosts") or own.get("host") or own.get("targets"))
            self.add_step(StepKind.SHELL, title, script, language, own, line, end,
                          written=body, uses=file_placeholders(body, line, here))
            return
        if lang in SHELL_LANGUAGES and lang != "console" and runme.is_cell(own, self.metadata):
            body = runme.unprompted(body)
        read = _Reading(body)
        shell_text = kind is StepKind.SHELL and _sh(own.get("shell"))
        forced = own.get("run") is True
        here = not (own.get("targets") or own.get("hosts") or own.get("host"))
        before = self.session if here else ()
        if lang in SHELL_LANGUAGES or (not lang and kind is StepKind.REFERENCE):
            read.prompts(lang == "console" or not lang, line, before[-1].into if before else "")
        if lang == "console" and not read.prompted and not forced and \
                not mostly_commands(body):  # output, logs, PromQL, YAML: reference
            kind = StepKind.REFERENCE
        if not lang and kind is StepKind.REFERENCE and "file" not in own and (
                read.prompted or mostly_commands(body)):
            read.manual = "no language: swrun does not run it"
            shell_text = True
        if (kind is StepKind.SHELL and shell_text and not forced) or read.manual:
            found = (interactive(read.body) or also_interactive(read.body)) \
                if not read.manual else None
            followed = follow(read.typed(line), before, self.number + 1)
            if found is not None:
                read.manual = found.what
            elif read.manual and not followed.inside:
                pass  # no language: its own reason
            elif followed.opens:
                read.manual = followed.opens
            elif followed.inside:
                read.manual = followed.inside
                for session in reversed(followed.continues):  # their commands first: copyable
                    read.prepend(session.command, session.line, line)
            elif not read.prompted and kind is StepKind.SHELL and not self.stack[-1].optional:
                output, commands = transcript_lines(read.body)
                if (output and not commands) or content_kind(body) in QUERIES:
                    # program output and no command, or a query: shown as written
                    self.add_step(StepKind.REFERENCE,
                                  self.title_for(own, body, StepKind.REFERENCE), body, language,
                                  own, line, end)
                    return
                if output:
                    first = min(output)
                    read.manual = (f"a transcript: line {line + 1 + first} reads as program "
                                   f"output ({output[first]}): not run")
                    read.keep(commands, line)
            if here and not self.stack[-1].optional:
                self.session = followed.open
        if not read.manual and kind is StepKind.SHELL and not forced:
            read.manual = runme.manual_reason(own)
        if not read.manual and "run" not in own and kind in (StepKind.SHELL, StepKind.REFERENCE) \
                and not (own.get("targets") or own.get("hosts") or own.get("host")):
            read.manual = block_reason(lead, lang, read.body, kind is StepKind.SHELL and shell_text)
        if (kind is StepKind.SHELL or read.manual) and shell_text:
            read.placeholders(line)
        if forced:
            self.forced.add(line)
        elif kind is StepKind.SHELL and not read.manual and line in self.failing and \
                not self.stack[-1].optional:
            shown = content_kind(body)
            if shown:  # a query or data in a shell fence: shown as it is written
                self.add_step(StepKind.REFERENCE, self.title_for(own, body, StepKind.REFERENCE),
                              body, language, own, line, end)
                return
            offset, message = self.failing[line]
            offset = min(offset, max(0, read.body.count("\n") - 1))  # "end of file": the last
            read.manual = (f"bash -n rejects it (line {read.line_of(offset, line)}: "
                           f"{message}): not run")
        if read.manual and not self.stack[-1].optional:
            kind = StepKind.CHECK
        title = self.title_for(own, read.body, kind)
        self.add_step(kind, title, read.body, language, own, line, end, read=read)

    def known_failures(self) -> dict[int, tuple[int, str]]:
        """Fence line → bash's syntax error, for each block read as a shell step to run that
        bash rejects (all asked of one bash process); {} when bash cannot say."""
        steps = [s for s in self.steps if s.kind is StepKind.SHELL and
                 s.span.line not in self.forced and not s.attributes.get("file") and
                 bash_checked(s.text("shell"))]
        verdicts = bash_verdicts([s.body for s in steps]) if steps else None
        if verdicts is None:
            return {}
        return {s.span.line: p for s, p in zip(steps, verdicts, strict=True) if p is not None}

    def list_item(self, tok: Token, tokens: list[Token], i: int) -> None:
        """A numbered list item whose text holds commands (`kubectl get pods`): a manual
        step — the command is shown, the operator runs it and ticks."""
        if i + 2 >= len(tokens) or tokens[i + 1].type != "paragraph_open":
            return
        inline = tokens[i + 2]
        level = tok.level
        j = i + 1
        while j < len(tokens) and not (tokens[j].type == "list_item_close"
                                       and tokens[j].level == level):
            if tokens[j].type in ("fence", "code_block") or (
                    tokens[j].type == "list_item_open" and tokens[j].markup in (".", ")")):
                return  # its own blocks (or sub-steps) are the steps
            j += 1
        commands = [c.content.strip() for c in inline.children or ()
                    if c.type == "code_inline" and len(c.content.split()) >= 2
                    and looks_like_command(c.content)]
        if not commands or self.stack[-1].optional:
            return
        line = tok.map[0] + 1 if tok.map else 0
        own = self.take_pending()
        body = "\n".join(commands) + "\n"
        read = _Reading(body)
        read.manual = "list item"
        read.placeholders(line - 1)
        read.lines = tuple(line for _ in read.body.split("\n"))
        title = next((str(own[k]) for k in ("title", "name") if isinstance(own.get(k), str)
                      and own[k]), _lead(inline) or _inline_text(inline) or "(empty)")
        self.add_step(StepKind.CHECK, _shorten(title), read.body, "", own, line, line,
                      read=read)
        self.item_steps += 1
        self.item_inline = i + 2

    def prose_step(self, inline: Token, tokens: list[Token], i: int) -> None:
        """The commands a paragraph or bullet asks the operator to run (rules/inline.py):
        one manual step with all of them, in order. Not a numbered item's text `list_item`
        took, a task item's (a check already), nor what the block right after it holds."""
        if i == self.item_inline or self.stack[-1].optional or (
                i >= 2 and "task-list-item" in str(tokens[i - 2].attrGet("class") or "")):
            return
        found = asked(inline.children or ())
        if found is None:
            return
        after = tokens[i + 2] if i + 2 < len(tokens) else None
        shown = " ".join(after.content.split()) if after is not None and \
            after.type == "fence" else ""
        picked = [(c, o) for c, o in zip(found.commands, found.lines, strict=True)
                  if not (shown and " ".join(c.split()[:2]) in shown)]
        if not picked:
            return
        base = inline.map[0] + 1 if inline.map else 0
        read = _Reading("\n".join(c for c, _ in picked) + "\n")
        read.manual = found.manual
        read.lines = tuple(base + o for _, o in picked)
        read.placeholders(base - 1)
        end = inline.map[1] if inline.map else base
        self.add_step(StepKind.CHECK, _shorten(found.title), read.body, "", {}, read.lines[0],
                      end, read=read)
        self.item_steps += 1
