"""The aws step language: one operation per line.

    s3 sync DIR s3://BUCKET[/PREFIX] [--delete]
    s3 put FILE s3://BUCKET/KEY
    s3 get s3://BUCKET/KEY FILE
    cloudfront invalidate DIST_ID PATH...
    traffic LISTENER_ARN TG=WEIGHT TG=WEIGHT...      TG: target group name or ARN
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from swrun.ops.lex import Line, OpError, Token, parse_body, quoted

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
MAX_WEIGHT = 999
"""The ALB limit for a target group weight."""


@dataclass(frozen=True)
class AwsOp:
    line: int
    text: str

    @property
    def name(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class S3Sync(AwsOp):
    dir: str = ""
    bucket: str = ""
    prefix: str = ""
    delete: bool = False


@dataclass(frozen=True)
class S3Put(AwsOp):
    file: str = ""
    bucket: str = ""
    key: str = ""


@dataclass(frozen=True)
class S3Get(AwsOp):
    bucket: str = ""
    key: str = ""
    file: str = ""


@dataclass(frozen=True)
class Invalidate(AwsOp):
    distribution: str = ""
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Traffic(AwsOp):
    listener: str = ""
    weights: tuple[tuple[str, int], ...] = ()


EMPTY = ("empty aws step: write one operation per line (s3 sync, s3 put, "
    "s3 get, cloudfront invalidate, traffic)")


def parse(body: str, variables: Mapping[str, str] | None = None,
          problems: list[OpError] | None = None) -> list[AwsOp]:
    """The lines of a step body; raises OpError unless `problems` collects them."""
    return parse_body(body, variables, problems, parse_tokens, EMPTY)


def parse_tokens(line: Line) -> AwsOp:
    t = list(line.tokens)
    n = line.number
    verb = t[0].text.lower()
    sub = t[1].text.lower() if len(t) > 1 else ""
    if verb == "s3" and sub == "sync":
        delete = any(a.text == "--delete" for a in t[2:])
        args = [a for a in t[2:] if a.text != "--delete"]
        if len(args) != 2:
            raise OpError("usage: s3 sync DIR s3://BUCKET[/PREFIX] [--delete]", n)
        bucket, prefix = s3_url(args[1], n)
        return S3Sync(n, line.text, dir=args[0].text, bucket=bucket, prefix=prefix.strip("/"),
                      delete=delete)
    if verb == "s3" and sub == "put":
        if len(t) != 4:
            raise OpError("usage: s3 put FILE s3://BUCKET/KEY", n)
        bucket, key = s3_url(t[3], n, need_key=True)
        return S3Put(n, line.text, file=t[2].text, bucket=bucket, key=key)
    if verb == "s3" and sub == "get":
        if len(t) != 4:
            raise OpError("usage: s3 get s3://BUCKET/KEY FILE", n)
        bucket, key = s3_url(t[2], n, need_key=True)
        return S3Get(n, line.text, bucket=bucket, key=key, file=t[3].text)
    if verb == "s3":
        raise OpError(f"unknown s3 operation {sub!r} (sync, put, get)", n)
    if verb == "cloudfront":
        if sub != "invalidate" or len(t) < 4:
            raise OpError("usage: cloudfront invalidate DIST_ID PATH...", n)
        paths = tuple(p.text for p in t[3:])
        for p in t[3:]:
            if not p.unresolved and not p.text.startswith("/"):
                raise OpError(f"cloudfront: paths start with / (got {quoted(p)})", n)
        return Invalidate(n, line.text, distribution=t[2].text, paths=paths)
    if verb == "traffic":
        if len(t) < 3:
            raise OpError("usage: traffic LISTENER_ARN TG=WEIGHT TG=WEIGHT...", n)
        weights: list[tuple[str, int]] = []
        for tok in t[2:]:
            name, eq, weight = tok.text.rpartition("=")
            if not eq or not name:
                raise OpError(f"traffic: expected TG=WEIGHT, got {tok.raw!r}", n)
            if tok.unresolved and "$" in weight:
                weights.append((name, 0))
                continue
            if not re.fullmatch(r"[0-9]{1,3}", weight):
                raise OpError(f"traffic: weight of {name} must be 0-{MAX_WEIGHT}, got "
                              f"{weight!r}", n)
            weights.append((name, int(weight)))
        if not any(tok.unresolved for tok in t[2:]) and not any(w for _, w in weights):
            raise OpError("traffic: at least one weight must be above 0", n)
        if len({name for name, _ in weights}) != len(weights):
            raise OpError("traffic: a target group is listed twice", n)
        return Traffic(n, line.text, listener=t[1].text, weights=tuple(weights))
    raise OpError(f"unknown aws operation {t[0].raw!r} (s3, cloudfront, traffic)", n)


def s3_url(tok: Token, n: int, need_key: bool = False) -> tuple[str, str]:
    if tok.unresolved and not tok.text.startswith("s3://"):
        return tok.text, "key" if need_key else ""
    if not tok.text.startswith("s3://"):
        raise OpError(f"expected s3://BUCKET/..., got {quoted(tok)}", n)
    bucket, _, key = tok.text[5:].partition("/")
    if not tok.unresolved and not _BUCKET.fullmatch(bucket):
        raise OpError(f"bad bucket name {bucket!r}", n)
    if need_key and not key:
        raise OpError(f"{quoted(tok)}: needs a key after the bucket", n)
    return bucket, key
