"""Writes the timeline/history fixture logs with the real RunLog from fixed events.

`python tests/data/logs/make_logs.py` (or `SWRUN_UPDATE_GOLDEN=1 pytest tests/test_timeline.py`)
rewrites them; a test regenerates them into a temporary folder and compares byte for byte.

- failover  2026-09-15  dave starts, the run dies inside `promote`, erin resumes and completes
- failover  2026-10-14  frank: `promote` times out, the rollback runs
- failover  2026-11-22  alice: the incident itself, milestones marked and annotated
- comms     2026-11-22  bob, at the same time as alice: the status page call fails;
            a secret-named variable leaked unmasked into the log header and the output
- cache     2026-11-22  carol: the log is torn inside its last event
"""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from swrun.events import (  # noqa: E402
    CheckTicked,
    Event,
    MilestoneMarked,
    NoteAdded,
    OperatorWaiting,
    RollbackFinished,
    RollbackStarted,
    RunFinished,
    RunResumed,
    RunStarted,
    RunStatus,
    StepFinished,
    StepSkipped,
    StepStarted,
    StepStatus,
)
from swrun.runlog import RunLog, default_log_path  # noqa: E402

HERE = Path(__file__).resolve().parent
OK, FAILED, TIMED_OUT = StepStatus.OK, StepStatus.FAILED, StepStatus.TIMED_OUT


class Clock:
    """Events numbered and timed from a fixed start."""

    def __init__(self, start: datetime, seq: int = 0) -> None:
        self.start = start
        self.seq = seq

    def __call__(self, cls: type[Event], secs: float, **fields: Any) -> Event:
        self.seq += 1
        return cls(seq=self.seq, at=self.start + timedelta(seconds=secs), **fields)


def _header(runbook: str, run_id: str, start: datetime, title: str, operator: str,
            variables: dict[str, str], environment: str | None = None) -> dict[str, Any]:
    sha = hashlib.sha256((HERE / runbook).read_text().encode()).hexdigest()
    head = {"id": run_id, "runbook": runbook, "sha256": sha, "title": title,
            "environment": environment, "operator": operator, "swrun_version": "0.1.0",
            "started_at": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "variables": variables,
            "argv": ["swrun", "run", runbook]}
    return head


def _step(step: str, number: int, **kw: Any) -> dict[str, Any]:
    return {"step": step, "number": number, "title": step, "kind": "shell", **kw}


def _write(base: Path, header: dict[str, Any], events: list[Event]) -> Path:
    start = datetime.fromisoformat(header["started_at"])
    path = default_log_path(header["runbook"], header["id"], start, base / "logs")
    if path.exists():
        path.unlink()
    with RunLog.create(path, header) as log:
        for event in events:
            log.append(event)
    return path


def resumed_drill(base: Path) -> Path:
    t0 = datetime(2026, 9, 15, 14, 0, tzinfo=UTC)
    c = Clock(t0)
    rb = "failover.md"
    first = [
        c(RunStarted, 0, run_id="d1d1d1d1", title="Database failover", runbook=rb,
          operator="dave@bastion", environment="production", steps=5),
        c(StepStarted, 1, **_step("check-replication", 1), host="db2"),
        c(StepFinished, 13, **_step("check-replication", 1), host="db2", status=OK, exit_code=0,
          duration_ms=12000, output=("00:00:02.5",)),
        c(OperatorWaiting, 13, step="triage/acknowledge-the-page", number=2,
          title="Acknowledge the page", kind="check", reason="check"),
        c(CheckTicked, 40, step="triage/acknowledge-the-page", number=2,
          title="Acknowledge the page", kind="check", by="dave"),
        c(StepStarted, 41, **_step("promote", 3), host="db2", attempt=1),
    ]
    path = _write(base, _header(rb, "d1d1d1d1", t0, "Database failover", "dave@bastion",
                                {"DB_PRIMARY": "db1"}, "production"), first)
    # the bastion rebooted inside `promote`; erin resumes four minutes later
    c.seq = first[-1].seq
    second = [
        c(RunResumed, 290, run_id="d1d1d1d1", operator="erin@bastion", done=2,
          next_step="promote"),
        c(StepStarted, 291, **_step("promote", 3), host="db2", attempt=1),
        c(StepFinished, 333, **_step("promote", 3), host="db2", status=OK, exit_code=0,
          duration_ms=42000, output=("server promoting",)),
        c(StepStarted, 334, **_step("repoint-app", 4), hosts=("web1", "web2")),
        c(StepFinished, 389, **_step("repoint-app", 4), status=OK, exit_code=0,
          duration_ms=55000, hosts={"web1": {"status": "ok", "exit_code": 0, "duration_ms": 50000},
                                    "web2": {"status": "ok", "exit_code": 0,
                                             "duration_ms": 55000}}),
        c(StepStarted, 390, **_step("smoke", 5)),
        c(StepFinished, 408, **_step("smoke", 5), status=OK, exit_code=0, duration_ms=18000,
          output=('{"status":"ok"}',)),
        c(RunFinished, 409, status=RunStatus.COMPLETED, duration_ms=119000,
          counts={"ok": 4, "ticked": 1}),
    ]
    with RunLog.open_append(path) as log:
        for event in second:
            log.append(event)
    return path


def rolled_back_drill(base: Path) -> Path:
    t0 = datetime(2026, 10, 14, 14, 0, tzinfo=UTC)
    c = Clock(t0)
    rb = "failover.md"
    events = [
        c(RunStarted, 0, run_id="e1e1e1e1", title="Database failover", runbook=rb,
          operator="frank@bastion", environment="production", steps=5),
        c(StepStarted, 1, **_step("check-replication", 1), host="db2"),
        c(StepFinished, 9, **_step("check-replication", 1), host="db2", status=OK, exit_code=0,
          duration_ms=8000),
        c(CheckTicked, 20, step="triage/acknowledge-the-page", number=2,
          title="Acknowledge the page", kind="check", by="frank", note="paged myself"),
        c(StepStarted, 21, **_step("promote", 3), host="db2", attempt=1),
        c(StepFinished, 81, **_step("promote", 3), host="db2", status=TIMED_OUT,
          duration_ms=60000, attempt=1, will_retry=True, error="timed out after 1m",
          output=("waiting for server to promote....",)),
        c(StepStarted, 83, **_step("promote", 3), host="db2", attempt=2),
        c(StepFinished, 143, **_step("promote", 3), host="db2", status=TIMED_OUT,
          duration_ms=60000, attempt=2, error="timed out after 1m",
          output=("waiting for server to promote....",)),
        c(RollbackStarted, 150, by="frank", step="promote", note="promote timed out", steps=1),
        c(StepStarted, 151, **_step("demote", 6), host="db2"),
        c(StepFinished, 157, **_step("demote", 6), host="db2", status=OK, exit_code=0,
          duration_ms=6000),
        c(RollbackFinished, 158, status="ok", duration_ms=8000),
        c(RunFinished, 158, status=RunStatus.ROLLED_BACK, step="promote",
          note="promote timed out", duration_ms=158000,
          counts={"ok": 2, "ticked": 1, "timed_out": 1}),
    ]
    return _write(base, _header(rb, "e1e1e1e1", t0, "Database failover", "frank@bastion",
                                {"DB_PRIMARY": "db1"}, "production"), events)


def incident(base: Path) -> Path:
    t0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    c = Clock(t0)
    rb = "failover.md"
    events = [
        c(RunStarted, 0, run_id="a1a1a1a1", title="Database failover", runbook=rb,
          operator="alice@bastion", environment="production", steps=5),
        c(MilestoneMarked, 2, milestone="started", by="alice",
          note="replication lag alert fired at 08:59"),
        c(StepStarted, 3, **_step("check-replication", 1), host="db2"),
        c(StepFinished, 9.5, **_step("check-replication", 1), host="db2", status=OK,
          exit_code=0, duration_ms=6500, output=("00:03:41.2",)),
        c(CheckTicked, 35, step="triage/acknowledge-the-page", number=2,
          title="Acknowledge the page", kind="check", by="alice", note="paging bob for comms"),
        c(StepStarted, 40, **_step("promote", 3), host="db2", attempt=1),
        c(StepFinished, 52, **_step("promote", 3), host="db2", status=FAILED, exit_code=1,
          duration_ms=12000, attempt=1, will_retry=True,
          output=("pg_ctl: server is not in standby mode | lag 45s",)),
        c(NoteAdded, 53, note="paused batch writers; lag draining", by="alice", step="promote"),
        c(StepStarted, 55, **_step("promote", 3), host="db2", attempt=2),
        c(StepFinished, 81, **_step("promote", 3), host="db2", status=OK, exit_code=0,
          duration_ms=26000, attempt=2, output=("server promoting", "done")),
        c(StepStarted, 82, **_step("repoint-app", 4), hosts=("web1", "web2")),
        c(StepFinished, 130, **_step("repoint-app", 4), status=OK, exit_code=0,
          duration_ms=48000, hosts={"web1": {"status": "ok", "exit_code": 0, "duration_ms": 41000},
                                    "web2": {"status": "ok", "exit_code": 0,
                                             "duration_ms": 48000}}),
        c(StepStarted, 131, **_step("smoke", 5)),
        c(StepFinished, 145, **_step("smoke", 5), status=OK, exit_code=0, duration_ms=14000,
          output=('{"status":"ok"}',)),
        c(RunFinished, 146, status=RunStatus.COMPLETED, duration_ms=146000,
          counts={"ok": 4, "ticked": 1}),
    ]
    return _write(base, _header(rb, "a1a1a1a1", t0, "Database failover", "alice@bastion",
                                {"DB_PRIMARY": "db1"}, "production"), events)


def comms(base: Path) -> Path:
    t0 = datetime(2026, 11, 22, 9, 0, 20, tzinfo=UTC)
    c = Clock(t0)
    rb = "comms.md"
    leaked = "s3cr3t-status-token"
    events = [
        c(RunStarted, 0, run_id="b0b0b0b0", title="Incident comms", runbook=rb,
          operator="bob@laptop", steps=2),
        c(CheckTicked, 25, step="announce/post-in-incidents", number=1,
          title="Post in #incidents", kind="check", by="bob", note="posted | link pinned"),
        c(StepStarted, 30, step="status-page", number=2, title="status-page", kind="shell"),
        c(StepFinished, 32, step="status-page", number=2, title="status-page", kind="shell",
          status=FAILED, exit_code=22, duration_ms=2000,
          output=(f"> Authorization: Bearer {leaked}", "curl: (22) The requested URL "
                  "returned error: 503")),
        c(StepSkipped, 60, step="status-page", number=2, title="status-page", kind="shell",
          by="bob", note="status page API down; updated it by hand"),
        c(MilestoneMarked, 100, milestone="acknowledged", by="bob", note="customers told"),
        c(RunFinished, 101, status=RunStatus.COMPLETED, duration_ms=101000,
          counts={"ticked": 1, "skipped": 1}),
    ]
    return _write(base, _header(rb, "b0b0b0b0", t0, "Incident comms", "bob@laptop",
                                {"STATUS_TOKEN": leaked}), events)


def torn(base: Path) -> Path:
    t0 = datetime(2026, 11, 22, 9, 1, 30, tzinfo=UTC)
    c = Clock(t0)
    rb = "cache.md"
    events = [
        c(RunStarted, 0, run_id="c0c0c0c0", title="Cache flush", runbook=rb,
          operator="carol@ops", steps=2),
        c(StepStarted, 1, step="flush", number=1, title="flush", kind="shell",
          hosts=("cache1", "cache2")),
        c(StepFinished, 4, step="flush", number=1, title="flush", kind="shell", status=OK,
          exit_code=0, duration_ms=3000,
          hosts={"cache1": {"status": "ok", "exit_code": 0, "duration_ms": 2000},
                 "cache2": {"status": "ok", "exit_code": 0, "duration_ms": 3000}}),
        c(StepStarted, 5, step="warm", number=2, title="warm", kind="shell"),
        c(StepFinished, 65, step="warm", number=2, title="warm", kind="shell", status=OK,
          exit_code=0, duration_ms=60000, output=("warmed 1200 keys",)),
    ]
    path = _write(base, _header(rb, "c0c0c0c0", t0, "Cache flush", "carol@ops", {}), events)
    # the disk filled up while the last event was being written: cut it in half
    raw = path.read_bytes()
    last = raw.rstrip(b"\n").rfind(b"\n\n") + 2
    path.write_bytes(raw[: last + (len(raw) - last) // 2])
    return path


def write_all(base: Path) -> list[Path]:
    return [resumed_drill(base), rolled_back_drill(base), incident(base), comms(base),
            torn(base)]


if __name__ == "__main__":
    for p in write_all(HERE):
        print(p.relative_to(HERE))
