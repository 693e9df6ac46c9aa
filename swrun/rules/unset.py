"""Values a shell step uses that nothing sets: `$NAME` as much as `${NAME}` (the parser asks
for them), and the `$NAME`s of a body that the shell expands (not in single quotes, a comment
or a quoted here-document)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from swrun.rules.shelltext import BRACED, COMMENT, QUOTED_HEREDOC, SINGLE, contexts

_PLAIN_REF = re.compile(r"(?<![\\$])\$([A-Za-z_][A-Za-z0-9_]*+)")


def expanded(body: str) -> Iterator[tuple[int, str, str]]:
    """(offset, text, name) of each `$NAME` and `${NAME}` the shell expands in `body`, in
    order."""
    if "$" not in body:
        return
    ctx = contexts(body)
    spots = sorted([(m.start(), m.group(0), m.group(1)) for m in BRACED.finditer(body)]
                   + [(m.start(), m.group(0), m.group(1)) for m in _PLAIN_REF.finditer(body)])
    for start, text, name in spots:
        if ctx[start] in (SINGLE, COMMENT, QUOTED_HEREDOC):
            continue
        yield start, text, name


def names_used(body: str) -> set[str]:
    """The names whose values the shell expands in `body`."""
    return {name for _, _, name in expanded(body)}
