"""Property tests: whatever Markdown comes in, only RunbookError (never a crash) comes out."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from swrun.attributes import KNOWN, AttributeSyntaxError, check_value, parse_attributes
from swrun.durations import parse_duration
from swrun.errors import RunbookError
from swrun.parser import parse_text

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "250")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30
)
_ascii = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
_keys = st.one_of(st.sampled_from(sorted(KNOWN)), st.from_regex(r"[A-Za-z_][\w.-]{0,8}",
                                                                  fullmatch=True))
_values = st.one_of(
    st.sampled_from(["45s", "15m", "1h30m", "0", "2", "-1", "²", "1e400", "nan", "true",
                     "false", "yes", "off", "rollback", "web", "$HOST", "${X}", "", "1.5.5"]),
    _ascii,
    st.text(alphabet="0123456789", min_size=300, max_size=5000),
)


@st.composite
def _attribute_text(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 5))):
        key = draw(_keys)
        form = draw(st.sampled_from(["flag", "bare", "double", "single", "junk"]))
        value = draw(_values)
        if form == "flag":
            parts.append(key)
        elif form == "bare":
            parts.append(f"{key}={value.replace(' ', '')}")
        elif form == "double":
            parts.append(f'{key}="{value}"')
        elif form == "single":
            parts.append(f"{key}='{value}'")
        else:
            parts.append(draw(_ascii))
    sep = draw(st.sampled_from([" ", ",", ", ", "  ,"]))
    return sep.join(parts)


@st.composite
def _front_matter(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        lines = [draw(st.sampled_from([
            'title = "T"', "window = '30m'", "window = 'soon'", "environment = 3",
            "inventory = 'inv.ini'", "[vars]", "[vars.X]", 'type = "int"', 'default = "a"',
            'choices = ["a", "b"]', "choices = 3", 'pattern = "[a-"', 'from = "env:X"',
            "from = 7", "secret = true", 'prompt = "?"', "[vars.Y]", "Z = 1", "1bad = 2",
            "vars = 3", "x = [", 'type = "nope"',
        ])) for _ in range(draw(st.integers(0, 8)))]
        lines += draw(st.lists(_words, max_size=2))
        closer = draw(st.sampled_from(["+++", "", "+++ "]))
        return "+++\n" + "\n".join(lines) + f"\n{closer}\n"
    lines = [draw(st.sampled_from([
        "title: T", "window: 30m", "window: [1]", "environment: production", "vars:",
        "  X: 1", "  Y:", "    type: duration", "    default: 5x", "    choices: [a, b]",
        "    pattern: '('", "    secret: yes", "    from: env:", "  - a", "? [a]", ": b",
        "*alias", "&a x", "title: 2024-01-01", "vars: [1, 2]", "\tbad", "...",
    ])) for _ in range(draw(st.integers(0, 8)))]
    lines += draw(st.lists(_words, max_size=2))
    closer = draw(st.sampled_from(["---", "", "----", "..."]))
    return "---\n" + "\n".join(lines) + f"\n{closer}\n"


@st.composite
def _block(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(
        ["heading", "fence", "task", "comment", "prose", "list", "quote", "raw"]
    ))
    if kind == "heading":
        return "#" * draw(st.integers(1, 7)) + " " + draw(_words)
    if kind == "fence":
        lang = draw(st.sampled_from(
            ["bash", "sh", "console", "python", "yaml", "ansible", "mongo", "http", "wait",
             "", "{", "BASH", "weird lang"]
        ))
        info = lang
        if draw(st.booleans()):
            info += " {" + draw(_attribute_text()) + draw(st.sampled_from(["}", "", "}}"]))
        fence = draw(st.sampled_from(["```", "~~~", "````"]))
        indent = draw(st.sampled_from(["", "  ", "    "]))
        body = "\n".join(draw(st.lists(st.one_of(
            _words, st.sampled_from(["# a comment", "#!/bin/sh", "$ ls \\", "$ echo $X", "$",
                                     "```", "output"])), max_size=4)))
        closer = draw(st.sampled_from([fence, "", "```"]))
        return f"{indent}{fence}{info}\n{body}\n{indent}{closer}"
    if kind == "task":
        mark = draw(st.sampled_from(["[ ]", "[x]", "[X]", "[]", "[ ] "]))
        bullet = draw(st.sampled_from(["-", "*", "1.", "  -", "    -"]))
        return f"{bullet} {mark} {draw(_words)}"
    if kind == "comment":
        close = draw(st.sampled_from(["-->", "", " -->"]))
        return f"<!-- swrun: {draw(_attribute_text())} {close}"
    if kind == "list":
        return "\n".join(f"- {draw(_words)}" for _ in range(draw(st.integers(1, 3))))
    if kind == "quote":
        return "> " + draw(_words)
    if kind == "raw":
        return draw(st.text(max_size=40))
    return draw(_words)


@st.composite
def _markdown(draw: st.DrawFn) -> str:
    head = draw(_front_matter()) if draw(st.booleans()) else ""
    blocks = draw(st.lists(_block(), max_size=12))
    sep = draw(st.sampled_from(["\n\n", "\n", "\r\n"]))
    return head + sep.join(blocks)


def _parse_or_runbook_error(text: str, strict: bool) -> None:
    try:
        result = parse_text(text, "fuzz.md", strict=strict)
    except RunbookError as exc:
        assert "internal parser error" not in str(exc), str(exc)
        return
    for diag in result.diagnostics:
        assert "internal parser error" not in diag.message
        assert "stopped early" not in diag.message, diag  # the unread-content guard: no false alarm
        assert diag.line >= 0
    numbers = [s.number for s in result.runbook.steps if s.number is not None]
    assert numbers == list(range(1, len(numbers) + 1))
    ids = [s.id for s in result.runbook.steps]
    assert len(ids) == len(set(ids))


@FUZZ
@given(_markdown(), st.booleans())
@example("<!-- swrun: allow host A -->", False)  # a refused host= then a bare word: KeyError
def test_structured_markdown_never_crashes(text: str, strict: bool) -> None:
    _parse_or_runbook_error(text, strict)


@FUZZ
@given(st.text(max_size=400))
def test_random_text_never_crashes(text: str) -> None:
    _parse_or_runbook_error(text, False)


@FUZZ
@given(st.one_of(_attribute_text(), st.text(max_size=60)))
def test_parse_attributes_raises_only_syntax_error(text: str) -> None:
    try:
        attrs = parse_attributes(text)
    except AttributeSyntaxError:
        return
    for key, value in attrs.items():
        assert isinstance(value, str | bool)
        problem = check_value(key, value)  # must not raise either
        assert problem is None or isinstance(problem, str)


@FUZZ
@given(st.one_of(
    st.text(max_size=20),
    st.from_regex(r"\s*([0-9]{1,400}(\.[0-9]+)?(ms|s|m|h|d)?){0,4}\s*", fullmatch=True),
))
def test_parse_duration_raises_only_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert seconds >= 0
    assert seconds != float("inf")


@pytest.mark.parametrize("text", ["45s", "15m", "1h30m", "500ms", "2d", "1.5h", "90"])
def test_parse_duration_examples_stay_valid(text: str) -> None:
    assert parse_duration(text) > 0


@st.composite
def _nested(draw: st.DrawFn) -> str:
    """Lines under random stacks of quotes and list items, some past the nesting limit."""
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 20))):
        prefix = "".join(draw(st.lists(st.sampled_from(["> ", ">", "  ", "- ", "1. ", "* "]),
                                       max_size=45)))
        kind = draw(st.sampled_from(["task", "fence", "text", "blank", "closer"]))
        if kind == "task":
            lines.append(prefix + "- [ ] t")
        elif kind == "fence":
            lines += [prefix + "```bash", prefix + "echo", prefix + "```"]
        elif kind == "text":
            lines.append(prefix + "text")
        elif kind == "closer":
            lines.append(prefix + "```")
        else:
            lines.append("")
    return "\n".join(lines) + "\n"


@FUZZ
@given(_nested())
def test_deep_nesting_is_reported_never_dropped(text: str) -> None:
    """Past the limit swrun's own rule reports the lines it skips; the guard behind it (any
    fence or task item not read) never has anything left to find."""
    _parse_or_runbook_error(text, False)
