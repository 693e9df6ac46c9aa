"""Reading runbooks as they are written: a block's text made into what runs (transcript
prompts dropped, placeholders found, whether a person must run it), the script of a file-writing
step, and the text of paragraphs that lead a block."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from markdown_it.token import Token

from swrun.attributes import AttrValue
from swrun.model import PlaceholderUse, StepKind
from swrun.rules.prompts import Transcript, read_prompts
from swrun.rules.shelltext import find_placeholders, logical_lines

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
_SH = frozenset({"bash", "sh", "zsh", "dash", "ksh", "mksh"})


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
    return not words or os.path.basename(words[0]) in _SH


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
