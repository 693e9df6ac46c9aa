"""Step and section attributes: the `{key=value flag}` syntax and the table of known keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from swrun.durations import parse_duration

AttrValue = str | bool
AttrType = Literal["flag", "str", "int", "duration", "choice"]

MAX_ATTRIBUTE_CHARS = 64 * 1024
"""An attribute value longer than this (64 KB of text) is an error, and not used."""
_WHOLE = re.compile(r"[0-9]{1,9}")  # ASCII only: str.isdigit() accepts "²", which int() rejects
VAR_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class AttrSpec:
    """What one attribute key accepts."""

    type: AttrType
    help: str
    choices: tuple[str, ...] = ()
    section: bool = False
    """May also be set on a section (then it is the default for the section's steps)."""
    minimum: int = 0


KNOWN: Mapping[str, AttrSpec] = {
    "name": AttrSpec("str", "step name (also its id); must be unique in the runbook"),
    "title": AttrSpec("str", "what the operator sees (default: the name, a comment, a heading)"),
    "hosts": AttrSpec("str", "inventory group or pattern to run on", section=True),
    "host": AttrSpec("str", "one inventory host to run on", section=True),
    "timeout": AttrSpec("duration", "kill the step after this long", section=True),
    "confirm": AttrSpec("flag", "ask the operator before running", section=True),
    "destructive": AttrSpec("flag", "needs the environment name typed in production", section=True),
    "unattended": AttrSpec(
        "flag", "may run unattended: no confirm inferred from a state-changing command",
        section=True),
    "retries": AttrSpec("int", "extra attempts after a failure", section=True),
    "retry_delay": AttrSpec("duration", "pause between attempts (default 2s)", section=True),
    "retry_safe": AttrSpec(
        "flag", "the console retries it after a failure without asking", section=True),
    "target": AttrSpec("duration", "expected duration, compared in history"),
    "on_failure": AttrSpec(
        "choice", "what to do when the step fails", ("rollback", "abort", "continue", "ask"),
        section=True,
    ),
    "shell": AttrSpec("str", "interpreter for a shell step (default bash)", section=True),
    "cwd": AttrSpec("str", "working directory, relative to the runbook file", section=True),
    "run": AttrSpec("flag", "run a block that would otherwise be reference material"),
    "rollback": AttrSpec("flag", "this section is the runbook's rollback", section=True),
    "milestone": AttrSpec(
        "choice", "incident milestone reached when this finishes",
        ("started", "detected", "acknowledged", "mitigated", "resolved"), section=True,
    ),
    "parallel": AttrSpec("int", "hosts at once in a fan-out", section=True, minimum=1),
    "serial": AttrSpec("int", "hosts per batch in a fan-out", section=True, minimum=1),
    "canary": AttrSpec("int", "hosts to run first, then pause", section=True, minimum=1),
    "keep_going": AttrSpec("flag", "continue the fan-out past a failed batch", section=True),
    "via": AttrSpec(
        "choice", "remote transport for a shell step", ("ssh", "ansible"), section=True
    ),
    "forks": AttrSpec("int", "Ansible forks", section=True, minimum=1),
    "playbook": AttrSpec("str", "playbook path, relative to the runbook file"),
    "limit": AttrSpec("str", "Ansible --limit pattern"),
    "tags": AttrSpec("str", "Ansible --tags"),
    "uri": AttrSpec("str", "MongoDB URI (a secret: use a variable)", section=True),
    "region": AttrSpec("str", "AWS region", section=True),
    "profile": AttrSpec("str", "AWS profile", section=True),
    "endpoint_url": AttrSpec("str", "AWS endpoint (e.g. a local emulator)", section=True),
    "interval": AttrSpec("duration", "polling interval for watched waits and checks"),
    "optional": AttrSpec(
        "flag", "this section is shown, not run in the main pass (Troubleshooting, FAQ…)",
        section=True,
    ),
    "file": AttrSpec("str", "write the block to this file instead of running it"),
    "outside": AttrSpec("flag", "file= may write outside the runbook's folder"),
    "allow": AttrSpec(
        "str", "`swrun check` rules not to report here: allow=\"SW101,SW104\"", section=True,
    ),
    "kube_context": AttrSpec(
        "str", "Kubernetes context its kubectl/oc commands use (checked before the run)",
        section=True,
    ),
    "approve": AttrSpec(
        "int", "people other than the operator who must approve it first (four-eyes)",
        section=True,
    ),
}


class AttributeSyntaxError(ValueError):
    """The attribute text cannot be split into key=value pairs."""


# One piece of a word: plain text, "double quoted" (\ escapes " and \), 'single quoted',
# a \-escaped character; or a separator (spaces, commas); or a quote/backslash left over.
_PIECE = re.compile(
    r'([^\s,"\'\\]+)|"([^"\\]*(?:\\.[^"\\]*)*)"|\'([^\']*)\'|\\(.)|([\s,]+)|(.)',
    re.DOTALL,
)
_DQ_ESCAPE = re.compile(r'\\(["\\])')


def split_words(text: str) -> list[str]:
    """Words separated by spaces or commas, with POSIX shell quoting: `hosts="h1,h4"` is one
    word. Linear in the text (shlex builds each word a character at a time: quadratic)."""
    words: list[str] = []
    word: list[str] = []
    started = False
    for m in _PIECE.finditer(text):
        plain, double, single, escaped, sep, stray = m.groups()
        if sep is not None:
            if started:
                words.append("".join(word))
            word, started = [], False
            continue
        if stray is not None:
            problem = "no closing quotation" if stray in "\"'" else "no escaped character"
            shown = text.strip() if len(text.strip()) <= 60 else text.strip()[:59] + "…"
            raise AttributeSyntaxError(f"cannot read attributes {shown!r}: {problem}")
        started = True
        if double is not None:
            word.append(_DQ_ESCAPE.sub(r"\1", double))
        else:
            word.append(plain if plain is not None else single if single is not None
                        else escaped)
    if started:
        words.append("".join(word))
    return words


def parse_attributes(text: str) -> dict[str, AttrValue]:
    """`name="a b" confirm retries=2` → {"name": "a b", "confirm": True, "retries": "2"}.

    Separators may be spaces or commas (quote a value to keep its commas: `hosts="h1,h4"`);
    `flag=true/false/yes/no` set a flag explicitly. The inside of a JSON object of plain
    values (`"name":"a b","confirm":"true"`, Runme's form) is read as the same pairs.
    Raises AttributeSyntaxError for unbalanced quotes, malformed keys or a key given twice
    (`hosts=h1 hosts=h2`: which one was meant?).
    """
    pairs = _json_pairs(text)
    words = split_words(text) if pairs is None else [f"{k}={v}" for k, v in pairs]
    out: dict[str, AttrValue] = {}
    written: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        key = key.strip().replace("-", "_")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
            shown = word if len(word) <= 60 else word[:59] + "…"
            raise AttributeSyntaxError(f"bad attribute {shown!r}: expected key=value or a flag")
        if key in written:
            raise AttributeSyntaxError(repeated(key, written[key], word))
        written[key] = word
        if not eq or (value.lower() in ("true", "yes", "on") and _is_flag(key)):
            out[key] = True
        elif value.lower() in ("false", "no", "off") and _is_flag(key):
            out[key] = False
        else:
            out[key] = value
    return out


def _json_pairs(text: str) -> list[tuple[str, str]] | None:
    """`"name":"echo","interactive":"false"` (the inside of a JSON object, as Runme writes a
    cell's options) → [("name", "echo"), ("interactive", "false")]; None when the text is not
    a JSON object of plain values (then it is read as `key=value` words). A JSON `true` is
    "true", a number its text, `null` leaves the key out."""
    if not text.lstrip().startswith('"'):
        return None
    import json

    try:
        pairs = json.loads("{" + text + "}", object_pairs_hook=list)
    except ValueError:
        return None
    out: list[tuple[str, str]] = []
    for key, value in pairs:
        if value is None:
            continue
        if isinstance(value, list | dict) or "=" in key:
            return None
        out.append((key, json.dumps(value) if isinstance(value, bool) else str(value)))
    return out


def repeated(key: str, first: str, second: str) -> str:
    """The message for a key given twice, `first` and `second` as written."""
    def show(word: str) -> str:
        return word if len(word) <= 40 else word[:39] + "…"
    return (f"attribute {key!r} is given twice ({show(first)}, then {show(second)}): "
            "write it once")


def _is_flag(key: str) -> bool:
    spec = KNOWN.get(key)
    return spec is None or spec.type == "flag"


_CONTEXT_MAX = 253
_POSITIVE = ("timeout", "interval", "target")
"""Durations where 0 would silently mean something else (no timeout, a busy loop)."""


def check_value(key: str, value: AttrValue) -> str | None:
    """A message when `value` does not fit the known key's type; None when fine or unknown."""
    spec = KNOWN.get(key)
    if spec is None:
        return None
    if spec.type == "flag":
        return None if isinstance(value, bool) else f"{key} is a flag; write just `{key}`"
    if isinstance(value, bool):
        return f"{key} needs a value ({key}=...)"
    if key == "kube_context":
        return kube_context_problem(value)
    if spec.type == "str":
        return None if value else f"{key} needs a value"
    if VAR_REF.fullmatch(value):
        return None  # resolved at run time
    if spec.type == "int":
        if not _WHOLE.fullmatch(value) or int(value) < spec.minimum:
            return f"{key}={value}: expected a whole number >= {spec.minimum}"
        return None
    if spec.type == "duration":
        try:
            seconds = parse_duration(value)
        except ValueError:
            return f"{key}={value}: bad duration (use e.g. 45s, 15m, 1h30m)"
        if seconds <= 0 and key in _POSITIVE:
            return f"{key}={value}: must be longer than 0s (leave it out for no {key})"
        return None
    if value not in spec.choices:
        return f"{key}={value}: expected one of {', '.join(spec.choices)}"
    return None


def kube_context_problem(value: str) -> str | None:
    """Why `value` cannot be a context name (None when it can): empty, too long, a space
    or control character, a leading `-` (it would read as an option), or a `$` variable."""
    if not value:
        return "kube_context needs a value"
    shown = value if len(value) <= 60 else value[:59] + "…"
    if len(value) > _CONTEXT_MAX:
        return f"kube_context is longer than {_CONTEXT_MAX} characters"
    if any(c.isspace() for c in value) or not value.isprintable():
        return f"kube_context={shown!r}: a context name has no spaces or control characters"
    if value.startswith("-"):
        return f"kube_context={shown!r}: a context name cannot start with '-'"
    if "$" in value:
        return (f"kube_context={shown!r}: write the context's name (variables are not "
                "filled in here)")
    return None


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """`$NAME`/`${NAME}` → the variable's value; an unknown name stays as written."""
    return VAR_REF.sub(lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), text)


def variable_refs(text: str) -> list[str]:
    """Names of `$NAME` / `${NAME}` references in `text`, in order."""
    return [m.group(1) or m.group(2) for m in VAR_REF.finditer(text)]


def escapes(target: str) -> bool:
    """Whether a path as written leaves the folder it is relative to (absolute, `~`, or more
    `..` than folders before them): a `file=` path that needs `outside`. Variables are not
    filled: `$OUT` does not escape here (the run-time check sees its value)."""
    if target.startswith(("/", "~")):
        return True
    depth = 0
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False
