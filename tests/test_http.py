"""http steps through the engine against a real local HTTP server."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swrun.events import StepFinished, StepOutput, StepStatus

from helpers import run_events, write_runbook

if TYPE_CHECKING:
    from servers import Web

pytest_plugins = ["servers"]

SECURE = {"Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
          "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
          "X-Frame-Options": "DENY"}


def http_book(tmp_path: Path, body: str, attrs: str = "", url: str = "") -> Path:
    return write_runbook(tmp_path, f"""\
+++
[vars.API]
default = "{url}"
+++
# Checks

```http {{{attrs}}}
{body}
```
""")


def reply(status: int = 200, body: Any = b"", headers: dict[str, str] | None = None,
          delay: float = 0.0) -> Any:
    from servers import Reply

    return Reply(status, body, headers or {}, delay)


def run(tmp_path: Path, web: Web, body: str, attrs: str = "") -> tuple[StepFinished, list[str]]:
    events = run_events(http_book(tmp_path, body, attrs, web.url))
    [done] = [e for e in events if isinstance(e, StepFinished)]
    return done, [e.line for e in events if isinstance(e, StepOutput)]


def test_get_with_status_json_and_header_expectations(tmp_path: Path, web: Web) -> None:
    web.routes["/health"] = reply(200, {"status": "healthy", "db": {"ok": True}, "n": [1, 2]},
                                  {"X-Version": "v1.4.2"})
    done, lines = run(tmp_path, web, """\
GET $API/health expect 200 json status == "healthy" json db.ok == true json n[1] == 2
GET ${API}/health header X-Version ~ "^v1\\.4" header Content-Type
HEAD $API/health expect 2xx""")
    assert done.status is StepStatus.OK, done.error
    first = done.data["ops"][0]
    assert first["status"] == 200 and first["method"] == "GET" and first["ms"] >= 0
    assert first["url"] == f"{web.url}/health"
    assert lines[0].startswith(f"✓ GET {web.url}/health → 200 in ")
    assert lines[0].endswith('(status == "healthy", db.ok == true, n[1] == 2)')


def test_json_mismatch_and_wrong_status_fail_with_one_line(tmp_path: Path, web: Web) -> None:
    web.routes["/health"] = reply(200, {"status": "degraded"})
    done, _ = run(tmp_path, web, 'GET $API/health json status == "healthy"')
    assert done.error == (f'http: GET {web.url}/health: status is "degraded", expected == '
                          '"healthy"')
    done, _ = run(tmp_path, web, "GET $API/missing expect 200")
    assert done.error == f"http: GET {web.url}/missing: expected 200, got 404"
    assert done.data["ops"][0]["status"] == 404


def test_get_is_retried_until_it_passes_within_timeout(tmp_path: Path, web: Web) -> None:
    web.routes["/ready"] = lambda n: reply(503 if n < 3 else 200)
    done, lines = run(tmp_path, web, "GET $API/ready expect 200", "timeout=10s interval=100ms")
    assert done.status is StepStatus.OK, done.error
    assert done.data["ops"][0]["attempts"] == 3
    assert lines[0] == f"… GET {web.url}/ready: expected 200, got 503; retrying in 100ms"


def test_get_gives_up_at_timeout_with_the_last_reason(tmp_path: Path, web: Web) -> None:
    web.routes["/ready"] = reply(503)
    done, _ = run(tmp_path, web, "GET $API/ready expect 200", "timeout=1s interval=200ms")
    assert done.status is StepStatus.FAILED
    assert done.error is not None
    assert done.error.startswith(f"http: GET {web.url}/ready: expected 200, got 503 (")
    assert done.data["ops"][0]["attempts"] >= 3


def test_latency_records_percentiles_and_fails_over_limit(tmp_path: Path, web: Web) -> None:
    web.routes["/fast"] = reply(200, b"ok")
    web.routes["/slow"] = reply(200, b"ok", delay=0.06)
    done, lines = run(tmp_path, web, "latency $API/fast n=30 p95 < 500ms")
    assert done.status is StepStatus.OK, done.error
    data = done.data["ops"][0]
    assert data["n"] == 30 and web.hits["/fast"] == 30
    assert 0 < data["p50_ms"] <= data["p95_ms"] <= data["max_ms"] < 500
    assert data["p95_limit_ms"] == 500
    assert lines[-1].startswith(f"✓ latency {web.url}/fast: n=30 p50 ")
    done, _ = run(tmp_path, web, "latency $API/slow n=4 p95 < 50ms")
    assert done.status is StepStatus.FAILED
    assert done.error is not None and done.error.startswith(
        f"http: latency {web.url}/slow: p95 ")
    assert ">= 50ms" in done.error


def test_security_headers_one_line_each(tmp_path: Path, web: Web) -> None:
    web.routes["/"] = reply(200, b"<html>", SECURE)
    web.routes["/bare"] = reply(200, b"<html>", {"Strict-Transport-Security": "max-age=300"})
    done, lines = run(tmp_path, web, """\
hsts $API/ preload
csp $API/ default-src frame-ancestors
frame-options $API/ DENY""")
    assert done.status is StepStatus.OK, done.error
    assert [o["op"] for o in done.data["ops"]] == ["hsts", "csp", "frameoptions"]
    assert done.data["ops"][0]["max_age"] == 31536000
    assert lines[2] == f"✓ frame-options {web.url}/: X-Frame-Options DENY"
    done, _ = run(tmp_path, web, "hsts $API/bare")
    assert done.error == f"http: hsts {web.url}/bare: max-age=300 is below 31536000"
    done, _ = run(tmp_path, web, "csp $API/bare")
    assert done.error == f"http: csp {web.url}/bare: no Content-Security-Policy header"
    done, _ = run(tmp_path, web, "frame-options $API/bare")
    assert done.error == (f"http: frame-options {web.url}/bare: no X-Frame-Options header, "
                          "expected DENY or SAMEORIGIN")


def test_refused_connection_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    events = run_events(http_book(tmp_path, "GET $API/health", url=f"http://127.0.0.1:{port}"))
    [done] = [e for e in events if isinstance(e, StepFinished)]
    assert done.error == (f"http: GET http://127.0.0.1:{port}/health: cannot connect: "
                          "Connection refused")
