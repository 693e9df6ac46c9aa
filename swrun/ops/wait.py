"""The wait step language:

    wait DURATION
    wait DURATION watch <an http check or mongo operation> [every DURATION]

The watched line is an http check (GET, HEAD, latency, hsts, csp, frame-options) or a
read-only mongo operation (ping, status, indexes, count; the step needs `uri=`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from swrun.ops import http, mongo
from swrun.ops.lex import Line, OpError, duration, parse_body

DEFAULT_EVERY = 30.0


@dataclass(frozen=True)
class Wait:
    line: int
    text: str
    seconds: float
    watch: http.HttpOp | mongo.MongoOp | None = None
    every: float = DEFAULT_EVERY
    name = "wait"

    @property
    def watch_kind(self) -> str | None:
        if self.watch is None:
            return None
        return "http" if isinstance(self.watch, http.HttpOp) else "mongo"


EMPTY = ("empty wait step: write `wait 15m` (or `wait 15m watch GET URL "
    "expect 200 every 30s`)")


def parse(body: str, variables: Mapping[str, str] | None = None,
          problems: list[OpError] | None = None) -> list[Wait]:
    """The lines of a step body; raises OpError unless `problems` collects them."""
    return parse_body(body, variables, problems, lambda line: parse_tokens(line, variables), EMPTY)


def parse_tokens(line: Line, variables: Mapping[str, str] | None) -> Wait:
    t = list(line.tokens)
    n = line.number
    usage = "usage: wait DURATION [watch CHECK [every DURATION]]"
    if t[0].text != "wait" or len(t) < 2:
        raise OpError(usage, n)
    seconds = duration(t[1], "wait", n)
    if len(t) == 2:
        return Wait(n, line.text, seconds or 0.0)
    if t[2].text != "watch" or len(t) < 4:
        raise OpError(usage, n)
    rest = t[3:]
    every = DEFAULT_EVERY
    if len(rest) >= 2 and rest[-2].text == "every":
        given = duration(rest[-1], "every", n)  # None: a variable, known at run time
        if given is not None and given <= 0:
            raise OpError("every must be longer than 0s", n)
        every = given or DEFAULT_EVERY
        rest = rest[:-2]
    if not rest:
        raise OpError("watch needs a check (GET URL expect 200, or a mongo operation)", n)
    sub = Line(n, " ".join(tok.raw for tok in rest), tuple(rest))
    verb = rest[0].text.lower()
    watch: http.HttpOp | mongo.MongoOp
    if verb in http.VERBS:
        watch = http.parse_tokens(sub)
    elif verb in mongo.WATCHABLE:
        watch = mongo.parse_tokens(sub, variables)
    else:
        raise OpError(f"cannot watch {rest[0].raw!r}: use an http check (GET, HEAD, latency, "
                      "hsts, csp, frame-options) or ping, status, indexes, count", n)
    return Wait(n, line.text, seconds or 0.0, watch=watch, every=every)
