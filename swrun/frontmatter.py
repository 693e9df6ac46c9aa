"""Front matter: a markdown-it block rule for TOML between `+++` lines, and reading its settings.

mdit-py-plugins' front_matter plugin handles YAML between `---` lines; its rule only knows the
`-` marker, so the `+++` rule below is the same algorithm for the `+` marker.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock

from swrun.attributes import VAR_REF, kube_context_problem
from swrun.errors import Diagnostic, Severity
from swrun.formats import runme
from swrun.model import Variable

KNOWN_KEYS = frozenset(
    {"title", "description", "environment", "window", "inventory", "vars", "owner", "team",
     "tags", "version", "links", "service", "severity", "milestones", "signing_key", "notify",
     "allowed_signers", "approvals", "rollback", "optional", "kube_context",
     "state_changing", "unattended"}
) | runme.FRONT_MATTER_KEYS
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")
SOURCES = ("env:", "aws-secretsmanager:")
"""Where a variable's value may come from besides --var and its default."""
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


class KeyLines:
    """Finds the file line of a key path (`vars`, `TAG`, `default`) in TOML or YAML text.

    Decoders return plain data without positions, so diagnostics about a setting search the
    text for it: each key is looked for after the line of the previous one, which matches
    `[vars.TAG]` + `default = ...`, `TAG = {default = ...}` and nested YAML mappings alike.
    """

    def __init__(self, text: str, first_line: int) -> None:
        self.lines = text.split("\n")
        self.first_line = first_line
        """File line of the text's first line."""

    def find(self, *keys: str) -> int:
        found = self.first_line - 1  # the opening +++/--- line when nothing matches
        start = 0
        for key in keys:
            pattern = re.compile(
                r"(?:^|[\s\[.{,])[\"']?" + re.escape(key) + r"[\"']?\s*[=:\].]"
            )
            for i in range(start, len(self.lines)):
                if pattern.search(self.lines[i]):
                    found, start = self.first_line + i, i
                    break
            else:
                break
        return found


def load_front_matter(
    kind: str, text: str, path: str, line: int, diags: list[Diagnostic]
) -> dict[str, Any]:
    """Decode TOML (`+++`) or YAML (`---`) front matter opened on `line`; problems go to `diags`."""
    keys = KeyLines(text, line + 1)

    def problem(severity: Severity, message: str, *key: str) -> None:
        diags.append(Diagnostic(severity, message, path, keys.find(*key) if key else line))

    try:
        if kind == "toml":
            import tomllib

            data: Any = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) if text.strip() else {}
    except Exception as exc:  # tomllib/yaml raise their own errors, all user errors here
        where, col = line, 0
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        mark = getattr(exc, "problem_mark", None)
        at = _TOML_AT.search(msg)
        if mark is not None:
            where, col = line + 1 + mark.line, mark.column + 1
            problem_text = getattr(exc, "problem", None)
            context = getattr(exc, "context", None)
            msg = ", ".join(str(p) for p in (context, problem_text) if p) or msg
        elif at is not None:
            where, col = line + int(at.group(1)), int(at.group(2))
            msg = msg[: at.start()].rstrip()
        diags.append(Diagnostic(Severity.ERROR, f"bad {kind.upper()} front matter: {msg}",
                                path, where, col))
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        problem(Severity.ERROR, "front matter must be a table of settings")
        return {}
    for key in data:
        if key not in KNOWN_KEYS:
            problem(Severity.WARNING, f"unknown front-matter key {key!r}", str(key))
    for key in ("title", "description", "environment", "inventory"):
        if key in data and not isinstance(data[key], str):
            problem(Severity.ERROR, f"front matter {key} must be a string", key)
            data.pop(key)
    for key, message in runme.front_matter_problems(data):
        problem(Severity.ERROR, message, key)
        data.pop(key)
    if "kube_context" in data:
        value = data["kube_context"]
        bad = kube_context_problem(value) if isinstance(value, str) else \
            "front matter kube_context must be a string (a context name)"
        if bad:
            problem(Severity.ERROR, bad, "kube_context")
            data.pop("kube_context")
    for key in ("rollback", "optional"):  # which sections, when titles should not decide
        value = data.get(key)
        if value is None or value is False or isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value)):
            continue
        problem(Severity.ERROR, f"front matter {key} must be a section title, a list of "
                "titles, or false", key)
        data.pop(key)
    if "window" in data:
        from swrun.durations import parse_duration

        try:
            parse_duration(str(data["window"]))
        except ValueError:
            problem(Severity.ERROR, f"window={data['window']!r}: bad duration "
                    "(use e.g. 30m, 1h30m)", "window")
            data.pop("window")
    return data


def read_variables(
    raw: Any, path: str, line: int, diags: list[Diagnostic], text: str = ""
) -> dict[str, Variable]:
    """`vars` from front matter: `NAME = "default"` or a table with type, prompt, default, ...

    `line` is the front matter's opening line and `text` its content (to point at the key).
    """
    if raw is None:
        return {}
    keys = KeyLines(text, line + 1)
    if not isinstance(raw, Mapping):
        diags.append(Diagnostic(Severity.ERROR, "vars must be a table of variables", path,
                                keys.find("vars")))
        return {}
    out: dict[str, Variable] = {}
    for name, spec in raw.items():
        name = str(name)
        if not VAR_REF.fullmatch("$" + name):
            diags.append(Diagnostic(Severity.ERROR, f"variable name {name!r} is not a valid "
                                    "environment variable name", path, keys.find("vars", name)))
            continue
        if not isinstance(spec, Mapping):
            spec = {"default": spec}
        var = _variable(name, spec, path, keys, diags)
        if var is not None:
            out[name] = var
    return out


def _variable(
    name: str, spec: Mapping[str, Any], path: str, keys: KeyLines, diags: list[Diagnostic]
) -> Variable | None:
    def err(msg: str, key: str = "") -> None:
        where = keys.find("vars", name, key) if key else keys.find("vars", name)
        diags.append(Diagnostic(Severity.ERROR, f"variable {name}: {msg}", path, where))

    for key in spec:
        if key not in VARIABLE_KEYS:
            diags.append(Diagnostic(Severity.WARNING, f"variable {name}: unknown key {key!r}",
                                    path, keys.find("vars", name, str(key))))
    vtype = str(spec.get("type", "string"))
    if vtype not in VARIABLE_TYPES:
        err(f"type {vtype!r} is not one of {', '.join(VARIABLE_TYPES)}", "type")
        return None
    choices_raw = spec.get("choices", ())
    if not isinstance(choices_raw, list | tuple):
        err("choices must be a list", "choices")
        return None
    default = spec.get("default")
    source = spec.get("from")
    if source is not None and not (isinstance(source, str) and any(
            source.startswith(p) and len(source) > len(p) for p in SOURCES)):
        err(f"from={source!r}: expected \"env:NAME\" or \"aws-secretsmanager:ID\"", "from")
        source = None
    pattern = spec.get("pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            err(f"pattern {pattern!r} is not a valid regular expression: {exc}", "pattern")
            return None
    secret = spec.get("secret", False)
    if not isinstance(secret, bool):  # `secret = "false"` must not quietly mean True
        flag = {"true": True, "yes": True, "false": False, "no": False}.get(str(secret).lower())
        if flag is None:
            err(f"secret={secret!r}: expected true or false", "secret")
            flag = True  # when unsure, mask
        secret = flag
    var = Variable(
        name=name,
        type=vtype,
        prompt=str(spec.get("prompt", "") or ""),
        default=None if default is None else _as_text(default),
        choices=tuple(_as_text(c) for c in choices_raw),
        pattern=None if pattern is None else str(pattern),
        secret=secret,
        source=source,
        description=str(spec.get("description", "") or ""),
    )
    if var.default is not None:
        from swrun.variables import validate_value

        problem = validate_value(var, var.default)
        if problem:
            # the value is not shown: whether a variable is secret by use (uri=$DBC) is only
            # known once the steps are read, and a wrong default can be a credential
            err(f"the default is invalid: {problem}", "default")
    return var


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
