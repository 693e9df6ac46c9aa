"""Issue 24's readers (placeholder shapes, commented declarations, expanded names, example
values, titles, files' placeholders) answer long runs of one repeated unit in time, as every
reader in test_regex_budget.py does."""

from __future__ import annotations

import pytest
from test_regex_budget import HEADS, TAILS, UNITS, _call, _text, within_budget

from swrun.model import SourceSpan, Step, StepKind
from swrun.rules import examples, filled, placeholders, titles, unset

MORE_UNITS = ("XXX", "XXX-", "xxx:", "sg-", "your-", "your-a-", "path/to/", "/path/to",
              "[a|", "[a|b", "[a|b]", "A='<", "A='<a,", "x=<a, ", " ...", " …", "# A=<",
              "\n# A='<b>'", "$A", "$$A", "\\$A", "0a", "0123456789abcdef", "/a",
              "a1b2c3d-", "12345678-1234-", "--a ", "--a=sg-", "a:")


def _step(body: str) -> Step:
    return Step("s", 1, StepKind.SHELL, "s", body, "bash", {}, (), "", SourceSpan("x", 4, 4))


READERS = {
    "shapes": placeholders.shapes,
    "shapes_text": lambda t: placeholders.shapes(t, as_text=True),
    "declared": placeholders.declared,
    "expanded": lambda t: list(unset.expanded(t)),
    "file_placeholders": lambda t: filled.file_placeholders(t, 1, True),
    "fill": lambda t: filled.fill(t, {"XXX": "v", "A": "v"}),
    "lead_fits": lambda t: titles.lead_fits(t, t),
    "command_title": titles.command_title,
    "example_values": lambda t: examples.example_values(
        ["For example:"] * 3, _step(t), lambda *a: None),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("unit", MORE_UNITS + UNITS[:12])
def test_issue_24_readers_answer_repeated_units_in_time(reader: str, unit: str) -> None:
    within_budget(_call, READERS[reader], _text(HEADS[0], unit, TAILS[1]))
