"""The markdown-it parser swrun reads with: CommonMark, tables, front matter, GFM task items,
and a nesting limit that cuts a too-deep block at its line (one parser per thread)."""

from __future__ import annotations

import re
import threading

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from swrun.frontmatter import toml_front_matter_plugin

MAX_NESTING = 64
"""Block nesting levels read (a list counts 2, the list and its item; a block quote 1): 32
nested lists or 64 nested quotes. Deeper content is an error at its line, not read."""

_local = threading.local()
_INLINE_NESTING = 20
"""markdown-it's own default for inline nesting (links in links, emphasis): each `[` costs up
to this many levels, so block nesting's higher limit is not used there."""


def _markdown() -> MarkdownIt:
    """The parser, one per thread: _block_nesting/_inline_nesting switch its options mid-parse."""
    md: MarkdownIt | None = getattr(_local, "md", None)
    if md is None:
        md = _local.md = _new_markdown()
    return md


def _new_markdown() -> MarkdownIt:
    from mdit_py_plugins.front_matter import front_matter_plugin

    # markdown-it's own nesting cut (`maxNesting`) skips the rest of the document without a
    # word; _too_deep cuts first, only the deep block, and leaves a token to report it.
    # inline_definitions: link reference definitions leave a token too, so every line read
    # is in some token (see _unread).
    md = MarkdownIt("commonmark", {"html": True, "inline_definitions": True}).enable("table")
    md.use(front_matter_plugin).use(toml_front_matter_plugin)
    md.block.ruler.before(md.block.ruler.get_all_rules()[0], "swrun_nesting", _too_deep)
    md.core.ruler.before("block", "swrun_block_nesting", _block_nesting)
    md.core.ruler.before("inline", "swrun_inline_nesting", _inline_nesting)
    md.core.ruler.after("inline", "swrun_tasklists", _tasklists)
    return md


def _block_nesting(state: StateCore) -> None:
    state.md.options["maxNesting"] = MAX_NESTING + 3  # never reached: _too_deep cuts at +1


def _inline_nesting(state: StateCore) -> None:
    state.md.options["maxNesting"] = _INLINE_NESTING


def _too_deep(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Past MAX_NESTING levels: take the deep block's lines as one `swrun_too_deep` token."""
    if state.level <= MAX_NESTING:
        return False
    line = start
    while line < end and (state.isEmpty(line) or state.sCount[line] >= state.blkIndent):
        line += 1
    last = line
    while last > start + 1 and state.isEmpty(last - 1):
        last -= 1
    token = state.push("swrun_too_deep", "", 0)
    token.map = [start, last]
    token.hidden = True
    state.line = line
    return True


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
