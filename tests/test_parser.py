"""The runbook format: what becomes a step, attributes, comments, sections, titles and ids."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from swrun.attributes import AttributeSyntaxError, check_value, parse_attributes
from swrun.durations import format_duration, parse_duration
from swrun.errors import RunbookError, Severity
from swrun.model import Step, StepKind
from swrun.parser import ParseResult, load_runbook, parse_file, parse_text


def parse(text: str, *, strict: bool = False) -> ParseResult:
    return parse_text(textwrap.dedent(text).lstrip("\n"), "rb.md", strict=strict)


def steps(text: str) -> tuple[Step, ...]:
    return parse(text).runbook.steps


def messages(result: ParseResult) -> list[str]:
    return [str(d) for d in result.diagnostics]


# -- what becomes a step -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "kind"),
    [("bash", StepKind.SHELL), ("sh", StepKind.SHELL), ("shell", StepKind.SHELL),
     ("zsh", StepKind.SHELL), ("console", StepKind.SHELL), ("BASH", StepKind.SHELL),
     ("ansible", StepKind.ANSIBLE), ("pm2", StepKind.PM2), ("mongo", StepKind.MONGO),
     ("aws", StepKind.AWS), ("http", StepKind.HTTP), ("wait", StepKind.WAIT),
     ("yaml", StepKind.REFERENCE), ("javascript", StepKind.REFERENCE),
     ("env", StepKind.REFERENCE), ("", StepKind.REFERENCE)],
)
def test_fence_language_decides_the_kind(language: str, kind: StepKind) -> None:
    body = "echo x" if language == "console" else "x"  # a console block of output is shown
    (step,) = steps(f"```{language}\n{body}\n```\n")
    assert step.kind is kind
    assert step.language == language


def test_task_items_become_checks_and_plain_items_do_not() -> None:
    found = steps("""
        - [ ] Tell the channel
        - [x] Ticket opened
        - plain item
        * [X] Star bullet
        1. [ ] Numbered
    """)
    assert [(s.kind, s.title, s.checked) for s in found] == [
        (StepKind.CHECK, "Tell the channel", False),
        (StepKind.CHECK, "Ticket opened", True),
        (StepKind.CHECK, "Star bullet", True),
        (StepKind.CHECK, "Numbered", False),
    ]


def test_numbers_count_actionable_steps_only() -> None:
    found = steps("""
        - [ ] one

        ```yaml
        a: 1
        ```

        ```bash
        two
        ```
    """)
    assert [(s.kind, s.number) for s in found] == [
        (StepKind.CHECK, 1), (StepKind.REFERENCE, None), (StepKind.SHELL, 2)]


def test_step_span_is_fence_open_to_close() -> None:
    (step,) = steps("# T\n\nprose\n\n```bash\na\nb\n```\n")
    assert (step.span.line, step.span.end_line) == (5, 8)
    assert str(step.span) == "rb.md:5"


def test_python_block_marked_run_becomes_shell_with_interpreter() -> None:
    (step,) = steps("```python {run}\nprint(1)\n```\n")
    assert step.kind is StepKind.SHELL
    assert step.attributes["shell"] == "python3"
    assert "run" not in step.attributes


def test_run_with_explicit_shell_keeps_it() -> None:
    (step,) = steps("```python {run shell=python3.12}\nprint(1)\n```\n")
    assert step.attributes["shell"] == "python3.12"


def test_run_false_turns_a_bash_block_into_reference() -> None:
    first, second = steps("```bash {run=false}\nls\n```\n\n```bash {run=no}\nls\n```\n")
    assert first.kind is StepKind.REFERENCE and first.number is None
    assert second.kind is StepKind.REFERENCE


def test_unknown_kind_with_attributes_warns_but_stays_reference() -> None:
    result = parse("```mermaid {confirm}\ngraph\n```\n")
    (step,) = result.runbook.steps
    assert step.kind is StepKind.REFERENCE
    assert messages(result) == [
        "rb.md:1: warning: unknown step kind 'mermaid': block is shown as reference "
        "material, not run (add `run` to run it)"
    ]


def test_reference_block_with_only_a_name_does_not_warn() -> None:
    assert parse("```yaml {name=config}\na: 1\n```\n").diagnostics == ()


def test_console_block_keeps_only_prompted_commands() -> None:
    (step,) = steps("""
        ```console
        $ ls -l \\
            /tmp
        total 0
        drwx------ 2 root root 40 x
        $ echo hi
        hi
        ```
    """)
    assert step.body == "ls -l \\\n    /tmp\necho hi\n"


def test_console_block_without_prompts_is_run_as_written() -> None:
    (step,) = steps("```console\nls\n```\n")
    assert step.body == "ls\n"


# -- attributes --------------------------------------------------------------------------------


def test_parse_attributes_values_flags_quotes_commas() -> None:
    assert parse_attributes('name="build it" confirm, retries=2,timeout=45s '
                            "cwd='a b' destructive=false keep-going") == {
        "name": "build it", "confirm": True, "retries": "2", "timeout": "45s",
        "cwd": "a b", "destructive": False, "keep_going": True,
    }


def test_flag_words_only_for_flags() -> None:
    # `false` is a value for a string key, a switch for a flag.
    assert parse_attributes("confirm=yes name=false") == {"confirm": True, "name": "false"}


@pytest.mark.parametrize("text", ['name="open', "=x", "a b=c 9z=1", "na$me=1"])
def test_parse_attributes_syntax_errors(text: str) -> None:
    with pytest.raises(AttributeSyntaxError):
        parse_attributes(text)


@pytest.mark.parametrize(("text", "seconds"), [
    ("45s", 45), ("15m", 900), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800), ("90", 90),
    ("1.5h", 5400), (" 10M ", 600),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m", "1h 30m", "-5", "nan", "inf", "1e999",
                                  "9" * 400 + "d", "1h30"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.85, 1.24, 185, 3720)] == [
        "850ms", "1.2s", "3m05s", "1h02m"]


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("retries", "2", None), ("retries", "two", "retries=two: expected a whole number >= 0"),
    ("retries", "²", "retries=²: expected a whole number >= 0"),
    ("parallel", "0", "parallel=0: expected a whole number >= 1"),
    ("timeout", "$T", None), ("timeout", "soon", "timeout=soon: bad duration "
                              "(use e.g. 45s, 15m, 1h30m)"),
    ("on_failure", "explode", "on_failure=explode: expected one of rollback, abort, "
                              "continue, ask"),
    ("confirm", "maybe", "confirm is a flag; write just `confirm`"),
    ("hosts", True, "hosts needs a value (hosts=...)"), ("whatever", "x", None),
    ("timeout", "0s", "timeout=0s: must be longer than 0s (leave it out for no timeout)"),
    ("retry_delay", "0s", None),
])
def test_check_value(key: str, value: str | bool, problem: str | None) -> None:
    assert check_value(key, value) == problem


def test_fence_attributes_reach_the_step() -> None:
    (step,) = steps("""
        ```bash {name=build hosts=web timeout=10m confirm destructive retries=2 target=1h30m}
        make
        ```
    """)
    assert dict(step.attributes) == {
        "name": "build", "hosts": "web", "timeout": "10m", "confirm": True,
        "destructive": True, "retries": "2", "target": "1h30m"}
    assert step.targets == "web"
    assert step.seconds("timeout") == 600
    assert step.integer("retries") == 2
    assert step.flag("confirm") and not step.flag("keep_going")


def test_attributes_without_language() -> None:
    (step,) = steps("```{name=x}\nreplicas: 3\n```\n")
    assert step.kind is StepKind.REFERENCE and step.title == "x"
    # a command with no language is a manual step: shown, run by a person, ticked
    (step,) = steps("```{name=x}\nls\n```\n")
    assert step.kind is StepKind.CHECK and step.manual and step.title == "x"


def test_bad_duration_is_an_error_on_the_fence_line() -> None:
    result = parse("# T\n\ntext\n\n```bash {timeout=5x}\nls\n```\n")
    assert messages(result) == [
        "rb.md:5: error: timeout=5x: bad duration (use e.g. 45s, 15m, 1h30m)"]
    assert "timeout" not in result.runbook.steps[0].attributes


def test_unbalanced_quote_is_an_error_on_the_fence_line() -> None:
    result = parse_text("\n\n```bash {name=\"x}\nls\n```\n", "rb.md")
    assert [(d.severity, d.line) for d in result.diagnostics] == [(Severity.ERROR, 3)]
    assert "cannot read attributes" in result.diagnostics[0].message


def test_unknown_attribute_is_an_error_on_a_block_swrun_runs() -> None:
    result = parse("```bash {colour=red}\nls\n```\n")
    assert messages(result) == ["rb.md:1: error: unknown attribute 'colour'"]


def test_unknown_attribute_is_a_warning_on_a_block_swrun_shows() -> None:
    result = parse("```yaml {colour=red}\na: 1\n```\n")
    assert messages(result) == [
        "rb.md:1: warning: unknown attribute 'colour'",
        "rb.md:1: warning: unknown step kind 'yaml': block is shown as reference material, "
        "not run (add `run` to run it)"]


def test_strict_turns_warnings_into_errors() -> None:
    text = "```bash\nls\n```\n\n<!-- swrun: confirm -->\n"
    assert parse(text).errors == ()
    strict = parse(text, strict=True)
    assert messages(strict) == [
        "rb.md:5: error: swrun comment applies to nothing (no block follows it)"]
    assert strict.warnings == ()


# -- comments, sections, rollback --------------------------------------------------------------


def test_comment_applies_to_the_next_block_only() -> None:
    first, second = steps("""
        # T

        Some text.

        <!-- swrun: confirm timeout=45s -->

        ```bash
        one
        ```

        ```bash
        two
        ```
    """)
    assert dict(first.attributes) == {"confirm": True, "timeout": "45s"}
    assert dict(second.attributes) == {}


def test_comment_before_a_check() -> None:
    (check,) = steps("<!-- swrun: name=tell -->\n- [ ] Tell the channel\n")
    assert check.title == "tell" and check.id == "tell"
    assert check.body == "Tell the channel"


def test_fence_attributes_override_comment_attributes() -> None:
    (step,) = steps("<!-- swrun: timeout=1m confirm -->\n```bash {timeout=2m}\nls\n```\n")
    assert dict(step.attributes) == {"timeout": "2m", "confirm": True}


def test_comment_with_nothing_after_it_warns() -> None:
    result = parse("```bash\nls\n```\n\n<!-- swrun: confirm -->\n")
    assert messages(result) == [
        "rb.md:5: warning: swrun comment applies to nothing (no block follows it)"]


def test_comment_before_a_heading_warns() -> None:
    result = parse("# T\n\npara\n\n<!-- swrun: confirm -->\n\n## Next\n")
    assert messages(result) == [
        "rb.md:5: warning: swrun comment applies to nothing before this heading"]


def test_comment_right_after_heading_sets_section_defaults() -> None:
    rb = parse("""
        # Deploy

        ## Web tier
        <!-- swrun: hosts=web timeout=10m -->

        Restart everything.

        ```bash
        systemctl restart app
        ```

        ```bash {timeout=30s host=web1}
        curl localhost
        ```

        ### Checks

        - [ ] Dashboard green

        ## Database

        ```bash
        psql
        ```
    """).runbook
    restart, curl, check, psql = rb.steps
    assert dict(rb.sections[0].attributes) == {"hosts": "web", "timeout": "10m"}
    assert dict(restart.attributes) == {"hosts": "web", "timeout": "10m"}
    assert curl.attributes["timeout"] == "30s" and curl.targets == "web1"
    assert check.attributes["hosts"] == "web"  # nested sections inherit
    assert check.section == ("Web tier", "Checks")
    assert dict(psql.attributes) == {}


def test_step_only_attribute_on_a_section_warns() -> None:
    result = parse("## S\n<!-- swrun: name=x target=5m -->\n\n```bash\nls\n```\n")
    assert messages(result) == [
        "rb.md:2: warning: attribute 'name' does not apply to a section",
        "rb.md:2: warning: attribute 'target' does not apply to a section",
    ]


def test_rollback_section() -> None:
    rb = parse("""
        # Deploy

        ## Release

        ```bash {on_failure=rollback}
        deploy
        ```

        ## Rollback
        <!-- swrun: rollback -->

        ```bash
        undo
        ```

        ### Verify rollback

        - [ ] Old version serves traffic
    """).runbook
    deploy, undo, verify = rb.steps
    assert not deploy.in_rollback
    assert undo.in_rollback and verify.in_rollback
    assert rb.main_steps == (deploy,)
    assert rb.rollback_steps == (undo, verify)
    assert "rollback" not in undo.attributes  # marks the section, not each step
    assert rb.sections[1].rollback and not rb.sections[0].rollback


def test_sections_nest_and_keep_their_prose() -> None:
    rb = parse("""
        # Runbook

        Intro text.

        ## One

        First paragraph.

        | a | b |
        |---|---|
        | 1 | 2 |

        ### One A

        > a quote

        ## Two
    """).runbook
    assert rb.title == "Runbook"
    assert [s.title for s in rb.sections] == ["One", "Two"]
    one = rb.sections[0]
    assert [c.title for c in one.children] == ["One A"]
    assert one.prose.startswith("First paragraph.") and "| 1 | 2 |" in one.prose
    assert one.children[0].prose == "> a quote"
    assert rb.root.prose == "Intro text."
    assert (one.span.line, one.span.end_line) == (5, 16)  # up to the next `##`
    assert [s.id for s in rb.root.walk()][1:] == ["one", "one-one-a", "two"]


# -- titles and ids ----------------------------------------------------------------------------


def test_title_precedence() -> None:
    named, commented, shebang, heading, paragraph = steps("""
        ## Build

        ```bash {name=compile}
        # Not this
        make
        ```

        ```bash
        # Run the tests:
        make test
        ```

        ```bash
        #!/usr/bin/env bash

        # After the shebang
        ls
        ```

        ```bash
        ls
        ```

        Then push the image:

        ```bash
        docker push
        ```
    """)
    assert named.title == "compile"
    assert commented.title == "Run the tests"
    assert shebang.title == "After the shebang"
    assert heading.title == "Build"
    assert paragraph.title == "Then push the image"


def test_title_attribute_is_shown_and_name_stays_the_id() -> None:
    block, check = steps("""
        ## Shift

        ```aws {name=traffic-10 title="Shift 10% of traffic to green" confirm}
        traffic arn:x blue=90 green=10
        ```

        <!-- swrun: name=told title="Tell the stakeholders" -->
        - [ ] Tell them
    """)
    assert (block.id, block.title) == ("traffic-10", "Shift 10% of traffic to green")
    assert block.attributes["title"] == "Shift 10% of traffic to green"
    assert (check.id, check.title) == ("told", "Tell the stakeholders")


def test_long_titles_are_shortened() -> None:
    (step,) = steps("- [ ] " + "word " * 40 + "\n")
    assert len(step.title) <= 80 and step.title.endswith("word…")  # cut at a word
    assert step.body == ("word " * 40).strip()


def test_runbook_title_falls_back_to_file_name(tmp_path: Path) -> None:
    path = tmp_path / "db-failover.md"
    path.write_text("## Only a section\n")
    assert parse_file(path).runbook.title == "db-failover"
    assert parse_text("text\n").runbook.title == "Untitled runbook"


def test_ids_are_section_path_and_title() -> None:
    found = steps("""
        # T

        ## Deploy API

        ```bash
        # Build image
        make
        ```

        ```bash {name="Build image"}
        make
        ```

        ```bash
        # Build image
        make
        ```
    """)
    assert [s.id for s in found] == [
        "deploy-api/build-image", "build-image", "deploy-api/build-image-2"]


def test_ids_survive_unrelated_edits() -> None:
    base = textwrap.dedent("""
        # T

        ## Deploy

        - [ ] Announce

        ```bash
        # Restart
        systemctl restart app
        ```

        ## Verify

        ```bash
        # Smoke test
        curl localhost
        ```
    """)
    edited = base.replace("- [ ] Announce", "Some new prose.\n\n- [ ] Announce\n- [ ] Page on-call")
    edited = edited.replace("curl localhost", "curl -f localhost/health")
    before = {s.title: s.id for s in steps(base)}
    after = {s.title: s.id for s in steps(edited)}
    assert before.items() <= after.items()
    assert after["Page on-call"] == "deploy/page-on-call"


def test_duplicate_titles_get_numbered_ids() -> None:
    found = steps("- [ ] Same\n- [ ] Same\n- [ ] Same\n- [ ] Same-2\n")
    assert [s.id for s in found] == ["same", "same-2", "same-3", "same-2-2"]


# -- files and fatal problems ------------------------------------------------------------------


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes(b"# T\n\nok\n\ncaf\xe9\n")
    with pytest.raises(RunbookError) as info:
        parse_file(path)
    assert str(info.value) == f"{path}:5: error: not UTF-8 text"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="no such file"):
        parse_file(tmp_path / "nope.md")
    with pytest.raises(RunbookError, match="is a directory"):
        parse_file(tmp_path)


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "win.md"
    path.write_bytes("\ufeff# Title\r\n\r\n```bash\r\nls\r\n```\r\n".encode())
    rb = parse_file(path).runbook
    assert rb.title == "Title"
    assert rb.steps[0].body == "ls\n" and rb.steps[0].span.line == 3


def test_load_runbook_raises_the_first_error_and_counts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text("```bash {timeout=x}\nls\n```\n\n```bash {retries=y}\nls\n```\n")
    with pytest.raises(RunbookError) as info:
        load_runbook(path)
    assert str(info.value) == (f"{path}:1: error: timeout=x: bad duration (use e.g. 45s, 15m, "
                               f"1h30m) (and 1 more; run `swrun check {path}`)")


def test_load_runbook_strict_fails_on_warnings(tmp_path: Path) -> None:
    path = tmp_path / "warn.md"
    path.write_text("```bash\nls\n```\n\n<!-- swrun: confirm -->\n")
    assert load_runbook(path).steps[0].kind is StepKind.SHELL
    with pytest.raises(RunbookError, match="swrun comment applies to nothing"):
        load_runbook(path, strict=True)


def test_inherited_attribute_order_does_not_depend_on_hash_seed() -> None:
    """Plan JSON and golden files need a stable order; sets iterate by hash seed."""
    code = (
        "from swrun.parser import parse_text\n"
        "rb = parse_text('## A\\n<!-- swrun: timeout=1m hosts=web retries=1 confirm -->\\n"
        "### B\\n- [ ] x\\n').runbook\n"
        "print(list(rb.steps[0].attributes), list(rb.sections[0].children[0].attributes))"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
        for seed in range(6)
    }
    assert outputs == {"['timeout', 'hosts', 'retries', 'confirm'] "
                       "['timeout', 'hosts', 'retries', 'confirm']\n"}
