"""What the command line says back (issue 25, item 12): a closed output is exit 130 however
it closes, a mistyped --confirm-environment is said back, a mistyped --var name gets a
suggestion, and completion never offers a secret variable."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_first_hour import bash_complete

from swrun.exitcodes import ExitCode
from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook

pytestmark = pytest.mark.slow

BOOK = """
    +++
    environment = "production"
    [vars.API_URL]
    default = "http://127.0.0.1:9"
    [vars.SLOT]
    choices = ["blue", "green"]
    default = "blue"
    [vars.API_TOKEN]
    secret = true
    default = "tok-123-secret"
    +++
    # Words

    ```bash {name=chatty}
    for i in $(seq 40); do echo "line $i"; sleep 0.01; done
    ```

    ```bash {name=drop destructive}
    echo dropped
    ```
    """


def _swrun(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_output_and_diagnostics_closed_together_is_130(tmp_path: Path) -> None:
    """`swrun execute X --yes 2>&1 | head -3`: stdout and stderr are one pipe."""
    write_runbook(tmp_path, BOOK)
    shell = subprocess.run(
        ["bash", "-c", 'set -o pipefail; "$@" 2>&1 | head -3 >/dev/null; '
         'echo "rc=${PIPESTATUS[0]}"', "-", *swrun_cmd(), "execute", "rb.md", "--yes",
         "--confirm-environment", "production", "--log", "run.toml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert shell.stdout.strip() == f"rc={int(ExitCode.INTERRUPTED)}", shell.stdout + shell.stderr
    events = read_log(tmp_path / "run.toml").events
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "aborted"


def test_a_closed_stderr_alone_only_silences_diagnostics(tmp_path: Path) -> None:
    write_runbook(tmp_path, BOOK)
    shell = subprocess.run(
        ["bash", "-c", 'set -o pipefail; "$@" 2>&1 >/dev/null | head -1 >/dev/null; '
         'echo "rc=${PIPESTATUS[0]}"', "-", *swrun_cmd(), "execute", "rb.md", "--yes",
         "--confirm-environment", "production", "--log", "run.toml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert shell.stdout.strip() == "rc=0", shell.stdout + shell.stderr
    events = read_log(tmp_path / "run.toml").events
    assert events[-1]["status"] == "completed"


def test_a_mistyped_environment_is_said_back(tmp_path: Path) -> None:
    write_runbook(tmp_path, BOOK)
    typo = _swrun(tmp_path, "execute", "rb.md", "--yes", "--confirm-environment", "prodution")
    missing = _swrun(tmp_path, "execute", "rb.md", "--yes")
    assert typo.returncode == missing.returncode == ExitCode.OPERATOR_NEEDED
    assert typo.stderr.strip().endswith(
        "--confirm-environment: you typed prodution, the runbook's environment is production")
    assert missing.stderr.strip().endswith("headless runs need --confirm-environment production")


def test_a_mistyped_variable_name_gets_a_suggestion(tmp_path: Path) -> None:
    write_runbook(tmp_path, BOOK)
    res = _swrun(tmp_path, "execute", "rb.md", "--dry-run", "--var", "API_ULR=http://x")
    assert res.returncode == ExitCode.BAD_VARIABLES, res.stderr
    assert "--var API_ULR: the runbook declares no variable API_ULR; did you mean API_URL?" \
        in res.stderr
    far = _swrun(tmp_path, "execute", "rb.md", "--dry-run", "--var", "ZZZ=1")
    assert "did you mean" not in far.stderr


def test_completion_never_offers_a_secret_variable(tmp_path: Path) -> None:
    write_runbook(tmp_path, BOOK)
    offered = bash_complete(tmp_path, "swrun", "execute", "rb.md", "--var", "")
    assert offered == ["API_URL=", "SLOT="]
    assert bash_complete(tmp_path, "swrun", "execute", "rb.md", "--var", "API_T") == []
    assert bash_complete(tmp_path, "swrun", "execute", "rb.md", "--var", "SLOT=") == [
        "SLOT=blue", "SLOT=green"]
