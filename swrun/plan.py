"""`swrun plan` output: the numbered steps as a text table or as JSON data."""

from __future__ import annotations

from collections import Counter
from typing import Any

from swrun.model import Runbook, Step, StepKind

SECTION_SEP = " › "
_FLAGS = ("confirm", "destructive")


def kind_of(step: Step) -> str:
    """The kind as `plan` shows it: a check made from a command is `manual`."""
    return "manual" if step.manual else step.kind.value


def step_flags(step: Step) -> list[str]:
    flags = [f for f in _FLAGS if step.flag(f)]
    if step.inferred:
        flags.append("confirm(inferred)")
    if step.in_rollback:
        flags.append("rollback")
    if step.optional:
        flags.append("optional")
    if step.text("file"):
        flags.append(f"writes {step.text('file')}")
    if step.placeholders:
        flags.append("asks " + ",".join(dict.fromkeys(p.name for p in step.placeholders
                                                      if p.fillable)))
    timeout = step.text("timeout")
    if timeout:
        flags.append(f"timeout={timeout}")
    retries = step.text("retries")
    if retries:
        flags.append(f"retries={retries}")
    if step.text("kube_context"):
        flags.append(f"kube_context={step.text('kube_context')}")
    return flags


def plan_json(runbook: Runbook) -> dict[str, Any]:
    from swrun.variables import secret_names

    secret = secret_names(runbook)  # by declaration, name, source or use (`uri=$DB`)
    pin = runbook.metadata.get("kube_context")
    return {
        "title": runbook.title,
        "path": runbook.path,
        "environment": runbook.environment or None,
        "window": runbook.metadata.get("window"),
        **({"kube_context": pin} if isinstance(pin, str) else {}),  # only when pinned
        "variables": {
            name: {"type": v.type, "required": v.required, "secret": name in secret,
                   "default": None if name in secret else v.default,
                   "choices": list(v.choices),
                   "placeholder": v.placeholder or None, "line": v.line or None}
            for name, v in runbook.variables.items()
        },
        "steps": [
            {
                "number": s.number,
                "id": s.id,
                "kind": s.kind.value,
                "manual": s.manual or None,
                "optional": s.optional or None,
                "inferred_confirm": {"command": s.confirm_inferred or None,
                                     "choice": s.choice or None} if s.inferred else None,
                "writes": s.text("file"),
                "placeholders": [{"text": p.text, "name": p.name, "line": p.line,
                                  "filled": p.fillable} for p in s.placeholders],
                "prompts": list(s.prompts),
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
    counts = Counter(kind_of(s) if not s.optional else "optional" for s in runbook.steps)
    parts = [f"{n} {k}" for k, n in sorted(counts.items())]
    head = [runbook.title, f"  {runbook.path} · {', '.join(parts) or 'no steps'}"]
    extra = []
    if runbook.environment:
        extra.append(f"environment: {runbook.environment}")
    if runbook.metadata.get("window"):
        extra.append(f"window: {runbook.metadata['window']}")
    if isinstance(runbook.metadata.get("kube_context"), str):
        extra.append(f"kube_context: {runbook.metadata['kube_context']}")
    declared = [n for n, v in runbook.variables.items() if not v.placeholder]
    if declared:
        extra.append("vars: " + ", ".join(declared))
    if extra:
        head.append("  " + " · ".join(extra))
    rows: list[tuple[str, ...]] = []
    for s in runbook.steps:
        if s.kind is StepKind.REFERENCE and not show_all:
            continue
        rows.append((
            str(s.number) if s.number is not None else "-",
            kind_of(s),
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
    lines += _reading_notes(runbook)
    return "\n".join(lines) + "\n"


def _reading_notes(runbook: Runbook) -> list[str]:
    """What swrun read into the file beyond its fences: values to supply, manual steps,
    sections not in the main pass."""
    notes = []
    asked = [v for v in runbook.variables.values() if v.placeholder]
    if asked:
        notes.append("placeholders (asked before the run, or --var NAME=...): " + ", ".join(
            f"{v.name} ({v.placeholder}, line {v.line})" for v in asked))
    manual = [s for s in runbook.steps if s.manual]
    if manual:
        notes.append(f"manual: {len(manual)} step(s) the operator runs and ticks: " + ", ".join(
            str(s.number) for s in manual))
    for s in runbook.steps:
        if s.inferred:
            notes.append(f"confirm inferred: step {s.number} asks first ({s.inferred}); "
                         "--yes does not answer it (--confirm STEP, or mark the block "
                         "{confirm} or {unattended})")
    optional = [s for s in runbook.steps if s.optional]
    if optional:
        sections = dict.fromkeys(SECTION_SEP.join(s.section[:1]) for s in optional)
        notes.append(f"optional: {len(optional)} block(s) shown, not run: " + ", ".join(sections))
    return ["", *notes] if notes else []
