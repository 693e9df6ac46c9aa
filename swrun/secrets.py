"""Masking secret values in everything swrun prints, logs or exports."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "****"


class Masker:
    """Replaces every occurrence of any known secret value with `****`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in self._secrets)) if self._secrets else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def mask_all(self, lines: Iterable[str]) -> list[str]:
        return [self.mask(line) for line in lines]
