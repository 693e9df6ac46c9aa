"""No input makes a reader hang: every pattern-based reader of runbook text (the parser, the
shell-text rules, attributes, front matter, masking, the log reader) is fed long runs of one
repeated unit — the shapes that make a backtracking pattern quadratic or worse — and must
answer within a budget far above its normal time.

Each call runs in a forked child the parent can kill: a regular expression never gives the
interpreter back, so a hang inside one cannot be interrupted in-process."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swrun import attributes, checks, kube, parser, plan, runlog, variables
from swrun.rules import knownbad, lint, prompts, sessions, shelltext, transcript
from swrun.secrets import Masker

BUDGET = 10.0
"""Seconds for one call. Linear readers take well under 1 s on these inputs on a loaded
2-core machine; a quadratic one takes minutes (10^10 steps), an exponential one forever."""
SIZE = 100_000
"""Characters of repeated units per input (between 6,000 and 100,000 units)."""

UNITS = (
    "a=", "_A", "A_", "${", "$(", "`", "'", '"', "<", "<a>", "<a ", "a", " ", "x ", "\t",
    "&&export X_X_X=", "&&export ", "export A ", "read -a ", "declare -x ", "for a in ",
    "a@b:", "user@host:~:", "[a@b ", "$ ", "# ", "-", "--", "-- ", "--a=", "-it ", "a-- x ",
    "YOUR_", "YOUR_A_", "{{", "{{ a", "=...", "=…", "\\", "<<a ", "<<'a' ", "a.", "a.a-",
    "a/", "(", "((", "))", "|", "||", ";", "&", "kubectl ", "kubectl exec ", "kubectl -it ",
    "kubectl get ", "oc debug ", "oc ", "tail a ", "logs ", "journalctl ", "ssh -a ", "ssh ",
    "su ", "sudo ", "crontab -e ", "curl ", "curl | ", "wget x", "http://a", "rm -rf ",
    "rm -rf a$X", "$A ", "${A}", "$A1", "create `", "`a.a", "<!-- swrun:", "-->", "{a=1 ",
    "- ", "-  ", "1. ", "> ", "- [ ] ", "```", "~~~", "*", "_", "[", "](", "![", "<!--",
    "&#", "&", "\r", "\n", "a\n", "$ a\n", "\\\n", "# a\n", "<<a\n",
    # prompts, sessions, output shapes (issue 24)
    "sh-4.4$ ", "a=# ", "a-# ", "mysql> ", "1.1:6379> ", "irb(a):1:0> ", "[1] pry(a)> ",
    ">> ", "* ", "NAME  ", "A B  ", "a: ", "A b: ", '"a": ', "+--", "|a", "2026-12-07 ",
    "Mon Dec  7 ", "a=b 1 ", "a = ", '{a="b"} ', "rate(", "sum by (a) (", "[5m]",
    "SELECT ", "- a: ", "a```", "exit\n", "oc rsh a\n", "psql\n", "rs0 [a] ",
)
TAILS = ("", "!", "=1", " x", "\n", " -- sh", "`", "'")
HEADS = ("", "true&&", "user@host:~:", "$ ", "kubectl ", "export ", "rm -rf ")


def _masker(text: str) -> str:
    return Masker(["s3cr3t-value", "a" * 12, "it's a secret"]).mask(text)


def _user_pattern(text: str) -> object:
    return variables.looks_secret(text)


READERS: dict[str, Callable[[str], object]] = {
    "first_word": shelltext.first_word,
    "looks_like_command": shelltext.looks_like_command,
    "mostly_commands": shelltext.mostly_commands,
    "read_prompts": lambda t: prompts.read_prompts(t, False),
    "read_prompts_console": lambda t: prompts.read_prompts(t, True),
    "read_prompts_redis": lambda t: prompts.read_prompts(t, False, "redis"),
    "console_opened": prompts.console_opened,
    "sessions_follow": lambda t: sessions.follow(
        [(1, ln, "", "") for ln in t.split("\n")] + [(2, t, "$", "")],
        (sessions.Session("shell", "ssh h", 1, 1),), 2),
    "plainly_local": lambda t: sessions.plainly_local(t, sessions.Session("shell", "", 1, 1)),
    "output_lines": transcript.output_lines,
    "content_kind": knownbad.content_kind,
    "interactive": shelltext.interactive,
    "split_commands": shelltext.split_commands,
    "strip_comments": shelltext.strip_comments,
    "var_name": shelltext.var_name,
    "find_placeholders": shelltext.find_placeholders,
    "assigned": shelltext.assigned,
    "exported": shelltext.exported,
    "split_words": attributes.split_words,
    "substitute": lambda t: attributes.substitute(t, {"A": "1", "X": "y"}),
    "check_value": lambda t: [attributes.check_value(k, t)
                              for k in ("timeout", "retries", "kube_context")],
    "kube_tool": lambda t: kube._TOOL.search(t),
    "looks_secret": _user_pattern,
    "mask": _masker,
    "swrun_comments": parser._swrun_comments,
    "create_lead": lambda t: parser._CREATE.search(t),
    "pathlike": lambda t: parser._PATHLIKE.fullmatch(t),
    "task_line": lambda t: [parser._TASK_LINE.match(ln) for ln in t.split("\n")],
    "fence_line": lambda t: [parser._FENCE_LINE.match(ln) for ln in t.split("\n")],
    "log_tail": lambda t: runlog.parse_bytes(Path("x.log"), b'[run]\nversion = 1\n' +
                                             t.encode("utf-8", "replace")),
}


def _call(reader: Callable[[str], object], text: str) -> None:
    with contextlib.suppress(Exception):  # a refusal is an answer: only the time is tested
        reader(text)


def _runbook(text: str) -> None:
    """Parse, plan and check a runbook (the CLI's `plan` and `check` without bash)."""
    result = parser.parse_text(text, "adversarial.md")
    plan.plan_text(result.runbook, show_all=True)
    plan.plan_json(result.runbook)
    kube.wanted(result.runbook)
    checks.check_runbook(result, None, inventory=False, lint=False)
    lint._order(result.runbook, set(result.runbook.variables))
    for step in result.runbook.steps:
        lint._risky(result.runbook, step, lambda *a: None)


def _child(target: Callable[..., None], *args: object) -> None:
    target(*args)
    os._exit(0)


def within_budget(target: Callable[..., None], *args: object) -> float:
    """Seconds `target(*args)` took in a forked child; the child is killed past BUDGET."""
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(target, *args))
    started = time.perf_counter()
    proc.start()
    proc.join(BUDGET)
    took = time.perf_counter() - started
    if proc.is_alive():
        proc.kill()
        proc.join(5)
        raise AssertionError(f"still running after {BUDGET:.0f}s")
    assert proc.exitcode == 0, f"exit code {proc.exitcode}"
    return took


def _text(head: str, unit: str, tail: str, size: int = SIZE) -> str:
    return head + unit * max(30, size // len(unit)) + tail


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(reader=st.sampled_from(sorted(READERS)), head=st.sampled_from(HEADS),
       unit=st.sampled_from(UNITS), tail=st.sampled_from(TAILS))
def test_each_reader_answers_repeated_units_in_time(reader: str, head: str, unit: str,
                                                    tail: str) -> None:
    within_budget(_call, READERS[reader], _text(head, unit, tail))


PLACES = {
    "bash": "```bash\n{}\n```\n",
    "console": "```console\n$ {}\n```\n",
    "untyped": "```\n{}\n```\n",
    "heading": "## {}\n\n```bash\necho hi\n```\n",
    "lead": "Create `{}`:\n\n```text\nx\n```\n",
    "info": "```bash {{name=a {}}}\necho hi\n```\n",
    "comment": "<!-- swrun: {} -->\n```bash\necho hi\n```\n",
    "list": "1. {}\n",
    "task": "- [ ] {}\n",
    "quote": "> {}\n",
    "front": "---\nvars:\n  A: {{prompt: \"{}\"}}\n---\n",
}


@pytest.mark.timeout(900)  # 60 forked examples: each has its own BUDGET; this guards the whole
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(place=st.sampled_from(sorted(PLACES)), head=st.sampled_from(HEADS),
       unit=st.sampled_from(UNITS), tail=st.sampled_from(TAILS))
def test_a_runbook_of_repeated_units_plans_and_checks_in_time(place: str, head: str, unit: str,
                                                              tail: str) -> None:
    line = _text(head, unit, tail, size=50_000)
    text = "# Adversarial\n\n" + PLACES[place].format(line)
    within_budget(_call, _runbook, text)


def test_the_issue_lines_at_the_line_limit() -> None:
    """The two lines that hung `plan` and `check`, as long as a runbook line may be."""
    for head in ("true&&export ", "user@host:~:export "):
        name = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_LONGER_NAME"
        line = head + name * ((parser.MAX_LINE_CHARS - 100) // len(name)) + "=1"
        within_budget(_call, _runbook, f"# Big\n\n```bash\n{line}\n```\n")
        within_budget(_call, shelltext.assigned, line)
