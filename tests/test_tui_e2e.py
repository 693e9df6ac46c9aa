"""End to end: the real `swrun run` in tmux ticks, runs a shell step, quits; the log says so.

Then issue 13 ("Operator trust"): in production, `r` on a later step and Enter skips nothing;
and a blue-green run against a real lab, the new slot stopped during the watch, rolled back
from the failure dialog, quit and reopened: the resume offer and the tree say what the engine
will do."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from labfix import RUNBOOKS, LabRun, health, lab_fixture  # noqa: F401 - the lab fixture

from swrun.parser import load_runbook
from swrun.runlog import read_log, resume_state

from conftest import swrun_cmd
from helpers import write_runbook
from sshd import Cluster, ssh_home, sshd_hosts  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

RUNBOOK = """
    # Tiny release

    ## Before

    - [ ] Tell #ops

    ## Do it

    ```bash {name=stamp}
    echo "stamped by $SWRUN_RUN_ID" > stamp.txt
    echo stamped
    ```
    """


class Tmux:
    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], capture_output=True,
                              text=True, check=check, timeout=10)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "tui").stdout

    def wait_for(self, text: str, limit: float = 20.0) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def wait_until(self, ok: Callable[[str], object], what: str, limit: float = 20.0) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            screen = self.screen()
            if ok(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{what}: not within {limit:g}s; the screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", "tui", *keys)

    def type(self, text: str) -> None:
        self("send-keys", "-t", "tui", "-l", text)

    def alive(self) -> bool:
        return self("has-session", "-t", "tui", check=False).returncode == 0

    def wait_gone(self, limit: float = 10.0) -> None:
        deadline = time.monotonic() + limit
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.alive(), f"swrun did not quit; the screen:\n{self.screen()}"


def start(tmp_path: Path, *args: str, runbook: str = "rb.md", log: str | None = "run.toml",
          size: tuple[int, int] = (120, 36), env: Mapping[str, str] | None = None,
          exit_file: str = "exit.txt") -> Tmux:
    """The real `swrun run` in a private tmux server; its exit code lands in `exit_file`."""
    tmux = Tmux(tmp_path / "tmux.sock")
    cmd = " ".join(shlex.quote(c) for c in [*swrun_cmd(), "run", runbook,
                                             *(["--log", log] if log else []), *args])
    # as an operator's terminal has it: no NO_COLOR (the suite sets it), which hid a crash
    env = {**{k: v for k, v in (os.environ if env is None else env).items()
              if k != "NO_COLOR"}, "TERM": "xterm-256color"}
    subprocess.run(["tmux", "-S", str(tmux.socket), "new-session", "-d", "-s", "tui",
                    "-x", str(size[0]), "-y", str(size[1]), "-c", str(tmp_path),
                    f"{cmd}; echo exit=$? > {exit_file}"],  # Textual draws on stderr: no 2>
                   check=True, env=env, timeout=10)
    return tmux


def quit_and_wait(tmux: Tmux) -> None:
    tmux.keys("q")
    tmux.wait_gone()


TREE_ROW = re.compile(r"^[│ ]*[├└] (\S) +(\d+) ")


def tree_icons(screen: str) -> dict[int, str]:
    """Step number → the status icon the tree draws for it (what is visible of the tree)."""
    return {int(m[2]): m[1] for line in screen.splitlines() if (m := TREE_ROW.match(line))}


def dialog_text(screen: str) -> str:
    """The text inside the dialog's frame (between its █ borders), as one line."""
    inner = [line[line.index("█") + 1:line.rindex("█")] for line in screen.splitlines()
             if line.count("█") >= 2]
    return " ".join(" ".join(part.split()) for part in inner if part.strip("▀▄ "))


def status_line(screen: str) -> str:
    """The console's status line (the line above the footer)."""
    lines = screen.rstrip("\n").splitlines()
    return lines[-2].strip() if len(lines) >= 2 else ""


def test_swrun_run_in_tmux(tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK)
    tmux = start(tmp_path, "--operator", "erin")
    try:
        tmux.wait_for("space ticks")
        tmux("send-keys", "-t", "tui", "Space")
        tmux.wait_for("r runs it")
        tmux("send-keys", "-t", "tui", "r")
        screen = tmux.wait_for("Run completed")
        assert "☑  1 Tell #ops" in screen or "☑  1 ticked" in screen
        quit_and_wait(tmux)
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit.txt").read_text().strip() == "exit=0"
    log = read_log(tmp_path / "run.toml")
    assert log.run["operator"] == "erin"
    kinds = {e["type"]: e for e in log.events}
    assert kinds["check_ticked"]["by"] == "erin"
    assert kinds["step_finished"]["status"] == "ok"
    assert kinds["step_finished"]["output"] == ["stamped"]
    assert kinds["run_finished"]["status"] == "completed"
    assert (tmp_path / "stamp.txt").read_text().startswith("stamped by ")


def test_remote_steps_in_the_console(tmp_path: Path, sshd_hosts: Cluster,  # noqa: F811
                                     ssh_home: Path) -> None:  # noqa: F811
    """Under the console, sys.stdout is Textual's capture (fileno -1, isatty True): the first
    load of the inventory through ansible-core happens there (the hosts depend on a variable)
    and must still work, in a fresh interpreter."""
    inv = sshd_hosts.inventory(tmp_path / "inv.ini", groups={"web": ["h1", "h2"]})
    write_runbook(tmp_path, f"""
        +++
        inventory = "{inv}"
        [vars.GROUP]
        default = "web"
        +++
        # Remote

        ```bash {{name=where hosts=$GROUP}}
        echo "on $(hostname) as $(id -un)"
        ```
        """)
    tmux = start(tmp_path)
    try:
        tmux.wait_for("Start the run")
        tmux("send-keys", "-t", "tui", "Enter")  # every variable has its default: Enter starts
        tmux.wait_for("r runs it")
        tmux("send-keys", "-t", "tui", "r")
        tmux.wait_for("Run completed")
        quit_and_wait(tmux)
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit.txt").read_text().strip() == "exit=0"
    (done,) = [e for e in read_log(tmp_path / "run.toml").events
               if e["type"] == "step_finished"]
    assert done["status"] == "ok", done.get("error")
    assert set(done["hosts"]) == {"h1", "h2"}


PRODUCTION = """
    +++
    environment = "production"
    +++
    # Prod release

    ## Before

    - [ ] Tell #ops
    - [ ] Freeze merges

    ## Do it

    ```bash {name=stamp}
    echo stamped > stamp.txt
    ```
    """


def detail_title(screen: str) -> str:
    """The right pane's first line: the selected step ("3. stamp") or section."""
    lines = screen.splitlines()
    return lines[1].split("▕", 1)[-1].strip() if len(lines) > 1 else ""


def test_production_jump_declined_by_enter_skips_nothing(tmp_path: Path) -> None:
    """80x24, production: type the name at the pre-flight, select step 3 while check 1 waits,
    `r`, Enter: the "Skip 2 unfinished step(s)" dialog opens on No, so nothing is skipped."""
    write_runbook(tmp_path, PRODUCTION)
    tmux = start(tmp_path, "--operator", "erin", size=(80, 24))
    try:
        tmux.wait_for("type the environment name to start")
        tmux.type("production")
        tmux.keys("Enter")
        screen = tmux.wait_for("☐ check 1: Tell #ops")
        assert tree_icons(screen) == {1: "▶", 2: "○", 3: "○"}
        for _ in range(6):  # arrow keys down the tree to step 3, reading where the cursor is
            if detail_title(screen) == "3. stamp":
                break
            before = detail_title(screen)
            tmux.keys("Down")
            screen = tmux.wait_until(lambda s, b=before: detail_title(s) != b,
                                     "the cursor moved")
        assert detail_title(screen) == "3. stamp", screen
        tmux.keys("r")
        screen = tmux.wait_for("Skip 2 unfinished step(s) to jump to step 3?")
        assert "1. Tell #ops" in screen and "2. Freeze merges" in screen
        tmux.keys("Enter")
        screen = tmux.wait_until(lambda s: "unfinished step(s)" not in s, "the dialog closed")
        assert "☐ check 1: Tell #ops" in status_line(screen), screen
        assert "↷" not in screen
        assert tree_icons(screen) == {1: "▶", 2: "○", 3: "○"}, screen
        tmux.keys("q")  # nothing runs: "Quit?" (the run stays unfinished), y
        screen = tmux.wait_for("The run stays unfinished")
        assert "↷" not in screen and tree_icons(screen)[1] == "▶", screen
        tmux.keys("y")
        tmux.wait_gone()
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit.txt").read_text().strip() == "exit=130"
    events = read_log(tmp_path / "run.toml").events
    assert [e for e in events if e["type"] in ("step_skipped", "check_ticked",
                                               "step_started", "run_finished")] == []
    waiting = [e["step"] for e in events if e["type"] == "operator_waiting"]
    assert waiting == ["before/tell-ops"]
    assert not (tmp_path / "stamp.txt").exists()


BLUE_GREEN = "blue-green-production.md"
ROLLED_BACK: dict[str, Path] = {}
"""Where the rolled-back run left its logs/, for the resume test after it."""
WATCH = 11
"""The watch step at 10% (monitor-10): the new slot is stopped while it runs."""


class Driver:
    """Answers what the console asks, one screen at a time: each question (a status line, a
    dialog) is answered once; an answer the console ignores ends in a timeout with the screen."""

    def __init__(self, tmux: Tmux) -> None:
        self.tmux = tmux
        self.answered: set[str] = set()
        self.seen: list[str] = []

    def once(self, key: str, *keys: str, text: str | None = None) -> bool:
        if key in self.answered:
            return False
        self.answered.add(key)
        self.seen.append(key)
        if text is not None:
            self.tmux.type(text)
        if keys:
            self.tmux.keys(*keys)
        return True


def run_blue_green_until_rolled_back(tmux: Tmux, stop_green: Callable[[], None],
                                     limit: float = 240.0) -> tuple[str, list[str]]:
    drive = Driver(tmux)
    deadline = time.monotonic() + limit
    stopped = False
    while time.monotonic() < deadline:
        screen = tmux.screen()
        dialog = dialog_text(screen)
        status = status_line(screen)
        if "Run rolled back" in dialog:
            return screen, drive.seen
        if (failed := re.search(r"✗ Step (\d+) failed", dialog)) is not None:
            assert failed[1] == str(WATCH) and stopped, f"an unexpected failure:\n{screen}"
            # the failure dialog: b rolls back, then the console asks again (y below); its
            # keys are not taken in the first 0.6 s (it opens by itself, maybe mid-typing)
            if "failure dialog" not in drive.answered:
                time.sleep(0.7)
            drive.once("failure dialog", "b")
        elif "Run the rollback section?" in dialog:
            drive.once("confirm rollback", "y")
        elif "Variables for this run" in dialog and "Review before starting" in dialog:
            # the values nobody gave keep their defaults: Tab past the 3 fields, Enter
            drive.once("variables", "Tab", "Tab", "Tab", "Enter")
        elif "type the environment name to start" in dialog:
            assert "nothing has run yet" in dialog, screen
            drive.once("pre-flight", "Enter", text="production")
        elif "Destructive step in production" in dialog:
            step = re.search(r"(\d+)\. ", dialog)
            drive.once(f"destructive {step[1] if step else '?'}", "Enter", text="production")
        elif "Run this step?" in dialog:
            step = re.search(r"(\d+)\. ", dialog)
            if f"confirm {step[1] if step else '?'}" not in drive.answered:
                time.sleep(0.5)  # a confirmation takes no yes in its first 0.4 s
            drive.once(f"confirm {step[1] if step else '?'}", "y")
        elif (m := re.match(r"☐ check (\d+):", status)) is not None:
            drive.once(f"check {m[1]}", "Space")
        elif (m := re.match(r"(?:▶|\?|⚠ destructive) step (\d+):", status)) is not None:
            drive.once(f"step {m[1]}", "r")
        elif re.match(rf"(?:⏳|⟳ running) step {WATCH}\b", status) and not stopped:
            stop_green()  # the watch is running: the new slot goes away under it
            stopped = True
            drive.seen.append("green stopped")
        time.sleep(0.1)
    raise AssertionError(f"the run did not end rolled back within {limit:g}s; answered "
                         f"{drive.seen}; the screen:\n{tmux.screen()}")


def check_tree_against_engine(screen: str, log: Path) -> None:
    """Every main step the tree shows as done (✓ ☑ ↷) is one the engine will skip when it
    resumes this log, and the other way round."""
    runbook = load_runbook(RUNBOOKS / BLUE_GREEN)
    done = resume_state(read_log(log)).done
    icons = tree_icons(screen)
    for step in runbook.main_steps:
        assert step.number in icons, f"step {step.number} is not on the screen:\n{screen}"
        engine_skips = done.get(step.id) == step.content_hash
        shown_done = icons[step.number] in "✓☑↷"
        assert shown_done == engine_skips, (
            f"step {step.number} ({step.id}) is drawn {icons[step.number]} but the engine "
            f"{'skips' if engine_skips else 'runs'} it on resume:\n{screen}")


def test_blue_green_rolled_back_then_reopened(tmp_path: Path, lab: LabRun) -> None:
    """A blue-green release in the console against the lab: green is stopped while step 11
    watches it, the failure dialog's `b` rolls back, the summary says so, quit. Reopened, the
    resume offer says resuming starts again at step 1 and opens on a new run; the tree shows
    nothing done that the engine would run again. The ALB is back on blue."""
    assert lab.weights() == {"blue": 100, "green": 0}
    green = lab.lab.pm2_env("green")

    def stop_green() -> None:
        subprocess.run(["pm2", "stop", "api"], env={**os.environ, **green},
                       capture_output=True, timeout=30, check=True)

    args = ["--inventory", str(lab.lab.inventory), "--var", "RELEASE=1.2.0",
            "--var", "MONITOR=30s", "--var", "WATCH_EVERY=0.5s"]
    runbook = str(RUNBOOKS / BLUE_GREEN)
    opts: dict = {"runbook": runbook, "log": None, "size": (120, 40), "env": lab.env}
    t0 = time.monotonic()
    tmux = start(tmp_path, *args, **opts, exit_file="exit-1.txt")
    try:
        screen, answered = run_blue_green_until_rolled_back(tmux, stop_green)
        assert "1 failed" in dialog_text(screen), screen  # the summary: rolled back, 1 failed
        assert lab.weights() == {"blue": 100, "green": 0}
        quit_and_wait(tmux)
    finally:
        tmux("kill-server", check=False)
    print(f"\nrun to rollback in the console: {time.monotonic() - t0:.1f}s; answered: "
          f"{', '.join(answered)}")
    assert (tmp_path / "exit-1.txt").read_text().strip() == "exit=1"  # rolled back
    (log,) = (tmp_path / "logs" / "blue-green-production").glob("*.toml")
    events = read_log(log).events
    monitor = [e for e in events if e.get("step") == "monitor-10"
               and e["type"] == "step_finished"]
    assert [e["status"] for e in monitor] == ["failed"]
    assert any(e["type"] == "rollback_started" and e["step"] == "monitor-10" for e in events)
    assert [e["step"] for e in events if e["type"] == "step_finished"
            and e.get("step", "").startswith("rollback-")] == [
        "rollback-traffic", "rollback-old-slot-online"]
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "rolled_back"
    assert not any(e["type"] == "step_skipped" for e in events)
    logged = log.read_bytes()
    done = resume_state(read_log(log)).done
    main = load_runbook(RUNBOOKS / BLUE_GREEN).main_steps

    # reopened, same logs/ (no --log): the offer, judged as the engine judges; Enter = new run
    tmux = start(tmp_path, *args, **opts, exit_file="exit-2.txt")
    try:
        screen = tmux.wait_for("The last run of this runbook was rolled back")
        offer = dialog_text(screen)
        assert "The last run was rolled back: resuming starts again at step 1 (Staging " \
               "deployment successful)" in offer, screen
        assert f"so {len(done)} of {len(main)} steps count as done" in offer, screen
        assert "enter: a new run" in offer, screen
        assert "Resume at step 1 (r)" in offer and "Start a new run (n)" in offer
        check_tree_against_engine(screen, log)
        tmux.keys("Enter")  # the default: a new run, which asks for the values again
        screen = tmux.wait_for("Review before starting")
        tmux.keys("Tab", "Tab", "Tab", "Enter")
        screen = tmux.wait_for("type the environment name to start")
        assert "nothing has run yet; no log is written until you start" in dialog_text(screen)
        tmux.keys("Escape")  # leave at the pre-flight: nothing runs, nothing is written
        tmux.wait_gone()
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "exit-2.txt").read_text().strip() == "exit=130"
    assert list((tmp_path / "logs" / "blue-green-production").glob("*.toml")) == [log]
    assert log.read_bytes() == logged
    assert lab.weights() == {"blue": 100, "green": 0}
    assert health("blue")["status"] == "ok"
    ROLLED_BACK["workdir"] = tmp_path


def rolled_back_headless(workdir: Path, lab: LabRun) -> None:
    """Run alone (or after the console's run failed): the same rolled-back run, made by
    `swrun execute --rollback-on-failure`, green stopped while step 11 watches it."""
    green = lab.lab.pm2_env("green")
    logs = workdir / "logs" / "blue-green-production"

    def stop_green_once_watching() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if any(e.get("step") == "monitor-10" and e["type"] == "step_started"
                   for log in logs.glob("*.toml") for e in read_log(log).events):
                subprocess.run(["pm2", "stop", "api"], env={**os.environ, **green},
                               capture_output=True, timeout=30)
                return
            time.sleep(0.2)

    stopper = threading.Thread(target=stop_green_once_watching, daemon=True)
    stopper.start()
    res = subprocess.run(
        [*swrun_cmd(), "execute", str(RUNBOOKS / BLUE_GREEN), "--yes", "--confirm-environment",
         "production", "--rollback-on-failure", "--inventory", str(lab.lab.inventory),
         "--var", "RELEASE=1.2.0", "--var", "MONITOR=30s", "--var", "WATCH_EVERY=0.5s"],
        cwd=workdir, env=lab.env, capture_output=True, text=True, timeout=300)
    stopper.join(10)
    assert res.returncode == 1, res.stdout + res.stderr
    (log,) = logs.glob("*.toml")
    events = read_log(log).events
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "rolled_back"
    assert lab.weights() == {"blue": 100, "green": 0}


@pytest.mark.timeout(600)  # run alone it first makes its rolled-back run (a hang guard)
def test_resuming_the_rolled_back_run_in_the_console(tmp_path: Path, lab: LabRun) -> None:
    """The log the last test left (run alone: one made headless), resumed (r at the offer):
    the tree drawn for the resume shows done exactly what the engine skips; its pre-flight
    says it resumes; escape leaves the log as it was."""
    workdir = ROLLED_BACK.get("workdir")
    if workdir is None:
        workdir = tmp_path
        rolled_back_headless(workdir, lab)
    (log,) = (workdir / "logs" / "blue-green-production").glob("*.toml")
    logged = log.read_bytes()
    args = ["--inventory", str(lab.lab.inventory), "--var", "RELEASE=1.2.0",
            "--var", "MONITOR=30s", "--var", "WATCH_EVERY=0.5s"]
    tmux = start(workdir, *args, runbook=str(RUNBOOKS / BLUE_GREEN), log=None, size=(120, 40),
                 env=lab.env, exit_file="exit-3.txt")
    try:
        tmux.wait_for("The last run of this runbook was rolled back")
        tmux.keys("r")
        preflight = tmux.wait_for("type the environment name to start")
        check_tree_against_engine(preflight, log)
        tmux.keys("Escape")  # leave: the resumed log stays as it was
        tmux.wait_gone()
    finally:
        tmux("kill-server", check=False)
    assert (workdir / "exit-3.txt").read_text().strip() == "exit=130"
    assert log.read_bytes() == logged
    assert lab.weights() == {"blue": 100, "green": 0}
    # docs/tui.md: the pre-flight of a resume says "resuming at step N (…)", never "nothing
    # has run yet; no log is written" (the log exists; starting appends to it)
    said = dialog_text(preflight)
    assert "Resuming a production run" in said and \
        "resuming at step 1 (Staging deployment successful)" in said and \
        "no log is written" not in said, f"the pre-flight of a resume:\n{preflight}"


def test_watcher_beside_the_operator(tmp_path: Path) -> None:
    """Issue 17: the operator drives `swrun run` in one tmux pane, a teammate follows with
    `swrun watch` in another: the watcher says what the run waits for and who drives it,
    shows each step as the operator's tree does, and says when the run ended."""
    write_runbook(tmp_path, RUNBOOK)
    tmux = start(tmp_path, "--operator", "erin", size=(140, 60))
    watch_cmd = " ".join(shlex.quote(c) for c in [*swrun_cmd(), "watch", "run.toml"])
    watcher = tmux("split-window", "-v", "-P", "-F", "#{pane_id}", "-t", "tui", "-c",
                   str(tmp_path), f"while [ ! -f run.toml ]; do sleep 0.05; done; {watch_cmd}; "
                   "echo watch-exit=$? > watch-exit.txt").stdout.strip()
    operator = tmux("display", "-p", "-t", "tui:0.0", "#{pane_id}").stdout.strip()

    def pane(pane_id: str) -> str:
        return tmux("capture-pane", "-p", "-t", pane_id).stdout

    def wait_pane(pane_id: str, ok: Callable[[str], object], what: str,
                  limit: float = 20.0) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            screen = pane(pane_id)
            if ok(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{what}: not within {limit:g}s; the pane:\n{pane(pane_id)}")

    def flat(screen: str) -> str:
        return " ".join(screen.split())

    try:
        wait_pane(operator, lambda s: "space ticks" in s, "the operator's check")
        seen = wait_pane(watcher, lambda s: "waiting for erin: a tick at step 1" in flat(s)
                         and tree_icons(s) == {1: "▶", 2: "○"},
                         "the watcher says what the run waits for, the tree shows it")
        assert "read-only" in seen and "driven by erin" in flat(seen)
        tmux("send-keys", "-t", operator, "Space")
        wait_pane(operator, lambda s: "r runs it" in s, "step 2 waits")
        seen = wait_pane(watcher, lambda s: tree_icons(s).get(1) == "☑", "the tick shown")
        tmux("send-keys", "-t", operator, "r")
        wait_pane(operator, lambda s: "Run completed" in s, "the run completed")
        tmux("send-keys", "-t", operator, "q")
        seen = wait_pane(watcher, lambda s: "the run ended: completed" in flat(s)
                         and tree_icons(s) == {1: "☑", 2: "✓"} and "stamped" in s,
                         "the watcher says the run ended, the tree and the output show it")
        tmux("send-keys", "-t", watcher, "q")
        deadline = time.monotonic() + 10
        while not (tmp_path / "watch-exit.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        tmux("kill-server", check=False)
    assert (tmp_path / "watch-exit.txt").read_text().strip() == "watch-exit=0"
    events = read_log(tmp_path / "run.toml").events
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "completed"
