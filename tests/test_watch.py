"""`swrun watch`: the console and the --plain feed follow a log that a real `swrun execute`
writes beside them — through a SIGKILL of the writer and a resume by a second process, and
a 200,000-line burst — and what they show is what the log says."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from swrun.parser import load_runbook
from swrun.runlog import read_log
from swrun.watch.app import WatchApp
from swrun.watch.source import WatchSource
from swrun.watch.status import DIED, ENDED, ROTATED, RunState
from swrun.watch.tail import LogTail, OutputTail

from conftest import swrun_cmd
from helpers import write_runbook

pytestmark = pytest.mark.slow
SIZE = (120, 36)

RUNBOOK = """
    +++
    window = "30m"
    [vars.RELEASE]
    default = "1.2.3"
    +++
    # Watched release

    ## Prepare

    - [ ] Tell #ops

    ```bash {name=build}
    for i in $(seq 1 30); do echo "build $RELEASE line $i"; sleep 0.01; done
    ```

    ## Ship

    ```bash {name=ship}
    echo shipping
    ```

    ```bash {name=verify on_failure=continue}
    echo "verify: 503" >&2
    exit 3
    ```
    """


def execute(tmp_path: Path, *args: str, operator: str = "alice") -> subprocess.Popen[bytes]:
    return subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--operator", operator,
                             *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def wait_file(path: Path, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


async def until(pilot: object, ok: Callable[[], object], what: str, limit: float = 30.0
                ) -> None:
    deadline = time.monotonic() + limit
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit:g}s")
        await pilot.pause(0.05)  # type: ignore[attr-defined]


def icons(app: WatchApp) -> dict[str, str]:
    """Step id → the icon its tree row starts with."""
    return {sid: str(node.label.plain)[0] for sid, node in app.step_tree._step_nodes.items()}


LOG_ICON = {"ok": "✓", "ticked": "☑", "skipped": "↷", "failed": "✗", "aborted": "■",
            "timed_out": "⏱"}


def final_statuses(log: Path) -> dict[str, str]:
    """Step id → the icon of its last outcome in the log."""
    out = {}
    for e in read_log(log).events:
        if e["type"] in ("step_finished", "check_ticked", "step_skipped") \
                and not e.get("will_retry"):
            out[e["step"]] = LOG_ICON[e["status"]]
    return out


def output_view(app: WatchApp) -> list[str]:
    from textual.widgets import Log

    return [str(line) for line in app.detail.query_one("#output", Log).lines]


def sidecar_lines(log: Path, name_part: str) -> list[str]:
    (path,) = [p for p in log.with_suffix(".output").iterdir() if name_part in p.name]
    return [line.split(" ", 2)[2] for line in path.read_text().splitlines()]


async def test_console_follows_a_live_execute(tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK)
    log = tmp_path / "run.toml"
    proc = execute(tmp_path, "--log", "run.toml")
    try:
        wait_file(log)
        source = WatchSource(log)
        app = WatchApp(source, load_runbook(tmp_path / "rb.md"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: source.liveness == ENDED, "the run ended")
            await pilot.pause(0.2)
            assert proc.wait(timeout=10) == 1  # verify failed (on_failure=continue)
            assert icons(app) == final_statuses(log)
            line = str(app.watch_line.render())
            assert "the run ended: failed" in line and "read-only" in line
            # the output pane of the selected (last) step is its sidecar's, then its error
            app.step_tree.select_step("verify")
            await pilot.pause(0.1)
            assert output_view(app)[-1] == "verify: 503"
            app.step_tree.select_step("build")
            await pilot.pause(0.1)
            assert output_view(app) == sidecar_lines(log, "build")
            assert output_view(app)[-1] == "build 1.2.3 line 30"
            # the activity pane says who ticked
            assert any("☑ ticked 1. Tell #ops" in n.text and n.by == "auto"
                       for n in app.view.activity)
            assert "👤 alice" in str(app.header.query_one("#operator").render())
            await pilot.press("q")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert log.stat().st_size == len(log.read_bytes())  # (never written by the watcher)


KILLED = """
    # Killed and resumed

    ## Steps

    ```bash {name=first}
    echo first
    ```

    ```bash {name=slow}
    if [ -f marker ]; then echo "second try"; else touch marker; echo started; sleep 60; fi
    ```

    ```bash {name=last}
    echo last
    ```
    """


async def test_console_survives_a_kill_and_a_resume_by_someone_else(tmp_path: Path) -> None:
    write_runbook(tmp_path, KILLED)
    log = tmp_path / "run.toml"
    first = execute(tmp_path, "--log", "run.toml", operator="alice")
    second = None
    seen: list[str] = []
    try:
        wait_file(log)
        source = WatchSource(log)
        app = WatchApp(source, load_runbook(tmp_path / "rb.md"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.view.steps["slow"].status == "running",
                        "step 2 is running")
            assert "driven by alice (pid" in str(app.watch_line.render())
            os.kill(first.pid, signal.SIGKILL)  # the writer only: its step runs on
            first.wait()
            await until(pilot, lambda: source.liveness == DIED, "the watcher saw it die")
            seen.append(str(app.watch_line.render()))
            assert "the run died" in seen[-1] and "--resume" in seen[-1]
            second = subprocess.Popen(
                [*swrun_cmd(), "execute", "rb.md", "--yes", "--operator", "bob", "--resume",
                 "run.toml", "--stop-leftovers"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True)
            await until(pilot, lambda: source.liveness == ENDED, "the resumed run ended", 60)
            await pilot.pause(0.2)
            assert second.wait(timeout=20) == 0, second.stderr.read() if second.stderr else ""
            assert icons(app) == final_statuses(log) == {
                "first": "✓", "slow": "✓", "last": "✓"}
            assert "👤 bob" in str(app.header.query_one("#operator").render())
            assert "the run ended: completed" in str(app.watch_line.render())
            assert any(n.text == "▶ run resumed" and n.by == "bob" for n in app.view.activity)
            app.step_tree.select_step("slow")
            await pilot.pause(0.1)
            assert output_view(app)[-1] == "second try"
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


BURST = """
    # Burst

    ## Flood

    ```bash {name=flood}
    seq 1 200000
    ```

    ```bash {name=after}
    echo after
    ```
    """


async def test_console_keeps_up_with_a_200000_line_burst(tmp_path: Path) -> None:
    write_runbook(tmp_path, BURST)
    log = tmp_path / "run.toml"
    proc = execute(tmp_path, "--log", "run.toml")
    try:
        wait_file(log)
        source = WatchSource(log)
        app = WatchApp(source, load_runbook(tmp_path / "rb.md"))
        async with app.run_test(size=SIZE) as pilot:
            app.follow = False  # stay on the flood
            app.step_tree.select_step("flood")
            await until(pilot, lambda: source.liveness == ENDED, "the run ended", 90)
            await pilot.pause(0.2)
            assert proc.wait(timeout=10) == 0
            assert icons(app) == final_statuses(log)
            tail = list(app.view.steps["flood"].tail)
            assert tail == [str(i) for i in range(199001, 200001)]  # the last 1,000
            shown = output_view(app)
            assert shown[-1] == "200000" and len(shown) <= 1000
            numbers = [int(line) for line in shown if line.isdigit()]
            assert numbers == sorted(numbers)  # in order; a flood batch is cut to its end
            # (with "… N more lines (all of them are in the output file) …" before it)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_plain_feed_follows_to_the_end(tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK)
    log = tmp_path / "run.toml"
    proc = execute(tmp_path, "--log", "run.toml")
    try:
        wait_file(log)
        watcher = subprocess.run([*swrun_cmd(), "watch", "--plain", "run.toml"], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60)
    finally:
        proc.wait(timeout=30)
    out = watcher.stdout
    assert watcher.returncode == 0, watcher.stderr
    assert out.startswith("watching run.toml — Watched release, run ")
    for text in ("▶ run", "☑ 1. Tell #ops ticked by auto", "│ build 1.2.3 line 30",
                 "✓ 2. build ok", "✓ 3. ship ok", "│ verify: 503",
                 "✗ 4. verify failed", "■ run failed", "■■ the run ended: failed"):
        assert text in out, f"{text!r} not in:\n{out}"
    assert out.index("│ build 1.2.3 line 30") < out.index("✓ 2. build ok")


def test_tail_reads_whole_tables_only(tmp_path: Path) -> None:
    log = tmp_path / "x.toml"
    log.write_bytes(b'[run]\nschema = 1\nid = "abc"\n\n[[event]]\nseq = 1\nat = "2026-01-01T00:'
                    b'00:00.000Z"\ntype = "run_started"\n')
    tail = LogTail(log)
    assert tail.poll() == [] and tail.run == {"schema": 1, "id": "abc"}
    with log.open("ab") as fh:
        fh.write(b'run_id = "abc"\n\n[[event]]\nseq = 2\n')
    (rec,) = tail.poll()
    assert rec["type"] == "run_started" and rec["run_id"] == "abc"
    with log.open("ab") as fh:
        fh.write(b'at = "2026-01-01T00:00:01.000Z"\ntype = "note_added"\nnote = "hi"\nby = "a"'
                 b'\n\n')
    assert [r["note"] for r in tail.poll()] == ["hi"]
    # a resume's repair cuts only bytes not read yet; a replaced file is said
    log.rename(tmp_path / "old.toml")
    log.write_bytes(b"[run]\nschema = 1\n\n")
    source = WatchSource(log)
    source.tail = tail
    source.poll()
    assert source.liveness == ROTATED and "replaced" in source.ended_text()


def test_output_tail_counts_a_flood_and_keeps_its_end(tmp_path: Path) -> None:
    log = tmp_path / "x.toml"
    out = OutputTail(log)
    out.started({"type": "step_started", "step": "a/b", "number": 2, "hosts": ["web1"]})
    out.folder.mkdir()
    with (out.folder / "0002-a__b@web1.log").open("w") as fh:
        fh.writelines(f"2026-01-01T00:00:00.000Z stdout line {i}\n" for i in range(5000))
        fh.write("2026-01-01T00:00:00.000Z stdout partial")
    (chunk,) = out.poll()
    assert chunk.skipped == 4000 and chunk.lines[-1] == "web1: line 4999"
    assert out.poll() == []
    with (out.folder / "0002-a__b@web1.log").open("a") as fh:
        fh.write(" line\n")
    (chunk,) = out.poll()
    assert chunk.lines == ["web1: partial line"]


def test_waiting_text_says_who_and_what() -> None:
    state = RunState.of({"operator": "alice"}, [
        {"type": "run_started", "operator": "alice", "run_id": "r1"},
        {"type": "operator_waiting", "step": "a", "number": 3, "title": "Tell", "reason": "tick"},
    ])
    assert state.waiting_text() == "alice: a tick at step 3 'Tell'"
    state.apply({"type": "approval_needed", "step": "b", "number": 4, "title": "Drop",
                 "approvals": 2, "count": 0, "waiting_for": ["bob", "carol"]})
    state.apply({"type": "approval", "step": "b", "count": 1, "waiting_for": ["carol"]})
    assert state.waiting_text() == "1 approval(s) of step 4 'Drop' from carol"
    state.apply({"type": "run_resumed", "operator": "bob"})
    assert state.operator == "bob" and state.waiting_text() == ""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))

_ = asyncio  # the pilot tests are async (pytest-asyncio, auto mode)


STOPS = """
    # Stops

    ## Work

    ```bash {name=prep}
    echo prep
    ```

    ```bash {name=deploy-api title="Deploy the API"}
    echo boom >&2; exit 3
    ```

    - [ ] After the deploy
    """


def test_the_end_names_the_step_by_number_and_title(tmp_path: Path) -> None:
    """`the run ended: failed at step deploy-api` named the step by its id (issue 25)."""
    write_runbook(tmp_path, STOPS)
    ran = subprocess.run([*swrun_cmd(), "execute", "rb.md", "--log", "run.toml", "--yes"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 1, ran.stderr
    watcher = subprocess.run([*swrun_cmd(), "watch", "--plain", "run.toml"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert watcher.returncode == 0, watcher.stderr
    assert "■■ the run ended: failed at step 2 'Deploy the API'" in watcher.stdout
    assert "deploy-api" not in watcher.stdout
    state = RunState.of({}, read_log(tmp_path / "run.toml").events)
    assert state.step_name("deploy-api") == "step 2 'Deploy the API'"
    assert state.step_name("never-seen") == "'never-seen'"


RETRIED = """
    # Retried

    ```bash {name=flaky title="Flaky fetch" retries=1}
    if [ -f tried ]; then echo second try worked; else touch tried; echo first try broke; exit 3; fi
    ```
    """


def test_a_log_read_after_the_fact_shows_each_attempt_s_output_under_it(tmp_path: Path) -> None:
    """Read in one batch (a finished log, or a watcher that starts late), every attempt's
    output went under the last attempt: the failure showed no output, the retry both."""
    write_runbook(tmp_path, RETRIED)
    ran = subprocess.run([*swrun_cmd(), "execute", "rb.md", "--log", "run.toml", "--yes"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    watcher = subprocess.run([*swrun_cmd(), "watch", "--plain", "run.toml"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    lines = [line.split(" ", 1)[1] if line[:2].isdigit() else line.strip()
             for line in watcher.stdout.splitlines()]
    first = lines.index("│ first try broke")
    failed = next(i for i, line in enumerate(lines) if line.startswith("✗ 1. Flaky fetch"))
    second = lines.index("│ second try worked")
    ok = next(i for i, line in enumerate(lines) if line.startswith("✓ 1. Flaky fetch"))
    assert first < failed < second < ok, watcher.stdout
