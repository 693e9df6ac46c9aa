"""A runbook's source: which files are read (size, kind, encoding, line length), and the
line-scan guard that finds every fence and task item a parser limit may have cut off."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path

from markdown_it.token import Token

from swrun.errors import RunbookError
from swrun.files import MAX_RUNBOOK_BYTES, NotRegular, read_regular

MAX_FILE_BYTES = MAX_RUNBOOK_BYTES
"""A runbook larger than this (10 MB) is refused before it is read."""
MAX_LINE_CHARS = 1024 * 1024
"""A line longer than this (1 MB of text) is refused at its line."""


def read_text(path: str | Path) -> str:
    """The runbook's text. Only a regular file (or a link to one) up to MAX_FILE_BYTES is
    read: a FIFO would wait for a writer, /dev/zero never ends, a directory has no text."""
    try:
        data = read_regular(path, MAX_FILE_BYTES)
    except NotRegular as exc:
        raise RunbookError(exc.why, str(path)) from None
    except FileNotFoundError:
        raise RunbookError("no such file", str(path)) from None
    except IsADirectoryError:
        raise RunbookError("is a directory, not a runbook file", str(path)) from None
    except OSError as exc:
        raise RunbookError(f"cannot read: {exc.strerror or exc}", str(path)) from None
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


def _check_line_lengths(text: str, path: str) -> None:
    if len(text) <= MAX_LINE_CHARS:
        return
    lengths = [len(line) for line in text.split("\n")]
    if max(lengths) > MAX_LINE_CHARS:
        line = next(i for i, n in enumerate(lengths) if n > MAX_LINE_CHARS) + 1
        raise RunbookError(f"line longer than {MAX_LINE_CHARS // 2**20} MB", path, line)


_CONTAINERS = frozenset({"bullet_list_open", "ordered_list_open", "list_item_open",
                         "blockquote_open"})
_MARKERS = r"[ \t>]*+(?:(?:[-*+]|[0-9]{1,9}+[.)])[ \t]++)"  # possessive: `-  -  -  …` is linear
_TASK_LINE = re.compile(_MARKERS + r"++\[[ xX]\][ \t]+\S")
_FENCE_LINE = re.compile(_MARKERS + r"*+(`{3,}|~{3,})(.*)")
_CLOSER_LINE = re.compile(r"[ \t>]*(`{3,}|~{3,})[ \t]*")
_CLOSER_LOOKAHEAD = 64


def _unread(lines: Sequence[str], tokens: Sequence[Token]) -> tuple[list[int], list[int]]:
    """0-based lines of the task items and fence openers a plain line scan finds that no
    token the parse made holds.

    The scan knows nothing of markdown-it: front matter, HTML comments and fences (which hide
    what is in them) are all it understands, so it finds a superset of what is real — a
    `- [ ]` in indented code, a fence in raw HTML. Those are harmless: such a line still sits in
    a token (the code block, the HTML block). Only containers (lists, quotes) do not count: a
    nesting cut leaves its lines inside the list item but in no block of their own."""
    held = bytearray(len(lines))
    for tok in tokens:
        if tok.map and tok.type not in _CONTAINERS:
            a, b = tok.map
            held[a:b] = b"\1" * (b - a)
    tasks: list[int] = []
    fences: list[int] = []
    for i in _scan(lines, fences):
        if not held[i]:
            tasks.append(i)
    return tasks, [i for i in fences if not held[i]]


def _scan(lines: Sequence[str], fences: list[int]) -> list[int]:
    """Task item lines; fence opener lines go to `fences`. Linear: a fence's closer is looked
    up among the next few closer lines, and an opener without one hides nothing."""
    n = len(lines)
    i = _after_front_matter(lines)
    closers: dict[str, tuple[list[int], list[int]]] = {"`": ([], []), "~": ([], [])}
    comment_ends: list[int] = []
    for j in range(i, n):
        m = _CLOSER_LINE.fullmatch(lines[j])
        if m:
            at, size = closers[m.group(1)[0]]
            at.append(j)
            size.append(len(m.group(1)))
        elif "-->" in lines[j]:
            comment_ends.append(j)
    tasks: list[int] = []
    while i < n:
        line = lines[i]
        if "<!--" in line and "-->" not in line[line.find("<!--"):] and \
                line.lstrip(" \t>").startswith("<!--"):
            k = bisect_right(comment_ends, i)
            if k < len(comment_ends):
                i = comment_ends[k] + 1
                continue
        fence = _FENCE_LINE.match(line)
        if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
            fences.append(i)
            mark = fence.group(1)
            at, size = closers[mark[0]]
            k = bisect_right(at, i)
            end = next((at[x] for x in range(k, min(k + _CLOSER_LOOKAHEAD, len(at)))
                        if size[x] >= len(mark)), None)
            i = end + 1 if end is not None else i + 1
            continue
        if _TASK_LINE.match(line):
            tasks.append(i)
        i += 1
    return tasks


def _after_front_matter(lines: Sequence[str]) -> int:
    if not lines or lines[0].rstrip() not in ("---", "+++"):
        return 0
    mark = lines[0].rstrip()
    return next((j + 1 for j in range(1, len(lines)) if lines[j].rstrip() == mark), 0)
