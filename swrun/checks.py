"""`swrun check`: everything wrong with a runbook beyond its syntax, as Diagnostics."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swrun.attributes import variable_refs
from swrun.errors import Diagnostic, InventoryError, Severity
from swrun.model import Runbook, Step, StepKind
from swrun.parser import ParseResult, parse_file, refuse
from swrun.rules.shelltext import assigned

if TYPE_CHECKING:
    from swrun.inventory import Inventory

# Environment variables a shell step may use without declaring them.
_AMBIENT = frozenset(
    {"HOME", "PATH", "USER", "PWD", "SHELL", "HOSTNAME", "LANG", "TERM", "TMPDIR", "OLDPWD",
     "RANDOM", "SECONDS", "LINENO", "BASH_SOURCE", "PPID", "UID", "EUID", "IFS", "REPLY",
     "SWRUN_RUN_ID", "SWRUN_STEP", "SWRUN_RUNBOOK_DIR", "SWRUN_HOST", "SWRUN_LOG"}
)
_JSON_KEY = re.compile(r'"\$[A-Za-z_][A-Za-z0-9_]*"\s*:')


def check_runbook(
    result: ParseResult, inventory_path: str | None = None, *, strict: bool = False,
    connect: bool = False, inventory: bool = True, lint: bool = True,
) -> list[Diagnostic]:
    """Parse diagnostics plus semantic ones; warnings become errors when `strict`.

    `connect`: also reach every targeted host (known host key, working auth).
    `inventory=False`: leave host patterns unchecked (no inventory is loaded).
    `lint=False`: leave out the shell-step rules (swrun.rules.lint: `bash -n` and the rest),
    which only warn: plan and execute need them only when `strict`."""
    rb = result.runbook
    diags = list(result.diagnostics)
    found: list[Diagnostic] = []
    _duplicate_names(rb, found)
    _one_target(rb, found)
    _variables(rb, found)
    _playbooks(rb, found)
    _rollback(rb, found)
    _pm2(rb, found)
    _step_bodies(rb, found)
    _notify(rb, found)
    if inventory:
        _inventory(rb, inventory_path, found, connect)
    if lint:
        from swrun.rules.lint import lint as lint_steps

        found.extend(lint_steps(rb))
    if strict:
        found = [d if d.severity is Severity.INFO else
                 dataclasses.replace(d, severity=Severity.ERROR) for d in found]
    diags.extend(found)
    diags.sort(key=lambda d: (d.line, d.severity != Severity.ERROR))
    return diags


def load_checked(path: str | Path, *, strict: bool = False) -> Runbook:
    """A runbook fit to plan or run: every error `swrun check` would report (host patterns
    against the inventory aside) refuses it before anything runs, so a typo on line 90
    cannot fail a window after the first 30 steps already changed production."""
    result = parse_file(path, strict=strict)
    errors = [d for d in check_runbook(result, strict=strict, inventory=False, lint=strict)
              if d.severity is Severity.ERROR]
    if errors:
        refuse(errors, path)
    return result.runbook


def _one_target(rb: Runbook, out: list[Diagnostic]) -> None:
    for step in rb.steps:
        if step.actionable and step.text("host") and step.text("hosts"):
            out.append(_diag(Severity.WARNING, step, f"host={step.text('host')} and "
                             f"hosts={step.text('hosts')} both apply (one may be a section "
                             "default): the step runs on host= only"))


def _diag(sev: Severity, step: Step, msg: str) -> Diagnostic:
    return Diagnostic(sev, msg, step.span.path, step.span.line)


def _duplicate_names(rb: Runbook, out: list[Diagnostic]) -> None:
    seen: dict[str, Step] = {}
    for step in rb.steps:
        name = step.text("name")
        if not name:
            continue
        key = name.lower()
        if key in seen:
            out.append(_diag(Severity.ERROR, step, f"duplicate step name {name!r} (first used "
                             f"on line {seen[key].span.line})"))
        else:
            seen[key] = step


def _variables(rb: Runbook, out: list[Diagnostic]) -> None:
    declared = set(rb.variables)
    written = {n for n, v in rb.variables.items() if not v.placeholder}
    for step in rb.steps:
        if not step.actionable:
            continue
        for key, value in step.attributes.items():
            if isinstance(value, str):
                for name in variable_refs(value):
                    if name not in declared:
                        out.append(_diag(Severity.ERROR, step, f"{key}=${name}: variable {name} "
                                         "is not declared in the front matter"))
        if step.kind in (StepKind.SHELL, StepKind.CHECK):
            if step.kind is StepKind.SHELL and written and not step.targets:  # remote env
                _shell_refs(step, declared, out)
            continue
        seen: set[str] = set()
        for i, line in enumerate(step.body.split("\n")):
            # `{"$gte": …}`, `{"$oid": …}`: JSON keys are MongoDB operators, never variables
            # (variables resolve inside JSON string values only)
            for name in variable_refs(_JSON_KEY.sub(":", line)):
                if name not in declared and name not in seen:
                    seen.add(name)
                    out.append(Diagnostic(Severity.ERROR, f"variable {name} is not declared "
                                          "in the front matter", step.span.path,
                                          step.span.line + 1 + i))


def _shell_refs(step: Step, declared: set[str], out: list[Diagnostic]) -> None:
    """Warn about `$UPPER` names that nothing declares or assigns (likely typos)."""
    sets = assigned(step.body)
    for name in dict.fromkeys(variable_refs(step.body)):
        if (name.isupper() and name not in declared and name not in sets
                and name not in _AMBIENT):
            out.append(_diag(Severity.WARNING, step, f"${name} is neither declared nor set in "
                             "the block; it will come from the environment if at all"))


def _playbooks(rb: Runbook, out: list[Diagnostic]) -> None:
    for step in rb.steps:
        if step.kind is not StepKind.ANSIBLE:
            continue
        playbook = step.text("playbook")
        if not playbook:
            out.append(_diag(Severity.ERROR, step, "ansible step needs playbook=PATH"))
        elif "$" not in playbook and not (rb.base_dir / playbook).is_file():
            out.append(_diag(Severity.ERROR, step, f"playbook {playbook} does not exist "
                             f"(looked in {rb.base_dir})"))
        elif "$" not in playbook:
            _prompts(rb, step, rb.base_dir / playbook, out)


def _prompts(rb: Runbook, step: Step, playbook: Path, out: list[Diagnostic]) -> None:
    """A playbook that would wait for input is refused at run time; say so before."""
    from swrun.ansible.prompts import find_prompts

    answered = set(rb.variables)
    try:
        import yaml

        body = yaml.safe_load(step.body) if step.body.strip() else None
    except yaml.YAMLError:
        body = None
    if isinstance(body, dict):
        answered |= {str(k) for k in body}
    for prompt in find_prompts(playbook, answered):
        out.append(_diag(Severity.ERROR, step, "playbook waits for input: "
                         + prompt.describe(rb.base_dir)))


def _rollback(rb: Runbook, out: list[Diagnostic]) -> None:
    has_rollback = bool(rb.rollback_steps)
    if has_rollback:
        return
    for step in rb.main_steps:
        if step.attributes.get("on_failure") == "rollback":
            out.append(_diag(Severity.ERROR, step, "on_failure=rollback but the runbook has no "
                             "rollback section (mark one with <!-- swrun: rollback -->)"))
        elif step.flag("destructive"):
            out.append(_diag(Severity.WARNING, step, "destructive step but the runbook has no "
                             "rollback section"))


def _pm2(rb: Runbook, out: list[Diagnostic]) -> None:
    pm2 = [s for s in rb.steps if s.kind is StepKind.PM2]
    if not pm2:
        return  # plan/execute start-up: no executor modules for runbooks without pm2
    from swrun.executors.pm2 import validate

    for step in pm2:
        for p in validate(step.body):
            out.append(Diagnostic(Severity(p.severity), p.message, step.span.path,
                                  step.span.line + 1 + p.offset))


def _step_bodies(rb: Runbook, out: list[Diagnostic]) -> None:
    """mongo/aws/http/wait bodies against their languages (swrun.ops), at the body line."""
    typed = [s for s in rb.steps
             if s.kind in (StepKind.MONGO, StepKind.AWS, StepKind.HTTP, StepKind.WAIT)]
    if not typed:
        return  # plan/execute start-up: no step languages for runbooks without such steps
    from swrun.ops import validate

    for step in typed:
        for problem in validate(step.kind.value, step.body, step.attributes):
            out.append(Diagnostic(Severity.ERROR, f"{step.kind.value}: {problem.message}",
                                  step.span.path, step.span.line + problem.line))


def _notify(rb: Runbook, out: list[Diagnostic]) -> None:
    """The front matter's `notify` targets (docs/team.md), at the front matter's line."""
    if rb.metadata.get("notify") is None:
        return
    from swrun.notify.config import read_targets

    for problem in read_targets(rb.metadata["notify"])[1]:
        out.append(Diagnostic(Severity.ERROR, problem, rb.path, 1))


def _inventory(rb: Runbook, given: str | None, out: list[Diagnostic],
               connect: bool = False) -> None:
    targeted = [s for s in rb.steps if s.actionable and s.targets]
    path = given or (str(rb.base_dir / rb.inventory) if rb.inventory else None)
    if connect and targeted and path is None:
        out.append(_diag(Severity.ERROR, targeted[0], "remote steps need an inventory to "
                         "connect to: pass --inventory or set `inventory` in the front matter"))
    if path is None or not targeted:
        return
    from swrun.inventory import Inventory, lab_writes

    how = None if connect else lab_writes(path)
    if how is not None:  # a clean checkout before the lab ran: not the runbook's fault
        shown = os.path.normpath(path)
        out.append(Diagnostic(Severity.WARNING, f"{shown}: no such inventory yet, so its "
                              f"hosts are not checked; {how}", rb.path, 1))
        return
    try:
        inv = Inventory(path)
    except InventoryError as exc:
        out.append(Diagnostic(Severity.ERROR, str(exc), rb.path, 1))
        return
    reach: dict[str, tuple[Any, Step]] = {}
    for step in targeted:
        pattern = step.targets or ""
        if "$" in pattern:
            continue
        try:
            hosts = inv.names(pattern)
        except InventoryError as exc:
            out.append(_diag(Severity.ERROR, step, str(exc)))
            continue
        key = "host" if step.text("host") else "hosts"
        if not hosts:
            out.append(_diag(Severity.ERROR, step, f"{key}={pattern} matches no host in "
                             f"{Path(path).name}"))
        elif key == "host" and len(hosts) > 1:
            out.append(_diag(Severity.ERROR, step, f"host={pattern} matches {len(hosts)} "
                             f"hosts in {Path(path).name}; use hosts={pattern} to run on each"))
        else:  # `h1:h4`, `"h1,h4"`: a host of the list that is not there must not go unseen
            for part in _missing_parts(inv, pattern):
                out.append(_diag(Severity.ERROR, step, f"{key}={pattern}: {part} matches no "
                                 f"host in {Path(path).name}"))
        for host in inv.hosts(pattern) if connect else ():
            reach.setdefault(host.name, (host, step))
    _probe(reach, path, out)


def _missing_parts(inv: Inventory, pattern: str) -> list[str]:
    """The parts of a host list (`h1:h4`, `h1,h4`) that match no host; exclusions (`!x`) and
    intersections (`&x`) may match nothing."""
    from ansible.inventory.manager import split_host_pattern

    parts = split_host_pattern(pattern)
    if len(parts) < 2:
        return []
    missing = []
    for part in parts:
        if part.startswith(("!", "&")):
            continue
        try:
            if not inv.names(part):
                missing.append(part)
        except InventoryError:
            missing.append(part)
    return missing


def _probe(reach: dict[str, tuple[Any, Step]], path: str, out: list[Diagnostic]) -> None:
    if reach:
        from swrun.ssh.probe import probe_hosts

        problems = probe_hosts([h for h, _ in reach.values()], Path(path).resolve().parent)
        for name, problem in problems.items():
            out.append(_diag(Severity.ERROR, reach[name][1], problem))
