"""HTTP checks with the standard library: status/JSON/header expectations, latency percentiles,
and the security headers (HSTS, CSP, X-Frame-Options). Redirects are not followed: the status
is what the server said."""

from __future__ import annotations

import http.client
import json
import math
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any

from swrun.durations import format_duration
from swrun.events import StepStatus
from swrun.executors.base import Output, StepContext, StepResult
from swrun.model import Step
from swrun.ops import http as lang
from swrun.ops.lex import OpError
from swrun.ops.runtime import Budget, OpFailed, run_ops, secret_masker

REQUEST_TIMEOUT = 10.0
DEFAULT_INTERVAL = 2.0
MAX_BODY = 1 << 20
USER_AGENT = "swrun-http-check"


class HttpExecutor:
    """Runs an http block's checks in order; GET/HEAD lines retry until `timeout=`."""

    def run(self, step: Step, ctx: StepContext) -> Iterator[Output | StepResult]:
        masker = secret_masker(ctx)
        try:
            ops = lang.parse(step.body, ctx.variables)
        except OpError as exc:
            yield StepResult(StepStatus.FAILED, error=masker.mask(f"http: {exc}"))
            return
        checker = HttpChecker(Budget(ctx))
        retry = ctx.timeout is not None
        interval = step.seconds("interval", DEFAULT_INTERVAL) or DEFAULT_INTERVAL
        yield from run_ops("http", ops, lambda op: checker.run(op, retry, interval), masker)


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes
    seconds: float


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpChecker:
    """Runs one check: `run` (with retries, for steps) or `once` (for watched waits)."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.opener = urllib.request.build_opener(_NoRedirect)

    def run(self, op: lang.HttpOp, retry: bool = False,
            interval: float = DEFAULT_INTERVAL) -> Iterator[Output]:
        attempts = 0
        started = time.monotonic()
        retry = retry and isinstance(op, lang.Request)
        while True:
            attempts += 1
            try:
                line, data = self.once(op)
                break
            except OpFailed as exc:
                left = self.budget.remaining()
                if not retry or left is None or left < interval:
                    if attempts > 1:
                        spent = format_duration(time.monotonic() - started)
                        exc.message += f" ({attempts} attempts in {spent})"
                        exc.data["attempts"] = attempts
                    raise
                yield Output(f"… {exc.message}; retrying in {format_duration(interval)}")
            self.budget.sleep(interval)
        if attempts > 1:
            data["attempts"] = attempts
        yield Output(line)
        return data

    def once(self, op: lang.HttpOp) -> tuple[str, dict[str, Any]]:
        """(✓ line, data) or OpFailed with the reason."""
        self.budget.check()
        if isinstance(op, lang.Request):
            return self._request(op)
        if isinstance(op, lang.Latency):
            return self._latency(op)
        if isinstance(op, lang.Hsts):
            return self._hsts(op)
        if isinstance(op, lang.Csp):
            return self._csp(op)
        assert isinstance(op, lang.FrameOptions)
        return self._frame_options(op)

    def fetch(self, method: str, url: str, read_body: bool = True) -> Response:
        """The response, or OpFailed: every failure is one line, never an exception (whose
        text may hold the URL, secrets included, in a form masking does not know)."""
        timeout = self.budget.remaining(REQUEST_TIMEOUT) or REQUEST_TIMEOUT
        t0 = time.perf_counter()
        try:
            req = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT})
            try:
                resp = self.opener.open(req, timeout=max(0.1, timeout))
            except urllib.error.HTTPError as err:
                resp = err
            with resp:
                body = resp.read(MAX_BODY) if read_body and method != "HEAD" else b""
                return Response(resp.status, resp.headers, body, time.perf_counter() - t0)
        except urllib.error.URLError as exc:
            reason = exc.reason
            text = reason.strerror if isinstance(reason, OSError) and reason.strerror else \
                str(reason)
            raise OpFailed(f"{method} {url}: cannot connect: {text}",
                           {"url": url, "method": method}) from None
        except TimeoutError:
            raise OpFailed(f"{method} {url}: no answer within {timeout:g}s",
                           {"url": url, "method": method}) from None
        except http.client.InvalidURL:
            raise OpFailed(f"{method} {url}: not a valid URL (a space or control character? "
                           "URL-encode it)", {"url": url, "method": method}) from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise OpFailed(f"{method} {url}: {type(exc).__name__}: {_first_line(exc)}",
                           {"url": url, "method": method}) from None

    def _request(self, op: lang.Request) -> tuple[str, dict[str, Any]]:
        r = self.fetch(op.method, op.url)
        ms = round(r.seconds * 1000, 1)
        data: dict[str, Any] = {"url": op.url, "method": op.method, "status": r.status,
                                "ms": ms}
        where = f"{op.method} {op.url}"
        if not lang.status_matches(r.status, op.status):
            raise OpFailed(f"{where}: expected {' or '.join(op.status)}, got {r.status}", data)
        notes: list[str] = []
        if op.json:
            try:
                doc = json.loads(r.body)
            except ValueError:
                raise OpFailed(f"{where}: the body is not JSON", data) from None
            for chk in op.json:
                found, value = lang.json_path(doc, chk.path)
                if not found:
                    raise OpFailed(f"{where}: no {chk.path} in the JSON body", data)
                if (value == chk.value) != (chk.op == "=="):
                    raise OpFailed(f"{where}: {chk.path} is {json.dumps(value)}, expected "
                                   f"{chk.op} {json.dumps(chk.value)}", data)
                notes.append(f"{chk.path} {chk.op} {json.dumps(chk.value)}")
        for hdr in op.headers:
            value = r.headers.get(hdr.name)
            if value is None:
                raise OpFailed(f"{where}: no {hdr.name} header", data)
            if hdr.pattern is not None and not re.search(hdr.pattern, value):
                raise OpFailed(f"{where}: {hdr.name} is {value!r}, does not match "
                               f"{hdr.pattern!r}", data)
            notes.append(hdr.name)
        if op.body is not None:
            if not re.search(op.body, r.body.decode("utf-8", "replace")):
                raise OpFailed(f"{where}: the body does not match {op.body!r}", data)
            notes.append(f"body ~ {op.body}")
        extra = f" ({', '.join(notes)})" if notes else ""
        return f"✓ {where} → {r.status} in {ms:g} ms{extra}", data

    def _latency(self, op: lang.Latency) -> tuple[str, dict[str, Any]]:
        times: list[float] = []
        failures: list[str] = []
        for _ in range(op.n):
            self.budget.check()
            try:
                r = self.fetch("GET", op.url)
            except OpFailed as exc:
                failures.append(exc.message.rsplit(": ", 1)[-1])
                continue
            if r.status >= 400:
                failures.append(str(r.status))
            times.append(r.seconds)
        data: dict[str, Any] = {"url": op.url, "n": op.n, "failed": len(failures)}
        if times:
            times.sort()
            for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
                data[f"{key}_ms"] = round(_rank(times, q) * 1000, 1)
            data["max_ms"] = round(times[-1] * 1000, 1)
            data["min_ms"] = round(times[0] * 1000, 1)
        for key, limit in op.limits:
            data[f"{key}_limit_ms"] = round(limit * 1000, 1)
        if failures:
            raise OpFailed(f"latency {op.url}: {len(failures)} of {op.n} requests failed "
                           f"(first: {failures[0]})", data)
        over = [f"{key} {data[f'{key}_ms']:g} ms >= {format_duration(limit)}"
                for key, limit in op.limits if data[f"{key}_ms"] >= limit * 1000]
        summary = (f"n={op.n} p50 {data['p50_ms']:g} ms, p95 {data['p95_ms']:g} ms, "
                   f"max {data['max_ms']:g} ms")
        if over:
            raise OpFailed(f"latency {op.url}: {', '.join(over)} ({summary})", data)
        limits = ", ".join(f"{k} < {format_duration(v)}" for k, v in op.limits)
        return f"✓ latency {op.url}: {summary}{f' ({limits})' if limits else ''}", data

    def _hsts(self, op: lang.Hsts) -> tuple[str, dict[str, Any]]:
        r = self.fetch("GET", op.url, read_body=False)
        value = r.headers.get("Strict-Transport-Security")
        data: dict[str, Any] = {"url": op.url, "status": r.status}
        if not value:
            raise OpFailed(f"hsts {op.url}: no Strict-Transport-Security header", data)
        data["header"] = value
        parts = [p.strip().lower() for p in value.split(";")]
        age = next((p.partition("=")[2].strip('" ') for p in parts if p.startswith("max-age")),
                   "")
        if not age.isdigit():
            raise OpFailed(f"hsts {op.url}: no max-age in {value!r}", data)
        data["max_age"] = int(age)
        if int(age) < op.min_age:
            raise OpFailed(f"hsts {op.url}: max-age={age} is below {op.min_age:.0f}", data)
        if op.preload and "preload" not in parts:
            raise OpFailed(f"hsts {op.url}: preload is missing from {value!r}", data)
        return f"✓ hsts {op.url}: {value}", data

    def _csp(self, op: lang.Csp) -> tuple[str, dict[str, Any]]:
        r = self.fetch("GET", op.url, read_body=False)
        value = r.headers.get("Content-Security-Policy")
        data: dict[str, Any] = {"url": op.url, "status": r.status}
        if not value:
            only = " (only Content-Security-Policy-Report-Only, which enforces nothing)" \
                if r.headers.get("Content-Security-Policy-Report-Only") else ""
            raise OpFailed(f"csp {op.url}: no Content-Security-Policy header{only}", data)
        data["header"] = value
        have = {d.strip().split(" ", 1)[0].lower() for d in value.split(";") if d.strip()}
        missing = [d for d in op.directives if d not in have]
        if missing:
            raise OpFailed(f"csp {op.url}: no {', '.join(missing)} directive in {value!r}", data)
        return f"✓ csp {op.url}: {value}", data

    def _frame_options(self, op: lang.FrameOptions) -> tuple[str, dict[str, Any]]:
        r = self.fetch("GET", op.url, read_body=False)
        xfo = (r.headers.get("X-Frame-Options") or "").strip().upper()
        csp = r.headers.get("Content-Security-Policy") or ""
        data: dict[str, Any] = {"url": op.url, "status": r.status, "header": xfo}
        allowed = (op.value,) if op.value else ("DENY", "SAMEORIGIN")
        if xfo in allowed:
            return f"✓ frame-options {op.url}: X-Frame-Options {xfo}", data
        ancestors = re.search(r"frame-ancestors\s+([^;]+)", csp, re.IGNORECASE)
        if not xfo and ancestors and op.value is None:
            data["frame_ancestors"] = ancestors.group(1).strip()
            return (f"✓ frame-options {op.url}: CSP frame-ancestors "
                    f"{ancestors.group(1).strip()}"), data
        got = f"X-Frame-Options is {xfo!r}" if xfo else "no X-Frame-Options header"
        raise OpFailed(f"frame-options {op.url}: {got}, expected {' or '.join(allowed)}", data)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _rank(sorted_times: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    return sorted_times[max(0, math.ceil(q * len(sorted_times)) - 1)]
