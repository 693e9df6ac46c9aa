"""Runme's cells (https://runme.dev): its fence attributes and front matter, mapped to swrun's.

Runme writes a cell's options in the fence's braces, as JSON (```` ```sh {"name":"echo"} ````,
what its editor saves) or as `key=value` words (```` ```sh { name=echo interactive=false } ````).
`attributes.parse_attributes` reads both; here the keys Runme documents get swrun's meaning
where one exists, and the rest are kept on the step (shown by `swrun plan --json`), never an
error. docs/formats.md has the table.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from swrun.attributes import KNOWN, AttrValue

CELL_KEYS = frozenset(
    {"background", "category", "closeTerminalOnSuccess", "cwd", "excludeFromRunAll", "id",
     "interactive", "interpreter", "mimeType", "name", "promptEnv", "skipPrompts", "tag",
     "terminalRows"}
)
"""The cell options Runme documents (its reference page and its code block's accessors)."""
_RUNME_ONLY = CELL_KEYS - {"name", "cwd"}
FRONT_MATTER_KEYS = frozenset(
    {"runme", "shell", "cwd", "skipPrompts", "category", "terminalRows"}
)
"""Runme's document options: understood, not "unknown" (only `shell` and `cwd` act)."""
_GROUPS = ("category", "tag")
"""Comma-separated lists: `{ category=build,deployment }` splits at the comma."""

INTERACTIVE = ("Runme runs it with the keyboard attached (interactive=true): run it in a "
               "terminal yourself")
BACKGROUND = ("Runme starts it in the background and does not wait (background=true): start "
              "it yourself in another terminal")


def kept(key: str) -> bool:
    """Whether `key` is a Runme cell option (kept on the step, not an unknown attribute)."""
    return key in CELL_KEYS


def cell(attrs: Mapping[str, AttrValue], metadata: Mapping[str, Any], *, shell_block: bool,
         inherited: Mapping[str, AttrValue]) -> dict[str, AttrValue]:
    """A fence's attributes with Runme's options given swrun's meaning: `excludeFromRunAll`
    → not run (`run=false`), `interpreter` (else the front matter's `shell`) → `shell=` on a
    shell block, the front matter's `cwd` joined with the cell's (Runme combines them) or
    given to a shell block that has none. The
    Runme keys stay as written. `inherited`: the section's attributes (a swrun comment's
    `cwd`/`shell` on the section wins over Runme's front matter)."""
    out = _regroup(attrs)
    if _true(out.get("excludeFromRunAll")) and "run" not in out:
        out["run"] = False
    interpreter = out.get("interpreter")
    if shell_block and "shell" not in out:
        if isinstance(interpreter, str) and interpreter.strip():
            out["shell"] = interpreter.strip()
        elif "shell" not in inherited and _text(metadata.get("shell")):
            out["shell"] = _text(metadata.get("shell"))
    doc_cwd = _text(metadata.get("cwd")) if shell_block else ""
    own_cwd = out.get("cwd")
    if doc_cwd and isinstance(own_cwd, str) and own_cwd:
        out["cwd"] = posixpath.normpath(posixpath.join(doc_cwd, own_cwd))
    elif doc_cwd and "cwd" not in out and "cwd" not in inherited:
        out["cwd"] = doc_cwd
    return out


def manual_reason(attrs: Mapping[str, AttrValue]) -> str:
    """Why a Runme cell is left to a person: `interactive=true` (it reads the keyboard) or
    `background=true` (a server or watcher that does not end); "" when swrun runs it."""
    if _true(attrs.get("interactive")):
        return INTERACTIVE
    if _true(attrs.get("background")):
        return BACKGROUND
    return ""


def is_cell(attrs: Mapping[str, AttrValue], metadata: Mapping[str, Any]) -> bool:
    """Whether a block is a Runme cell: its document has Runme's `runme:` front matter, or
    the block has an option only Runme has (`id`, `interactive`, `excludeFromRunAll`…)."""
    return "runme" in metadata or any(k in _RUNME_ONLY for k in attrs)


def unprompted(body: str) -> str:
    """A Runme cell's text as Runme runs it: every line is a command, a leading `$ ` (or a
    lone `$`) dropped; no line is program output. (`$HOME/bin/x` stays as written.)"""
    lines = body.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("$ ") or line.rstrip() == "$":
            lines[i] = line[2:]
    return "\n".join(lines)


def _regroup(attrs: Mapping[str, AttrValue]) -> dict[str, AttrValue]:
    """`category=build,deployment` read as `category=build` and a flag `deployment`: the
    bare words after a `category=`/`tag=` that are no known key go back into its list."""
    out: dict[str, AttrValue] = {}
    group = ""
    for key, value in attrs.items():
        if group and value is True and key not in KNOWN and key not in CELL_KEYS:
            out[group] = f"{out[group]},{key}"
            continue
        out[key] = value
        group = key if key in _GROUPS and isinstance(value, str) else ""
    return out


def _true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "yes", "1"))


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def front_matter_problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for Runme front-matter values swrun cannot use (`cwd`/`shell` must be
    text)."""
    return [(key, f"front matter {key} must be a string")
            for key in ("cwd", "shell") if key in data and not isinstance(data[key], str)]
