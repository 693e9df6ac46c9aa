"""`swrun check`'s bash syntax check runs one bash for all blocks (it was one `bash -n` per
block: 16,000 blocks took 53 s), finds exactly what `bash -n` finds block by block, never
lets one block's unclosed quote or `if` reach the next, and never runs a block."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from swrun.parser import parse_text
from swrun.rules import bashsyntax
from swrun.rules.lint import lint

BASH = shutil.which("bash") or "/bin/bash"

BROKEN = [
    'echo hi\nif true; then\necho x\n',         # if without fi: line 4 (end of file)
    'echo "unclosed\necho x\n',                 # an unclosed quote must not eat the next
    'echo fine\n',
    'echo a\nfi\n',                             # fi without if: line 2
    'cat <<EOF\nhello\n',                       # only a warning for bash -n: no finding
    'echo "$(echo "x)"\n',
    'echo after\n',
    "echo 'a\n",
    'echo a\n}\necho b\n',
    'for x in; do\n',
    'echo `\n',
    'x=(\n',
    'echo $((1+\n',
    'cat <<-X\n\tfoo\n\tX\necho )\n',
    '',
    '# only a comment\n',
    'echo a\\',
]


def _bash_n(body: str) -> tuple[int, str] | None:
    """What one real `bash -n` says of `body`: (0-based line, message) or None."""
    proc = subprocess.run([BASH, "-n"], input=body, capture_output=True, text=True,
                          timeout=30, check=False)
    if proc.returncode == 0:
        return None
    first = proc.stderr.strip().split("\n")[0]
    where, _, message = first.partition(": line ")[2].partition(": ")
    return int(where) - 1, message


def test_one_process_says_what_bash_n_says_block_by_block() -> None:
    bodies = BROKEN * 3  # every broken block followed by others, in three orders of its kind
    assert bashsyntax.check(BASH, bodies) == [_bash_n(b) for b in bodies]


def test_a_block_is_parsed_never_run(tmp_path: Path) -> None:
    """A body that closes what it is wrapped in, then runs a command, runs nothing."""
    marker = tmp_path / "ran"
    bodies = [f"touch {marker}\n", f"}}\ntouch {marker}\n{{\n", f'"\ntouch {marker}\n"\n',
              f"set +n\ntouch {marker}\n", f"echo $(touch {marker})\n", f"exec touch {marker}\n"]
    found = bashsyntax.check(BASH, bodies)
    assert not marker.exists()
    assert found[0] is None and found[1] is not None


def test_check_finds_each_error_at_its_line() -> None:
    text = "# Batch\n\n" + "".join(f"```bash\n{b}```\n\n" if b.endswith("\n") or not b
                                     else f"```bash\n{b}\n```\n\n" for b in BROKEN)
    result = parse_text(text, "rb.md")
    found = [(d.line, d.message) for d in lint(result.runbook) if getattr(d, "rule", "") == "SW101"]
    expected = []
    for step in result.runbook.steps:
        problem = _bash_n(step.body)
        if problem is not None:
            offset = min(problem[0], max(0, step.body.count("\n") - 1))
            expected.append((step.body_line(offset), f"bash -n: {problem[1]}"))
    assert found == expected
    assert len(found) == 11


def test_swrun_check_starts_one_bash_for_all_blocks(tmp_path: Path) -> None:
    """A `bash` first on PATH that notes each start, then runs the real one."""
    shim = tmp_path / "bin"
    shim.mkdir()
    starts = tmp_path / "starts"
    (shim / "bash").write_text(f'#!/bin/sh\necho start >> {starts}\nexec {BASH} "$@"\n')
    (shim / "bash").chmod(0o755)
    rb = tmp_path / "rb.md"
    rb.write_text("# Many\n\n" + "".join(f"```bash\necho step {i}\n```\n\n" for i in range(40))
                  + "```bash\nif true; then\n```\n")
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "swrun", "check", "--strict", str(rb)],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert f"{rb}:164: error: SW101 bash -n: syntax error: unexpected end of file" \
        in proc.stdout, proc.stdout + proc.stderr
    assert len(starts.read_text().splitlines()) == 1
