"""`swrun check` rules for shell steps: what would fail, or do what the writer did not mean,
when the runbook runs. Each finding has a stable rule id, a file line and a fix; a block (or a
section) silences rules with `allow="SW101,SW203"`. Findings are warnings, `--strict` fails on
them; SW103 is info (what swrun read), which nothing fails on."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from swrun.errors import Diagnostic, Severity
from swrun.model import Runbook, Step, StepKind
from swrun.rules import bashsyntax, statechange
from swrun.rules.knownbad import LABELS, QUERIES, bash_verdicts, content_kind
from swrun.rules.shelltext import (
    BRACED,
    assigned,
    exported,
    interactive,
    logical_lines,
    shell_owned,
    split_commands,
    strip_comment,
    strip_comments,
)
from swrun.rules.transcript import output_lines

RULES: dict[str, tuple[str, str]] = {
    "SW101": ("syntax", "the shell (bash -n) or the block's interpreter rejects the block, or "
                        "it is not shell (PromQL, SQL…)"),
    "SW102": ("placeholder", "a value left for the reader to fill in (`<pod>`, `YOUR_…`)"),
    "SW103": ("prompt", "prompts in a shell block (stripped, output dropped): info, once per "
                        "block"),
    "SW104": ("interactive", "a command that needs a terminal or never ends: a manual step"),
    "SW105": ("no-language", "a fence without a language holding commands: a manual step"),
    "SW106": ("session", "a block typed into a session an earlier step opened: manual"),
    "SW107": ("set-later", "a variable used before any step sets it, or set only in a step "
                           "that does not run"),
    "SW108": ("not-exported", "a variable set without `export` in an earlier step"),
    "SW109": ("output", "lines in a shell block that read as program output: a transcript, "
                        "shown or manual, never run"),
    "SW201": ("pipe-to-shell", "a download piped into a shell (`curl … | sh`)"),
    "SW202": ("plain-http", "a download over plain http"),
    "SW203": ("rm-empty-var", "`rm -rf` on a path built from a variable that may be empty"),
    "SW204": ("errexit-off", "`set +e` in a destructive block: failures go unnoticed"),
    "SW205": ("state-changing", "a state-changing command (delete, scale, restart, `rm -rf`…) "
                                "in a step with no confirm/unattended mark: swrun asks first"),
}
"""Rule id → (short name, what it finds). Ids never change meaning."""
_Add = Callable[..., None]
"""add(rule, line, message, fix, severity=WARNING)"""


@dataclass(frozen=True)
class Finding(Diagnostic):
    """A check rule's finding: a Diagnostic with its rule id and how to fix it."""

    rule: str = ""
    fix: str = ""

    def __str__(self) -> str:
        fix = f" (fix: {self.fix})" if self.fix else ""
        return f"{self.location}: {self.severity.value}: {self.rule} {self.message}{fix}"

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "severity": self.severity.value,
                "rule": self.rule, "name": RULES.get(self.rule, ("", ""))[0],
                "message": self.message, "fix": self.fix}


def allowed(step: Step) -> set[str]:
    value = step.attributes.get("allow")
    if not isinstance(value, str):
        return set()
    return {w.strip().upper() for w in re.split(r"[\s,]+", value) if w.strip()}


def lint(rb: Runbook) -> list[Diagnostic]:
    out: list[Finding] = []
    declared = set(rb.variables)
    steps = [s for s in rb.steps if s.kind is StepKind.SHELL or s.manual]
    shown = [s for s in rb.steps if _shown_shell(s) and content_kind(s.body) in ("yaml", "json")
             and not output_lines(s.body)]  # data: bash's verdict says whether it was a script
    bash = _bash_syntax([s for s in steps if (s.kind is StepKind.SHELL or _rejected(s))
                         and not s.attributes.get("file") and _checker(s) == "bash"] + shown)
    for step in steps:
        found: list[Finding] = []
        add = add_to(found, step)
        _prompts(step, add)
        _placeholders(step, add)
        _manual(step, add)
        if step.kind is StepKind.SHELL and not step.attributes.get("file"):
            _syntax(step, add, bash)
            _risky(rb, step, add)
        elif _rejected(step):
            _syntax(step, add, bash)
        silenced = allowed(step)
        out.extend(f for f in found if f.rule not in silenced)
    for step in rb.steps:
        if _shown_shell(step):
            found = []
            _not_shell(step, add_to(found, step), bash.get(id(step)))
            out.extend(f for f in found if f.rule not in allowed(step))
    for step in rb.steps:  # typed blocks too (pm2 restart, mongo restore --drop)
        if step.confirm_inferred and "SW205" not in allowed(step):
            out.append(Finding(Severity.WARNING, *statechange.finding(step), 0, "SW205",
                               statechange.FIX))
    out.extend(_order(rb, declared))
    return list(out)


_SHOWN_SHELL = frozenset({"bash", "sh", "shell", "ksh"})
"""Fence languages whose blocks bash checks: one shown as reference is a known failure."""


def add_to(found: list[Finding], step: Step) -> _Add:
    """An `add` that puts the step's findings in `found`."""

    def add(rule: str, line: int, message: str, fix: str,
            severity: Severity = Severity.WARNING) -> None:
        found.append(Finding(severity, message, step.span.path, line, 0, rule, fix))
    return add


def _shown_shell(step: Step) -> bool:
    """A block in a shell fence that swrun shows (not an optional section's, nor a
    transcript with prompts)."""
    return step.kind is StepKind.REFERENCE and not step.optional and not step.prompts and \
        step.language.lower() in _SHOWN_SHELL


def _not_shell(step: Step, add: _Add, problem: bashsyntax.Problem | None) -> None:
    """A block in a shell fence shown as reference: a query (SW101 with the fence label to
    write), program output (SW109), or data bash rejects (SW101)."""
    kind = content_kind(step.body)
    if kind in QUERIES or (kind and problem is not None and not output_lines(step.body)):
        why = f"bash rejects it ({problem[1]})" if problem is not None else "it is not shell"
        add("SW101", step.span.line, f"{LABELS[kind]} in a `{step.language}` fence: {why}, "
            "so it is shown, not run", f"label the fence ```{kind}")
    else:
        _output(step, add)


def _rejected(step: Step) -> bool:
    """A manual step made of a block bash rejects (swrun/parser.py: not run)."""
    return step.manual.startswith("bash -n rejects")


def _prompts(step: Step, add: _Add) -> None:
    if not step.prompts:
        return
    n = len(step.prompts)
    what = ("runs the commands after them and leaves out the output lines" if step.runnable
            else "shows the commands typed at them and leaves out the output lines")
    add("SW103", step.prompts[0], f"{n} prompt{'s' if n > 1 else ''} in a shell block: swrun "
        f"{what}", "drop the prompts and the output, or use a `console` fence for a "
        "transcript", Severity.INFO)


def _placeholders(step: Step, add: _Add) -> None:
    for use in step.placeholders:
        if not use.fillable:
            add("SW102", use.line, f"placeholder {use.text} in a quoted here-document is "
                "written as is", f"unquote the here-document delimiter and write ${{{use.name}}}")
        elif use.text.startswith("${"):
            add("SW102", use.line, f"{use.text} is set by no step and not declared: swrun "
                f"asks for {use.name} (or takes it from the environment)",
                f"declare {use.name} in the front matter, or set it in an earlier step")
        else:
            add("SW102", use.line, f"placeholder {use.text}: swrun asks for {use.name} before "
                f"the run and passes it as \"${{{use.name}}}\"",
                f"declare {use.name} in the front matter (prompt, pattern), or write the value")


def _manual(step: Step, add: _Add) -> None:
    if not step.manual:
        return
    line = step.span.line
    if step.manual.startswith("no language"):
        add("SW105", line, "commands in a fence without a language: a manual step (shown, "
            "the operator runs it and ticks; headless stops here)",
            "write ```bash to run it, or ```text to show it")
    elif step.manual.startswith("typed in"):
        add("SW106", line, f"block {step.manual}: a manual step, not run here",
            "run it through the session's own command (`kubectl exec POD -- cmd`, "
            "`ssh host 'cmd'`), or add `run` if it is meant for this machine")
    elif step.manual.startswith("a transcript"):
        _output(step, add)
    elif step.manual != "list item" and not _rejected(step):
        found = interactive(step.body)
        lines = dict(logical_lines(step.body))
        first = lines.get(found.offset if found else 0, "")
        line = step.body_line(found.offset if found else 0)
        shown = first.strip() if len(first.strip()) <= 60 else first.strip()[:59] + "…"
        add("SW104", line, f"`{shown}` {step.manual}: a manual step (shown, the operator "
            "runs it and ticks; headless stops here)", "use a form that ends on its own "
            "(`logs --tail=100`, `exec POD -- cmd`, `ssh host 'cmd'`), or add `run` to run it")


def _output(step: Step, add: _Add) -> bool:
    """SW109 at a block's first output line; False when it has none."""
    found = output_lines(step.written or step.body)
    if not found:
        return False
    first = min(found)
    shown = "manual step (its commands shown, the operator runs them)" if step.manual \
        else "shown, not run"
    fix = ("put `$ ` before each command and keep the output after it, or move the output "
           "into a ```text block") if step.manual else "label the fence ```text (it holds no " \
        "command)"
    add("SW109", step.span.line + 1 + first, f"reads as program output ({found[first]}): the "
        f"block is a transcript, {shown}", fix)
    return True


def _checker(step: Step) -> str:
    """The program that checks the step's syntax: python3, bash, dash, zsh or none."""
    shell = (step.text("shell") or "bash").split()
    name = os.path.basename(shell[0]) if shell else "bash"
    if name in ("python3", "python"):
        return "python3"
    if name not in ("bash", "sh", "dash", "ksh", "zsh"):
        return ""
    return "bash" if name in ("bash", "sh", "ksh") else name


def _bash_syntax(steps: list[Step]) -> dict[int, bashsyntax.Problem | None]:
    """bash's verdict on each step (by id), from one bash process for all of them; {} when
    bash is missing or cannot (each step is then checked alone)."""
    found = bash_verdicts([s.body for s in steps]) if steps else None
    if found is None:
        return {}
    return {id(s): problem for s, problem in zip(steps, found, strict=True)}


def _syntax(step: Step, add: _Add, checked: dict[int, bashsyntax.Problem | None]) -> None:
    checker = _checker(step)
    if checker == "python3":
        try:
            compile(step.body, step.id, "exec")
        except SyntaxError as exc:
            add("SW101", step.body_line((exc.lineno or 1) - 1), f"python: {exc.msg}",
                "fix the code (it does not compile)")
        return
    if id(step) in checked:
        problem = checked[id(step)]
    elif checker:
        problem = _alone(checker, step.body)
    else:
        return
    if problem is None:
        return
    offset, text = problem
    offset = min(offset, max(0, step.body.count("\n") - 1))
    if _rejected(step):
        add("SW101", step.body_line(offset), f"{checker} -n: {text}",
            "swrun does not run it (a manual step): fix the shell syntax (an unclosed quote, "
            "`if` without `fi`, a here-document without its end line), or label the fence "
            "with what it holds (```text)")
        return
    add("SW101", step.body_line(offset), f"{checker} -n: {text}",
        "fix the shell syntax (an unclosed quote, `if` without `fi`, a here-document "
        "without its end line)")


def _alone(checker: str, body: str) -> bashsyntax.Problem | None:
    """`checker -n` on one body (dash, zsh, or bash when it cannot do them all at once)."""
    exe = shutil.which(checker)
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, "-n"], input=body, capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode == 0:
        return None
    message = proc.stderr.strip().split("\n")[0]
    m = re.search(r"line (\d+): (.*)", message)
    return (int(m.group(1)) - 1, m.group(2)) if m else (0, message)


_DOWNLOAD = re.compile(r"\b(?:curl|wget)\b")
_INTO_SH = re.compile(r"\|\s*+(?:sudo\s++(?:-\S++\s++)*+)?+(?:ba|z|da)?sh\b")
_HTTP = re.compile(r"\bhttp://(?!localhost\b|127\.|0\.0\.0\.0|\[::1\]|\$|\{)[^\s'\"]+")
_RM = re.compile(r"\brm\s+(?:-\w*[rR]\w*f\w*|-\w*f\w*[rR]\w*|-r\s+-f|-f\s+-r|--recursive\s+"
                 r"--force|--force\s+--recursive)\s+(.*)")
_UNGUARDED = re.compile(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))")
_DESTRUCTIVE = re.compile(r"\brm\s+-\w*[rf]|\bkubectl\s+delete\b|\boc\s+delete\b|\bdrop\s+"
                          r"(?:table|database)\b|\bterraform\s+destroy\b|\bdd\s+if=|\bmkfs\b|"
                          r"\btruncate\b|\bhelm\s+(?:uninstall|delete)\b", re.I)


def _piped_to_shell(code: str) -> bool:
    """`curl … | sh`: a `| sh` whose command (the text since the previous `|`) downloads.
    Each `|` is looked at once (a pattern from each `curl` to its `|` was quadratic)."""
    for pipe in _INTO_SH.finditer(code):
        start = code.rfind("|", 0, pipe.start()) + 1
        if _DOWNLOAD.search(code, start, pipe.start()):
            return True
    return False


def _never_empty(rb: Runbook, name: str) -> bool:
    """A declared variable whose pattern (or choices) rule out an empty value."""
    var = rb.variables.get(name)
    if var is None:
        return False
    if var.choices:
        return "" not in var.choices
    return bool(var.pattern) and re.fullmatch(var.pattern or "", "") is None


def _risky(rb: Runbook, step: Step, add: _Add) -> None:
    assigned_here = assigned(step.body)
    set_here: dict[str, bool] = {}  # name → the block gives it a value (looked up once)
    for offset, text in logical_lines(step.body):
        code = strip_comment(text)
        line = step.body_line(offset)
        if _piped_to_shell(code):
            add("SW201", line, "a download piped into a shell runs whatever the server sends",
                "download to a file, check its checksum or signature, then run it")
        elif _DOWNLOAD.search(code) and _HTTP.search(code):
            add("SW202", line, f"download over plain http ({_HTTP.search(code).group(0)}): "
                "anyone on the path can change it", "use https://")
        for part in split_commands(code):
            m = _RM.search(part)
            if m is None:
                continue
            for word in m.group(1).split():
                bare = word.strip("'\"")
                for ref in _UNGUARDED.finditer(bare):
                    name = ref.group(1) or ref.group(2)
                    if name in assigned_here and name not in set_here:
                        set_here[name] = re.search(rf"\b{name}=[^\s;]", step.body) is not None
                    if ref.group(0) == bare or name in ("HOME", "PWD") or _never_empty(
                            rb, name) or set_here.get(name):
                        continue  # `rm -rf "$X"` with X empty removes nothing
                    add("SW203", line, f"rm -rf {bare}: if ${name} is empty or unset this "
                        "removes the wrong tree", f"write ${{{name}:?}} (stops when empty), "
                        "or check it first")
                    break
    top = [t for _, t in logical_lines(strip_comments(step.body)) if t.strip()][:3]
    if any(re.match(r"\s*set\s+\+e\b", t) for t in top) and (
            step.flag("destructive") or _DESTRUCTIVE.search(step.body)):
        add("SW204", step.span.line + 1, "`set +e` at the top of a destructive block: a "
            "failed command no longer stops it", "remove `set +e`; handle an expected "
            "failure with `cmd || true` on that command only")


def _order(rb: Runbook, declared: set[str]) -> list[Finding]:
    """`$NAME` used by a local shell step that neither it, nor an earlier step's export, nor
    a declaration sets — but a later step, or a step that does not run, does."""
    out: list[Finding] = []
    runs = [s for s in rb.steps if s.kind is StepKind.SHELL and not s.targets
            and not s.attributes.get("file")]
    setters: dict[str, list[tuple[int, Step]]] = {}  # name → the steps that set it, in order
    for k, other in enumerate(rb.steps):
        if other.kind in (StepKind.SHELL, StepKind.CHECK, StepKind.REFERENCE):
            for name in assigned(other.body):
                setters.setdefault(name, []).append((k, other))
    where_of = {id(s): k for k, s in enumerate(rb.steps)}
    exported_before: set[str] = set()
    set_before: set[str] = set()
    for step in runs:
        sets = assigned(step.body)
        silenced = allowed(step)
        seen: set[str] = set()  # each name once: the answer is the same at every use
        body = strip_comments(step.body)
        starts = [0] + [m.end() for m in re.finditer("\n", body)]  # line of an offset: bisect
        for m in list(BRACED.finditer(body)) + list(re.finditer(
                r"\$([A-Za-z_][A-Za-z0-9_]*)", body)):
            name = m.group(1)
            if (name in seen or name in sets or name in declared or shell_owned(name)
                    or name.startswith("SWRUN_") or name in exported_before
                    or not name.isupper()):
                continue
            seen.add(name)
            line = step.body_line(bisect_right(starts, m.start()) - 1)
            if name in set_before:
                if "SW108" not in silenced:
                    out.append(Finding(Severity.WARNING, f"${name} is set by an earlier step "
                                       "without `export`: swrun carries only exported "
                                       "variables (and the working directory) to later steps",
                                       step.span.path, line, 0, "SW108",
                                       f"write `export {name}=…` in the step that sets it"))
                continue
            where = _setter(where_of[id(step)], setters.get(name, []))
            if where is None:
                continue
            if "SW107" not in silenced:
                out.append(Finding(Severity.WARNING, f"${name} is set only {where}: it is "
                                   "empty here", step.span.path, line, 0, "SW107",
                                   f"export {name} in an earlier step that runs, or declare "
                                   "it in the front matter"))
        exported_before |= exported(step.body)
        set_before |= sets
    return out


def _setter(at: int, setters: list[tuple[int, Step]]) -> str | None:
    """Where a name is set, when only a later step or one that does not run sets it: the step
    at index `at` uses it, `setters` are the steps that set it (index, step), in order."""
    for k, other in setters:
        if k == at:
            continue
        seen = k > at
        if other.kind is StepKind.REFERENCE and other.language.lower() not in (
                "bash", "sh", "shell", "zsh", "console", "") and not other.optional:
            continue
        if other.kind is StepKind.SHELL and not other.in_rollback and not seen:
            return None  # an earlier step sets it (without export: SW108 says so)
        if other.kind is StepKind.SHELL and seen and not other.in_rollback:
            return f"by a later step (line {other.span.line})"
        why = ("in an optional section" if other.optional else
               "in the rollback section" if other.in_rollback else
               "in a manual step" if other.manual else "in a block that is only shown")
        return f"{why} (line {other.span.line})"
    return None
