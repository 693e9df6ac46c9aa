"""The small line-oriented languages of mongo, aws, http and wait steps: pure parsers.

Each kind has one module with `parse(body, variables=None) -> list[Op]`. With variables
None (`swrun check`) references stay as written and only the shape is checked; at run time
every `$NAME` is resolved inside its own token, so a value is data and never syntax.
Nothing here imports pymongo, boto3 or botocore.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from swrun.ops.lex import OpError

__all__ = ["OpError", "validate"]


def validate(kind: str, body: str, attributes: Mapping[str, Any] | None = None
             ) -> list[OpError]:
    """Every problem in a step body of `kind` (each carries its 1-based body line)."""
    from swrun.ops import aws, http, mongo, wait

    parsers: dict[str, Callable[..., object]] = {
        "mongo": mongo.parse, "aws": aws.parse, "http": http.parse, "wait": wait.parse,
    }
    parse = parsers.get(kind)
    if parse is None:
        return []
    problems: list[OpError] = []
    ops = parse(body, None, problems)
    has_uri = bool((attributes or {}).get("uri")) and (attributes or {}).get("uri") is not True
    if kind == "mongo" and not has_uri:
        problems.append(OpError("a mongo step needs uri=$VARIABLE (the connection string is "
                                "a secret: declare it with secret = true)"))
    if kind == "wait" and not has_uri:
        for op in ops:
            if getattr(op, "watch_kind", None) == "mongo":
                problems.append(OpError("watching a mongo operation needs uri=$VARIABLE on "
                                        "the step", op.line))  # type: ignore[attr-defined]
    return problems
