"""A step that would run with an empty value stops before it runs.

The values judged: the variables a step's placeholders stand for (`<pod>`, `XXX`, `$NAME` that
nothing sets, `# NAME='<text>'`) and the declared variables its shell body expands. A value is
empty when it is missing, `""` or only whitespace, whatever gave it (`--var NAME=`, an empty
environment variable, an empty answer). A declared variable whose default is itself empty
(`default = ""`) may be empty: its author said so."""

from __future__ import annotations

from collections.abc import Mapping

from swrun.model import Runbook, Step, StepKind
from swrun.rules.unset import names_used


def used_values(step: Step, runbook: Runbook) -> list[str]:
    """The variables whose values reach `step`'s command, in order, each once."""
    names = [p.name for p in step.placeholders if p.fillable]
    if step.kind is StepKind.SHELL and not step.attributes.get("file"):
        names += sorted(n for n in names_used(step.body) if n in runbook.variables)
    return list(dict.fromkeys(n for n in names if n in runbook.variables))


def empty_value(step: Step, runbook: Runbook, values: Mapping[str, str]) -> str | None:
    """Why `step` must not run (one line naming the variable and the step), or None."""
    if not step.runnable:
        return None
    for name in used_values(step, runbook):
        var = runbook.variables[name]
        if var.default is not None and not var.default.strip():
            continue
        value = values.get(name)
        if value is None or not value.strip():
            return (f"{name} is empty: step {step.number} '{step.title}' would run with an "
                    f"empty value, so it was not run (give it one: --var {name}=… or "
                    f"export {name}=…)")
    return None
