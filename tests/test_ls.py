"""`swrun ls [DIR]` (issue 25, item 15): the runbooks under a folder with title, environment,
steps, and the last run and its result, read from the real logs `swrun execute` wrote."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import swrun_cmd
from helpers import write_runbook


def _swrun(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_ls_lists_runbooks_with_their_last_run(tmp_path: Path) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    write_runbook(books, """
        +++
        environment = "staging"
        +++
        # Deploy the thing

        ```bash {name=a}
        echo a
        ```

        ```bash {name=b}
        echo b
        ```
        """, "deploy.md")
    write_runbook(books, "# Broken drill\n\n```bash {name=x}\nexit 3\n```\n", "drill.md")
    write_runbook(books, "# Never\n\n- [ ] Tick me\n", "never.md")
    write_runbook(books, "# Notes\n\nJust prose, no steps.\n", "notes.md")
    write_runbook(books, "# Bad\n\n```bash {name=x nonsense=1}\necho\n```\n", "bad.md")
    assert _swrun(tmp_path, "execute", "runbooks/deploy.md", "--yes").returncode == 0
    assert _swrun(tmp_path, "execute", "runbooks/drill.md", "--yes").returncode == 1
    res = _swrun(tmp_path, "ls")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["RUNBOOK", "TITLE", "ENVIRONMENT", "STEPS", "LAST", "RUN",
                                "(UTC)", "RESULT"]
    rows = {ln.split()[0]: ln for ln in lines[1:]}
    assert set(rows) == {"runbooks/bad.md", "runbooks/deploy.md", "runbooks/drill.md",
                         "runbooks/never.md"}  # notes.md is prose
    assert "Deploy the thing" in rows["runbooks/deploy.md"]
    assert " staging " in rows["runbooks/deploy.md"]
    assert rows["runbooks/deploy.md"].rstrip().endswith("completed")
    assert rows["runbooks/drill.md"].rstrip().endswith("failed")
    assert "never run" in rows["runbooks/never.md"]
    assert "does not load: unknown attribute 'nonsense'" in rows["runbooks/bad.md"]
    listed = json.loads(_swrun(tmp_path, "ls", "runbooks", "--json").stdout)
    deploy = next(r for r in listed if r["path"] == "runbooks/deploy.md")
    assert deploy["steps"] == 2 and deploy["environment"] == "staging"
    assert deploy["result"] == "completed" and deploy["log"].startswith("logs/deploy/")
    empty = tmp_path / "empty"
    empty.mkdir()
    none = _swrun(tmp_path, "ls", "empty")
    assert none.returncode == 0 and none.stdout == ""
    assert none.stderr.strip() == "swrun: no runbooks under empty"
    assert _swrun(tmp_path, "ls", "missing").returncode == 2
