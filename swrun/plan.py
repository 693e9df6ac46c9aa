"""`swrun plan` output: the numbered steps as a text table or as JSON data."""

from __future__ import annotations

from collections import Counter
from typing import Any

from swrun.model import Runbook, Step, StepKind

SECTION_SEP = " › "
_FLAGS = ("confirm", "destructive")


def step_flags(step: Step) -> list[str]:
    flags = [f for f in _FLAGS if step.flag(f)]
    if step.in_rollback:
        flags.append("rollback")
    timeout = step.text("timeout")
    if timeout:
        flags.append(f"timeout={timeout}")
    retries = step.text("retries")
    if retries:
        flags.append(f"retries={retries}")
    return flags


def plan_json(runbook: Runbook) -> dict[str, Any]:
    from swrun.variables import secret_names

    secret = secret_names(runbook)  # by declaration, name, source or use (`uri=$DB`)
    return {
        "title": runbook.title,
        "path": runbook.path,
        "environment": runbook.environment or None,
        "window": runbook.metadata.get("window"),
        "variables": {
            name: {"type": v.type, "required": v.required, "secret": name in secret,
                   "default": None if name in secret else v.default,
                   "choices": list(v.choices)}
            for name, v in runbook.variables.items()
        },
        "steps": [
            {
                "number": s.number,
                "id": s.id,
                "kind": s.kind.value,
                "title": s.title,
                "section": list(s.section),
                "line": s.span.line,
                "end_line": s.span.end_line,
                "hosts": s.targets,
                "rollback": s.in_rollback,
                "attributes": dict(s.attributes),
            }
            for s in runbook.steps
        ],
    }


def plan_text(runbook: Runbook, *, show_all: bool = False) -> str:
    counts = Counter(s.kind.value for s in runbook.steps)
    parts = [f"{n} {k}" for k, n in sorted(counts.items())]
    head = [runbook.title, f"  {runbook.path} · {', '.join(parts) or 'no steps'}"]
    extra = []
    if runbook.environment:
        extra.append(f"environment: {runbook.environment}")
    if runbook.metadata.get("window"):
        extra.append(f"window: {runbook.metadata['window']}")
    if runbook.variables:
        extra.append("vars: " + ", ".join(runbook.variables))
    if extra:
        head.append("  " + " · ".join(extra))
    rows: list[tuple[str, ...]] = []
    for s in runbook.steps:
        if s.kind is StepKind.REFERENCE and not show_all:
            continue
        rows.append((
            str(s.number) if s.number is not None else "-",
            s.kind.value,
            s.title,
            SECTION_SEP.join(s.section),
            s.targets or "",
            " ".join(step_flags(s)),
            str(s.span.line),
        ))
    header = ("#", "kind", "title", "section", "hosts", "flags", "line")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    widths[2] = min(widths[2], 48)
    widths[3] = min(widths[3], 44)

    def fmt(row: tuple[str, ...]) -> str:
        cells = []
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                cell = cell[: widths[i] - 1] + "…"
            cells.append(cell.rjust(widths[i]) if i in (0, 6) else cell.ljust(widths[i]))
        return "  ".join(cells).rstrip()

    lines = [*head, "", fmt(header), *(fmt(r) for r in rows)]
    return "\n".join(lines) + "\n"
