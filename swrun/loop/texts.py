"""A step's text as an operator sees it: variables filled in, secrets masked (display only)."""

from __future__ import annotations

from typing import Any

from swrun.attributes import VAR_REF
from swrun.model import Step, StepKind
from swrun.secrets import MASK


class _Texts:
    """The Engine's text methods (a mixin: `self` is the Engine)."""

    def render_command(self, step: Step) -> str:
        """The block with declared variables shown resolved (secrets masked): for display only."""
        return self.resolve_text(step.body)

    def describe(self, step: Step, lines: int = 8) -> str:
        """Where a step acts and what it runs, variables filled in and secrets masked: what an
        operator agrees to at a confirmation, not the template. Empty for checks."""
        if step.manual:  # the command the operator runs: values filled in, secrets masked
            return "\n".join(f"  {ln}" for ln in self.render_command(step).rstrip().split("\n"))
        if not step.runnable:
            return ""
        where = f"on {self.resolve_text(step.targets)}\n" if step.targets else ""
        if not where and step.kind is StepKind.ANSIBLE and step.text("limit"):
            where = f"on {self.resolve_text(step.text('limit') or '')} (playbook limit)\n"
        body = [ln for ln in self.render_command(step).rstrip().split("\n") if ln.strip()]
        if len(body) > lines:
            body = [*body[:lines], f"… {len(body) - lines} more line(s)"]
        return where + "\n".join(f"  {ln}" for ln in body)

    def resolve_text(self, text: str, *, secrets_as_refs: bool = False) -> str:
        """`$NAME` of declared variables filled in, secrets masked: for display only. With
        `secrets_as_refs` a secret stays `$NAME` (a command to copy and run by hand: the
        operator's shell fills it in, and it never passes through the terminal)."""
        secret = {n for n, v in self.runbook.variables.items() if v.secret}

        def sub(m: Any) -> str:
            name = m.group(1) or m.group(2)
            if name not in self.variables:
                return m.group(0)
            if name in secret:
                return m.group(0) if secrets_as_refs else MASK
            return self.variables[name]

        return self.masker.mask(VAR_REF.sub(sub, text))
