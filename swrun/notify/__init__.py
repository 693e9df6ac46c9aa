"""Notifications to chat and webhooks (docs/team.md): configuration (`config`), payload shapes
(`payload`), background delivery (`worker`) and the run's event hook (`hook`).

Importing this package imports nothing heavy; delivery threads start only for a run that has
targets.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def may_hook(metadata: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> bool:
    """Whether a run can have hooks at all (a `notify` table, `--notify`, an OTLP endpoint):
    without any, `drive` does not import swrun.notify.hook (start-up)."""
    env = os.environ if environ is None else environ
    config = sys.modules.get("swrun.notify.config")  # --notify URLs live there
    return (metadata.get("notify") is not None or bool(getattr(config, "CLI_URLS", None))
            or any(env.get(name) for name in OTLP_ENDPOINTS))
