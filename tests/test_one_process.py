"""A trivial local bash step is one process: its start gate, block, exit status and carried
state are handled by the bash that runs it (swrun.executors.bashstep), its output copied by
the run's one relay (swrun.executors.relay); only a step that can change the carried state
is asked for it (swrun.executors.staterule). Real processes, counted with strace."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from swrun.events import StepStatus
from swrun.executors.base import Spawned, StepContext, StepResult
from swrun.executors.shell import ShellExecutor
from swrun.executors.staterule import may_change
from swrun.parser import load_runbook

from conftest import swrun_cmd
from helpers import write_runbook


def _book(n: int, body: str = "true") -> str:
    # the first step gives the run's relay time to start (its steps meanwhile use `cat`)
    return "# Count\n\n```bash {name=warm}\nsleep 1\n```\n\n" + "".join(
        f"```bash {{name=s{i}}}\n{body}\n```\n\n" for i in range(n))


RELAYS: list[str] = []
"""The relay processes the traced runs started (pids)."""


def _trace(folder: Path, n: int) -> tuple[list[str], dict[str, int]]:
    """The programs `swrun execute` of an n-step runbook started, and how many processes
    or threads each trivial step's bash started in turn (strace -f)."""
    (folder / f"rb{n}.md").write_text(_book(n))
    out = folder / f"trace{n}"
    subprocess.run(["strace", "-f", "-qq", "-o", str(out), "-e",
                    "trace=execve,clone,clone3,fork,vfork", *swrun_cmd(), "execute", "--yes",
                    f"rb{n}.md", "--log", f"run{n}.toml"], cwd=folder, check=True,
                   capture_output=True, timeout=120)
    programs: list[str] = []
    bash_pids: list[str] = []
    spawned: dict[str, int] = {}
    for line in out.read_text().splitlines():
        pid, _, call = line.partition(" ")
        call = call.lstrip()
        found = re.match(r'execve\("([^"]+)"', call)
        if found and "= -1 " not in call:  # an `<unfinished ...>` one succeeds later
            programs.append(os.path.basename(found.group(1)))
            if programs[-1].startswith("python") and '"-I", "-S"' in call:
                RELAYS.append(pid)
            if programs[-1] == "bash" and '"swrun:' in call and '"swrun:warm"' not in call:
                bash_pids.append(pid)  # a trivial step's bash
        elif re.match(r"(clone3?|v?fork)\(", call) and pid in bash_pids:
            spawned[pid] = spawned.get(pid, 0) + 1
    return programs, spawned


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_a_trivial_local_step_is_one_process(tmp_path: Path) -> None:
    """Before: a /bin/sh gate, bash, `cat` and `rm` for the block, two `cat` relays."""
    one, _ = _trace(tmp_path, 1)
    five, forks = _trace(tmp_path, 5)
    per_step = {p: (five.count(p) - one.count(p)) / 4 for p in set(five)}
    assert {p: c for p, c in per_step.items() if c} == {"bash": 1.0}, (one, five)
    assert five.count("python") <= 1  # the relay, once
    assert not forks, f"a trivial step's bash started processes: {forks}"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in RELAYS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert RELAYS and not any(_alive(pid) for pid in RELAYS), "the relay outlived its run"


def _alive(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _step(tmp_path: Path, body: str):
    rb = load_runbook(write_runbook(tmp_path, f"# T\n\n```bash\n{body}\n```\n"))
    return rb, rb.steps[0]


def _announced(tmp_path: Path, body: str) -> tuple[str, StepResult]:
    """Run `body` as swrun runs a logged step; the exit file's text and the result."""
    rb, step = _step(tmp_path, body)
    ctx = StepContext(runbook=rb, variables={}, env=dict(os.environ), cancel=threading.Event(),
                      run_dir=tmp_path / "run", timeout=20, kill_grace=2.0, announce=True)
    exit_file = None
    result = None
    for item in ShellExecutor().run(step, ctx):
        if isinstance(item, Spawned):
            exit_file = item.exit_file
        elif isinstance(item, StepResult):
            result = item
    assert exit_file is not None and result is not None
    return Path(exit_file).read_text().strip(), result


@pytest.mark.parametrize(("body", "code"), [
    ("true", "0"),
    ("echo hi\nexit 3", "3"),
    ("false\necho never", "1"),
    ("trap 'echo bye' EXIT\nexit 4", "4"),  # its own trap: the /bin/sh leader records it
    ("exec bash -c 'exit 5'", "5"),
    ("kill -TERM $$\nsleep 5", "143"),
])
def test_the_exit_file_holds_the_blocks_status(tmp_path: Path, body: str, code: str) -> None:
    text, result = _announced(tmp_path, body)
    assert text == code
    assert result.exit_code == int(code)
    assert result.status is (StepStatus.OK if code == "0" else StepStatus.FAILED)


@pytest.mark.parametrize("body", [
    "true", "echo hello", "make build && ./deploy --env prod", "x=1; echo $x",
    "printf '%s\\n' a", "systemctl restart app", "ls ./dir", "echo done.",
])
def test_a_step_that_cannot_change_the_state_is_not_asked(body: str) -> None:
    assert not may_change(body, {"PATH": "/bin", "HOME": "/root"})


@pytest.mark.parametrize("body", [
    "export A=1", "cd /tmp", "pushd x", "popd", "source ./env", ". ./env.sh",
    "alias gl='git log'", "unalias gl", "unset HOME", "declare -x A=1", "typeset -x B",
    "set -a", "set -o allexport", "set -eua", "PATH=$PATH:/opt/bin", "HOME+=x",
    "eval \"$(ssh-agent)\"", "read -r A", "printf -v A %s x", "builtin cd /",
    ": ${HOME:=/root}",
])
def test_a_step_that_can_change_the_state_is_asked(body: str) -> None:
    assert may_change(body, {"PATH": "/bin", "HOME": "/root"})


def test_an_alias_that_cds_counts_as_the_block(tmp_path: Path) -> None:
    assert may_change("go_app", {}, ["cd /srv/app"])
    assert not may_change("go_app", {}, ["ls -l"])
