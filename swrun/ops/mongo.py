"""The mongo step language: one operation per line.

    ping
    status [max-lag=DURATION]
    indexes DB.COLL expect NAME[,NAME...]
    count DB.COLL [FILTER-JSON] expect OP N            OP: == != < <= > >=
    backup DB to DIR
    restore DIR to DB [--drop]
    failover [force] [stepdown=DURATION] [catchup=DURATION]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from swrun.ops.lex import (
    Line,
    OpError,
    Token,
    duration,
    load_json,
    option,
    parse_body,
    quoted,
)

COMPARE = ("==", "!=", "<=", ">=", "<", ">")
_DB = re.compile(r"[^/\\. \"$*<>:|?]{1,63}")
WATCHABLE = frozenset({"ping", "status", "indexes", "count"})


@dataclass(frozen=True)
class MongoOp:
    line: int
    text: str
    """The line as written (variables unresolved), for display."""

    @property
    def name(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Ping(MongoOp):
    pass


@dataclass(frozen=True)
class Status(MongoOp):
    max_lag: float | None = None


@dataclass(frozen=True)
class Indexes(MongoOp):
    db: str = ""
    coll: str = ""
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Count(MongoOp):
    db: str = ""
    coll: str = ""
    filter: dict[str, Any] = field(default_factory=dict)
    op: str = "=="
    n: int = 0


@dataclass(frozen=True)
class Backup(MongoOp):
    db: str = ""
    dir: str = ""


@dataclass(frozen=True)
class Restore(MongoOp):
    dir: str = ""
    db: str = ""
    drop: bool = False


@dataclass(frozen=True)
class Failover(MongoOp):
    force: bool = False
    stepdown: float = 60.0
    catchup: float | None = None


EMPTY = ("empty mongo step: write one operation per line (ping, status, "
    "indexes, count, backup, restore, failover)")


def parse(body: str, variables: Mapping[str, str] | None = None,
          problems: list[OpError] | None = None) -> list[MongoOp]:
    """The lines of a step body; raises OpError unless `problems` collects them."""
    return parse_body(body, variables, problems, lambda line: parse_tokens(line, variables), EMPTY)


def parse_tokens(line: Line, variables: Mapping[str, str] | None) -> MongoOp:
    t = list(line.tokens)
    n = line.number
    verb = t[0].text.lower()
    args = t[1:]
    if verb == "ping":
        _no_more(args, "ping", n)
        return Ping(n, line.text)
    if verb == "status":
        max_lag = None
        for tok in args:
            opt = option(tok)
            if opt is None or opt[0] != "max-lag":
                raise OpError(f"status: unexpected {tok.raw!r} (only max-lag=DURATION)", n)
            max_lag = duration(opt[1], "max-lag", n)
        return Status(n, line.text, max_lag=max_lag)
    if verb == "indexes":
        if len(args) != 3 or args[1].text != "expect":
            raise OpError("usage: indexes DB.COLL expect NAME[,NAME...]", n)
        db, coll = namespace(args[0], n)
        names = tuple(x for x in args[2].text.split(",") if x)
        if not names:
            raise OpError("indexes: expect needs at least one index name", n)
        return Indexes(n, line.text, db=db, coll=coll, names=names)
    if verb == "count":
        usage = "usage: count DB.COLL [FILTER-JSON] expect OP N (OP: == != < <= > >=)"
        if not args:
            raise OpError(usage, n)
        db, coll = namespace(args[0], n)
        rest = args[1:]
        flt: dict[str, Any] = {}
        if rest and rest[0].json:
            loaded = load_json(rest[0], variables, n)
            if not isinstance(loaded, dict):
                raise OpError("count: the filter must be a JSON object", n)
            flt = loaded
            rest = rest[1:]
        if len(rest) != 3 or rest[0].text != "expect" or rest[1].text not in COMPARE:
            raise OpError(usage, n)
        number = rest[2]
        if not number.unresolved and not re.fullmatch(r"[0-9]{1,15}", number.text):
            raise OpError(f"count: expected a whole number, got {quoted(number)}", n)
        return Count(n, line.text, db=db, coll=coll, filter=flt, op=rest[1].text,
                     n=0 if number.unresolved else int(number.text))
    if verb == "backup":
        if len(args) != 3 or args[1].text != "to":
            raise OpError("usage: backup DB to DIR", n)
        return Backup(n, line.text, db=database(args[0], n), dir=args[2].text)
    if verb == "restore":
        drop = any(a.text == "--drop" for a in args)
        args = [a for a in args if a.text != "--drop"]
        if len(args) != 3 or args[1].text != "to":
            raise OpError("usage: restore DIR to DB [--drop]", n)
        return Restore(n, line.text, dir=args[0].text, db=database(args[2], n), drop=drop)
    if verb == "failover":
        force = False
        stepdown: float | None = 60.0
        catchup = None
        for tok in args:
            opt = option(tok)
            if tok.text == "force":
                force = True
            elif opt is not None and opt[0] == "stepdown":
                stepdown = duration(opt[1], "stepdown", n)
                if stepdown is not None and stepdown < 1:
                    raise OpError("failover: stepdown must be at least 1s", n)
            elif opt is not None and opt[0] == "catchup":
                catchup = duration(opt[1], "catchup", n)
            else:
                raise OpError(f"failover: unexpected {tok.raw!r} (force, stepdown=DURATION, "
                              "catchup=DURATION)", n)
        if stepdown is not None and catchup is not None and catchup >= stepdown:
            raise OpError("failover: catchup must be shorter than stepdown", n)
        return Failover(n, line.text, force=force, stepdown=stepdown or 60.0, catchup=catchup)
    raise OpError(f"unknown mongo operation {t[0].raw!r} (ping, status, indexes, count, "
                  "backup, restore, failover)", n)


def namespace(tok: Token, n: int) -> tuple[str, str]:
    db, dot, coll = tok.text.partition(".")
    if tok.unresolved:
        return db, coll
    if not dot or not coll:
        raise OpError(f"expected DB.COLLECTION, got {quoted(tok)}", n)
    database(Token(tok.raw, db), n)  # the raw text, so a message never shows part of a value
    return db, coll


def database(tok: Token, n: int) -> str:
    if not tok.unresolved and not _DB.fullmatch(tok.text):
        raise OpError(f"bad database name {quoted(tok)}", n)
    return tok.text


def _no_more(args: list[Token], verb: str, n: int) -> None:
    if args:
        raise OpError(f"{verb} takes no arguments (got {args[0].raw!r})", n)
