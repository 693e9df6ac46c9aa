"""Masking secret values in everything swrun prints, logs or exports."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "****"
MIN_LEN = 3
"""Shorter values are not masked: masking every `1` or `ok` would hide the output itself."""


class Masker:
    """Replaces every occurrence of any known secret value with `****`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {s for s in secrets if s}
        for value in list(found):  # output is masked a line at a time: a key or certificate
            if "\n" in value:      # spread over lines is masked line by line too
                found |= {ln.strip() for ln in value.splitlines() if len(ln.strip()) >= MIN_LEN}
        self._secrets = sorted(found, key=len, reverse=True)
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
