"""Placeholders in the content of a file a step writes (`{file=…}`, "Create `x`:"): found as in
commands, asked for like them, and filled in by the file executor as plain text (the file is
data: nothing in it is shell)."""

from __future__ import annotations

from collections.abc import Mapping

from swrun.model import PlaceholderUse
from swrun.rules.shelltext import find_placeholders


def file_placeholders(content: str, fence: int, here: bool) -> tuple[PlaceholderUse, ...]:
    """The placeholders of a file's content (`fence`: the fence's file line). `here`: swrun
    writes it on this machine and fills them in; on a host the content is sent as written
    (reported, not asked)."""
    _, found = find_placeholders(content, as_text=True)
    return tuple(PlaceholderUse(p.text, p.name, fence + 1 + p.offset, p.fillable and here,
                                p.choices) for p in found)


def fill(content: str, values: Mapping[str, str]) -> str:
    """`content` with each placeholder that has a value replaced by it, as text."""
    _, found = find_placeholders(content, as_text=True)
    out: list[str] = []
    last = 0
    for p in found:
        if not p.fillable or p.name not in values:
            continue
        start, end = p.span
        out.append(content[last:start])
        out.append(values[p.name])
        last = end
    out.append(content[last:])
    return "".join(out)
