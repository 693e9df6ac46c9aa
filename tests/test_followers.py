"""Followers tell the truth (issue 25, items 4 and 13): while the operator decides what to do
about a failed step, the log says so (`operator_waiting`, reason `failure`) and `swrun ps`
and `swrun watch` say who must decide; a finished run shows no countdown; the watcher offers
no key it refuses; `--plain` shows a remote step's per-host output."""

from __future__ import annotations

import fcntl
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from test_execute_tty import Terminal

from swrun.engine import Decision
from swrun.parser import load_runbook
from swrun.runlog import read_log
from swrun.tui.detail import step_meta
from swrun.watch.app import WatchApp
from swrun.watch.source import WatchSource
from swrun.watch.status import RunState
from swrun.watch.tail import OutputTail

from conftest import swrun_cmd
from helpers import ScriptedOperator, run_events, write_runbook

FAILING = """
    # Failing

    ```bash {name=prep}
    echo prepared
    ```

    ```bash {name=deploy title="Deploy"}
    echo "deploy failed" >&2; exit 3
    ```
    """


class Person(ScriptedOperator):
    interactive = True


def test_a_failure_decision_is_logged_as_a_wait(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, FAILING)
    events = run_events(path, Person(failures=[Decision.SKIP]))
    kinds = [(e.type, getattr(e, "reason", None)) for e in events]
    fail = kinds.index(("step_finished", None), kinds.index(("step_started", None), 3))
    assert kinds[fail + 1] == ("operator_waiting", "failure")
    assert kinds[fail + 2][0] == "step_skipped"


def test_waiting_text_names_the_failure_and_clears_once_decided() -> None:
    rec = {"type": "operator_waiting", "step": "deploy", "number": 11, "title": "Deploy",
           "reason": "failure"}
    state = RunState.of({"operator": "alice"}, [
        {"type": "run_started", "operator": "alice", "run_id": "r1"},
        {"type": "step_started", "step": "deploy", "number": 11, "title": "Deploy",
         "kind": "wait"},
        {"type": "step_finished", "step": "deploy", "number": 11, "status": "failed"}, rec])
    assert state.waiting_text() == "alice: failure of step 11 'Deploy'"
    state.apply({"type": "rollback_started", "by": "alice", "step": "deploy"})
    assert state.waiting_text() == ""
    state.apply(rec)
    state.apply({"type": "step_started", "step": "deploy", "number": 11, "title": "Deploy",
                 "attempt": 2})
    assert state.waiting_text() == "step 11 'Deploy' to finish"


@pytest.mark.slow
def test_ps_and_watch_say_who_decides_on_a_failure(tmp_path: Path) -> None:
    write_runbook(tmp_path, FAILING)
    term = Terminal([*swrun_cmd(), "execute", "rb.md", "--log", "run.toml",
                     "--operator", "alice"], tmp_path)
    watcher = None
    try:
        term.expect("failed — what now")
        listed = json.loads(subprocess.run([*swrun_cmd(), "ps", "--json"], cwd=tmp_path,
                                           capture_output=True, text=True,
                                           timeout=30).stdout)
        (run,) = [r for r in listed if r["log"] == str(tmp_path / "run.toml")]
        assert run["waiting_for"] == "alice: failure of step 2 'Deploy'"
        watcher = subprocess.Popen([*swrun_cmd(), "watch", "--plain", "run.toml"],
                                   cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)  # the feed reads what is there; the answer ends the run
        term.type("a")
        assert term.close() == 1
        out, _ = watcher.communicate(timeout=30)
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
        if watcher is not None and watcher.poll() is None:
            watcher.kill()
    assert "⏸ 2. Deploy failed: the operator decides what now" in out, out
    waits = [e for e in read_log(tmp_path / "run.toml").events
             if e["type"] == "operator_waiting"]
    assert [(w["step"], w["reason"]) for w in waits] == [("deploy", "failure")]


WAITED = """
    # Waited

    ```wait {name=hold title="Hold"}
    wait 30s
    ```
    """


def _log(tmp_path: Path, *events: dict[str, Any]) -> Path:
    import tomli_w

    head = {"run": {"schema": 1, "id": "r1", "runbook": "rb.md", "operator": "alice",
                    "started_at": "2026-01-01T00:00:00.000Z", "title": "Waited"}}
    text = tomli_w.dumps(head) + "\n"
    for i, e in enumerate(events, 1):
        text += tomli_w.dumps({"event": [{"seq": i, "at": "2026-01-01T00:00:00.000Z", **e}]})
        text += "\n"
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


async def test_a_finished_run_shows_no_countdown_and_no_tick_key(tmp_path: Path) -> None:
    rb = load_runbook(write_runbook(tmp_path, WAITED))
    step = {"step": "hold", "number": 1, "title": "Hold", "kind": "wait"}
    log = _log(tmp_path, {"type": "run_started", "operator": "alice", "run_id": "r1"},
               {"type": "step_started", **step})
    holder = log.open("rb")  # the writer's lock: the run is live
    fcntl.flock(holder, fcntl.LOCK_EX)
    app = WatchApp(WatchSource(log), rb, tick_interval=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if "left of" in str(app.status_line.content):
                break
        assert "left of" in str(app.status_line.content)
        footer = " ".join(str(b) for b in app.active_bindings.values() if b.binding.show
                          and b.binding.action == "app.tick")
        assert footer == ""
        with log.open("a") as fh:
            fh.write('[[event]]\nseq = 3\nat = "2026-01-01T00:00:01.000Z"\n'
                     'type = "run_finished"\nstatus = "aborted"\nstep = "hold"\n\n')
        for _ in range(100):
            await pilot.pause(0.05)
            if app.view.finished is not None:
                break
        await pilot.pause(0.3)
        holder.close()
        assert "left" not in str(app.status_line.content)
        assert "left" not in step_meta(rb.actionable[0], app.view).plain


def test_the_feed_follows_a_remote_step_s_per_host_files(tmp_path: Path) -> None:
    out = OutputTail(tmp_path / "x.toml")
    # a remote step's start names its group (or nothing), not the hosts it runs on
    out.started({"type": "step_started", "step": "deploy", "number": 3, "host": "web"})
    out.folder.mkdir()
    for host in ("web1", "web2"):
        (out.folder / f"0003-deploy@{host}.log").write_text(
            f"2026-01-01T00:00:00.000Z stdout restarted on {host}\n")
    (out.folder / "0003-deploy-attempt2@web1.log").write_text("x y not this attempt\n")
    lines = sorted(line for chunk in out.poll() for line in chunk.lines)
    assert lines == ["web1: restarted on web1", "web2: restarted on web2"]



def test_a_died_run_s_resume_line_is_quoted_for_pasting(tmp_path: Path) -> None:
    from swrun.watch.status import DIED

    log = _log(tmp_path, {"type": "run_started", "operator": "alice", "run_id": "r1"})
    source = WatchSource(log)
    source.poll()
    source.state.run["runbook"] = "my books/rb.md"
    assert source.liveness == DIED
    assert source.ended_text().endswith(
        f"resume it with: swrun execute 'my books/rb.md' --resume {log}")
