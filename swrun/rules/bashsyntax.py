"""Bash's own syntax check (`bash -n`) of many blocks in one bash process.

Each body is parsed in a function that makes the shell's options local (`local -`), turns
on `set -n` (read, never execute) and `eval`s the body: bash reads the whole body and runs
none of it, reports a syntax error as `bash -n` would (the same message, the line counted
from the body's first line), and the options come back when the function returns, so the
next body is parsed afresh. One body's unclosed quote or `if` cannot reach the next: each is
its own `eval` string. A shell without `local -` (bash before 4.4) would keep `-n` on; the
first and last bodies are known-bad probes, and when either does not come back as an error
the caller falls back to one `bash -n` per block.

16,000 blocks took 53 s as one `bash -n` each (a process each); see bench/check_syntax.py."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Sequence

Problem = tuple[int, str]
"""(0-based line in the body, bash's message)."""

_DRIVER = """\
__swrun_parse() { local -; eval "set -n
$1"; }
while IFS= read -r -d '' __swrun_body; do
  __swrun_parse "$__swrun_body" 2>&1
  printf '\\0%d\\0' "$?"
done
"""
_PROBE = "fi\n"
"""A body bash refuses at its first line: where bash says it is, is line 1 of a body."""
_LINE = re.compile(r"line (\d+): (.*)")
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "HOME", "TMPDIR")
"""The environment the checking bash gets: none of BASH_ENV, ENV, POSIXLY_CORRECT, … which
would make it run a file first or leave a syntax error fatal."""
SECONDS_PER_BLOCK = 0.01
"""Time allowed per block on top of a fixed 10 s (one block alone had 10 s before)."""


class Unsupported(Exception):
    """This bash cannot check blocks in one process (no `local -`): check one at a time."""


def check(exe: str, bodies: Sequence[str]) -> list[Problem | None]:
    """For each body, bash's first syntax error (None when it has none). A body bash does
    not finish reading in time gets None (as a single `bash -n` past its timeout did)."""
    results: list[Problem | None] = []
    while len(results) < len(bodies):
        done, hung = _run(exe, bodies[len(results):])
        results.extend(done)
        if hung:
            results.append(None)
    return results


def _run(exe: str, bodies: Sequence[str]) -> tuple[list[Problem | None], bool]:
    """Results for a prefix of `bodies`, and whether the run stopped on a body that hung."""
    data = "\0".join(b.replace("\0", "") for b in (_PROBE, *bodies, _PROBE)) + "\0"
    env = {k: v for k, v in os.environ.items() if k in _KEEP_ENV}
    with tempfile.TemporaryFile() as feed:  # a file, not a pipe: bash reads it faster
        feed.write(data.encode("utf-8", "surrogateescape"))
        feed.seek(0)
        try:
            proc = subprocess.run([exe, "--norc", "--noprofile", "-c", _DRIVER], stdin=feed,
                                  capture_output=True, env=env, check=False,
                                  timeout=10 + SECONDS_PER_BLOCK * len(bodies))
            out, finished = proc.stdout, True
        except subprocess.TimeoutExpired as exc:
            out, finished = exc.stdout or b"", False
    parts = out.decode("utf-8", "replace").split("\0")
    answers: list[tuple[str, str]] = []
    for i in range(0, len(parts) - 1, 2):
        if not parts[i + 1].isdigit():
            break  # cut off by the timeout before its status
        answers.append((parts[i], parts[i + 1]))
    if not answers or answers[0][1] != "2" or (finished and (
            len(answers) != len(bodies) + 2 or answers[-1][1] != "2")):
        if not finished and answers and answers[0][1] == "2":
            return _problems(answers[1:], answers[0][0]), True
        raise Unsupported(f"{exe} did not check the blocks in one process")
    return _problems(answers[1:-1], answers[0][0]), False


def _problems(answers: Sequence[tuple[str, str]], probe: str) -> list[Problem | None]:
    m = _LINE.search(probe)
    first = int(m.group(1)) if m else 1  # where bash puts a body's line 1
    out: list[Problem | None] = []
    for message, code in answers:
        if code == "0":
            out.append(None)
            continue
        head = message.strip().split("\n")[0]
        m = _LINE.search(head)
        out.append((int(m.group(1)) - first, m.group(2)) if m else (0, head))
    return out
