"""`file=` / "Create `path`:" steps: the path is data, confined to the runbook's folder."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

from conftest import swrun_cmd

BOOK = """+++
[vars.OUT]
default = "plain.txt"
+++
# Files

```text {file="out$(touch PWNED).txt"}
one
```

```text {file=$OUT}
two
```

```text {file="sub dir/it's.txt"}
three
```
"""


def _run(tmp_path: Path, text: str, *args: str, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    (tmp_path / "rb.md").write_text(text)
    return subprocess.run([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml",
                           *args], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def _finished(tmp_path: Path) -> list[dict]:
    events = tomllib.loads((tmp_path / "run.toml").read_text())["event"]
    return [e for e in events if e["type"] == "step_finished"]


def test_a_path_is_data_filled_like_any_attribute_never_shell_text(tmp_path: Path) -> None:
    res = _run(tmp_path, BOOK, env={"OUT": "$(touch PWNED2)"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "PWNED2").exists()
    assert (tmp_path / "out$(touch PWNED).txt").read_text() == "one\n"
    assert (tmp_path / "$(touch PWNED2)").read_text() == "two\n"  # the value, not `$OUT`
    assert not (tmp_path / "$OUT").exists()
    assert (tmp_path / "sub dir" / "it's.txt").read_text() == "three\n"
    assert f"wrote {tmp_path}/$(touch PWNED2) (4 bytes)" in res.stdout


def test_writes_stay_in_the_runbook_s_folder_unless_the_block_says_outside(
        tmp_path: Path) -> None:
    book = tmp_path / "book"
    book.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "victim.txt").write_text("precious\n")
    (book / "linked.txt").symlink_to(outside / "victim.txt")
    (book / "linkdir").symlink_to(outside)
    text = ("# W\n\nCreate `../elsewhere/victim.txt`:\n\n```text\nup\n```\n\n"
            f"Create `{outside}/abs.txt`:\n\n```text\nabs\n```\n\n"
            "```text {file=linked.txt}\nthrough a link\n```\n\n"
            "```text {file=linkdir/victim.txt}\nthrough a folder link\n```\n\n"
            f"```text {{file={outside}/allowed.txt outside}}\nallowed\n```\n")
    (book / "rb.md").write_text(text)
    check = subprocess.run([*swrun_cmd(), "check", "rb.md"], cwd=book, capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
    warned = [s for s in check.stdout.splitlines() if "outside the runbook's folder" in s]
    assert [s.split(":")[1] for s in warned] == ["5", "11"], check.stdout
    res = subprocess.run([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml",
                          "--keep-going"], cwd=book, capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert "Traceback" not in res.stderr, res.stderr
    assert (outside / "victim.txt").read_text() == "precious\n"
    assert not (outside / "abs.txt").exists()
    assert (outside / "allowed.txt").read_text() == "allowed\n"
    fin = _finished(book)
    assert [e["status"] for e in fin] == ["failed", "failed", "failed", "failed", "ok"], fin
    assert "outside the runbook's folder" in fin[0]["error"]
    assert "is a symbolic link" in fin[2]["error"]
    assert "outside the runbook's folder" in fin[3]["error"]
    assert (book / "linked.txt").is_symlink()


def test_an_existing_file_is_replaced_whole_keeping_its_mode_and_the_output_says_so(
        tmp_path: Path) -> None:
    (tmp_path / "conf.yml").write_text("old: content that is longer\n")
    (tmp_path / "conf.yml").chmod(0o600)
    res = _run(tmp_path, "# R\n\nCreate `conf.yml`:\n\n```yaml\nnew: 1\n```\n\n"
                         "Create `bin/go.sh`:\n\n```bash\necho go\n```\n")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "conf.yml").read_text() == "new: 1\n"
    assert (tmp_path / "conf.yml").stat().st_mode & 0o777 == 0o600
    assert "replaced the file that was there, 28 bytes" in res.stdout
    assert os.access(tmp_path / "bin" / "go.sh", os.X_OK)
    assert list(tmp_path.glob(".*.swrun")) == []
