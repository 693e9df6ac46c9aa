"""OpenTelemetry: a real `swrun execute` with OTEL_EXPORTER_OTLP_ENDPOINT exports one trace to
a local OTLP/HTTP receiver that decodes the protobuf (opentelemetry-proto): the span tree,
the attributes and events; `swrun timeline --format otlp` rebuilds the same spans from the
log; a dead collector costs the run nothing."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from servers import free_port

from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook

pytestmark = pytest.mark.slow

RUNBOOK = """
    # Traced release

    ## Steps

    - [ ] Tell #ops

    ```bash {name=build milestone=mitigated}
    echo built
    ```

    ```bash {name=flaky retries=1}
    if [ -f tried ]; then echo ok; else touch tried; exit 2; fi
    ```

    ```bash {name=broken on_failure=continue}
    exit 7
    ```
    """


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


class Receiver:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        self.paths: list[str] = []

    def wait(self, count: int, limit: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + limit
        while len(self.spans) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.spans


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            req = ExportTraceServiceRequest()
            req.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
            rec.paths.append(self.path)
            for rs in req.resource_spans:
                rec.resources.append({a.key: _value(a.value) for a in rs.resource.attributes})
                for ss in rs.scope_spans:
                    for sp in ss.spans:
                        rec.spans.append({
                            "name": sp.name, "trace": sp.trace_id.hex(), "id": sp.span_id.hex(),
                            "parent": sp.parent_span_id.hex(), "status": sp.status.code,
                            "start": sp.start_time_unix_nano, "end": sp.end_time_unix_nano,
                            "attrs": {a.key: _value(a.value) for a in sp.attributes},
                            "events": [(e.name, {a.key: _value(a.value) for a in e.attributes})
                                       for e in sp.events]})
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield rec, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def execute(tmp_path: Path, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
    return subprocess.run([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml",
                           "--operator", "alice"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=env)


def test_a_run_is_one_trace(tmp_path: Path, receiver: tuple[Receiver, str]) -> None:
    rec, endpoint = receiver
    write_runbook(tmp_path, RUNBOOK)
    proc = execute(tmp_path, endpoint)
    assert proc.returncode == 1, proc.stderr
    spans = rec.wait(6)
    assert set(rec.paths) == {"/v1/traces"}
    assert rec.resources[0]["service.name"] == "swrun"
    by_name = {s["name"]: s for s in spans}
    assert sorted(by_name) == sorted(["swrun run Traced release", "step 1: Tell #ops",
                                      "step 2: build", "step 3: flaky", "step 4: broken"])
    assert len(spans) == 6  # flaky has two attempts
    root = by_name["swrun run Traced release"]
    log = read_log(tmp_path / "run.toml")
    run_id = log.run["id"]
    assert root["parent"] == "" and {s["trace"] for s in spans} == {root["trace"]}
    assert all(s["parent"] == root["id"] for s in spans if s is not root)
    assert root["attrs"]["swrun.run_id"] == run_id
    assert root["attrs"]["swrun.operator"] == "alice"
    assert root["attrs"]["swrun.status"] == "failed" and root["status"] == 2  # ERROR
    assert root["attrs"]["swrun.counts.failed"] == 1
    # the chain head as the log had it at run_finished: a witness outside the machine
    from swrun.evidence.chain import digest, normalize, tables

    found, _ = tables(normalize((tmp_path / "run.toml").read_bytes()))
    at = next(t for t in found if t.seq == root["attrs"]["swrun.chain.seq"])
    assert root["attrs"]["swrun.chain.head"] == at.hash == digest(at.data)
    assert root["attrs"]["swrun.chain.bytes"] == at.end
    names = [name for name, _ in root["events"]]
    assert "tick" in names and "milestone" in names
    (milestone,) = [a for n, a in root["events"] if n == "milestone"]
    assert milestone["swrun.milestone"] == "mitigated"

    build = by_name["step 2: build"]
    assert build["attrs"]["swrun.step.kind"] == "shell"
    assert build["attrs"]["swrun.step.status"] == "ok" and build["status"] == 1  # OK
    assert build["attrs"]["swrun.step.exit_code"] == 0
    assert isinstance(build["attrs"]["swrun.step.duration_ms"], int)
    assert root["start"] <= build["start"] <= build["end"] <= root["end"]
    flaky = sorted((s for s in spans if s["name"] == "step 3: flaky"),
                   key=lambda s: s["start"])
    assert [s["attrs"]["swrun.step.attempt"] for s in flaky] == [1, 2]
    assert [s["attrs"]["swrun.step.status"] for s in flaky] == ["failed", "ok"]
    assert flaky[0]["attrs"]["swrun.step.will_retry"] is True
    broken = by_name["step 4: broken"]
    assert broken["status"] == 2 and broken["attrs"]["swrun.step.exit_code"] == 7
    tick = by_name["step 1: Tell #ops"]
    assert tick["attrs"]["swrun.step.status"] == "ticked" and tick["attrs"]["swrun.by"] == "auto"

    # the same log exported afterwards: the same spans, ids and all
    live = {(s["id"], s["parent"], s["name"]) for s in spans}
    rec.spans.clear()
    again = subprocess.run([*swrun_cmd(), "timeline", "--format", "otlp", "run.toml"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    assert again.returncode == 0, again.stderr
    assert "exported 6 span(s) of 1 run(s)" in again.stderr
    assert {(s["id"], s["parent"], s["name"]) for s in rec.wait(6)} == live


def test_a_dead_collector_costs_the_run_nothing(tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK)
    proc = execute(tmp_path, f"http://127.0.0.1:{free_port()}")
    assert proc.returncode == 1
    assert "opentelemetry" not in proc.stderr.lower() and "traceback" not in proc.stderr.lower()
    assert "export" not in proc.stderr.lower()
    events = read_log(tmp_path / "run.toml").events
    assert events[-1]["type"] == "run_finished" and events[-1]["counts"] == {
        "ticked": 1, "ok": 2, "failed": 1}


def test_timeline_otlp_needs_an_endpoint(tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK)
    subprocess.run([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml"],
                   cwd=tmp_path, capture_output=True, timeout=60)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    proc = subprocess.run([*swrun_cmd(), "timeline", "--format", "otlp", "run.toml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "set OTEL_EXPORTER_OTLP_ENDPOINT" in proc.stderr
