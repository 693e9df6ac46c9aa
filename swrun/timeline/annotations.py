"""Milestone annotations and section names, read from the runbook a log names (if it is there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swrun.errors import SwrunError
from swrun.timeline.model import INCIDENT_MILESTONES, MilestoneSource


@dataclass(frozen=True)
class SectionMilestone:
    name: str
    steps: frozenset[str]
    """Every actionable step of the section (subsections included)."""
    source: MilestoneSource
    section: str


@dataclass(frozen=True)
class Annotations:
    """What the runbook adds to its log: section titles, milestones, secret variable names."""

    path: Path | None = None
    sections: dict[str, str] = field(default_factory=dict)
    """Step id -> its innermost section title."""
    step_milestones: dict[str, list[tuple[str, MilestoneSource]]] = field(default_factory=dict)
    section_milestones: list[SectionMilestone] = field(default_factory=list)
    secret_variables: frozenset[str] = frozenset()


def find_runbook(logged: str, log_path: Path) -> Path | None:
    """The runbook a log names: as given (relative to the working directory), else next to
    the `logs/` folder the log sits in (`logs/<stem>/x.toml`), else next to the log."""
    if not logged:
        return None
    rel = Path(logged)
    if rel.is_absolute():
        return rel if rel.is_file() else None
    for base in (Path.cwd(), log_path.parent.parent.parent, log_path.parent):
        if (base / rel).is_file():
            return base / rel
    return None


def load_annotations(run: dict[str, Any], log_path: Path) -> tuple[Annotations, list[str]]:
    """Annotations from the runbook named in `[run].runbook`, and warnings about it."""
    import hashlib

    from swrun.parser import load_runbook

    logged = run.get("runbook")
    path = find_runbook(logged if isinstance(logged, str) else "", log_path)
    if path is None:
        return Annotations(), []
    try:
        runbook = load_runbook(path)
    except SwrunError as exc:
        return Annotations(), [f"{log_path}: its runbook cannot be read, so its milestone "
                               f"annotations are left out ({exc})"]
    warnings = []
    sha = run.get("sha256")
    if isinstance(sha, str) and sha != hashlib.sha256(runbook.text.encode()).hexdigest():
        warnings.append(f"{log_path}: {path} has changed since this run; its milestone "
                        "annotations are read from the file as it is now")
    sections = {s.id: s.section[-1] for s in runbook.steps if s.section}
    step_ms: dict[str, list[tuple[str, MilestoneSource]]] = {}
    section_ms: list[SectionMilestone] = []

    def section_steps(sec: Any) -> frozenset[str]:
        return frozenset(s.id for child in sec.walk() for s in child.steps if s.actionable)

    for step in runbook.steps:
        name = step.attributes.get("milestone")
        if isinstance(name, str) and step.actionable:
            step_ms.setdefault(step.id, []).append((name, MilestoneSource.STEP))
    for sec in runbook.root.walk():
        name = sec.attributes.get("milestone")
        if isinstance(name, str) and sec is not runbook.root:
            section_ms.append(SectionMilestone(name, section_steps(sec), MilestoneSource.SECTION,
                                               sec.title))
    declared = runbook.metadata.get("milestones")
    if isinstance(declared, dict):
        for name, ref in declared.items():
            if name not in INCIDENT_MILESTONES or not isinstance(ref, str):
                warnings.append(f"{path}: front matter milestones.{name}: expected one of "
                                f"{', '.join(INCIDENT_MILESTONES)} = \"step or section\"")
                continue
            step = runbook.find(ref)
            sec = None if step else runbook.find_section(ref)
            if step is not None and step.actionable:
                step_ms.setdefault(step.id, []).append((name, MilestoneSource.FRONT_MATTER))
            elif sec is not None:
                section_ms.append(SectionMilestone(name, section_steps(sec),
                                                   MilestoneSource.FRONT_MATTER, sec.title))
            else:
                warnings.append(f"{path}: front matter milestones.{name}: no step or section "
                                f"{ref!r}")
    secret = frozenset(n for n, v in runbook.variables.items() if v.secret)
    return Annotations(path, sections, step_ms, section_ms, secret), warnings
