"""Variable values: checked against declarations, resolved, and what counts as secret."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from swrun.attributes import variable_refs
from swrun.durations import parse_duration
from swrun.errors import SwrunError, VariableError
from swrun.model import Runbook, Variable
from swrun.secrets import MIN_LEN

_SECRET_NAME = re.compile(
    r"(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|_KEY$|^KEY$|_PASS$|_PAT$|"
    r"APIKEY|API_KEY|_DSN$|_URI$|SESSION)",
    re.IGNORECASE,
)
SECRETS_MANAGER = "aws-secretsmanager:"
_BOOLS = {"true", "false", "yes", "no", "1", "0", "on", "off"}


def looks_secret(name: str) -> bool:
    """Names like `*_KEY`, `*SECRET*`, `*TOKEN*`, `*PASSWORD*`, `*_URI` hold secrets."""
    return bool(_SECRET_NAME.search(name))


def validate_value(var: Variable, value: str) -> str | None:
    """Why `value` does not fit `var`'s type, choices and pattern; None when it does."""
    if var.type == "int":
        # what a shell, a playbook and a URL all read the same way: no `1_000`, ` 3`, `²`
        if not re.fullmatch(r"-?[0-9]+", value):
            return "expected a whole number"
    elif var.type == "float":
        try:
            float(value)
        except ValueError:
            return "expected a number"
    elif var.type == "bool":
        if value.lower() not in _BOOLS:
            return "expected true or false"
    elif var.type == "duration":
        try:
            parse_duration(value)
        except ValueError:
            return "expected a duration such as 45s, 15m or 1h30m"
    if var.choices and value not in var.choices:
        return f"expected one of {', '.join(var.choices)}"
    if var.pattern and not re.fullmatch(var.pattern, value):
        return f"does not match pattern {var.pattern}"
    return None


def parse_assignments(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`["K=V", ...]` from the command line."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise VariableError(f"--var {pair!r}: expected NAME=VALUE")
        out[key.strip()] = value
    return out


def resolve(
    runbook: Runbook,
    given: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
    ask: Callable[[Variable], str | None] | None = None,
    settings: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """Every declared variable's value: --var, then `from = "env:..."`, then default, then ask.

    Raises VariableError listing every missing or invalid variable at once.
    """
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    problems: list[str] = []
    secret = secret_names(runbook)
    for name in given:
        if name not in runbook.variables:
            problems.append(f"--var {name}: the runbook declares no variable {name}")
    later: list[Variable] = []
    for name, var in runbook.variables.items():
        value: str | None = given.get(name)
        if value is None and var.source and var.source.startswith(SECRETS_MANAGER):
            later.append(var)  # needs the other values (region, endpoint) first
            continue
        if value is None and var.source:
            value = env.get(var.source[4:])
        if value is None:
            value = var.default
        if value is None and ask is not None:
            value = ask(var)
        if value is None:
            hint = f" (or set {var.source[4:]})" if var.source else ""
            problems.append(f"{name} is required: pass --var {name}=...{hint}")
            continue
        problem = validate_value(var, value)
        if problem:
            shown = "****" if name in secret else repr(value)
            problems.append(f"{name}={shown}: {problem}")
            continue
        values[name] = value
    for var in later:
        try:
            values[var.name] = fetch_secret(runbook, var, values, env, settings)
        except SwrunError as exc:
            problems.append(f"{var.name}: {exc}")
    if problems:
        raise VariableError("; ".join(problems))
    return values


def fetch_secret(
    runbook: Runbook, var: Variable, values: Mapping[str, str], env: Mapping[str, str],
    settings: Mapping[str, object] | None,
) -> str:
    """A `from = "aws-secretsmanager:ID"` value, fetched with boto3 at run start."""
    import threading

    from swrun.executors.aws import fetch_secret as fetch
    from swrun.executors.base import StepContext
    from swrun.ops.runtime import OpFailed

    assert var.source is not None
    ctx = StepContext(runbook=runbook, variables=values, env=env, cancel=threading.Event(),
                      timeout=30, settings=dict(settings or {}))
    try:
        return fetch(var.source[len(SECRETS_MANAGER):], ctx)
    except OpFailed as exc:
        raise VariableError(str(exc)) from None


def is_secret(var: Variable) -> bool:
    return var.secret or looks_secret(var.name) or bool(
        var.source and var.source.startswith(SECRETS_MANAGER))


def secret_names(runbook: Runbook) -> set[str]:
    """The declared variables whose values are secret: by declaration, name or source
    (`is_secret`), or by use: a MongoDB URI carries its password, so a variable used in a
    step's `uri=` is secret too."""
    out = {n for n, v in runbook.variables.items() if is_secret(v)}
    out |= {n for step in runbook.steps for n in variable_refs(step.text("uri") or "")
            if n in runbook.variables}
    return out


def secret_values(
    runbook: Runbook, values: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> set[str]:
    """Values to mask: secret variables, and environment variables with secret-looking names."""
    env = os.environ if environ is None else environ
    out = {values[n] for n in secret_names(runbook) if n in values}
    out |= {values[n] for step in runbook.steps for n in variable_refs(step.text("uri") or "")
            if n in values}  # an undeclared name filled in from elsewhere
    out |= {v for k, v in env.items() if looks_secret(k)}
    return {v for v in out if len(v) >= MIN_LEN}
