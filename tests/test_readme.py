"""README's way in works as written (issue 25, item 11): the first two commands stay as they
are, `swrun` is said to mean `.venv/bin/swrun` before it is first used, and the lab-free
first run passes when its lines are pasted."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import swrun_cmd

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
pytestmark = pytest.mark.slow


def _blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def test_the_first_two_commands_stay_and_swrun_is_explained_before_its_first_use() -> None:
    assert README.startswith(
        "```sh\n./scripts/demo.sh    # set everything up, start the local lab, run the "
        "blue-green deployment runbook through it\n./scripts/test.sh    # set everything up, "
        "then run the whole test suite (what CI runs)\n```\n")
    first_use = min(README.index(b) for b in _blocks(README) if b.startswith("swrun "))
    said = README.index("**`swrun` below means `.venv/bin/swrun`**")
    assert said < first_use


def test_the_lab_free_first_run_passes_as_pasted(tmp_path: Path) -> None:
    part = README[README.index("**A first run, no lab needed.**"):]
    block = _blocks(part)[0]
    lines = [ln.split("  #")[0].strip() for ln in block.splitlines() if ln.strip()]
    assert any(ln.startswith("swrun run runbooks/local-smoke.md") for ln in lines)
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    ran = 0
    for line in lines:
        words = shlex.split(line)
        if words[1] == "run":  # the console: driven by the tmux and pilot tests
            continue
        done = subprocess.run([*swrun_cmd(), *words[1:]], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"{line}: {done.stdout}{done.stderr}"
        said = block.splitlines()[[ln.split("  #")[0].strip() for ln in
                                   block.splitlines()].index(line)].split("# ", 1)[1]
        if words[1] == "check":
            assert said in done.stdout + done.stderr, said
        if words[1] == "ls":
            assert "runbooks/local-smoke.md" in done.stdout and "completed" in done.stdout
        ran += 1
    assert ran == 3
    assert list((tmp_path / "logs").rglob("*.toml"))
