"""`swrun execute` end to end: real processes, the real run log, exit codes, crash and resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from swrun import engine as engine_module
from swrun.durations import format_duration
from swrun.execute import ExecuteOptions, execute
from swrun.exitcodes import ExitCode
from swrun.loop import clock
from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook

GOLDEN = Path(__file__).parent / "golden" / "execute"
UPDATE = os.environ.get("SWRUN_UPDATE_GOLDEN") == "1"


def run_cli(args: list[str], cwd: Path, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout,
                          env={**os.environ, **(env or {})})


def only_log(cwd: Path) -> Path:
    logs = sorted((cwd / "logs").rglob("*.toml"))
    assert len(logs) == 1, logs
    return logs[0]


def test_exit_codes_are_pinned() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0, "STEP_FAILED": 1, "USAGE": 2, "INVALID_RUNBOOK": 3, "OPERATOR_NEEDED": 4,
        "LOG_LOCKED": 5, "BAD_VARIABLES": 6, "BAD_LOG": 7, "LEFTOVERS": 8,
        "NOT_VERIFIED": 9, "BAD_EVIDENCE": 10, "KUBE_CONTEXT": 11, "INTERRUPTED": 130,
    }


SMALL = """
    +++
    title = "Golden runbook"
    environment = "staging"

    [vars.NAME]
    default = "world"
    +++
    # Golden runbook

    ## Prepare

    - [ ] Announce the window

    ```bash {name=greet}
    echo "hello $NAME"
    echo "to stderr" >&2
    ```

    ## Finish

    ```bash {name=quiet}
    true
    ```
    """


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch):
    """A clock that advances 250 ms per reading, a fixed start time and run id."""
    ticks = iter(range(10_000))
    start = datetime(2026, 11, 22, 9, 0, 0, tzinfo=UTC)
    readings: list[int] = []

    def monotonic() -> float:
        readings.append(1)
        return next(ticks) * 0.25

    monkeypatch.setattr(clock, "_monotonic", monotonic)
    monkeypatch.setattr(clock, "_now",
                        lambda: start + timedelta(milliseconds=250 * len(readings)))
    monkeypatch.setattr(engine_module, "new_run_id", lambda: "0badcafe")


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; SWRUN_UPDATE_GOLDEN=1 to accept"


def test_golden_human_output_and_log(tmp_path: Path, frozen, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    rb = write_runbook(tmp_path, SMALL, "golden.md")
    log = tmp_path / "run.toml"
    code = execute(ExecuteOptions(file="golden.md", yes=True, log=str(log), operator="ops@lab",
                                  argv=["swrun", "execute", "--yes", "golden.md"]))
    assert code == ExitCode.OK
    out = capsys.readouterr().out
    _golden("human.txt", out)
    # the step's process: where it ran differs every time (docs/run-log.md)
    text = re.sub(r"^(pid|pgid|pid_start) = \d+$", r"\1 = 1", log.read_text(), flags=re.M)
    text = re.sub(r'^boot_id = ".*"$', 'boot_id = "b"', text, flags=re.M)
    # the chain hashes the real bytes, pids included, so it differs every run too
    # (tests/test_evidence.py checks the chain)
    text = re.sub(r'^prev = "[0-9a-f]{64}"$', 'prev = "…"', text, flags=re.M)
    text = re.sub(r'^exit_file = "run.run/exit/[0-9a-f]+.status"$',
                  'exit_file = "run.run/exit/0.status"', text, flags=re.M)
    _golden("log.toml", text)
    assert rb.exists()


def test_json_lines(tmp_path: Path) -> None:
    write_runbook(tmp_path, SMALL, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes", "--json"], tmp_path)
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert records[0]["type"] == "run_started" and records[-1]["type"] == "run_finished"
    # stdout and stderr are two pipes: their lines' order between them is not the block's
    outputs = {(r["line"], r.get("stream")) for r in records if r["type"] == "step_output"}
    assert {("hello world", "stdout"), ("to stderr", "stderr")} <= outputs, outputs


def test_no_tty_stops_at_a_check_with_operator_needed(tmp_path: Path) -> None:
    write_runbook(tmp_path, SMALL, "rb.md")
    res = run_cli(["execute", "rb.md"], tmp_path)
    assert res.returncode == ExitCode.OPERATOR_NEEDED
    assert "check 1 needs an operator: Announce the window" in res.stderr
    assert "--resume" in res.stderr
    data = read_log(only_log(tmp_path))
    last = data.events[-1]
    assert last["type"] == "run_finished" and last["status"] == "operator_needed"
    assert last["step"] == "prepare/announce-the-window"
    assert not any(e["type"] == "step_started" for e in data.events)


def test_yes_ticks_as_auto_and_step_mode_without_tty_stops(tmp_path: Path) -> None:
    write_runbook(tmp_path, SMALL, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes", "--operator", "alice"], tmp_path)
    assert res.returncode == 0, res.stderr
    data = read_log(only_log(tmp_path))
    assert data.run["operator"] == "alice"
    tick = next(e for e in data.events if e["type"] == "check_ticked")
    assert tick["by"] == "auto"
    res = run_cli(["execute", "rb.md", "--yes", "--step"], tmp_path)
    assert res.returncode == ExitCode.OPERATOR_NEEDED


def test_dry_run_runs_nothing(tmp_path: Path) -> None:
    write_runbook(tmp_path, f"""
        # D

        ```bash {{name=make}}
        touch {tmp_path}/made
        ```
        """, "rb.md")
    res = run_cli(["execute", "rb.md", "--dry-run"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "made").exists()
    assert "DRY RUN" in res.stdout and f"touch {tmp_path}/made" in res.stdout


def test_variables_checked_before_anything_runs(tmp_path: Path) -> None:
    write_runbook(tmp_path, f"""
        +++
        [vars.SLOT]
        choices = ["blue", "green"]
        [vars.COUNT]
        type = "int"
        default = "3"
        +++
        # V

        ```bash
        touch {tmp_path}/ran
        ```
        """, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes"], tmp_path)
    assert res.returncode == ExitCode.BAD_VARIABLES
    assert "SLOT is required" in res.stderr and "Traceback" not in res.stderr
    res = run_cli(["execute", "rb.md", "--yes", "--var", "SLOT=red", "--var", "COUNT=x"],
                  tmp_path)
    assert res.returncode == ExitCode.BAD_VARIABLES
    assert "expected one of blue, green" in res.stderr and "COUNT" in res.stderr
    assert not (tmp_path / "ran").exists() and not (tmp_path / "logs").exists()
    res = run_cli(["execute", "rb.md", "--yes", "--var", "SLOT=green"], tmp_path)
    assert res.returncode == 0 and (tmp_path / "ran").exists()


def test_production_destructive_needs_confirm_environment(tmp_path: Path) -> None:
    write_runbook(tmp_path, f"""
        +++
        environment = "production"
        +++
        # P

        ```bash {{name=safe}}
        touch {tmp_path}/safe
        ```

        ```bash {{name=drop destructive}}
        touch {tmp_path}/dropped
        ```

        ## Rollback
        <!-- swrun: rollback -->

        ```bash
        true
        ```
        """, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes"], tmp_path)
    assert res.returncode == ExitCode.OPERATOR_NEEDED
    assert "rb.md:10" in res.stderr and "--confirm-environment production" in res.stderr
    assert not (tmp_path / "safe").exists()  # refused before anything ran
    res = run_cli(["execute", "rb.md", "--yes", "--confirm-environment", "production"],
                  tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "dropped").exists()


def test_failure_exit_code_and_rollback(tmp_path: Path) -> None:
    write_runbook(tmp_path, f"""
        # F

        ```bash {{name=break on_failure=rollback}}
        echo about to fail
        exit 9
        ```

        ```bash {{name=never}}
        touch {tmp_path}/never
        ```

        ## Undo
        <!-- swrun: rollback -->

        ```bash {{name=undo}}
        touch {tmp_path}/undone
        ```
        """, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes"], tmp_path)
    assert res.returncode == ExitCode.STEP_FAILED
    assert "exit 9" in res.stdout and not (tmp_path / "undone").exists()
    newest = tmp_path / "second.toml"
    res = run_cli(["execute", "rb.md", "--yes", "--rollback-on-failure", "--log", str(newest)],
                  tmp_path)
    assert res.returncode == ExitCode.STEP_FAILED
    assert (tmp_path / "undone").exists() and not (tmp_path / "never").exists()
    assert "[↺ 1/1] ✓ undo" in res.stdout  # rollback steps count on their own, not [3/2]
    types = [e["type"] for e in read_log(newest).events]
    assert "rollback_started" in types and types[-1] == "run_finished"
    assert read_log(newest).events[-1]["status"] == "rolled_back"
    end = read_log(newest).events[-1]
    assert end["counts"] == {"failed": 1} and end["rollback_counts"] == {"ok": 1}
    assert res.stdout.rstrip().splitlines()[-1].startswith("run rolled_back in ")
    assert ": 1 failed, 1 not run; rollback: 1 ok — break failed" in \
        res.stdout.rstrip().splitlines()[-1]  # `never` never ran


def test_from_only_skip_by_number_and_name(tmp_path: Path) -> None:
    write_runbook(tmp_path, SMALL, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes", "--from", "2", "--skip", "quiet"], tmp_path)
    assert res.returncode == 0, res.stderr
    events = read_log(only_log(tmp_path)).events
    skipped = {e["step"]: e["note"] for e in events if e["type"] == "step_skipped"}
    assert skipped == {"prepare/announce-the-window": "before --from 2", "quiet": "--skip"}
    res = run_cli(["execute", "rb.md", "--yes", "--from", "nope"], tmp_path)
    assert res.returncode == ExitCode.USAGE
    assert res.stderr == "swrun: --from nope: no such step (see `swrun plan rb.md`)\n"


def test_rollback_steps_cannot_be_picked_up_front(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        # R

        ## Main

        ```bash {name=one}
        true
        ```

        ## Roll back
        <!-- swrun: rollback -->

        ```bash {name=undo}
        touch undone
        ```
        """, "rb.md")
    for args in (["--from", "undo"], ["--skip", "undo"], ["--only", "Roll back"]):
        res = run_cli(["execute", "rb.md", "--yes", *args], tmp_path)
        assert res.returncode == ExitCode.USAGE, (args, res.stderr)
        assert "rollback section, which runs only after a failure" in res.stderr
        assert "Traceback" not in res.stderr
    assert not (tmp_path / "logs").exists()  # refused before anything ran


def test_production_destructive_rollback_step_is_checked_up_front(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        +++
        environment = "production"
        +++
        # P

        ## Go

        ```bash {name=go on_failure=rollback}
        touch went; exit 1
        ```

        ## Back
        <!-- swrun: rollback -->

        ```bash {name=undo destructive}
        echo undo
        ```
        """, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes", "--rollback-on-failure"], tmp_path)
    assert res.returncode == ExitCode.OPERATOR_NEEDED, res.stderr
    assert "rb.md:15: step 2 'undo' is destructive in production" in res.stderr
    assert not (tmp_path / "went").exists()


def test_bad_runbook_is_one_line(tmp_path: Path) -> None:
    write_runbook(tmp_path, "+++\ntitle = [\n+++\n# X\n", "bad.md")
    res = run_cli(["execute", "bad.md", "--yes"], tmp_path)
    assert res.returncode == ExitCode.INVALID_RUNBOOK
    assert res.stderr.startswith("swrun: bad.md:") and "Traceback" not in res.stderr
    res = run_cli(["execute", "missing.md"], tmp_path)
    assert res.returncode == ExitCode.INVALID_RUNBOOK and "no such file" in res.stderr


CRASHY = """
    # Crashy

    ```bash {{name=s1}}
    echo s1 >> {d}/runs; sleep 0.2
    ```

    ```bash {{name=s2}}
    echo s2 >> {d}/runs; sleep 0.2
    ```

    ```bash {{name=s3}}
    echo s3 >> {d}/runs
    if [ ! -e {d}/s3-started ]; then touch {d}/s3-started; sleep 120; fi  # the first run lasts
    ```

    ```bash {{name=s4}}
    echo s4 >> {d}/runs
    ```

    ```bash {{name=s5}}
    echo s5 >> {d}/runs
    ```
    """


def _wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_kill_9_then_resume_runs_no_finished_step_twice(tmp_path: Path) -> None:
    write_runbook(tmp_path, CRASHY.format(d=tmp_path), "crashy.md")
    proc = subprocess.Popen([*swrun_cmd(), "execute", "crashy.md", "--yes"], cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(tmp_path / "s3-started")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # swrun; its step, in a session of its own, lives
        proc.wait(10)
    log = only_log(tmp_path)
    before = read_log(log)
    done = {e["step"] for e in before.events if e.get("status") == "ok"}
    assert done == {"s1", "s2"}
    assert not before.finished
    res = run_cli(["execute", "crashy.md", "--yes", "--resume"], tmp_path)
    assert res.returncode == ExitCode.LEFTOVERS, res.stderr  # s3 still runs: not beside it
    res = run_cli(["execute", "crashy.md", "--yes", "--resume", "--stop-leftovers"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "resuming run" in res.stdout
    assert "stopping step 3 's3'" in res.stderr
    runs = (tmp_path / "runs").read_text().split()
    for step in ("s1", "s2", "s4", "s5"):
        assert runs.count(step) == 1, runs
    assert runs.count("s3") == 2  # it was cut off mid-step, so it ran again
    after = read_log(log)
    assert after.finished and after.status == "completed"
    assert [e["type"] for e in after.events].count("run_resumed") == 1
    end = after.events[-1]
    assert end["counts"] == {"ok": 5}  # the whole run: s1 and s2 ran before the crash
    # the killed part counts up to its last event (s3's start): more than s1 and s2's 0.4 s
    assert end["active_ms"] >= end["duration_ms"] + 400
    assert end["wall_ms"] >= end["active_ms"]
    assert res.stdout.rstrip().splitlines()[-1].endswith(" since it first started): 5 ok")
    seqs = [e["seq"] for e in after.events]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    with log.open("rb") as fh:
        tomllib.load(fh)


def test_resume_survives_a_removed_variable_and_another_directory(tmp_path: Path) -> None:
    book = tmp_path / "v"
    book.mkdir()
    text = """
        +++
        [vars.OLD]
        default = "x"
        +++
        # V

        - [ ] go

        ```bash {name=mark}
        touch marked
        ```
        """
    write_runbook(book, text, "v.md")
    res = run_cli(["execute", "v.md", "--log", "../run.toml"], book)  # stops at the check
    assert res.returncode == ExitCode.OPERATOR_NEEDED, res.stderr
    # from the parent directory, the same unchanged file is the same runbook
    res = run_cli(["execute", "v/v.md", "--resume", "run.toml", "--yes"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert (book / "marked").exists()  # steps run beside their runbook
    # a variable the runbook no longer declares: a warning, not a refusal
    write_runbook(book, text.replace("[vars.OLD]", "[vars.NEW]"), "v.md")
    res = run_cli(["execute", "v.md", "--log", "../run2.toml"], book)
    first = tmp_path / "run2.toml"
    write_runbook(book, text.replace("[vars.OLD]", "[vars.RENAMED]"), "v.md")
    res = run_cli(["execute", "v.md", "--resume", str(first), "--yes"], book)
    assert res.returncode == 0, res.stderr
    assert "no longer declares NEW" in res.stderr


def test_closed_stdout_aborts_cleanly_and_the_log_is_complete(tmp_path: Path) -> None:
    write_runbook(tmp_path, f"""
        # P

        ```bash {{name=chatty}}
        for i in $(seq 50); do echo line $i; sleep 0.02; done
        ```

        ```bash {{name=after}}
        touch {tmp_path}/after
        ```
        """, "rb.md")
    proc = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml"],
                            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # like `| head -1`
    proc.stdout.close()
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.wait(timeout=30) == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    events = read_log(tmp_path / "run.toml").events
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "aborted"
    assert events[-1]["note"] == "aborted: standard output was closed"
    assert not (tmp_path / "after").exists()


def test_resume_with_nothing_to_resume(tmp_path: Path) -> None:
    write_runbook(tmp_path, SMALL, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes", "--resume"], tmp_path)
    assert res.returncode == ExitCode.BAD_LOG
    assert "no unfinished run log" in res.stderr


def test_a_second_swrun_on_the_same_log_is_refused(tmp_path: Path) -> None:
    write_runbook(tmp_path, f"""
        # L

        ```bash {{name=hold}}
        touch {tmp_path}/holding
        sleep 30
        ```
        """, "rb.md")
    log = tmp_path / "shared.toml"
    first = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", str(log)],
                             cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        _wait_for(tmp_path / "holding")
        res = run_cli(["execute", "rb.md", "--yes", "--resume", str(log)], tmp_path)
        assert res.returncode == ExitCode.LOG_LOCKED, res.stderr
        assert "shared.toml" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(15) == ExitCode.INTERRUPTED


def test_sigint_aborts_the_step_and_flushes(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    write_runbook(tmp_path, f"""
        # I

        ```bash {{name=long}}
        sleep 60 &
        echo $! > {pidfile}
        wait
        ```

        ```bash {{name=after}}
        touch {tmp_path}/after
        ```
        """, "rb.md")
    proc = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes"], cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(pidfile)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    events = read_log(only_log(tmp_path)).events
    long = next(e for e in events if e["type"] == "step_finished")
    assert long["status"] == "aborted"
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "aborted"
    assert not (tmp_path / "after").exists()
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists() or \
        Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"


def test_sigint_during_a_retry_delay_records_the_step_as_aborted(tmp_path: Path) -> None:
    write_runbook(tmp_path, f"""
        # R

        ```bash {{name=flaky retries=3 retry_delay=30s}}
        touch {tmp_path}/tried
        exit 1
        ```
        """, "rb.md")
    proc = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes"], cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(tmp_path / "tried")
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    events = read_log(only_log(tmp_path)).events
    finished = [e for e in events if e["type"] == "step_finished"]
    assert [(e["status"], e.get("will_retry")) for e in finished] == [
        ("failed", True), ("aborted", None)]
    assert events[-1]["type"] == "run_finished" and events[-1]["counts"] == {"aborted": 1}


def test_variables_in_attributes_are_filled_in_when_the_step_runs(tmp_path: Path) -> None:
    (tmp_path / "sub" / "dir").mkdir(parents=True)
    write_runbook(tmp_path, """
        +++
        [vars.D]
        default = "sub/dir"
        [vars.T]
        default = "1s"
        [vars.R]
        default = "1"
        [vars.BAD]
        default = "soon"
        +++
        # V

        ```bash {name=where cwd=$D}
        pwd
        ```

        ```bash {name=slow timeout=$T}
        sleep 20
        ```

        ```bash {name=twice retries=$R retry_delay=0s}
        exit 3
        ```

        ```bash {name=bad timeout=$BAD}
        echo never
        ```

        ```python {run name=py}
        print("python ran")
        ```
        """, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes", "--keep-going", "--log", "run.toml"], tmp_path)
    assert res.returncode == ExitCode.STEP_FAILED, res.stderr
    done = {e["step"]: e for e in read_log(tmp_path / "run.toml").events
            if e["type"] == "step_finished" and not e.get("will_retry")}
    assert done["where"]["output"] == [str(tmp_path / "sub" / "dir")]
    assert done["slow"]["status"] == "timed_out" and done["slow"]["duration_ms"] < 10_000
    assert done["twice"]["attempt"] == 2
    assert done["bad"]["status"] == "failed"
    assert done["bad"]["error"] == ("timeout=$BAD is 'soon': timeout=soon: bad duration "
                                    "(use e.g. 45s, 15m, 1h30m)")
    assert "never" not in res.stdout
    assert done["py"]["status"] == "ok" and done["py"]["output"] == ["python ran"]


def test_secrets_never_reach_output_log_or_sidecars(tmp_path: Path) -> None:
    secret = "hunter2-very-secret"
    env_secret = "ghp_envtokenvalue123"
    write_runbook(tmp_path, """
        +++
        [vars.DB_PASS]
        secret = true
        +++
        # S

        ```bash {name=leak}
        echo "password is $DB_PASS"
        echo "stderr $DB_PASS" >&2
        echo "env token $MY_GITHUB_TOKEN"
        exit 3
        ```
        """, "rb.md")
    for extra in ([], ["--json"], ["--dry-run"]):
        res = run_cli(["execute", "rb.md", "--yes", "--var", f"DB_PASS={secret}", *extra],
                      tmp_path, env={"MY_GITHUB_TOKEN": env_secret})
        assert res.returncode in (0, 1), res.stderr
        for text in (res.stdout, res.stderr):
            assert secret not in text and env_secret not in text
    files = [p for p in (tmp_path / "logs").rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" or "output" in str(p) for p in files), files
    for path in files:
        data = path.read_bytes()
        assert secret.encode() not in data and env_secret.encode() not in data, path
    seen = b"".join(p.read_bytes() for p in files)
    assert b"password is ****" in seen


def test_multi_line_secrets_and_copies_of_env_secrets_are_masked(tmp_path: Path) -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    write_runbook(tmp_path, """
        +++
        [vars.KEY]
        secret = true
        [vars.GREETING]
        [vars.API_TOKEN]
        secret = true
        default = "s3cr3tvalue"
        +++
        # M

        ```bash {name=show}
        printf '%s\\n' "$KEY"
        echo "greeting $GREETING"
        ```
        """, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes", "--log", "run.toml", "--var", f"KEY={key}",
                   "--var", "GREETING=envtok-4242"], tmp_path,
                  env={"DEPLOY_TOKEN": "envtok-4242"})
    assert res.returncode == 0, res.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".toml", ".log")]
    texts = [res.stdout, res.stderr, *(p.read_text() for p in files)]
    for text in texts:
        assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in text and "envtok-4242" not in text
    log = read_log(tmp_path / "run.toml")
    assert log.run["variables"]["GREETING"] == "****"
    timeline = run_cli(["timeline", "run.toml", "--format", "json"], tmp_path)
    assert "envtok-4242" not in timeline.stdout


def test_a_secret_default_is_never_quoted_in_diagnostics(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        +++
        [vars.API_TOKEN]
        secret = true
        default = "s3cr3tvalue"
        pattern = "[0-9]+"
        +++
        # D
        """, "rb.md")
    for cmd in (["check", "rb.md"], ["plan", "rb.md"]):
        res = run_cli(cmd, tmp_path)
        assert res.returncode == ExitCode.INVALID_RUNBOOK
        assert "s3cr3tvalue" not in res.stdout + res.stderr
        assert "the default is invalid: does not match" in res.stdout + res.stderr


def test_help_and_version_are_fast_and_light() -> None:
    out = subprocess.run([sys.executable, "-c",
                          "import sys; from swrun.cli import main\n"
                          "import swrun.execute, swrun.engine, swrun.runlog\n"
                          "heavy = {'textual', 'paramiko', 'boto3', 'pymongo', 'ansible_runner',"
                          " 'ansible', 'rich'} & set(sys.modules)\n"
                          "print(sorted(heavy))"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sigusr1_cuts_a_wait_short_and_logs_who(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        # W

        ```wait {name=soak}
        wait 10m
        ```
        """, "rb.md")
    proc = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--operator", "bob",
                             "--json"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # the wait has started once its step_started event is out
        if json.loads(line)["type"] == "step_started":
            break
    time.sleep(0.2)
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    fin = next(e for e in read_log(only_log(tmp_path)).events if e["type"] == "step_finished")
    assert fin["status"] == "ok"
    op = fin["data"]["ops"][0]
    assert op["cut_by"] == "bob" and op["cut_note"] == "SIGUSR1"


def test_the_console_refuses_to_start_without_a_terminal(tmp_path: Path) -> None:
    write_runbook(tmp_path, SMALL, "rb.md")
    res = run_cli(["run", "rb.md"], tmp_path, timeout=20)
    assert res.returncode == ExitCode.USAGE
    assert "needs a terminal" in res.stderr and "swrun execute rb.md" in res.stderr
    assert not (tmp_path / "logs").exists()


def test_a_variable_used_as_a_mongo_uri_is_secret_by_use(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        +++
        [vars.DB]
        default = "mongodb://admin:hunter2pass@127.0.0.1:1/?authSource=admin"
        +++
        # U

        ```mongo {name=ping uri=$DB}
        ping
        ```
        """, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes", "--dry-run", "--log", "run.toml"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "hunter2pass" not in res.stdout + res.stderr
    assert "hunter2pass" not in (tmp_path / "run.toml").read_text()
    assert read_log(tmp_path / "run.toml").run["variables"]["DB"] == "****"


def test_only_with_an_ambiguous_section_title_names_the_ids(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        +++
        [vars.N]
        type = "int"
        default = "1"
        +++
        # D

        ## A

        ### Sub

        ```bash {name=a}
        true
        ```

        ## B

        ### Sub

        ```bash {name=b}
        true
        ```
        """, "rb.md")
    res = run_cli(["execute", "rb.md", "--yes", "--only", "Sub"], tmp_path)
    assert res.returncode == ExitCode.USAGE
    assert res.stderr == ("swrun: --only Sub: 2 sections have that title; name one by id: "
                          "a-sub, b-sub\n")
    res = run_cli(["execute", "rb.md", "--yes", "--only", "b-sub", "--log", "run.toml"],
                  tmp_path)
    assert res.returncode == 0, res.stderr
    ran = [e["step"] for e in read_log(tmp_path / "run.toml").events
           if e["type"] == "step_finished"]
    assert ran == ["b"]
    for value in ("1_000", " 3", "²"):
        res = run_cli(["execute", "rb.md", "--yes", "--var", f"N={value}"], tmp_path)
        assert res.returncode == ExitCode.BAD_VARIABLES, (value, res.stderr)


FIVE = """
    # Five

    ```bash {{name=s1}}
    true
    ```

    ```bash {{name=s2}}
    true
    ```

    ```bash {{name=s3}}
    true
    ```

    ```bash {{name=s4}}
    [ -e {d}/fixed ]
    ```

    ```bash {{name=s5}}
    true
    ```
    """


def test_a_resumed_run_ends_with_the_whole_runs_summary(tmp_path: Path) -> None:
    # issue 13.2: "run completed in 41ms: 2 ok" after resuming a 5-step book at step 4
    write_runbook(tmp_path, FIVE.format(d=tmp_path), "five.md")
    res = run_cli(["execute", "five.md", "--yes"], tmp_path)
    assert res.returncode == ExitCode.STEP_FAILED, res.stderr
    (tmp_path / "fixed").touch()
    time.sleep(0.3)  # a gap between the parts: wall time, not active time
    res = run_cli(["execute", "five.md", "--yes", "--resume"], tmp_path)
    assert res.returncode == ExitCode.OK, res.stderr
    last = res.stdout.rstrip().splitlines()[-1]
    assert re.fullmatch(r"run completed in \S+ \(\S+ since it first started\): 5 ok", last), last
    events = read_log(only_log(tmp_path)).events
    first_end, end = [e for e in events if e["type"] == "run_finished"]
    assert first_end["counts"] == {"ok": 3, "failed": 1}
    assert end["counts"] == {"ok": 5}
    assert end["active_ms"] >= end["duration_ms"] + first_end["duration_ms"] - 5
    assert end["wall_ms"] >= end["active_ms"] + 300


def test_resume_in_process_carries_counts_and_times(tmp_path: Path, frozen, capsys,
                                                    monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_runbook(tmp_path, SMALL, "golden.md")
    log = tmp_path / "run.toml"
    code = execute(ExecuteOptions(file="golden.md", log=str(log), operator="ops@lab",
                                  interactive=False, argv=["swrun", "execute", "golden.md"]))
    assert code == ExitCode.OPERATOR_NEEDED  # stops at the check
    capsys.readouterr()
    code = execute(ExecuteOptions(file="golden.md", yes=True, resume=str(log),
                                  operator="ops@lab", argv=["swrun", "execute", "--resume"]))
    assert code == ExitCode.OK
    out = capsys.readouterr().out
    end = read_log(log).events[-1]
    assert end["counts"] == {"ticked": 1, "ok": 2}
    assert end["active_ms"] > end["duration_ms"] and end["wall_ms"] > end["active_ms"]
    took = format_duration(end["active_ms"] / 1000)
    since = format_duration(end["wall_ms"] / 1000)
    assert out.rstrip().splitlines()[-1] == (
        f"run completed in {took} ({since} since it first started): 2 ok, 1 ticked")


def test_a_step_retried_after_a_failure_is_one_row_and_counted_once(tmp_path: Path) -> None:
    # issue 13.3: "2 failed, 3 ok, 3 skipped, 11 ticked" for 18 steps
    import io

    from swrun.engine import Decision
    from swrun.render import HumanRenderer

    from helpers import ScriptedOperator, run_events

    path = write_runbook(tmp_path, FIVE.format(d=tmp_path), "five.md")
    path.write_text(path.read_text().replace(
        f"[ -e {tmp_path}/fixed ]",
        f"[ -e {tmp_path}/fixed ] || {{ touch {tmp_path}/fixed; exit 1; }}"))
    out = io.StringIO()
    render = HumanRenderer(out, total=5)
    for event in run_events(path, ScriptedOperator(failures=[Decision.RETRY])):
        render(event)
    lines = out.getvalue().splitlines()
    table = lines[next(i for i, ln in enumerate(lines) if ln.startswith("#  status")):]
    assert [ln.split()[0] for ln in table[1:6]] == ["1", "2", "3", "4", "5"]
    assert lines[-1].startswith("run completed in ") and lines[-1].endswith(": 5 ok")


def test_yes_does_not_tick_a_manual_command(tmp_path: Path) -> None:
    """--yes ticks checks, but a command swrun does not run (it never ends, it needs a
    terminal) is not done because nobody was asked: headless stops there, exit 4."""
    write_runbook(tmp_path, """
        # Logs

        ```bash {name=before}
        echo before
        ```

        ```bash
        kubectl logs -f deploy/api
        ```

        ```bash {name=after}
        echo after
        ```
        """)
    res = run_cli(["execute", "rb.md", "--yes", "--log", "run.toml"], tmp_path)
    assert res.returncode == ExitCode.OPERATOR_NEEDED, res.stderr
    assert "swrun does not run it" in res.stderr + res.stdout
    events = read_log(tmp_path / "run.toml").events
    assert [e["step"] for e in events if e["type"] == "step_finished"] == ["before"]
    assert not [e for e in events if e["type"] == "check_ticked"]
