"""The lexer shared by the step languages: lines, tokens, `$NAME` references, errors.

A body is one operation per line; blank lines and `#` comments are skipped. A token is a
bare word, a quoted string ("..." resolves variables, '...' is literal) or a JSON
object/array written inline (`{"status": "active"}`), which may contain spaces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from swrun.attributes import VAR_REF
from swrun.durations import parse_duration

T = TypeVar("T")


class OpError(ValueError):
    """A line of a step body cannot be understood (or a variable in it has no value)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        """1-based line within the body; 0 for the body as a whole."""

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class Token:
    raw: str
    """As written, quotes included."""
    text: str
    """The value: quotes removed, variables resolved (when variables were given)."""
    quote: str = ""
    """`"`, `'`, or empty for a bare word / JSON."""
    json: bool = False
    pending: bool = False
    """Still holds a `$NAME` reference (check time): value checks skip it."""

    @property
    def unresolved(self) -> bool:
        return self.pending


@dataclass(frozen=True)
class Line:
    number: int
    """1-based line within the body."""
    text: str
    tokens: tuple[Token, ...]


def tokenize(text: str, variables: Mapping[str, str] | None, number: int = 0) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "#":
            break
        if c in "\"'":
            j = i + 1
            buf = []
            while j < n and text[j] != c:
                if c == '"' and text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise OpError(f"unterminated {c} quote", number)
            value = "".join(buf)
            if c == '"':
                value = substitute(value, variables, number)
            tokens.append(Token(text[i : j + 1], value, c,
                                pending=c == '"' and _pending(value, variables)))
            i = j + 1
            continue
        if c in "{[":
            j = _json_end(text, i, number)
            tokens.append(Token(text[i:j], text[i:j], json=True,
                                pending=_pending(text[i:j], variables)))
            i = j
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        raw = text[i:j]
        tokens.append(Token(raw, substitute(raw, variables, number),
                            pending=_pending(raw, variables)))
        i = j
    return tokens


def _pending(text: str, variables: Mapping[str, str] | None) -> bool:
    return variables is None and bool(VAR_REF.search(text))


def _json_end(text: str, start: int, number: int) -> int:
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise OpError(f"unbalanced JSON starting {text[start:start + 20]!r} (a value that starts "
                  "with [ or { but is not JSON, such as a regex, goes in quotes: \"[0-9]+\")",
                  number)


def quoted(token: Token) -> str:
    """A token for an error message: as written when it holds a variable (its value may be
    a secret, and a fragment of one would escape masking), else its value quoted."""
    return token.raw if "$" in token.raw else repr(token.text)


def substitute(text: str, variables: Mapping[str, str] | None, number: int = 0) -> str:
    """`$NAME`/`${NAME}` replaced by values; left as written when variables is None."""
    if variables is None or "$" not in text:
        return text

    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in variables:
            raise OpError(f"variable {name} has no value", number)
        return variables[name]

    return VAR_REF.sub(value, text)


def load_json(token: Token, variables: Mapping[str, str] | None, number: int) -> Any:
    """A JSON token as data; variables resolve inside its string values only."""
    try:
        data = json.loads(token.raw)
    except json.JSONDecodeError as exc:
        raise OpError(f"bad JSON {token.raw!r}: {exc.msg} at column {exc.colno}",
                      number) from None
    return _subst_json(data, variables, number)


def _subst_json(data: Any, variables: Mapping[str, str] | None, number: int) -> Any:
    if isinstance(data, str):
        return substitute(data, variables, number)
    if isinstance(data, list):
        return [_subst_json(v, variables, number) for v in data]
    if isinstance(data, dict):
        return {k: _subst_json(v, variables, number) for k, v in data.items()}
    return data


def literal(token: Token) -> Any:
    """A comparison value: "quoted" is a string, a JSON literal (1, true, null) is itself,
    any other bare word is a string."""
    if token.quote:
        return token.text
    try:
        return json.loads(token.text)
    except json.JSONDecodeError:
        return token.text


def duration(token: Token, what: str, number: int) -> float | None:
    """Seconds, or None for an unresolved reference (check time)."""
    if token.unresolved:
        return None
    try:
        return parse_duration(token.text)
    except ValueError:
        raise OpError(f"{what}: bad duration {quoted(token)} (use e.g. 500ms, 45s, 15m)",
                      number) from None


def whole(token: Token, what: str, number: int, minimum: int = 0) -> int | None:
    if token.unresolved:
        return None
    if not re.fullmatch(r"[0-9]{1,12}", token.text) or int(token.text) < minimum:
        raise OpError(f"{what}: expected a whole number >= {minimum}, got {quoted(token)}",
                      number)
    return int(token.text)


def option(token: Token) -> tuple[str, Token] | None:
    """`key=value` → (key, value token); None for anything else."""
    if token.quote or token.json:
        return None
    key, eq, value = token.text.partition("=")
    if eq and re.fullmatch(r"[a-z][a-z0-9_-]*", key):
        return key, Token(value, value, pending=token.pending and bool(VAR_REF.search(value)))
    return None


class Collector:
    """Parse every line, keeping going after errors when a problem list is given (check)."""

    def __init__(self, problems: list[OpError] | None) -> None:
        self.problems = problems

    def fail(self, exc: OpError) -> None:
        if self.problems is None:
            raise exc
        self.problems.append(exc)


def parse_body(
    body: str, variables: Mapping[str, str] | None, problems: list[OpError] | None,
    parse_line: Callable[[Line], T], empty: str,
) -> list[T]:
    """Every line of a step body through `parse_line`; an empty body is the error `empty`.

    Without `problems` the first error raises; with it (swrun check) all are collected."""
    out: list[T] = []
    sink = Collector(problems)
    seen = False
    for number, text in enumerate(body.splitlines(), 1):
        try:  # line by line: one unbalanced quote does not hide the other lines' problems
            tokens = tokenize(text, variables, number)
            if tokens:
                seen = True
                out.append(parse_line(Line(number, text.strip(), tuple(tokens))))
        except OpError as exc:
            seen = True
            sink.fail(exc)
    if not seen:
        sink.fail(OpError(empty))
    return out
