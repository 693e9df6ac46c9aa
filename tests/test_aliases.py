"""Aliases a runbook's bash step defines expand on the block's later lines and in the later
local bash steps of the run, a resumed one too (unless --no-carry); an alias built around a
secret is logged as a template, never with the secret (docs/runbook-format.md)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from swrun.cli import main

SECRET = "s3cr3t-Alias-0042"

BOOK = """+++
[vars.API_TOKEN]
secret = true
+++
# Aliases

```bash {name=define}
alias gl='echo gitlab-ctl'
gl status
alias tok="echo token=$API_TOKEN"
```

```bash {name=same-run}
gl reconfigure
```

- [ ] Carry on

```bash {name=after-resume}
gl restart
tok
```
"""


def _run(tmp_path: Path, *args: str) -> str:
    out = CliRunner().invoke(main, ["execute", str(tmp_path / "rb.md"), *args],
                             env={"API_TOKEN": SECRET})
    return out.output


def test_an_alias_works_on_later_lines_and_later_steps(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(BOOK)
    log = tmp_path / "run.log"
    first = _run(tmp_path, "--log", str(log))  # headless, no terminal: stops at the check
    assert "gitlab-ctl status" in first and "gitlab-ctl reconfigure" in first, first
    text = log.read_text()
    assert "gl = \"echo gitlab-ctl\"" in text, text
    assert SECRET not in text and "${API_TOKEN}" in text
    state = tmp_path / "run.log.run" / "state"
    assert not state.is_dir() or not any(state.iterdir())
    out = _run(tmp_path, "--resume", str(log), "--yes")
    assert "gitlab-ctl restart" in out and "token=****" in out, out


def test_no_carry_drops_the_aliases(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(BOOK)
    log = tmp_path / "run.log"
    _run(tmp_path, "--log", str(log))
    out = _run(tmp_path, "--resume", str(log), "--yes", "--no-carry")
    assert "gitlab-ctl restart" not in out and "gl: command not found" in out, out


def test_an_alias_named_like_a_builtin_does_not_break_the_carry(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(
        "# B\n\n```bash\nalias local='echo LOCAL' mapfile='echo MAP'\nexport A=carried\n```\n\n"
        "```bash\necho \"a=$A\"\n```\n")
    out = _run(tmp_path, "--yes", "--log", str(tmp_path / "run.log"))
    assert "a=carried" in out, out
