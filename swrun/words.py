"""Small English for what swrun prints: `1 step`, `3 steps`."""

from __future__ import annotations


def plural(n: object, word: str) -> str:
    """`1 step`, `0 steps`, `? steps` (a count a log did not give)."""
    return f"{n} {word}" if n == 1 else f"{n if n is not None else '?'} {word}s"
