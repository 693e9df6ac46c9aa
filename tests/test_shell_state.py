"""Shared shell state: what one local shell step exports, and where it `cd`s to, reaches the
later local shell steps of the run, and a resumed run (docs/runbook-format.md)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from swrun.cli import main
from swrun.runlog import read_log

BOOK = """# State

```bash
export GREETING="hello world"
export API_TOKEN=supersecret-value
LOCAL_ONLY=1
say() { echo hi; }
export -f say 2>/dev/null || true
cd sub
```

- [ ] Carry on

```bash
echo "greeting=$GREETING dir=$(basename "$PWD") local=${LOCAL_ONLY:-unset} token=$API_TOKEN"
```
"""


def _run(tmp_path: Path, *args: str) -> str:
    out = CliRunner().invoke(main, ["execute", str(tmp_path / "rb.md"), "--log",
                                    str(tmp_path / "run.log"), *args])
    return out.output


def test_exports_and_cwd_carry_to_later_local_steps(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "rb.md").write_text(BOOK)
    out = _run(tmp_path, "--yes")
    assert "greeting=hello world dir=sub local=unset token=****" in out
    log = (tmp_path / "run.log").read_text()
    assert 'GREETING = "hello world"' in log and 'API_TOKEN = "****"' in log
    assert "supersecret-value" not in log
    assert "BASH_FUNC" not in log and "LOCAL_ONLY" not in log


def test_resume_starts_from_the_logged_state(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "rb.md").write_text(BOOK)
    first = _run(tmp_path)  # headless without a terminal: stops at the check
    assert "greeting" not in first
    log = tmp_path / "run.log"
    assert 'GREETING = "hello world"' in log.read_text()
    out = CliRunner().invoke(main, ["execute", str(tmp_path / "rb.md"), "--resume", str(log),
                                    "--yes"], env={"API_TOKEN": "from-env-1"})
    assert "greeting=hello world dir=sub local=unset token=****" in out.output, out.output


def test_a_failed_step_carries_nothing(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(
        "```bash {on_failure=continue}\nexport A=1\nfalse\n```\n\n"
        "```bash\necho \"a=${A:-no}\"\n```\n")
    assert "a=no" in _run(tmp_path)


def test_exit_status_is_the_bodys(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text("```bash\nset +e\nfalse\n```\n")
    _run(tmp_path)
    (fin,) = [e for e in read_log(tmp_path / "run.log").events if e["type"] == "step_finished"]
    assert (fin["status"], fin["exit_code"]) == ("failed", 1)
