"""The values a runbook asks the operator for: a variable for each placeholder a step holds,
`$NAME` that nothing sets, and `# NAME='<text>'` declarations in a step a person reads."""

from __future__ import annotations

from dataclasses import replace

from swrun.model import PlaceholderUse, StepKind, Variable
from swrun.parse.reading import _sh
from swrun.rules.placeholders import declared
from swrun.rules.shellplaceholders import owned_renamed, shell_owned
from swrun.rules.shelltext import assigned, exported, strip_comments
from swrun.rules.unset import expanded


class _Values:
    """The placeholder passes of the builder (`_Builder` mixes this in and holds the state it
    uses: steps, variables, placeholder_vars, commented)."""

    def placeholder_var(self, use: PlaceholderUse) -> None:
        """The variable that fills a placeholder: a declared one of that name, else one made
        here (asked for like a required variable)."""
        if not use.fillable or use.name in self.variables or use.name in self.placeholder_vars:
            return
        self.placeholder_vars[use.name] = Variable(
            use.name, prompt=f"{use.text} (line {use.line})", placeholder=use.text,
            line=use.line, description=f"fills {use.text} on line {use.line}",
            choices=use.choices)

    def braced_placeholders(self) -> None:
        """`${NAME}` or `$NAME` (upper case, expanded by the shell) in a local shell step
        that neither the step, nor an earlier step's export, nor a declaration sets (or
        that a `# NAME='<text>'` comment declares): a value the operator must supply (asked for, or
        taken from the environment variable of that name)."""
        self.commented_declarations()
        carried: set[str] = set()
        set_before: set[str] = set()
        sets_of = [assigned(s.body) if s.kind in (StepKind.SHELL, StepKind.CHECK) else set()
                   for s in self.steps]
        last_set = {n: k for k, s in enumerate(self.steps) if s.kind is StepKind.SHELL
                    for n in sets_of[k]}  # the last shell step that sets each name
        for k, step in enumerate(self.steps):
            if step.kind not in (StepKind.SHELL, StepKind.CHECK) or step.optional or (
                    step.kind is StepKind.CHECK and not step.manual) or step.targets or \
                    step.attributes.get("file") or not _sh(step.text("shell")):
                continue
            sets = sets_of[k]
            uses: list[PlaceholderUse] = []
            taken = {p.name for p in step.placeholders}
            offset = counted = 0
            code_sets = assigned(strip_comments(step.body)) if self.commented else sets
            for at, text, name in expanded(step.body):  # `$NAME` as much as `${NAME}`
                if name in taken:
                    continue
                if name in self.commented and name not in code_sets:
                    pass  # `# NAME='<text>'` declares it: asked, and used here
                elif (not name.isupper() or name in sets or name in carried or shell_owned(name)
                        or (text[1] != "{" and name in set_before)  # SW108 says why
                        or name in self.variables or name.startswith("SWRUN_") or name in taken
                        or (name in self.placeholder_vars and name not in self.commented)):
                    continue
                taken.add(name)
                offset += step.body.count("\n", counted, at)  # counted once, in order
                counted = at
                uses.append(PlaceholderUse(text, name, step.body_line(offset)))
            carried |= exported(step.body)
            set_before |= sets
            # one a later step sets is left to `check` (set too late)
            uses = [u for u in uses if last_set.get(u.name, -1) <= k]
            if uses:
                for use in uses:
                    self.placeholder_var(use)
                new = replace(step, placeholders=(*step.placeholders, *uses))
                self.steps[k] = new
                sec = self.find_builder(step.section_id)
                if sec is not None:
                    sec.steps[sec.steps.index(step)] = new

    def commented_declarations(self) -> None:
        """`# NAMESPACE='<value of namespace label from alert>'` in a step a person reads:
        a value the operator must supply, asked with that text (not a comment that vanishes
        while the next command runs `oc -n  logs`)."""
        for step in self.steps:
            if step.kind not in (StepKind.SHELL, StepKind.CHECK) or step.optional or (
                    step.kind is StepKind.CHECK and not step.manual) or \
                    step.attributes.get("file"):
                continue
            for found in declared(step.body):
                name = owned_renamed(found.name)
                if name in self.variables or name in self.placeholder_vars or \
                        name in assigned(strip_comments(step.body)):
                    continue
                line = step.body_line(found.offset)
                self.placeholder_vars[name] = Variable(
                    name, prompt=f"{found.text} (line {line})", placeholder=found.text,
                    line=line, description=f"declared by `# {found.name}={found.text}` on "
                    f"line {line}")
                self.commented.add(name)
