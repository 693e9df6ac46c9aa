"""The engine's clocks: tests freeze them by replacing `_now` and `_monotonic` here."""

from __future__ import annotations

import time
from datetime import datetime

from swrun.events import utcnow

_monotonic = time.monotonic


def _now() -> datetime:
    return utcnow()


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
