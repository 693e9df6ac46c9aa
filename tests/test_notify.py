"""Notifications from real `swrun execute` runs to a real local HTTP server that records what
it is sent: each target's documented payload shape, secrets masked, order kept, a slow
endpoint that does not hold the run up, a dead one retried and then logged."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from servers import free_port

from swrun.notify.config import cli_target, guess_format, masked_url, read_targets
from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook

pytestmark = pytest.mark.slow


@dataclass
class Hit:
    path: str
    body: dict[str, Any]
    received: float
    answered: float = 0.0


@dataclass
class Recorder:
    url: str
    hits: list[Hit] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    """Path → how many more times it answers 500."""

    def at(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder("")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            hit = Hit(self.path, body, time.time())
            with lock:
                rec.hits.append(hit)
                failing = rec.fail.get(self.path, 0)
                if failing:
                    rec.fail[self.path] = failing - 1
            if self.path == "/slow":
                time.sleep(10)
            self.send_response(500 if failing else 200)
            self.end_headers()
            self.wfile.write(b"ok")
            hit.answered = time.time()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


def runbook(targets: str) -> str:
    return f"""
        +++
        {targets}
        [vars.TOKEN]
        default = "hunter2-secret"
        secret = true
        +++
        # Release

        ## Steps

        ```bash {{name=prepare milestone=mitigated}}
        echo prepared
        ```

        ```bash {{name=migrate on_failure=rollback}}
        echo "connecting with $TOKEN" >&2
        exit 4
        ```

        ## Rollback <!-- swrun: rollback -->

        ```bash {{name=undo}}
        echo undone
        ```
        """


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None
        ) -> tuple[subprocess.CompletedProcess[str], float]:
    import os

    t0 = time.time()
    proc = subprocess.run([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml",
                           "--rollback-on-failure", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})
    return proc, t0


def notifications(tmp_path: Path) -> list[dict[str, Any]]:
    return [e for e in read_log(tmp_path / "run.toml").events if e["type"] == "notification"]


ORDER = ["run_started", "milestone", "step_failed", "rollback_started", "rollback_finished",
         "run_finished"]


def test_each_target_gets_its_shape_in_order_with_secrets_masked(
        tmp_path: Path, recorder: Recorder) -> None:
    u = recorder.url
    write_runbook(tmp_path, runbook(f"""
        [[notify]]
        url = "env:SLACK_HOOK"
        format = "slack"
        [[notify]]
        url = "{u}/hooks/abc123"
        [[notify]]
        url = "{u}/teams"
        format = "teams"
        name = "ops team"
        """))
    proc, _ = run(tmp_path, "--notify", f"{u}/json/token-in-path",
                  env={"SLACK_HOOK": f"{u}/slack"})
    assert proc.returncode == 1, proc.stderr
    for path in ("/slack", "/hooks/abc123", "/teams", "/json/token-in-path"):
        hits = recorder.at(path)
        kinds = [h.body.get("event") for h in hits] if path.startswith("/json") else None
        assert len(hits) == len(ORDER), (path, [h.body for h in hits])
        if kinds is not None:
            assert kinds == ORDER  # the generic JSON names each event: order kept
    everything = json.dumps([h.body for h in recorder.hits])
    assert "hunter2-secret" not in everything
    assert "connecting with ****" in everything

    slack = recorder.at("/slack")
    assert [h.body["text"][:1] for h in slack] == ["▶", "⚑", "✗", "↺", "↺", "↺"]
    first = slack[0].body
    assert set(first) == {"text", "blocks"} and first["blocks"][0]["type"] == "section"
    assert first["blocks"][0]["text"]["type"] == "mrkdwn"
    assert first["blocks"][1]["type"] == "context"
    assert "Release started by" in first["text"]

    mm = recorder.at("/hooks/abc123")[2].body  # guessed from the URL: Mattermost
    assert mm["username"] == "swrun" and mm["text"].startswith("**✗ Release: step 2")
    assert mm["attachments"][0]["color"] == "#e01e5a"
    assert {f["title"] for f in mm["attachments"][0]["fields"]} >= {"runbook", "run", "step"}

    card = recorder.at("/teams")[-1].body
    assert card["type"] == "message"
    (att,) = card["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    content = att["content"]
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.4"
    assert content["body"][0]["type"] == "TextBlock" and "rolled back" in \
        content["body"][0]["text"]
    assert content["body"][-1]["type"] == "FactSet"

    generic = recorder.at("/json/token-in-path")[2].body
    assert generic["source"] == "swrun" and generic["event"] == "step_failed"
    assert generic["record"]["exit_code"] == 4 and generic["record"]["step"] == "migrate"
    # run_finished carries the chain head out of the machine: a witness verify can read
    end = recorder.at("/json/token-in-path")[-1].body["record"]["chain"]
    from swrun.evidence.chain import normalize, tables

    found, _ = tables(normalize((tmp_path / "run.toml").read_bytes()))
    at = next(t for t in found if t.seq == end["seq"])
    assert (at.hash, at.end) == (end["head"], end["bytes"])
    fact = recorder.at("/hooks/abc123")[-1].body["attachments"][0]["fields"]
    assert any(f["title"] == "witness" and f["value"].endswith(at.hash) for f in fact)

    logged = notifications(tmp_path)
    assert len(logged) == 4 * len(ORDER)
    assert {e["status"] for e in logged} == {"sent"}
    assert {e["target"] for e in logged} == {f"{u}/…", "ops team"}  # no path, no token
    assert "token-in-path" not in (tmp_path / "run.toml").read_text()
    for target in ("ops team",):
        assert [e["notify"] for e in logged if e["target"] == target] == ORDER


def test_a_slow_endpoint_does_not_hold_the_run(tmp_path: Path, recorder: Recorder) -> None:
    write_runbook(tmp_path, runbook(f"""
        [[notify]]
        url = "{recorder.url}/slow"
        timeout = "30s"
        [[notify]]
        url = "{recorder.url}/fast"
        """))
    proc, _ = run(tmp_path)
    ended = time.time()
    assert proc.returncode == 1, proc.stderr
    slow = recorder.at("/slow")
    assert slow and slow[0].answered == 0.0  # it has not even answered the first one
    assert len(recorder.at("/fast")) == len(ORDER)
    events = read_log(tmp_path / "run.toml").events
    finished = next(e for e in events if e["type"] == "run_finished")
    assert finished["status"] == "rolled_back"
    logged = notifications(tmp_path)
    pending = [e for e in logged if e["status"] == "pending"]
    assert [e["notify"] for e in pending] == ORDER  # still queued, in order, said so
    assert all("still being delivered" in e["error"] for e in pending)
    assert [e["notify"] for e in logged if e["status"] == "sent"] == ORDER  # the fast one
    assert ended < slow[0].received + 10  # the process was gone before /slow answered


def test_a_dead_endpoint_is_retried_then_logged(tmp_path: Path, recorder: Recorder) -> None:
    dead = f"http://127.0.0.1:{free_port()}/gone"
    recorder.fail["/flaky"] = 2
    write_runbook(tmp_path, runbook(f"""
        [[notify]]
        url = "{dead}"
        events = ["run_started", "run_finished"]
        retries = 2
        backoff = "0.05s"
        [[notify]]
        url = "{recorder.url}/flaky"
        events = ["run_started"]
        retries = 3
        backoff = "0.05s"
        """))
    proc, _ = run(tmp_path)
    assert proc.returncode == 1, proc.stderr
    logged = notifications(tmp_path)
    failed = [e for e in logged if e["status"] == "failed"]
    assert [e["notify"] for e in failed] == ["run_started", "run_finished"]
    assert all(e["attempt"] == 3 and "refused" in e["error"].lower() for e in failed)
    assert all("/gone" not in e["error"] and e["target"].endswith("/…") for e in failed)
    (flaky,) = [e for e in logged if e["target"] == f"{recorder.url}/…"]
    assert flaky["status"] == "sent" and flaky["attempt"] == 3 and flaky["http_status"] == 200
    assert len(recorder.at("/flaky")) == 3
    events = read_log(tmp_path / "run.toml").events
    assert events[-1]["type"] == "notification"
    assert next(e for e in events if e["type"] == "run_finished")["status"] == "rolled_back"


def test_check_reports_a_bad_notify_config(tmp_path: Path) -> None:
    write_runbook(tmp_path, runbook("""
        [[notify]]
        url = "ftp://example.com/x"
        [[notify]]
        url = "https://hooks.slack.com/services/T0/B0/xyz"
        events = ["run_finished", "lunch"]
        format = "irc"
        waiting_after = "soon"
        """))
    proc = subprocess.run([*swrun_cmd(), "check", "rb.md"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 3
    out = proc.stdout
    assert "notify #1: url 'ftp://example.com/…' is not an http(s) URL" in out
    assert "notify #2: unknown event 'lunch'" in out
    assert "notify #2: format 'irc' is not one of slack, mattermost, teams, json" in out
    assert "notify waiting_after='soon': bad duration" in out
    assert "xyz" not in out


def test_config_helpers() -> None:
    assert guess_format("https://hooks.slack.com/services/T/B/x") == "slack"
    assert guess_format("https://chat.example.com/hooks/3f9a") == "mattermost"
    assert guess_format("https://acme.webhook.office.com/webhookb2/x") == "teams"
    assert guess_format("https://example.com/swrun") == "json"
    assert masked_url("https://hooks.slack.com/services/T/B/x?y=1") == "https://hooks.slack.com/…"
    assert cli_target("teams=https://example.com/a").format == "teams"
    targets, problems = read_targets("https://hooks.slack.com/services/a")
    assert problems == [] and targets[0].format == "slack" and targets[0].retries == 3
