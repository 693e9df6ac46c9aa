"""The http step language: one check per line.

    GET|HEAD URL [expect STATUS] [json PATH OP VALUE]... [header NAME [~ REGEX]]... [body ~ REGEX]
    latency URL [n=N] [p50 < DURATION] [p95 < DURATION] [max < DURATION]
    hsts URL [min-age=DURATION] [preload]
    csp URL [DIRECTIVE...]
    frame-options URL [DENY|SAMEORIGIN]

STATUS is `200`, `2xx` or a list `200,204`; without `expect` any 2xx passes. PATH is a dotted
path into the JSON body (`status`, `data.items[0].id`, `$.status`); OP is `==` or `!=`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from swrun.ops.lex import (
    Line,
    OpError,
    Token,
    duration,
    literal,
    option,
    parse_body,
    quoted,
    whole,
)

DEFAULT_HSTS_AGE = 31536000.0
"""One year, what HSTS preload lists require."""
_PATH = re.compile(r"(?:\$\.?)?([A-Za-z_][\w-]*|\[\d+\])((?:\.[A-Za-z_][\w-]*|\[\d+\])*)")
_STATUS = re.compile(r"[1-5](?:[0-9]{2}|xx)")
_UNSENDABLE = re.compile(r"[\x00-\x20\x7f]")
VERBS = frozenset({"get", "head", "latency", "hsts", "csp", "frame-options"})


@dataclass(frozen=True)
class HttpOp:
    line: int
    text: str
    url: str

    @property
    def name(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class JsonCheck:
    path: str
    op: str
    value: Any


@dataclass(frozen=True)
class HeaderCheck:
    name: str
    pattern: str | None = None


@dataclass(frozen=True)
class Request(HttpOp):
    method: str = "GET"
    status: tuple[str, ...] = ("2xx",)
    json: tuple[JsonCheck, ...] = ()
    headers: tuple[HeaderCheck, ...] = ()
    body: str | None = None


@dataclass(frozen=True)
class Latency(HttpOp):
    n: int = 20
    limits: tuple[tuple[str, float], ...] = ()
    """(p50|p95|max, seconds) the measurement must stay under."""


@dataclass(frozen=True)
class Hsts(HttpOp):
    min_age: float = DEFAULT_HSTS_AGE
    preload: bool = False


@dataclass(frozen=True)
class Csp(HttpOp):
    directives: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrameOptions(HttpOp):
    value: str | None = None


EMPTY = ("empty http step: write one check per line (GET URL expect 200, "
    "latency, hsts, csp, frame-options)")


def parse(body: str, variables: Mapping[str, str] | None = None,
          problems: list[OpError] | None = None) -> list[HttpOp]:
    """The lines of a step body; raises OpError unless `problems` collects them."""
    return parse_body(body, variables, problems, parse_tokens, EMPTY)


def parse_tokens(line: Line) -> HttpOp:
    t = list(line.tokens)
    n = line.number
    verb = t[0].text.lower()
    if verb not in VERBS:
        raise OpError(f"unknown http check {t[0].raw!r} (GET, HEAD, latency, hsts, csp, "
                      "frame-options)", n)
    if len(t) < 2:
        raise OpError(f"{quoted(t[0])}: needs a URL", n)
    url = _url(t[1], n)
    args = t[2:]
    if verb in ("get", "head"):
        return _request(line, verb.upper(), url, args)
    if verb == "latency":
        count: int | None = 20
        limits: list[tuple[str, float]] = []
        i = 0
        while i < len(args):
            opt = option(args[i])
            if opt is not None and opt[0] == "n":
                count = whole(opt[1], "n", n, minimum=1)
                i += 1
            elif args[i].text in ("p50", "p95", "p99", "max") and i + 2 < len(args) and \
                    args[i + 1].text == "<":
                seconds = duration(args[i + 2], args[i].text, n)
                limits.append((args[i].text, seconds if seconds is not None else 0.0))
                i += 3
            else:
                raise OpError(f"latency: unexpected {args[i].raw!r} (n=N, p50|p95|p99|max < "
                              "DURATION)", n)
        return Latency(n, line.text, url, n=count or 20, limits=tuple(limits))
    if verb == "hsts":
        age: float | None = DEFAULT_HSTS_AGE
        preload = False
        for tok in args:
            opt = option(tok)
            if tok.text == "preload":
                preload = True
            elif opt is not None and opt[0] == "min-age":
                age = whole(opt[1], "min-age", n) if opt[1].text.isdigit() else \
                    duration(opt[1], "min-age", n)
            else:
                raise OpError(f"hsts: unexpected {tok.raw!r} (min-age=SECONDS, preload)", n)
        return Hsts(n, line.text, url, min_age=float(age or 0), preload=preload)
    if verb == "csp":
        return Csp(n, line.text, url, directives=tuple(a.text.lower() for a in args))
    value = None
    if args:
        value = args[0].text.upper()
        if len(args) > 1 or (not args[0].unresolved and value not in ("DENY", "SAMEORIGIN")):
            raise OpError("usage: frame-options URL [DENY|SAMEORIGIN]", n)
    return FrameOptions(n, line.text, url, value=value)


def _url(tok: Token, n: int) -> str:
    if tok.unresolved:
        return tok.text
    if not re.match(r"https?://[^/\s]+", tok.text):
        raise OpError(f"expected an http:// or https:// URL, got {quoted(tok)}", n)
    bad = _UNSENDABLE.search(tok.text)
    if bad:  # http.client refuses it later with the URL's repr in the message
        what = "a space" if bad.group() == " " else "a control character"
        raise OpError(f"the URL {quoted(tok)} has {what} in it; URL-encode it (a space is "
                      "%20)", n)
    return tok.text


def _request(line: Line, method: str, url: str, args: list[Token]) -> Request:
    n = line.number
    status: tuple[str, ...] = ("2xx",)
    checks: list[JsonCheck] = []
    headers: list[HeaderCheck] = []
    body = None
    i = 0
    while i < len(args):
        word = args[i].text
        if word == "expect" and i + 1 < len(args):
            codes = tuple(c.lower() for c in args[i + 1].text.split(",") if c)
            if not args[i + 1].unresolved and (
                    not codes or not all(_STATUS.fullmatch(c) for c in codes)):
                raise OpError(f"expect: bad status {quoted(args[i + 1])} (200, 2xx, "
                              "200,204)", n)
            status = codes
            i += 2
        elif word == "json" and i + 3 < len(args) and args[i + 2].text in ("==", "!="):
            path = args[i + 1].text
            if not args[i + 1].unresolved and not _PATH.fullmatch(path):
                raise OpError(f"json: bad path {path!r} (e.g. status, data.items[0].id)", n)
            checks.append(JsonCheck(path, args[i + 2].text, literal(args[i + 3])))
            i += 4
        elif word == "header" and i + 1 < len(args):
            name = args[i + 1].text
            if i + 3 < len(args) and args[i + 2].text == "~":
                pattern = _regex(args[i + 3], n)
                headers.append(HeaderCheck(name, pattern))
                i += 4
            else:
                headers.append(HeaderCheck(name))
                i += 2
        elif word == "body" and i + 2 < len(args) and args[i + 1].text == "~":
            body = _regex(args[i + 2], n)
            i += 3
        else:
            raise OpError(f"{method}: unexpected {args[i].raw!r} (expect STATUS, json PATH == "
                          "VALUE, header NAME [~ REGEX], body ~ REGEX)", n)
    return Request(n, line.text, url, method=method, status=status, json=tuple(checks),
                   headers=tuple(headers), body=body)


def _regex(tok: Token, n: int) -> str:
    if not tok.unresolved:
        try:
            re.compile(tok.text)
        except re.error as exc:
            raise OpError(f"bad regular expression {quoted(tok)}: {exc}", n) from None
    return tok.text


def status_matches(code: int, allowed: tuple[str, ...]) -> bool:
    text = str(code)
    return any(a == text or (a.endswith("xx") and a[0] == text[0]) for a in allowed)


def json_path(data: Any, path: str) -> tuple[bool, Any]:
    """(found, value) of a dotted path with [i] indexes."""
    path = path[2:] if path.startswith("$.") else path[1:] if path.startswith("$") else path
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            idx = int(part[1:-1])
            if not isinstance(data, list) or idx >= len(data):
                return False, None
            data = data[idx]
        else:
            if not isinstance(data, dict) or part not in data:
                return False, None
            data = data[part]
    return True, data
