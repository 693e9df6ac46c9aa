"""Which local shell steps can change the state carried to later steps (exports, the
folder, aliases): only those are asked for it, so a step that cannot pays nothing for it.

A block can when it has one of these words anywhere (a command, an argument, a comment:
the test is on words, never on a parse, so it errs towards asking): `export`, `cd`,
`pushd`, `popd`, `source`, `.` (as a word of its own), `alias`, `unalias`, `unset`,
`declare`, `typeset`, `readonly`, `eval`, `read`, `readarray`, `mapfile`, `let`,
`getopts`, `printf -v`, `set` with `-a`/`allexport`; or an assignment (`NAME=`, `NAME+=`,
`NAME[`, `${NAME:=…}`) to a name the step's environment already has (changing an exported
variable).
The aliases the step starts with count as part of its block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_WORDS = re.compile(
    r"(?<![\w.-])(?:export|cd|pushd|popd|source|alias|unalias|unset|declare|typeset|readonly"
    r"|eval|read|readarray|mapfile|let|getopts)(?![\w-])"
    r"|(?<![\w.-])printf[ \t]++-v"
    r"|(?<![^\s;&|(){}`])\.(?=[ \t])")
_SET = re.compile(r"(?<![\w.-])set[ \t]++([^\n;&|]*+)")
"""`set` and the rest of its command (taken whole: a `set` inside it is not looked at again)."""
_ASSIGN = re.compile(r"(?<![\w$.-])([A-Za-z_]\w*+)(?:[+:]?=|\[)")
"""`NAME=`, `NAME+=`, `NAME[`, and `${NAME:=…}` / `${NAME=…}`."""


def _sets_allexport(text: str) -> bool:
    for found in _SET.finditer(text):
        for word in found.group(1).split():
            if word == "allexport" or (word[:1] in "-+" and "a" in word[1:]
                                       and not word.startswith("--")):
                return True
    return False


def may_change(body: str, env: Mapping[str, str], aliases: Iterable[str] = ()) -> bool:
    """True when the block (with the values of the aliases it starts with) may change the
    carried state (see the module docstring)."""
    text = "\n".join([body, *aliases])
    if _WORDS.search(text) or _sets_allexport(text):
        return True
    return any(m.group(1) in env for m in _ASSIGN.finditer(text))
