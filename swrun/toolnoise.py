"""Interpreter warnings of a tool swrun drives (ansible's Python, pm2's node): not step output.

A new `cryptography` makes ansible's own Python print `…/_ssh_agent.py:18:
CryptographyDeprecationWarning: DSA is deprecated …` (and the source line under it) before any
play output; a new node makes pm2 print `(node:123) [DEP0040] DeprecationWarning: …`. Neither is
about the operator's hosts. `Noise` tells such lines apart so an executor keeps them in the
step's debug record (`data.debug` of `step_finished`) instead of the output the operator reads.
"""

from __future__ import annotations

import re

_PYTHON = re.compile(r"\S+\.py:[0-9]+: [A-Za-z_][A-Za-z0-9_]*Warning: ")
"""`warnings.showwarning`'s format: `file.py:LINE: CategoryWarning: message`."""
_NODE = re.compile(r"\(node:[0-9]+\) (?:\[[A-Z0-9]+\] )?[A-Za-z]*Warning: ")
_NODE_HINT = re.compile(r"\(Use `node --trace-[a-z-]+ \.\.\.` to show where the warning was "
                        r"created\)")
MAX_KEPT = 50
"""At most this many debug lines per step (a tool that warns per host could print many)."""


class Noise:
    """Feed every line of one stream in order; `is_noise` says whether it is a tool's warning.

    A Python warning is followed by the source line it points at, indented: that line is
    noise too. Only lines that are noise are taken; everything else stays output."""

    def __init__(self) -> None:
        self._after_python = False
        self.kept: list[str] = []

    def is_noise(self, line: str) -> bool:
        after, self._after_python = self._after_python, False
        if _PYTHON.match(line):
            self._after_python = True
        elif not (_NODE.match(line) or _NODE_HINT.fullmatch(line.strip())
                  or (after and line[:1] in (" ", "\t") and line.strip())):
            return False
        if len(self.kept) < MAX_KEPT:
            self.kept.append(line)
        return True
