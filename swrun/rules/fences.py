"""Fences closed at the end of a command line (`kubectl get pods```): Markdown reads on to the
next fence line and swallows what lies between. Found from the parse, mended in the text
(the line becomes the closer it was meant to be: no line moves), and the command put back
into its block."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markdown_it.token import Token


@dataclass(frozen=True)
class Closed:
    """A fence closed on a command line."""

    line: int
    """0-based line in the text."""
    command: str
    """The line's text before the fence mark, as in the block."""
    mended: str
    """The line as a closer: its container's prefix (`> `, a list's indent) and the mark."""


def closed_on_a_line(lines: Sequence[str], tokens: Sequence[Token]) -> list[Closed]:
    """Each fence whose block holds a line ending with the fence's own mark (``` or longer)
    after a command, when more lines follow it in the block: the author closed it there."""
    found: list[Closed] = []
    for tok in tokens:
        if tok.type != "fence" or not tok.map or not tok.markup:
            continue
        mark = tok.markup
        content = tok.content.split("\n")[:-1]
        first = tok.map[0] + 1
        for k, text in enumerate(content[:-1]):  # the last: nothing is swallowed after it
            end = text.rstrip()
            run = len(end) - len(end.rstrip(mark[0]))
            command = end[:-run].rstrip() if run else ""
            if run < len(mark) or not command:
                continue
            raw = lines[first + k]
            prefix = raw[: len(raw) - len(text)] if raw.endswith(text) else ""
            found.append(Closed(first + k, command, prefix + mark[0] * run))
            break  # the block ends here: the rest is read again
    return found
