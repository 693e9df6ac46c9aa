"""A key given twice where swrun reads attributes is an error at its line: the last value
used to win without a word (`{hosts=h1 hosts=h2}` ran on h2)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from swrun.attributes import AttributeSyntaxError, parse_attributes
from swrun.parser import parse_text


def test_parse_attributes_refuses_a_key_given_twice() -> None:
    with pytest.raises(AttributeSyntaxError, match=r"'hosts' is given twice \(hosts=h1, then "
                       r"hosts=h2\)"):
        parse_attributes("hosts=h1 hosts=h2")
    with pytest.raises(AttributeSyntaxError, match="'keep_going' is given twice"):
        parse_attributes("keep-going keep_going=false")  # one key, two spellings
    assert parse_attributes("hosts=h1 timeout=5m") == {"hosts": "h1", "timeout": "5m"}


@pytest.mark.parametrize(("text", "line"), [
    ("```bash {hosts=h1 hosts=h2}\necho hi\n```\n", 3),
    ("```bash {confirm name=a confirm}\necho hi\n```\n", 3),
    ("<!-- swrun: timeout=1m timeout=2m -->\n```bash\necho hi\n```\n", 3),
    ("<!-- swrun: hosts=h1 --><!-- swrun: hosts=h2 -->\n```bash\necho hi\n```\n", 3),
    ("<!-- swrun: confirm -->\n<!-- swrun: retries=2 confirm -->\n```bash\necho hi\n```\n", 4),
    ("<!-- swrun: name=a -->\n- [ ] tick\n<!-- swrun: name=b -->\n<!-- swrun: name=c -->\n"
     "```bash\necho hi\n```\n", 6),
])
def test_a_repeated_key_is_an_error_at_its_line(text: str, line: int) -> None:
    result = parse_text("# Runbook\n\n" + text, "rb.md")
    errors = [d for d in result.errors if "given twice" in d.message]
    assert [(d.path, d.line) for d in errors] == [("rb.md", line)], result.diagnostics


def test_a_repeated_section_attribute_is_an_error() -> None:
    text = "# R\n\n## Web\n<!-- swrun: hosts=web -->\n<!-- swrun: timeout=5m hosts=db -->\n\n" \
           "```bash\necho hi\n```\n"
    result = parse_text(text, "rb.md")
    assert [(d.line, d.message) for d in result.errors] == [
        (5, "attribute 'hosts' is given twice (hosts=web, then hosts=db): write it once")]


def test_comment_then_fence_is_still_an_override_not_a_repeat() -> None:
    """Documented: the comment and the fence merge, the fence wins; section defaults are
    overridden by a step's own attribute."""
    text = "# R\n\n## Web\n<!-- swrun: hosts=web -->\n\n<!-- swrun: timeout=1m -->\n" \
           "```bash {timeout=2m hosts=db}\necho hi\n```\n"
    result = parse_text(text, "rb.md")
    assert not result.errors
    step = result.runbook.steps[0]
    assert (step.attributes["timeout"], step.attributes["hosts"]) == ("2m", "db")


def test_check_says_it_in_one_line(tmp_path: Path) -> None:
    rb = tmp_path / "rb.md"
    rb.write_text(textwrap.dedent("""\
        # Deploy

        ```bash {hosts=h1 hosts=h2}
        echo hi
        ```
        """))
    proc = subprocess.run([sys.executable, "-m", "swrun", "check", str(rb)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 3
    assert f"{rb}:3: error: attribute 'hosts' is given twice (hosts=h1, then hosts=h2): " \
           "write it once" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
