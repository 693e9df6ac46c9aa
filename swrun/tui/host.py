"""What the console's command provider may ask of the app, as a Protocol: it talks to
`SwrunApp` through this, not by importing it (the app imports the provider)."""

from __future__ import annotations

from typing import Protocol

from swrun.model import Runbook


class JumpHost(Protocol):
    """An app showing `runbook` that can move the selection to a step or section by id."""

    runbook: Runbook

    def jump_to(self, ref: str) -> None: ...
