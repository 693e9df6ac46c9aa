"""`swrun ps`: the runs in progress, from the logs' locks; a killed run is not one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import swrun_cmd
from helpers import write_runbook

pytestmark = pytest.mark.slow

RUNBOOK = """
    # Long one

    ## Steps

    ```bash {name=quick}
    echo quick
    ```

    ```bash {name=sleeper}
    touch started; sleep 60
    ```
    """


def ps(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), "ps", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=30)


def test_ps_lists_the_run_in_progress_and_forgets_a_dead_one(tmp_path: Path) -> None:
    write_runbook(tmp_path, RUNBOOK)
    assert "no runs in progress on this machine" in ps(tmp_path).stderr
    proc = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--operator", "carol"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "started").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        (log,) = (tmp_path / "logs" / "rb").glob("*.toml")
        listed = json.loads(ps(tmp_path, "--json").stdout)
        assert len(listed) == 1
        run = listed[0]
        assert run["runbook"] == "rb.md" and run["operator"] == "carol"
        assert run["pid"] == proc.pid and run["log"] == str(log)
        assert run["step"] == "sleeper" and run["step_number"] == 2
        assert run["waiting_for"] == "step 2 'sleeper' to finish"
        assert run["run_id"] in log.name and run["started_at"]
        table = ps(tmp_path).stdout.splitlines()
        assert table[0].split() == ["RUNBOOK", "RUN", "OPERATOR", "USER", "PID", "STARTED",
                                    "(UTC)", "STEP", "WAITING", "FOR", "LOG"]
        assert table[1].startswith(str(tmp_path / "rb.md")) and "carol" in table[1]
        assert "2. sleeper" in table[1] and table[1].endswith(str(log))
        os.killpg(proc.pid, signal.SIGKILL)  # swrun and its step: the locks go with them
        proc.wait()
        assert json.loads(ps(tmp_path, "--json").stdout) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
