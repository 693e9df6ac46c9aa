"""Front matter: a markdown-it block rule for TOML between `+++` lines, and reading its settings.

mdit-py-plugins' front_matter plugin handles YAML between `---` lines; its rule only knows the
`-` marker, so the `+++` rule below is the same algorithm for the `+` marker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock

from swrun.attributes import VAR_REF
from swrun.errors import Diagnostic, Severity
from swrun.model import Variable

KNOWN_KEYS = frozenset(
    {"title", "description", "environment", "window", "inventory", "vars", "owner", "team",
     "tags", "version", "links", "service", "severity", "milestones"}
)
VARIABLE_TYPES = ("string", "int", "float", "bool", "duration")
VARIABLE_KEYS = frozenset(
    {"type", "prompt", "default", "choices", "pattern", "secret", "from", "description"}
)


def toml_front_matter_plugin(md: MarkdownIt) -> None:
    md.block.ruler.before(
        "table", "toml_front_matter", _toml_rule,
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )


def _toml_rule(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    if start_line != 0 or state.blkIndent != 0:
        return False
    if state.getLines(0, 1, 0, False).rstrip() != "+++":
        return False
    if silent:
        return True
    line = 1
    closed = False
    while line < end_line:
        first = state.bMarks[line] + state.tShift[line]
        if state.sCount[line] == 0 and state.src[first : state.eMarks[line]].rstrip() == "+++":
            closed = True
            break
        line += 1
    token = state.push("toml_front_matter", "", 0)
    token.hidden = True
    token.markup = "+++"
    token.block = True
    token.content = state.getLines(1, line, 0, True)
    token.meta = {"closed": closed}
    token.map = [start_line, line + 1 if closed else line]
    state.line = line + 1 if closed else line
    return True


def load_front_matter(
    kind: str, text: str, path: str, line: int, diags: list[Diagnostic]
) -> dict[str, Any]:
    """Decode TOML (`+++`) or YAML (`---`) front matter; problems go to `diags`."""
    try:
        if kind == "toml":
            import tomllib

            data: Any = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) if text.strip() else {}
    except Exception as exc:  # tomllib/yaml raise their own errors, all user errors here
        where = line
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = line + 1 + mark.line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        diags.append(Diagnostic(Severity.ERROR, f"bad {kind.upper()} front matter: {msg}",
                                path, where))
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        diags.append(Diagnostic(Severity.ERROR, "front matter must be a table of settings",
                                path, line))
        return {}
    for key in data:
        if key not in KNOWN_KEYS:
            diags.append(Diagnostic(Severity.WARNING, f"unknown front-matter key {key!r}",
                                    path, line))
    for key in ("title", "description", "environment", "inventory"):
        if key in data and not isinstance(data[key], str):
            diags.append(Diagnostic(Severity.ERROR, f"front matter {key} must be a string",
                                    path, line))
            data.pop(key)
    if "window" in data:
        from swrun.durations import parse_duration

        try:
            parse_duration(str(data["window"]))
        except ValueError:
            diags.append(Diagnostic(Severity.ERROR, f"window={data['window']!r}: bad duration "
                                    "(use e.g. 30m, 1h30m)", path, line))
            data.pop("window")
    return data


def read_variables(
    raw: Any, path: str, line: int, diags: list[Diagnostic]
) -> dict[str, Variable]:
    """`vars` from front matter: `NAME = "default"` or a table with type, prompt, default, ..."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        diags.append(Diagnostic(Severity.ERROR, "vars must be a table of variables", path, line))
        return {}
    out: dict[str, Variable] = {}
    for name, spec in raw.items():
        name = str(name)
        if not VAR_REF.fullmatch("$" + name):
            diags.append(Diagnostic(Severity.ERROR, f"variable name {name!r} is not a valid "
                                    "environment variable name", path, line))
            continue
        if not isinstance(spec, Mapping):
            spec = {"default": spec}
        var = _variable(name, spec, path, line, diags)
        if var is not None:
            out[name] = var
    return out


def _variable(
    name: str, spec: Mapping[str, Any], path: str, line: int, diags: list[Diagnostic]
) -> Variable | None:
    def err(msg: str) -> None:
        diags.append(Diagnostic(Severity.ERROR, f"variable {name}: {msg}", path, line))

    for key in spec:
        if key not in VARIABLE_KEYS:
            diags.append(Diagnostic(Severity.WARNING, f"variable {name}: unknown key {key!r}",
                                    path, line))
    vtype = str(spec.get("type", "string"))
    if vtype not in VARIABLE_TYPES:
        err(f"type {vtype!r} is not one of {', '.join(VARIABLE_TYPES)}")
        return None
    choices_raw = spec.get("choices", ())
    if not isinstance(choices_raw, list | tuple):
        err("choices must be a list")
        return None
    default = spec.get("default")
    source = spec.get("from")
    if source is not None and not (isinstance(source, str) and source.startswith("env:")
                                   and len(source) > 4):
        err(f"from={source!r}: expected \"env:NAME\"")
        source = None
    pattern = spec.get("pattern")
    if pattern is not None:
        import re

        try:
            re.compile(str(pattern))
        except re.error as exc:
            err(f"pattern {pattern!r} is not a valid regular expression: {exc}")
            return None
    var = Variable(
        name=name,
        type=vtype,
        prompt=str(spec.get("prompt", "") or ""),
        default=None if default is None else _as_text(default),
        choices=tuple(_as_text(c) for c in choices_raw),
        pattern=None if pattern is None else str(pattern),
        secret=bool(spec.get("secret", False)),
        source=source,
        description=str(spec.get("description", "") or ""),
    )
    if var.default is not None:
        from swrun.variables import validate_value

        problem = validate_value(var, var.default)
        if problem:
            err(f"default {var.default!r}: {problem}")
    return var


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
