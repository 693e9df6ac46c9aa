"""Placeholders of the shapes people write besides `<pod>`, `YOUR_…` and `{{x}}`: `XXX` runs,
`your-registry/your-image` words, `/path/to/…`, `[user|group]` alternatives, angle text with
spaces or commas inside quotes (`NAME='<name of the component, see below>'`) and a trailing
`...` argument; and `# NAME='<text>'` comments that declare a value to ask for.

Pure functions over text; `shelltext.find_placeholders` writes what they find as variables.
Each pattern runs in linear time (possessive runs, anchored starts)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """A placeholder found by shape."""

    start: int
    end: int
    text: str
    """As written."""
    words: str
    """What its variable is named from (`shelltext.var_name`)."""
    exact: str = ""
    """The variable's name as written (`NAME=` before it), kept as is."""
    choices: tuple[str, ...] = ()
    """`[user|group]`: the values it may take."""
    fillable: bool = True
    """False for a trailing `...`: more arguments, not one value (a finding, never asked)."""
    kind: str = ""
    """xxx, your, path, choice, quoted, ellipsis."""


# `XXX`, `xxxxxxxx`, `sg-xxxxxxxx`, `arn:aws:iam::XXXXXXXXXXXX:role`, `pod-XXXXX-XXXXX` (one):
# 3+ x's of one case, not part of a longer word (`taxxx`, `0xxx` stay).
_XXX = re.compile(r"(?<![A-Za-z0-9_])(?:X{3,}+|x{3,}+)(?:[-.:](?:X{3,}+|x{3,}+))*+"
                  r"(?![A-Za-z0-9_])")
# `your-registry`, `your_bucket`, `your-registry/your-image`
_YOURS = re.compile(r"(?<![\w${.<-])your[-_][A-Za-z0-9]++(?:[-_][A-Za-z0-9]++)*+")
# `/path/to/file`, `~/path/to/dir/`, `path/to/x.yaml`
_PATH_TO = re.compile(r"(?<![\w./~-])(?:~/|\.{1,2}/|/)?path/to(?![\w.-])(?:/[\w.-]++)*+/?")
# `[user|group]`, `[start|stop|restart]`: two or more word alternatives
_CHOICE = re.compile(r"(?<![\w\[])\[([A-Za-z][\w.-]*+(?:\|[A-Za-z][\w.-]*+)++)\](?![\w\]])")
# `NAME='<name of the component, see below>'`, `NAME="<the pod, e.g. web-1>"`
_QUOTED = re.compile(r"(?<![\w$])([A-Za-z_]\w*+)=(['\"])<([^<>'\"\n]{1,200}+)>\2")
# a command whose last word is `...`/`…`: `./deploy.sh web ...`
_TRAILING = re.compile(r"(?m)(?<=[^\s=])[ \t]++(\.\.\.|…)[ \t]*+$")
# `# NAMESPACE='<value of namespace label from alert>'`, `# NS=<ns>`
_DECLARED = re.compile(
    r"(?m)^[ \t]*+#[ \t]*+(?:export[ \t]++)?([A-Za-z_]\w*+)=(['\"]?)<([^<>'\"\n]{1,200}+)>\2"
    r"[ \t]*+$")
_KEY = re.compile(r"(?:(?<![\w-])--?([A-Za-z][\w.-]*+)[= ]|(?<![\w$])([A-Za-z_]\w*+)=)"
                  r"['\"]?[\w.:/-]*+$")
"""`--group-ids sg-`, `NAME=`, `--role-arn arn:aws:iam::` right before a value: its name."""


def _context_name(body: str, start: int) -> str:
    """`NAME=` or `--flag ` right before `start`: the name the value is for."""
    before = body[max(0, start - 60):start]
    m = _KEY.search(before)
    return "" if m is None else m.group(1) or m.group(2)


def shapes(body: str, *, as_text: bool = False) -> list[Shape]:
    """Placeholders of the shapes above in `body`, in no particular order (overlaps are
    left to the caller). `as_text`: a file's content, not shell: no trailing `...` (YAML ends
    a document with one), no `[a|b]` (a usage line's text)."""
    found: list[Shape] = []
    if "<" in body:
        for m in _QUOTED.finditer(body):
            found.append(Shape(m.end(2), m.end(2) + len(m.group(3)) + 2, f"<{m.group(3)}>",
                               m.group(3), exact=m.group(1), kind="quoted"))
    for m in _XXX.finditer(body):
        key = _context_name(body, m.start())
        found.append(Shape(m.start(), m.end(), m.group(0), key or "XXX", kind="xxx"))
    if "your" in body:
        for m in _YOURS.finditer(body):
            found.append(Shape(m.start(), m.end(), m.group(0), m.group(0), kind="your"))
    if "path/to" in body:
        for m in _PATH_TO.finditer(body):
            rest = m.group(0).split("path/to", 1)[1].strip("/")
            words = rest.replace("/", " ") or "path"
            found.append(Shape(m.start(), m.end(), m.group(0), words, kind="path"))
    if "|" in body and not as_text:
        for m in _CHOICE.finditer(body):
            options = tuple(m.group(1).split("|"))
            if len(set(options)) < 2:
                continue
            found.append(Shape(m.start(), m.end(), m.group(0), " or ".join(options[:3]),
                               choices=options, kind="choice"))
    if not as_text:
        for m in _TRAILING.finditer(body):
            found.append(Shape(m.start(1), m.end(1), m.group(1), "more arguments",
                               fillable=False, kind="ellipsis"))
    return found


@dataclass(frozen=True)
class Declared:
    """`# NAME='<text>'`: a value the block expects the reader to set."""

    name: str
    text: str
    """The placeholder as written (`<value of namespace label from alert>`)."""
    offset: int
    """Line offset in the body."""


def declared(body: str) -> list[Declared]:
    """Commented assignments of a placeholder in a shell body."""
    if "#" not in body or "<" not in body:
        return []
    out: list[Declared] = []
    offset = counted = 0
    for m in _DECLARED.finditer(body):
        offset += body.count("\n", counted, m.start())  # counted once, in order
        counted = m.start()
        out.append(Declared(m.group(1), f"<{m.group(3)}>", offset))
    return out
