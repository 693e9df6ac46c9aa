"""README's shell completion line works on a fresh home (issue 25, item 9) — no folder has to
exist and no bash-completion package is needed — and `swrun doctor` says whether completion
is installed, as an info line, never a failure."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from swrun.doctor import INSTALL

from conftest import swrun_cmd

README = Path(__file__).resolve().parent.parent / "README.md"
pytestmark = pytest.mark.slow


def _env(home: Path, shell: str = "/bin/bash") -> dict[str, str]:
    bin_dir = home / "bin"  # `swrun` on PATH, as after an install
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "swrun"
    wrapper.write_text(f"#!/bin/sh\nexec {shlex.join(swrun_cmd())} \"$@\"\n")
    wrapper.chmod(0o755)
    return {**os.environ, "HOME": str(home), "SHELL": shell,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _doctor(home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), "doctor", "--logs", str(home)], env=env,
                          capture_output=True, text=True, timeout=60, cwd=home)


def test_readme_bash_line_works_on_a_fresh_home_and_doctor_sees_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(home)
    before = _doctor(home, env)
    (line,) = [ln for ln in before.stdout.splitlines() if ln.startswith("· completion:")]
    assert "bash: not installed" in line and INSTALL["bash"] in line
    # the README gives the same line
    assert INSTALL["bash"] in README.read_text()
    done = subprocess.run(["bash", "-c", INSTALL["bash"]], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    shell = subprocess.run(["bash", "-ic", "complete -p swrun"], env=env, capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert re.search(r"complete .*-F \S+ swrun", shell.stdout), shell.stdout + shell.stderr
    after = _doctor(home, env)
    assert "✓ completion: bash: installed (~/.bashrc)" in after.stdout, after.stdout


def test_fish_line_makes_its_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env(home, "/usr/bin/fish")
    done = subprocess.run(["sh", "-c", INSTALL["fish"]], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "complete" in (home / ".config/fish/completions/swrun.fish").read_text()
    assert "✓ completion: fish: installed" in _doctor(home, env).stdout
