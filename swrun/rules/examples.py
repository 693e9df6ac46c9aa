"""SW113 example-value: a value in a command that looks copied from someone's example — a
commit hash, a UUID, or (under a paragraph that says "example", "e.g.", "for instance") a
short hash or a long absolute path. The command would run with that exact value."""

from __future__ import annotations

import re
from collections.abc import Callable

from swrun.model import Step
from swrun.rules.shelltext import strip_comments

_UUID = re.compile(r"(?<![\w-])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}(?![\w-])")
_HASH = re.compile(r"(?<![\w:@=-])(?:[0-9a-f]{64}|[0-9a-f]{40})(?![\w])")
"""A SHA-1 (a git commit) or SHA-256 written bare: `sha256:…` digests pin on purpose."""
_SHORT_HASH = re.compile(r"(?<![\w:@/.-])(?=[0-9a-f]{0,11}[a-f])(?=[0-9a-f]{0,11}[0-9])"
                         r"[0-9a-f]{7,12}(?![\w.-])")
_LONG_PATH = re.compile(r"(?<![\w./~$-])(?:/[\w.@+-]++){4,}+/?")
_EXAMPLE = re.compile(r"\b(?:for example|for instance|example|e\.g\.|such as|sample)\b", re.I)
_LEAD_LINES = 12
_FILL = {"UUID": "`<id>`", "hash": "`<commit>`", "short hash": "`<commit>`",
         "long path": "`<path>`"}

Add = Callable[[str, int, str, str], None]


def lead_paragraph(lines: list[str], step: Step) -> str:
    """The paragraph (up to a few lines) right above the step's fence (`lines`: the
    runbook's)."""
    i = step.span.line - 2  # 0-based line above the fence
    while i >= 0 and not lines[i].strip():
        i -= 1
    out: list[str] = []
    while i >= 0 and lines[i].strip() and len(out) < _LEAD_LINES:
        out.append(lines[i])
        i -= 1
    return "\n".join(reversed(out))


def example_values(lines: list[str], step: Step, add: Add) -> None:
    """Report each example-looking value in a shell step's commands (`lines`: the runbook's
    text, split once)."""
    body = strip_comments(step.body)
    if not body.strip():
        return
    found: list[tuple[int, str, str]] = []
    found += [(m.start(), m.group(0), "UUID") for m in _UUID.finditer(body)]
    found += [(m.start(), m.group(0), "hash") for m in _HASH.finditer(body)]
    if _EXAMPLE.search(lead_paragraph(lines, step)):
        found += [(m.start(), m.group(0), "short hash") for m in _SHORT_HASH.finditer(body)]
        found += [(m.start(), m.group(0), "long path") for m in _LONG_PATH.finditer(body)
                  if not m.group(0).startswith(("/dev/", "/proc/", "/sys/", "/etc/",
                                                "/usr/", "/var/run/", "/tmp/"))]
        said = " under a paragraph that calls it an example"
    else:
        said = ""
    seen: set[str] = set()
    offset = counted = 0
    for start, value, what in sorted(found):
        if value in seen:
            continue
        seen.add(value)
        offset += body.count("\n", counted, start)  # counted once, in order
        counted = start
        line = step.body_line(offset)
        shown = value if len(value) <= 48 else value[:45] + "…"
        add("SW113", line, f"{shown} looks like an example value (a {what}{said}): the "
            "command runs with it as written", f"write a placeholder ({_FILL[what]}) that "
            "swrun asks for, or declare a variable; a value meant as written: allow=SW113")
