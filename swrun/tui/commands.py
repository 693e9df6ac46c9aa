"""Command palette: jump to any step or section by name."""

from __future__ import annotations

from functools import partial
from typing import cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from swrun.tui.host import JumpHost


class JumpProvider(Provider):
    """`Jump to step 5: Check API health`, `Jump to section: Production Deployment`."""

    def _targets(self) -> list[tuple[str, str, str]]:
        app = cast(JumpHost, self.app)
        out = []
        for step in app.runbook.actionable:
            where = " › ".join(step.section)
            label = f"Jump to step {step.number}: {step.title}" if step.number else \
                f"Jump to rollback step: {step.title}"
            out.append((label, step.id, where))
        for section in app.runbook.root.walk():
            if section is app.runbook.root or not any(
                    s.actionable for sec in section.walk() for s in sec.steps):
                continue
            out.append((f"Jump to section: {section.title}", section.id, "section"))
        return out

    async def discover(self) -> Hits:
        app = cast(JumpHost, self.app)
        for label, ref, where in self._targets():
            yield DiscoveryHit(label, partial(app.jump_to, ref), help=where)

    async def search(self, query: str) -> Hits:
        app = cast(JumpHost, self.app)
        matcher = self.matcher(query)
        for label, ref, where in self._targets():
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), partial(app.jump_to, ref), help=where)
