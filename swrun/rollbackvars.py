"""Values only the rollback needs: a placeholder used only in rollback steps is asked when the
rollback starts, not before the run (most runs never roll back)."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

from swrun.model import Runbook, Variable
from swrun.rules.unset import names_used


def rollback_only(runbook: Runbook) -> frozenset[str]:
    """Placeholder variables (not declared in the front matter) that only rollback steps use:
    no main step has them as a placeholder, expands them or names them in an attribute."""
    back = {p.name for s in runbook.rollback_steps for p in s.placeholders}
    if not back:
        return frozenset()
    used: set[str] = set()
    for step in runbook.main_steps:
        used |= {p.name for p in step.placeholders}
        used |= names_used(step.body)
        used |= {n for v in step.attributes.values() if isinstance(v, str)
                 for n in names_used(v)}
    return frozenset(n for n in back - used
                     if n in runbook.variables and runbook.variables[n].placeholder)


def ask_for_rollback(runbook: Runbook, values: MutableMapping[str, str],
                     ask: Callable[[Variable], str | None]) -> str | None:
    """Ask for each rollback-only value not given yet (into `values`); why the rollback cannot
    run when one stays missing, else None."""
    from swrun.variables import validate_value

    for name in sorted(rollback_only(runbook)):
        if values.get(name):
            continue
        var = runbook.variables[name]
        value = ask(var)
        if not value:
            return (f"the rollback needs {name} ({var.placeholder}, line {var.line}): pass "
                    f"--var {name}=… or export {name}=… when you start the run")
        problem = validate_value(var, value)
        if problem:
            return f"{name}={value!r}: {problem}"
        values[name] = value
    return None
