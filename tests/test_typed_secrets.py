"""Every text an operator types goes through the masker (issue 25, item 3): a skip reason, a
rollback or abort reason, a tick comment, a note or a milestone's note holding a secret never
reaches the log, its folder, the follower's view or a timeline export in clear."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from swrun.engine import Answer, Decision, Settings
from swrun.execute import open_run_log
from swrun.parser import load_runbook
from swrun.session import drive

from conftest import swrun_cmd
from helpers import ScriptedOperator, make_engine, write_runbook

SECRET = "hunter2-Qx9-secret"
BOOK = f"""
    +++
    [vars.DB_PASSWORD]
    secret = true
    default = "{SECRET}"
    +++
    # Typed

    - [ ] The bridge is open

    ```bash {{name=first}}
    exit 3
    ```

    ```bash {{name=second}}
    exit 4
    ```

    ## Rollback
    <!-- swrun: rollback -->

    ```bash {{name=undo}}
    echo undone
    ```
    """


class Typist(ScriptedOperator):
    """Types the secret into every answer it gives."""

    def tick(self, step: Any) -> Answer:
        return Answer(Decision.CONTINUE, self.name, f"ticked, password {SECRET}")

    def after_failure(self, step: Any, result: Any, can_rollback: bool) -> Answer:
        if step.id == "first":
            return Answer(Decision.SKIP, self.name, f"skip: the password is {SECRET}")
        return Answer(Decision.ROLLBACK, self.name, f"roll back, {SECRET} leaked")


def _leaks(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.is_file() and p.name != "rb.md" and SECRET.encode() in p.read_bytes()]


def test_a_secret_typed_into_any_answer_reaches_no_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_runbook(tmp_path, BOOK)
    rb = load_runbook(path.name)
    operator = Typist()
    engine = make_engine(rb, operator, settings=Settings(run_id="run00001"))
    engine.add_note(f"note with {SECRET}", by=operator.name)
    engine.mark_milestone("detected", by=operator.name, note=f"seen {SECRET}")
    log, log_path = open_run_log(rb, engine.settings, Path("run.toml"), None, operator.name,
                                 {}, ["swrun"])
    shown: list[str] = []
    with log:
        drive(engine, log, lambda event: shown.append(repr(event)))
    text = log_path.read_text()
    assert "skip: the password is ****" in text and "roll back, **** leaked" in text
    assert "ticked, password ****" in text and "seen ****" in text
    assert not [s for s in shown if SECRET in s]
    for fmt in ("md", "html", "json", "csv"):
        done = subprocess.run([*swrun_cmd(), "timeline", "run.toml", "-o", f"tl.{fmt}"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert SECRET not in done.stdout + done.stderr
    watch = subprocess.run([*swrun_cmd(), "watch", "--plain", "run.toml"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert "skip: the password is ****" in watch.stdout, watch.stdout + watch.stderr
    assert SECRET not in watch.stdout + watch.stderr
    assert _leaks(tmp_path) == []


def test_an_abort_reason_is_masked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_runbook(tmp_path, BOOK)

    class Aborter(ScriptedOperator):
        def tick(self, step: Any) -> Answer:
            return Answer(Decision.ABORT, self.name, f"stop, {SECRET}")

    rb = load_runbook(path.name)
    engine = make_engine(rb, Aborter(), settings=Settings(run_id="run00002"))
    log, _ = open_run_log(rb, engine.settings, Path("run.toml"), None, "tester", {}, ["swrun"])
    with log:
        finished = drive(engine, log, lambda event: None)
    assert finished is not None and finished.note == "stop, ****"
    assert _leaks(tmp_path) == []
