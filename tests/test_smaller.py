"""Smaller truths (issue 25, item 15): an ansible step's limit is shown resolved, `set -x`
does not show swrun's own lines, `1 step`, a stopped run's summary counts the steps it
never reached, and the timeline says `rolled back` in words."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from swrun.parser import load_runbook
from swrun.render import HumanRenderer
from swrun.timeline import build_timeline, read_logs, render
from swrun.tui.detail import where

from conftest import swrun_cmd
from helpers import ScriptedOperator, make_engine, write_runbook

ANSIBLE = """
    +++
    [vars.IDLE_SLOT]
    default = "green"
    +++
    # A

    ```ansible {name=deploy playbook=site.yml limit=$IDLE_SLOT}
    ```
    """


def test_an_ansible_limit_is_shown_resolved(tmp_path: Path) -> None:
    (tmp_path / "site.yml").write_text("- hosts: all\n  tasks: []\n")
    rb = load_runbook(write_runbook(tmp_path, ANSIBLE))
    step = rb.actionable[0]
    engine = make_engine(rb)
    assert where(step, engine.resolve_text) == "on green (playbook limit $IDLE_SLOT)"
    assert where(step) == "on $IDLE_SLOT (playbook limit)"
    assert engine.describe(step).startswith("on green (playbook limit)\n")


def test_set_x_shows_only_the_step_s_own_lines(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, """
        # X

        ```bash {name=traced}
        set -x
        echo hi
        ```

        ```bash {name=after}
        echo "after"
        ```
        """)
    done = subprocess.run([*swrun_cmd(), "execute", path.name, "--yes", "--log", "run.toml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "    hi\n" in done.stdout and "    after\n" in done.stdout
    assert "echo hi" in done.stdout  # the step's own trace stays
    assert "__swrun" not in done.stdout + (tmp_path / "run.toml").read_text()


ROLLED = """
    # R

    ```bash {name=a}
    echo a
    ```

    ```bash {name=b}
    exit 3
    ```

    ```bash {name=c}
    echo c
    ```

    ```bash {name=d}
    echo d
    ```

    ## Rollback
    <!-- swrun: rollback -->

    ```bash {name=undo}
    echo undo
    ```
    """


def test_one_step_and_the_steps_a_stopped_run_never_reached(tmp_path: Path) -> None:
    from swrun.engine import Decision

    path = write_runbook(tmp_path, ROLLED)
    rb = load_runbook(path)
    out = io.StringIO()
    sink = HumanRenderer(out, total=len(rb.main_steps))
    for event in make_engine(rb, ScriptedOperator(failures=[Decision.ROLLBACK])).run():
        sink(event)
    text = out.getvalue()
    assert "rolling back (1 step)" in text and "(1 steps)" not in text
    assert "1 failed, 1 ok, 2 not run; rollback: 1 ok" in text.splitlines()[-1]
    one = write_runbook(tmp_path, "# One\n\n```bash {name=a}\necho a\n```\n", "one.md")
    out = io.StringIO()
    sink = HumanRenderer(out, total=1)
    for event in make_engine(load_runbook(one)).run():
        sink(event)
    assert out.getvalue().startswith("One  (1 step)\n"), out.getvalue()
    assert "not run" not in out.getvalue()


def test_the_timeline_says_rolled_back_in_words(tmp_path: Path, monkeypatch) -> None:
    from swrun.engine import Decision, Settings
    from swrun.execute import open_run_log
    from swrun.session import drive

    monkeypatch.chdir(tmp_path)
    path = write_runbook(tmp_path, ROLLED)
    rb = load_runbook(path.name)
    engine = make_engine(rb, ScriptedOperator(failures=[Decision.ROLLBACK]),
                         settings=Settings(run_id="run00001"))
    log, log_path = open_run_log(rb, engine.settings, Path("run.toml"), None, "t", {}, ["x"])
    with log:
        drive(engine, log, lambda event: None)
    tl = build_timeline(read_logs([log_path]))
    for fmt in ("md", "html"):
        text = render(tl, fmt)
        assert "rolled back" in text, fmt
        assert ">rolled_back<" not in text and "**rolled_back" not in text, fmt
    assert '"rolled_back"' in render(tl, "json")  # data keeps the value
