"""Front matter: TOML between `+++`, YAML between `---`, typed variables, and their errors."""

from __future__ import annotations

import pytest

from swrun.errors import Severity
from swrun.model import Variable
from swrun.parser import ParseResult, parse_text

TOML = '''\
+++
title = "Deploy the API"
description = "Blue-green release of api"
environment = "production"
window = "30m"
inventory = "inventory.ini"

[vars]
RELEASE = "v1.2.3"

[vars.REPLICAS]
type = "int"
default = 3
prompt = "How many replicas?"

[vars.COLOR]
choices = ["blue", "green"]

[vars.API_TOKEN]
secret = true
from = "env:API_TOKEN"

[vars.TAG]
pattern = "v[0-9]+"
description = "image tag"
+++

# A heading that is not the title

```bash
echo "$RELEASE"
```
'''

YAML = '''\
---
title: Deploy the API
environment: production
window: 1h30m
vars:
  RELEASE: v1.2.3
  REPLICAS:
    type: int
    default: 3
  COLOR:
    choices: [blue, green]
  API_TOKEN:
    secret: true
    from: env:API_TOKEN
  DRY_RUN:
    type: bool
    default: false
---

```bash
echo "$RELEASE"
```
'''


def parse(text: str, *, strict: bool = False) -> ParseResult:
    return parse_text(text, "rb.md", strict=strict)


def messages(text: str) -> list[str]:
    return [str(d) for d in parse(text).diagnostics]


def test_toml_front_matter_settings_and_typed_variables() -> None:
    result = parse(TOML)
    assert result.diagnostics == ()
    rb = result.runbook
    assert rb.title == "Deploy the API"
    assert rb.description == "Blue-green release of api"
    assert rb.environment == "production"
    assert rb.window == 1800
    assert rb.inventory == "inventory.ini"
    assert "vars" not in rb.metadata
    assert rb.variables == {
        "RELEASE": Variable("RELEASE", default="v1.2.3"),
        "REPLICAS": Variable("REPLICAS", type="int", default="3", prompt="How many replicas?"),
        "COLOR": Variable("COLOR", choices=("blue", "green")),
        "API_TOKEN": Variable("API_TOKEN", secret=True, source="env:API_TOKEN"),
        "TAG": Variable("TAG", pattern="v[0-9]+", description="image tag"),
    }
    assert not rb.variables["RELEASE"].required and rb.variables["COLOR"].required
    # the front matter is not a step, and lines after it keep their numbers
    (step,) = rb.steps
    assert step.span.line == 30


def test_yaml_front_matter_settings_and_typed_variables() -> None:
    result = parse(YAML)
    assert result.diagnostics == ()
    rb = result.runbook
    assert rb.title == "Deploy the API"
    assert rb.window == 5400
    assert rb.variables["REPLICAS"] == Variable("REPLICAS", type="int", default="3")
    assert rb.variables["COLOR"].choices == ("blue", "green")
    assert rb.variables["API_TOKEN"].secret
    assert rb.variables["API_TOKEN"].source == "env:API_TOKEN"
    assert rb.variables["DRY_RUN"].default == "false"
    assert rb.steps[0].span.line == 20


def test_front_matter_title_wins_over_the_first_heading() -> None:
    rb = parse('+++\ntitle = "From front matter"\n+++\n\n# From heading\n').runbook
    assert rb.title == "From front matter"
    assert parse("+++\n+++\n\n# From heading\n").runbook.title == "From heading"


def test_unclosed_toml_front_matter_is_an_error() -> None:
    assert messages('+++\ntitle = "x"\n\n# T\n') == [
        "rb.md:1: error: TOML front matter opened with +++ is never closed"]


def test_document_starting_with_an_unclosed_rule_is_not_front_matter() -> None:
    result = parse("---\n\n# Title\n\n- [ ] check\n")
    assert result.diagnostics == ()
    assert result.runbook.title == "Title" and len(result.runbook.steps) == 1


def test_toml_syntax_error_points_at_its_line_and_column() -> None:
    assert messages('+++\ntitle = "ok"\nwindow = "30m\n+++\n') == [
        "rb.md:3:14: error: bad TOML front matter: Illegal character '\\n'"]


def test_yaml_syntax_error_points_at_its_line() -> None:
    (diag,) = parse("---\ntitle: ok\nvars: [1\nx: 2\n---\n").diagnostics
    assert diag.severity is Severity.ERROR and diag.line == 4
    assert diag.message.startswith("bad YAML front matter: while parsing a flow sequence")


def test_front_matter_must_be_a_table() -> None:
    assert messages("---\n- a\n- b\n---\n") == [
        "rb.md:1: error: front matter must be a table of settings"]


@pytest.mark.parametrize(("body", "expected"), [
    ('title = 3', "rb.md:2: error: front matter title must be a string"),
    ('window = "soon"', "rb.md:2: error: window='soon': bad duration (use e.g. 30m, 1h30m)"),
    ('colour = "red"', "rb.md:2: warning: unknown front-matter key 'colour'"),
    ("vars = 3", "rb.md:2: error: vars must be a table of variables"),
])
def test_settings_errors_name_the_key_line(body: str, expected: str) -> None:
    assert messages(f"+++\n{body}\n+++\n") == [expected]


TOML_BAD_VARS = '''\
+++
title = "x"

[vars.REPLICAS]
type = "int"
default = "three"

[vars.MODE]
type = "enum"

[vars.TAG]
pattern = "v[0-9"

[vars.TOKEN]
from = "TOKEN"
secret = "maybe"

[vars.OK]
colour = "red"

[vars]
"9LIVES" = 1
+++
'''


def test_variable_errors_name_the_offending_line() -> None:
    assert messages(TOML_BAD_VARS) == [
        "rb.md:6: error: variable REPLICAS: the default is invalid: expected a whole number",
        "rb.md:9: error: variable MODE: type 'enum' is not one of string, int, float, bool, "
        "duration",
        "rb.md:12: error: variable TAG: pattern 'v[0-9' is not a valid regular expression: "
        "unterminated character set at position 1",
        "rb.md:15: error: variable TOKEN: from='TOKEN': expected \"env:NAME\" or "
        "\"aws-secretsmanager:ID\"",
        "rb.md:16: error: variable TOKEN: secret='maybe': expected true or false",
        "rb.md:19: warning: variable OK: unknown key 'colour'",
        "rb.md:22: error: variable name '9LIVES' is not a valid environment variable name",
    ]


def test_yaml_variable_errors_name_the_offending_line() -> None:
    text = "---\nvars:\n  N:\n    type: int\n    default: abc\n  C:\n    choices: red\n---\n"
    assert messages(text) == [
        "rb.md:5: error: variable N: the default is invalid: expected a whole number",
        "rb.md:7: error: variable C: choices must be a list",
    ]


def test_defaults_are_checked_against_choices_and_pattern() -> None:
    text = ('+++\n[vars.C]\nchoices = ["a", "b"]\ndefault = "c"\n'
            '[vars.T]\npattern = "v[0-9]+"\ndefault = "x1"\n+++\n')
    assert messages(text) == [
        "rb.md:4: error: variable C: the default is invalid: expected one of a, b",
        "rb.md:7: error: variable T: the default is invalid: does not match pattern v[0-9]+",
    ]


def test_secret_accepts_yes_and_no_words() -> None:
    rb = parse('+++\n[vars.A]\nsecret = "yes"\n[vars.B]\nsecret = "false"\n+++\n').runbook
    assert rb.variables["A"].secret and not rb.variables["B"].secret
