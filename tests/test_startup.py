"""`swrun execute` of a one-step local runbook loads only what it uses: no console, no remote
or cloud client, no tracing, and no `git` subprocess (git's allowed_signers setting is
asked only by a run that signs or has approvals). Read with `python -X importtime`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("textual", "rich", "paramiko", "boto3", "botocore", "pymongo", "ansible_runner",
         "yaml", "opentelemetry", "httpx", "requests", "http.client", "swrun.tui",
         "swrun.otel", "swrun.timeline", "swrun.executors.ssh", "swrun.executors.aws",
         "swrun.executors.mongo", "swrun.executors.ansible", "swrun.ssh.remote",
         "swrun.evidence.witness", "swrun.evidence.approve", "swrun.evidence.keys",
         "swrun.evidence.sign", "swrun.notify.hook", "swrun.notify.config",
         "swrun.notify.worker")
"""Modules a one-step local shell run must not import (nor any module under them): no
approval, signing key, notification or tracing code without a key, approvals, `notify` or an
OTLP endpoint."""


def test_a_one_step_run_imports_nothing_heavy_and_starts_no_git(tmp_path: Path) -> None:
    (tmp_path / "one.md").write_text("# One\n\n```bash\ntrue\n```\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "git-ran"
    (bin_dir / "git").write_text(f"#!/bin/sh\necho \"$@\" >> {marker}\nexit 1\n")
    (bin_dir / "git").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}"}
    env.pop("SWRUN_SIGNING_KEY", None)
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "swrun", "execute",
                           "--yes", "one.md", "--log", "run.toml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines()
              if line.startswith("import time:")}
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert not heavy, f"loaded for a one-step local run: {heavy}"
    assert not marker.exists(), f"git ran: {marker.read_text()}"


def test_plain_word_blocks_need_no_bash_to_be_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a runbook asks bash (`bash -n`) about its shell blocks, one process per
    runbook; blocks of plain words (`systemctl restart nginx`) bash cannot refuse are judged
    without it. With no bash on PATH their verdicts still come back; a block with a reserved
    word, quotes or operators still needs bash (None: no verdict without it)."""
    from swrun.rules import knownbad

    monkeypatch.setenv("PATH", "/nonexistent")
    assert knownbad.bash_verdicts(["true", "systemctl restart nginx\nx=1 echo done"]) == [
        None, None]
    for needs_bash in ("fi", "in", "echo 'a", "a && b", "{ true; }", "done", "x\\\ny"):
        assert knownbad.bash_verdicts(["true", needs_bash]) is None, needs_bash
