"""The run log on real files: round trips, modes, the golden layout, torn tails, the lock,
finding a log to resume and what resume reads from it."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import stat
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from swrun.errors import LogLockedError, RunLogError
from swrun.events import (
    EVENT_TYPES,
    ApprovalGiven,
    ApprovalNeeded,
    ApprovalRefused,
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
    StepOutput,
    StepProcesses,
    StepSkipped,
    StepStarted,
    StepStatus,
)
from swrun.evidence import chain
from swrun.runlog import (
    SCHEMA_VERSION,
    LogData,
    RunLog,
    default_log_path,
    find_logs,
    find_unfinished,
    read_log,
    resume_state,
)

GOLDEN = Path(__file__).parent / "golden" / "runlog"
UPDATE = os.environ.get("SWRUN_UPDATE_GOLDEN") == "1"
"""`SWRUN_UPDATE_GOLDEN=1 pytest tests/test_runlog.py` rewrites the golden files."""

T0 = datetime(2026, 11, 22, 6, 35, 47, 123000, tzinfo=UTC)
BUILD = {"step": "staging-deployment/build", "number": 7, "title": "Build", "kind": "shell"}


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def header(runbook: str = "deploy.md", run_id: str = "0badcafe",
           started: datetime = T0) -> dict[str, Any]:
    return {
        "id": run_id, "runbook": runbook, "sha256": "ab" * 32, "title": "Deploy",
        "environment": "staging", "operator": "ops@lab", "swrun_version": "0.1.0",
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "variables": {"TAG": "v1.2.3", "TOKEN": "****"},
        "argv": ["swrun", "execute", "deploy.md", "--yes"],
    }


def every_event() -> list[Event]:
    """One of each event type, in a plausible order, with fixed times."""
    return [
        RunStarted(seq=1, at=at(0), run_id="0badcafe", title="Deploy", runbook="deploy.md",
                   operator="ops@lab", environment="staging", steps=3),
        CheckTicked(seq=2, at=at(10), step="prepare/announce", number=1, title="Announce",
                    kind="check", by="alice", note="posted in #ops", hash="1111"),
        StepStarted(seq=3, at=at(20), **BUILD, attempt=1),
        StepOutput(seq=4, at=at(30), **BUILD, line="compiling"),
        StepOutput(seq=5, at=at(40), **BUILD, line="warning: \"old\" api", stream="stderr"),
        StepFinished(seq=6, at=at(50), **BUILD, status=StepStatus.FAILED, exit_code=2,
                     duration_ms=30, attempt=1, will_retry=True, error="exit status 2",
                     hash="2222", output=("compiling", 'warning: "old" api')),
        StepStarted(seq=7, at=at(60), **BUILD, attempt=2),
        StepOutput(seq=8, at=at(70), **BUILD, line="done"),
        StepFinished(seq=9, at=at(80), **BUILD, status=StepStatus.OK, exit_code=0,
                     duration_ms=20, attempt=2, hash="2222", output=("done",)),
        OperatorWaiting(seq=10, at=at(90), step="deploy", number=3, title="Deploy",
                        kind="shell", reason="confirm"),
        StepStarted(seq=11, at=at(100), step="deploy", number=3, title="Deploy", kind="shell",
                    hosts=("web1", "web2")),
        StepOutput(seq=12, at=at(110), step="deploy", number=3, line="restarted", host="web1"),
        StepOutput(seq=13, at=at(120), step="deploy", number=3, line="restarted", host="web2"),
        StepFinished(seq=14, at=at(130), step="deploy", number=3, title="Deploy", kind="shell",
                     status=StepStatus.FAILED, exit_code=1, duration_ms=30, hash="3333",
                     output=("web1: restarted", "web2: restarted"),
                     hosts={"web1": {"status": "ok", "exit_code": 0, "duration_ms": 10},
                            "web2": {"status": "failed", "exit_code": 1, "duration_ms": 30}},
                     data={"released": "v1.2.3", "nodes": [1, 2], "meta": {"az": "eu-1a"}}),
        NoteAdded(seq=15, at=at(140), note="web2 disk full", by="alice", step="deploy"),
        MilestoneMarked(seq=16, at=at(150), milestone="incident declared", by="alice"),
        RollbackStarted(seq=17, at=at(160), by="alice", step="deploy", note="web2", steps=1),
        StepSkipped(seq=18, at=at(170), step="rollback/notify", number=4, title="Notify",
                    kind="check", by="alice", note="not needed", hash="4444"),
        RollbackFinished(seq=19, at=at(180), status="ok", duration_ms=20),
        RunFinished(seq=20, at=at(190), status=RunStatus.ROLLED_BACK, step="deploy",
                    note="rolled back", duration_ms=190, active_ms=190, wall_ms=190,
                    counts={"ticked": 1, "ok": 1, "failed": 1}, rollback_counts={"skipped": 1}),
        RunResumed(seq=21, at=at(200), run_id="0badcafe", operator="bob", done=2,
                   next_step="deploy", changed_steps=("staging-deployment/build",),
                   runbook_changed=True, runbook_sha256="cd" * 32),
        ApprovalNeeded(seq=22, at=at(210), step="deploy", number=3, title="Deploy",
                       kind="shell", approvals=2, hash="3333", command="on web\n  deploy v1",
                       command_sha256="ef" * 32, waiting_for=("carol@example.com",
                                                              "dave@example.com"),
                       operator_key="SHA256:bob", allowed_signers="allowed_signers"),
        ApprovalRefused(seq=23, at=at(220), step="deploy", number=3, title="Deploy",
                        kind="shell", error="bob@example.com is the operator of this run",
                        by="bob@example.com", key="SHA256:bob", file="x.approvals/a.approval"),
        ApprovalGiven(seq=24, at=at(230), step="deploy", number=3, title="Deploy",
                      kind="shell", by="carol@example.com", key="SHA256:carol", approvals=2,
                      count=1, approved_at="2026-11-22T06:35:47.300Z",
                      expires_at="2026-11-22T07:35:47.300Z", file="x.approvals/b.approval",
                      waiting_for=("dave@example.com",)),
        StepProcesses(seq=25, at=at(240), step="deploy", number=3, title="Deploy",
                      kind="shell", host="web1", pgid=4242, start=123456,
                      boot_id="8c9ca9cd-8438-40be-bd65-a9b04fa41c94"),
    ]


def write_log(path: Path, events: list[Event], **kwargs: Any) -> Path:
    with RunLog.create(path, header(**kwargs)) as log:
        for event in events:
            log.append(event)
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- writing and reading back ----------------------------------------------------------------


def test_every_event_type_round_trips(tmp_path: Path) -> None:
    events = every_event()
    assert {e.type for e in events} == set(EVENT_TYPES)
    path = write_log(tmp_path / "run.toml", events)
    data = read_log(path)

    assert data.warnings == []
    assert data.run == {"schema": SCHEMA_VERSION, "chain": "sha256", **header()}
    expected = [copy.deepcopy(e.to_record()) for e in events if not isinstance(e, StepOutput)]

    def sidecar(rel: str) -> dict[str, Any]:
        body = (tmp_path / rel).read_bytes()
        return {"output_file": rel, "output_sha256": hashlib.sha256(body).hexdigest(),
                "output_bytes": len(body)}

    out = "run.output"
    expected[3].update(sidecar(f"{out}/0007-staging-deployment__build.log"))
    expected[5].update(sidecar(f"{out}/0007-staging-deployment__build-attempt2.log"))
    expected[8]["hosts"]["web1"].update(sidecar(f"{out}/0003-deploy@web1.log"))
    expected[8]["hosts"]["web2"].update(sidecar(f"{out}/0003-deploy@web2.log"))
    assert [{k: v for k, v in e.items() if k != "prev"} for e in data.events] == expected
    assert data.last_seq == 25
    assert not data.finished and data.status == "rolled_back"
    # every event carries the hash of the table before it, exactly as written
    tables = path.read_bytes().split(b"\n\n")[:-1]
    hashes = [hashlib.sha256(t + b"\n\n").hexdigest() for t in tables]
    assert [e["prev"] for e in data.events] == hashes[:-1]


def test_output_goes_to_private_sidecar_files(tmp_path: Path) -> None:
    path = write_log(tmp_path / "run.toml", every_event())
    side = tmp_path / "run.output"
    assert mode(path) == 0o600 and mode(side) == 0o700
    assert sorted(p.name for p in side.iterdir()) == [
        "0003-deploy@web1.log", "0003-deploy@web2.log",
        "0007-staging-deployment__build-attempt2.log", "0007-staging-deployment__build.log"]
    assert all(mode(p) == 0o600 for p in side.iterdir())
    assert (side / "0007-staging-deployment__build.log").read_text() == (
        '2026-11-22T06:35:47.153Z stdout compiling\n'
        '2026-11-22T06:35:47.163Z stderr warning: "old" api\n')
    assert "step_output" not in path.read_text()


def test_golden_basic_log(tmp_path: Path) -> None:
    """The exact text of a log: [run] first, one blank-line-terminated table per event."""
    path = write_log(tmp_path / "basic.toml", every_event())
    golden = GOLDEN / "basic.toml"
    if UPDATE or not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(path.read_text())
    assert path.read_text() == golden.read_text(), \
        f"differs from {golden} (SWRUN_UPDATE_GOLDEN=1 rewrites)"


def test_values_toml_cannot_hold_are_made_safe(tmp_path: Path) -> None:
    event = StepFinished(seq=1, at=T0, step="s", status=StepStatus.OK,
                         output=("bad \udcff byte", "two\nlines"),
                         data={"when": T0, "skip": None, "raw": b"\x00x", "list": [1, None]})
    path = write_log(tmp_path / "run.toml", [event])
    rec = read_log(path).events[0]
    assert rec["output"] == ["bad \ufffd byte", "two\nlines"]
    assert rec["data"] == {"when": "2026-11-22T06:35:47.123Z", "raw": "\x00x", "list": [1]}


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("precious\n")
    with pytest.raises(RunLogError, match="already exists"):
        RunLog.create(path, header())
    assert path.read_text() == "precious\n"


def test_create_makes_parents_and_counts_seq(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "deploy" / "x.toml"
    with RunLog.create(path, {**header(), "schema": 1, "environment": None}) as log:
        assert log.next_seq == 1
        log.append(every_event()[0])
        assert log.next_seq == 2
    data = read_log(path)
    assert "environment" not in data.run
    with pytest.raises(RunLogError, match="closed"):
        log.append(every_event()[1])


def test_default_log_path() -> None:
    when = datetime(2026, 11, 22, 7, 35, 47, 900000, tzinfo=UTC).astimezone()
    assert default_log_path("ops/deploy.md", "ab12", when) == Path(
        "logs/deploy/20261122T073547Z-ab12.toml")
    assert default_log_path(Path("x.md"), "r", when, Path("/var/swrun")) == Path(
        "/var/swrun/x/20261122T073547Z-r.toml")


# -- torn tails ------------------------------------------------------------------------------


def test_torn_last_event_at_every_offset(tmp_path: Path) -> None:
    events = every_event()[:9]
    whole = write_log(tmp_path / "whole.toml", events).read_bytes()
    intact = read_log(tmp_path / "whole.toml").events
    start = whole.rindex(b"[[event]]")
    extra = NoteAdded(seq=10, at=at(500), note="after the repair", by="bob")
    path = tmp_path / "torn.toml"
    for cut in range(start + 1, len(whole)):
        path.write_bytes(whole[:cut])
        data = read_log(path)
        assert len(data.warnings) == 1, cut
        assert "cut off" in data.warnings[0] and str(path) in data.warnings[0]
        assert data.events == intact[:-1], cut

        torn = tmp_path / "torn.toml.torn"
        torn.unlink(missing_ok=True)
        with RunLog.open_append(path) as log:
            assert log.next_seq == 8 and len(log.warnings) == 1
            log.append(extra)
        assert torn.read_bytes() == whole[start:cut] and mode(torn) == 0o600
        repaired = read_log(path)
        assert repaired.warnings == [], cut
        assert repaired.events[:-1] == intact[:-1]
        assert {k: v for k, v in repaired.events[-1].items() if k != "prev"} == \
            extra.to_record()
        assert chain.check(path.read_bytes()).problem is None, cut  # the chain goes on
        with path.open("rb") as fh:
            tomllib.load(fh)


def test_zeros_after_a_power_loss_are_a_torn_tail(tmp_path: Path) -> None:
    path = write_log(tmp_path / "run.toml", every_event()[:3])
    with path.open("ab") as fh:
        fh.write(b"\0" * 4096)
    data = read_log(path)
    assert len(data.warnings) == 1 and "4096 bytes" in data.warnings[0]
    assert [e["seq"] for e in data.events] == [1, 2, 3]


def test_a_log_cut_inside_its_header_is_not_a_log(tmp_path: Path) -> None:
    whole = write_log(tmp_path / "whole.toml", []).read_bytes()
    path = tmp_path / "cut.toml"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(RunLogError, match=r"cut\.toml"):
        read_log(path)


def test_resume_of_an_intact_log_changes_nothing(tmp_path: Path) -> None:
    path = write_log(tmp_path / "run.toml", every_event()[:3])
    before = path.read_bytes()
    with RunLog.open_append(path) as log:
        assert log.next_seq == 4 and log.warnings == []
    assert path.read_bytes() == before
    assert not (tmp_path / "run.toml.torn").exists()


# -- the lock --------------------------------------------------------------------------------

_SECOND = """
import json, sys
from swrun.errors import LogLockedError
from swrun.runlog import RunLog
try:
    RunLog.open_append(sys.argv[1])
except LogLockedError as exc:
    print(json.dumps(str(exc)))
else:
    print("null")
"""


def second_process(path: Path) -> str | None:
    proc = subprocess.run([sys.executable, "-c", _SECOND, str(path)], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_second_process_is_refused_while_the_log_is_held(tmp_path: Path) -> None:
    path = tmp_path / "held.toml"
    with RunLog.create(path, header()) as log:
        log.append(every_event()[0])
        message = second_process(path)
        assert message is not None
        assert str(path) in message and "\n" not in message
        if Path("/proc/locks").exists():
            assert f"pid {os.getpid()}" in message
        with pytest.raises(LogLockedError, match=r"held\.toml"):
            RunLog.open_append(path)
        assert read_log(path).last_seq == 1  # reading takes no lock
    assert second_process(path) is None  # released on close
    assert [{k: v for k, v in e.items() if k != "prev"} for e in read_log(path).events] == \
        [every_event()[0].to_record()]


# -- not a log -------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "why"), [
    pytest.param(bytes(range(256)) * 4, "not UTF-8", id="binary"),
    (b'[tool.black]\nline-length = 100\n\n[project]\nname = "x"\n\n', "no \\[run\\] table"),
    (b"", "empty"),
    (b"[run]\nschema = 1\nid = \n\n", "TOML error"),
    (b'[run]\nid = "x"\n\n', "no schema"),
    (b"event = 3\n[run]\nschema = 1\n\n", "event"),
])
def test_what_is_not_a_log_is_one_clear_line(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "other.toml"
    path.write_bytes(content)
    with pytest.raises(RunLogError, match=why) as info:
        read_log(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_newer_schema_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.toml"
    path.write_text(f"[run]\nschema = {SCHEMA_VERSION + 1}\n\n")
    with pytest.raises(RunLogError, match="newer swrun"):
        read_log(path)
    with pytest.raises(RunLogError, match="no such run log"):
        read_log(tmp_path / "absent.toml")
    with pytest.raises(RunLogError, match="no such run log"):
        RunLog.open_append(tmp_path / "absent.toml")


# -- finding a log to resume -----------------------------------------------------------------


def started(seq: int = 1, dry_run: bool | None = None) -> RunStarted:
    return RunStarted(seq=seq, at=T0, run_id="r", title="D", runbook="deploy.md",
                      operator="o", dry_run=dry_run)


def finished(seq: int, status: RunStatus) -> RunFinished:
    return RunFinished(seq=seq, at=T0, status=status)


def test_find_unfinished_offers_only_the_newest_run(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deploy.md").write_text("# D\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "deploy.md").write_text("# another runbook, same stem\n")

    def log(minute: int, events: list[Event], runbook: str = "deploy.md") -> Path:
        when = T0 + timedelta(minutes=minute)
        path = default_log_path(runbook, f"r{minute}", when)
        return write_log(path, events, runbook=runbook, started=when)

    oldest = log(0, [started(), finished(2, RunStatus.FAILED)])
    crashed = log(1, [started()])
    aborted = log(2, [started(), finished(2, RunStatus.ABORTED)])
    resumed_done = log(3, [started(), finished(2, RunStatus.ABORTED), RunResumed(
        seq=3, at=T0, run_id="r", operator="o"), finished(4, RunStatus.COMPLETED)])
    log(4, [started(dry_run=True)])  # a dry run is never resumed
    log(5, [started()], runbook="other/deploy.md")  # another runbook's log
    (tmp_path / "logs" / "deploy" / "29991231T000000Z-empty.toml").touch()

    assert find_logs("deploy.md")[-3:] == [aborted, crashed, oldest]
    assert resumed_done in find_logs("deploy.md")
    assert len(find_logs("deploy.md")) == 6
    # the newest real run completed (after a resume): older unfinished runs are stale
    assert find_unfinished("deploy.md") is None
    resumed_done.unlink()
    assert find_unfinished("deploy.md") == aborted
    assert find_unfinished(tmp_path / "other" / "deploy.md").name.startswith(
        "20261122T064047Z")
    assert find_unfinished("nothing.md") is None

    aborted.unlink()
    assert find_unfinished("deploy.md") == crashed


def test_finished_and_status_follow_the_lifecycle(tmp_path: Path) -> None:
    def data(*events: Event) -> LogData:
        return LogData(tmp_path, {}, [e.to_record() for e in events])

    assert not data().finished and data().status is None and data().last_seq == 0
    assert data(started(), finished(2, RunStatus.COMPLETED)).finished
    reopened = data(started(), finished(2, RunStatus.ABORTED),
                    RunResumed(seq=3, at=T0, run_id="r", operator="o"))
    assert not reopened.finished and reopened.status == "aborted"


# -- what resume reads -----------------------------------------------------------------------


def test_resume_state_uses_each_steps_last_outcome(tmp_path: Path) -> None:
    def fin(seq: int, step: str, status: StepStatus, **kw: Any) -> StepFinished:
        return StepFinished(seq=seq, at=T0, step=step, status=status, hash=f"h-{step}", **kw)

    events: list[Event] = [
        started(),
        fin(2, "a", StepStatus.OK),
        fin(3, "retried", StepStatus.FAILED, attempt=1, will_retry=True),
        fin(4, "retried", StepStatus.OK, attempt=2),
        fin(5, "pending", StepStatus.FAILED, attempt=1, will_retry=True),
        CheckTicked(seq=6, at=T0, step="check", by="o", hash="h-check"),
        StepSkipped(seq=7, at=T0, step="skipped", by="o", hash="h-skipped"),
        fin(8, "refailed", StepStatus.OK),
        fin(9, "refailed", StepStatus.ABORTED),
        fin(10, "timed", StepStatus.TIMED_OUT),
        fin(11, "dry", StepStatus.DRY_RUN),
        finished(12, RunStatus.ABORTED),
    ]
    path = write_log(tmp_path / "run.toml", events)
    state = resume_state(read_log(path))
    assert state.run_id == "0badcafe" and state.sha256 == "ab" * 32
    assert state.done == {"a": "h-a", "retried": "h-retried", "check": "h-check",
                          "skipped": "h-skipped"}
    assert state.next_seq == 13


def test_a_rollback_undoes_what_counted_as_done(tmp_path: Path) -> None:
    def fin(seq: int, step: str, status: StepStatus) -> StepFinished:
        return StepFinished(seq=seq, at=T0, step=step, status=status, hash=f"h-{step}")

    events: list[Event] = [
        started(),
        fin(2, "a", StepStatus.OK),
        fin(3, "b", StepStatus.FAILED),
        RollbackStarted(seq=4, at=T0, by="o", step="b", steps=1),
        fin(5, "undo", StepStatus.OK),
        RollbackFinished(seq=6, at=T0, status="ok"),
        finished(7, RunStatus.ROLLED_BACK),
    ]
    path = write_log(tmp_path / "run.toml", events)
    state = resume_state(read_log(path))
    assert state.done == {}  # a resume starts the main pass again
    # but what each step's last outcome was still counts for the whole run
    assert state.outcomes == {"a": "ok", "b": "failed"}
    assert state.rollback_outcomes == {"undo": "ok"}


def test_resume_state_has_every_outcome_the_active_time_and_the_first_start(
        tmp_path: Path) -> None:
    def fin(seq: int, ms: int, step: str, status: StepStatus, **kw: Any) -> StepFinished:
        return StepFinished(seq=seq, at=at(ms), step=step, status=status, hash=f"h-{step}", **kw)

    def resumed(seq: int, ms: int) -> RunResumed:
        return RunResumed(seq=seq, at=at(ms), run_id="0badcafe", operator="o")

    events: list[Event] = [
        RunStarted(seq=1, at=at(0), run_id="0badcafe", title="D", runbook="deploy.md",
                   operator="o"),
        fin(2, 1000, "a", StepStatus.OK),
        fin(3, 1500, "b", StepStatus.FAILED, attempt=1, will_retry=True),
        fin(4, 2000, "b", StepStatus.FAILED, attempt=2),
        RunFinished(seq=5, at=at(3000), status=RunStatus.FAILED, step="b", duration_ms=3000),
        resumed(6, 60_000),  # an hour of nothing before it: not active time
        StepStarted(seq=7, at=at(61_000), step="b"),  # killed here: this part ends at 61 s
        resumed(8, 120_000),
        CheckTicked(seq=9, at=at(121_000), step="c", by="o", hash="h-c"),
        StepSkipped(seq=10, at=at(125_000), step="d", by="o", hash="h-d"),
    ]
    path = write_log(tmp_path / "run.toml", events)
    state = resume_state(read_log(path))
    assert state.outcomes == {"a": "ok", "b": "failed", "c": "ticked", "d": "skipped"}
    assert state.rollback_outcomes == {}
    assert state.active_ms == 3000 + 1000 + 5000
    assert state.started_at == T0


def test_resumed_log_continues_seq_and_sidecars(tmp_path: Path) -> None:
    path = write_log(tmp_path / "run.toml", every_event()[:5])
    with RunLog.open_append(path) as log:
        assert log.next_seq == 4  # output seqs 4 and 5 were never in the TOML
        log.append(StepStarted(seq=4, at=at(300), **BUILD))
        log.append(StepOutput(seq=5, at=at(310), **BUILD, line="again"))
        log.append(StepFinished(seq=6, at=at(320), **BUILD, status=StepStatus.OK))
        assert log.next_seq == 7
    data = read_log(path)
    assert [e["seq"] for e in data.events] == [1, 2, 3, 4, 6]
    assert data.events[-1]["output_file"] == "run.output/0007-staging-deployment__build.log"
    lines = (tmp_path / "run.output" / "0007-staging-deployment__build.log").read_text()
    assert lines.splitlines()[-1] == "2026-11-22T06:35:47.433Z stdout again"


def test_runlog_imports_no_heavy_library() -> None:
    probe = ("import json, sys, swrun.runlog\n"
             "print(json.dumps(sorted(m for m in ('textual', 'paramiko', 'boto3', 'pymongo', "
             "'ansible', 'ansible_runner') if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


# -- crafted logs (issue 14, item 11) ---------------------------------------------------------


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("swrun")
    return subprocess.run([str(script), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)


def test_deep_nesting_and_a_symlink_loop_are_one_clear_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text('[run]\nschema = 1\nid = "x"\n\n[[event]]\nseq = 1\ntype = "note_added"\n'
                    "note = " + "[" * 5000 + "]" * 5000 + "\n\n")
    with pytest.raises(RunLogError, match="nested too deeply"):
        read_log(deep)
    loop = tmp_path / "loop.toml"
    os.symlink(loop, loop)
    with pytest.raises(RunLogError, match="Too many levels of symbolic links"):
        read_log(loop)
    for name in ("deep.toml", "loop.toml"):
        res = _cli(["timeline", name], tmp_path)
        assert res.returncode == 7, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
        assert res.stderr.startswith(f"swrun: {name}: ")


def test_a_log_converted_to_crlf_is_read_not_called_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    with RunLog.create(path, header()) as log:
        for event in every_event():
            log.append(event)
    lf = read_log(path)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    crlf = read_log(path)
    assert crlf.warnings == [] and crlf.events == lf.events and crlf.run == lf.run
    # and a resume appends to it, keeping it one valid TOML file
    with RunLog.open_append(path) as log:
        assert log.warnings == []
        log.append(NoteAdded(seq=log.next_seq, note="after", by="x"))
    assert read_log(path).events[-1]["note"] == "after"
    with path.open("rb") as fh:
        tomllib.load(fh)
    # a torn CRLF tail is still a torn tail
    path.write_bytes(path.read_bytes() + b'[[event]]\r\nseq = 99\r\ntype = "no')
    assert "seq 99 was cut off" in read_log(path).warnings[0]


def test_a_full_disk_at_start_leaves_no_empty_log(tmp_path: Path) -> None:
    """A 64 KiB tmpfs filled up: creating the log fails with one line, and leaves nothing
    that would block the next run or a resume (root only: it mounts)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {res.stderr.strip()}")
    try:
        (mnt / "logs").mkdir()
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        with contextlib.suppress(OSError):
            while os.write(fd, b"x" * 512):
                pass
        os.close(fd)
        path = mnt / "logs" / "run.toml"
        with pytest.raises(RunLogError, match="No space left on device") as err:
            RunLog.create(path, header())
        assert "\n" not in str(err.value)
        assert not path.exists()  # no 0-byte log left behind
        filler.unlink()
        with RunLog.create(path, header()) as log:  # the same path works once there is room
            log.append(NoteAdded(seq=1, note="ok", by="x"))
        assert read_log(path).events[-1]["note"] == "ok"
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
