"""wait steps through the engine: countdown, watched waits (http and mongo), cut short, abort."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swrun.engine import Settings
from swrun.events import (
    RollbackStarted,
    RunFinished,
    RunStatus,
    StepFinished,
    StepOutput,
    StepStatus,
)
from swrun.executors.wait import CutShort
from swrun.parser import load_runbook

from helpers import Decision, ScriptedOperator, make_engine, run_events, write_runbook

if TYPE_CHECKING:
    from servers import Mongod, Web

pytest_plugins = ["servers"]


def wait_book(tmp_path: Path, body: str, attrs: str = "", url: str = "", uri: str = "",
              rollback: bool = False) -> Path:
    text = f"""\
+++
[vars.API]
default = "{url}"
[vars.MONGO_URI]
default = "{uri}"
secret = true
+++
# Release

## Monitor

```wait {{{attrs}}}
{body}
```
"""
    if rollback:
        text += f"""
## Rollback
<!-- swrun: rollback -->

```bash
touch {tmp_path}/rolled-back
```
"""
    return write_runbook(tmp_path, text)


def steps(events: list[Any]) -> list[StepFinished]:
    return [e for e in events if isinstance(e, StepFinished)]


def lines(events: list[Any]) -> list[str]:
    return [e.line for e in events if isinstance(e, StepOutput)]


def test_plain_wait_counts_down(tmp_path: Path) -> None:
    t0 = time.monotonic()
    events = run_events(wait_book(tmp_path, "wait 1s  # let caches warm"))
    assert 1.0 <= time.monotonic() - t0 < 60  # waited; the upper bound is a hang guard
    [done] = steps(events)
    assert done.status is StepStatus.OK
    assert done.data["ops"][0]["seconds"] == 1.0 and done.data["ops"][0]["waited_s"] >= 1.0
    out = lines(events)
    assert out[0].startswith("⏳ waiting 1.0s (until ") and out[-1] == "✓ waited 1.0s"


def test_watched_wait_passes_while_checks_pass(tmp_path: Path, web: Web) -> None:
    from servers import Reply

    web.routes["/health"] = Reply(200, {"status": "healthy"})
    events = run_events(wait_book(
        tmp_path, 'wait 1s watch GET $API/health expect 200 json status == "healthy" '
        "every 200ms", url=web.url))
    [done] = steps(events)
    assert done.status is StepStatus.OK, done.error
    data = done.data["ops"][0]
    assert 2 <= data["checks"] <= 6 and data["every_s"] == 0.2
    assert data["watch"] == 'GET $API/health expect 200 json status == "healthy"'
    assert any("[check 1," in line for line in lines(events))


def test_failing_watch_fails_at_once_and_triggers_rollback(tmp_path: Path, web: Web) -> None:
    from servers import Reply

    web.routes["/health"] = lambda n: Reply(200 if n <= 3 else 503)
    path = wait_book(tmp_path, "wait 15m watch GET $API/health expect 200 every 100ms",
                     attrs="on_failure=rollback", url=web.url, rollback=True)
    t0 = time.monotonic()
    events = run_events(path, ScriptedOperator(failures=[Decision.ROLLBACK]))
    assert time.monotonic() - t0 < 120  # failed at once, not after the 15m wait
    watch = steps(events)[0]
    assert watch.status is StepStatus.FAILED
    assert watch.error is not None
    assert watch.error.startswith("wait: watch failed after ")
    assert watch.error.endswith(f"(check 4): GET {web.url}/health: expected 200, got 503")
    assert watch.data["ops"][0]["failed_check"] == 4
    assert any(isinstance(e, RollbackStarted) for e in events)
    assert isinstance(events[-1], RunFinished) and events[-1].status is RunStatus.ROLLED_BACK
    assert (tmp_path / "rolled-back").exists()


def test_watch_a_mongo_operation(tmp_path: Path, mongo: Mongod) -> None:
    c = mongo.client()
    c.shop.orders.insert_many([{"i": i} for i in range(3)])
    c.close()
    events = run_events(wait_book(tmp_path, "wait 600ms watch count shop.orders expect >= 3 "
                                  "every 200ms", attrs="uri=$MONGO_URI", uri=mongo.uri))
    [done] = steps(events)
    assert done.status is StepStatus.OK, done.error
    assert done.data["ops"][0]["checks"] >= 2
    assert "✓ count shop.orders = 3 (>= 3)" in lines(events)[1]
    assert mongo.uri not in str([e.to_record() for e in events])


def test_operator_cuts_a_wait_short(tmp_path: Path) -> None:
    cut = CutShort()
    engine = make_engine(load_runbook(wait_book(tmp_path, "wait 10m")),
                         settings=Settings(kill_grace=1.0, executor_settings={"cut_short": cut}))
    threading.Timer(0.3, cut.cut, args=("alice", "metrics look fine")).start()
    t0 = time.monotonic()
    events = list(engine.run())
    assert time.monotonic() - t0 < 120  # cut short, not the 10m wait
    [done] = steps(events)
    assert done.status is StepStatus.OK
    data = done.data["ops"][0]
    assert data["cut_short"] is True and data["cut_by"] == "alice"
    assert data["cut_note"] == "metrics look fine" and 0.2 < data["waited_s"] < 120
    assert lines(events)[-1].startswith("⏭ wait cut short by alice after ")


def test_abort_ends_a_wait_promptly(tmp_path: Path) -> None:
    engine = make_engine(load_runbook(wait_book(tmp_path, "wait 10m")))
    threading.Timer(0.3, engine.abort).start()
    t0 = time.monotonic()
    events = list(engine.run())
    assert time.monotonic() - t0 < 120  # promptly: not the 10m wait
    assert steps(events)[0].status is StepStatus.ABORTED
    assert isinstance(events[-1], RunFinished) and events[-1].status is RunStatus.ABORTED
