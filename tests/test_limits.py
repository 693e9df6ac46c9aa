"""Issue 14 hardening: nothing is silently dropped, no input hangs, ^C at start-up is quiet.

Deep nesting and the unread-content guard, host lists and unknown attributes, files that are
not regular files and documented size limits, SIGINT during start-up, unreadable runbooks.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from swrun import parser
from swrun.attributes import parse_attributes
from swrun.errors import RunbookError, Severity
from swrun.model import StepKind
from swrun.parse import builder
from swrun.parser import ParseResult, parse_file, parse_text

HERE = Path(__file__).resolve().parent
SEEDS = HERE / "data" / "seeds"


def swrun(*args: str, cwd: Path | None = None, timeout: float = 60,
          prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("swrun")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "swrun"]
    return subprocess.run([*prefix, *cmd, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def messages(result: ParseResult) -> list[str]:
    return [str(d) for d in result.diagnostics]


# -- 4. deep nesting, and the guard against anything a parser limit drops ----------------------


def _deep(levels: int) -> str:
    lines = ["# Deep", "", "## A", "", "- [ ] first", ""]
    lines += ["  " * i + f"- level {i}" for i in range(levels)]
    lines += ["", "## Later", "", "- [ ] second", "", "```bash", "echo hi", "```", ""]
    return "\n".join(lines)


def test_a_list_nested_too_deep_is_an_error_and_what_follows_still_loads() -> None:
    result = parse_text(_deep(40), "rb.md")
    (error,) = result.errors
    assert error.line == 7 + 32  # the first item past 32 nested lists
    assert "nested more than" in error.message
    assert [(s.kind, s.span.line) for s in result.runbook.steps] == [
        (StepKind.CHECK, 5), (StepKind.CHECK, 50), (StepKind.SHELL, 52)]


def test_ten_nested_lists_load_in_full() -> None:
    """The case of the issue: after a list nested ten deep everything later vanished."""
    result = parse_text(_deep(12), "rb.md")
    assert result.diagnostics == ()
    assert [s.kind for s in result.runbook.steps] == [
        StepKind.CHECK, StepKind.CHECK, StepKind.SHELL]


def test_plan_execute_and_check_refuse_content_cut_by_nesting(tmp_path: Path) -> None:
    path = tmp_path / "deep.md"
    path.write_text(_deep(40) + "\n" + "\n".join(">" * 70 + " - [ ] quoted" for _ in range(1)))
    checked = swrun("check", "deep.md", cwd=tmp_path)
    assert checked.returncode == 3
    assert checked.stdout.splitlines()[0].startswith("deep.md:39: error: ")
    for cmd in (("plan", "deep.md"), ("execute", "deep.md", "--yes")):
        proc = swrun(*cmd, cwd=tmp_path)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert proc.stderr.startswith("swrun: deep.md:39: error: ")
        assert proc.stderr.count("\n") == 1 and "run completed" not in proc.stdout
    assert not (tmp_path / "logs").exists()


def _limited_markdown() -> MarkdownIt:
    """swrun's parser with its nesting rules off and markdown-it's own cut at 20 levels: a
    stand-in for any future limit that stops reading part of a document."""
    md = parser._new_markdown()
    md.block.ruler.disable("swrun_nesting")
    md.core.ruler.disable("swrun_block_nesting")
    md.options["maxNesting"] = 20
    return md


def test_the_guard_reports_what_any_parser_limit_drops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builder, "_markdown", _limited_markdown)
    result = parse_text(_deep(12), "rb.md")
    assert [(d.severity, d.line) for d in result.diagnostics] == [(Severity.ERROR, 22)]
    assert "1 task item and 1 fenced block were not read" in result.diagnostics[0].message
    assert len(result.runbook.steps) == 1  # what the limited parser kept


TRICKY = """\
# Tricky

```markdown
- [ ] a task item inside a fence
```bash
```

~~~~
```
- [ ] still inside the tilde fence
~~~~

    - [ ] indented code, not a task
    ```bash
    indented code, not a fence

<!--
- [ ] in an HTML comment
```bash
-->

<div>
- [ ] raw HTML until a blank line
</div>

> - [ ] a task in a quote
>
> ```bash
> echo quoted
> ```

- item
  ```bash
  echo in a list
```
- [ ] after the list's fence
```

Paragraph
- [ ] a task interrupting a paragraph
2. [ ] an ordered item that cannot interrupt one

- [ ]
- [ ]not a task without a space
1) [x] a done task
    - [ ] nested deeper

[ref]: /url "title
```bash
"

| a | b |
|---|---|
| - [ ] cell | x |
"""


def test_the_guard_has_no_false_positives_on_tricky_markdown() -> None:
    result = parse_text(TRICKY, "tricky.md")
    assert [d for d in result.diagnostics if "stopped early" in d.message] == []


def test_the_guard_scan_is_linear() -> None:
    """Openers with no closer (`<!--`, fences) are looked up, never scanned for to the end."""
    started = time.monotonic()
    parse_text("<!--\n" * 100_000 + "````x\n" * 50_000 + "```\n" * 50_000, "rb.md")
    assert time.monotonic() - started < 60  # a hang guard: a quadratic scan takes hours


def test_the_guard_is_quiet_on_the_seeds() -> None:
    for path in SEEDS.glob("*.md"):
        assert parse_file(path).diagnostics == ()


# -- 5. host lists and unknown attributes -----------------------------------------------------


def test_a_quoted_host_list_keeps_its_commas() -> None:
    assert parse_attributes('hosts="h1,h4" confirm, timeout=5m') == {
        "hosts": "h1,h4", "confirm": True, "timeout": "5m"}
    assert parse_attributes("hosts=h1:h4,confirm") == {"hosts": "h1:h4", "confirm": True}
    assert parse_attributes("name='a, b'") == {"name": "a, b"}


def test_a_bare_comma_in_a_host_list_is_an_error_with_the_syntax() -> None:
    result = parse_text("# T\n\n```bash {hosts=h1,h4}\nuptime\n```\n\n"
                        "```bash {host=h1,h4 timeout=1m}\nuptime\n```\n", "rb.md")
    assert messages(result) == [
        "rb.md:3: error: unknown attribute 'h4' (a list of hosts is written hosts=h1:h4 or "
        "hosts=\"h1,h4\")",
        "rb.md:7: error: unknown attribute 'h4' (a list of hosts is written hosts=h1:h4 or "
        "hosts=\"h1,h4\")"]


def test_unknown_attributes_are_errors_where_swrun_reads_them() -> None:
    result = parse_text(
        "<!-- swrun: colour=red -->\n- [ ] tick\n\n"
        "## S\n<!-- swrun: hostz=web -->\n\n"
        "```bash {colour=red}\nls\n```\n\n"
        "```python {run speed=fast}\nprint()\n```\n", "rb.md")
    assert messages(result) == [
        "rb.md:1: error: unknown attribute 'colour'",
        "rb.md:5: error: unknown attribute 'hostz'",
        "rb.md:7: error: unknown attribute 'colour'",
        "rb.md:11: error: unknown attribute 'speed'",
    ]


def test_unknown_attributes_on_a_block_swrun_does_not_run_stay_warnings() -> None:
    """Another tool's attributes on a block shown as reference material are not swrun's."""
    result = parse_text("```yaml {linenos=true}\na: 1\n```\n", "rb.md")
    assert result.errors == ()
    assert [d.severity for d in result.diagnostics] == [Severity.WARNING] * 2


def test_plan_and_execute_refuse_a_host_list_that_would_run_on_one_host(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text("# T\n\n```bash {hosts=h1,h4}\ntouch ran\n```\n")
    for cmd in (("plan", "rb.md"), ("execute", "rb.md", "--yes")):
        proc = swrun(*cmd, cwd=tmp_path)
        assert proc.returncode == 3
        assert proc.stderr.startswith("swrun: rb.md:3: error: unknown attribute 'h4'")
    check = swrun("check", "rb.md", cwd=tmp_path)
    assert check.returncode == 3 and "rb.md:3: error: unknown attribute 'h4'" in check.stdout
    assert not (tmp_path / "ran").exists()


def test_check_reports_each_part_of_a_host_list_that_matches_nothing(tmp_path: Path) -> None:
    (tmp_path / "inv.ini").write_text("[web]\nweb1\nweb2\n")
    (tmp_path / "rb.md").write_text(
        '```bash {hosts="web1,web4"}\nls\n```\n\n```bash {hosts=web2:nope}\nls\n```\n\n'
        '```bash {hosts="web:!web1"}\nls\n```\n')
    proc = swrun("check", "-i", "inv.ini", "rb.md", cwd=tmp_path)
    assert proc.stdout.splitlines() == [
        "rb.md:1: error: hosts=web1,web4: web4 matches no host in inv.ini",
        "rb.md:5: error: hosts=web2:nope: nope matches no host in inv.ini",
    ]


# -- 10. files that are not regular files, and size limits --------------------------------------


@pytest.fixture
def specials(tmp_path: Path) -> Iterator[dict[str, Path]]:
    fifo = tmp_path / "fifo.md"
    os.mkfifo(fifo)
    (tmp_path / "dir.md").mkdir()
    links = {"fifo-link": fifo, "dir-link": tmp_path / "dir.md", "zero-link": Path("/dev/zero")}
    for name, target in links.items():
        (tmp_path / f"{name}.md").symlink_to(target)
    yield {"fifo": fifo, "dir": tmp_path / "dir.md", "zero": Path("/dev/zero"),
           **{name: tmp_path / f"{name}.md" for name in links}}


@pytest.mark.parametrize("kind", ["fifo", "dir", "zero", "fifo-link", "dir-link", "zero-link"])
def test_a_path_that_is_not_a_regular_file_is_refused_at_once(
        specials: dict[str, Path], kind: str) -> None:
    path = specials[kind]
    started = time.monotonic()
    with pytest.raises(RunbookError) as info:
        parse_file(path)
    assert "not a regular file" in str(info.value) or "is a directory" in str(info.value)
    proc = swrun("plan", str(path), timeout=20)
    assert (proc.returncode, proc.stdout, proc.stderr.count("\n")) == (3, "", 1), proc.stderr
    assert str(path) in proc.stderr
    assert time.monotonic() - started < 60  # a hang guard: a FIFO read blocks forever


def test_check_goes_on_past_a_fifo(specials: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "ok.md").write_text("```bash {colour=red}\nls\n```\n")
    proc = swrun("check", "fifo.md", "ok.md", cwd=tmp_path, timeout=20)
    assert proc.stdout.splitlines() == [
        "fifo.md: error: not a regular file (a FIFO)",
        "ok.md:1: error: unknown attribute 'colour'"]
    assert proc.returncode == 3


def test_a_link_to_a_runbook_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real.md").write_text("```bash\nls\n```\n")
    (tmp_path / "link.md").symlink_to(tmp_path / "real.md")
    assert parse_file(tmp_path / "link.md").runbook.steps[0].kind is StepKind.SHELL


def test_a_runbook_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    with path.open("w") as f:
        line = "- [ ] " + "x" * 993 + "\n"
        for _ in range(parser.MAX_FILE_BYTES // len(line) + 1):
            f.write(line)
    started = time.monotonic()
    with pytest.raises(RunbookError) as info:
        parse_file(path)
    assert str(info.value) == f"{path}: error: larger than 10 MB ({path.stat().st_size} bytes)"
    assert time.monotonic() - started < 60  # a hang guard; speed belongs in bench/


def test_a_line_over_the_limit_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "long.md"
    path.write_text("# T\n\nok\n\n" + "x" * (parser.MAX_LINE_CHARS + 1) + "\n")
    with pytest.raises(RunbookError) as info:
        parse_file(path)
    assert str(info.value) == f"{path}:5: error: line longer than 1 MB"


def test_an_attribute_value_over_the_limit_is_an_error_at_its_line() -> None:
    text = "# T\n\n```bash {timeout=5m name=" + "a" * (64 * 1024 + 1) + "}\nls\n```\n"
    result = parse_text(text, "rb.md")
    assert messages(result) == ["rb.md:3: error: name= is longer than 64 KB"]
    assert dict(result.runbook.steps[0].attributes) == {"timeout": "5m"}


def test_reading_a_long_attribute_is_linear() -> None:
    """shlex built each word a character at a time: 300 KB took seconds, 2 MB a minute."""
    started = time.monotonic()
    attrs = parse_attributes('name="' + "a" * 2_000_000 + '" confirm')
    assert len(str(attrs["name"])) == 2_000_000 and attrs["confirm"] is True
    assert time.monotonic() - started < 60  # a hang guard: the old reader took minutes


def test_a_300_kb_name_loads_quickly(tmp_path: Path) -> None:
    path = tmp_path / "rb.md"
    path.write_text("# T\n\n```bash {name=" + "a" * 300_000 + "}\nls\n```\n")
    started = time.monotonic()
    proc = swrun("check", str(path))
    assert proc.returncode == 3 and "longer than 64 KB" in proc.stdout
    assert time.monotonic() - started < 60  # a hang guard


# -- 12. SIGINT during start-up, unreadable runbooks ---------------------------------------------


def _big_runbook(path: Path) -> None:
    """About 2 s to load: every signal below lands while the runbook is read and checked."""
    parts = ["# Big\n"]
    for i in range(15000):
        parts.append(f"## Section {i}\n\n- [ ] tick {i}\n\n```bash\necho {i}\n```\n")
    path.write_text("\n".join(parts))


@pytest.mark.parametrize("command", [("plan",), ("execute", "--yes")])
def test_sigint_during_start_up_exits_130_without_a_traceback(
        tmp_path: Path, command: tuple[str, ...]) -> None:
    _big_runbook(tmp_path / "big.md")
    script = Path(sys.executable).with_name("swrun")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "swrun"]
    # (Earlier than ~20 ms the interpreter itself is still starting: no swrun code has run.)
    for delay in (0.1, 0.25, 0.5, 0.9):
        proc = subprocess.Popen([*cmd, command[0], "big.md", *command[1:]], cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, (delay, err)
        assert proc.returncode == 130, (delay, proc.returncode, err)


def test_an_unreadable_file_where_read_fails_is_one_line_and_exit_3(tmp_path: Path) -> None:
    """/proc/self/mem is a regular file whose read at offset 0 fails with EIO."""
    proc = swrun("plan", "/proc/self/mem")
    assert (proc.returncode, proc.stdout) == (3, "")
    assert proc.stderr == "swrun: /proc/self/mem: error: cannot read: Input/output error\n"


@pytest.fixture
def unprivileged() -> Iterator[tuple[tuple[str, ...], Path]]:
    """A command prefix that drops root (tests run as root, which reads any file) and a
    directory that user can reach."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run swrun as an unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="swrun-unreadable-"))
    base.chmod(0o755)
    try:
        yield (setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"), base
    finally:
        shutil.rmtree(base)


def test_an_unreadable_runbook_is_one_line_and_exit_3(
        unprivileged: tuple[tuple[str, ...], Path]) -> None:
    prefix, base = unprivileged
    (base / "secret.md").write_text("```bash\nls\n```\n")
    (base / "secret.md").chmod(0)
    (base / "ok.md").write_text("```bash {colour=red}\nls\n```\n")
    proc = swrun("plan", "secret.md", cwd=base, prefix=prefix)
    assert (proc.returncode, proc.stdout) == (3, ""), proc.stderr
    assert proc.stderr == "swrun: secret.md: error: cannot read: Permission denied\n"
    proc = swrun("check", "secret.md", "ok.md", cwd=base, prefix=prefix)
    assert proc.returncode == 3
    assert proc.stdout.splitlines() == ["secret.md: error: cannot read: Permission denied",
                                        "ok.md:1: error: unknown attribute 'colour'"]
