"""Variable values: checked against declarations, resolved, and what counts as secret."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping

from swrun.attributes import variable_refs
from swrun.durations import parse_duration
from swrun.errors import SwrunError, VariableError
from swrun.model import Runbook, Variable
from swrun.secrets import MIN_LEN
from swrun.secretsources import SECRETS_MANAGER, env_source

_SECRET_NAME = re.compile(
    r"(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|_KEY$|^KEY$|_PASS$|_PAT$|"
    r"APIKEY|API_KEY|_DSN$|_URI$|SESSION)",
    re.IGNORECASE,
)
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


class Values(dict[str, str]):
    """Resolved values (a plain `dict` to everything that reads them) that also say where
    each came from: `sources[name]` is one of SOURCES, or `env:OTHER` for `from = "env:OTHER"`
    naming another environment variable. Never holds a source that carries the value."""

    def __init__(self, values: Mapping[str, str] | None = None,
                 sources: Mapping[str, str] | None = None) -> None:
        super().__init__(values or {})
        self.sources: dict[str, str] = dict(sources or {})


SOURCES = ("--var", "env", "secretsmanager", "default", "asked", "log")
"""Where a value came from: `--var` on the command line; `env`, the environment (the variable
of the same name, or the one `from = "env:NAME"` names, shown as `env:NAME` when it differs);
`secretsmanager`, fetched at run start; `default`, the front matter's; `asked`, typed by the
operator; `log`, the value the earlier part of a resumed run logged."""


def planned_source(var: Variable, env: Mapping[str, str] | None = None) -> str:
    """Where `var`'s value would come from without `--var`: `env`/`env:NAME`,
    `secretsmanager`, `default`, or `asked` (required: the operator is asked, or headless
    without a terminal the run stops)."""
    env = os.environ if env is None else env
    if var.source and var.source.startswith(SECRETS_MANAGER):
        return "secretsmanager"
    found = env_source(var, env)
    if found is not None:
        return found[1]
    return "default" if var.default is not None else "asked"


def _missing(var: Variable, secret: bool) -> str:
    """Why `var` has no value and how to give it one. A secret is never suggested for
    `--var` (a command line shows in `ps`): the environment or `from` instead."""
    named = var.source[4:] if var.source and var.source.startswith("env:") else var.name
    env_hint = f"export {named}=..." + (f" (or {var.name})" if named != var.name else "")
    if secret:
        how = f"{env_hint}"
        if not var.source:
            how += ', or declare from = "env:NAME" or "aws-secretsmanager:ID"'
        return f"{var.name} is required and secret: {how}"
    return f"{var.name} is required: pass --var {var.name}=... or {env_hint}"


def resolve(
    runbook: Runbook,
    given: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
    ask: Callable[[Variable], str | None] | None = None,
    settings: Mapping[str, object] | None = None,
    *,
    origins: Mapping[str, str] | None = None,
    deferred: Collection[str] = (),
) -> Values:
    """Every declared variable's value: `given` (--var), then an explicit `from` (the
    environment variable it names, or AWS Secrets Manager), then the environment variable of
    the same name, then the default, then `ask`. Only declared variables are looked up: an
    environment variable the runbook does not declare is never a value.

    `origins` names where given values came from (default `--var`; `log` for the values a
    resumed run logged, `asked` for a form's answers). The result's `sources` records it.
    `deferred`: names asked only when they are needed (the rollback's, `rollbackvars`): taken
    when given or in the environment, never asked nor missing here.
    Raises VariableError listing every missing or invalid variable at once.
    """
    env = os.environ if environ is None else environ
    origins = origins or {}
    values = Values()
    problems: list[str] = []
    secret = secret_names(runbook)
    for name in given:
        if name not in runbook.variables:
            import difflib

            near = difflib.get_close_matches(name, list(runbook.variables), n=1, cutoff=0.6)
            problems.append(f"--var {name}: the runbook declares no variable {name}"
                            + (f"; did you mean {near[0]}?" if near else ""))
    later: list[Variable] = []
    for name, var in runbook.variables.items():
        value: str | None = given.get(name)
        source = origins.get(name, "--var")
        if value is None and var.source and var.source.startswith(SECRETS_MANAGER):
            later.append(var)  # needs the other values (region, endpoint) first
            continue
        if value is None:
            found = env_source(var, env)
            if found is not None:
                value, source = found
        if value is None and var.default is not None:
            value, source = var.default, "default"
        if value is None and name in deferred:
            continue
        if value is None and ask is not None:
            value, source = ask(var), "asked"
        if value is None:
            problems.append(_missing(var, name in secret))
            continue
        problem = validate_value(var, value)
        if problem:
            shown = "****" if name in secret else repr(value)
            where = "" if source == "--var" else f" (from {describe_source(source)})"
            problems.append(f"{name}={shown}: {problem}{where}")
            continue
        values[name] = value
        values.sources[name] = source
    for var in later:
        try:
            values[var.name] = fetch_secret(runbook, var, values, env, settings)
            values.sources[var.name] = "secretsmanager"
        except SwrunError as exc:
            problems.append(f"{var.name}: {exc}")
    if problems:
        raise VariableError("; ".join(problems))
    return values


def describe_source(source: str) -> str:
    """`env:LAB_ARN` → `the environment ($LAB_ARN)`; for messages."""
    if source == "env":
        return "the environment"
    if source.startswith("env:"):
        return f"the environment (${source[4:]})"
    return {"--var": "--var", "secretsmanager": "AWS Secrets Manager", "default": "the default",
            "asked": "the operator", "log": "the resumed run's log"}.get(source, source)


def sources_line(runbook: Runbook, values: Values) -> str:
    """`RELEASE=1.4.2 (--var), SLOT=green (env), API_TOKEN=**** (env)`: every declared
    value and where it came from, secrets masked, for a headless start."""
    from swrun.secrets import MASK, Masker

    secret = secret_names(runbook)
    masker = Masker(secret_values(runbook, values))
    parts = []
    for name in runbook.variables:
        if name not in values:
            continue
        shown = MASK if name in secret else masker.mask(values[name])
        parts.append(f"{name}={shown} ({values.sources.get(name, '--var')})")
    return ", ".join(parts)


def fetch_secret(
    runbook: Runbook, var: Variable, values: Mapping[str, str], env: Mapping[str, str],
    settings: Mapping[str, object] | None,
) -> str:
    """A `from = "aws-secretsmanager:ID"` value, fetched with boto3 at run start."""
    import threading

    from swrun.executors.base import StepContext
    from swrun.secretsources import fetch_secret as fetch

    assert var.source is not None
    ctx = StepContext(runbook=runbook, variables=values, env=env, cancel=threading.Event(),
                      timeout=30, settings=dict(settings or {}))
    return fetch(var.source[len(SECRETS_MANAGER):], ctx)


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


def environment_notes(runbook: Runbook, environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per declared variable the environment would fill in (`swrun plan`), secrets
    masked: `RELEASE=1.4.2 comes from the environment ($RELEASE), not its default 1.1.0`."""
    from swrun.secrets import MASK, Masker

    env = os.environ if environ is None else environ
    secret = secret_names(runbook)
    masker = Masker(v for k, v in env.items() if looks_secret(k) and len(v) >= MIN_LEN)
    notes = []
    for name, var in runbook.variables.items():
        found = env_source(var, env)
        if (var.source and var.source.startswith(SECRETS_MANAGER)) or found is None:
            continue
        value, source = found
        shown = MASK if name in secret else masker.mask(value)
        where = f"${source[4:] or name}"
        instead = "" if var.default is None else \
            f", not its default {MASK if name in secret else var.default}"
        notes.append(f"{name}={shown} comes from the environment ({where}){instead}")
    return notes
