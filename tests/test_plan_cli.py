"""`swrun plan` through the real console script: golden text, the JSON schema, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden" / "plan"
SEEDS = HERE / "data" / "seeds"
UPDATE = os.environ.get("SWRUN_UPDATE_GOLDEN") == "1"
"""`SWRUN_UPDATE_GOLDEN=1 pytest tests/test_plan_cli.py` rewrites the golden files."""


def swrun(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("swrun")
    cmd = [str(script)] if script.exists() else [
        sys.executable, "-c", "from swrun.cli import main; main()"]
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.write_text(actual)
        if not UPDATE:
            pytest.fail(f"wrote missing golden file {path}; check it and commit it")
    assert actual == path.read_text(), f"differs from {path} (SWRUN_UPDATE_GOLDEN=1 rewrites)"


@pytest.mark.parametrize(("args", "name"), [
    (("deploy.md",), "deploy.txt"),
    (("--all", "deploy.md"), "deploy-all.txt"),
    (("--json", "deploy.md"), "deploy.json"),
])
def test_plan_golden(args: tuple[str, ...], name: str) -> None:
    proc = swrun("plan", *args, cwd=GOLDEN)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    golden(name, proc.stdout)


def test_plan_seed_golden() -> None:
    proc = swrun("plan", "smartwallet-deployment-guide.md", cwd=SEEDS)
    assert proc.returncode == 0, proc.stderr
    golden("smartwallet.txt", proc.stdout)


def test_plan_json_schema() -> None:
    proc = swrun("plan", "--json", "deploy.md", cwd=GOLDEN)
    data = json.loads(proc.stdout)
    assert data["title"] == "Deploy the API"
    assert data["environment"] == "production" and data["window"] == "30m"
    assert data["variables"]["API_TOKEN"] == {
        "type": "string", "required": True, "secret": True, "default": None, "choices": [],
        "placeholder": None, "line": None}
    assert data["variables"]["RELEASE"]["default"] == "v1.2.3"
    step_keys = {"number", "id", "kind", "title", "section", "line", "end_line", "hosts",
                 "rollback", "attributes", "manual", "optional", "writes", "placeholders",
                 "prompts", "inferred_confirm"}
    for step in data["steps"]:
        assert set(step) == step_keys
        assert isinstance(step["section"], list) and isinstance(step["attributes"], dict)
        assert isinstance(step["line"], int)
        assert step["number"] is None if step["kind"] == "reference" else isinstance(
            step["number"], int)
    build = next(s for s in data["steps"] if s["id"] == "build")
    assert build == {
        "number": 3, "id": "build", "kind": "shell", "title": "build", "section": ["Release"],
        "line": 27, "end_line": 30, "hosts": "web", "rollback": False,
        "manual": None, "optional": None, "writes": None, "placeholders": [], "prompts": [],
        "inferred_confirm": None,
        "attributes": {"hosts": "web", "timeout": "10m", "name": "build", "confirm": True,
                       "retries": "2", "target": "5m"},
    }
    assert [s["kind"] for s in data["steps"]] == [
        "check", "check", "shell", "reference", "shell", "shell", "shell"]
    assert data["steps"][-1]["rollback"] is True


def test_plan_json_of_a_seed_lists_every_step() -> None:
    proc = swrun("plan", "--json", str(SEEDS / "community-savings-production-guide.md"))
    data = json.loads(proc.stdout)
    kinds = [s["kind"] for s in data["steps"]]
    # issue 15: one `kubectl logs -f` block became a manual step (a check); issue 24: two
    # blocks of output-shaped lines and comments (lines 358, 378) are shown, not run
    assert (kinds.count("shell"), kinds.count("check"), kinds.count("reference")) == (10, 17, 15)


def test_plan_refuses_a_runbook_with_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text("```bash {timeout=soon}\nls\n```\n\n```bash {retries=x}\nls\n```\n")
    proc = swrun("plan", str(path))
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert proc.stderr == (f"swrun: {path}:1: error: timeout=soon: bad duration (use e.g. 45s, "
                           f"15m, 1h30m) (and 1 more; run `swrun check {path}`)\n")


def test_plan_strict_refuses_warnings(tmp_path: Path) -> None:
    path = tmp_path / "warn.md"
    path.write_text("```bash {destructive}\nls\n```\n")
    assert swrun("plan", str(path)).returncode == 0
    proc = swrun("plan", "--strict", str(path))
    assert proc.returncode == 3
    assert proc.stderr == (f"swrun: {path}:1: error: destructive step but the runbook has no "
                           "rollback section\n")


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    binary = tmp_path / "binary.md"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)))
    latin1 = tmp_path / "latin1.md"
    latin1.write_bytes(b"# Caf\xe9\n")
    nul = tmp_path / "nul.md"
    nul.write_bytes(b"# T\n\ntext\x00\n")
    return {
        "missing": (tmp_path / "missing.md", "no such file"),
        "binary": (binary, "binary file (NUL byte), not UTF-8 Markdown text"),
        "latin1": (latin1, "not UTF-8 text"),
        "nul": (nul, "binary file (NUL byte), not UTF-8 Markdown text"),
    }


@pytest.mark.parametrize("kind", ["missing", "binary", "latin1", "nul"])
def test_plan_bad_input_is_one_line_and_exit_3(tmp_path: Path, kind: str) -> None:
    path, message = _bad_inputs(tmp_path)[kind]
    proc = swrun("plan", str(path))
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert message in proc.stderr and str(path) in proc.stderr


def test_plan_directory_is_one_line_and_exit_3(tmp_path: Path) -> None:
    proc = swrun("plan", str(tmp_path))
    assert (proc.returncode, proc.stderr.count("\n")) == (3, 1)
    assert "is a directory" in proc.stderr


def test_plan_directory_never_tracebacks(tmp_path: Path) -> None:
    proc = swrun("plan", str(tmp_path))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
